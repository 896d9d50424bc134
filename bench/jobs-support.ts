/**
 * Plumbing of bench/jobs.ts: worker child processes (the real `switchboard worker`), the raw NATS
 * request/reply load, prefilling jobs, counting result events, and the BullMQ baseline.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { Queue } from 'bullmq';
import type { Broker } from '../broker/types.js';
import { CliProcess } from '../test/cli/process.js';
import type { LoadFigures } from './load.js';

const HANDLERS = fileURLToPath(new URL('./jobs-handlers.ts', import.meta.url));
const enc = new TextEncoder();

/** Starts `count` `switchboard worker` processes running `types` (`type:concurrency,…`); resolves once each logged "running". */
export async function startWorkers(natsUrl: string, types: string, count: number): Promise<CliProcess[]> {
  const procs = Array.from({ length: count }, () => CliProcess.spawn(['worker'], {
    SB_NATS_URL: natsUrl, SB_WORKER_TYPES: types, SB_WORKER_HANDLERS: HANDLERS, SB_LOG_LEVEL: 'info',
  }));
  try {
    await Promise.all(procs.map((p) => p.waitFor(/worker \S+ running/, 60_000)));
  } catch (e) {
    await stopAll(procs);
    throw e;
  }
  return procs;
}

/** SIGTERM (drain) to every process, awaited. */
export async function stopAll(procs: CliProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => p.kill('SIGTERM')));
}

/** Starts a child script of bench/ under tsx with `env`, resolved once it printed `ready`. */
export async function startChild(script: string, env: Record<string, string>): Promise<CliProcess> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL(script, import.meta.url))], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new CliProcess(child);
  await proc.waitFor(/^ready$/m, 60_000);
  return proc;
}

/** p-th percentile (0–100) of an ascending array. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** `inFlight` loops of core `nc.request` on `subject` for `seconds`: req/s and latency percentiles (ms). */
export async function rawRequestLoad(nc: NatsConnection, subject: string, inFlight: number, seconds: number, name: string): Promise<LoadFigures> {
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  const payload = enc.encode('{}');
  const start = performance.now();
  const end = start + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t = performance.now();
      try {
        await nc.request(subject, payload, { timeout: 5000 });
        if (n === lat.length) {
          const grown = new Float64Array(lat.length * 2);
          grown.set(lat);
          lat = grown;
        }
        lat[n++] = performance.now() - t;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const secs = (performance.now() - start) / 1000;
  const sorted = lat.subarray(0, n).sort();
  return { name, reqPerSec: n / secs, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), total: n, non2xx: 0, errors };
}

/** Submits `count` async jobs of `type` through the broker with at most `window` submits outstanding. */
export async function submitMany(broker: Broker, type: string, count: number, window = 512): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      await broker.jobs.submit({ type, input: {}, principal: 'bench' });
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

/** Counts final job records (a core subscription on `sb.jobres.*`) until `count` arrived. */
export function countResults(nc: NatsConnection, subject: string, count: number, timeoutMs = 300_000): Promise<{ jobs: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    let first = 0;
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`only ${seen}/${count} results within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = nc.subscribe(subject, {
      callback: () => {
        if (seen++ === 0) first = performance.now();
        if (seen === count) {
          clearTimeout(timer);
          sub.unsubscribe();
          // Timed first→last, as the BullMQ child does: worker start-up is outside both windows.
          resolve({ jobs: count - 1, seconds: (performance.now() - first) / 1000 });
        }
      },
    });
  });
}

/** BullMQ baseline: prefill `count` no-op jobs, drain them with one Worker (child process) at `concurrency`. */
export async function bullmqDrain(count: number, concurrency: number): Promise<{ jobs: number; seconds: number }> {
  const name = `bench-noop-${Math.random().toString(36).slice(2, 8)}`;
  const connection = { host: '127.0.0.1', port: 6379 };
  const queue = new Queue(name, { connection });
  try {
    for (let i = 0; i < count; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, count - i) }, () => ({ name: 'noop', data: {} })));
    }
    const child = await startChild('./jobs-bullmq.ts', { BENCH_QUEUE: name, BENCH_JOBS: String(count), BENCH_CONCURRENCY: String(concurrency) });
    const m = await child.waitFor(/^(\{"jobs".*\})$/m, 300_000);
    await child.exited;
    return JSON.parse(m[1] ?? '{}') as { jobs: number; seconds: number };
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}
