import assert from 'node:assert/strict';
import type { DeliveredMessage } from '../../broker/index.js';
import { HEADERS } from '../../schemas/index.js';
import { counter, uniq, until, sharedBrokerSuite } from './helpers.js';

describe('broker dead letters', () => {
  const suite = sharedBrokerSuite('bd');
  const { root } = suite;

  /** A topic, a subscription on it with a DLQ topic (created on demand), and a reader of the DLQ. */
  async function setup(suffix: string, spec: { ackWaitMs: number; maxDeliver: number }) {
    const topic = `${root}.${suffix}`;
    const dlq = `${root}.${suffix}-dlq`;
    const name = uniq(`d${suffix}-`);
    await suite.tb.broker.topics.create({ name: topic });
    await suite.tb.broker.subscriptions.create({ name, topic, deadLetterTopic: dlq, ...spec });
    return { topic, dlq, name };
  }

  /** Reads the DLQ topic through its own subscription, from the beginning. */
  async function readDlq(dlq: string): Promise<DeliveredMessage> {
    await until(() => suite.tb.broker.topics.info(dlq).then((i) => i.messages > 0, () => false), 8000, 'a dead-letter copy');
    const reader = uniq('dlqr-');
    await suite.tb.broker.subscriptions.create({ name: reader, topic: dlq, deliver: 'all' });
    const [m] = await suite.tb.broker.subscriptions.pull(reader, { max: 10, waitMs: 2000 });
    assert.ok(m, 'dead-letter copy readable');
    return m;
  }

  it('term sends the message to the dead-letter topic with reason, headers and body', async () => {
    const { topic, dlq, name } = await setup('term', { ackWaitMs: 5000, maxDeliver: 5 });
    const body = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
    const pub = await suite.tb.broker.publish({ topic, data: body, correlationId: 'corr-7', contentType: 'application/x-bin' });
    const [m] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.ok(m);
    const [r] = await suite.tb.broker.subscriptions.term(name, [m.ackToken], 'poison input');
    assert.equal(r?.ok, true);
    const d = await readDlq(dlq);
    assert.deepEqual(Buffer.from(d.data), Buffer.from(body));
    assert.equal(d.id, pub.id, 'the copy keeps Sb-Msg-Id');
    assert.equal(d.headers['Sb-Correlation-Id'], 'corr-7');
    assert.equal(d.contentType, 'application/x-bin');
    assert.equal(d.headers['Sb-Dlq-Reason'], 'terminated');
    assert.equal(d.headers[HEADERS.dlqTermReason], 'poison input');
    assert.equal(d.headers['Sb-Dlq-Topic'], topic);
    assert.equal(d.headers['Sb-Dlq-Seq'], String(pub.seq));
    assert.equal(d.headers['Sb-Dlq-Subscription'], name);
    assert.equal(d.headers['Sb-Dlq-Delivery-Count'], '1');
    // The original is gone from the subscription.
    assert.deepEqual(await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 300 }), []);
    assert.equal((await suite.tb.broker.subscriptions.info(name)).ackPending, 0);
    assert.equal(await counter(suite.tb.metrics, 'sb_dead_letters_total', { topic, reason: 'terminated' }), 1);
  });

  it('a nak on the last delivery dead-letters with reason max_deliver', async () => {
    const { topic, dlq, name } = await setup('naklast', { ackWaitMs: 5000, maxDeliver: 2 });
    await suite.tb.broker.publish({ topic, data: Buffer.from('fails twice') });
    const seen: number[] = [];
    for (let i = 0; i < 2; i++) {
      const [m] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 3000 });
      assert.ok(m, `delivery ${i + 1}`);
      seen.push(m.deliveryCount);
      await suite.tb.broker.subscriptions.nak(name, [m.ackToken], 100);
    }
    assert.deepEqual(seen, [1, 2]);
    const d = await readDlq(dlq);
    assert.equal(Buffer.from(d.data).toString(), 'fails twice');
    assert.equal(d.headers['Sb-Dlq-Reason'], 'max_deliver');
    assert.equal(d.headers['Sb-Dlq-Delivery-Count'], '2');
    assert.deepEqual(await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 300 }), [], 'not redelivered');
    assert.equal(await counter(suite.tb.metrics, 'sb_dead_letters_total', { topic, reason: 'max_deliver' }), 1);
  });

  it('an expired ack wait on the last delivery dead-letters with reason max_deliver, nobody pulling', async () => {
    const { topic, dlq, name } = await setup('expire', { ackWaitMs: 300, maxDeliver: 2 });
    await suite.tb.broker.publish({ topic, data: Buffer.from('ignored') });
    const [first] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.equal(first?.deliveryCount, 1);
    const [last] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.equal(last?.deliveryCount, 2);
    // Nobody pulls from here on: the server alone would never dead-letter it (2.9 behaviour).
    const d = await readDlq(dlq);
    assert.equal(Buffer.from(d.data).toString(), 'ignored');
    assert.equal(d.headers['Sb-Dlq-Reason'], 'max_deliver');
    assert.equal(d.headers['Sb-Dlq-Delivery-Count'], '2');
    await until(async () => (await suite.tb.broker.subscriptions.info(name)).ackPending === 0, 3000, 'original termed');
    assert.equal((await suite.tb.broker.topics.info(dlq)).messages, 1, 'exactly one copy');
  });

  it('a message past its expiresAt is not delivered but dead-lettered with reason expired', async () => {
    const { topic, dlq, name } = await setup('expiry', { ackWaitMs: 5000, maxDeliver: 5 });
    await suite.tb.broker.publish({ topic, data: Buffer.from('stale'), expiresAt: new Date(Date.now() - 1000).toISOString() });
    await suite.tb.broker.publish({ topic, data: Buffer.from('fresh'), expiresAt: new Date(Date.now() + 60_000).toISOString() });
    const ms = await suite.tb.broker.subscriptions.pull(name, { max: 10, waitMs: 2000 });
    assert.deepEqual(ms.map((m) => Buffer.from(m.data).toString()), ['fresh']);
    const d = await readDlq(dlq);
    assert.equal(Buffer.from(d.data).toString(), 'stale');
    assert.equal(d.headers['Sb-Dlq-Reason'], 'expired');
  });

  it('an acked last delivery is not dead-lettered', async () => {
    const { topic, dlq, name } = await setup('acked', { ackWaitMs: 200, maxDeliver: 1 });
    await suite.tb.broker.publish({ topic, data: Buffer.from('fine') });
    const [m] = await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.ok(m);
    await suite.tb.broker.subscriptions.ack(name, [m.ackToken]);
    // Wait past ack wait + margin with a long-poll: the DLQ topic must not appear.
    assert.deepEqual(await suite.tb.broker.subscriptions.pull(name, { max: 1, waitMs: 700 }), []);
    await assert.rejects(suite.tb.broker.topics.info(dlq));
  });
});
