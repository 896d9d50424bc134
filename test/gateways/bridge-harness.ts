/**
 * Test support for bridges: a broker + bridge runner on a private config bucket, a raw amqplib side
 * (publish into queues with confirms, read queues), RabbitMQ stop/start through rabbitmqctl, and
 * direct reads of what a topic stream holds.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect as amqpConnect, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, topicSubject, type Broker, type Metrics } from '../../broker/index.js';
import { resolveProcessConfig } from '../../schemas/config.js';
import { BridgeRunner, type RunnerOptions } from '../../gateways/bridges/runner.js';
import { bridgeKey, type StoredBridge } from '../../gateways/bridges/definitions.js';
import type { BridgeStatus } from '../../schemas/bridge.js';
import { createSecurity } from '../../security/index.js';
import { until } from '../support/poll.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';

/** RabbitMQ of the test machine. */
export const AMQP_URL = process.env['SB_TEST_AMQP_URL'] ?? 'amqp://127.0.0.1:5672';
const run = promisify(execFile);

/** A broker and a runner on one config bucket. */
export interface BridgeStack {
  broker: Broker;
  runner: BridgeRunner;
  metrics: Metrics;
  bucket: string;
  /** Writes a definition straight into the config store (what the admin API stores, no secrets). */
  put(name: string, def: Record<string, unknown>): Promise<void>;
  /** Status of `name` on this runner. */
  status(name: string): BridgeStatus | undefined;
  dispose(): Promise<void>;
}

/** Starts a broker and a bridge runner on `bucket` (shared NATS unless `natsUrl`). */
export async function startBridgeStack(bucket: string, opts: { natsUrl?: string; runner?: RunnerOptions | false } = {}): Promise<BridgeStack> {
  const config = resolveProcessConfig({ nats: { url: opts.natsUrl ?? SHARED_NATS_URL, configBucket: bucket, publishTimeoutMs: 5000 }, auth: { enabled: false } });
  const logger = createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent' });
  const metrics = createMetrics({ defaultMetrics: false });
  const broker = await createBroker({ config, logger, metrics });
  const { security } = await createSecurity({ config: broker.config, logger, enabled: false });
  const runner = new BridgeRunner({ broker, security, logger, metrics, config }, opts.runner || {});
  // `runner: false`: a broker only, for tests whose bridges run in another process.
  if (opts.runner !== false) await runner.start();
  return {
    broker, runner, metrics, bucket,
    async put(name, def) {
      await broker.config.put(bridgeKey(name), { enabled: true, ...def, name } as StoredBridge);
    },
    status: (name) => runner.statuses().find((s) => s.name === name),
    async dispose() {
      await runner.stop({ deadlineMs: 3000 });
      await broker.close({ deadlineMs: 2000 });
    },
  };
}

/** A raw amqplib connection for test set-up and checks. */
export class AmqpSide {
  private constructor(readonly conn: ChannelModel, readonly ch: ConfirmChannel) {}

  static async open(): Promise<AmqpSide> {
    const conn = await amqpConnect(AMQP_URL);
    conn.on('error', () => undefined);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    return new AmqpSide(conn, ch);
  }

  /** Publishes `n` messages to `queue` (persistent, confirmed); `make(i)` gives body and properties. */
  async fill(queue: string, n: number, make: (i: number) => { body: Buffer; props?: Options.Publish }): Promise<void> {
    for (let i = 0; i < n; i++) {
      const m = make(i);
      if (!this.ch.sendToQueue(queue, m.body, { persistent: true, ...m.props })) await new Promise((r) => this.ch.once('drain', r));
      if (i % 1000 === 999) await this.ch.waitForConfirms();
    }
    await this.ch.waitForConfirms();
  }

  /** Messages ready in `queue` (not counting unacked ones). */
  async ready(queue: string): Promise<number> {
    return (await this.ch.checkQueue(queue)).messageCount;
  }

  /** Consumes `queue` until `n` messages arrived (acking each); returns them. */
  async take(queue: string, n: number, timeoutMs = 30_000): Promise<Array<{ body: string; props: Record<string, unknown>; routingKey: string }>> {
    const ch = await this.conn.createChannel();
    const out: Array<{ body: string; props: Record<string, unknown>; routingKey: string }> = [];
    try {
      await ch.prefetch(500);
      let done!: () => void;
      const all = new Promise<void>((r) => { done = r; });
      const { consumerTag } = await ch.consume(queue, (m) => {
        if (!m) return;
        out.push({ body: m.content.toString('utf8'), props: m.properties as unknown as Record<string, unknown>, routingKey: m.fields.routingKey });
        ch.ack(m);
        if (out.length >= n) done();
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
      clearTimeout(timer);
      await ch.cancel(consumerTag);
    } finally {
      await ch.close().catch(() => undefined);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}

/** `rabbitmqctl stop_app`: the AMQP side of RabbitMQ goes away (connections closed, nothing accepted). */
export async function rabbitStop(): Promise<void> {
  await run('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
}

/** `rabbitmqctl start_app`, then waits until AMQP connections succeed again. */
export async function rabbitStart(): Promise<void> {
  await run('rabbitmqctl', ['start_app'], { timeout: 60_000 });
  await until(async () => {
    try {
      const c = await amqpConnect(AMQP_URL);
      await c.close();
      return true;
    } catch {
      return false;
    }
  }, 30_000, 'RabbitMQ accepting connections');
}

/** Every message body a topic's stream holds, in stream order (read directly from JetStream). */
export async function topicBodies(natsUrl: string, topic: string): Promise<Array<{ body: string; headers: Record<string, string> }>> {
  const nc = await natsConnect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jsm.jetstream();
    const stream = await jsm.streams.find(topicSubject(topic));
    const info = await jsm.streams.info(stream);
    const out: Array<{ body: string; headers: Record<string, string> }> = [];
    if (info.state.messages === 0) return out;
    const c = await js.consumers.get(stream); // ordered consumer from the start
    const it = await c.fetch({ max_messages: info.state.messages, expires: 10_000 });
    for await (const m of it) {
      const headers: Record<string, string> = {};
      for (const [k, vs] of m.headers ?? []) if (vs[0] !== undefined) headers[k] = vs[0];
      out.push({ body: m.string(), headers });
      if (out.length >= info.state.messages) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** Deletes a config bucket (its KV stream). */
export async function dropBucketOn(natsUrl: string, bucket: string): Promise<void> {
  const nc = await natsConnect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
