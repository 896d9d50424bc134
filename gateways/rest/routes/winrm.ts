/**
 * Admin API of WinRM: host definitions (`/v1/connections/winrm`) and the per-principal command ACL
 * (`/v1/winrm/acl`). Admin (`manage`) only. Passwords and TLS keys are sealed with the master keys
 * before they are stored and are never returned: a view says `passwordSet` / `keySet` instead.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SbError } from '../../../broker/errors.js';
import type { ConfigStore } from '../../../broker/types.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import {
  WINRM_ACL_PREFIX, WINRM_HOST_PREFIX, WinrmAcl, WinrmAclPut, WinrmHostPut, WinrmHostView,
  type WinrmHostStored, type WinrmHostView as HostView,
} from '../../../schemas/winrm.js';
import { processKeyring, sealSecret, secretAad, type Keyring } from '../../../broker/secrets.js';
import { SealedSecrets, TransportBody, resealForExport } from '../secret-export.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import { ErrorBody, NoContent, mustMatchPath } from '../errors.js';

const Name = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });
const NameParams = Type.Object({ name: Name });
const PrincipalParams = Type.Object({ principal: Name });
// Config export (docs/config-as-code.md): secrets leave only sealed under a one-time key the caller sends.

const hostKey = (name: string) => `${WINRM_HOST_PREFIX}${name}`;
const aclKey = (principal: string) => `${WINRM_ACL_PREFIX}${principal}`;

/** Options of {@link winrmRoutes}; `keyring` defaults to `SB_MASTER_KEYS` / `SB_MASTER_KEYS_FILE`. */
export interface WinrmRouteOptions {
  keyring?: () => Keyring;
}

/** Registers the WinRM host and ACL admin routes. */
export function winrmRoutes(deps: GatewayDeps, opts: WinrmRouteOptions = {}): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  const store = broker.config;
  const keyring = opts.keyring ?? processKeyring;

  return async (app) => {
    app.put('/v1/connections/winrm/:name', {
      schema: {
        tags: ['connections'], summary: 'Create or replace a WinRM host definition (password sealed, never returned)',
        params: NameParams, body: WinrmHostPut, response: { 200: WinrmHostView, 201: WinrmHostView, '4xx': ErrorBody },
      },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      const { name } = req.params;
      mustMatchPath('name', req.body.name, name);
      await store.sync();
      const old = store.get<WinrmHostStored>(hostKey(name));
      const stored = toStored(name, req.body, old, keyring);
      await store.put(hostKey(name), stored);
      return reply.code(old ? 200 : 201).send(toView(stored));
    });

    app.get('/v1/connections/winrm', {
      schema: { tags: ['connections'], summary: 'List WinRM host definitions', response: { 200: Type.Object({ connections: Type.Array(WinrmHostView) }) } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return { connections: store.list<WinrmHostStored>(WINRM_HOST_PREFIX).map((e) => toView(e.value)) };
    });

    app.get('/v1/connections/winrm/:name', {
      schema: { tags: ['connections'], summary: 'Inspect a WinRM host definition', params: NameParams, response: { 200: WinrmHostView, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      return toView(await mustGet(store, req.params.name));
    });

    app.delete('/v1/connections/winrm/:name', {
      schema: { tags: ['connections'], summary: 'Delete a WinRM host definition', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await mustGet(store, req.params.name);
      await store.delete(hostKey(req.params.name));
      return reply.code(204).send(null);
    });

    app.post('/v1/connections/winrm/:name/secrets', {
      schema: {
        tags: ['connections'], summary: 'The password and TLS key of a WinRM host sealed under a one-time transport key (config export)',
        params: NameParams, body: TransportBody, response: { 200: SealedSecrets, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const h = await mustGet(store, req.params.name);
      const stored = [{ field: 'password', sealed: h.password, aad: secretAad(hostKey(h.name), 'password') }];
      if (h.tls?.key) stored.push({ field: 'tls.key', sealed: h.tls.key, aad: secretAad(hostKey(h.name), 'tls.key') });
      return resealForExport(deps.config, keyring(), req.body.transportKey, stored);
    });

    app.get('/v1/winrm/acl', {
      schema: { tags: ['winrm'], summary: 'Every WinRM command ACL', response: { 200: Type.Object({ acls: Type.Array(WinrmAcl) }), '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return { acls: store.list<WinrmAcl>(WINRM_ACL_PREFIX).map((e) => e.value) };
    });

    app.put('/v1/winrm/acl/:principal', {
      schema: {
        tags: ['winrm'], summary: "Set a principal's WinRM command ACL (replaces it)",
        params: PrincipalParams, body: WinrmAclPut, response: { 200: WinrmAcl, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const { principal } = req.params;
      mustMatchPath('principal', req.body.principal, principal);
      const acl: WinrmAcl = {
        principal,
        rules: req.body.rules.map((r) => ({ hosts: [...r.hosts], cmd: [...(r.cmd ?? [])], ps: [...(r.ps ?? [])] })),
      };
      await store.put(aclKey(principal), acl);
      return acl;
    });

    app.get('/v1/winrm/acl/:principal', {
      schema: {
        tags: ['winrm'], summary: "A principal's WinRM command ACL (no record: no rules, nothing allowed unless admin)",
        params: PrincipalParams, response: { 200: WinrmAcl, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return store.get<WinrmAcl>(aclKey(req.params.principal)) ?? { principal: req.params.principal, rules: [] };
    });

    app.delete('/v1/winrm/acl/:principal', {
      schema: { tags: ['winrm'], summary: "Remove a principal's WinRM command ACL (idempotent)", params: PrincipalParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await store.delete(aclKey(req.params.principal));
      return reply.code(204).send(null);
    });
  };
}

async function mustGet(store: ConfigStore, name: string): Promise<WinrmHostStored> {
  await store.sync();
  const h = store.get<WinrmHostStored>(hostKey(name));
  if (!h) throw new SbError('SB_ERR_CONNECTION_NOT_FOUND', `no WinRM host named ${name}`, { data: { name } });
  return h;
}

/** Builds the stored record: secrets sealed (AAD = `<key>/<field>`), a left-out secret kept from `old`. */
function toStored(name: string, body: WinrmHostPut, old: WinrmHostStored | undefined, keyring: () => Keyring): WinrmHostStored {
  const key = hostKey(name);
  if (body.password === undefined && !old) throw new SbError('SB_ERR_VALIDATION', 'password is required for a new host');
  const { password, tls, name: _n, ...rest } = body;
  const stored: WinrmHostStored = {
    ...rest,
    name,
    password: password === undefined ? (old as WinrmHostStored).password : sealSecret(keyring(), password, secretAad(key, 'password')),
    updatedAt: new Date().toISOString(),
  };
  if (tls) {
    const { key: tlsKey, ...tlsRest } = tls;
    if (tlsKey !== undefined && tls.cert === undefined) throw new SbError('SB_ERR_VALIDATION', 'tls.key needs tls.cert');
    const sealedKey = tlsKey !== undefined ? sealSecret(keyring(), tlsKey, secretAad(key, 'tls.key')) : old?.tls?.key;
    stored.tls = { ...tlsRest, ...(sealedKey && tls.cert !== undefined ? { key: sealedKey } : {}) };
  }
  return stored;
}

/** The admin view: everything but the secrets. */
function toView(h: WinrmHostStored): HostView {
  const { password, tls, ...rest } = h;
  const view: HostView = { ...rest, passwordSet: password !== undefined };
  if (tls) {
    const { key, ...tlsRest } = tls;
    view.tls = { ...tlsRest, keySet: key !== undefined };
  }
  return view;
}
