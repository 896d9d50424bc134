/**
 * The shell side of the fake host (§3.4): Create with the per-user quota and idle expiry, Command through the
 * script table, Receive long-polls with coalescing and MaxEnvelopeSize-bounded responses, Send, Signal, Delete.
 * Operations return either a SOAP body or a canned fault name; the HTTP layer wraps them.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeCommand, type CommandInfo } from './commands.js';
import { ACTIONS, SHELL_URI, STATE_URI, type FaultName } from './envelope.js';
import { resolveCommand, type ScriptEntry } from './scripts.js';
import { xmlEscape } from './xml.js';

/** An open shell as tests see it. */
export interface ShellInfo {
  id: string;
  user: string;
  codepage: number;
  noProfile: boolean;
  createdAt: number;
  /** Command ids created in this shell. */
  commandIds: string[];
}

/** An operation's outcome: a response body for `action`, or a fault. */
export type OpResult =
  | { body: string; action: string }
  | { fault: FaultName; arg?: string }
  /** The client went away while a Receive was parked; nothing is sent. */
  | { gone: true };

/** Shell-host configuration (see `WinRMServerConfig` for the defaults). */
export interface ShellHostOptions {
  hostname: string;
  maxShellsPerUser: number;
  idleTimeoutMs: number;
  coalesceMs: number;
  maxChunkBytes: number;
  splitUtf8: boolean;
  allowUnknown: boolean;
  entries: () => ScriptEntry[];
  lint: (kind: string, message: string) => void;
}

interface FakeShell extends ShellInfo {
  idle: NodeJS.Timeout;
}


/** Owns every shell and command of one fake host. */
export class ShellHost {
  readonly shells = new Map<string, FakeShell>();
  readonly commands: CommandInfo[] = [];
  private readonly live = new Map<string, FakeCommand>();
  private readonly stopping = new AbortController();
  /** Most shells open at once. */
  peakShells = 0;

  constructor(private readonly opts: ShellHostOptions) {}

  private touch(shell: FakeShell): void {
    shell.idle.refresh();
  }

  create(user: string, codepage: number, noProfile: boolean, clientIp: string): OpResult {
    const owned = [...this.shells.values()].filter((s) => s.user === user.toLowerCase()).length;
    if (owned >= this.opts.maxShellsPerUser) return { fault: 'QuotaLimit', arg: String(this.opts.maxShellsPerUser) };
    const id = randomUUID().toUpperCase();
    const idle = setTimeout(() => this.expire(id), this.opts.idleTimeoutMs);
    idle.unref();
    this.shells.set(id, { id, user: user.toLowerCase(), codepage, noProfile, createdAt: Date.now(), commandIds: [], idle });
    this.peakShells = Math.max(this.peakShells, this.shells.size);
    const idleSec = (this.opts.idleTimeoutMs / 1000).toFixed(3);
    const body =
      `<x:ResourceCreated><a:Address>http://${this.opts.hostname.toLowerCase()}:5985/wsman</a:Address><a:ReferenceParameters>` +
      `<w:ResourceURI>${SHELL_URI}</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet>` +
      `</a:ReferenceParameters></x:ResourceCreated>` +
      `<rsp:Shell><rsp:ShellId>${id}</rsp:ShellId><rsp:ResourceUri>${SHELL_URI}</rsp:ResourceUri>` +
      `<rsp:Owner>${xmlEscape(user)}</rsp:Owner><rsp:ClientIP>${xmlEscape(clientIp)}</rsp:ClientIP>` +
      `<rsp:IdleTimeOut>PT${idleSec}S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>` +
      `<rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>` +
      `<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`;
    return { body, action: `${ACTIONS.Create}Response` };
  }

  private expire(id: string): void {
    const shell = this.shells.get(id);
    if (!shell) return;
    this.dropShell(shell, 'expired');
  }

  private dropShell(shell: FakeShell, state: 'deleted' | 'expired'): void {
    clearTimeout(shell.idle);
    this.shells.delete(shell.id);
    for (const cid of shell.commandIds) {
      const cmd = this.live.get(cid);
      if (cmd) {
        cmd.kill(state);
        this.live.delete(cid);
      }
    }
  }

  /** Looks up a shell for an operation; undefined → InvalidShell fault. */
  shell(id: string | undefined): FakeShell | undefined {
    const shell = id ? this.shells.get(id.toUpperCase()) : undefined;
    if (shell) this.touch(shell);
    return shell;
  }

  command(shell: FakeShell, line: string, skipCmdShell: boolean): { result: OpResult; info: CommandInfo } {
    const ctx = { hostname: this.opts.hostname, user: shell.user, skipCmdShell };
    const resolved = resolveCommand(line, this.opts.entries(), ctx);
    const id = randomUUID().toUpperCase();
    const cmd = new FakeCommand(
      { id, shellId: shell.id, line, ...(resolved.psScript !== undefined ? { psScript: resolved.psScript } : {}) },
      resolved,
      { codepage: shell.codepage, maxChunkBytes: this.opts.maxChunkBytes, splitUtf8: this.opts.splitUtf8 },
      this.opts.entries,
      ctx,
    );
    const unknown = (what: string): void => {
      if (!this.opts.allowUnknown) this.opts.lint('unknown-command', `no script entry matches ${what}`);
    };
    if (resolved.unknown) unknown(resolved.psScript !== undefined ? `PowerShell script ${JSON.stringify(resolved.psScript)}` : `command line ${JSON.stringify(line)}`);
    cmd.onUnknown = (script) => unknown(`PowerShell script (stdin) ${JSON.stringify(script)}`);
    shell.commandIds.push(id);
    this.live.set(id, cmd);
    this.commands.push(cmd.info);
    const body = `<rsp:CommandResponse><rsp:CommandId>${id}</rsp:CommandId></rsp:CommandResponse>`;
    return { result: { body, action: `${ACTIONS.Command}Response` }, info: cmd.info };
  }

  private liveCommand(shell: FakeShell, id: string): FakeCommand | undefined {
    const cmd = this.live.get(id.toUpperCase());
    return cmd && cmd.info.shellId === shell.id ? cmd : undefined;
  }

  /** The long-poll (§2.5): waits for output up to `timeoutMs`, coalesces, and stays within `maxEnvelope`. */
  async receive(shell: FakeShell, commandId: string, timeoutMs: number, maxEnvelope: number, gone: AbortSignal): Promise<OpResult> {
    const cmd = this.liveCommand(shell, commandId);
    if (!cmd) return { fault: 'InvalidSelectors' };
    cmd.info.receives++;
    if (cmd.info.doneDelivered) {
      this.opts.lint('receive-after-done', `Receive on command ${cmd.info.id} after CommandState Done was delivered`);
      return { fault: 'InvalidSelectors' };
    }
    this.hotLoopCheck(cmd);
    cmd.pendingSupersede?.();
    const mine = new AbortController();
    const superseded = (): void => mine.abort();
    cmd.pendingSupersede = superseded;
    const stop = AbortSignal.any([mine.signal, gone, this.stopping.signal]);
    try {
      const ready = await cmd.waitReady(timeoutMs, stop);
      if (gone.aborted || this.stopping.signal.aborted) return { gone: true };
      if (!ready || mine.signal.aborted) return { fault: 'TimedOut' };
      // Coalesce: let closely spaced writes land in one response, as the host's buffering does.
      if (!cmd.finished) await sleep(this.opts.coalesceMs, undefined, { signal: stop }).catch(() => undefined);
      if (gone.aborted || this.stopping.signal.aborted) return { gone: true };
      if (!this.live.has(cmd.info.id)) return { fault: 'InvalidSelectors' };
      cmd.receiveTimes.pop(); // a Receive that delivers output is never part of a hot loop
      return { body: this.drain(cmd, maxEnvelope), action: `${ACTIONS.Receive}Response` };
    } finally {
      if (cmd.pendingSupersede === superseded) cmd.pendingSupersede = undefined;
    }
  }

  private hotLoopCheck(cmd: FakeCommand): void {
    const now = Date.now();
    cmd.receiveTimes = cmd.receiveTimes.filter((t) => now - t < 1000);
    cmd.receiveTimes.push(now);
    if (cmd.receiveTimes.length === 21) {
      this.opts.lint('hot-loop', `more than 20 Receives within one second on command ${cmd.info.id}`);
    }
  }

  /** Takes buffered chunks into one ReceiveResponse no larger than `maxEnvelope` bytes. */
  private drain(cmd: FakeCommand, maxEnvelope: number): string {
    const id = cmd.info.id;
    // Room for the envelope, the header and the CommandState element (measured ≈ 1.1 KB; keep a margin).
    let budget = maxEnvelope - 1600;
    let streams = '';
    while (cmd.queue.length > 0) {
      const chunk = cmd.queue[0]!;
      const overhead = `<rsp:Stream Name="${chunk.stream}" CommandId="${id}"></rsp:Stream>`.length;
      const room = Math.floor(((budget - overhead) * 3) / 4 / 3) * 3;
      if (room <= 0) break;
      let bytes = chunk.bytes;
      if (bytes.length > room) {
        if (streams !== '') break; // the rest goes into the next Receive
        bytes = bytes.subarray(0, room);
        chunk.bytes = chunk.bytes.subarray(room);
      } else {
        cmd.queue.shift();
      }
      const el = `<rsp:Stream Name="${chunk.stream}" CommandId="${id}">${bytes.toString('base64')}</rsp:Stream>`;
      streams += el;
      budget -= el.length;
    }
    let state = `<rsp:CommandState CommandId="${id}" State="${STATE_URI}Running"/>`;
    if (cmd.finished && cmd.queue.length === 0) {
      streams += `<rsp:Stream Name="stdout" CommandId="${id}" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="${id}" End="true"></rsp:Stream>`;
      state = `<rsp:CommandState CommandId="${id}" State="${STATE_URI}Done"><rsp:ExitCode>${(cmd.info.exitCode ?? 0) >>> 0}</rsp:ExitCode></rsp:CommandState>`;
      cmd.info.doneDelivered = true;
    }
    return `<rsp:ReceiveResponse>${streams}${state}</rsp:ReceiveResponse>`;
  }

  send(shell: FakeShell, commandId: string, bytes: Buffer, end: boolean): OpResult {
    const cmd = this.liveCommand(shell, commandId);
    if (!cmd) return { fault: 'InvalidSelectors' };
    cmd.send(bytes, end);
    return { body: `<rsp:SendResponse/>`, action: `${ACTIONS.Send}Response` };
  }

  signal(shell: FakeShell, commandId: string, code: string): OpResult {
    const cmd = this.liveCommand(shell, commandId);
    if (!cmd) return { fault: 'InvalidSelectors' };
    cmd.info.signals.push(code);
    if (code === 'terminate') {
      cmd.kill('terminated');
      this.live.delete(cmd.info.id);
    } else {
      cmd.ctrlC();
    }
    return { body: `<rsp:SignalResponse/>`, action: `${ACTIONS.Signal}Response` };
  }

  delete(shell: FakeShell): OpResult {
    this.dropShell(shell, 'deleted');
    return { body: '', action: `${ACTIONS.Delete}Response` };
  }

  /** Stops every command and timer; returns what was still open, for the lints. */
  close(): { openShells: ShellInfo[]; uncleaned: CommandInfo[] } {
    this.stopping.abort();
    const openShells = [...this.shells.values()].map(({ idle: _idle, ...info }) => info);
    const uncleaned = [...this.live.values()].map((c) => c.info);
    for (const shell of [...this.shells.values()]) this.dropShell(shell, 'deleted');
    for (const cmd of this.live.values()) cmd.kill('deleted');
    this.live.clear();
    return { openShells, uncleaned };
  }
}
