/** Operations of the REST gateway: health, readiness (backbone down, draining), metrics, OpenAPI, error mapping and docs. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ERROR_CODES } from '../../broker/errors.js';
import { toHttpError } from '../../gateways/index.js';
import { NatsServer } from '../support/nats-server.js';
import { dropBucket, waitUntil, http, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';

const bucket = testBucket('restops');


describe('REST gateway: operations', function () {
  let s: RestStack;
  let topic: string;
  before(async function () {
    s = await startRestStack({ bucket });
    topic = `ops.${rand()}`;
    await s.broker.topics.create({ name: topic, storage: 'memory' });
  });
  after(async function () {
    await s.broker.topics.delete(topic).catch(() => undefined);
    await s.dispose();
    await dropBucket(bucket);
  });

  it('serves /healthz, /readyz and /metrics without credentials', async function () {
    assert.deepEqual(await http(s, 'GET', '/healthz', undefined, null).then((r) => [r.status, r.body]), [200, { status: 'ok' }]);
    const ready = await http(s, 'GET', '/readyz', undefined, null);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.backbone.type, 'connected');
    const pub = await fetch(`${s.base}/v1/topics/${topic}/messages`, { method: 'POST', headers: { authorization: s.admin }, body: 'm' });
    assert.equal(pub.status, 201);
    const metrics = await fetch(`${s.base}/metrics`);
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    const text = await metrics.text();
    assert.match(text, /sb_http_requests_total\{method="POST",route="\/v1\/topics\/:name\/messages",status="201"\} 1/);
    assert.match(text, /sb_http_request_duration_seconds_count\{method="POST",route="\/v1\/topics\/:name\/messages"\} 1/);
    const httpLines = text.split('\n').filter((l) => l.startsWith('sb_http_'));
    assert.ok(httpLines.length > 0 && !httpLines.some((l) => l.includes(topic)), 'no raw URL (topic name) in the HTTP labels');
  });

  it('describes the API in OpenAPI at /v1/openapi.json', async function () {
    const doc = (await http(s, 'GET', '/v1/openapi.json', undefined, null)).body;
    assert.match(doc.openapi, /^3\./);
    for (const p of ['/v1/topics', '/v1/topics/{name}', '/v1/topics/{name}/messages', '/v1/topics/{name}/batch', '/v1/subscriptions',
      '/v1/subscriptions/{name}/messages', '/v1/subscriptions/{name}/ack', '/v1/subscriptions/{name}/nak', '/v1/subscriptions/{name}/term',
      '/v1/channels', '/v1/channels/{name}', '/v1/users', '/v1/users/{name}/keys', '/v1/users/{name}/keys/{id}', '/healthz', '/readyz', '/metrics']) {
      assert.ok(doc.paths[p], `OpenAPI lists ${p}`);
    }
    assert.equal(doc.paths['/*'], undefined, 'the channel catch-all is not part of the API');
    assert.ok(doc.paths['/v1/topics'].post.requestBody, 'schemas come from the routes');
  });

  it('maps framework errors to SB codes and keeps serving', async function () {
    const cases: Array<[Promise<Response>, number, string]> = [
      [fetch(`${s.base}/nowhere/${rand()}`, { headers: { authorization: s.admin } }), 404, 'SB_ERR_NOT_FOUND'],
      [fetch(`${s.base}/v1/topics`, { method: 'POST', headers: { authorization: s.admin, 'content-type': 'text/plain' }, body: 'x' }), 415, 'SB_ERR_UNSUPPORTED_MEDIA_TYPE'],
      [fetch(`${s.base}/v1/topics`, { method: 'POST', headers: { authorization: s.admin, 'content-type': 'application/json' }, body: '{"name":' }), 400, 'SB_ERR_INVALID_JSON'],
      [fetch(`${s.base}/v1/topics`, { method: 'POST', headers: { authorization: s.admin, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }) }), 413, 'SB_ERR_PAYLOAD_TOO_LARGE'],
    ];
    for (const [res, status, code] of cases) {
      const r = await res;
      assert.deepEqual([r.status, ((await r.json()) as { error: { code: string } }).error.code], [status, code]);
    }
    const internal = toHttpError(new Error('password=hunter2 leaked?'));
    assert.deepEqual([internal.code, internal.status, internal.message], ['SB_ERR_INTERNAL', 500, 'internal error'], 'the cause is never the message');
    assert.equal((await http(s, 'GET', '/healthz')).status, 200);
  });

  it('documents every error code in docs/errors.md, including every code the gateways emit', async function () {
    const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of Object.keys(ERROR_CODES)) assert.ok(doc.includes(`\`${code}\``), `${code} is documented`);
    const dir = new URL('../../gateways/', import.meta.url).pathname;
    const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts'));
    for (const f of files) {
      for (const [code] of (await readFile(join(dir, f), 'utf8')).matchAll(/SB_ERR_[A-Z_]+/g)) {
        assert.ok(code in ERROR_CODES, `${f} uses unknown code ${code}`);
        assert.ok(doc.includes(`\`${code}\``), `${code} (from ${f}) is documented`);
      }
    }
  });

  it('drains on stop: not ready, new requests get SB_ERR_SHUTTING_DOWN, in-flight ones finish, new connections refused', async function () {
    const d = await startRestStack({ bucket });
    try {
      const sub = `drain_${rand()}`;
      assert.equal((await http(d, 'POST', '/v1/subscriptions', { name: sub, topic })).status, 201);
      // One keep-alive socket: a long poll in flight, then (after stop began) a pipelined publish.
      const { port } = d.gateway.address();
      const sock = connect(port, '127.0.0.1');
      let raw = '';
      sock.on('data', (c: Buffer) => { raw += c.toString('latin1'); });
      const closed = once(sock, 'close');
      const arrived = once(d.gateway.app.server, 'request');
      const t0 = Date.now();
      sock.write(`GET /v1/subscriptions/${sub}/messages?max=1&waitMs=1500 HTTP/1.1\r\nHost: x\r\nAuthorization: ${d.admin}\r\n\r\n`);
      await arrived;
      const stopped = d.gateway.stop({ deadlineMs: 5000 });
      assert.deepEqual([d.gateway.health().ready, d.gateway.health().detail?.['draining']], [false, true]);
      await assert.rejects(fetch(`${d.base}/healthz`), 'the listener is closed to new connections');
      sock.write(`POST /v1/topics/${topic}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: ${d.admin}\r\nContent-Length: 1\r\n\r\nx`);
      await closed;
      await stopped;
      const answers = raw.split(/(?=HTTP\/1\.1 )/);
      assert.match(answers[0] ?? '', /^HTTP\/1\.1 200 [\s\S]*"messages":\[\]/, 'the in-flight long poll finished normally');
      assert.ok(Date.now() - t0 >= 1400, 'and was not cut short');
      assert.match(answers[1] ?? '', /^HTTP\/1\.1 503 [\s\S]*connection: close[\s\S]*SB_ERR_SHUTTING_DOWN/i);
      await d.broker.subscriptions.delete(sub);
    } finally {
      await d.dispose();
    }
  });
});

describe('REST gateway: backbone down, auth off', function () {
  let nats: NatsServer;
  let s: RestStack;
  const b2 = testBucket('restops2');
  before(async function () {
    nats = await NatsServer.start();
    s = await startRestStack({ bucket: b2, natsUrl: nats.url, auth: false });
  });
  after(async function () {
    await s.dispose();
    await nats.dispose();
  });

  it('publishes anonymously with auth off; answers 503 and not-ready while NATS is down, recovers after', async function () {
    this.timeout(30_000);
    const topic = `down.${rand()}`;
    await s.broker.topics.create({ name: topic });
    const publish = () => fetch(`${s.base}/v1/topics/${topic}/messages`, { method: 'POST', body: 'x' })
      .then(async (r) => [r.status, r.status === 201 ? 'ok' : ((await r.json()) as { error: { code: string } }).error.code]);
    assert.deepEqual(await publish(), [201, 'ok']);
    await nats.stop();
    await waitUntil(async () => (await fetch(`${s.base}/readyz`)).status === 503);
    const down = await http(s, 'GET', '/readyz');
    assert.notEqual(down.body.backbone.type, 'connected');
    const [status, code] = await publish();
    assert.equal(status, 503);
    assert.ok(['SB_ERR_BACKBONE_UNAVAILABLE', 'SB_ERR_PUBLISH_TIMEOUT'].includes(String(code)), String(code));
    assert.equal((await fetch(`${s.base}/healthz`)).status, 200, 'alive while not ready');
    await nats.restart();
    await waitUntil(async () => (await fetch(`${s.base}/readyz`)).status === 200, 20_000);
    assert.deepEqual(await publish(), [201, 'ok']);
  });
});
