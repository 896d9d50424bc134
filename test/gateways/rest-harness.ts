/**
 * Test support for the REST gateway: a real stack (broker on the shared NATS, security, gateway
 * listening on a free port) per call, plus the conformance harness and small HTTP helpers.
 */
import { randomBytes } from 'node:crypto';
import { until } from '../support/poll.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createBroker } from '../../broker/index.js';
import { createLogger } from '../../broker/log.js';
import { createMetrics, type Metrics } from '../../broker/metrics.js';
import type { Broker } from '../../broker/types.js';
import { createRestGateway, type RestGateway } from '../../gateways/index.js';
import { resolveProcessConfig, type ProcessConfig } from '../../schemas/config.js';
import { createSecurity } from '../../security/index.js';
import type { Security } from '../../security/types.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import type { ConformanceHarness, GatewayInstance, PublishOutcome } from './conformance.js';

/** Password of the bootstrap `admin` user in every test stack. */
export const ADMIN_PASSWORD = 'admin-test-password';

/** A running broker + security + REST gateway. */
export interface RestStack {
  broker: Broker;
  security: Security;
  gateway: RestGateway;
  metrics: Metrics;
  config: ProcessConfig;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Authorization header of the admin user. */
  admin: string;
  dispose(): Promise<void>;
}

/** Options of {@link startRestStack}. */
export interface StackOptions {
  bucket: string;
  auth?: boolean;
  /** Default: the shared NATS. */
  natsUrl?: string;
  http?: Partial<ProcessConfig['http']>;
}

/** A short random suffix for unique names. */
export const rand = (): string => randomBytes(4).toString('hex');

/** Polls `fn` until it returns true; only for states no event announces (a watch reaching another replica, readiness). */
export async function waitUntil(fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await until(fn, timeoutMs);
}

/** A unique config bucket name for one test file. */
export const testBucket = (file: string): string => `sb_test_${file}_${rand()}`;

/** `Basic base64(user:pass)`. */
export function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/** Starts a full REST stack on the shared NATS with its own config bucket. */
export async function startRestStack(opts: StackOptions): Promise<RestStack> {
  const auth = opts.auth ?? true;
  const config = resolveProcessConfig({
    nats: { url: opts.natsUrl ?? SHARED_NATS_URL, configBucket: opts.bucket, publishTimeoutMs: 5000 },
    http: { host: '127.0.0.1', port: 0, ...opts.http },
    auth: { enabled: auth, adminPassword: ADMIN_PASSWORD },
  });
  const logger = createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent' });
  const metrics = createMetrics({ defaultMetrics: false });
  const broker = await createBroker({ config, logger, metrics });
  try {
    const { security } = await createSecurity({ config: broker.config, logger, enabled: auth, adminPassword: ADMIN_PASSWORD });
    const gateway = createRestGateway({ broker, security, logger, metrics, config });
    await gateway.start();
    const { port } = gateway.address();
    const admin = basic('admin', ADMIN_PASSWORD);
    // One request warms the password cache: a burst of cold requests would measure scrypt, not the gateway.
    if (auth) await fetch(`http://127.0.0.1:${port}/v1/topics`, { headers: { authorization: admin } }).then((r) => r.arrayBuffer());
    return {
      broker, security, gateway, metrics, config, base: `http://127.0.0.1:${port}`, admin,
      async dispose() {
        await gateway.stop({ deadlineMs: 2000 });
        await broker.close({ deadlineMs: 2000 });
      },
    };
  } catch (e) {
    await broker.close({ deadlineMs: 1000 });
    throw e;
  }
}

/** Deletes a test file's config bucket (its KV stream) from the shared NATS. */
export async function dropBucket(bucket: string): Promise<void> {
  const nc = await connect({ servers: SHARED_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

/** A JSON request with the admin's (or given) credentials; returns status, parsed body and headers. */
export async function http(
  stack: RestStack, method: string, path: string, body?: unknown, auth: string | null = stack.admin,
): Promise<{ status: number; body: any; headers: Headers }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const headers: Record<string, string> = {};
  if (auth !== null) headers['authorization'] = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.base}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function outcome(res: Response): Promise<PublishOutcome> {
  const body = await res.json() as { id: string; seq: number; duplicate: boolean; error?: { code: string } };
  if (res.status === 201) return { ok: true, id: body.id, seq: body.seq, duplicate: body.duplicate };
  return { ok: false, code: body.error?.code ?? `HTTP_${res.status}` };
}

/** The conformance harness for REST: each start() is a full stack on `bucket`, spoken to over real HTTP. */
export function restConformanceHarness(bucket: string): ConformanceHarness {
  return {
    async start(): Promise<GatewayInstance> {
      const s = await startRestStack({ bucket, http: { bodyLimitBytes: 64 * 1024 } });
      const url = (topic: string, tail: string) => `${s.base}/v1/topics/${encodeURIComponent(topic)}/${tail}`;
      return {
        broker: s.broker,
        maxPayloadBytes: s.config.http.bodyLimitBytes,
        async publish(topic, data, opts = {}) {
          const headers: Record<string, string> = { authorization: s.admin };
          if (opts.contentType) headers['content-type'] = opts.contentType;
          if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
          try {
            return await outcome(await fetch(url(topic, 'messages'), { method: 'POST', headers, body: data as Uint8Array<ArrayBuffer> }));
          } catch {
            return { ok: false, code: 'connection_error' };
          }
        },
        async publishBatch(topic, items) {
          const messages = items.map((m) => ({
            data: Buffer.from(m.data).toString('base64'), encoding: 'base64',
            ...(m.contentType ? { contentType: m.contentType } : {}), ...(m.idempotencyKey ? { idempotencyKey: m.idempotencyKey } : {}),
          }));
          const res = await fetch(url(topic, 'batch'), {
            method: 'POST', headers: { authorization: s.admin, 'content-type': 'application/json' }, body: JSON.stringify({ messages }),
          });
          if (res.status !== 200) return [await outcome(res)];
          const { results } = await res.json() as { results: Array<{ status: number; id: string; seq: number; duplicate: boolean; error?: { code: string } }> };
          return results.map((r) => (r.status === 201 ? { ok: true, id: r.id, seq: r.seq, duplicate: r.duplicate } : { ok: false, code: r.error?.code ?? '' }));
        },
        stop: (deadlineMs) => s.gateway.stop({ deadlineMs }),
        dispose: () => s.dispose(),
      };
    },
  };
}
