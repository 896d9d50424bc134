import assert from 'node:assert/strict';
import { encodeAckToken } from '../../broker/ack-token.js';
import { isSbError } from '../../broker/index.js';
import { cleanup, startBroker, uniq, until, sharedBrokerSuite } from './helpers.js';

describe('broker subscriptions', () => {
  const suite = sharedBrokerSuite('bs');
  const { root } = suite;

  async function topicWithSub(suffix: string, spec: { ackWaitMs?: number; maxDeliver?: number; backoffMs?: number[] } = {}) {
    const topic = `${root}.${suffix}`;
    const name = uniq(`s${suffix}-`);
    await suite.tb.broker.topics.create({ name: topic });
    await suite.tb.broker.subscriptions.create({ name, topic, ...spec });
    return { topic, name };
  }

  it('delivers a published message, and an acked one is not redelivered', async () => {
    const { topic, name } = await topicWithSub('ack', { ackWaitMs: 300 });
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const pub = await suite.tb.broker.publish({ topic, data: all, contentType: 'application/octet-stream', correlationId: 'c9' });
    const [m, ...rest] = await suite.tb.broker.subscriptions.pull(name, { max: 10, waitMs: 2000 });
    assert.equal(rest.length, 0);
    assert.ok(m);
    assert.equal(m.id, pub.id);
    assert.equal(m.topic, topic);
    assert.equal(m.seq, pub.seq);
    assert.equal(m.deliveryCount, 1);
    assert.deepEqual(Buffer.from(m.data), Buffer.from(all), 'all 256 byte values survive the round trip');
    assert.equal(m.headers['Sb-Correlation-Id'], 'c9');
    assert.ok(Math.abs(Date.parse(m.publishedAt) - Date.now()) < 10_000);
    const [res] = await suite.tb.broker.subscriptions.ack(name, [m.ackToken]);
    assert.deepEqual(res, { token: m.ackToken, ok: true });
    // Well past the 300 ms ack wait: an acked message must not come back.
    assert.deepEqual(await suite.tb.broker.subscriptions.pull(name, { max: 10, waitMs: 800 }), []);
    const info = await suite.tb.broker.subscriptions.info(name);
    assert.equal(info.ackPending, 0);
    assert.equal(info.pending, 0);
    assert.deepEqual(info.topics, [topic]);
  });

  it('redelivers an un-acked message after the ack wait with deliveryCount 2', async () => {
    const { topic, name } = await topicWithSub('redeliver', { ackWaitMs: 400 });
    await suite.tb.broker.publish({ topic, data: Buffer.from('again') });
    const [first] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.equal(first?.deliveryCount, 1);
    const t0 = Date.now();
    const [second] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 3000 });
    assert.ok(second, 'redelivered');
    assert.equal(second.deliveryCount, 2);
    assert.equal(second.seq, first?.seq);
    assert.ok(Date.now() - t0 >= 250, 'not before the ack wait');
    assert.equal((await suite.tb.broker.subscriptions.info(name)).redelivered, 1);
    await suite.tb.broker.subscriptions.ack(name, [second.ackToken]);
  });

  it('nak with a delay redelivers after the delay, not before', async () => {
    const { topic, name } = await topicWithSub('nak', { ackWaitMs: 5000 });
    await suite.tb.broker.publish({ topic, data: Buffer.from('later') });
    const [m] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.ok(m);
    const t0 = Date.now();
    const [r] = await suite.tb.broker.subscriptions.nak(name, [m.ackToken], 700);
    assert.equal(r?.ok, true);
    assert.deepEqual(await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 400 }), [], 'not before the delay');
    const [again] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 3000 });
    assert.ok(again);
    assert.ok(Date.now() - t0 >= 650, `redelivered after ${Date.now() - t0} ms`);
    assert.equal(again.deliveryCount, 2);
    await suite.tb.broker.subscriptions.ack(name, [again.ackToken]);
  });

  it('a wildcard subscription reads every matching topic, including one created after it', async () => {
    const a = `${root}.orders.eu`;
    const b = `${root}.orders.us`;
    await suite.tb.broker.topics.create({ name: a });
    await suite.tb.broker.topics.create({ name: `${root}.other` });
    const name = uniq('wild-');
    const sub = await suite.tb.broker.subscriptions.create({ name, topic: `${root}.orders.*`, ackWaitMs: 5000 });
    assert.deepEqual(sub.topics, [a]);
    await suite.tb.broker.publish({ topic: a, data: Buffer.from('a1') });
    await suite.tb.broker.topics.create({ name: b });
    await suite.tb.broker.publish({ topic: b, data: Buffer.from('b1') });
    await suite.tb.broker.publish({ topic: `${root}.other`, data: Buffer.from('no') });
    const got: string[] = [];
    await until(async () => {
      const ms = await suite.tb.broker.subscriptions.pull(name, { max: 10, waitMs: 500 });
      for (const m of ms) got.push(`${m.topic}:${Buffer.from(m.data).toString()}`);
      await suite.tb.broker.subscriptions.ack(name, ms.map((m) => m.ackToken));
      return got.length >= 2;
    }, 5000, 'both topics delivered');
    assert.deepEqual(got.sort(), [`${a}:a1`, `${b}:b1`]);
    assert.deepEqual((await suite.tb.broker.subscriptions.info(name)).topics, [a, b]);
  });

  it('a wildcard pull is fair across topics and still fills up to max from a busy one', async () => {
    const busy = `${root}.fair.busy`;
    const quiet = `${root}.fair.quiet`;
    await suite.tb.broker.topics.create({ name: busy });
    await suite.tb.broker.topics.create({ name: quiet });
    const name = uniq('fair-');
    await suite.tb.broker.subscriptions.create({ name, topic: `${root}.fair.*`, deliver: 'all', ackWaitMs: 5000 });
    await suite.tb.broker.publishBatch(Array.from({ length: 20 }, (_, i) => ({ topic: busy, data: Buffer.from(`b${i}`) })));
    await suite.tb.broker.publishBatch([0, 1].map((i) => ({ topic: quiet, data: Buffer.from(`q${i}`) })));
    const ms = await suite.tb.broker.subscriptions.pull(name, { max: 10, waitMs: 1000 });
    assert.equal(ms.length, 10);
    assert.equal(ms.filter((m) => m.topic === quiet).length, 2, 'the quiet topic is not starved');
    assert.equal(ms.filter((m) => m.topic === busy).length, 8);
    await suite.tb.broker.subscriptions.ack(name, ms.map((m) => m.ackToken));
    assert.equal((await suite.tb.broker.subscriptions.info(name)).pending, 12);
  });

  it('long-poll returns as soon as a message arrives', async () => {
    const { topic, name } = await topicWithSub('poll');
    const t0 = Date.now();
    const pulling = suite.tb.broker.subscriptions.pull(name, { max: 5, waitMs: 5000 });
    setTimeout(() => void suite.tb.broker.publish({ topic, data: Buffer.from('now') }), 200);
    const ms = await pulling;
    assert.equal(ms.length, 1);
    assert.ok(Date.now() - t0 < 3000, 'did not wait for the whole waitMs');
    await suite.tb.broker.subscriptions.ack(name, ms.map((m) => m.ackToken));
  });

  it('re-creating with the same definition is idempotent; a different one is 409; delete removes it', async () => {
    const { topic, name } = await topicWithSub('idem', { ackWaitMs: 1000 });
    const again = await suite.tb.broker.subscriptions.create({ name, topic, ackWaitMs: 1000 });
    assert.equal(again.name, name);
    await assert.rejects(suite.tb.broker.subscriptions.create({ name, topic, ackWaitMs: 2000 }), (e) => isSbError(e, 'SB_ERR_SUBSCRIPTION_EXISTS') && e.status === 409);
    assert.ok((await suite.tb.broker.subscriptions.list()).some((s) => s.name === name && s.maxDeliver === 5 && s.deadLetterTopic === null));
    await suite.tb.broker.subscriptions.delete(name);
    await assert.rejects(suite.tb.broker.subscriptions.info(name), (e) => isSbError(e, 'SB_ERR_SUBSCRIPTION_NOT_FOUND'));
    await assert.rejects(suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 0 }), (e) => isSbError(e, 'SB_ERR_SUBSCRIPTION_NOT_FOUND'));
  });

  it('rejects bad specs: fromSequence on a wildcard, bad names, a missing topic', async () => {
    await assert.rejects(suite.tb.broker.subscriptions.create({ name: uniq('v-'), topic: `${root}.*`, deliver: { fromSequence: 1 } }), (e) => isSbError(e, 'SB_ERR_VALIDATION'));
    await assert.rejects(suite.tb.broker.subscriptions.create({ name: 'bad name', topic: `${root}.x` }), (e) => isSbError(e, 'SB_ERR_INVALID_NAME'));
    await assert.rejects(suite.tb.broker.subscriptions.create({ name: uniq('v-'), topic: `${root}..x` }), (e) => isSbError(e, 'SB_ERR_INVALID_TOPIC_NAME'));
    await assert.rejects(suite.tb.broker.subscriptions.create({ name: uniq('v-'), topic: `${root}.absent` }), (e) => isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND'));
  });

  it('refuses forged tokens and tokens of another subscription, per token', async () => {
    const one = await topicWithSub('tok1', { ackWaitMs: 2000 });
    const two = await topicWithSub('tok2', { ackWaitMs: 2000 });
    await suite.tb.broker.publish({ topic: one.topic, data: Buffer.from('x') });
    await suite.tb.broker.publish({ topic: two.topic, data: Buffer.from('secret') });
    const [m] = await suite.tb.broker.subscriptions.pull(one.name, { max: 1, waitMs: 2000 });
    const [other] = await suite.tb.broker.subscriptions.pull(two.name, { max: 1, waitMs: 2000 });
    assert.ok(m && other);
    const res = await suite.tb.broker.subscriptions.ack(two.name, [m.ackToken]);
    assert.equal(res[0]?.ok, false);
    assert.equal(res[0]?.error?.code, 'SB_ERR_INVALID_ACK_TOKEN');
    // A token rewritten to name subscription one's consumer on topic two's stream: one may not read topic two,
    // so term must not copy that message to one's dead-letter topic.
    const subject = `$JS.ACK.${other.ackToken}`;
    const forged = encodeAckToken(subject.replace(`.SBS_${two.name}.`, `.SBS_${one.name}.`));
    const missing = encodeAckToken(subject.replace(/\.SBT_[^.]+\.SBS_[^.]+\./, `.SBT_nope_00000000.SBS_${one.name}.`));
    const mixed = await suite.tb.broker.subscriptions.term(one.name, [forged, missing, 'garbage']);
    assert.deepEqual(mixed.map((r) => r.error?.code), ['SB_ERR_INVALID_ACK_TOKEN', 'SB_ERR_INVALID_ACK_TOKEN', 'SB_ERR_INVALID_ACK_TOKEN']);
    assert.deepEqual((await suite.tb.broker.subscriptions.ack(one.name, [m.ackToken])).map((r) => r.ok), [true]);
  });
});

describe('broker close', () => {
  const root = uniq('bc');
  const bucket = uniq('sbtest_cfg_');
  after(() => cleanup({ root, bucket }));

  it('ends a waiting long-poll at once, fails later calls with 503, and is idempotent', async () => {
    const { broker } = await startBroker({ bucket });
    try {
      const topic = `${root}.t`;
      await broker.topics.create({ name: topic });
      await broker.subscriptions.create({ name: 'waiter', topic });
      const t0 = Date.now();
      const waiting = broker.subscriptions.pull('waiter', { max: 1, waitMs: 10_000 });
      // Either the create or the pull meets the close: an empty answer or a 503, never a hang.
      const wildcard = broker.subscriptions.create({ name: 'nothing-yet', topic: `${root}.none.*` })
        .then(() => broker.subscriptions.pull('nothing-yet', { max: 1, waitMs: 10_000 }))
        .then((r) => assert.deepEqual(r, []), (e: unknown) => assert.ok(isSbError(e) && e.status === 503, String(e)));
      await new Promise((r) => setImmediate(r));
      await Promise.all([broker.close({ deadlineMs: 1000 }), broker.close()]);
      assert.deepEqual(await waiting, []);
      await wildcard;
      assert.ok(Date.now() - t0 < 3000, `close took ${Date.now() - t0} ms`);
      assert.equal(broker.ready(), false);
      assert.equal(broker.status().type, 'closed');
      await assert.rejects(broker.publish({ topic, data: new Uint8Array(1) }), (e) => isSbError(e) && e.status === 503);
    } finally {
      await broker.close();
    }
  });
});
