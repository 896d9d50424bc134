/**
 * Admin API of WebSocket channels (`/ws/{name}`, docs/ws-protocol.md): admin (`manage`) only, except
 * broadcast, which a principal whose ACL grants `publish` on `ws.broadcast.<name>` may send too.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SbError } from '../../../broker/errors.js';
import { broadcast } from '../../../broker/ws-broadcast.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import {
  WS_CHANNEL_PREFIX, WS_PRESENCE_SIGNAL, WsBroadcastAccepted, WsChannel, WsChannelInput, WsPresence, wsBroadcastResource, wsChannelOf,
  type WsPresenceClient,
} from '../../../schemas/ws.js';
import type { GatewayDeps } from '../../types.js';
import { authorize, principalOf } from '../auth.js';
import { ErrorBody, NoContent } from '../errors.js';
import { assertJson, isJsonContentType } from '../payload.js';

const NameParams = Type.Object({ name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }) });
const tags = ['ws-channels'];
const EMPTY = Buffer.alloc(0);
/** A channel stored before `presenceEvents` existed has it on. */
const shown = (ch: WsChannel): WsChannel => (ch.presenceEvents === undefined ? { ...ch, presenceEvents: true } : ch);

/** Registers `/v1/ws-channels` and `/v1/ws-channels/{name}`. */
export function wsChannelRoutes(deps: GatewayDeps): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  const store = broker.config;
  const keyOf = (name: string) => `${WS_CHANNEL_PREFIX}${name}`;
  const notFound = (name: string) => new SbError('SB_ERR_CHANNEL_NOT_FOUND', `WebSocket channel ${name} does not exist`);

  return async (app) => {
    app.get('/v1/ws-channels', {
      schema: { tags, summary: 'List WebSocket channels', response: { 200: Type.Object({ channels: Type.Array(WsChannel) }) } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return { channels: store.list<WsChannel>(WS_CHANNEL_PREFIX).map((e) => shown(e.value)) };
    });

    app.put('/v1/ws-channels/:name', {
      schema: {
        tags, summary: 'Create or replace a WebSocket channel (served at /ws/{name}); limits not given take their defaults',
        params: NameParams, body: WsChannelInput, response: { 200: WsChannel, '4xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const ch = wsChannelOf(req.params.name, req.body);
      await store.put(keyOf(ch.name), ch);
      return ch;
    });

    app.get('/v1/ws-channels/:name', {
      schema: { tags, summary: 'Inspect a WebSocket channel', params: NameParams, response: { 200: WsChannel, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      const ch = store.get<WsChannel>(keyOf(req.params.name));
      if (!ch) throw notFound(req.params.name);
      return shown(ch);
    });

    app.get('/v1/ws-channels/:name/presence', {
      schema: {
        tags, summary: 'The clients connected to a WebSocket channel, on every gateway replica',
        params: NameParams, response: { 200: WsPresence, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    }, async (req) => {
      authorize(security, req, 'manage');
      const { name } = req.params;
      await store.sync();
      if (!store.get(keyOf(name))) throw notFound(name);
      const answers = await broker.signals.gather(`${WS_PRESENCE_SIGNAL}.${name}`, EMPTY);
      const clients: WsPresenceClient[] = [];
      for (const a of answers) {
        const r = JSON.parse(Buffer.from(a).toString('utf8')) as { gateway: string; clients: WsPresenceClient[] };
        clients.push(...r.clients.map((c) => ({ ...c, gateway: r.gateway })));
      }
      return { channel: name, clients };
    });

    // Broadcast takes the raw body of any content type (as a topic publish): its own context, its own parser.
    await app.register(async (raw) => {
      raw.removeAllContentTypeParsers();
      raw.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      raw.post('/v1/ws-channels/:name/broadcast', {
        schema: {
          tags, summary: 'Send the body to every client of the channel on every replica (at most once; 202 once sent)',
          params: NameParams, response: { 202: WsBroadcastAccepted, '4xx': ErrorBody, '5xx': ErrorBody },
        },
      }, async (req, reply) => {
        const p = principalOf(req);
        const { name } = req.params as { name: string };
        if (!security.can(p, 'manage')) security.assert(p, 'publish', wsBroadcastResource(name));
        // The cache answers on the hot path; a miss syncs once, for a channel just created on another replica.
        if (!store.get(keyOf(name))) {
          await store.sync();
          if (!store.get(keyOf(name))) throw notFound(name);
        }
        const body = Buffer.isBuffer(req.body) ? req.body : EMPTY;
        const contentType = req.headers['content-type'] ?? 'application/octet-stream';
        if (isJsonContentType(contentType)) assertJson(body);
        const { id } = broadcast(broker.signals, name, body, { contentType, publisher: p.name });
        return reply.code(202).send({ id, channel: name });
      });
    });

    app.delete('/v1/ws-channels/:name', {
      schema: { tags, summary: 'Delete a WebSocket channel (connected clients stay connected; new ones get 404)', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await store.sync();
      if (!store.get(keyOf(req.params.name))) throw notFound(req.params.name);
      await store.delete(keyOf(req.params.name));
      return reply.code(204).send(null);
    });
  };
}
