/**
 * The `sql.callproc` job handler: calls a stored procedure (or, on PostgreSQL, a function) on a named
 * connection. Order of checks: the stream request (a streamed call needs a streaming reader), the
 * procedure name (`parseProcedureName`), the SQL ACL (a denied call never reaches the database), the
 * connection definition, then the driver. Buffered calls answer `{rows, resultSets?, outputParams,
 * returnValue, rowCounts}`; streamed calls send the rows to `ctx.stream` chunk by chunk, with
 * backpressure, and answer a summary. docs/sql.md, "sql.callproc".
 */
import type { Logger } from '../../broker/log.js';
import { processKeyring, scrubSecrets, type Keyring } from '../../broker/secrets.js';
import {
  SQL_CALLPROC_TYPE, SQL_CHUNK_ROWS_DEFAULT, SqlCallprocInput, SqlCallprocOutput,
  type SqlCallprocBuffered, type SqlCallprocStreamed, type SqlResultSetMarker,
} from '../../schemas/sql.js';
import { JobFailure, abortedFailure, type JobContext, type JobHandler, type JobStreamSink } from '../types.js';
import { assertMayCall } from './acl.js';
import { SqlConnections, type SqlConnEntry } from './connections.js';
import { parseProcedureName } from './identifiers.js';
import type { SqlCall, SqlDriverFactory, SqlKind } from './types.js';

/** A job result travels as one NATS message (1 MiB by default): larger buffered answers are refused. */
export const DEFAULT_MAX_RESULT_BYTES = 1024 * 1024;

/** Options of {@link createSqlCallprocHandler}. */
export interface SqlCallprocHandlerOptions {
  /** The driver of each database kind (builtin: pg, mysql2 for mysql and mariadb, mssql). */
  drivers: Record<SqlKind, SqlDriverFactory>;
  /** The master keys that open connection passwords; default `SB_MASTER_KEYS` / `SB_MASTER_KEYS_FILE`. */
  keyring?: () => Keyring;
  /** Largest buffered answer, bytes of JSON; default 1 MiB. */
  maxResultBytes?: number;
}

/** The stored-procedure handler (STYLE §19: `SqlCallprocHandler`). */
export class SqlCallprocHandler implements JobHandler<SqlCallprocInput, SqlCallprocOutput> {
  readonly type = SQL_CALLPROC_TYPE;
  readonly inputSchema = SqlCallprocInput;
  readonly outputSchema = SqlCallprocOutput;
  private conns: SqlConnections | undefined;
  private readonly maxResultBytes: number;

  constructor(private readonly opts: SqlCallprocHandlerOptions) {
    this.maxResultBytes = opts.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  }

  async init(ctx: { broker: JobContext['broker']; log: Logger }): Promise<void> {
    await this.conns?.close().catch(() => undefined);
    this.conns = new SqlConnections(ctx.broker.config, this.opts.keyring ?? processKeyring, this.opts.drivers, ctx.log.child({ part: 'sql-connections' }));
  }

  async close(): Promise<void> {
    await this.conns?.close();
    this.conns = undefined;
  }

  async handle(ctx: JobContext, input: SqlCallprocInput): Promise<SqlCallprocOutput> {
    // A reader that streams gets rows streamed unless the input says `stream: false`.
    const streaming = input.stream === true || (input.stream === undefined && ctx.stream !== undefined);
    if (streaming && !ctx.stream) {
      throw new JobFailure('SB_ERR_JOB_INVALID_INPUT', 'stream: true needs a streaming reader (POST /v1/jobs/sql.callproc with "stream": true read as NDJSON, switchboard sql call --stream, or broker.jobs.stream()); leave it out for a buffered answer');
    }
    parseProcedureName(input.procedure);
    assertMayCall(ctx.broker.config, ctx.job.principal, input.connection, input.procedure);
    // The runtime calls init(); this covers a handler used without it.
    this.conns ??= new SqlConnections(ctx.broker.config, this.opts.keyring ?? processKeyring, this.opts.drivers, ctx.log.child({ part: 'sql-connections' }));
    const entry = this.conns.get(input.connection);
    const call: SqlCall = { procedure: input.procedure, args: input.args ?? [], ...(input.routine ? { routine: input.routine } : {}) };
    const conns = this.conns;
    conns.begin(entry);
    const started = Date.now();
    ctx.log.info({ connection: entry.name, kind: entry.def.kind, procedure: input.procedure, stream: streaming }, 'sql call starting');
    try {
      const out = streaming
        ? await this.streamed(ctx, entry, call, input.chunkRows ?? SQL_CHUNK_ROWS_DEFAULT, ctx.stream as JobStreamSink)
        : await this.buffered(ctx, entry, call);
      ctx.log.info({ connection: entry.name, procedure: input.procedure, rowCounts: out.rowCounts, ms: Date.now() - started }, 'sql call finished');
      return out;
    } catch (e) {
      const failure = ctx.signal.aborted ? abortedFailure(ctx, 'the statement was cancelled') : safeFailure(e, entry);
      ctx.log.warn({ connection: entry.name, procedure: input.procedure, code: failure.code, error: failure.message, ms: Date.now() - started }, 'sql call failed');
      throw failure;
    } finally {
      conns.end(entry);
    }
  }

  private async buffered(ctx: JobContext, entry: SqlConnEntry, call: SqlCall): Promise<SqlCallprocBuffered> {
    const r = await entry.driver.call(call, ctx.signal);
    const out: SqlCallprocBuffered = {
      rows: r.rows,
      ...(r.resultSets && r.resultSets.length > 1 ? { resultSets: r.resultSets } : {}),
      outputParams: r.outputParams,
      returnValue: r.returnValue ?? null,
      rowCounts: r.rowCounts,
    };
    const bytes = Buffer.byteLength(JSON.stringify(out));
    if (bytes > this.maxResultBytes) {
      throw new JobFailure('SB_ERR_JOB_FAILED', `the result of ${call.procedure} is ${bytes} bytes of JSON, more than the ${this.maxResultBytes} a buffered answer may hold (one NATS message); call it with "stream": true`);
    }
    return out;
  }

  private async streamed(ctx: JobContext, entry: SqlConnEntry, call: SqlCall, chunkRows: number, sink: JobStreamSink): Promise<SqlCallprocStreamed> {
    const stream = entry.driver.stream(call, { chunkRows, signal: ctx.signal });
    // summary rejects when the call fails; the iteration reports that failure, so this copy must not go unhandled.
    stream.summary.catch(() => undefined);
    let rowCount = 0;
    let current = 0;
    for await (const batch of stream) {
      const items: unknown[] = [];
      if (batch.resultSet !== current) {
        current = batch.resultSet;
        // Result set 0 starts the stream without a marker: a single-result call is a plain row stream.
        if (current >= 1) items.push({ $resultSet: current, columns: batch.columns ?? [] } satisfies SqlResultSetMarker);
      }
      for (const row of batch.rows) items.push(row);
      rowCount += batch.rows.length;
      // Awaiting the write is the backpressure: the driver fetches the next batch only when asked.
      if (items.length > 0) await sink.write(items);
    }
    const summary = await stream.summary;
    return { streamed: true, rowCount, rowCounts: summary.rowCounts, outputParams: summary.outputParams, returnValue: summary.returnValue ?? null };
  }
}

/** The handler as the worker runtime registers it. */
export function createSqlCallprocHandler(opts: SqlCallprocHandlerOptions): SqlCallprocHandler {
  return new SqlCallprocHandler(opts);
}

/** A JobFailure whose message holds no secret; anything not a JobFailure becomes SB_ERR_SQL_FAILED. */
function safeFailure(e: unknown, entry: SqlConnEntry): JobFailure {
  if (e instanceof JobFailure) {
    const message = scrubSecrets(e.message, entry.secrets);
    return message === e.message ? e : new JobFailure(e.code, message, { retryable: e.retryable, poison: e.poison });
  }
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new JobFailure('SB_ERR_SQL_FAILED', `${entry.def.kind}: ${scrubSecrets(text, entry.secrets).slice(0, 1000)}`);
}

