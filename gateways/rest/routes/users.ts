/** User administration: thin wrappers over security.users. Admin (`manage`) only; secrets are never echoed. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../../../schemas/names.js';
import { ApiKeyCreate, ApiKeyCreated, UserCreate, UserUpdate, UserView } from '../../../schemas/user.js';
import type { GatewayDeps } from '../../types.js';
import { authorize } from '../auth.js';
import { ErrorBody, NoContent } from '../errors.js';

const Name = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });
const NameParams = Type.Object({ name: Name });
const tags = ['users'];

/** Registers `/v1/users` and everything under it. */
export function userRoutes(deps: GatewayDeps): FastifyPluginAsyncTypebox {
  const { security } = deps;
  const users = security.users;
  return async (app) => {
    app.post('/v1/users', {
      schema: { tags, summary: 'Create a user', body: UserCreate, response: { 201: UserView, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      return reply.code(201).send(await users.create(req.body));
    });

    app.get('/v1/users', { schema: { tags, summary: 'List users', response: { 200: Type.Object({ users: Type.Array(UserView) }) } } }, async (req) => {
      authorize(security, req, 'manage');
      return { users: users.list() };
    });

    app.get('/v1/users/:name', { schema: { tags, summary: 'Inspect a user', params: NameParams, response: { 200: UserView, '4xx': ErrorBody } } }, async (req) => {
      authorize(security, req, 'manage');
      return users.get(req.params.name);
    });

    app.patch('/v1/users/:name', {
      schema: { tags, summary: 'Change password, roles or ACL', params: NameParams, body: UserUpdate, response: { 200: UserView, '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      return users.update(req.params.name, req.body);
    });

    app.delete('/v1/users/:name', { schema: { tags, summary: 'Delete a user', params: NameParams, response: { 204: NoContent, '4xx': ErrorBody } } }, async (req, reply) => {
      authorize(security, req, 'manage');
      await users.delete(req.params.name);
      return reply.code(204).send(null);
    });

    app.post('/v1/users/:name/keys', {
      schema: {
        tags, summary: 'Create an API key (the key is shown once)', params: NameParams,
        body: Type.Optional(ApiKeyCreate),
        response: { 201: ApiKeyCreated, '4xx': ErrorBody },
      },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      return reply.code(201).send(await users.createApiKey(req.params.name, req.body?.label));
    });

    app.delete('/v1/users/:name/keys/:id', {
      schema: { tags, summary: 'Revoke an API key', params: Type.Object({ name: Name, id: Type.String({ maxLength: 200 }) }), response: { 204: NoContent, '4xx': ErrorBody } },
    }, async (req, reply) => {
      authorize(security, req, 'manage');
      await users.revokeApiKey(req.params.name, req.params.id);
      return reply.code(204).send(null);
    });
  };
}
