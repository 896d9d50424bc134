/**
 * `npm run bench:jobs`: the job pipeline against raw baselines measured in the same run, on a private
 * nats-server (and the Redis on :6379 for BullMQ). Every component is its own process: the gateway is
 * `switchboard dev`, workers are `switchboard worker` with bench/jobs-handlers.ts as a plugin.
 *  1. REST sync round trip of a no-op job: autocannon, 64 connections, `POST /v1/jobs/bench.noop` (auth
 *     on, Basic admin), BENCH_DURATION s (default 10) per run, vs baseline A: 64 loops of core NATS
 *     request/reply to a raw responder process (bench/jobs-responder.ts). BENCH_ROUNDS (3) interleaved.
 *  2. Runtime throughput without HTTP: BENCH_JOBS (20000) no-op jobs pre-filled in the jobs stream, one
 *     worker process (concurrency BENCH_CONCURRENCY, 64) drains them, vs baseline B: BullMQ, the same
 *     number pre-filled, one Worker process at the same concurrency. Timed first → last completion.
 *  3. Worker scaling: `bench.io50` (awaits 50 ms) with 1, 2 and 4 worker processes at concurrency 16
 *     each; 1600 jobs per worker submitted at once (backlog ≫ slots), timed first → last result.
 * BENCH_PARTS (rest,drain,scaling) picks the parts to run. Prints tables and ratios with the acceptance targets; writes bench/results/jobs-<time>.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from '../test/support/nats-server.js';
import { startDev } from '../test/cli/process.js';
import { createBroker, createLogger, createMetrics, RESULT_SUBJECT_PREFIX } from '../broker/index.js';
import { resolveProcessConfig } from '../schemas/config.js';
import { printTable, ratio, runLoad, type LoadFigures } from './load.js';
import { bullmqDrain, countResults, median, rawRequestLoad, startChild, startWorkers, stopAll, submitMany } from './jobs-support.js';

const DURATION = Number(process.env['BENCH_DURATION'] ?? '10');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '3');
const JOBS = Number(process.env['BENCH_JOBS'] ?? '20000');
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? '64');
const PARTS = new Set((process.env['BENCH_PARTS'] ?? 'rest,drain,scaling').split(','));
const IN_FLIGHT = 64;
const IO_CONCURRENCY = 16;
const IO_JOBS_PER_WORKER = 1600;
const RR_SUBJECT = 'bench.rr';

const loadBefore = loadavg()[0] ?? 0;
const nats = await NatsServer.start();
const dev = await startDev(nats.url);
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
const config = resolveProcessConfig({ nats: { url: nats.url } });
const broker = await createBroker({ config, logger: createLogger({ level: 'warn' }), metrics: createMetrics({ defaultMetrics: false }) });
// Final records (the result events) are stored on sb.jobres.<id>: a core subscription counts them.
const resultsSubject = `${RESULT_SUBJECT_PREFIX}*`;
try {
  const rest = PARTS.has('rest') ? await benchRest() : [];
  const drain = PARTS.has('drain') ? await benchDrain() : [];
  const scaling = PARTS.has('scaling') ? await benchScaling() : [];
  await report(rest, drain, scaling);
} finally {
  await broker.close({ deadlineMs: 2000 });
  await nc.close();
  await dev.stop('SIGTERM');
  await nats.dispose();
}

/** Part 1: ROUNDS × (REST sync no-op, raw request/reply), alternating which goes first. */
async function benchRest(): Promise<LoadFigures[][]> {
  const workers = await startWorkers(nats.url, `bench.noop:${CONCURRENCY}`, 1);
  const responder = await startChild('./jobs-responder.ts', { BENCH_NATS_URL: nats.url, BENCH_SUBJECT: RR_SUBJECT });
  const rest = (seconds: number) => runLoad({
    name: 'REST sync no-op job', url: `${dev.url}/v1/jobs/bench.noop`, body: '{}', connections: IN_FLIGHT, duration: seconds,
    headers: { 'content-type': 'application/json', authorization: dev.authorization },
  });
  const raw = (seconds: number) => rawRequestLoad(nc, RR_SUBJECT, IN_FLIGHT, seconds, 'raw NATS request/reply');
  const rounds: LoadFigures[][] = [];
  try {
    await rest(2); // JIT warm-up of gateway and worker, not counted
    await raw(2);
    for (let r = 0; r < ROUNDS; r++) {
      console.error(`bench: round ${r + 1}/${ROUNDS}: REST sync and raw request/reply, ${DURATION} s each …`);
      if (r % 2 === 0) {
        const a = await rest(DURATION);
        rounds.push([a, await raw(DURATION)]);
      } else {
        const b = await raw(DURATION);
        rounds.push([await rest(DURATION), b]);
      }
    }
  } finally {
    await stopAll(workers);
    await responder.kill('SIGTERM');
  }
  return rounds;
}

/** Part 2: ROUNDS × (our worker, BullMQ) draining JOBS pre-filled no-op jobs, alternating the order. */
async function benchDrain(): Promise<Array<{ ours: number; bullmq: number }>> {
  const rounds: Array<{ ours: number; bullmq: number }> = [];
  const ours = async (): Promise<number> => {
    console.error(`bench: pre-filling ${JOBS} no-op jobs …`);
    await submitMany(broker, 'bench.noop', JOBS);
    const counted = countResults(nc, resultsSubject, JOBS);
    const workers = await startWorkers(nats.url, `bench.noop:${CONCURRENCY}`, 1);
    try {
      const r = await counted;
      return r.jobs / r.seconds;
    } finally {
      await stopAll(workers);
    }
  };
  const bull = async (): Promise<number> => {
    console.error(`bench: BullMQ: pre-filling and draining ${JOBS} no-op jobs …`);
    const r = await bullmqDrain(JOBS, CONCURRENCY);
    return r.jobs / r.seconds;
  };
  // Submitting needs the type declared, which a worker does at start (part 1 may not have run).
  await stopAll(await startWorkers(nats.url, `bench.noop:${CONCURRENCY}`, 1));
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      const o = await ours();
      rounds.push({ ours: o, bullmq: await bull() });
    } else {
      const b = await bull();
      rounds.push({ ours: await ours(), bullmq: b });
    }
  }
  return rounds;
}

/** Part 3: 1, 2 and 4 worker processes on I/O-bound jobs; jobs/s each. */
async function benchScaling(): Promise<Array<{ workers: number; jobsPerSec: number }>> {
  const out: Array<{ workers: number; jobsPerSec: number }> = [];
  for (const n of [1, 2, 4]) {
    const workers = await startWorkers(nats.url, `bench.io50:${IO_CONCURRENCY}`, n);
    try {
      const jobs = IO_JOBS_PER_WORKER * n;
      console.error(`bench: scaling: ${n} worker(s), ${jobs} jobs of 50 ms …`);
      const counted = countResults(nc, resultsSubject, jobs);
      await submitMany(broker, 'bench.io50', jobs);
      const r = await counted;
      out.push({ workers: n, jobsPerSec: r.jobs / r.seconds });
    } finally {
      await stopAll(workers);
    }
  }
  return out;
}

async function report(rest: LoadFigures[][], drain: Array<{ ours: number; bullmq: number }>, scaling: Array<{ workers: number; jobsPerSec: number }>): Promise<void> {
  const load = `load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after`;
  if (rest.length > 0) reportRest(rest, load);
  if (drain.length > 0) reportDrain(drain);
  if (scaling.length > 0) reportScaling(scaling);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const at = new Date().toISOString();
  const file = new URL(`./results/jobs-${at.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, JSON.stringify({ at, cores: cpus().length, duration: DURATION, rounds: ROUNDS, jobs: JOBS, concurrency: CONCURRENCY, load, rest, drain, scaling }, null, 2));
  console.error(`bench: results in ${file.pathname}`);
}

function reportRest(rest: LoadFigures[][], load: string): void {
  console.log(`\n1. Round trip: ${IN_FLIGHT} in flight, ${DURATION} s × ${ROUNDS} rounds, ${cpus().length} cores; ${load}`);
  printTable(['round / target', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors'],
    rest.flatMap((round, r) => round.map((p) => [`${r + 1} ${p.name}`, p.reqPerSec, p.p50Ms, p.p99Ms, p.total, p.non2xx, p.errors])));
  const med = (i: number, k: 'reqPerSec' | 'p50Ms' | 'p99Ms'): number => median(rest.map((round) => round[i]?.[k] ?? 0));
  console.log('');
  printTable(['median', 'jobs/s', 'p50 ms', 'p99 ms'], [0, 1].map((i) => [rest[0]?.[i]?.name ?? '', med(i, 'reqPerSec'), med(i, 'p50Ms'), med(i, 'p99Ms')]));
  const p99 = med(0, 'p99Ms');
  console.log(`\nours/raw: throughput ${ratio(med(0, 'reqPerSec'), med(1, 'reqPerSec'))}, p50 ${ratio(med(0, 'p50Ms'), med(1, 'p50Ms'))}, p99 ${ratio(p99, med(1, 'p99Ms'))}`);
  console.log(`REST sync p99 ${p99.toFixed(1)} ms (accept ≤ 25 ms: ${p99 <= 25 ? 'PASS' : 'FAIL'})`);
}

function reportDrain(drain: Array<{ ours: number; bullmq: number }>): void {
  console.log(`\n2. Drain of ${JOBS} pre-filled no-op jobs, one worker process, concurrency ${CONCURRENCY}`);
  printTable(['round', 'ours jobs/s', 'BullMQ jobs/s', 'ratio'], drain.map((d, r) => [String(r + 1), d.ours, d.bullmq, ratio(d.ours, d.bullmq)]));
  const ours = median(drain.map((d) => d.ours));
  const bull = median(drain.map((d) => d.bullmq));
  console.log(`median: ours ${ours.toFixed(0)}, BullMQ ${bull.toFixed(0)}; ours/BullMQ ${ratio(ours, bull)} (accept ≥ 1.00: ${ours >= bull ? 'PASS' : 'FAIL'})`);
}

function reportScaling(scaling: Array<{ workers: number; jobsPerSec: number }>): void {
  console.log(`\n3. Scaling: 50 ms I/O-bound jobs, concurrency ${IO_CONCURRENCY} per worker, ${IO_JOBS_PER_WORKER} jobs per worker`);
  const one = scaling[0]?.jobsPerSec ?? 0;
  printTable(['workers', 'jobs/s', 'speed-up', 'ideal jobs/s'], scaling.map((s) => [String(s.workers), s.jobsPerSec, ratio(s.jobsPerSec, one), (s.workers * IO_CONCURRENCY * 1000) / 50]));
  const four = (scaling[2]?.jobsPerSec ?? 0) / one;
  console.log(`4 workers / 1 worker ${four.toFixed(2)} (accept ≥ 3.50: ${four >= 3.5 ? 'PASS' : 'FAIL'})`);
}
