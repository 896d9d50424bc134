/**
 * Publishing. `rawPublishRoutes` runs in its own encapsulated context whose only body parser hands the
 * raw Buffer through, for any content type: the message is stored byte for byte. The same context
 * holds the catch-all route that serves REST channels, so they get the same body handling.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { SbError, toSbError } from '../../../broker/errors.js';
import { validateTopicName } from '../../../broker/subjects.js';
import type { PublishRequest } from '../../../broker/types.js';
import { PublishResult } from '../../../schemas/message.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import type { ChannelTable } from '../channels.js';
import { ErrorBody } from '../errors.js';
import { batchItemBytes } from '../payload.js';
import { serveJobChannel } from '../jobs.js';
import { MAX_KEY_LENGTH, publishFromHttp } from '../publish.js';

const NameParams = Type.Object({ name: Type.String() });
const tags = ['messages'];
const CHANNEL_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Registers the raw-body publish route and the channel catch-all. */
export function rawPublishRoutes(deps: GatewayDeps, channels: ChannelTable): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  return async (app) => {
    // JSON and text parsers would re-serialise or decode: drop them, keep the bytes.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    app.post('/v1/topics/:name/messages', {
      schema: {
        tags, summary: 'Publish one message (the body, any content type, stored byte for byte)',
        params: NameParams, response: { 201: PublishResult, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    }, async (req, reply) => reply.code(201).send(await publishFromHttp(broker, security, req.params.name, req)));

    app.route({
      method: [...CHANNEL_METHODS], url: '/*', schema: { hide: true },
      handler: async (req, reply) => {
        const channel = channels.lookup(pathOf(req));
        if (!channel || !channel.enabled) throw notFound(req);
        if (!(channel.methods as string[]).includes(req.method)) {
          reply.header('allow', channel.methods.join(', '));
          throw new SbError('SB_ERR_METHOD_NOT_ALLOWED', `channel ${channel.name} accepts ${channel.methods.join(', ')}`);
        }
        if (channel.job) return serveJobChannel(broker.jobs, security, channel.job, req, reply);
        return reply.code(201).send(await publishFromHttp(broker, security, channel.topic, req));
      },
    });
  };
}

function pathOf(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return q === -1 ? req.url : req.url.slice(0, q);
}

const PUBLISH_PATH = /^\/v1\/topics\/([^/]*)\/(messages|batch)$/;

function notFound(req: FastifyRequest): SbError {
  // A publish path reaches the catch-all only when its name segment is empty or longer than the
  // router's parameter limit: name the real problem rather than "no route".
  const m = req.method === 'POST' ? PUBLISH_PATH.exec(pathOf(req)) : null;
  if (m) {
    const why = m[1] === '' ? 'empty' : 'too long';
    return new SbError('SB_ERR_INVALID_TOPIC_NAME', `invalid topic name: ${why}`);
  }
  return new SbError('SB_ERR_NOT_FOUND', `no route ${req.method} ${pathOf(req).slice(0, 200)}`);
}

const BatchItem = Type.Object({
  data: Type.Unknown({ description: 'A JSON value (stored as JSON text), a string (text/plain), or base64 with encoding.' }),
  contentType: Type.Optional(Type.String({ maxLength: 255 })),
  encoding: Type.Optional(Type.Literal('base64')),
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_KEY_LENGTH })),
  correlationId: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_KEY_LENGTH })),
}, { additionalProperties: false });

const BatchOutcome = Type.Object({
  status: Type.Integer(),
  id: Type.Optional(Type.String()),
  seq: Type.Optional(Type.Integer()),
  duplicate: Type.Optional(Type.Boolean()),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});

/** Registers `POST /v1/topics/{name}/batch`: many messages, one outcome each, in order. */
export function batchRoutes(deps: GatewayDeps): FastifyPluginAsyncTypebox {
  const { broker, security, config } = deps;
  const Body = Type.Object({ messages: Type.Array(BatchItem, { minItems: 1, maxItems: config.http.batchMax }) }, { additionalProperties: false });
  return async (app) => {
    app.post('/v1/topics/:name/batch', {
      schema: {
        tags, summary: `Publish up to ${config.http.batchMax} messages`, params: NameParams, body: Body,
        response: { 200: Type.Object({ results: Type.Array(BatchOutcome) }), '4xx': ErrorBody, '5xx': ErrorBody },
      },
    }, async (req) => {
      const topic = req.params.name;
      validateTopicName(topic);
      const principal = authorize(security, req, 'publish', topic);
      // Items that cannot become bytes fail alone; the rest still go out, in order.
      const prepared = req.body.messages.map((m): PublishRequest | SbError => {
        try {
          const { data, contentType } = batchItemBytes(m);
          const pr: PublishRequest = { topic, data, contentType, publisher: principal.name };
          if (m.idempotencyKey !== undefined) pr.idempotencyKey = m.idempotencyKey;
          if (m.correlationId !== undefined) pr.correlationId = m.correlationId;
          return pr;
        } catch (e) {
          return toSbError(e);
        }
      });
      const toSend = prepared.filter((p): p is PublishRequest => !(p instanceof SbError));
      const sent = toSend.length > 0 ? await broker.publishBatch(toSend) : [];
      let i = 0;
      const results = prepared.map((p) => (p instanceof SbError ? p : sent[i++] ?? new SbError('SB_ERR_INTERNAL', 'missing batch outcome')));
      return {
        results: results.map((r) => (r instanceof SbError
          ? { status: r.status, error: { code: r.code, message: r.message } }
          : { status: 201, id: r.id, seq: r.seq, duplicate: r.duplicate })),
      };
    });
  };
}
