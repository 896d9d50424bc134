/**
 * Bench plumbing: child processes for the two servers and one autocannon run. The servers run in
 * their own processes so the load generator never shares their event loop.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { CliProcess } from '../test/cli/process.js';

/** One HTTP load run's figures. */
export interface LoadFigures {
  name: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  errors: number;
}

/** Options for {@link runLoad}. */
export interface LoadOptions {
  name: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Seconds; default 10. */
  duration: number;
  /** Concurrent connections; default 64. */
  connections: number;
}

/** One autocannon POST run: req/s (mean of per-second samples), p50 and p99 latency in ms. */
export async function runLoad(o: LoadOptions): Promise<LoadFigures> {
  const r = await autocannon({ url: o.url, method: 'POST', headers: o.headers, body: o.body, connections: o.connections, duration: o.duration });
  return {
    name: o.name, reqPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99,
    total: r.requests.total, non2xx: r.non2xx, errors: r.errors,
  };
}

/** Starts bench/raw-server.ts for `subject` and resolves with its URL once it printed "listening". */
export async function startRawServer(natsUrl: string, subject: string): Promise<{ url: string; proc: CliProcess }> {
  const script = fileURLToPath(new URL('./raw-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], {
    env: { ...process.env, BENCH_NATS_URL: natsUrl, BENCH_SUBJECT: subject, BENCH_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new CliProcess(child);
  const m = await proc.waitFor(/listening (\d+)/, 30_000);
  return { url: `http://127.0.0.1:${m[1]}`, proc };
}

/** A 1 KiB JSON body (exactly 1024 bytes). */
export function kibJson(): string {
  const head = JSON.stringify({ kind: 'bench', at: '2026-01-01T00:00:00.000Z', pad: '' });
  return JSON.stringify({ kind: 'bench', at: '2026-01-01T00:00:00.000Z', pad: 'x'.repeat(1024 - head.length) });
}

/** Ratio formatted with two decimals. */
export function ratio(a: number, b: number): string {
  return b === 0 ? 'n/a' : (a / b).toFixed(2);
}

/** Prints rows as an aligned text table. */
export function printTable(header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const [i, r] of cells.entries()) {
    console.log(r.map((c, j) => (j === 0 ? c.padEnd(widths[j] ?? 0) : c.padStart(widths[j] ?? 0))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n >= 100 ? n.toFixed(0) : n.toFixed(2);
}
