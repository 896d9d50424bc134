/** REST channels: created through the admin API on one gateway, served by another without a restart. */
import assert from 'node:assert/strict';
import { dropBucket, waitUntil, http, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';
import { readBack } from './conformance.js';

const bucket = testBucket('restchan');


describe('REST gateway: channels', function () {
  let a: RestStack;
  let b: RestStack;
  const topics: string[] = [];
  before(async function () {
    // Two replicas, each with its own broker connection, sharing one config bucket.
    a = await startRestStack({ bucket });
    b = await startRestStack({ bucket });
  });
  after(async function () {
    for (const t of topics) await a.broker.topics.delete(t).catch(() => undefined);
    await a.dispose();
    await b.dispose();
    await dropBucket(bucket);
  });
  async function newTopic(): Promise<string> {
    const name = `chan.${rand()}`;
    await a.broker.topics.create({ name, storage: 'memory' });
    topics.push(name);
    return name;
  }
  const post = (st: RestStack, path: string, body: string, method = 'POST') => fetch(`${st.base}${path}`, {
    method, headers: { authorization: st.admin, 'content-type': 'application/json' }, body,
  });

  it('a channel created on gateway A publishes through gateway B, and stops when deleted', async function () {
    const topic = await newTopic();
    const name = `orders_${rand()}`;
    const path = `/orders-${rand()}`;
    assert.equal((await post(b, path, '{}')).status, 404, 'no channel yet');
    const created = await http(a, 'POST', '/v1/channels', { name, path, topic });
    assert.deepEqual(created.body, { name, path, topic, methods: ['POST'], enabled: true });
    const order = '{"id": 42, "items": [ "a" ]}';
    let res: Response | undefined;
    await waitUntil(async () => (res = await post(b, path, order)).status !== 404);
    assert.equal(res?.status, 201);
    const answer = (await res?.json()) as { id: string; topic: string; duplicate: boolean };
    assert.equal(answer.topic, topic);
    const [m] = await readBack(a.broker, topic, 1);
    assert.equal(Buffer.from(m?.data ?? []).toString(), order, 'stored byte for byte');
    assert.equal(m?.id, answer.id);
    assert.equal((await http(b, 'GET', `/v1/channels/${name}`)).body.path, path);
    assert.equal((await http(b, 'DELETE', `/v1/channels/${name}`)).status, 204);
    await waitUntil(async () => (await post(a, path, order)).status === 404);
    assert.equal((await http(a, 'GET', `/v1/channels/${name}`)).body.error.code, 'SB_ERR_CHANNEL_NOT_FOUND');
  });

  it('answers 405 for a method the channel does not accept, and honours ACLs and the JSON check', async function () {
    const topic = await newTopic();
    const name = `put_${rand()}`;
    const path = `/in/${rand()}`;
    assert.equal((await http(a, 'POST', '/v1/channels', { name, path, topic, methods: ['PUT'] })).status, 201);
    await waitUntil(async () => (await post(a, path, '1', 'PUT')).status === 201);
    const wrong = await post(a, path, '1');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'PUT');
    assert.equal((await post(a, path, '{bad', 'PUT')).status, 400);
    const anon = await fetch(`${a.base}${path}`, { method: 'PUT', body: '1' });
    assert.equal(anon.status, 401);
    await http(a, 'DELETE', `/v1/channels/${name}`);
  });

  it('refuses reserved paths, duplicate names and duplicate paths', async function () {
    const topic = await newTopic();
    for (const path of ['/v1/topics', '/v1', '/healthz', '/readyz/x', '/metrics', '/ws/chat']) {
      const r = await http(a, 'POST', '/v1/channels', { name: `r_${rand()}`, path, topic });
      assert.deepEqual([r.status, r.body.error.code], [400, 'SB_ERR_VALIDATION'], path);
    }
    assert.equal((await http(a, 'POST', '/v1/channels', { name: `q_${rand()}`, path: '/a?b=1', topic })).status, 400);
    const name = `dup_${rand()}`;
    const path = `/dup-${rand()}`;
    assert.equal((await http(a, 'POST', '/v1/channels', { name, path, topic })).status, 201);
    assert.equal((await http(a, 'POST', '/v1/channels', { name, path: `/other-${rand()}`, topic })).body.error.code, 'SB_ERR_CHANNEL_EXISTS');
    assert.equal((await http(b, 'POST', '/v1/channels', { name: `n_${rand()}`, path, topic })).body.error.code, 'SB_ERR_CHANNEL_EXISTS');
    assert.ok((await http(b, 'GET', '/v1/channels')).body.channels.some((c: { name: string }) => c.name === name));
    await http(a, 'DELETE', `/v1/channels/${name}`);
  });
});
