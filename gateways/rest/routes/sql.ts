/**
 * Admin API of SQL: connection definitions (`/v1/connections/sql`) and the per-principal procedure ACL
 * (`/v1/sql/acl`). Admin (`manage`) only. As in Zato, a new connection gets a random password that
 * nobody knows (sealed, `passwordSet: false`, jobs on it fail SB_ERR_SQL_PASSWORD_NOT_SET) until an
 * admin sets the real one with `PUT …/password`; passwords are sealed with the master keys, never
 * returned, never logged.
 */
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SbError, isSbError } from '../../../broker/errors.js';
import type { ConfigStore } from '../../../broker/types.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import {
  SQL_ACL_PREFIX, SQL_CONN_PREFIX, SqlAcl, SqlAclPut, SqlConnCreate, SqlConnPatch, SqlConnView, SqlPasswordPut, sqlAclKey, sqlConnKey,
  type SqlConnStored, type SqlConnView as ConnView,
} from '../../../schemas/sql.js';
import { processKeyring, sealSecret, secretAad, type Keyring } from '../../../broker/secrets.js';
import { SealedSecrets, TransportBody, resealForExport } from '../secret-export.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import { ErrorBody, NoContent, mustMatchPath } from '../errors.js';

const Name = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });
const NameParams = Type.Object({ name: Name });
const PrincipalParams = Type.Object({ principal: Name });
const tags = ['connections'];
// Config export (docs/config-as-code.md): secrets leave only sealed under a one-time key the caller sends.

/** Options of {@link sqlRoutes}; `keyring` defaults to `SB_MASTER_KEYS` / `SB_MASTER_KEYS_FILE`. */
export interface SqlRouteOptions {
  keyring?: () => Keyring;
}

/** Registers the SQL connection and ACL admin routes. */
export function sqlRoutes(deps: GatewayDeps, opts: SqlRouteOptions = {}): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  const store = broker.config;
  const keyring = opts.keyring ?? processKeyring;
  const seal = (name: string, password: string) => sealSecret(keyring(), password, secretAad(sqlConnKey(name), 'password'));

  return async (app) => {
    app.post('/v1/connections/sql', {
      schema: {
        tags, summary: 'Create an SQL connection definition (a random password is generated; set the real one with PUT …/password)',
        body: SqlConnCreate, response: { 201: SqlConnView, '4xx': ErrorBody },
      },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      const { name } = req.body;
      // Nobody ever sees this one: the connection is unusable until an admin sets the real password.
      const stored: SqlConnStored = {
        ...req.body,
        password: seal(name, randomBytes(32).toString('base64url')),
        passwordSet: false,
        updatedAt: new Date().toISOString(),
      };
      try {
        await store.create(sqlConnKey(name), stored);
      } catch (e) {
        // No "connection exists" code is registered yet (errors.ts): a validation error until there is one.
        if (isSbError(e) && e.data?.['exists'] === true) throw new SbError('SB_ERR_CONNECTION_EXISTS', `an SQL connection named ${name} already exists`, { data: { name } });
        throw e;
      }
      return reply.code(201).send(toView(stored));
    });

    app.get('/v1/connections/sql', {
      schema: { tags, summary: 'List SQL connection definitions', response: { 200: Type.Object({ connections: Type.Array(SqlConnView) }), '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return { connections: store.list<SqlConnStored>(SQL_CONN_PREFIX).map((e) => toView(e.value)) };
    });

    app.get('/v1/connections/sql/:name', {
      schema: { tags, summary: 'Inspect an SQL connection definition', params: NameParams, response: { 200: SqlConnView, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      return toView(await mustGet(store, req.params.name));
    });

    app.patch('/v1/connections/sql/:name', {
      schema: {
        tags, summary: 'Change fields of an SQL connection definition (the password is kept; workers rebuild the pool)',
        params: NameParams, body: SqlConnPatch, response: { 200: SqlConnView, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const old = await mustGet(store, req.params.name);
      const stored: SqlConnStored = { ...old, ...req.body, name: old.name, password: old.password, passwordSet: old.passwordSet, updatedAt: new Date().toISOString() };
      await store.put(sqlConnKey(old.name), stored);
      return toView(stored);
    });

    app.delete('/v1/connections/sql/:name', {
      schema: { tags, summary: 'Delete an SQL connection definition (workers close its pool)', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await mustGet(store, req.params.name);
      await store.delete(sqlConnKey(req.params.name));
      return reply.code(204).send(null);
    });

    app.put('/v1/connections/sql/:name/password', {
      schema: {
        tags, summary: 'Set the password of an SQL connection (sealed; never returned or logged)',
        params: NameParams, body: SqlPasswordPut, response: { 204: NoContent, '4xx': ErrorBody },
      },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      const old = await mustGet(store, req.params.name);
      const stored: SqlConnStored = { ...old, password: seal(old.name, req.body.password), passwordSet: true, updatedAt: new Date().toISOString() };
      await store.put(sqlConnKey(old.name), stored);
      return reply.code(204).send(null);
    });

    app.post('/v1/connections/sql/:name/secrets', {
      schema: {
        tags, summary: 'The password of an SQL connection sealed under a one-time transport key (config export); none while it is the random one',
        params: NameParams, body: TransportBody, response: { 200: SealedSecrets, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const c = await mustGet(store, req.params.name);
      const stored = c.passwordSet ? [{ field: 'password', sealed: c.password, aad: secretAad(sqlConnKey(c.name), 'password') }] : [];
      return resealForExport(deps.config, keyring(), req.body.transportKey, stored);
    });

    app.get('/v1/sql/acl', {
      schema: { tags: ['sql'], summary: 'Every SQL procedure ACL', response: { 200: Type.Object({ acls: Type.Array(SqlAcl) }), '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return { acls: store.list<SqlAcl>(SQL_ACL_PREFIX).map((e) => e.value) };
    });

    app.put('/v1/sql/acl/:principal', {
      schema: {
        tags: ['sql'], summary: "Set a principal's SQL procedure ACL (replaces it)",
        params: PrincipalParams, body: SqlAclPut, response: { 200: SqlAcl, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const { principal } = req.params;
      mustMatchPath('principal', req.body.principal, principal);
      const acl: SqlAcl = { principal, rules: req.body.rules.map((r) => ({ connections: [...r.connections], procedures: [...r.procedures] })) };
      await store.put(sqlAclKey(principal), acl);
      return acl;
    });

    app.get('/v1/sql/acl/:principal', {
      schema: {
        tags: ['sql'], summary: "A principal's SQL procedure ACL (no record: no rules, nothing allowed unless admin)",
        params: PrincipalParams, response: { 200: SqlAcl, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return store.get<SqlAcl>(sqlAclKey(req.params.principal)) ?? { principal: req.params.principal, rules: [] };
    });

    app.delete('/v1/sql/acl/:principal', {
      schema: { tags: ['sql'], summary: "Remove a principal's SQL procedure ACL (idempotent)", params: PrincipalParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await store.delete(sqlAclKey(req.params.principal));
      return reply.code(204).send(null);
    });
  };
}

async function mustGet(store: ConfigStore, name: string): Promise<SqlConnStored> {
  await store.sync();
  const c = store.get<SqlConnStored>(sqlConnKey(name));
  if (!c) throw new SbError('SB_ERR_CONNECTION_NOT_FOUND', `no SQL connection named ${name}`, { data: { name } });
  return c;
}

/** The admin view: everything but the password. */
function toView(c: SqlConnStored): ConnView {
  const { password: _password, ...rest } = c;
  return rest;
}
