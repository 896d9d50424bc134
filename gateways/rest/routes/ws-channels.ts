/** Admin API of WebSocket channels (`/ws/{name}`, docs/ws-protocol.md). Admin (`manage`) only. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SbError } from '../../../broker/errors.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import { WS_CHANNEL_PREFIX, WsChannel, WsChannelInput, wsChannelOf } from '../../../schemas/ws.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import { ErrorBody, NoContent } from '../errors.js';

const NameParams = Type.Object({ name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }) });
const tags = ['ws-channels'];

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
      return { channels: store.list<WsChannel>(WS_CHANNEL_PREFIX).map((e) => e.value) };
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
      return ch;
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
