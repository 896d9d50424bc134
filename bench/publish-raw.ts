/**
 * Publish throughput on 1 KiB messages: nats.js `js.publish()` (default options, and with
 * `noAsyncTraces`) against the broker's publisher (one reply subscription, PubAcks matched by token).
 * Usage: tsx bench/publish-raw.ts [count=20000] [concurrency=1000] [rounds=3]. The variants run
 * interleaved, `rounds` times, on a purged stream each time; it prints the median msgs/s and the ratio
 * (the machine is shared, so a single run is noise).
 */
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, topicStreamName } from '../broker/index.js';
import { resolveProcessConfig } from '../schemas/config.js';

const url = process.env['SB_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const count = Number(process.argv[2] ?? 20_000);
const window = Number(process.argv[3] ?? 1000);
const rounds = Number(process.argv[4] ?? 3);
const payload = new Uint8Array(1024).fill(120);
const suffix = Math.random().toString(16).slice(2, 10);

/** Runs `send` `count` times with at most `window` in flight; returns msgs/s. */
async function run(send: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: window }, worker));
  return count / ((performance.now() - t0) / 1000);
}

async function jsPublish(noAsyncTraces: boolean, topic: string): Promise<number> {
  const nc = await connect({ servers: url, noAsyncTraces });
  const js = jetstream(nc);
  try {
    return await run(() => js.publish(`sb.topic.${topic}`, payload));
  } finally {
    await nc.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const config = resolveProcessConfig({ nats: { url, configBucket: `bench_cfg_${suffix}` } });
  const broker = await createBroker({ config, logger, metrics: createMetrics({ defaultMetrics: false }) });
  const topic = `bench.${suffix}`;
  await broker.topics.create({ name: topic, storage: 'file' });
  const variants: Array<[string, () => Promise<number>]> = [
    ['js.publish (default)', () => jsPublish(false, topic)],
    ['js.publish (noAsyncTraces)', () => jsPublish(true, topic)],
    ['broker.publish', () => run(() => broker.publish({ topic, data: payload }))],
  ];
  const rates = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  const admin = await connect({ servers: url });
  const jsm = await jetstreamManager(admin);
  try {
    for (let r = 0; r < rounds; r++) {
      for (const [name, fn] of variants) {
        await jsm.streams.purge(topicStreamName(topic));
        rates.get(name)?.push(await fn());
      }
    }
  } finally {
    await admin.close();
    await broker.topics.delete(topic).catch(() => undefined);
    await broker.close();
    const nc = await connect({ servers: url });
    await (await jetstreamManager(nc)).streams.delete(`KV_bench_cfg_${suffix}`).catch(() => undefined);
    await nc.close();
  }
  const base = median(rates.get('js.publish (default)') ?? [1]);
  console.log(`${count} × 1 KiB, ${window} in flight, median of ${rounds} interleaved rounds`);
  for (const [name, xs] of rates) {
    const m = median(xs);
    console.log(`${name.padEnd(28)} ${Math.round(m).toString().padStart(8)} msgs/s  ${(m / base).toFixed(2)}×   runs: ${xs.map(Math.round).join(', ')}`);
  }
}

await main();
