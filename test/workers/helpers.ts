/**
 * Helpers for the worker suites: a job-type prefix per suite, in-process workers with the fixture
 * handlers, spawned `switchboard worker` processes, the side-effect log, and cleanup of the suite's
 * consumers on the shared jobs stream.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger, jobConsumerName, type Broker } from '../../broker/index.js';
import { createWorker, resolveWorkerConfig, type Worker } from '../../workers/index.js';
import type { WorkerTypeConfig } from '../../schemas/job.js';
import { makeHandlers } from '../fixtures/handlers/test-handlers.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { CliProcess } from '../cli/process.js';
import { uniq } from '../broker/helpers.js';

/** Absolute path of the fixture plugin modules. */
export const FIXTURES = {
  testHandlers: fileURLToPath(new URL('../fixtures/handlers/test-handlers.ts', import.meta.url)),
  greet: fileURLToPath(new URL('../fixtures/handlers/greet.ts', import.meta.url)),
};

/** A quiet logger (SB_TEST_LOG=debug shows it). */
export function testLogger() {
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  return createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent', destination: process.env['SB_TEST_LOG'] ? process.stdout : quiet });
}

/** A unique job-type prefix; the fixture types are `<prefix>.noop|sleep|flaky|fatal`. */
export function jobPrefix(): string {
  return uniq('jt');
}

/** Starts an in-process worker with the fixture handlers of `prefix`. */
export async function startWorker(broker: Broker, prefix: string, types: Array<Partial<WorkerTypeConfig> & { type: string }>, extra: { drainMs?: number; heartbeatMs?: number; id?: string } = {}): Promise<Worker> {
  const config = resolveWorkerConfig({ types: types.map((t) => ({ ...t, type: `${prefix}.${t.type}` })), heartbeatMs: extra.heartbeatMs ?? 500, ...extra }, process.cwd());
  return createWorker({ broker, config, handlers: makeHandlers(prefix), logger: testLogger() });
}

/** A temp dir with a side-effect log file. */
export async function tempLog(): Promise<{ dir: string; log: string; lines: () => Promise<string[][]>; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-jobs-'));
  const log = join(dir, 'effects.log');
  await writeFile(log, '');
  return {
    dir,
    log,
    lines: async () => (await readFile(log, 'utf8')).split('\n').filter((l) => l.length > 0).map((l) => l.split(' ')),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Spawns `switchboard worker --config FILE` with the fixture handlers and waits until it runs. */
export async function spawnWorker(opts: {
  dir: string; bucket: string; prefix: string; types: Array<Record<string, unknown>>; handlers?: string[]; drainMs?: number; env?: Record<string, string>;
}): Promise<{ cli: CliProcess; id: string }> {
  const id = uniq('w');
  const file = join(opts.dir, `${id}.yaml`);
  const cfg = {
    id,
    types: opts.types.map((t) => ({ ...t, type: `${opts.prefix}.${String(t['type'])}` })),
    handlers: opts.handlers ?? [FIXTURES.testHandlers],
    drainMs: opts.drainMs ?? 5000,
    heartbeatMs: 500,
  };
  await writeFile(file, JSON.stringify(cfg));
  const cli = CliProcess.spawn(['worker', '--config', file], {
    SB_NATS_URL: SHARED_NATS_URL, SB_CONFIG_BUCKET: opts.bucket, SB_TEST_JOB_PREFIX: opts.prefix, SB_LOG_LEVEL: 'info', ...opts.env,
  });
  try {
    await cli.waitFor(/"msg":"worker [^ ]+ running"/, 30_000);
  } catch (e) {
    await cli.kill('SIGKILL');
    throw e;
  }
  return { cli, id };
}

/** Collects messages on a core subject (result events, dead letters) for assertions. */
export async function tap(subject: string): Promise<{ nc: NatsConnection; sub: Subscription; got: Array<{ headers: Record<string, string>; data: string }>; close: () => Promise<void> }> {
  const nc = await connect({ servers: SHARED_NATS_URL });
  const got: Array<{ headers: Record<string, string>; data: string }> = [];
  const sub = nc.subscribe(subject, {
    callback: (_e, m) => {
      const headers: Record<string, string> = {};
      if (m.headers) for (const [k, vs] of m.headers) headers[k] = vs[0] ?? '';
      got.push({ headers, data: m.string() });
    },
  });
  await nc.flush();
  return { nc, sub, got, close: () => nc.close() };
}

/** Deletes the consumers of the suite's job types, and any job of theirs left, from the shared jobs stream. */
export async function dropJobTypes(prefix: string, names: string[], stream = 'SB_JOBS'): Promise<void> {
  const nc = await connect({ servers: SHARED_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for (const n of names) await jsm.consumers.delete(stream, jobConsumerName(`${prefix}.${n}`)).catch(() => undefined);
    await jsm.streams.purge(stream, { filter: `sb.job.${prefix}.>` }).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

/** The fixture type names. */
export const FIXTURE_TYPES = ['noop', 'sleep', 'flaky', 'fatal', 'greet', 'rows'];
