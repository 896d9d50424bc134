/** Admin API of REST channels. The channels themselves are served by the catch-all in messages.ts. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SbError, isSbError } from '../../../broker/errors.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import { REST_CHANNEL_PREFIX, RestChannel, RestChannelView } from '../../../schemas/channel.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import { assertChannelPath, withChannelDefaults } from '../channels.js';
import { ErrorBody, NoContent } from '../errors.js';

const NameParams = Type.Object({ name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }) });
const ChannelOut = RestChannelView;
const tags = ['channels'];

/** Registers `/v1/channels` and `/v1/channels/{name}`. Admin (`manage`) only. */
export function channelRoutes(deps: GatewayDeps): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  const store = broker.config;
  const keyOf = (name: string) => `${REST_CHANNEL_PREFIX}${name}`;
  const all = () => store.list<RestChannel>(REST_CHANNEL_PREFIX).map((e) => withChannelDefaults(e.value));

  return async (app) => {
    app.post('/v1/channels', {
      schema: { tags, summary: 'Create a REST channel (an HTTP path that publishes to a topic or runs a job)', body: RestChannel, response: { 201: ChannelOut, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      const ch = withChannelDefaults(req.body);
      assertChannelPath(ch.path);
      await store.sync();
      // Best effort across replicas: two admins racing for one path on two replicas can both win.
      const clash = all().find((c) => c.path === ch.path);
      if (clash) throw new SbError('SB_ERR_CHANNEL_EXISTS', `path ${ch.path} is already served by channel ${clash.name}`);
      try {
        await store.create(keyOf(ch.name), ch);
      } catch (e) {
        if (isSbError(e) && e.data?.['exists'] === true) throw new SbError('SB_ERR_CHANNEL_EXISTS', `channel ${ch.name} already exists`);
        throw e;
      }
      return reply.code(201).send(ch);
    });

    app.get('/v1/channels', {
      schema: { tags, summary: 'List REST channels', response: { 200: Type.Object({ channels: Type.Array(ChannelOut) }) } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      return { channels: all() };
    });

    app.get('/v1/channels/:name', {
      schema: { tags, summary: 'Inspect a REST channel', params: NameParams, response: { 200: ChannelOut, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      await store.sync();
      const ch = store.get<RestChannel>(keyOf(req.params.name));
      if (!ch) throw new SbError('SB_ERR_CHANNEL_NOT_FOUND', `channel ${req.params.name} does not exist`);
      return withChannelDefaults(ch);
    });

    app.delete('/v1/channels/:name', {
      schema: { tags, summary: 'Delete a REST channel', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await store.sync();
      if (!store.get(keyOf(req.params.name))) throw new SbError('SB_ERR_CHANNEL_NOT_FOUND', `channel ${req.params.name} does not exist`);
      await store.delete(keyOf(req.params.name));
      return reply.code(204).send(null);
    });
  };
}
