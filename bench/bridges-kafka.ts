/**
 * Kafka bridges against raw kafkajs, interleaved in one run (docs/benchmarks.md, "Bridges"):
 *
 * - Kafka→topic: N records pre-filled in a Kafka topic, read (a) by a raw kafkajs consumer (eachBatch,
 *   fresh group, auto commit) and (b) by a `kafka-in` bridge into a fresh Switchboard topic (stored in
 *   JetStream, offsets committed after). Rate from the first record to the N-th.
 * - topic→Kafka: N messages pre-filled in a Switchboard topic with a subscription, delivered (a) by a
 *   raw kafkajs producer sending the same bodies in batches of `inflight` (idempotent, acks -1, as the
 *   bridge) and (b) by a `kafka-out` bridge (pull, send, ack). Rate from the first send to the N-th ack.
 *
 * A third column, "raw pipeline", is the same job written by hand with the raw clients: kafkajs
 * eachBatch + nats.js `js.publish` (msgID, all of a batch at once, then resolve) for Kafka→topic, and
 * a nats.js pull consumer (fetch `inflight`) + kafkajs send + `msg.ack()` for topic→Kafka.
 *
 * Kafka: KAFKA_BROKERS, else `.kafka/bootstrap` of `scripts/kafka.sh start`, else it runs that itself
 * (and stops it after). NATS: SB_TEST_NATS_URL (default nats://127.0.0.1:4222).
 *   npx tsx bench/bridges-kafka.ts   (BENCH_KAFKA_MESSAGES=50000 BENCH_ROUNDS=3 BENCH_BYTES=256)
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, topicSubject, type Broker } from '../broker/index.js';
import { resolveProcessConfig } from '../schemas/config.js';
import { kafkaInKind, kafkaOutKind, type KafkaInStored, type KafkaOutStored } from '../gateways/kafka/index.js';
import type { Bridge, BridgeEnv } from '../gateways/bridges/types.js';
import { cpuMsByName, cpuMsOf } from './proc-cpu.js';

const N = Number(process.env['BENCH_KAFKA_MESSAGES'] ?? 50_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const BYTES = Number(process.env['BENCH_BYTES'] ?? 256);
const PARTITIONS = 4;
const INFLIGHT = 400;
const NATS_URL = process.env['SB_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const run = promisify(execFile);
const uniq = (p: string): string => `${p}${randomBytes(4).toString('hex')}`;
const body = Buffer.from(JSON.stringify({ pad: 'x'.repeat(Math.max(0, BYTES - 10)) }));

async function bootstrap(): Promise<{ brokers: string[]; stop?: () => Promise<void> }> {
  if (process.env['KAFKA_BROKERS']) return { brokers: process.env['KAFKA_BROKERS'].split(',') };
  const file = new URL('../.kafka/bootstrap', import.meta.url);
  const have = await readFile(file, 'utf8').catch(() => '');
  if (have.trim()) return { brokers: [have.trim()] };
  const script = new URL('../scripts/kafka.sh', import.meta.url).pathname;
  const { stdout } = await run('bash', [script, 'start'], { timeout: 300_000 });
  return { brokers: [stdout.trim().split('\n').pop() as string], stop: async () => { await run('bash', [script, 'stop']); } };
}

/** CPU time so far, ms: this process (raw clients and bridges run here), the Kafka JVM, nats-server. */
interface Cpu { self: number; kafka: number; nats: number }
function cpuNow(): Cpu {
  const by = cpuMsByName(['java', 'nats-server']);
  return { self: cpuMsOf(process.pid), kafka: by['java'] ?? 0, nats: by['nats-server'] ?? 0 };
}
/** µs of CPU per message between two readings, by process, and the cores they used over `ms`. */
function perMessage(a: Cpu, b: Cpu, ms: number): { self: number; kafka: number; nats: number; cores: number } {
  const us = (k: keyof Cpu) => ((b[k] - a[k]) * 1000) / N;
  const total = b.self - a.self + b.kafka - a.kafka + b.nats - a.nats;
  return { self: us('self'), kafka: us('kafka'), nats: us('nats'), cores: total / ms };
}
type CpuRow = ReturnType<typeof perMessage>;
const cpuRows: Array<{ what: string; cpu: CpuRow }> = [];
/** Records CPU between the first and the last message of one measurement. */
function cpuWindow(what: string): { start: () => void; end: (ms: number) => void } {
  let a: Cpu | undefined;
  return {
    start: () => { a ??= cpuNow(); },
    end: (ms) => { if (a) cpuRows.push({ what, cpu: perMessage(a, cpuNow(), ms) }); },
  };
}

/** Polls `cond` every 5 ms (tight enough for second-long runs) until true, or fails after `ms`. */
async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<number> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now();
}

async function main(): Promise<void> {
  const { brokers, stop } = await bootstrap();
  const kafka = new Kafka({ brokers, clientId: 'sb-bench', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const logger = createLogger({ level: 'silent', destination: quiet });
  const metrics = createMetrics({ defaultMetrics: false });
  const bucket = uniq('sbbench_kcfg_');
  const broker = await createBroker({ config: resolveProcessConfig({ nats: { url: NATS_URL, configBucket: bucket, publishTimeoutMs: 10_000 } }), logger, metrics });
  const env: BridgeEnv = { broker, logger, metrics, secrets: {} };
  const root = uniq('kbench');
  const kafkaTopics: string[] = [];
  const sbTopics: string[] = [];
  const rows: Array<{ direction: string; round: number; raw: number; pipe: number; bridge: number }> = [];
  const nc = await natsConnect({ servers: NATS_URL });
  try {
    // One pre-filled Kafka topic read by every inbound run (each with a fresh group).
    const source = uniq('sbb_in_');
    kafkaTopics.push(source);
    await admin.createTopics({ topics: [{ topic: source, numPartitions: PARTITIONS }], waitForLeaders: true });
    const filler = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await filler.connect();
    for (let i = 0; i < N; i += 1000) {
      await filler.send({ topic: source, acks: -1, messages: Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ key: String(i + j), value: body })) });
    }
    await filler.disconnect();

    for (let round = 1; round <= ROUNDS; round++) {
      const rawIn = await rawConsume(kafka, source);
      const pipeIn = await pipeConsume(kafka, nc, env.broker, source, `${root}.pin${round}`, sbTopics);
      const bridgeIn = await bridgeInRun(env, brokers, source, `${root}.in${round}`, sbTopics);
      rows.push({ direction: 'Kafka→topic', round, raw: rawIn, pipe: pipeIn, bridge: bridgeIn });
      const target = uniq('sbb_out_');
      kafkaTopics.push(target);
      await admin.createTopics({ topics: [{ topic: target, numPartitions: PARTITIONS }], waitForLeaders: true });
      const rawOut = await rawProduce(kafka, target);
      const pipeOut = await pipeProduce(kafka, nc, env.broker, target, `${root}.pout${round}`, sbTopics);
      const bridgeOut = await bridgeOutRun(env, brokers, target, `${root}.out${round}`, sbTopics);
      rows.push({ direction: 'topic→Kafka', round, raw: rawOut, pipe: pipeOut, bridge: bridgeOut });
      console.log(`round ${round}: in raw ${rawIn.toFixed(0)} pipeline ${pipeIn.toFixed(0)} bridge ${bridgeIn.toFixed(0)}; out raw ${rawOut.toFixed(0)} pipeline ${pipeOut.toFixed(0)} bridge ${bridgeOut.toFixed(0)}`);
    }
  } finally {
    for (const t of sbTopics) await broker.topics.delete(t).catch(() => undefined);
    await admin.deleteTopics({ topics: kafkaTopics }).catch(() => undefined);
    await admin.disconnect();
    await broker.close();
    await nc.close();
    await stop?.();
  }
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number; };
  console.log(`\n${N} messages × ${BYTES} B, ${PARTITIONS} partitions, ${ROUNDS} interleaved rounds, medians (msgs/s):\n`);
  console.log('| direction | raw kafkajs | raw pipeline (kafkajs + nats.js) | bridge | bridge / raw kafkajs | bridge / raw pipeline |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const d of ['Kafka→topic', 'topic→Kafka']) {
    const r = rows.filter((x) => x.direction === d);
    const raw = median(r.map((x) => x.raw));
    const pipe = median(r.map((x) => x.pipe));
    const br = median(r.map((x) => x.bridge));
    console.log(`| ${d} | ${raw.toFixed(0)} | ${pipe.toFixed(0)} | ${br.toFixed(0)} | ${(br / raw).toFixed(2)}× | ${(br / pipe).toFixed(2)}× |`);
  }
  // What each way costs: if the raw client already keeps the two cores busy, the bridge (the same client
  // work plus a JetStream store or a delivery and an ack per message) cannot keep its rate.
  console.log('\nCPU per message, µs (medians over rounds; this process = the raw client, the pipeline or the bridge):\n');
  console.log('| measurement | this process | Kafka (JVM) | nats-server | total | cores used |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const what of [...new Set(cpuRows.map((r) => r.what))]) {
    const rs = cpuRows.filter((r) => r.what === what).map((r) => r.cpu);
    const m = (k: keyof CpuRow) => median(rs.map((r) => r[k]));
    console.log(`| ${what} | ${m('self').toFixed(1)} | ${m('kafka').toFixed(1)} | ${m('nats').toFixed(1)} | ${(m('self') + m('kafka') + m('nats')).toFixed(1)} | ${m('cores').toFixed(2)} |`);
  }
}

/** Raw baseline in: a kafkajs consumer, eachBatch, fresh group, auto commit. */
async function rawConsume(kafka: Kafka, topic: string): Promise<number> {
  const consumer = kafka.consumer({ groupId: uniq('raw'), sessionTimeout: 6000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  let first = 0;
  const cpu = cpuWindow('Kafka→topic raw kafkajs');
  await consumer.run({
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch }) => {
      if (seen === 0) {
        first = performance.now();
        cpu.start();
      }
      seen += batch.messages.length;
    },
  });
  const last = await waitFor(() => seen >= N, 120_000, 'raw consumer');
  cpu.end(last - first);
  await consumer.disconnect();
  return N / ((last - first) / 1000);
}

/** Bridge in: kafka-in into a fresh topic; from its first record to the N-th stored. */
async function bridgeInRun(env: BridgeEnv, brokers: string[], source: string, topic: string, made: string[]): Promise<number> {
  await env.broker.topics.create({ name: topic });
  made.push(topic);
  const def = { name: uniq('bin'), kind: 'kafka-in', enabled: true, brokers, topics: [source], groupId: uniq('br'), topic, sessionTimeoutMs: 6000 } as KafkaInStored;
  const b: Bridge = kafkaInKind.create(def, env);
  b.start();
  const first = await waitFor(() => b.status().counters.received > 0, 60_000, 'first record');
  const cpu = cpuWindow('Kafka→topic bridge');
  cpu.start();
  const last = await waitFor(() => b.status().counters.forwarded + b.status().counters.duplicates >= N, 300_000, 'bridge in');
  cpu.end(last - first);
  await b.stop();
  return N / ((last - first) / 1000);
}

/** Raw pipeline in: kafkajs eachBatch, every record of the batch to JetStream at once (js.publish with msgID), then the batch resolves. */
async function pipeConsume(kafka: Kafka, nc: NatsConnection, broker: Broker, source: string, topic: string, made: string[]): Promise<number> {
  await broker.topics.create({ name: topic });
  made.push(topic);
  const js = jetstream(nc);
  const subject = topicSubject(topic);
  const consumer = kafka.consumer({ groupId: uniq('pipe'), sessionTimeout: 6000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [source], fromBeginning: true });
  let stored = 0;
  let first = 0;
  const cpu = cpuWindow('Kafka→topic raw pipeline');
  await consumer.run({
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch }) => {
      if (first === 0) {
        first = performance.now();
        cpu.start();
      }
      await Promise.all(batch.messages.map((m) => js.publish(subject, m.value ?? new Uint8Array(0), { msgID: `${batch.topic}/${batch.partition}/${m.offset}` })));
      stored += batch.messages.length;
    },
  });
  const last = await waitFor(() => stored >= N, 300_000, 'raw pipeline in');
  cpu.end(last - first);
  await consumer.disconnect();
  return N / ((last - first) / 1000);
}

/** Raw pipeline out: a nats.js pull consumer fetching `INFLIGHT`, one kafkajs send per batch, then msg.ack() each. */
async function pipeProduce(kafka: Kafka, nc: NatsConnection, broker: Broker, target: string, topic: string, made: string[]): Promise<number> {
  await broker.topics.create({ name: topic });
  made.push(topic);
  const subject = topicSubject(topic);
  await prefillTopic(broker, topic);
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.find(subject);
  const name = uniq('pipe');
  await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: subject });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const c = await jetstream(nc).consumers.get(stream, name);
  let done = 0;
  const cpu = cpuWindow('topic→Kafka raw pipeline');
  cpu.start();
  const t0 = performance.now();
  while (done < N) {
    const batch = [];
    for await (const m of await c.fetch({ max_messages: INFLIGHT, expires: 2000 })) batch.push(m);
    if (batch.length === 0) continue;
    await producer.send({ topic: target, acks: -1, messages: batch.map((m) => ({ key: null, value: Buffer.from(m.data) })) });
    for (const m of batch) m.ack();
    done += batch.length;
  }
  await nc.flush();
  const t1 = performance.now();
  cpu.end(t1 - t0);
  await producer.disconnect();
  await jsm.consumers.delete(stream, name).catch(() => undefined);
  return N / ((t1 - t0) / 1000);
}

async function prefillTopic(broker: Broker, topic: string): Promise<void> {
  for (let i = 0; i < N; i += 1000) {
    const res = await broker.publishBatch(Array.from({ length: Math.min(1000, N - i) }, () => ({ topic, data: body, contentType: 'application/json' })));
    if (res.some((r) => r instanceof Error)) throw new Error('prefill publish failed');
  }
}

/** Raw baseline out: an idempotent kafkajs producer (acks -1), batches of INFLIGHT, one at a time. */
async function rawProduce(kafka: Kafka, topic: string): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const cpu = cpuWindow('topic→Kafka raw kafkajs');
  cpu.start();
  const t0 = performance.now();
  for (let i = 0; i < N; i += INFLIGHT) {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: Math.min(INFLIGHT, N - i) }, () => ({ key: null, value: body })) });
  }
  const t1 = performance.now();
  cpu.end(t1 - t0);
  await producer.disconnect();
  return N / ((t1 - t0) / 1000);
}

/** Bridge out: N messages waiting in a subscription, delivered by kafka-out; from its first pull to the N-th ack. */
async function bridgeOutRun(env: BridgeEnv, brokers: string[], target: string, topic: string, made: string[]): Promise<number> {
  const broker: Broker = env.broker;
  await broker.topics.create({ name: topic });
  made.push(topic);
  const sub = uniq('bout');
  await broker.subscriptions.create({ name: sub, topic });
  await prefillTopic(broker, topic);
  const def = { name: uniq('bout'), kind: 'kafka-out', enabled: true, brokers, subscription: sub, kafkaTopic: target, inflight: INFLIGHT, pullWaitMs: 1000 } as KafkaOutStored;
  const b: Bridge = kafkaOutKind.create(def, env);
  b.start();
  const first = await waitFor(() => b.status().counters.received > 0, 60_000, 'first pull');
  const cpu = cpuWindow('topic→Kafka bridge');
  cpu.start();
  const last = await waitFor(() => b.status().counters.forwarded >= N, 300_000, 'bridge out');
  cpu.end(last - first);
  await b.stop();
  await broker.subscriptions.delete(sub).catch(() => undefined);
  return N / ((last - first) / 1000);
}

await main();
