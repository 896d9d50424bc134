/**
 * Test helpers for the broker suites: brokers on the shared NATS with a private config bucket and a
 * unique topic root per suite, a bounded poll for conditions that have no event, and cleanup.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, type Broker, type Metrics } from '../../broker/index.js';
import { resolveProcessConfig } from '../../schemas/config.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';

/** A short random token, safe in topic, subscription and bucket names. */
export function uniq(prefix = 'x'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/** A broker plus the metrics registry it counts into. */
export interface TestBroker {
  broker: Broker;
  metrics: Metrics;
}

/** Starts a broker with its own metrics, a quiet logger, and the given config bucket. */
export async function startBroker(opts: { url?: string; bucket: string; publishTimeoutMs?: number }): Promise<TestBroker> {
  const metrics = createMetrics({ defaultMetrics: false });
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const logger = createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent', destination: process.env['SB_TEST_LOG'] ? process.stdout : quiet });
  const config = resolveProcessConfig({
    nats: { url: opts.url ?? SHARED_NATS_URL, configBucket: opts.bucket, publishTimeoutMs: opts.publishTimeoutMs ?? 3000, name: 'sb-test' },
  });
  return { broker: await createBroker({ config, logger, metrics }), metrics };
}

/** A suite's share of the shared NATS: a unique topic root, a private config bucket, a broker on it. */
export interface SharedBrokerSuite {
  readonly root: string;
  readonly bucket: string;
  /** The broker, available from the suite's `before` hook on. */
  readonly tb: TestBroker;
}

/** Registers before/after hooks that start a broker on a private bucket and remove the suite's topics and bucket afterwards. */
export function sharedBrokerSuite(prefix: string): SharedBrokerSuite {
  const root = uniq(prefix);
  const bucket = uniq('sbtest_cfg_');
  let tb: TestBroker | undefined;
  before(async () => {
    tb = await startBroker({ bucket });
  });
  after(async () => {
    await tb?.broker.close();
    await cleanup({ root, bucket });
  });
  return {
    root,
    bucket,
    get tb(): TestBroker {
      if (!tb) throw new Error('the suite broker is started in before(); use it inside hooks and tests');
      return tb;
    },
  };
}

export { until } from '../support/poll.js';

/** Deletes every topic stream under `root.` and the config bucket's stream. */
export async function cleanup(opts: { url?: string; root?: string; bucket?: string }): Promise<void> {
  const nc = await connect({ servers: opts.url ?? SHARED_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    if (opts.root) for await (const name of jsm.streams.names(`sb.topic.${opts.root}.>`)) doomed.push(name);
    if (opts.bucket) doomed.push(`KV_${opts.bucket}`);
    for (const s of doomed) await jsm.streams.delete(s).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

/** A counter's value for the given labels (0 when never incremented). */
export async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}
