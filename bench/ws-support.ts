/**
 * Plumbing of bench/ws-fanout.ts: child processes, the client fleet's command channel, a minimal
 * inspector (Chrome DevTools Protocol) session for forced GC and heap figures, /proc readings.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { CliProcess } from '../test/cli/process.js';

/** A fan-out target: where clients connect and what triggers one broadcast. */
export interface Target {
  name: 'ours' | 'bare';
  pid: number;
  /** The inspector's URL (the process runs with --inspect). */
  inspector: string;
  wsUrl: string;
  headers: Record<string, string>;
  /** The server sends a `hello` frame first (ours). */
  hello: boolean;
  trigger: { url: string; headers: Record<string, string>; body: string };
}

/** One round as the fleet measured it: ms from the trigger, on the fleet's clock. */
export interface RoundAnswer {
  status: number;
  fanoutMs: number;
  /** Trigger → the first client's receipt: the trigger path before the send loop. */
  firstMs: number;
  latencies: number[];
  /** The frame the first client received (the gateway's exact bytes). */
  sample: string;
}

/** Starts bench/`script` as a child process (tsx), with `env` added to ours. */
export function startChild(script: string, env: Record<string, string>): CliProcess {
  const file = fileURLToPath(new URL(`./${script}`, import.meta.url));
  return new CliProcess(spawn(process.execPath, ['--import', import.meta.resolve('tsx'), file], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] }));
}

/** The client fleet (bench/ws-clients.ts) in its own process: one command, one answer line. */
export class FleetProcess {
  private readonly child = startChild('ws-clients.ts', {});
  private readonly answers: string[] = [];
  private waiting: ((line: string) => void) | undefined;

  constructor() {
    createInterface({ input: this.child.proc.stdout! }).on('line', (l) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(l); else this.answers.push(l);
    });
  }

  async call<T>(cmd: object): Promise<T> {
    this.child.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const line = this.answers.shift() ?? await Promise.race([
      new Promise<string>((resolve) => { this.waiting = resolve; }),
      this.child.exited.then((): never => { throw new Error(`client fleet exited: ${this.child.stderr.slice(-2000)}`); }),
    ]);
    const a = JSON.parse(line) as { op: string; message?: string };
    if (a.op === 'error') throw new Error(`client fleet: ${a.message}`);
    return a as T;
  }

  async connect(t: Target, n: number): Promise<void> {
    const a = await this.call<{ n: number; ms: number }>({ op: 'connect', url: t.wsUrl, n, headers: t.headers, hello: t.hello });
    console.error(`bench: ${t.name}: ${a.n} clients connected in ${(a.ms / 1000).toFixed(1)} s`);
  }

  round(t: Target): Promise<RoundAnswer> {
    return this.call({ op: 'round', trigger: t.trigger, timeoutMs: 60_000 });
  }

  async close(): Promise<void> {
    await this.call({ op: 'close' });
  }

  async stop(): Promise<void> {
    this.child.proc.stdin!.end();
    await this.child.exited;
  }
}

/** A minimal Chrome DevTools Protocol session on a child's inspector. */
export class Cdp {
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id!);
      if (m.error) p.reject(new Error(m.error.message)); else p.resolve(m.result);
    });
  }

  static async open(url: string): Promise<Cdp> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return new Cdp(ws);
  }

  call<T = unknown>(method: string, params: object = {}): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Forces a full GC, then reads the process's `process.memoryUsage()`. */
  async gcMemory(): Promise<{ heapUsed: number; external: number }> {
    await this.call('HeapProfiler.collectGarbage');
    const r = await this.call<{ result: { value: string } }>('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    return JSON.parse(r.result.value) as { heapUsed: number; external: number };
  }

  close(): void {
    this.ws.close();
  }
}

/** Resolves once `pid` used under 5 % of a core over 500 ms (at most `maxMs`): background work of a phase is over. */
export async function quiet(pid: number, maxMs = 15_000): Promise<void> {
  const end = Date.now() + maxMs;
  let last = await cpuMs(pid);
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await cpuMs(pid);
    if (now - last < 25) return;
    last = now;
  }
}

/** VmRSS of `pid`, bytes. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

/** User + system CPU time of `pid` so far, ms. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** The q-quantile (nearest rank) of `xs`. */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0;
}
