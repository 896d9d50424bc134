/**
 * Harness for tests that run the real `switchboard` CLI as a child process (`node --import tsx
 * cli/main.ts …`): collect its output, await a log line, stop it. Shared by test/cli and test/faults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/nats-server.js';
import { until } from '../support/poll.js';

/** Absolute path of the CLI entrypoint. */
export const CLI_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
// Resolved here, not by the child: the child may run in a temp cwd that has no node_modules.
const TSX = import.meta.resolve('tsx');

/** The child's environment: ours without any SB_* variable (a developer's shell must not leak in), plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SB_')) base[k] = v;
  return { ...base, ...env };
}

/** Bounded poll for a condition that has no event to await; a throwing `fn` counts as "not yet". */
export async function pollUntil<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  return until(() => fn().catch(() => undefined), timeoutMs, what) as Promise<T>;
}

/** A running CLI process with its output so far. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly listeners = new Set<() => void>();

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.on('data', (c: Buffer) => { this.stdout += c.toString('utf8'); this.notify(); });
    proc.stderr?.on('data', (c: Buffer) => { this.stderr += c.toString('utf8'); this.notify(); });
    this.exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    void this.exited.then(() => this.notify());
  }

  /** Starts `switchboard ARGS` with `env` in `cwd`. */
  static spawn(args: string[], env: Record<string, string> = {}, cwd?: string): CliProcess {
    const proc = spawn(process.execPath, ['--import', TSX, CLI_MAIN, ...args], { env: childEnv(env), cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    return new CliProcess(proc);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves with the first match of `re` in stdout or stderr; rejects if the process exits first or on timeout. */
  waitFor(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = this.stdout.match(re) ?? this.stderr.match(re);
        if (m) { done(); resolve(m); } else if (!this.running) { done(); reject(new Error(`exited before ${re}: ${this.stderr.slice(-2000)}`)); }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`no ${re} within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)); }, timeoutMs);
      const done = (): void => { clearTimeout(timer); this.listeners.delete(check); };
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal` (if still running) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.proc.kill(signal);
    return this.exited;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

/** Runs `switchboard ARGS` to completion, feeding `stdin`; returns exit code and output. */
export async function runCli(args: string[], env: Record<string, string> = {}, stdin?: Uint8Array | string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = CliProcess.spawn(args, env);
  p.proc.stdin?.end(stdin ?? '');
  const { code } = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

/** A `switchboard dev` child with its URL and admin credentials. */
export interface DevChild {
  cli: CliProcess;
  url: string;
  port: number;
  password: string;
  authorization: string;
  cwd: string;
  /** SIGTERM (default) and wait; removes the temp cwd. Safe to call twice. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `switchboard dev` on a free port (or `port`) in a temp cwd and waits for its "listening" line. */
export async function startDev(natsUrl: string, opts: { port?: number; password?: string; env?: Record<string, string> } = {}): Promise<DevChild> {
  const port = opts.port ?? (await freePort());
  // The admin password only takes effect at the first start against a store: a restart must reuse it.
  const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}`;
  const cwd = await mkdtemp(join(tmpdir(), 'sb-dev-'));
  const cli = CliProcess.spawn(['dev'], {
    SB_NATS_URL: natsUrl, SB_HTTP_HOST: '127.0.0.1', SB_HTTP_PORT: String(port), SB_ADMIN_PASSWORD: password, ...opts.env,
  }, cwd);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const r = await cli.kill(signal);
    await rm(cwd, { recursive: true, force: true });
    return r;
  };
  try {
    // Readiness by the log line, not by sleeping: dev logs it once the gateway accepts connections.
    const m = await cli.waitFor(/listening on (http:\/\/[^\s"]+)/, 30_000);
    const url = m[1] ?? `http://127.0.0.1:${port}`;
    const authorization = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
    return { cli, url, port, password, authorization, cwd, stop };
  } catch (e) {
    await stop('SIGKILL');
    throw new Error(`switchboard dev did not start: ${(e as Error).message}; stderr: ${cli.stderr.slice(-2000)}`);
  }
}
