/**
 * Ack cost: pull-and-ack a backlog with plain `+ACK` publishes (what the broker does) against
 * double acks (`nc.request(ackSubject, '+ACK')`, which waits for the server's confirmation).
 * Usage: tsx bench/ack-settle.ts [count=10000] [batch=256]. Prints msgs/s for each.
 */
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, type Broker } from '../broker/index.js';
import { resolveProcessConfig } from '../schemas/config.js';

const url = process.env['SB_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const count = Number(process.argv[2] ?? 10_000);
const batch = Number(process.argv[3] ?? 256);
const suffix = Math.random().toString(16).slice(2, 10);
const payload = new Uint8Array(1024).fill(120);

async function fill(broker: Broker, topic: string): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    await broker.publishBatch(Array.from({ length: Math.min(1000, count - i) }, () => ({ topic, data: payload })));
  }
}

/** Drains the subscription; `settle` acks one pulled batch. Returns msgs/s. */
async function drain(broker: Broker, name: string, settle: (tokens: string[]) => Promise<unknown>): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  while (done < count) {
    const ms = await broker.subscriptions.pull(name, { max: batch, waitMs: 1000 });
    if (ms.length === 0) break;
    await settle(ms.map((m) => m.ackToken));
    done += ms.length;
  }
  return done / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const bucket = `bench_cfg_${suffix}`;
  const broker = await createBroker({ config: resolveProcessConfig({ nats: { url, configBucket: bucket } }), logger, metrics: createMetrics({ defaultMetrics: false }) });
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const topic = `bench.ack.${suffix}`;
  try {
    await broker.topics.create({ name: topic });
    // Interleaved rounds, one fresh subscription each: the machine is shared and a single run is noise.
    const kinds = ['plain', 'double', 'plain', 'double', 'plain', 'double'];
    for (const [i, k] of kinds.entries()) await broker.subscriptions.create({ name: `${k}-${i}-${suffix}`, topic, deliver: 'all' });
    await fill(broker, topic);
    const rates: Record<string, number[]> = { plain: [], double: [] };
    for (const [i, k] of kinds.entries()) {
      const name = `${k}-${i}-${suffix}`;
      const settle = k === 'plain'
        ? (t: string[]) => broker.subscriptions.ack(name, t)
        : (tokens: string[]) => Promise.all(tokens.map((t) => nc.request(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString(), '+ACK', { timeout: 5000 })));
      rates[k]?.push(await drain(broker, name, settle));
    }
    const med = (xs: number[] = []) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
    const plain = med(rates['plain']);
    const double = med(rates['double']);
    console.log(`${count} × 1 KiB, pull batches of ${batch}, median of 3 interleaved rounds`);
    console.log(`pull + plain +ACK publish   ${Math.round(plain)} msgs/s   runs: ${rates['plain']?.map(Math.round).join(', ')}`);
    console.log(`pull + double ack request   ${Math.round(double)} msgs/s   runs: ${rates['double']?.map(Math.round).join(', ')}  (${(double / plain).toFixed(2)}× of plain)`);
  } finally {
    await broker.topics.delete(topic).catch(() => undefined);
    await broker.close();
    await (await jetstreamManager(nc)).streams.delete(`KV_${bucket}`).catch(() => undefined);
    await nc.close();
  }
}

await main();
