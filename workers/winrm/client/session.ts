/**
 * `createWinRMClient`: runCmd / runPs as pywinrm's `Session.run_cmd` / `run_ps` do them: per run a new
 * connection and shell, Create → Command → (Send) → Receive until Done → Signal terminate → Delete.
 * Timeouts, cancellation and output limits all end in Signal + Delete so no shell is left open.
 */
import { cleanClixml } from './clixml.js';
import { WinRMCancelledError, WinRMError } from './errors.js';
import { RemoteShell, type ShellSettings } from './shell.js';
import { WinRMTransport, type TransportOptions } from './transport.js';
import type { RunOptions, RunResult, WinRMClient, WinRMOptions } from './types.js';

/** Default per-stream output cap, bytes. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** cmd.exe's line limit is 8191 characters; past this many the PowerShell script goes over stdin. */
export const PS_MAX_LINE = 8000;
/** Prepended to every runPs script so progress records do not land on stderr as CLIXML. */
export const PS_PREFIX = "$ProgressPreference='SilentlyContinue';";
const PS_EXE = 'powershell.exe';
const PS_ARGS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand'];
/**
 * The stdin bootstrap for long scripts: reads base64(UTF-8 script) from stdin until EOF and runs it.
 * base64 keeps the stdin bytes ASCII whatever the console's input encoding is.
 */
export const PS_STDIN_BOOTSTRAP =
  "$s=[Console]::In.ReadToEnd();& ([scriptblock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($s.Trim()))))";
/** Raw bytes per Send (base64-encoded in the envelope), well under a 150 KB MaxEnvelopeSizekb. */
const SEND_CHUNK = 48 * 1024;

/** The `powershell.exe … -EncodedCommand <b64>` arguments for a script (prefix included). */
export function encodePs(script: string): string[] {
  return [...PS_ARGS, Buffer.from(PS_PREFIX + script, 'utf16le').toString('base64')];
}

interface Resolved {
  transport: TransportOptions;
  shell: ShellSettings;
}

function resolve(opts: WinRMOptions): Resolved {
  let endpoint: URL;
  try {
    endpoint = new URL(opts.endpoint);
  } catch {
    throw new TypeError('WinRM endpoint must be an http(s) URL such as http://host:5985/wsman');
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new TypeError('WinRM endpoint must use http or https');
  const operationTimeoutSec = opts.operationTimeoutSec ?? 20;
  if (!Number.isInteger(operationTimeoutSec) || operationTimeoutSec < 1) throw new TypeError('operationTimeoutSec must be a positive integer');
  const readTimeoutMs = opts.readTimeoutMs ?? (operationTimeoutSec + 10) * 1000;
  if (readTimeoutMs <= operationTimeoutSec * 1000) throw new TypeError('readTimeoutMs must exceed operationTimeoutSec × 1000');
  const mode = opts.messageEncryption ?? 'auto';
  if (mode === 'always' && opts.auth.type !== 'ntlm') throw new TypeError('messageEncryption "always" needs NTLM authentication');
  const encrypt = opts.auth.type === 'ntlm' && (mode === 'always' || (mode === 'auto' && endpoint.protocol === 'http:'));
  return {
    transport: { endpoint, auth: opts.auth, tls: opts.tls, encrypt, readTimeoutMs },
    shell: { to: endpoint.href, maxEnvelopeSize: opts.maxEnvelopeSize ?? 153600, operationTimeoutSec, codepage: opts.codepage ?? 65001 },
  };
}

/** A client for one host; each run opens its own connection and shell. */
export function createWinRMClient(opts: WinRMOptions): WinRMClient {
  const resolved = resolve(opts);
  const active = new Set<{ abort(): void; done: Promise<unknown> }>();
  let closed = false;

  async function tracked(line: { command: string; args: string[] }, ro: RunOptions, extra: { stdin?: Buffer; ps?: boolean }): Promise<RunResult> {
    if (closed) throw new WinRMCancelledError('the WinRM client is closed');
    const closer = new AbortController();
    const entry = { abort: () => closer.abort(), done: Promise.resolve() as Promise<unknown> };
    const p = runOnce(resolved, line, ro, extra, closer.signal);
    entry.done = p.catch(() => undefined);
    active.add(entry);
    try {
      return await p;
    } finally {
      active.delete(entry);
    }
  }

  return {
    runCmd(command, args = [], ro = {}) {
      return tracked({ command, args }, ro, {});
    },
    runPs(script, ro = {}) {
      const args = encodePs(script);
      const lineLength = [PS_EXE, ...args].join(' ').length;
      if (lineLength <= PS_MAX_LINE) return tracked({ command: PS_EXE, args }, ro, { ps: true });
      const stdin = Buffer.from(Buffer.from(script, 'utf8').toString('base64') + '\r\n', 'latin1');
      return tracked({ command: PS_EXE, args: encodePs(PS_STDIN_BOOTSTRAP) }, ro, { ps: true, stdin });
    },
    async close() {
      closed = true;
      const runs = [...active];
      for (const r of runs) r.abort();
      await Promise.all(runs.map((r) => r.done));
    },
  };
}

async function runOnce(
  r: Resolved,
  line: { command: string; args: string[] },
  ro: RunOptions,
  extra: { stdin?: Buffer; ps?: boolean },
  closing: AbortSignal,
): Promise<RunResult> {
  if (ro.signal?.aborted) throw new WinRMCancelledError('the run was cancelled before it started');
  const stop = new AbortController();
  let reason: 'timeout' | 'cancel' | undefined;
  const onCancel = (): void => {
    reason ??= 'cancel';
    stop.abort();
  };
  ro.signal?.addEventListener('abort', onCancel, { once: true });
  closing.addEventListener('abort', onCancel, { once: true });
  const timer = ro.timeoutMs === undefined ? undefined : setTimeout(() => {
    reason ??= 'timeout';
    stop.abort();
  }, ro.timeoutMs);

  const transport = new WinRMTransport(r.transport);
  const shell = new RemoteShell(transport, r.shell);
  const max = ro.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const size = { stdout: 0, stderr: 0 };
  let commandId: string | undefined;
  let commandStarted = false;
  let exitCode: number | null = null;
  let truncated = false;
  let failure: unknown;
  try {
    // Create and Command are not aborted mid-flight: a lost answer would leave a shell we cannot name.
    await shell.create({ env: ro.env, workingDirectory: ro.workingDirectory });
    if (stop.signal.aborted) throw new WinRMCancelledError('stopped before the command was sent');
    commandStarted = true;
    commandId = await shell.command(line.command, line.args);
    if (extra.stdin) {
      for (let at = 0; at < extra.stdin.length; at += SEND_CHUNK) {
        await shell.send(commandId, extra.stdin.subarray(at, at + SEND_CHUNK), at + SEND_CHUNK >= extra.stdin.length, stop.signal);
      }
    }
    for (;;) {
      if (stop.signal.aborted) throw new WinRMCancelledError('stopped');
      const res = await shell.receive(commandId, stop.signal);
      if (!res) continue; // w:TimedOut: nothing new within OperationTimeout
      for (const c of res.chunks) {
        const room = max - size[c.stream];
        const data = c.data.length > room ? c.data.subarray(0, Math.max(0, room)) : c.data;
        if (data.length > 0) {
          out[c.stream].push(data);
          size[c.stream] += data.length;
          ro.onOutput?.(c.stream, data);
        }
        if (c.data.length > room) truncated = true;
      }
      if (truncated) break;
      if (res.done) {
        exitCode = res.exitCode;
        break;
      }
    }
  } catch (err) {
    failure = err;
  } finally {
    if (timer) clearTimeout(timer);
    ro.signal?.removeEventListener('abort', onCancel);
    closing.removeEventListener('abort', onCancel);
  }

  // Cleanup runs without the run's signal, bounded by the read timeout per request.
  try {
    if (commandId !== undefined) await shell.signal(commandId).catch(() => undefined);
    await shell.delete().catch(() => undefined);
  } finally {
    await transport.close();
  }

  const timedOut = reason === 'timeout';
  if (failure !== undefined && !timedOut) {
    const err = reason === 'cancel'
      ? new WinRMCancelledError('the run was cancelled; the command was terminated and its shell deleted', { cause: failure })
      : failure;
    if (err instanceof WinRMError) err.commandStarted = commandStarted;
    throw err;
  }
  const stdoutBytes = Buffer.concat(out.stdout);
  const stderrBytes = Buffer.concat(out.stderr);
  const stderrText = decode(stderrBytes, r.shell.codepage);
  const result: RunResult = {
    stdout: decode(stdoutBytes, r.shell.codepage),
    stderr: extra.ps ? cleanClixml(stderrText) : stderrText,
    exitCode: timedOut || truncated ? null : exitCode,
    timedOut,
    truncated,
    stdoutBytes,
    stderrBytes,
  };
  if (extra.ps) result.rawStderr = stderrText;
  return result;
}

// CP437 bytes 0x80–0xFF.
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

/** Decodes a whole stream once (so a character split across chunks is intact). */
export function decode(bytes: Buffer, codepage: number): string {
  if (codepage !== 437) return new TextDecoder('utf-8').decode(bytes);
  let s = '';
  for (const b of bytes) s += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return s;
}
