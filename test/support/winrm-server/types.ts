/**
 * The test server's public types: configuration, injection rules, request records and lints.
 */
import type { ServerAuthConfig } from './auth.js';
import type { ActionName, FaultName, FaultSpec } from './envelope.js';
import type { ScriptEntry } from './scripts.js';

/** Kinds of lint; each fails `close()` unless allowed. */
export type LintKind =
  | 'duplicate-message-id' | 'open-shell' | 'command-not-cleaned' | 'receive-after-done' | 'hot-loop'
  | 'plaintext-ntlm' | 'unknown-command';

/** One protocol-hygiene finding. */
export interface Lint {
  kind: LintKind;
  message: string;
}

/** Fault and chaos injection (§3.6). Counts only SOAP requests of `action` made after `inject()`. */
export interface InjectRule {
  /** Default '*' (any action). */
  action?: ActionName | '*';
  /** Fire on the nth matching request (1-based); default 1. */
  nth?: number;
  /** Fire on this many consecutive matching requests from the nth; default 1. */
  times?: number;
  /** Answer with a canned (or custom) fault instead of running the operation. */
  fault?: FaultName | FaultSpec;
  /** Answer with this raw HTTP status/body instead of running the operation. */
  http?: { status: number; body?: string; contentType?: string };
  /** Answer 401 and forget the connection's NTLM context (forces a re-handshake). */
  auth401?: boolean;
  /** Read the request, do not run it, destroy the socket. */
  dropBeforeResponse?: boolean;
  /** Run the request, then destroy the socket instead of answering (the response is lost in transit). */
  dropResponse?: boolean;
  /** Run the request, write the headers and half the body, destroy the socket. */
  dropMidBody?: boolean;
  /** Hold the response this long. */
  delayMs?: number;
  /** Answer with `Connection: close` and close the socket. */
  closeAfterResponse?: boolean;
}

/** What the server records per HTTP request (§3.7). */
export interface RequestRecord {
  socketId: number;
  tls: boolean;
  /** CN of the client certificate, when one was presented. */
  clientCert?: string;
  authScheme: 'basic' | 'ntlm' | null;
  user?: string;
  /** Why authentication failed (never contains a secret). */
  authFailure?: string;
  encrypted: boolean;
  action?: ActionName;
  messageId?: string;
  shellId?: string;
  commandId?: string;
  options?: Record<string, string>;
  operationTimeoutMs?: number;
  maxEnvelope?: number;
  commandLine?: string;
  psScript?: string;
  stdin?: string;
  signal?: string;
  /** Set on the NTLM leg answered with a CHALLENGE (one per handshake). */
  authLeg?: 'challenge';
  /** Plaintext SOAP bytes of the response (before encryption). */
  responseBytes?: number;
  /** HTTP status sent; 0 = the connection was dropped instead. */
  status: number;
  /** Fault subcode (or code) sent, injected or not. */
  fault?: string;
  /** The injected effect, when a rule fired. */
  injected?: string;
}

/** Configuration of `createWinRMServer`. Every default mirrors a stock Windows Server (§2.13) unless noted. */
export interface WinRMServerConfig {
  auth: ServerAuthConfig;
  /** HTTPS with the committed test CA's server certificate; `clientCert` requests (or requires) a client certificate. */
  https?: boolean | { clientCert?: 'request' | 'require' };
  /** Service/AllowUnencrypted; default false (plaintext over HTTP → 401). */
  allowUnencrypted?: boolean;
  /** Default 'WIN-FAKE01'. */
  hostname?: string;
  /** MaxTimeoutms cap of OperationTimeout; default 60000. */
  maxTimeoutMs?: number;
  /** Winrs/MaxShellsPerUser; default 30. */
  maxShellsPerUser?: number;
  /** Winrs/IdleTimeout; default 7 200 000 ms. */
  idleTimeoutMs?: number;
  /** How long a Receive waits after the first output to gather more; default 20 ms. */
  coalesceMs?: number;
  /** Largest rsp:Stream payload; default 1024 bytes. */
  maxChunkBytes?: number;
  /** Cut chunks inside multi-byte UTF-8 characters (all commands); default false. */
  splitUtf8?: boolean;
  /** Unknown commands answer 9009 without failing the test; default false. */
  allowUnknown?: boolean;
  /** Lints that do not fail `close()`. */
  allowLints?: LintKind[];
  /** Initial script entries (first match wins; built-ins and the Zato examples come after). */
  script?: ScriptEntry[];
}
