/**
 * Bridges against raw clients, in the same run (docs/benchmarks.md, "Bridges"):
 *   AMQP → topic: the amqp-in bridge draining a queue into a topic vs a raw amqplib consume + ack of
 *                 the same backlog (prefetch 256 both);
 *   topic → AMQP: the amqp-out bridge delivering a subscription backlog with confirms vs a raw amqplib
 *                 confirm-channel publisher (256 unconfirmed both).
 * Interleaved rounds (raw, bridge, raw, …), median each, ratio = bridge / raw (acceptance ≥ 0.6).
 * Usage: tsx bench/bridges.ts [sections=amqp] [count=20000] [rounds=3]. One function per direction
 * and protocol; a Kafka section adds its two functions to SECTIONS.
 */
import { Writable } from 'node:stream';
import { connect as amqpConnect, type ChannelModel } from 'amqplib';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, type Broker, type Logger, type Metrics } from '../broker/index.js';
import { resolveProcessConfig } from '../schemas/config.js';
import { amqpInKind, amqpOutKind, type AmqpInStored, type AmqpOutStored } from '../gateways/amqp/index.js';
import type { Bridge } from '../gateways/bridges/types.js';

const natsUrl = process.env['SB_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const amqpUrl = process.env['SB_AMQP_URL'] ?? 'amqp://127.0.0.1:5672';
const sections = (process.argv[2] ?? 'amqp').split(',');
const count = Number(process.argv[3] ?? 20_000);
const rounds = Number(process.argv[4] ?? 3);
const suffix = Math.random().toString(16).slice(2, 10);
const payload = Buffer.alloc(1024, 120);
const WINDOW = 256;

/** What every section gets. */
interface Ctx { broker: Broker; logger: Logger; metrics: Metrics; amqp: ChannelModel }
/** One measured direction: `raw` and `bridge` each return msgs/s for one round. */
interface Direction { title: string; setup?(): Promise<void>; raw(round: number): Promise<number>; bridge(round: number): Promise<number>; teardown(): Promise<void> }

const rate = (n: number, t0: number) => n / ((performance.now() - t0) / 1000);

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}

/** Publishes `count` persistent 1 KiB messages into `queue` with confirms. */
async function fillQueue(amqp: ChannelModel, queue: string): Promise<void> {
  const ch = await amqp.createConfirmChannel();
  for (let i = 0; i < count; i++) {
    if (!ch.sendToQueue(queue, payload, { persistent: true, messageId: `${queue}-${i}`, contentType: 'application/octet-stream' })) await new Promise((r) => ch.once('drain', r));
    if (i % 2000 === 1999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  await ch.close();
}

function bridgeEnv(ctx: Ctx) {
  return { broker: ctx.broker, logger: ctx.logger, metrics: ctx.metrics, secrets: {} };
}

/** AMQP → topic: amqp-in vs raw consume + ack. */
function amqpToTopic(ctx: Ctx): Direction {
  const queues: string[] = [];
  const topics: string[] = [];
  return {
    title: `AMQP → topic (${count} × 1 KiB, prefetch ${WINDOW})`,
    async raw(round) {
      const queue = `bench-raw-in-${suffix}-${round}`;
      queues.push(queue);
      const ch = await ctx.amqp.createChannel();
      await ch.assertQueue(queue, { durable: true });
      await fillQueue(ctx.amqp, queue);
      await ch.prefetch(WINDOW);
      let n = 0;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        void ch.consume(queue, (m) => {
          if (!m) return;
          ch.ack(m);
          if (++n === count) resolve();
        });
      });
      const r = rate(count, t0);
      await ch.close();
      return r;
    },
    async bridge(round) {
      const queue = `bench-br-in-${suffix}-${round}`;
      const topic = `bench.bridge.in.${suffix}.${round}`;
      queues.push(queue);
      topics.push(topic);
      const ch = await ctx.amqp.createChannel();
      await ch.assertQueue(queue, { durable: true });
      await ch.close();
      await ctx.broker.topics.create({ name: topic });
      await fillQueue(ctx.amqp, queue);
      const def = { kind: 'amqp-in', name: `bench_in_${round}`, enabled: true, url: amqpUrl, queue, topic, prefetch: WINDOW } as AmqpInStored;
      const b: Bridge = amqpInKind.create(def, bridgeEnv(ctx));
      const t0 = performance.now();
      b.start();
      await waitFor(() => b.status().counters.forwarded + b.status().counters.duplicates >= count);
      const r = rate(count, t0);
      await b.stop({ deadlineMs: 5000 });
      return r;
    },
    async teardown() {
      const ch = await ctx.amqp.createChannel();
      for (const q of queues) await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
      for (const t of topics) await ctx.broker.topics.delete(t).catch(() => undefined);
    },
  };
}

/** topic → AMQP: amqp-out vs a raw confirm-channel publisher with the same window. */
function topicToAmqp(ctx: Ctx): Direction {
  const exchange = `bench-out-${suffix}`;
  const queue = `bench-out-${suffix}`;
  const topics: string[] = [];
  const subs: string[] = [];
  const purge = async () => {
    const ch = await ctx.amqp.createChannel();
    await ch.purgeQueue(queue);
    await ch.close();
  };
  return {
    title: `topic → AMQP (${count} × 1 KiB, ${WINDOW} unconfirmed)`,
    async setup() {
      const ch = await ctx.amqp.createChannel();
      await ch.assertExchange(exchange, 'fanout', { durable: true });
      await ch.assertQueue(queue, { durable: true });
      await ch.bindQueue(queue, exchange, '');
      await ch.close();
    },
    async raw() {
      const ch = await ctx.amqp.createConfirmChannel();
      let unconfirmed = 0;
      let confirmed = 0;
      let wake: (() => void) | undefined;
      const t0 = performance.now();
      for (let i = 0; i < count; i++) {
        while (unconfirmed >= WINDOW) await new Promise<void>((r) => { wake = r; });
        unconfirmed++;
        const ok = ch.publish(exchange, '', payload, { persistent: true, messageId: String(i), contentType: 'application/octet-stream' }, () => { unconfirmed--; confirmed++; wake?.(); });
        if (!ok) await new Promise((r) => ch.once('drain', r));
      }
      await waitFor(() => confirmed === count);
      const r = rate(count, t0);
      await ch.close();
      await purge();
      return r;
    },
    async bridge(round) {
      const topic = `bench.bridge.out.${suffix}.${round}`;
      const sub = `bench_out_${suffix}_${round}`;
      topics.push(topic);
      subs.push(sub);
      await ctx.broker.topics.create({ name: topic });
      await ctx.broker.subscriptions.create({ name: sub, topic, deliver: 'all' });
      for (let i = 0; i < count; i += 1000) {
        await ctx.broker.publishBatch(Array.from({ length: Math.min(1000, count - i) }, () => ({ topic, data: payload, contentType: 'application/octet-stream' })));
      }
      const def = { kind: 'amqp-out', name: `bench_out_${round}`, enabled: true, url: amqpUrl, subscription: sub, exchange, inflight: WINDOW } as AmqpOutStored;
      const b: Bridge = amqpOutKind.create(def, bridgeEnv(ctx));
      const t0 = performance.now();
      b.start();
      await waitFor(() => b.status().counters.forwarded >= count);
      const r = rate(count, t0);
      await b.stop({ deadlineMs: 5000 });
      await purge();
      return r;
    },
    async teardown() {
      for (const s of subs) await ctx.broker.subscriptions.delete(s).catch(() => undefined);
      for (const t of topics) await ctx.broker.topics.delete(t).catch(() => undefined);
      const ch = await ctx.amqp.createChannel();
      await ch.deleteQueue(queue).catch(() => undefined);
      await ch.deleteExchange(exchange).catch(() => undefined);
      await ch.close().catch(() => undefined);
    },
  };
}

/** Section name → its directions. The Kafka part adds `kafka: (ctx) => [kafkaToTopic(ctx), topicToKafka(ctx)]`. */
const SECTIONS: Record<string, (ctx: Ctx) => Direction[]> = {
  amqp: (ctx) => [amqpToTopic(ctx), topicToAmqp(ctx)],
  'amqp-in': (ctx) => [amqpToTopic(ctx)],
  'amqp-out': (ctx) => [topicToAmqp(ctx)],
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const metrics = createMetrics({ defaultMetrics: false });
  const bucket = `bench_cfg_${suffix}`;
  const broker = await createBroker({ config: resolveProcessConfig({ nats: { url: natsUrl, configBucket: bucket } }), logger, metrics });
  const amqp = await amqpConnect(amqpUrl);
  const ctx: Ctx = { broker, logger, metrics, amqp };
  try {
    for (const section of sections) {
      const make = SECTIONS[section];
      if (!make) throw new Error(`unknown section ${section}; known: ${Object.keys(SECTIONS).join(', ')}`);
      for (const d of make(ctx)) {
        try {
          await d.setup?.();
          const raw: number[] = [];
          const bridge: number[] = [];
          for (let r = 0; r < rounds; r++) {
            raw.push(await d.raw(r));
            bridge.push(await d.bridge(r));
          }
          const ratio = median(bridge) / median(raw);
          console.log(d.title);
          console.log(`  raw      ${Math.round(median(raw))} msgs/s   runs: ${raw.map(Math.round).join(', ')}`);
          console.log(`  bridge   ${Math.round(median(bridge))} msgs/s   runs: ${bridge.map(Math.round).join(', ')}   ratio ${ratio.toFixed(2)}× ${ratio >= 0.6 ? '(≥ 0.6 ok)' : '(< 0.6!)'}`);
        } finally {
          await d.teardown();
        }
      }
    }
  } finally {
    await amqp.close().catch(() => undefined);
    await broker.close();
    const nc = await natsConnect({ servers: natsUrl });
    await (await jetstreamManager(nc)).streams.delete(`KV_${bucket}`).catch(() => undefined);
    await nc.close();
  }
}

await main();
