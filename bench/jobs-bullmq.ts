/**
 * Baseline B of bench/jobs.ts: one BullMQ 6 Worker draining a pre-filled queue of no-op jobs.
 *   BENCH_QUEUE=… BENCH_JOBS=… BENCH_CONCURRENCY=… tsx bench/jobs-bullmq.ts
 * Prints "ready" once connected, then one JSON line `{"jobs":N,"seconds":s}` timed from the first
 * completed job to the last (the same window bench/jobs.ts uses for our worker) and exits.
 */
import { Worker } from 'bullmq';

const queue = process.env['BENCH_QUEUE'] ?? 'bench-noop';
const total = Number(process.env['BENCH_JOBS'] ?? '20000');
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? '64');
const connection = { host: '127.0.0.1', port: Number(process.env['BENCH_REDIS_PORT'] ?? '6379') };

const worker = new Worker(queue, async () => ({}), { connection, concurrency, autorun: false });
let done = 0;
let first = 0;
worker.on('completed', () => {
  if (done++ === 0) first = performance.now();
  if (done === total) {
    const seconds = (performance.now() - first) / 1000;
    process.stdout.write(`${JSON.stringify({ jobs: total - 1, seconds })}\n`);
    void worker.close().then(() => process.exit(0));
  }
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
void worker.run();
