/**
 * The pid file of a component directory and how far to trust it. `run/switchboard.pid` holds the pid
 * (one line, as init scripts expect); `run/switchboard.json` holds what identifies that process — its
 * start time in clock ticks since boot (/proc/<pid>/stat field 22) — plus what `status` shows. A pid
 * whose process is gone, or was reused by another program (different start time, or a command line
 * that is not `switchboard start --fg DIR`), is stale: reported and removed, never signalled.
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { ComponentKind, ComponentPaths } from './component-config.js';

/** What a running component records next to its pid file. */
export interface ComponentState {
  pid: number;
  kind: ComponentKind;
  /** `starting` until the component is up, then `running`. */
  state: 'starting' | 'running';
  startedAt: string;
  /** /proc/<pid>/stat start time (clock ticks since boot); absent off Linux. */
  startTicks?: string;
  /** The REST gateway's base URL (gateway, dev). */
  url?: string;
  /** GET this for health: /readyz of the gateway, or of a worker with SB_WORKER_HEALTH_PORT. */
  healthUrl?: string;
  workerId?: string;
}

/** What the pid file says, judged. */
export type PidCheck =
  | { status: 'none' }
  | { status: 'running'; pid: number; state: ComponentState | undefined }
  | { status: 'stale'; pid: number; reason: string };

/** The start time of `pid` from /proc, or undefined when there is no such process (or no /proc). */
export async function startTicks(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // Field 2 (comm) may hold spaces and parentheses: count fields after the last ')', which is field 3.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/**
 * True while a process with this pid exists (signal 0 tests for it without sending anything) and is
 * not a zombie: a killed component whose new parent (pid 1 of a container) does not reap it still
 * answers signal 0.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc (not Linux), or it exited just now.
    return existsSync('/proc/self') ? false : true;
  }
}

/** Reads the state file; undefined when missing or unreadable. */
export async function readState(paths: ComponentPaths): Promise<ComponentState | undefined> {
  const text = await readFile(paths.state, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as ComponentState;
  } catch {
    return undefined;
  }
}

/** Writes the state file atomically (temp + rename): `status` never reads half a file. */
export async function writeState(paths: ComponentPaths, state: ComponentState): Promise<void> {
  const tmp = `${paths.state}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, paths.state);
}

/** Judges the pid file: none, a running component, or stale (with why). Does not change anything. */
export async function checkPid(paths: ComponentPaths): Promise<PidCheck> {
  const text = await readFile(paths.pid, 'utf8').catch(() => undefined);
  if (text === undefined) return { status: 'none' };
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return { status: 'stale', pid: 0, reason: `the pid file holds no pid (${JSON.stringify(text.slice(0, 20))})` };
  if (!alive(pid)) return { status: 'stale', pid, reason: `process ${pid} is gone` };
  const state = await readState(paths);
  const ticks = await startTicks(pid);
  if (state?.pid === pid && state.startTicks !== undefined && ticks !== undefined) {
    return state.startTicks === ticks ? { status: 'running', pid, state } : { status: 'stale', pid, reason: `pid ${pid} now belongs to another process (started at a different time)` };
  }
  // No start time to compare (state file missing, or no /proc): fall back to the command line.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline !== undefined) {
    const args = cmdline.split('\0');
    const ours = args.includes('start') && args.includes('--fg') && args.includes(paths.dir);
    if (!ours) return { status: 'stale', pid, reason: `pid ${pid} belongs to another program (${args.filter(Boolean).slice(0, 3).join(' ').slice(0, 120)})` };
  }
  return { status: 'running', pid, state: state?.pid === pid ? state : undefined };
}

/** Removes the pid and state files. */
export async function removePidFiles(paths: ComponentPaths): Promise<void> {
  await rm(paths.pid, { force: true });
  await rm(paths.state, { force: true });
}

/**
 * Takes the pid file for this process: exclusive create, so two `start`s of one directory cannot both
 * win. A stale file is removed first (the caller reports `stale`); a live one makes this return it.
 */
export async function claimPidFile(paths: ComponentPaths, pid: number): Promise<PidCheck> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(paths.pid, 'wx', 0o644);
      await fh.writeFile(`${pid}\n`);
      await fh.close();
      return { status: 'none' };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const found = await checkPid(paths);
    if (found.status === 'running') return found;
    await removePidFiles(paths);
  }
  return checkPid(paths);
}

/** Removes the pid files only if they still name `pid` (a later start may own them by now). */
export async function releasePidFile(paths: ComponentPaths, pid: number): Promise<void> {
  const text = await readFile(paths.pid, 'utf8').catch(() => undefined);
  if (text !== undefined && Number(text.trim()) === pid) await removePidFiles(paths);
}
