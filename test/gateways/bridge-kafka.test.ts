/**
 * Kafka bridges against a real Kafka 3.9 (test/support/kafka.ts: KAFKA_BROKERS, or one broker per run
 * from Maven jars) and the shared NATS. kafka-in: 10k records exactly once and in order per
 * partition, a SIGKILLed bridge process, a Kafka broker crash, poison records. kafka-out: delivery
 * confirmed by reading Kafka back, and messages waiting in JetStream through a Kafka outage.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from 'kafkajs';
import { createLogger, createMetrics, type Broker } from '../../broker/index.js';
import { kafkaInKind, kafkaOutKind, type KafkaInStored, type KafkaOutStored } from '../../gateways/kafka/index.js';
import { inboundRequest, outboundRecord } from '../../gateways/kafka/mapping.js';
import type { Bridge, BridgeEnv } from '../../gateways/bridges/types.js';
import { cleanup, startBroker, uniq } from '../broker/helpers.js';
import { topicBodies } from './bridge-harness.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { KAFKA_START_TIMEOUT_MS, kafkaBrokers, killKafka, restartKafka } from '../support/kafka.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/kafka-in-bridge.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

describe('Kafka bridges (real Kafka)', function () {
  this.timeout(60_000);
  const root = uniq('kbr');
  const bucket = uniq('sbtest_kcfg_');
  const kafkaTopics: string[] = [];
  const bridges: Bridge[] = [];
  let brokers: string[];
  let broker: Broker;
  let env: BridgeEnv;
  let admin: Admin;
  let producer: Producer;
  let kafka: Kafka;

  before(async function () {
    this.timeout(KAFKA_START_TIMEOUT_MS);
    brokers = await kafkaBrokers();
    kafka = new Kafka({ brokers, clientId: 'sb-test', logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    ({ broker } = await startBroker({ bucket }));
    const quiet = new Writable({ write: (_c, _e, cb) => cb() });
    env = { broker, logger: createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent', destination: process.env['SB_TEST_LOG'] ? process.stdout : quiet }), metrics: createMetrics({ defaultMetrics: false }), secrets: {} };
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(bridges.map((b) => b.stop({ deadlineMs: 3000 })));
    await producer?.disconnect();
    if (admin && kafkaTopics.length) await admin.deleteTopics({ topics: kafkaTopics }).catch(() => undefined);
    await admin?.disconnect();
    await broker?.close();
    await cleanup({ root, bucket });
  });

  /** A Kafka topic of this suite, created with the admin client (KRaft: never rely on auto-create). */
  async function kafkaTopic(partitions: number, configEntries: Array<{ name: string; value: string }> = []): Promise<string> {
    const t = uniq('sbk_');
    await admin.createTopics({ topics: [{ topic: t, numPartitions: partitions, configEntries }], waitForLeaders: true });
    kafkaTopics.push(t);
    return t;
  }

  /** Produces `n` records alternating over `partitions`; the value is `{p, n}` with n counting per partition from `from`. */
  async function produce(topic: string, partitions: number, count: number, start = 0): Promise<void> {
    for (let i = start; i < start + count; i += 1000) {
      const messages = [];
      for (let j = i; j < Math.min(i + 1000, start + count); j++) {
        const p = j % partitions;
        messages.push({ partition: p, value: JSON.stringify({ p, n: Math.floor(j / partitions) }), headers: { 'x-seq': String(j) } });
      }
      await producer.send({ topic, acks: -1, messages });
    }
  }

  function inDef(kt: string, topic: string, extra: Partial<KafkaInStored> = {}): KafkaInStored {
    return {
      name: uniq('kin'), kind: 'kafka-in', enabled: true, brokers, topics: [kt], groupId: uniq('g'), topic,
      sessionTimeoutMs: 6000, reconnect: { initialMs: 200, maxMs: 2000 }, ...extra,
    } as KafkaInStored;
  }

  function startIn(def: KafkaInStored): Bridge {
    const b = kafkaInKind.create(def, env);
    bridges.push(b);
    b.start();
    return b;
  }

  async function stored(topic: string): Promise<number> {
    return (await broker.topics.info(topic)).messages;
  }

  /** Asserts the topic holds each record exactly once and, per partition, in Kafka order. */
  async function assertExactlyOnceInOrder(topic: string, partitions: number, total: number): Promise<void> {
    const bodies = await topicBodies(SHARED_NATS_URL, topic);
    assert.equal(bodies.length, total, 'each record stored once');
    const next = new Array<number>(partitions).fill(0);
    const lastOffset = new Array<number>(partitions).fill(-1);
    for (const { body, headers } of bodies) {
      const { p, n } = JSON.parse(body) as { p: number; n: number };
      assert.equal(n, next[p], `partition ${p}: record ${n} in order`);
      next[p] = n + 1;
      // The record's coordinates travel as envelope headers.
      assert.equal(headers['Kafka-Partition'], String(p));
      const offset = Number(headers['Kafka-Offset']);
      assert.ok(offset > lastOffset[p]!, `partition ${p}: offsets grow`);
      lastOffset[p] = offset;
    }
    assert.equal(next.reduce((a, b) => a + b, 0), total);
  }

  describe('kafka-in', () => {
    it('10 000 records over 2 partitions arrive in the topic exactly once, in order per partition', async () => {
      const kt = await kafkaTopic(2);
      const topic = `${root}.in.all`;
      await broker.topics.create({ name: topic });
      await produce(kt, 2, 10_000);
      const b = startIn(inDef(kt, topic));
      await until(async () => (await stored(topic)) >= 10_000 && b.status().counters.forwarded >= 10_000, 40_000, '10k records stored');
      await assertExactlyOnceInOrder(topic, 2, 10_000);
      const c = b.status().counters;
      assert.equal(c.forwarded, 10_000);
      assert.equal(c.deadLettered, 0);
      await b.stop();
      assert.equal(b.status().state, 'stopped');
    });

    it('a bridge process SIGKILLed mid-stream and started again loses nothing and stores no duplicate', async function () {
      this.timeout(90_000);
      const kt = await kafkaTopic(2);
      const topic = `${root}.in.kill`;
      await broker.topics.create({ name: topic });
      await produce(kt, 2, 6000);
      // Small chunks so the kill lands between commits: records stored but not yet committed are replayed.
      const def = inDef(kt, topic, { inflight: 100 });
      const first = await spawnBridge(def);
      await until(async () => (await stored(topic)) >= 1500, 30_000, 'part of the stream stored');
      first.kill('SIGKILL');
      await once(first, 'exit');
      const killedAt = await stored(topic);
      assert.ok(killedAt < 6000, `killed mid-stream (${killedAt} stored)`);
      const second = await spawnBridge(def);
      try {
        await until(async () => (await stored(topic)) >= 6000, 60_000, 'all records stored after the restart');
        await assertExactlyOnceInOrder(topic, 2, 6000);
      } finally {
        second.kill('SIGTERM');
        await once(second, 'exit');
      }
    });

    it('a Kafka broker crash (SIGKILL) and restart during a run loses nothing', async function () {
      this.timeout(90_000);
      const kt = await kafkaTopic(2);
      const topic = `${root}.in.restart`;
      await broker.topics.create({ name: topic });
      await produce(kt, 2, 3000);
      const b = startIn(inDef(kt, topic, { inflight: 100 }));
      await until(async () => (await stored(topic)) >= 500, 30_000, 'part of the stream stored');
      await restartKafka({ kill: true });
      await produce(kt, 2, 2000, 3000);
      await until(async () => (await stored(topic)) >= 5000, 60_000, 'every record stored after the Kafka restart');
      await assertExactlyOnceInOrder(topic, 2, 5000);
      assert.equal(b.status().state, 'running');
    });

    it('a record over maxPayloadBytes goes to the dead-letter topic; the records around it go on', async () => {
      const kt = await kafkaTopic(1, [{ name: 'max.message.bytes', value: '3000000' }]);
      const topic = `${root}.in.poison`;
      const dead = `${root}.in.dead`;
      await broker.topics.create({ name: topic });
      await producer.send({ topic: kt, acks: -1, messages: [{ value: 'before' }, { value: Buffer.alloc(1_200_000, 1) }, { value: 'after' }] });
      const b = startIn(inDef(kt, topic, { deadLetterTopic: dead }));
      await until(async () => b.status().counters.forwarded >= 2 && b.status().counters.deadLettered >= 1, 30_000, 'records settled');
      assert.deepEqual((await topicBodies(SHARED_NATS_URL, topic)).map((m) => m.body), ['before', 'after']);
      const dl = await topicBodies(SHARED_NATS_URL, dead);
      assert.equal(dl.length, 1);
      assert.equal(dl[0]?.body, '', 'the oversized body is left out of the dead-letter copy');
    });

    it('a missing Switchboard topic commits nothing; once it exists every record arrives', async () => {
      const kt = await kafkaTopic(1);
      const topic = `${root}.in.late`;
      await produce(kt, 1, 500);
      const b = startIn(inDef(kt, topic));
      await until(() => b.status().counters.retried > 0, 30_000, 'the bridge retrying');
      assert.equal(b.status().lastError?.code, 'SB_ERR_TOPIC_NOT_FOUND');
      await broker.topics.create({ name: topic });
      await until(async () => (await stored(topic)) >= 500, 30_000, 'records stored once the topic exists');
      await assertExactlyOnceInOrder(topic, 1, 500);
    });

    it('maps a record to the envelope: dedup key topic/partition/offset, Kafka coordinates, key and headers', () => {
      const req = inboundRequest(
        { offset: '42', key: Buffer.from('k-1'), value: Buffer.from('{}'), timestamp: '1700000000000', attributes: 0, headers: { 'content-type': 'application/json', 'trace id': Buffer.from([0xff, 0x00]) } },
        { kafkaTopic: 'orders', partition: 3 },
        { topic: 'sb.orders', bridge: 'b1', headerPrefix: 'Kafka-H-', contentType: 'application/octet-stream' },
      );
      assert.equal(req.idempotencyKey, 'orders/3/42');
      assert.equal(req.contentType, 'application/json');
      assert.equal(req.publisher, 'bridge:b1');
      assert.deepEqual(req.headers, {
        'Kafka-H-content-type': 'application/json', 'Kafka-H-trace_id': 'base64:/wA=',
        'Kafka-Topic': 'orders', 'Kafka-Partition': '3', 'Kafka-Offset': '42', 'Kafka-Timestamp': '2023-11-14T22:13:20.000Z', 'Kafka-Key': 'k-1',
      });
    });
  });

  describe('kafka-out', () => {
    it('maps a message to a record: the key from a JSON field or a header, envelope headers as record headers', () => {
      const m = { id: 'i1', topic: 't.a', seq: 7, deliveryCount: 1, publishedAt: '2026-01-01T00:00:00.000Z', headers: { 'Sb-Msg-Id': 'i1', 'Nats-Msg-Id': 'x', 'X-Tenant': 'acme' }, contentType: 'application/json', data: Buffer.from('{"id":"o-9","n":1}'), ackToken: 'tok' };
      const r = outboundRecord(m, { field: 'id' });
      assert.equal(r.key, 'o-9');
      assert.equal(outboundRecord(m, { header: 'x-tenant' }).key, 'acme');
      assert.equal(outboundRecord(m, { field: 'missing' }).key, null);
      assert.deepEqual(r.headers, { 'Sb-Msg-Id': 'i1', 'X-Tenant': 'acme', 'content-type': 'application/json', 'Sb-Topic': 't.a', 'Sb-Seq': '7' });
      assert.equal(r.timestamp, String(Date.parse('2026-01-01T00:00:00.000Z')));
    });

    it('delivers a subscription to Kafka (read back), acks only what Kafka took, and holds messages in JetStream through a Kafka outage', async function () {
      this.timeout(120_000);
      const kt = await kafkaTopic(2);
      const topic = `${root}.out.src`;
      const sub = uniq('kout');
      await broker.topics.create({ name: topic });
      await broker.subscriptions.create({ name: sub, topic });
      const publish = (from: number, n: number) => broker.publishBatch(Array.from({ length: n }, (_, i) => ({
        topic, contentType: 'application/json', data: Buffer.from(JSON.stringify({ id: `o-${from + i}` })),
      })));
      const def = { name: uniq('kout'), kind: 'kafka-out', enabled: true, brokers, subscription: sub, kafkaTopic: kt, key: { field: 'id' }, inflight: 256, pullWaitMs: 500, reconnect: { initialMs: 200, maxMs: 2000 } } as KafkaOutStored;
      const b = kafkaOutKind.create(def, env);
      bridges.push(b);
      b.start();

      await publish(0, 2000);
      const firstRead = await readKafka(kt, 2000);
      assert.deepEqual([...firstRead.keys()].sort(), Array.from({ length: 2000 }, (_, i) => `o-${i}`).sort());
      for (const [key, value] of firstRead) assert.equal(JSON.parse(value).id, key, 'the key is the payload field');
      await until(async () => { const i = await broker.subscriptions.info(sub); return i.pending === 0 && i.ackPending === 0; }, 20_000, 'every message acked');

      await killKafka();
      await publish(2000, 300);
      await until(() => b.status().state === 'reconnecting' && b.status().counters.retried > 0, 40_000, 'the bridge noticing the outage');
      const waiting = await broker.subscriptions.info(sub);
      assert.equal(waiting.pending + waiting.ackPending, 300, 'the messages wait in JetStream');
      await restartKafka();
      const all = await readKafka(kt, 2300);
      for (let i = 0; i < 2300; i++) assert.ok(all.has(`o-${i}`), `o-${i} delivered`);
      await until(async () => { const i = await broker.subscriptions.info(sub); return i.pending === 0 && i.ackPending === 0; }, 30_000, 'every message acked after the outage');
      await b.stop();
    });
  });

  /** Reads a Kafka topic from the beginning with a fresh group until `n` distinct keys were seen; key → value. */
  async function readKafka(topic: string, n: number): Promise<Map<string, string>> {
    const seen = new Map<string, string>();
    const consumer = kafka.consumer({ groupId: uniq('read'), sessionTimeout: 6000 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) seen.set(m.key?.toString('utf8') ?? '', m.value?.toString('utf8') ?? '');
        },
      });
      await until(() => seen.size >= n, 60_000, `${n} records in Kafka`);
    } finally {
      await consumer.disconnect();
    }
    return seen;
  }

  /** Starts the fixture bridge process and waits until it joined its group. */
  async function spawnBridge(def: KafkaInStored): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', TSX, FIXTURE], {
      env: { ...process.env, SB_FIXTURE_BRIDGE: JSON.stringify(def), SB_FIXTURE_BUCKET: bucket, SB_TEST_NATS_URL: SHARED_NATS_URL },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    const exited = once(child, 'exit');
    await Promise.race([
      until(() => out.includes('ready'), 60_000, 'the bridge process to be ready'),
      exited.then(([code]) => { throw new Error(`bridge process exited early (${String(code)})`); }),
    ]);
    return child;
  }
});
