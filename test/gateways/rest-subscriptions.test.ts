/** The REST gateway's subscription API: create/list/delete, long-poll pull, ack/nak/term, dead letters, data encodings. */
import assert from 'node:assert/strict';
import { dropBucket, http, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';

const bucket = testBucket('restsub');

describe('REST gateway: subscriptions', function () {
  let s: RestStack;
  const topics: string[] = [];
  before(async function () { s = await startRestStack({ bucket, http: { maxPullMessages: 50, maxPullWaitMs: 5000 } }); });
  after(async function () {
    for (const t of topics) await s.broker.topics.delete(t).catch(() => undefined);
    await s.dispose();
    await dropBucket(bucket);
  });
  async function newTopic(): Promise<string> {
    const name = `restsub.${rand()}`;
    await s.broker.topics.create({ name, storage: 'memory' });
    topics.push(name);
    return name;
  }
  async function publish(topic: string, body: string | Uint8Array, contentType?: string): Promise<void> {
    const headers: Record<string, string> = { authorization: s.admin };
    if (contentType) headers['content-type'] = contentType;
    const res = await fetch(`${s.base}/v1/topics/${topic}/messages`, { method: 'POST', headers, body: body as string });
    assert.equal(res.status, 201);
  }
  const pull = (sub: string, q = 'max=10&waitMs=2000') => http(s, 'GET', `/v1/subscriptions/${sub}/messages?${q}`);

  it('creates, lists with counters, inspects and deletes a subscription', async function () {
    const t = await newTopic();
    const name = `sub_${rand()}`;
    const created = await http(s, 'POST', '/v1/subscriptions', { name, topic: t, deliver: 'all', ackWaitMs: 5000, maxDeliver: 3 });
    assert.equal(created.status, 201);
    assert.deepEqual([created.body.name, created.body.topic, created.body.maxDeliver], [name, t, 3]);
    await publish(t, 'one');
    await publish(t, 'two');
    const list = await http(s, 'GET', '/v1/subscriptions');
    const mine = list.body.subscriptions.find((x: { name: string }) => x.name === name);
    assert.ok(mine, 'listed');
    assert.equal(mine.pending, 2);
    assert.equal((await http(s, 'GET', `/v1/subscriptions/${name}`)).body.name, name);
    assert.equal((await http(s, 'DELETE', `/v1/subscriptions/${name}`)).status, 204);
    const gone = await http(s, 'GET', `/v1/subscriptions/${name}`);
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'SB_ERR_SUBSCRIPTION_NOT_FOUND']);
  });

  it('pulls JSON as a value, text as a string and binary as base64', async function () {
    const t = await newTopic();
    const name = `sub_${rand()}`;
    await http(s, 'POST', '/v1/subscriptions', { name, topic: t, deliver: 'all' });
    const bin = new Uint8Array(256).map((_, i) => i);
    await publish(t, '{"n":1,"list":[true,null]}', 'application/json');
    await publish(t, 'héllo', 'text/plain; charset=utf-8');
    await publish(t, bin, 'application/octet-stream');
    await publish(t, '{"x":2}', 'application/problem+json');
    const { status, body } = await pull(name);
    assert.equal(status, 200);
    const [j, txt, b, pj] = body.messages;
    assert.deepEqual([j.data, j.encoding], [{ n: 1, list: [true, null] }, undefined]);
    assert.deepEqual([txt.data, txt.encoding], ['héllo', undefined]);
    assert.equal(b.encoding, 'base64');
    assert.deepEqual(Buffer.from(b.data, 'base64'), Buffer.from(bin));
    assert.deepEqual(pj.data, { x: 2 });
    assert.ok(j.ackToken && j.id && j.publishedAt && j.deliveryCount === 1);
    const acked = await http(s, 'POST', `/v1/subscriptions/${name}/ack`, { tokens: body.messages.map((m: { ackToken: string }) => m.ackToken) });
    assert.ok(acked.body.results.every((r: { ok: boolean }) => r.ok));
    assert.deepEqual((await pull(name, 'max=10&waitMs=0')).body.messages, [], 'acked messages are gone');
  });

  it('long-polls: an empty pull waits for waitMs, a publish ends the wait early', async function () {
    const t = await newTopic();
    const name = `sub_${rand()}`;
    await http(s, 'POST', '/v1/subscriptions', { name, topic: t });
    const t0 = Date.now();
    assert.deepEqual((await pull(name, 'max=1&waitMs=300')).body.messages, []);
    assert.ok(Date.now() - t0 >= 250, 'waited');
    const waiting = pull(name, 'max=1&waitMs=4000');
    await publish(t, 'wake', 'text/plain');
    const t1 = Date.now();
    const got = await waiting;
    assert.equal(got.body.messages[0]?.data, 'wake');
    assert.ok(Date.now() - t1 < 3000, 'returned before waitMs');
  });

  it('nak redelivers after the delay; term dead-letters the message', async function () {
    const t = await newTopic();
    const dlt = await newTopic();
    const name = `sub_${rand()}`;
    await http(s, 'POST', '/v1/subscriptions', { name, topic: t, deliver: 'all', deadLetterTopic: dlt, maxDeliver: 5 });
    await publish(t, 'poison', 'text/plain');
    const first = (await pull(name)).body.messages[0];
    const nak = await http(s, 'POST', `/v1/subscriptions/${name}/nak`, { tokens: [first.ackToken], delayMs: 100 });
    assert.deepEqual(nak.body.results, [{ token: first.ackToken, ok: true }]);
    const second = (await pull(name)).body.messages[0];
    assert.equal(second.deliveryCount, 2);
    assert.equal(second.id, first.id);
    const term = await http(s, 'POST', `/v1/subscriptions/${name}/term`, { tokens: [second.ackToken], reason: 'cannot parse' });
    assert.equal(term.body.results[0].ok, true);
    const dname = `dlq_${rand()}`;
    await http(s, 'POST', '/v1/subscriptions', { name: dname, topic: dlt, deliver: 'all' });
    const dead = (await pull(dname)).body.messages[0];
    assert.equal(dead.data, 'poison');
    assert.equal(dead.headers['Sb-Dlq-Reason'], 'terminated');
    assert.equal(dead.headers['Sb-Dlq-Topic'], t);
    assert.deepEqual((await pull(name, 'max=1&waitMs=300')).body.messages, [], 'terminated: not redelivered');
  });

  it('refuses pulls beyond the limits and forged tokens', async function () {
    const t = await newTopic();
    const name = `sub_${rand()}`;
    await http(s, 'POST', '/v1/subscriptions', { name, topic: t });
    assert.equal((await pull(name, 'max=51')).body.error.code, 'SB_ERR_VALIDATION');
    assert.equal((await pull(name, 'max=1&waitMs=5001')).status, 400);
    assert.equal((await pull(name, 'max=0')).status, 400);
    const forged = await http(s, 'POST', `/v1/subscriptions/${name}/ack`, { tokens: ['not-a-token'] });
    assert.equal(forged.status, 200);
    assert.equal(forged.body.results[0].ok, false);
    assert.equal(forged.body.results[0].error.code, 'SB_ERR_INVALID_ACK_TOKEN');
    const missing = await pull(`nope_${rand()}`);
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'SB_ERR_SUBSCRIPTION_NOT_FOUND']);
  });
});
