/** Topic management: create, list, inspect, change retention, delete. Admin (`manage`) only. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { validateTopicName } from '../../../broker/subjects.js';
import { TopicInfo, TopicSpec, TopicUpdate } from '../../../schemas/topic.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import { ErrorBody, NoContent } from '../errors.js';

const NameParams = Type.Object({ name: Type.String() });
const tags = ['topics'];

/** Registers `/v1/topics` and `/v1/topics/{name}`. */
export function topicRoutes(deps: GatewayDeps): FastifyPluginAsyncTypebox {
  const { broker, security } = deps;
  return async (app) => {
    app.post('/v1/topics', {
      schema: { tags, summary: 'Create a topic', body: TopicSpec, response: { 201: TopicInfo, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      validateTopicName(req.body.name);
      return reply.code(201).send(await broker.topics.create(req.body));
    });

    app.get('/v1/topics', {
      schema: { tags, summary: 'List topics', response: { 200: Type.Object({ topics: Type.Array(TopicInfo) }) } },
    }, async (req) => {
      authorize(security, req, 'manage');
      return { topics: await broker.topics.list() };
    });

    app.get('/v1/topics/:name', {
      schema: { tags, summary: 'Inspect a topic', params: NameParams, response: { 200: TopicInfo, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      validateTopicName(req.params.name);
      return broker.topics.info(req.params.name);
    });

    app.patch('/v1/topics/:name', {
      schema: { tags, summary: 'Change retention, replicas or dedup window', params: NameParams, body: TopicUpdate, response: { 200: TopicInfo, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      validateTopicName(req.params.name);
      return broker.topics.update(req.params.name, req.body);
    });

    app.delete('/v1/topics/:name', {
      schema: { tags, summary: 'Delete a topic and its messages', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      validateTopicName(req.params.name);
      await broker.topics.delete(req.params.name);
      return reply.code(204).send(null);
    });
  };
}
