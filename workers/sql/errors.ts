/**
 * Driver errors → `JobFailure`s with stable codes. A failure before the statement was sent (DNS,
 * refused, TLS, login, unknown database, connect timeout) is `SB_ERR_SQL_UNREACHABLE` and retryable:
 * nothing ran. A failure once the call was sent is `SB_ERR_SQL_FAILED` and not retryable: the database
 * said no (its own code is in the message: a PostgreSQL SQLSTATE, a MySQL error name and number), or the
 * connection broke while the call may already have changed data.
 *
 * Only the driver's message is used, never the SQL text or parameter values, and any secret passed in
 * (the password) is scrubbed from it all the same.
 */
import { scrubSecrets } from '../../broker/secrets.js';
import { JobFailure } from '../types.js';
import type { SqlKind } from './types.js';

/** Where the error happened: getting a connection (login included), or running the call. */
export type SqlPhase = 'connect' | 'call';

const MAX_MESSAGE = 1000;

interface DriverError {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  severity?: unknown;
}

/** The failure for `err`, raised by a `kind` driver in `phase`. */
export function sqlFailure(kind: SqlKind, err: unknown, phase: SqlPhase, secrets: readonly string[] = []): JobFailure {
  if (err instanceof JobFailure) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as DriverError;
  const raw = typeof e.message === 'string' && e.message !== '' ? e.message : err instanceof Error ? err.name : 'unknown error';
  const text = scrub(raw, secrets);
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code) : undefined;

  if (phase === 'connect') {
    const tag = code === undefined ? '' : ` (${code})`;
    return new JobFailure('SB_ERR_SQL_UNREACHABLE', `${kind}: cannot connect${tag}: ${text}`, { retryable: true });
  }
  if (isDatabaseError(kind, e)) {
    return new JobFailure('SB_ERR_SQL_FAILED', `${kind} ${databaseCode(kind, e)}: ${text}`, { retryable: false });
  }
  // A socket error mid-call: the statement may have run, so no retry.
  const tag = code === undefined ? '' : ` (${code})`;
  return new JobFailure('SB_ERR_SQL_FAILED', `${kind}: the connection failed during the call${tag}: ${text}`, { retryable: false });
}

/** Whether the error came from the database server (not from the socket or the driver). */
function isDatabaseError(kind: SqlKind, e: DriverError): boolean {
  switch (kind) {
    case 'postgres':
      return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && e.severity !== undefined;
    case 'mysql':
    case 'mariadb':
      return typeof e.errno === 'number' && typeof e.sqlState === 'string';
    case 'mssql':
      return typeof (e as { number?: unknown }).number === 'number';
  }
}

function databaseCode(kind: SqlKind, e: DriverError): string {
  switch (kind) {
    case 'postgres':
      return String(e.code);
    case 'mysql':
    case 'mariadb':
      return typeof e.code === 'string' ? `${e.code} (${String(e.errno)})` : String(e.errno);
    case 'mssql':
      return String((e as { number?: unknown }).number);
  }
}

function scrub(message: string, secrets: readonly string[]): string {
  const out = scrubSecrets(message, secrets);
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}
