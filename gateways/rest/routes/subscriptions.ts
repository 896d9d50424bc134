/** Durable subscriptions over HTTP: create/list/inspect/delete, long-poll pull, ack/nak/term. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import { SubscriptionInfo, SubscriptionSpec } from '../../../schemas/subscription.js';
import { DeliveredMessageJson } from '../../../schemas/message.js';
import type { GatewayDeps } from '../../types.js';
import { authorize, principalOf } from '../auth.js';
import { ErrorBody, NoContent } from '../errors.js';
import { pullResponseJson } from '../payload.js';

const NameParams = Type.Object({ name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }) });
const SettleResults = Type.Object({
  results: Type.Array(Type.Object({
    token: Type.String(), ok: Type.Boolean(),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  })),
});
const tags = ['subscriptions'];

/** Registers `/v1/subscriptions` and everything under it. */
export function subscriptionRoutes(deps: GatewayDeps): FastifyPluginAsyncTypebox {
  const { broker, security, config } = deps;
  const subs = broker.subscriptions;
  const Tokens = Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: config.http.maxPullMessages });
  const PullQuery = Type.Object({
    max: Type.Integer({ minimum: 1, maximum: config.http.maxPullMessages, default: 10 }),
    waitMs: Type.Integer({ minimum: 0, maximum: config.http.maxPullWaitMs, default: 0 }),
  }, { additionalProperties: false });

  /** Admins may touch any subscription; others need `subscribe` on its filter (a cache lookup, no I/O). */
  async function assertOwn(req: FastifyRequest, name: string): Promise<void> {
    const p = principalOf(req);
    if (security.can(p, 'manage')) return;
    security.assert(p, 'subscribe', subs.filterOf(name));
  }

  return async (app) => {
    app.post('/v1/subscriptions', {
      schema: { tags, summary: 'Create a durable subscription', body: SubscriptionSpec, response: { 201: SubscriptionInfo, '4xx': ErrorBody } },
    }, async (req, reply) => {
      const p = authorize(security, req, 'subscribe', req.body.topic);
      // Terminated messages are published to the dead-letter topic on the subscriber's behalf.
      if (req.body.deadLetterTopic !== undefined) security.assert(p, 'publish', req.body.deadLetterTopic);
      return reply.code(201).send(await subs.create(req.body));
    });

    app.get('/v1/subscriptions', {
      schema: { tags, summary: 'List the subscriptions the caller may read', response: { 200: Type.Object({ subscriptions: Type.Array(SubscriptionInfo) }) } },
    }, async (req) => {
      const p = principalOf(req);
      const all = await subs.list();
      return { subscriptions: security.can(p, 'manage') ? all : all.filter((s) => security.can(p, 'subscribe', s.topic)) };
    });

    app.get('/v1/subscriptions/:name', {
      schema: { tags, summary: 'Inspect a subscription', params: NameParams, response: { 200: SubscriptionInfo, '4xx': ErrorBody } },
    }, async (req) => {
      const info = await subs.info(req.params.name);
      authorize(security, req, 'subscribe', info.topic);
      return info;
    });

    app.delete('/v1/subscriptions/:name', {
      schema: { tags, summary: 'Delete a subscription', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      await assertOwn(req, req.params.name);
      await subs.delete(req.params.name);
      return reply.code(204).send(null);
    });

    app.get('/v1/subscriptions/:name/messages', {
      schema: {
        tags, summary: 'Pull (long-poll) up to max messages', params: NameParams, querystring: PullQuery,
        response: { 200: Type.Object({ messages: Type.Array(DeliveredMessageJson) }), '4xx': ErrorBody, '5xx': ErrorBody },
      },
    }, async (req, reply) => {
      await assertOwn(req, req.params.name);
      const msgs = await subs.pull(req.params.name, { max: req.query.max, waitMs: req.query.waitMs });
      // Already JSON text: with a JSON content type Fastify sends a string as is, and the schema above
      // still documents (and types) the shape, hence the cast.
      return reply.type('application/json; charset=utf-8').send(pullResponseJson(msgs) as unknown as { messages: [] });
    });

    app.post('/v1/subscriptions/:name/ack', {
      schema: { tags, summary: 'Acknowledge messages', params: NameParams, body: Type.Object({ tokens: Tokens }, { additionalProperties: false }), response: { 200: SettleResults } },
    }, async (req) => {
      await assertOwn(req, req.params.name);
      return { results: await subs.ack(req.params.name, req.body.tokens) };
    });

    app.post('/v1/subscriptions/:name/nak', {
      schema: {
        tags, summary: 'Redeliver messages after delayMs (default: the backoff)', params: NameParams,
        body: Type.Object({ tokens: Tokens, delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })) }, { additionalProperties: false }),
        response: { 200: SettleResults },
      },
    }, async (req) => {
      await assertOwn(req, req.params.name);
      return { results: await subs.nak(req.params.name, req.body.tokens, req.body.delayMs) };
    });

    app.post('/v1/subscriptions/:name/term', {
      schema: {
        tags, summary: 'Stop redelivering; dead-letter the messages', params: NameParams,
        body: Type.Object({ tokens: Tokens, reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
        response: { 200: SettleResults },
      },
    }, async (req) => {
      await assertOwn(req, req.params.name);
      return { results: await subs.term(req.params.name, req.body.tokens, req.body.reason) };
    });
  };
}
