/** The REST gateway: the gateway conformance suite over real HTTP, topic lifecycle, and publish details. */
import assert from 'node:assert/strict';
import { runGatewayConformance } from './conformance.js';
import { dropBucket, http, rand, restConformanceHarness, startRestStack, testBucket, type RestStack } from './rest-harness.js';

const bucket = testBucket('rest');
after(async function () { await dropBucket(bucket); });

runGatewayConformance('rest', restConformanceHarness(bucket));

describe('REST gateway: topics and publish', function () {
  let s: RestStack;
  const topics: string[] = [];
  before(async function () { s = await startRestStack({ bucket }); });
  after(async function () {
    for (const t of topics) await s.broker.topics.delete(t).catch(() => undefined);
    await s.dispose();
  });
  async function newTopic(): Promise<string> {
    const name = `rest.t.${rand()}`;
    assert.equal((await http(s, 'POST', '/v1/topics', { name, storage: 'memory' })).status, 201);
    topics.push(name);
    return name;
  }

  it('creates, lists, inspects, patches and deletes a topic over HTTP', async function () {
    const name = `rest.life.${rand()}`;
    const created = await http(s, 'POST', '/v1/topics', { name, storage: 'memory', dedupWindowMs: 60_000, retention: { maxMessages: 10 } });
    assert.equal(created.status, 201);
    topics.push(name);
    assert.equal(created.body.name, name);
    assert.equal(created.body.retention.maxMessages, 10);
    assert.equal((await http(s, 'POST', '/v1/topics', { name })).body.error.code, 'SB_ERR_TOPIC_EXISTS');
    const list = await http(s, 'GET', '/v1/topics');
    assert.ok(list.body.topics.some((t: { name: string }) => t.name === name));
    const patched = await http(s, 'PATCH', `/v1/topics/${name}`, { retention: { maxMessages: 20 } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.retention.maxMessages, 20);
    assert.equal((await http(s, 'GET', `/v1/topics/${name}`)).body.retention.maxMessages, 20);
    assert.equal((await http(s, 'DELETE', `/v1/topics/${name}`)).status, 204);
    const gone = await http(s, 'GET', `/v1/topics/${name}`);
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'SB_ERR_TOPIC_NOT_FOUND']);
  });

  it('rejects invalid topic specs with 400', async function () {
    const bad = await http(s, 'POST', '/v1/topics', { name: 'a b' });
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'SB_ERR_VALIDATION']);
    const extra = await http(s, 'POST', '/v1/topics', { name: `x.${rand()}`, colour: 'red' });
    assert.equal(extra.status, 400, 'unknown fields are refused, not dropped');
    const wild = await http(s, 'GET', '/v1/topics/a.*');
    assert.deepEqual([wild.status, wild.body.error.code], [400, 'SB_ERR_INVALID_TOPIC_NAME']);
  });

  it('maps publish headers onto the envelope', async function () {
    const t = await newTopic();
    const res = await fetch(`${s.base}/v1/topics/${t}/messages`, {
      method: 'POST',
      headers: {
        authorization: s.admin, 'content-type': 'application/vnd.acme+json', 'x-correlation-id': 'corr-1', 'x-priority': '7',
        'x-expires-at': '2099-01-01T00:00:00Z', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
      body: '{"ok":true}',
    });
    assert.equal(res.status, 201);
    const sub = `rest_hdr_${rand()}`;
    await s.broker.subscriptions.create({ name: sub, topic: t, deliver: 'all' });
    const [m] = await s.broker.subscriptions.pull(sub, { max: 1, waitMs: 2000 });
    await s.broker.subscriptions.delete(sub);
    assert.ok(m);
    assert.equal(m.contentType, 'application/vnd.acme+json');
    assert.equal(m.headers['Sb-Correlation-Id'], 'corr-1');
    assert.equal(m.headers['Sb-Priority'], '7');
    assert.equal(m.headers['Sb-Expires-At'], '2099-01-01T00:00:00.000Z');
    assert.equal(m.headers['Sb-Publisher'], 'admin');
    assert.equal(m.headers['traceparent'], '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it('refuses bad envelope headers and a bad batch with 400', async function () {
    const t = await newTopic();
    const post = (headers: Record<string, string>) => fetch(`${s.base}/v1/topics/${t}/messages`, {
      method: 'POST', headers: { authorization: s.admin, ...headers }, body: 'x',
    }).then(async (r) => [r.status, ((await r.json()) as { error: { code: string } }).error.code]);
    assert.deepEqual(await post({ 'x-priority': '10' }), [400, 'SB_ERR_VALIDATION']);
    assert.deepEqual(await post({ 'x-expires-at': 'tomorrow' }), [400, 'SB_ERR_VALIDATION']);
    const tooMany = await http(s, 'POST', `/v1/topics/${t}/batch`, { messages: Array.from({ length: s.config.http.batchMax + 1 }, () => ({ data: 1 })) });
    assert.deepEqual([tooMany.status, tooMany.body.error.code], [400, 'SB_ERR_VALIDATION']);
    const mixed = await http(s, 'POST', `/v1/topics/${t}/batch`, { messages: [{ data: { a: 1 } }, { data: '!!', encoding: 'base64' }, { data: 'text' }] });
    assert.equal(mixed.status, 200);
    assert.deepEqual(mixed.body.results.map((r: { status: number }) => r.status), [201, 400, 201]);
    assert.equal(mixed.body.results[1].error.code, 'SB_ERR_VALIDATION');
  });

  it('publishes with no Content-Type and an empty body', async function () {
    const t = await newTopic();
    const res = await fetch(`${s.base}/v1/topics/${t}/messages`, { method: 'POST', headers: { authorization: s.admin } });
    assert.equal(res.status, 201);
    assert.equal((await s.broker.topics.info(t)).messages, 1);
  });
});
