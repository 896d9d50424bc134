/**
 * The WinRM client's errors. Messages are built from safe parts only (status, WS-Man code and reason,
 * errno): never a password, an Authorization header or a request body. `phase` says which exchange
 * failed; `commandStarted` whether the host may already have run the command (callers retry only when
 * it is false).
 */

/** Which exchange failed. `connect` = before any HTTP response (DNS, TCP, TLS). */
export type WinRMPhase = 'connect' | 'auth' | 'create' | 'command' | 'send' | 'receive' | 'signal' | 'delete';

/** Base class; `name` is the subclass name (handlers recognise errors by name). */
export class WinRMError extends Error {
  phase?: WinRMPhase;
  /** True once a Command request was sent: the host may have run it, so the run must not be replayed blindly. */
  commandStarted?: boolean;

  constructor(message: string, opts: { cause?: unknown; phase?: WinRMPhase } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    if (opts.phase) this.phase = opts.phase;
  }
}

/** HTTP 401: credentials rejected, or the scheme is not offered by the host. */
export class WinRMAuthError extends WinRMError {
  readonly httpStatus: number;
  /** Basic was used and the host's 401 did not list `Basic` (Auth/Basic=false on the host). */
  readonly basicNotOffered: boolean;
  /** The schemes the host offered (`WWW-Authenticate` scheme names), e.g. ['Negotiate', 'Basic']. */
  readonly offered: string[];

  constructor(message: string, opts: { httpStatus?: number; basicNotOffered?: boolean; offered?: string[]; cause?: unknown; phase?: WinRMPhase } = {}) {
    super(message, opts);
    this.httpStatus = opts.httpStatus ?? 401;
    this.basicNotOffered = opts.basicNotOffered ?? false;
    this.offered = opts.offered ?? [];
  }
}

/** A SOAP fault from the host (HTTP 500 with an s:Fault body). */
export class WSManFaultError extends WinRMError {
  readonly httpStatus: number;
  /** s:Code/s:Value, e.g. `s:Sender`. */
  readonly code: string;
  /** s:Subcode/s:Value, e.g. `w:InvalidSelectors`. */
  readonly subcode: string | undefined;
  /** f:WSManFault/@Code or MSFT_WmiError/error_Code, e.g. `2150858843`. */
  readonly wsmanCode: string | undefined;
  /** s:Reason/s:Text (plus the WSManFault message when it says more). */
  readonly reason: string;
  readonly machine: string | undefined;
  /** The fault XML as received (no request data in it), at most 4 KiB. */
  readonly raw: string;

  constructor(f: { httpStatus: number; code: string; subcode?: string; wsmanCode?: string; reason: string; machine?: string; raw: string; phase?: WinRMPhase }) {
    const code = f.wsmanCode ?? f.subcode ?? f.code;
    super(`WS-Management fault ${code}${f.subcode && f.subcode !== code ? ` (${f.subcode})` : ''}: ${f.reason}`, { phase: f.phase });
    this.httpStatus = f.httpStatus;
    this.code = f.code;
    this.subcode = f.subcode;
    this.wsmanCode = f.wsmanCode;
    this.reason = f.reason;
    this.machine = f.machine;
    this.raw = f.raw.slice(0, 4096);
  }

  /** The w:TimedOut long-poll expiry (WSMan 2150858793): not an error for Receive. */
  get isTimedOut(): boolean {
    return this.wsmanCode === WSMAN_TIMED_OUT || /(^|:)TimedOut$/.test(this.subcode ?? '');
  }

  /** Unknown ShellId or CommandId (WSMan 2150858843). */
  get isInvalidSelectors(): boolean {
    return this.wsmanCode === WSMAN_INVALID_SELECTORS || /(^|:)InvalidSelectors$/.test(this.subcode ?? '');
  }
}

/** WSMan code of the OperationTimeout expiry. */
export const WSMAN_TIMED_OUT = '2150858793';
/** WSMan code of an unknown shell or command. */
export const WSMAN_INVALID_SELECTORS = '2150858843';

/** Socket errors, TLS errors, non-XML error bodies, unexpected statuses (503, 400…), bad encryption. */
export class WinRMTransportError extends WinRMError {
  readonly httpStatus: number | undefined;
  /** errno-style code of the cause, e.g. `ECONNREFUSED`, `UND_ERR_SOCKET`. */
  readonly code: string | undefined;

  constructor(message: string, opts: { httpStatus?: number; code?: string; cause?: unknown; phase?: WinRMPhase } = {}) {
    super(message, opts);
    this.httpStatus = opts.httpStatus;
    this.code = opts.code;
  }
}

/** No response within `readTimeoutMs`. The connection is dropped. */
export class WinRMTimeoutError extends WinRMError {}

/** The run's AbortSignal fired; the command was terminated and its shell deleted (best effort). */
export class WinRMCancelledError extends WinRMError {}

/** The errno-style code on an error or its causes. */
export function errnoOf(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  }
  return undefined;
}
