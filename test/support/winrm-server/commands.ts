/**
 * One running command of the fake host: runs its script steps on real timers, buffers output as chunks in
 * emission order, and serves Receive long-polls (§3.4). Everything is cancellable so `close()` leaves no timer behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { clixml, decodeText, encodeText, resolvePs, stdinScript, unknownPs, type Resolved, type ScriptContext, type ScriptEntry } from './scripts.js';

/** A chunk of output as the host will put it in one rsp:Stream element. */
export interface Chunk {
  stream: 'stdout' | 'stderr';
  bytes: Buffer;
}

/** Lifecycle of a command as tests see it. */
export type CommandState = 'running' | 'done' | 'terminated' | 'deleted' | 'expired';

/** What the server records about a command (live object; also kept after the command is gone). */
export interface CommandInfo {
  id: string;
  shellId: string;
  /** Effective line `Command + ' ' + Arguments`. */
  line: string;
  /** Decoded PowerShell script (the stdin script for the stdin path). */
  psScript?: string;
  /** Bytes received over Send, decoded in the shell's codepage. */
  stdin: string;
  stdinEnded: boolean;
  state: CommandState;
  exitCode: number | null;
  /** Signal codes received (short form: terminate, ctrl_c, ctrl_break). */
  signals: string[];
  /** Number of Receive requests. */
  receives: number;
  doneDelivered: boolean;
}

/** Knobs that shape output chunking. */
export interface ChunkOptions {
  codepage: number;
  maxChunkBytes: number;
  splitUtf8: boolean;
}

/** Thrown inside the runner when the command is stopped. */
class Stopped extends Error {}

/** A running (or finished) command and its output buffer. */
export class FakeCommand {
  readonly info: CommandInfo;
  readonly queue: Chunk[] = [];
  finished = false;
  private readonly stop = new AbortController();
  private ctrlCCode: number | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly stdinBytes: Buffer[] = [];
  /** Resolves the Receive currently parked on this command (the older one gets TimedOut when a new one comes). */
  pendingSupersede: (() => void) | undefined;
  receiveTimes: number[] = [];

  constructor(
    info: Omit<CommandInfo, 'stdin' | 'stdinEnded' | 'state' | 'exitCode' | 'signals' | 'receives' | 'doneDelivered'>,
    private readonly resolved: Resolved,
    private readonly opts: ChunkOptions,
    private readonly scriptEntries: () => ScriptEntry[],
    private readonly ctx: ScriptContext,
  ) {
    this.info = { ...info, stdin: '', stdinEnded: false, state: 'running', exitCode: null, signals: [], receives: 0, doneDelivered: false };
    void this.run();
  }

  /** Wakes every parked Receive. */
  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until output or completion is available, `ms` elapse, or `abort` fires; true when something is ready. */
  async waitReady(ms: number, abort: AbortSignal): Promise<boolean> {
    if (this.ready()) return true;
    return await new Promise<boolean>((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        abort.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const wake = (): void => { if (this.ready()) done(true); };
      const onAbort = (): void => done(false);
      const timer = setTimeout(() => done(false), ms);
      this.waiters.add(wake);
      abort.addEventListener('abort', onAbort, { once: true });
    });
  }

  ready(): boolean {
    return this.queue.length > 0 || this.finished;
  }

  /** Appends Send data; `end` closes stdin. */
  send(bytes: Buffer, end: boolean): void {
    this.stdinBytes.push(bytes);
    this.info.stdin = decodeText(Buffer.concat(this.stdinBytes), this.opts.codepage);
    if (end) this.info.stdinEnded = true;
    this.notify();
  }

  /** Signal ctrl_c / ctrl_break: the script ends with its onCtrlC code. */
  ctrlC(): void {
    if (this.finished) return;
    this.ctrlCCode = this.resolved.entry.onCtrlC ?? 3221225786;
    this.stop.abort();
  }

  /** Signal terminate, Delete of the shell, idle expiry or server close: stop silently. */
  kill(state: CommandState): void {
    if (this.info.state === 'running' || this.info.state === 'done') this.info.state = state;
    this.stop.abort();
    this.pendingSupersede?.();
    this.notify();
  }

  private emit(stream: 'stdout' | 'stderr', data: string | Buffer, splitUtf8: boolean): void {
    let bytes = typeof data === 'string' ? encodeText(data, this.opts.codepage) : data;
    if (splitUtf8) {
      // Cut right after the first lead byte of a multi-byte character, so the character spans two chunks.
      const lead = bytes.findIndex((b) => b >= 0xc0);
      if (lead >= 0) {
        this.queue.push({ stream, bytes: bytes.subarray(0, lead + 1) });
        bytes = bytes.subarray(lead + 1);
      }
    }
    for (let i = 0; i < bytes.length; i += this.opts.maxChunkBytes) {
      this.queue.push({ stream, bytes: bytes.subarray(i, i + this.opts.maxChunkBytes) });
    }
    this.notify();
  }

  private async waitStdin(): Promise<void> {
    while (!this.info.stdinEnded) {
      if (this.stop.signal.aborted) throw new Stopped();
      await this.waitFor(() => this.info.stdinEnded || this.stop.signal.aborted);
    }
  }

  private waitFor(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        if (!cond()) return;
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      this.stop.signal.addEventListener('abort', () => { this.waiters.delete(wake); resolve(); }, { once: true });
    });
  }

  private async runEntry(entry: ScriptEntry): Promise<number> {
    const split = entry.splitUtf8 ?? this.opts.splitUtf8;
    for (const step of entry.steps) {
      if (this.stop.signal.aborted) throw new Stopped();
      if ('stdout' in step) this.emit('stdout', step.stdout, split);
      else if ('stderr' in step) this.emit('stderr', step.stderr, split);
      else if ('sleepMs' in step) await sleep(step.sleepMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
      else if ('readStdin' in step) await this.waitStdin();
      else if ('hang' in step) await this.waitFor(() => false);
    }
    if (this.stop.signal.aborted) throw new Stopped();
    const progress = entry.psProgress ?? (entry.psErrors !== undefined && entry.psErrors.length > 0);
    if (progress || (entry.psErrors?.length ?? 0) > 0) this.emit('stderr', clixml(entry.psErrors ?? [], progress), false);
    return entry.exitCode ?? 0;
  }

  private async run(): Promise<void> {
    let code: number;
    try {
      if (this.resolved.psFromStdin) {
        await this.waitStdin();
        const script = stdinScript(this.resolved.psScript, this.info.stdin);
        this.info.psScript = script;
        const found = resolvePs(script, this.scriptEntries(), this.ctx) ?? unknownPs(script);
        if (found.unknown) this.onUnknown?.(script);
        code = await this.runEntry(found.entry);
      } else {
        code = await this.runEntry(this.resolved.entry);
      }
    } catch (err) {
      if (!(err instanceof Stopped)) throw err;
      if (this.ctrlCCode === undefined) return; // terminated or deleted: no more output, no exit code
      code = this.ctrlCCode;
    }
    if (this.ctrlCCode !== undefined) code = this.ctrlCCode;
    this.finished = true;
    this.info.exitCode = code;
    if (this.info.state === 'running') this.info.state = 'done';
    this.notify();
  }

  /** Set by the shell host to report an unknown PowerShell script read from stdin. */
  onUnknown?: (script: string) => void;
}
