/**
 * Admin API of outgoing WebSocket connections (`/v1/ws-outgoing`, docs/ws-outgoing.md). Admin (`manage`)
 * only. Header values (credentials) are sealed with the master keys before they are stored and never
 * returned: a view lists `headerNames`. `GET /{name}` adds the live status gathered from every replica.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SbError } from '../../../broker/errors.js';
import { processKeyring, sealSecret, secretAad, type Keyring, type SealedSecret } from '../../../broker/secrets.js';
import { SealedSecrets, TransportBody, resealForExport } from '../secret-export.js';
import type { Broker } from '../../../broker/types.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import {
  WS_OUTGOING_PREFIX, WS_OUTGOING_STATUS_SIGNAL, WsOutgoingPut, WsOutgoingView, wsOutgoingOf,
  type WsOutgoingStatus, type WsOutgoingStored, type WsOutgoingView as View,
} from '../../../schemas/ws-outgoing.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import { ErrorBody, NoContent, mustMatchPath } from '../errors.js';

const NameParams = Type.Object({ name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }) });
const tags = ['ws-outgoing'];
const keyOf = (name: string) => `${WS_OUTGOING_PREFIX}${name}`;
// Config export (docs/config-as-code.md): secrets leave only sealed under a one-time key the caller sends.

/** Options of {@link wsOutgoingRoutes}; `keyring` defaults to `SB_MASTER_KEYS` / `SB_MASTER_KEYS_FILE`. */
export interface WsOutgoingRouteOptions {
  keyring?: () => Keyring;
}

/** Registers `/v1/ws-outgoing` and `/v1/ws-outgoing/{name}`. */
export function wsOutgoingRoutes(deps: GatewayDeps, opts: WsOutgoingRouteOptions = {}): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  const store = broker.config;
  const keyring = opts.keyring ?? processKeyring;
  const mustGet = async (name: string): Promise<WsOutgoingStored> => {
    await store.sync();
    const d = store.get<WsOutgoingStored>(keyOf(name));
    if (!d) throw new SbError('SB_ERR_CONNECTION_NOT_FOUND', `no outgoing WebSocket connection named ${name}`, { data: { name } });
    return d;
  };

  return async (app) => {
    app.get('/v1/ws-outgoing', {
      schema: { tags, summary: 'List outgoing WebSocket connections (no header values)', response: { 200: Type.Object({ connections: Type.Array(WsOutgoingView) }) } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return { connections: store.list<WsOutgoingStored>(WS_OUTGOING_PREFIX).map((e) => toView(e.value)) };
    });

    app.put('/v1/ws-outgoing/:name', {
      schema: {
        tags, summary: 'Create or replace an outgoing WebSocket connection (header values sealed, never returned; left out: kept)',
        params: NameParams, body: WsOutgoingPut, response: { 200: WsOutgoingView, 201: WsOutgoingView, '4xx': ErrorBody },
      },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      const { name } = req.params;
      mustMatchPath('name', req.body.name, name);
      const r = req.body.reconnect;
      if (r?.initialMs !== undefined && r.maxMs !== undefined && r.initialMs > r.maxMs) throw new SbError('SB_ERR_VALIDATION', 'reconnect.initialMs is above reconnect.maxMs');
      await store.sync();
      const old = store.get<WsOutgoingStored>(keyOf(name));
      const stored: WsOutgoingStored = { ...wsOutgoingOf(name, req.body), headers: sealHeaders(name, req.body.headers, old, keyring) };
      await store.put(keyOf(name), stored);
      return reply.code(old ? 200 : 201).send(toView(stored));
    });

    app.get('/v1/ws-outgoing/:name', {
      schema: {
        tags, summary: 'Inspect an outgoing WebSocket connection, with the live status of the replica running it and of every replica',
        params: NameParams, response: { 200: WsOutgoingView, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const def = await mustGet(req.params.name);
      return { ...toView(def), ...(await liveStatus(broker, def.name)) };
    });

    app.post('/v1/ws-outgoing/:name/secrets', {
      schema: {
        tags, summary: 'The header values of a connection sealed under a one-time transport key (config export, docs/config-as-code.md)',
        params: NameParams, body: TransportBody, response: { 200: SealedSecrets, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const def = await mustGet(req.params.name);
      const stored = Object.entries(def.headers).map(([h, sealed]) => ({ field: `headers.${h}`, sealed, aad: secretAad(keyOf(def.name), `headers.${h}`) }));
      return resealForExport(deps.config, keyring(), req.body.transportKey, stored);
    });

    app.delete('/v1/ws-outgoing/:name', {
      schema: { tags, summary: 'Delete an outgoing WebSocket connection (the replica running it closes it)', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await mustGet(req.params.name);
      await store.delete(keyOf(req.params.name));
      return reply.code(204).send(null);
    });
  };
}

/** Seals each header value under AAD `wsout.<name>/headers.<lower-case name>`; no `headers` on an update keeps the stored ones. */
function sealHeaders(name: string, headers: Record<string, string> | undefined, old: WsOutgoingStored | undefined, keyring: () => Keyring): Record<string, SealedSecret> {
  if (headers === undefined) return old?.headers ?? {};
  const out: Record<string, SealedSecret> = {};
  const entries = Object.entries(headers);
  if (entries.length === 0) return out;
  const ring = keyring();
  for (const [h, value] of entries) {
    const lower = h.toLowerCase();
    if (out[lower]) throw new SbError('SB_ERR_VALIDATION', `header ${lower} is given twice`);
    out[lower] = sealSecret(ring, value, secretAad(keyOf(name), `headers.${lower}`));
  }
  return out;
}

/** The admin view: the definition with header names only. */
function toView(d: WsOutgoingStored): View {
  const { headers, ...rest } = d;
  return { ...rest, headerNames: Object.keys(headers).sort() };
}

/**
 * Asks every replica running outgoing connections for its status of `name` (signal gather): `status`
 * is the lease holder's (or, with no holder, the first answer), `replicas` every answer.
 */
async function liveStatus(broker: Broker, name: string): Promise<{ status?: WsOutgoingStatus; replicas: WsOutgoingStatus[] }> {
  const [answers, holder] = await Promise.all([
    broker.signals.gather(`${WS_OUTGOING_STATUS_SIGNAL}${name}`, new Uint8Array(0), { stallMs: 100, maxWaitMs: 1000 }).catch(() => []),
    broker.leases.holder(`${WS_OUTGOING_PREFIX}${name}`).catch(() => undefined),
  ]);
  const replicas: WsOutgoingStatus[] = [];
  for (const a of answers) {
    try {
      replicas.push(JSON.parse(Buffer.from(a).toString('utf8')) as WsOutgoingStatus);
    } catch {
      // A replica of another version: skip its answer.
    }
  }
  replicas.sort((a, b) => a.replica.localeCompare(b.replica));
  for (const r of replicas) {
    if (holder) r.holder = holder;
    else delete r.holder;
  }
  const status = replicas.find((r) => r.replica === holder) ?? replicas[0];
  return status ? { status, replicas } : { replicas };
}
