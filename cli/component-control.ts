/**
 * Controlling a component from outside: `start` (detached, pid file, log file, wait until up), `stop`
 * (SIGTERM, deadline, SIGKILL), and `status` (pid, uptime, health). The component process itself is
 * component-serve.ts; the pid file rules are component-pid.ts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SbError } from '../broker/errors.js';
import { readComponentConfig, type ComponentPaths } from './component-config.js';
import { alive, checkPid, releasePidFile, removePidFiles, type ComponentState } from './component-pid.js';
import { runningError } from './component-serve.js';

/** Polls `cond` every 25 ms until true or `timeoutMs` passed; for states no event announces (another process's files, its exit). */
async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The last `lines` lines of the log written since byte `from`. */
async function logTail(paths: ComponentPaths, from: number, lines = 20): Promise<string> {
  const text = await readFile(paths.log, 'utf8').catch(() => '');
  return text.slice(from).trimEnd().split('\n').slice(-lines).join('\n');
}

/** Where a stale pid file was found and removed, for the caller to report. */
export type StaleNote = (line: string) => void;

/** Checks the pid file; a stale one is reported through `note` and removed. Returns the running pid, if any. */
async function runningPid(paths: ComponentPaths, note: StaleNote): Promise<{ pid: number; state: ComponentState | undefined } | undefined> {
  const found = await checkPid(paths);
  if (found.status === 'running') return { pid: found.pid, state: found.state };
  if (found.status === 'stale') {
    note(`stale pid file ${paths.pid} removed: ${found.reason}`);
    await removePidFiles(paths);
  }
  return undefined;
}

/** Throws SB_ERR_COMPONENT_NOT_FOUND unless `paths.dir` is a directory. */
async function requireDir(paths: ComponentPaths): Promise<void> {
  const s = await stat(paths.dir).catch(() => undefined);
  if (!s?.isDirectory()) {
    throw new SbError('SB_ERR_COMPONENT_NOT_FOUND', `${paths.dir} does not exist or is not a directory; create a component with: switchboard create gateway|worker|dev DIR`, { data: { dir: paths.dir } });
  }
}

/** The CLI entrypoint next to this module (main.ts under tsx, main.js when built). */
function cliMain(): string {
  const here = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./main${extname(here)}`, import.meta.url));
}

/** Node options that load a module, whose bare specifier (`--import tsx`) would resolve against the child's cwd. */
const LOADER_FLAGS = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r']);

/**
 * This process's node options for the child, with loader modules resolved from here: the child runs in
 * DIR, where `--import tsx` finds no node_modules.
 */
function childExecArgv(): string[] {
  const resolveSpec = (spec: string): string => {
    if (/^(\.{0,2}\/|[a-z]+:)/i.test(spec)) return spec;
    try {
      return import.meta.resolve(spec);
    } catch {
      return spec;
    }
  };
  return process.execArgv.map((arg, i, all) => {
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0 && LOADER_FLAGS.has(arg.slice(0, eq))) return `${arg.slice(0, eq)}=${resolveSpec(arg.slice(eq + 1))}`;
    return i > 0 && LOADER_FLAGS.has(all[i - 1]!) ? resolveSpec(arg) : arg;
  });
}

/** Options of {@link startComponent}. */
export interface StartOptions {
  env: NodeJS.ProcessEnv;
  /** How long to wait for the component to be up, ms. */
  timeoutMs: number;
  note: StaleNote;
}

/**
 * Validates the directory and its config, then runs `switchboard start --fg DIR` detached (its own
 * session, stdout and stderr appended to logs/switchboard.log, cwd DIR) and waits until it records
 * `running`. If it exits or is not up in time, the error carries the log's tail (and a late one is killed).
 */
export async function startComponent(paths: ComponentPaths, opts: StartOptions): Promise<ComponentState> {
  await requireDir(paths);
  await readComponentConfig(paths);
  const running = await runningPid(paths, opts.note);
  if (running) throw runningError(paths, running.pid);
  await mkdir(paths.logs, { recursive: true });
  const log = await open(paths.log, 'a', 0o640);
  const from = (await log.stat()).size;
  const child = spawn(process.execPath, [...childExecArgv(), cliMain(), 'start', '--fg', paths.dir], {
    cwd: paths.dir, env: opts.env, detached: true, stdio: ['ignore', log.fd, log.fd],
  });
  await log.close();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = once(child, 'exit').then(([code, signal]) => { exit = { code: code as number | null, signal: signal as NodeJS.Signals | null }; });
  let state: ComponentState | undefined;
  const up = await waitFor(async () => {
    if (exit) return true;
    const found = await checkPid(paths);
    const s = found.status === 'running' ? found.state : undefined;
    state = s !== undefined && s.pid === child.pid && s.state === 'running' ? s : undefined;
    return state !== undefined;
  }, opts.timeoutMs);
  if (state) {
    // Up: let this command exit while the component keeps running in its own session.
    child.unref();
    return state;
  }
  if (!up) {
    child.kill('SIGKILL');
    await exited;
    if (child.pid !== undefined) await releasePidFile(paths, child.pid);
  }
  const how = !up ? `was not up within ${opts.timeoutMs} ms and was killed` : exit?.signal ? `was killed (${exit.signal})` : `exited with code ${exit?.code}`;
  throw new SbError('SB_ERR_COMPONENT_START_FAILED', `the component in ${paths.dir} ${how}; last lines of ${paths.log}:\n${await logTail(paths, from)}`, { data: { dir: paths.dir } });
}

/** What `stop` did. */
export interface StopResult {
  /** The pid that was stopped, or undefined when nothing ran. */
  pid?: number;
  /** True when SIGTERM was not enough and SIGKILL was sent at the deadline. */
  killed: boolean;
  elapsedMs: number;
}

/**
 * SIGTERM, then wait up to `timeoutMs` for the process to go (it drains and removes its pid file),
 * then SIGKILL and remove the pid file ourselves. Not running is not an error (as LSB `stop`).
 */
export async function stopComponent(paths: ComponentPaths, timeoutMs: number, note: StaleNote): Promise<StopResult> {
  await requireDir(paths);
  const t0 = Date.now();
  const running = await runningPid(paths, note);
  if (!running) return { killed: false, elapsedMs: 0 };
  const { pid } = running;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  };
  signal('SIGTERM');
  // A process we did not start has no exit event for us: poll its existence.
  let killed = false;
  if (!(await waitFor(() => !alive(pid), timeoutMs))) {
    killed = true;
    signal('SIGKILL');
    if (!(await waitFor(() => !alive(pid), 5000))) {
      throw new SbError('SB_ERR_INTERNAL', `process ${pid} survived SIGKILL for 5 s`);
    }
  }
  // After SIGKILL (or a crash in the stop) nobody else removes them.
  await removePidFiles(paths);
  return { pid, killed, elapsedMs: Date.now() - t0 };
}

/** What `status` reports. */
export interface ComponentStatus {
  dir: string;
  running: boolean;
  kind?: string;
  pid?: number;
  startedAt?: string;
  uptimeMs?: number;
  /** ok / unavailable (HTTP status) / unreachable / starting / alive (no health endpoint). */
  health?: string;
  url?: string;
  workerId?: string;
  log: string;
}

/** GETs the health URL with a short timeout: `ok`, `unavailable (503)`, or `unreachable`. */
async function probe(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok ? 'ok' : `unavailable (${res.status})`;
  } catch {
    return 'unreachable';
  }
}

/** Running or not, pid, uptime and health (the gateway's /readyz; a worker's health port when it has one). */
export async function componentStatus(paths: ComponentPaths, note: StaleNote): Promise<ComponentStatus> {
  await requireDir(paths);
  const config = await readComponentConfig(paths, { values: false }).catch(() => undefined);
  const base: ComponentStatus = { dir: paths.dir, running: false, ...(config ? { kind: config.kind } : {}), log: paths.log };
  const running = await runningPid(paths, note);
  if (!running) return base;
  const { pid, state } = running;
  const s: ComponentStatus = { ...base, running: true, pid };
  if (state) {
    s.kind = state.kind;
    s.startedAt = state.startedAt;
    s.uptimeMs = Date.now() - Date.parse(state.startedAt);
    if (state.url) s.url = state.url;
    if (state.workerId) s.workerId = state.workerId;
  }
  if (state?.state !== 'running') s.health = 'starting';
  else s.health = state.healthUrl ? await probe(state.healthUrl) : 'alive';
  return s;
}
