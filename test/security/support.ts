/**
 * Helpers for security tests against a real broker: a unique config bucket per test, a logger whose
 * output the test can search for leaked secrets, and awaiting a config change seen by a replica.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, type Broker, type ConfigChange, type Logger } from '../../broker/index.js';
import { resolveProcessConfig } from '../../schemas/index.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';

/** A fresh config bucket name. */
export function uniqueBucket(): string {
  return `sb_cfg_sec_${randomBytes(5).toString('hex')}`;
}

/** A logger that keeps every line it writes in `lines`. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

/** A broker on the shared NATS whose config store uses `bucket`. */
export async function startBroker(bucket: string, logger: Logger): Promise<Broker> {
  const config = resolveProcessConfig({ nats: { url: SHARED_NATS_URL, configBucket: bucket } });
  return createBroker({ config, logger, metrics: createMetrics({ defaultMetrics: false }) });
}

/** Resolves with the first change to `key` that `broker` sees and `pred` accepts. */
export function nextChange(broker: Broker, key: string, pred: (c: ConfigChange<unknown>) => boolean = () => true): Promise<ConfigChange<unknown>> {
  return new Promise((resolve) => {
    const stop = broker.config.watch<unknown>(key, (c) => {
      if (c.key !== key || !pred(c)) return;
      stop();
      resolve(c);
    });
  });
}

/** Removes the KV buckets the test created (their streams are `KV_<bucket>`). */
export async function dropBuckets(buckets: string[]): Promise<void> {
  if (buckets.length === 0) return;
  const nc = await connect({ servers: SHARED_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for (const b of buckets) await jsm.streams.delete(`KV_${b}`).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
