/**
 * The one-liner for custom handlers: Zato's `for row in session.callproc(name, args, use_yield=True)`
 * becomes `for await (const row of callproc(ctx, 'crm', 'get_orders', [42])) { … }`. It runs a
 * streamed `sql.callproc` job as the calling job's principal (so the SQL ACL applies to it), reads it
 * with backpressure through `broker.jobs.stream()`, and yields rows one at a time. Leaving the loop
 * early cancels the job, which cancels the statement on the database.
 */
import type { JobResult } from '../../schemas/job.js';
import { SQL_CALLPROC_TYPE, type SqlCallprocInput, type SqlCallprocStreamed } from '../../schemas/sql.js';
import type { JobContext } from '../types.js';
import type { SqlArgs } from './types.js';

/** Options of {@link callproc}. */
export interface CallprocOptions {
  /** Rows per chunk on the wire (default 500); rows are still yielded one at a time. */
  chunkRows?: number;
  /** PostgreSQL: `function`, `procedure`, or `auto` (default). */
  routine?: 'auto' | 'function' | 'procedure';
  /** Called before the first row of result set `index` ≥ 1 (a procedure with several SELECTs). */
  onResultSet?: (index: number, columns: string[]) => void;
  /** Called once after the last row with the call's summary (OUT parameters, return value, row counts). */
  onSummary?: (summary: SqlCallprocStreamed) => void;
  /** Job deadline, ms (default: the broker's). */
  timeoutMs?: number;
}

/** Streams the rows of `procedure` on `connection`, one at a time. */
export async function* callproc(
  ctx: JobContext, connection: string, procedure: string, args: SqlArgs = [], opts: CallprocOptions = {},
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  const input: SqlCallprocInput = {
    connection, procedure, args, stream: true,
    ...(opts.chunkRows === undefined ? {} : { chunkRows: opts.chunkRows }),
    ...(opts.routine === undefined ? {} : { routine: opts.routine }),
  };
  const reader = ctx.broker.jobs.stream({
    type: SQL_CALLPROC_TYPE, input, principal: ctx.job.principal,
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  });
  // The iteration reports a failure itself; this keeps the second copy from going unhandled.
  reader.result.catch(() => undefined);
  let finished = false;
  try {
    for await (const chunk of reader) {
      for (const item of chunk) {
        if (isMarker(item)) opts.onResultSet?.(item.$resultSet, item.columns);
        else yield item as Record<string, unknown>;
      }
    }
    finished = true;
    const result: JobResult = await reader.result;
    if (opts.onSummary && result.output) opts.onSummary(result.output as SqlCallprocStreamed);
  } finally {
    // A caller that broke out of its loop (or threw) no longer wants rows: stop the job and the statement.
    if (!finished) await reader.cancel().catch(() => undefined);
  }
}

function isMarker(item: unknown): item is { $resultSet: number; columns: string[] } {
  if (!item || typeof item !== 'object') return false;
  const o = item as Record<string, unknown>;
  return typeof o['$resultSet'] === 'number' && Array.isArray(o['columns']) && Object.keys(o).length === 2;
}
