import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { isSbError, SbError, topicStreamName } from '../../broker/index.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { counter, sharedBrokerSuite } from './helpers.js';

describe('broker publish', () => {
  const suite = sharedBrokerSuite('bp');
  const { root } = suite;

  it('stores a message once per idempotency key and returns the original id on duplicates', async () => {
    const topic = `${root}.dedup`;
    await suite.tb.broker.topics.create({ name: topic });
    const first = await suite.tb.broker.publish({ topic, data: Buffer.from('one'), idempotencyKey: 'k-1' });
    const again = await suite.tb.broker.publish({ topic, data: Buffer.from('one'), idempotencyKey: 'k-1' });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.id, first.id, 'a duplicate reports the stored message id');
    assert.equal(again.seq, first.seq);
    const other = await suite.tb.broker.publish({ topic, data: Buffer.from('two'), idempotencyKey: 'k-2' });
    assert.notEqual(other.id, first.id);
    assert.equal((await suite.tb.broker.topics.info(topic)).messages, 2, 'the stream holds one copy per key');
    assert.equal(await counter(suite.tb.metrics, 'sb_publishes_total', { topic, outcome: 'duplicate' }), 1);
    assert.equal(await counter(suite.tb.metrics, 'sb_publishes_total', { topic, outcome: 'stored' }), 2);
  });

  it('scopes idempotency keys to the publisher: the same key from another principal is a new message', async () => {
    const topic = `${root}.dedup-scope`;
    await suite.tb.broker.topics.create({ name: topic });
    const alice = await suite.tb.broker.publish({ topic, data: Buffer.from('a'), idempotencyKey: 'order-1', publisher: 'alice' });
    const bob = await suite.tb.broker.publish({ topic, data: Buffer.from('b'), idempotencyKey: 'order-1', publisher: 'bob' });
    const aliceAgain = await suite.tb.broker.publish({ topic, data: Buffer.from('a'), idempotencyKey: 'order-1', publisher: 'alice' });
    assert.deepEqual([alice.duplicate, bob.duplicate, aliceAgain.duplicate], [false, false, true]);
    assert.equal(aliceAgain.seq, alice.seq);
    assert.equal((await suite.tb.broker.topics.info(topic)).messages, 2);
  });

  it('stores the body byte for byte and the envelope as headers', async () => {
    const topic = `${root}.bin`;
    await suite.tb.broker.topics.create({ name: topic });
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const r = await suite.tb.broker.publish({
      topic, data: all, contentType: 'application/x-test', correlationId: 'c-1', replyTo: 'r.x', priority: 7,
      expiresAt: '2030-01-01T00:00:00Z', publisher: 'alice', traceparent: '00-abc-def-01',
    });
    // Read it back with a plain client: what is on the wire is what the stream stored.
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      const m = await (await jetstreamManager(nc)).streams.getMessage(topicStreamName(topic), { seq: r.seq });
      assert.ok(m);
      assert.deepEqual(Buffer.from(m.data), Buffer.from(all));
      assert.equal(m.header.get('Sb-Msg-Id'), r.id);
      assert.equal(m.header.get('Content-Type'), 'application/x-test');
      assert.equal(m.header.get('Sb-Correlation-Id'), 'c-1');
      assert.equal(m.header.get('Sb-Reply-To'), 'r.x');
      assert.equal(m.header.get('Sb-Priority'), '7');
      assert.equal(m.header.get('Sb-Publisher'), 'alice');
      assert.equal(m.header.get('traceparent'), '00-abc-def-01');
      assert.equal(m.header.has('Nats-Msg-Id'), false, 'no dedup header without an idempotency key');
    } finally {
      await nc.close();
    }
  });

  it('stores extra headers, lets the envelope fields win, and refuses the ones that decide dedup and identity', async () => {
    const topic = `${root}.extra`;
    await suite.tb.broker.topics.create({ name: topic });
    const r = await suite.tb.broker.publish({
      topic, data: Buffer.from('x'), contentType: 'text/plain', headers: { 'Kafka-Partition': '3', 'Content-Type': 'overridden/no' },
    });
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      const m = await (await jetstreamManager(nc)).streams.getMessage(topicStreamName(topic), { seq: r.seq });
      assert.equal(m?.header.get('Kafka-Partition'), '3');
      assert.equal(m?.header.get('Content-Type'), 'text/plain', 'the envelope field wins');
    } finally {
      await nc.close();
    }
    for (const name of ['Nats-Msg-Id', 'nats-expected-stream', 'Sb-Msg-Id', 'sb-publisher', 'bad:name', '']) {
      await assert.rejects(suite.tb.broker.publish({ topic, data: Buffer.from('x'), headers: { [name]: 'v' } }), (e) => isSbError(e, 'SB_ERR_VALIDATION'), name);
    }
    await assert.rejects(suite.tb.broker.publish({ topic, data: Buffer.from('x'), headers: { 'X-A': 'a\r\nNats-Msg-Id: forged' } }), (e) => isSbError(e, 'SB_ERR_VALIDATION'));
    assert.equal((await suite.tb.broker.topics.info(topic)).messages, 1);
  });

  it('rejects a publish to a missing topic with SB_ERR_TOPIC_NOT_FOUND', async () => {
    await assert.rejects(suite.tb.broker.publish({ topic: `${root}.nope`, data: new Uint8Array(0) }), (e) => isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND') && e.status === 404);
    await assert.rejects(suite.tb.broker.publish({ topic: `${root}.x`, data: new Uint8Array(0), priority: 12 }), (e) => isSbError(e, 'SB_ERR_VALIDATION'));
  });

  it('publishes a batch concurrently with one outcome per message, in order', async () => {
    const topic = `${root}.batch`;
    await suite.tb.broker.topics.create({ name: topic });
    const reqs = Array.from({ length: 200 }, (_, i) => ({ topic: i === 50 ? `${root}.absent` : topic, data: Buffer.from(String(i)) }));
    const out = await suite.tb.broker.publishBatch(reqs);
    assert.equal(out.length, 200);
    const bad = out[50];
    assert.ok(bad instanceof SbError && bad.code === 'SB_ERR_TOPIC_NOT_FOUND');
    const seqs = out.filter((o) => !(o instanceof SbError)).map((o) => (o as { seq: number }).seq);
    assert.equal(new Set(seqs).size, 199);
    assert.equal((await suite.tb.broker.topics.info(topic)).messages, 199);
  });
});
