/**
 * The admin API of WebSocket channels (`/v1/ws-channels`). Until app.ts registers the routes they are
 * mounted here on a Fastify app with the REST gateway's auth hook and error mapping, on a real stack;
 * the channels they write are served by the stack's gateway at `/ws/{name}`.
 */
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLogger } from '../../broker/log.js';
import { createAuthHook } from '../../gateways/rest/auth.js';
import { errorHandler } from '../../gateways/rest/errors.js';
import { wsChannelRoutes } from '../../gateways/rest/routes/ws-channels.js';
import { WS_LIMIT_DEFAULTS } from '../../schemas/ws.js';
import { basic, dropBucket, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';
import { WsClient, refusedStatus } from './ws-client.js';

const bucket = testBucket('wschan');

describe('WebSocket channels: admin API', function () {
  this.timeout(30_000);
  let s: RestStack;
  let app: FastifyInstance;
  const r = rand();
  const user = { name: `bob_${r}`, password: 'bob-password-1' };

  before(async function () {
    s = await startRestStack({ bucket });
    const logger = createLogger({ level: 'silent' });
    const deps = { broker: s.broker, security: s.security, logger, metrics: s.metrics, config: s.config };
    app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, useDefaults: true } } });
    app.decorateRequest('principal', null);
    app.setErrorHandler(errorHandler(logger));
    app.addHook('onRequest', createAuthHook(s.security, () => false));
    await app.register(wsChannelRoutes(deps));
    await app.ready();
    await s.security.users.create({ name: user.name, password: user.password, acl: { publish: ['>'], subscribe: ['>'] } });
  });
  after(async function () {
    await app.close();
    await s.dispose();
    await dropBucket(bucket);
  });
  const call = async (method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: unknown, auth = s.admin) => {
    const res = await app.inject({ method, url, headers: { authorization: auth }, ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
  };

  it('creates with defaults, lists, inspects, replaces and deletes a channel; the gateway serves it meanwhile', async function () {
    const name = `chan${r}`;
    const put = await call('PUT', `/v1/ws-channels/${name}`, {});
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { name, auth: 'required', allowedOrigins: [], limits: { ...WS_LIMIT_DEFAULTS }, presenceEvents: true });
    assert.ok((await call('GET', '/v1/ws-channels')).body.channels.some((c: { name: string }) => c.name === name));
    const url = `${s.base.replace('http:', 'ws:')}/ws/${name}`;
    const c = await WsClient.connect(url, { authorization: s.admin });
    assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    await c.close();
    const replaced = await call('PUT', `/v1/ws-channels/${name}`, { auth: 'none', allowedOrigins: ['https://a.example'], limits: { maxFrameBytes: 2048 } });
    assert.deepEqual([replaced.body.auth, replaced.body.limits.maxFrameBytes, replaced.body.limits.maxConnections], ['none', 2048, WS_LIMIT_DEFAULTS.maxConnections]);
    assert.equal((await call('GET', `/v1/ws-channels/${name}`)).body.auth, 'none');
    assert.equal((await call('DELETE', `/v1/ws-channels/${name}`)).status, 204);
    const gone = await call('GET', `/v1/ws-channels/${name}`);
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'SB_ERR_CHANNEL_NOT_FOUND']);
    assert.equal((await call('DELETE', `/v1/ws-channels/${name}`)).status, 404);
    assert.equal(await refusedStatus(url, { authorization: s.admin }), 404);
  });

  it('refuses bad bodies (400), non-admins (403) and no credentials (401)', async function () {
    const bad = await call('PUT', `/v1/ws-channels/x${r}`, { limits: { maxFrameBytes: 1 } });
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'SB_ERR_VALIDATION']);
    assert.equal((await call('PUT', `/v1/ws-channels/x${r}`, { auth: 'maybe' })).status, 400);
    assert.equal((await call('PUT', `/v1/ws-channels/x${r}`, { extra: 1 })).status, 400);
    assert.equal((await call('PUT', '/v1/ws-channels/bad.name', {})).status, 400);
    assert.equal((await call('GET', '/v1/ws-channels', undefined, basic(user.name, user.password))).status, 403);
    assert.equal((await call('GET', '/v1/ws-channels', undefined, 'Basic bm9wZTpub3Bl')).status, 401);
  });
});
