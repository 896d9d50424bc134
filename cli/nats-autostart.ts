/**
 * `switchboard dev` convenience: when nothing answers at the NATS URL and a `nats-server` binary is
 * on PATH, start one with JetStream on that host/port, and stop it when dev stops. This is what makes
 * `npm ci && npm start` work on a fresh machine that has nats-server installed but not running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { once } from 'node:events';

/** A nats-server this process started, or a no-op when one was already there. */
export interface AutoNats {
  /** True when this process started the server. */
  readonly started: boolean;
  /** Stops the server we started (SIGTERM, then SIGKILL after `graceMs`); no-op otherwise. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Options for {@link ensureNats}. */
export interface AutoNatsOptions {
  /** SB_NATS_URL; only the first URL of a comma-separated list is probed. */
  url: string;
  /** JetStream store dir for a started server; default `.data/nats` (relative to the cwd). */
  storeDir?: string;
  /** Where to say that a server was started (stderr in the CLI). */
  say: (line: string) => void;
  /** PATH to search; default process.env.PATH. */
  path?: string;
  /** How long to wait for a started server to accept connections, in ms; default 10000. */
  startTimeoutMs?: number;
}

/** Host and port of the first URL in a comma-separated NATS URL list. */
export function natsHostPort(url: string): { host: string; port: number } {
  const first = (url.split(',')[0] ?? '').trim();
  const parsed = new URL(first.includes('://') ? first : `nats://${first}`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  return { host, port: parsed.port ? Number(parsed.port) : 4222 };
}

/** True when something accepts a TCP connection at host:port within `timeoutMs`. */
export function answers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** The first executable `nats-server` on PATH, or undefined. */
export async function findNatsServer(path = process.env['PATH'] ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'nats-server');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Polls until host:port answers; a starting server has no event to await. */
async function waitUntilAnswers(host: string, port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await answers(host, port, 250))) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`nats-server exited early (code ${proc.exitCode ?? proc.signalCode})`);
    if (Date.now() > until) throw new Error(`nats-server did not answer on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts nats-server with JetStream when nothing answers at `url` and the binary exists. */
export async function ensureNats(opts: AutoNatsOptions): Promise<AutoNats> {
  const { host, port } = natsHostPort(opts.url);
  const noop: AutoNats = { started: false, stop: async () => undefined };
  if (await answers(host, port)) return noop;
  const bin = await findNatsServer(opts.path);
  if (!bin) {
    opts.say(`nothing answers at ${host}:${port} and no nats-server is on PATH; connecting anyway (the broker will retry)`);
    return noop;
  }
  const storeDir = opts.storeDir ?? join('.data', 'nats');
  await mkdir(storeDir, { recursive: true });
  const proc = spawn(bin, ['-a', host, '-p', String(port), '-js', '-sd', storeDir], { stdio: 'ignore' });
  opts.say(`started nats-server (pid ${proc.pid}) with JetStream on ${host}:${port}, store ${storeDir}; it stops when switchboard stops`);
  try {
    await waitUntilAnswers(host, port, proc, opts.startTimeoutMs ?? 10_000);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  return { started: true, stop: (graceMs) => stopChild(proc, graceMs ?? 5000) };
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves once it exited. */
async function stopChild(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
