/**
 * The WinRM client's public contract (../shared/ref/winrm.md §1.4). Implemented in this folder:
 * `session.ts` (runCmd/runPs), `shell.ts`, `soap.ts`, `transport.ts` (undici, one Client per run),
 * `ntlm.ts`, `encryption.ts`, `clixml.ts`, `errors.ts`. The test server in test/support/winrm-server
 * reuses `ntlm.ts` and `encryption.ts` (acceptor side).
 */

/** How to authenticate. NTLM goes through the `Negotiate` scheme with raw NTLMSSP tokens. */
export type WinRMAuth =
  | { type: 'basic'; username: string; password: string }
  /** `domain` '' or '.' = local account; `username` may also be `DOMAIN\\user` or `user@domain`. */
  | { type: 'ntlm'; username: string; password: string; domain?: string };

export interface WinRMTls {
  /** PEM CA bundle(s) to trust instead of the system store. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Default true. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface WinRMOptions {
  /** `http(s)://host:5985|5986/wsman` */
  endpoint: string;
  auth: WinRMAuth;
  tls?: WinRMTls;
  /** auto (default): encrypt when NTLM over http; never: send plaintext (host must AllowUnencrypted). */
  messageEncryption?: 'auto' | 'always' | 'never';
  /** w:OperationTimeout of Receive long-polls, seconds; default 20. */
  operationTimeoutSec?: number;
  /** Per-HTTP-request read timeout, ms; default (operationTimeoutSec + 10) · 1000. Must exceed the operation timeout. */
  readTimeoutMs?: number;
  /** WINRS_CODEPAGE; default 65001 (UTF-8). 437 is decoded through a CP437 table. */
  codepage?: 65001 | 437;
  /** w:MaxEnvelopeSize; default 153600. */
  maxEnvelopeSize?: number;
}

export interface RunOptions {
  /** Overall deadline: on expiry the client sends Signal terminate + Delete and resolves with timedOut: true. */
  timeoutMs?: number;
  /** Abort = cancel: Signal terminate + Delete, then rejects with WinRMCancelledError. */
  signal?: AbortSignal;
  /** Called per decoded chunk (e.g. to call working()). */
  onOutput?(stream: 'stdout' | 'stderr', bytes: Buffer): void;
  /** Stop collecting (and terminate) past this many bytes per stream; default 16 MiB; result.truncated = true. */
  maxOutputBytes?: number;
  env?: Record<string, string>;
  workingDirectory?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** null when the command did not finish (timedOut / truncated). */
  exitCode: number | null;
  timedOut: boolean;
  truncated: boolean;
  stdoutBytes: Buffer;
  stderrBytes: Buffer;
  /** runPs only: stderr as the host sent it (CLIXML), before cleanup. */
  rawStderr?: string;
}

/** One configured host. Each run opens its own connection and shell (Receive long-polls would block each other). */
export interface WinRMClient {
  runCmd(command: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  /** `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand <utf16le b64>`; stderr CLIXML cleaned. */
  runPs(script: string, opts?: RunOptions): Promise<RunResult>;
  /** Closes pooled resources; idempotent. */
  close(): Promise<void>;
}
