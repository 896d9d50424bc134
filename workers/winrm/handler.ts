/**
 * The `winrm.exec` job handler: the Zato WinRM service rebuilt on the job pipeline. Input
 * `{host, type, data, timeoutMs?}`; output `{exec_code, status_code?, stdout?, stderr?, details?}` with
 * Zato's `skip_empty_keys`. Order of checks: type (Zato's "Invalid type"), command ACL (a denied command
 * never reaches the host), host definition, then the run. docs/winrm.md, "winrm.exec job".
 */
import type { Logger } from '../../broker/log.js';
import { WINRM_EXEC_TYPE, WinrmExecInput, WinrmExecOutput } from '../../schemas/winrm.js';
import { processKeyring, scrubSecrets, type Keyring } from '../../broker/secrets.js';
import { JobFailure, abortedFailure, type JobContext, type JobHandler } from '../types.js';
import { mayRun, type WinrmCommandType } from './acl.js';
import type { RunOptions, RunResult } from './client/types.js';
import { WinrmHosts, type HostEntry, type WinRMClientFactory } from './hosts.js';

/** What an aborted run did to the command (the text of its failure). */
const STOPPED = 'the command was stopped and its shell deleted';

/** Options of {@link createWinrmHandler}. */
export interface WinrmHandlerOptions {
  /** Builds a client per host definition; default the project's WinRM client (`createWinRMClient`). */
  clientFactory?: WinRMClientFactory;
  /** The master keys that open host credentials; default `SB_MASTER_KEYS` / `SB_MASTER_KEYS_FILE`. */
  keyring?: () => Keyring;
}

// Output is reported to the runtime at most this often (working() per chunk would be one KV write per chunk).
const WORKING_EVERY_MS = 1000;

/** The WinRM handler (STYLE §19: `WinrmHandler`). */
export class WinrmHandler implements JobHandler<WinrmExecInput, WinrmExecOutput> {
  readonly type = WINRM_EXEC_TYPE;
  readonly inputSchema = WinrmExecInput;
  readonly outputSchema = WinrmExecOutput;
  private hosts: WinrmHosts | undefined;
  private initializing: Promise<void> | undefined;

  constructor(private readonly opts: WinrmHandlerOptions = {}) {}

  async init(ctx: { broker: JobContext['broker']; log: Logger }): Promise<void> {
    const factory = this.opts.clientFactory ?? (await defaultFactory());
    this.hosts?.close().catch(() => undefined);
    this.hosts = new WinrmHosts(ctx.broker.config, this.opts.keyring ?? processKeyring, factory, ctx.log.child({ part: 'winrm-hosts' }));
  }

  async close(): Promise<void> {
    await this.hosts?.close();
    this.hosts = undefined;
  }

  /** Commands running and waiting for a slot on `host` in this process (for the registry and tests). */
  hostStats(host: string): { running: number; waiting: number } {
    const entry = this.hosts?.peek(host);
    return { running: entry?.slots.running ?? 0, waiting: entry?.slots.waiting ?? 0 };
  }

  async handle(ctx: JobContext, input: WinrmExecInput): Promise<WinrmExecOutput> {
    if (input.type !== 'cmd' && input.type !== 'ps') return { exec_code: 'error', details: 'Invalid type' };
    const type: WinrmCommandType = input.type;
    const { principal } = ctx.job;
    if (!mayRun(ctx.broker.config, principal, input.host, type, input.data)) {
      // The command text stays out of the message: it may itself carry secrets.
      throw new JobFailure('SB_ERR_FORBIDDEN', `principal ${principal} may not run this ${type} command on host ${input.host} (winrm.acl.${principal})`);
    }
    const hosts = this.hosts ?? (await this.lazyInit(ctx));
    let entry: HostEntry | undefined;
    try {
      entry = hosts.get(input.host);
    } catch (e) {
      throw hostFailure(e, input.host);
    }
    if (!entry) throw new JobFailure('SB_ERR_JOB_INVALID_INPUT', `no WinRM host named ${input.host}`);
    hosts.begin(entry);
    try {
      return await this.run(ctx, entry, type, input);
    } finally {
      hosts.end(entry);
    }
  }

  private async run(ctx: JobContext, entry: HostEntry, type: WinrmCommandType, input: WinrmExecInput): Promise<WinrmExecOutput> {
    const release = await entry.slots.acquire(ctx.signal).catch(() => {
      throw abortedFailure(ctx, STOPPED);
    });
    const started = Date.now();
    ctx.log.info({ host: entry.name, type, chars: input.data.length }, 'winrm command starting');
    try {
      const result = await runOn(entry, type, input.data, runOptions(ctx, entry, input));
      ctx.log.info({ host: entry.name, type, exitCode: result.exitCode, timedOut: result.timedOut, truncated: result.truncated, ms: Date.now() - started }, 'winrm command finished');
      return toOutput(result, entry, input);
    } catch (e) {
      if (ctx.signal.aborted) throw abortedFailure(ctx, STOPPED);
      const details = scrubSecrets(describeWinrmError(e), entry.secrets);
      ctx.log.warn({ host: entry.name, type, error: details, ms: Date.now() - started }, 'winrm command failed');
      // Nothing ran on the host yet (no shell): safe to run again, so the runtime retries with backoff.
      if (isUnreachable(e)) throw new JobFailure('SB_ERR_WINRM_UNREACHABLE', `host ${entry.name}: ${details}`, { retryable: true });
      return { exec_code: 'error', details };
    } finally {
      release();
    }
  }

  // The runtime calls init(); this covers a handler used without it (one init even under concurrent jobs).
  private async lazyInit(ctx: JobContext): Promise<WinrmHosts> {
    this.initializing ??= this.init({ broker: ctx.broker, log: ctx.log });
    await this.initializing;
    return this.hosts as WinrmHosts;
  }
}

/** The handler as the worker runtime registers it. */
export function createWinrmHandler(opts: WinrmHandlerOptions = {}): WinrmHandler {
  return new WinrmHandler(opts);
}

async function defaultFactory(): Promise<WinRMClientFactory> {
  const { createWinRMClient } = await import('./client/index.js');
  return createWinRMClient;
}

function runOptions(ctx: JobContext, entry: HostEntry, input: WinrmExecInput): RunOptions {
  let last = 0;
  const opts: RunOptions = {
    signal: ctx.signal,
    maxOutputBytes: entry.maxOutputBytes,
    onOutput: () => {
      const now = Date.now();
      if (now - last < WORKING_EVERY_MS) return;
      last = now;
      ctx.working();
    },
  };
  // The job deadline is enforced by the runtime through ctx.signal (status timed_out); the input's own
  // timeoutMs is the caller's limit on the command, answered Zato-style as exec_code "error".
  if (input.timeoutMs !== undefined) opts.timeoutMs = input.timeoutMs;
  return opts;
}

function runOn(entry: HostEntry, type: WinrmCommandType, data: string, opts: RunOptions): Promise<RunResult> {
  return type === 'cmd' ? entry.client.runCmd(data, [], opts) : entry.client.runPs(data, opts);
}

/** Zato's `skip_empty_keys`: empty strings are left out; a 0 status code is kept. */
function toOutput(r: RunResult, entry: HostEntry, input: WinrmExecInput): WinrmExecOutput {
  const out: WinrmExecOutput = { exec_code: 'ok' };
  if (r.timedOut) {
    out.exec_code = 'error';
    out.details = `the command did not finish within ${input.timeoutMs ?? 0} ms; it was stopped`;
  } else if (r.truncated) {
    out.exec_code = 'error';
    out.details = `the command wrote more than ${entry.maxOutputBytes} bytes to one stream; it was stopped`;
  } else if (r.exitCode === null) {
    out.exec_code = 'error';
    out.details = 'the host reported no exit code';
  } else {
    out.status_code = r.exitCode;
  }
  if (r.stdout !== '') out.stdout = r.stdout;
  if (r.stderr !== '') out.stderr = r.stderr;
  // Key order as Zato's answers read: exec_code, status_code, stdout, stderr, details.
  return out.details === undefined ? out : { ...withoutDetails(out), details: out.details };
}

function withoutDetails(o: WinrmExecOutput): WinrmExecOutput {
  const { details: _details, ...rest } = o;
  return rest;
}

/** A host whose client cannot be built: its credentials do not open, or the definition is unusable. */
function hostFailure(e: unknown, host: string): JobFailure {
  if ((e as { code?: unknown }).code === 'SB_ERR_SECRETS_UNAVAILABLE' && e instanceof Error) {
    return new JobFailure('SB_ERR_SECRETS_UNAVAILABLE', `host ${host}: ${e.message}`);
  }
  // Not the message: a client constructor's error could quote the options it was given.
  return new JobFailure('SB_ERR_JOB_FAILED', `host ${host}: the host definition cannot be used (${e instanceof Error ? e.name : 'error'})`);
}

// Errors of the client (workers/winrm/client/errors.ts) are recognised by name, so this file needs no
// import of its classes: a message is built from safe parts only (class, HTTP status, WS-Man reason,
// errno code), never from a raw body, a header or a stack.
const ONE_LINE_MAX = 300;

function oneLine(s: unknown): string {
  return String(s ?? '').replace(/[\r\n\t]+/g, ' ').replace(/\s{2,}/g, ' ').trim().slice(0, ONE_LINE_MAX);
}

/** A safe one-line description of a WinRM failure. */
export function describeWinrmError(e: unknown): string {
  const err = (e ?? {}) as Record<string, unknown> & { name?: string; message?: string };
  const name = typeof err.name === 'string' ? err.name : 'Error';
  const status = typeof err['httpStatus'] === 'number' ? err['httpStatus'] : typeof err['status'] === 'number' ? err['status'] : undefined;
  switch (name) {
    case 'WinRMAuthError':
      return err['basicNotOffered'] === true
        ? `authentication failed${status ? ` (HTTP ${status})` : ''}: the host does not offer Basic; use ntlm or enable Auth/Basic`
        : `authentication failed${status ? ` (HTTP ${status})` : ''}: check the host definition's username and password`;
    case 'WSManFaultError': {
      const reason = oneLine(err['reason'] ?? err.message);
      const code = err['wsmanCode'] ?? err['subcode'] ?? err['code'];
      return `WS-Management fault${code ? ` ${oneLine(code)}` : ''}${reason ? `: ${reason}` : ''}`;
    }
    case 'WinRMTimeoutError':
      return `the host did not answer in time${err.message ? `: ${oneLine(err.message)}` : ''}`;
    case 'WinRMTransportError': {
      const code = errnoOf(e);
      const msg = oneLine(err.message);
      return `transport error${code && !msg.includes(code) ? ` ${code}` : ''}${msg ? `: ${msg}` : ''}`;
    }
    default: {
      const code = errnoOf(e);
      return code ? `WinRM call failed: ${code}` : `WinRM call failed (${oneLine(name)})`;
    }
  }
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Whether the failure happened before the host could have run anything, so a retry is safe: no
 * connection (phase `connect`), a connection lost during the auth handshake, or a 503 answering Create.
 * Never once `commandStarted`, never for a 401 (wrong credentials stay wrong) or a WS-Man fault.
 */
export function isUnreachable(e: unknown): boolean {
  const err = (e ?? {}) as Record<string, unknown>;
  const name = err['name'];
  if (err['commandStarted'] === true) return false;
  if (name !== 'WinRMTransportError' && name !== 'WinRMTimeoutError') return false;
  switch (err['phase']) {
    case 'connect':
    case 'auth':
      return true;
    case 'create':
      return err['httpStatus'] === 503;
    case undefined: {
      const code = errnoOf(e);
      return code !== undefined && UNREACHABLE_CODES.has(code);
    }
    default:
      return false;
  }
}

function errnoOf(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  }
  return undefined;
}
