/**
 * AMQP bridges against the real RabbitMQ and NATS: amqp-in exactly once and in order, poison
 * messages, a RabbitMQ restart mid-stream; amqp-out with confirms and through a RabbitMQ outage.
 * (The SIGKILL test is bridge-amqp-kill.test.ts; the admin API is bridge-admin.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { inboundRequest } from '../../gateways/amqp/mapping.js';
import { AmqpSide, AMQP_URL, dropBucketOn, rabbitStart, rabbitStop, startBridgeStack, topicBodies, type BridgeStack } from './bridge-harness.js';

const rand = (): string => randomBytes(4).toString('hex');

describe('AMQP bridges', function () {
  this.timeout(120_000);
  let s: BridgeStack;
  let amqp: AmqpSide;
  const bucket = `sb_test_bridgeamqp_${rand()}`;
  const topics: string[] = [];
  const queues: string[] = [];
  const exchanges: string[] = [];

  async function newTopic(prefix: string): Promise<string> {
    const t = `bridge.${prefix}.${rand()}`;
    await s.broker.topics.create({ name: t });
    topics.push(t);
    return t;
  }
  async function newQueue(prefix: string, args: Record<string, unknown> = {}): Promise<string> {
    const q = `sb-test-${prefix}-${rand()}`;
    await amqp.ch.assertQueue(q, { durable: true, arguments: args });
    queues.push(q);
    return q;
  }

  before(async function () {
    s = await startBridgeStack(bucket);
    amqp = await AmqpSide.open();
  });
  after(async function () {
    await s?.dispose();
    for (const q of queues) await amqp.ch.deleteQueue(q).catch(() => undefined);
    for (const e of exchanges) await amqp.ch.deleteExchange(e).catch(() => undefined);
    await amqp?.close();
    const cleanup = await startBridgeStack(bucket);
    for (const t of topics) await cleanup.broker.topics.delete(t).catch(() => undefined);
    await cleanup.dispose();
    await dropBucketOn(SHARED_NATS_URL, bucket);
  });

  it('amqp-in: 10k messages arrive in the topic exactly once, in queue order, with their properties', async function () {
    const topic = await newTopic('in10k');
    const queue = await newQueue('in10k');
    const N = 10_000;
    await amqp.fill(queue, N, (i) => ({
      body: Buffer.from(JSON.stringify({ i })),
      props: { messageId: `m-${i}`, contentType: 'application/json', correlationId: `c-${i}`, headers: { 'x-n': i } },
    }));
    const name = `in10k_${rand()}`;
    await s.put(name, { kind: 'amqp-in', url: AMQP_URL, queue, topic });
    await until(() => (s.status(name)?.counters.forwarded ?? 0) >= N, 60_000, 'all forwarded');
    await until(async () => (await amqp.ready(queue)) === 0, 10_000, 'queue drained');
    const st = s.status(name);
    assert.equal(st?.state, 'running');
    assert.equal(st?.counters.duplicates, 0);
    const stored = await topicBodies(SHARED_NATS_URL, topic);
    assert.equal(stored.length, N, 'exactly once');
    stored.forEach((m, i) => assert.equal(m.body, JSON.stringify({ i }), `position ${i} holds message ${i}`));
    const first = stored[0]?.headers ?? {};
    assert.equal(first['Content-Type'], 'application/json');
    assert.equal(first['Sb-Correlation-Id'], 'c-0');
    assert.equal(first['Sb-Publisher'], `bridge:${name}`);
    assert.equal(first['Nats-Msg-Id'], `bridge:${name}/m-0`, 'the AMQP message id is the idempotency key');
    assert.equal(first['Amqp-x-n'], '0', 'AMQP headers travel as envelope headers with the prefix');
    assert.equal(first['Amqp-Message-Id'], 'm-0');
  });

  it('amqp-in: declares its queue and bindings, and with concurrency 3 stores everything once', async function () {
    const topic = await newTopic('declare');
    const exchange = `sb-test-decl-${rand()}`;
    exchanges.push(exchange);
    await amqp.ch.assertExchange(exchange, 'topic', { durable: false });
    const queue = `sb-test-declared-${rand()}`;
    queues.push(queue);
    const name = `decl_${rand()}`;
    await s.put(name, { kind: 'amqp-in', url: AMQP_URL, queue, topic, concurrency: 3, prefetch: 50, declare: { durable: false, arguments: { 'x-max-length': 100_000 }, bindings: [{ exchange, routingKey: 'orders.#' }] } });
    await until(() => s.status(name)?.state === 'running', 10_000, 'running');
    for (let i = 0; i < 3000; i++) amqp.ch.publish(exchange, i % 2 ? 'orders.eu' : 'other', Buffer.from(`c${i}`), { messageId: `c-${i}` });
    await amqp.ch.waitForConfirms();
    await until(() => (s.status(name)?.counters.forwarded ?? 0) >= 1500, 20_000, 'the routed half stored');
    const bodies = (await topicBodies(SHARED_NATS_URL, topic)).map((m) => m.body);
    assert.equal(bodies.length, 1500, 'only what the binding routes, each once');
    assert.deepEqual(new Set(bodies), new Set(Array.from({ length: 1500 }, (_, k) => `c${2 * k + 1}`)));
  });

  it('amqp-in: a redelivered message id inside the dedup window is stored once', async function () {
    const topic = await newTopic('dedup');
    const queue = await newQueue('dedup');
    const name = `dedup_${rand()}`;
    await s.put(name, { kind: 'amqp-in', url: AMQP_URL, queue, topic });
    await amqp.fill(queue, 20, (i) => ({ body: Buffer.from(`d${i % 10}`), props: { messageId: `dup-${i % 10}` } }));
    await until(() => { const c = s.status(name)?.counters; return c && c.forwarded + c.duplicates >= 20; }, 20_000, 'all settled');
    assert.equal(s.status(name)?.counters.duplicates, 10);
    assert.deepEqual((await topicBodies(SHARED_NATS_URL, topic)).map((m) => m.body), Array.from({ length: 10 }, (_, i) => `d${i}`));
  });

  it('amqp-in: poison messages go to the dead-letter topic and are acked; the good ones are stored', async function () {
    const topic = await newTopic('poison');
    const dlq = `${topic}.dead`;
    topics.push(dlq);
    const queue = await newQueue('poison');
    const name = `poison_${rand()}`;
    await s.put(name, { kind: 'amqp-in', url: AMQP_URL, queue, topic, maxPayloadBytes: 1000, poison: { action: 'dead-letter', deadLetterTopic: dlq } });
    const bodies = [
      { body: Buffer.from('good-1'), props: { messageId: 'p1' } },
      { body: Buffer.alloc(2000, 1), props: { messageId: 'p2' } }, // too large
      { body: Buffer.from('{"a":'), props: { messageId: 'p3', contentType: 'application/json' } }, // declared JSON, does not parse
      { body: Buffer.from('good-2'), props: { messageId: 'p4' } },
    ];
    await amqp.fill(queue, bodies.length, (i) => bodies[i] as { body: Buffer });
    await until(() => (s.status(name)?.counters.deadLettered ?? 0) >= 2 && (s.status(name)?.counters.forwarded ?? 0) >= 2, 20_000, 'settled');
    await until(async () => (await amqp.ready(queue)) === 0, 10_000, 'queue drained');
    assert.deepEqual((await topicBodies(SHARED_NATS_URL, topic)).map((m) => m.body), ['good-1', 'good-2']);
    const dead = await topicBodies(SHARED_NATS_URL, dlq);
    assert.equal(dead.length, 2);
    assert.equal(dead[0]?.body, '', 'a body over the limit is left out of the dead letter');
    assert.equal(dead[1]?.body, '{"a":', 'the undecodable body is kept byte for byte');
    assert.equal(dead[1]?.headers['Sb-Dlq-Reason'], 'poison');
  });

  it('amqp-in: poison with action reject is nacked without requeue (RabbitMQ dead-letters it)', async function () {
    const topic = await newTopic('reject');
    const dlx = `sb-test-dlx-${rand()}`;
    exchanges.push(dlx);
    await amqp.ch.assertExchange(dlx, 'fanout', { durable: false });
    const rejected = await newQueue('rejected');
    await amqp.ch.bindQueue(rejected, dlx, '');
    const queue = await newQueue('reject', { 'x-dead-letter-exchange': dlx });
    const name = `reject_${rand()}`;
    await s.put(name, { kind: 'amqp-in', url: AMQP_URL, queue, topic, maxPayloadBytes: 100, poison: { action: 'reject' } });
    await amqp.fill(queue, 3, (i) => ({ body: i === 1 ? Buffer.alloc(500, 7) : Buffer.from(`ok-${i}`), props: { messageId: `r${i}` } }));
    const got = await amqp.take(rejected, 1, 20_000);
    assert.equal(got.length, 1, 'the poison message reached the dead-letter exchange');
    assert.equal(got[0]?.body.length, 500);
    await until(() => (s.status(name)?.counters.forwarded ?? 0) >= 2, 10_000, 'good ones stored');
    assert.deepEqual((await topicBodies(SHARED_NATS_URL, topic)).map((m) => m.body), ['ok-0', 'ok-2']);
  });

  it('amqp-in: a RabbitMQ restart mid-stream loses nothing and stores nothing twice', async function () {
    const topic = await newTopic('rmqrestart');
    const queue = await newQueue('rmqrestart');
    const N = 10_000;
    await amqp.fill(queue, N, (i) => ({ body: Buffer.from(`r${i}`), props: { messageId: `rr-${i}` } }));
    await amqp.close();
    const name = `rmq_${rand()}`;
    // Small prefetch so the run is still going when RabbitMQ stops.
    await s.put(name, { kind: 'amqp-in', url: AMQP_URL, queue, topic, prefetch: 32, reconnect: { initialMs: 200, maxMs: 2000 } });
    await until(() => (s.status(name)?.counters.forwarded ?? 0) >= 1000, 30_000, 'the run started');
    await rabbitStop();
    try {
      await until(() => s.status(name)?.state === 'reconnecting', 20_000, 'the bridge noticed');
    } finally {
      await rabbitStart();
      amqp = await AmqpSide.open();
    }
    await until(async () => (await amqp.ready(queue)) === 0 && s.status(name)?.state === 'running', 60_000, 'queue drained after the restart');
    await until(async () => (await s.broker.topics.info(topic)).messages >= N, 30_000, 'all stored');
    const stored = await topicBodies(SHARED_NATS_URL, topic);
    const seen = new Set(stored.map((m) => m.body));
    assert.equal(stored.length, N, `stored ${stored.length}, expected ${N} (no duplicates)`);
    for (let i = 0; i < N; i++) assert.ok(seen.has(`r${i}`), `r${i} is stored`);
    const c = s.status(name)?.counters;
    console.log(`      RabbitMQ restart: ${c?.reconnects} reconnect(s), ${c?.duplicates} redelivered duplicates deduped, ${c?.retried} requeued`);
  });

  it('amqp-in: a stop under load (disable) keeps its deadline and loses nothing; re-enabled, it finishes once each', async function () {
    const topic = await newTopic('stop');
    const queue = await newQueue('stop');
    const N = 5000;
    await amqp.fill(queue, N, (i) => ({ body: Buffer.from(`s${i}`), props: { messageId: `s-${i}` } }));
    const name = `stop_${rand()}`;
    const def = { kind: 'amqp-in', url: AMQP_URL, queue, topic, prefetch: 64 };
    await s.put(name, def);
    await until(() => (s.status(name)?.counters.forwarded ?? 0) >= 500, 20_000, 'mid-stream');
    const t0 = Date.now();
    await s.put(name, { ...def, enabled: false });
    await until(() => s.status(name)?.state === 'stopped', 10_000, 'stopped');
    const stopMs = Date.now() - t0;
    assert.ok(stopMs < 6000, `stopped in ${stopMs} ms`);
    const stored = (await s.broker.topics.info(topic)).messages;
    await until(async () => (await amqp.ready(queue)) + stored >= N, 10_000, 'the rest is back in the queue');
    assert.ok(stored < N, 'stopped mid-stream');
    await s.put(name, def);
    await until(async () => (await s.broker.topics.info(topic)).messages >= N && (await amqp.ready(queue)) === 0, 30_000, 'finished');
    const bodies = (await topicBodies(SHARED_NATS_URL, topic)).map((m) => m.body);
    assert.equal(bodies.length, N, 'each once');
    assert.deepEqual(bodies, Array.from({ length: N }, (_, i) => `s${i}`), 'in queue order across the stop');
    console.log(`      stop under load: ${stopMs} ms, ${stored} stored before it, the rest requeued`);
  });

  it('amqp-in: maps AMQP properties onto the envelope (header mapping)', function () {
    const msg = {
      content: Buffer.from('x'),
      fields: { deliveryTag: 1, redelivered: false, exchange: 'ex', routingKey: 'rk', consumerTag: 'c' },
      properties: {
        contentType: 'text/plain', contentEncoding: 'gzip', headers: { 'x-tenant': 'acme', 'bad key:': 1, nested: { a: 1 } }, deliveryMode: 2,
        priority: 12, correlationId: 'corr', replyTo: 'replies', expiration: '60000', messageId: 'mid', timestamp: 1_700_000_000,
        type: 'order.created', userId: 'guest', appId: 'shop', clusterId: undefined,
      },
    };
    const req = inboundRequest(msg, { topic: 't.x', bridge: 'b1', useMessageId: true, headerPrefix: 'Amqp-' });
    assert.equal(req.contentType, 'text/plain');
    assert.equal(req.idempotencyKey, 'mid');
    assert.equal(req.correlationId, 'corr');
    assert.equal(req.priority, 9, 'AMQP priority capped to the envelope range');
    assert.equal(req.publisher, 'bridge:b1');
    assert.ok(req.expiresAt && Math.abs(Date.parse(req.expiresAt) - Date.now() - 60_000) < 5000, 'expiration becomes an absolute time');
    assert.deepEqual(req.headers, {
      'Amqp-x-tenant': 'acme', 'Amqp-bad_key_': '1', 'Amqp-nested': '{"a":1}', 'Amqp-Message-Id': 'mid', 'Amqp-Reply-To': 'replies',
      'Amqp-Type': 'order.created', 'Amqp-App-Id': 'shop', 'Amqp-User-Id': 'guest', 'Amqp-Timestamp': '2023-11-14T22:13:20.000Z',
      'Amqp-Content-Encoding': 'gzip', 'Amqp-Exchange': 'ex', 'Amqp-Routing-Key': 'rk',
    });
    const none = inboundRequest({ ...msg, properties: { ...msg.properties, messageId: undefined } }, { topic: 't.x', bridge: 'b1', useMessageId: true, headerPrefix: '' });
    assert.equal(none.idempotencyKey, undefined, 'no message id, no dedup');
  });

  it('amqp-out: every message is confirmed into a queue bound to the exchange, then acked in JetStream', async function () {
    const topic = await newTopic('out');
    const sub = `bout_${rand()}`;
    await s.broker.subscriptions.create({ name: sub, topic });
    const exchange = `sb-test-out-${rand()}`;
    exchanges.push(exchange);
    const queue = await newQueue('out');
    await amqp.ch.assertExchange(exchange, 'direct', { durable: true });
    await amqp.ch.bindQueue(queue, exchange, 'rk-eu');
    const name = `out_${rand()}`;
    await s.put(name, { kind: 'amqp-out', url: AMQP_URL, subscription: sub, exchange, routingKey: 'rk-other', routingKeyHeader: 'Sb-Correlation-Id' });
    const N = 1000;
    for (let i = 0; i < N; i++) await s.broker.publish({ topic, data: Buffer.from(`o${i}`), contentType: 'text/plain', correlationId: 'rk-eu' });
    const got = await amqp.take(queue, N);
    assert.equal(got.length, N);
    assert.deepEqual(new Set(got.map((m) => m.body)), new Set(Array.from({ length: N }, (_, i) => `o${i}`)));
    assert.equal(got[0]?.routingKey, 'rk-eu', 'routing key from the header');
    assert.equal(got[0]?.props['contentType'], 'text/plain');
    assert.equal(got[0]?.props['deliveryMode'], 2, 'persistent');
    await until(async () => { const i = await s.broker.subscriptions.info(sub); return i.pending === 0 && i.ackPending === 0; }, 10_000, 'all acked in JetStream');
    await s.broker.subscriptions.delete(sub);
  });

  it('amqp-out: a broker nack (queue full, reject-publish) naks with backoff; nothing is acked unconfirmed', async function () {
    const topic = await newTopic('outnack');
    const sub = `bnack_${rand()}`;
    await s.broker.subscriptions.create({ name: sub, topic, backoffMs: [200], maxDeliver: 50 });
    const queue = await newQueue('outnack', { 'x-max-length': 5, 'x-overflow': 'reject-publish' });
    const name = `nack_${rand()}`;
    await s.put(name, { kind: 'amqp-out', url: AMQP_URL, subscription: sub, exchange: '', routingKey: queue, inflight: 8 });
    for (let i = 0; i < 20; i++) await s.broker.publish({ topic, data: Buffer.from(`n${i}`) });
    await until(() => (s.status(name)?.counters.retried ?? 0) > 0, 10_000, 'nacks seen');
    const bodies = new Set<string>();
    // Drain the queue as it fills: the nacked messages come back with the subscription's backoff.
    await until(async () => { for (const m of await amqp.take(queue, 5, 500)) bodies.add(m.body); return bodies.size === 20; }, 30_000, 'all 20 delivered');
    await until(async () => { const i = await s.broker.subscriptions.info(sub); return i.pending === 0 && i.ackPending === 0; }, 10_000, 'all acked');
    assert.equal(s.status(name)?.counters.forwarded, 20, 'each acked once, after its confirm');
    await s.broker.subscriptions.delete(sub);
  });

  it('amqp-out: during a RabbitMQ outage messages wait in JetStream, and all arrive after it', async function () {
    const topic = await newTopic('outage');
    const sub = `boutage_${rand()}`;
    await s.broker.subscriptions.create({ name: sub, topic });
    const exchange = `sb-test-outage-${rand()}`;
    exchanges.push(exchange);
    const queue = await newQueue('outage');
    await amqp.ch.assertExchange(exchange, 'fanout', { durable: true });
    await amqp.ch.bindQueue(queue, exchange, '');
    const name = `outage_${rand()}`;
    await s.put(name, { kind: 'amqp-out', url: AMQP_URL, subscription: sub, exchange, reconnect: { initialMs: 200, maxMs: 1000 } });
    await until(() => s.status(name)?.state === 'running', 10_000, 'running');
    for (let i = 0; i < 100; i++) await s.broker.publish({ topic, data: Buffer.from(`a${i}`) });
    assert.equal((await amqp.take(queue, 100)).length, 100);
    await amqp.close();
    await rabbitStop();
    try {
      await until(() => s.status(name)?.state === 'reconnecting', 20_000, 'the bridge noticed');
      for (let i = 0; i < 500; i++) await s.broker.publish({ topic, data: Buffer.from(`b${i}`) });
      const waiting = await s.broker.subscriptions.info(sub);
      assert.equal(waiting.pending + waiting.ackPending, 500, 'the messages wait in JetStream');
    } finally {
      await rabbitStart();
      amqp = await AmqpSide.open();
    }
    const got = await amqp.take(queue, 500, 60_000);
    const bodies = new Set(got.map((m) => m.body));
    for (let i = 0; i < 500; i++) assert.ok(bodies.has(`b${i}`), `b${i} arrived`);
    await until(async () => { const i = await s.broker.subscriptions.info(sub); return i.pending === 0 && i.ackPending === 0; }, 20_000, 'all acked in JetStream');
    await s.broker.subscriptions.delete(sub);
  });
});
