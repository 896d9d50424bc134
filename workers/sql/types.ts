/**
 * The SQL driver contract: what `sql.callproc` (workers/sql/handler.ts) needs from each database kind.
 * One {@link SqlDriver} per connection definition, holding that connection's pool. Drivers for
 * PostgreSQL (`pg` + `pg-cursor`), MariaDB/MySQL (`mysql2`) and MS SQL (`mssql` on tedious 19) live
 * next to this file. docs/sql.md describes what each kind does with a procedure call.
 *
 * Rules every driver keeps:
 * - the procedure name is checked with `parseProcedureName` (workers/sql/identifiers.ts) and quoted by
 *   the database's own rules; arguments are always bound as parameters, never put into SQL text;
 * - database errors become `JobFailure`s with stable codes (`SB_ERR_SQL_FAILED` with the database's
 *   own code in the message, `SB_ERR_SQL_UNREACHABLE` retryable when the call never ran);
 * - passwords never appear in errors or logs;
 * - aborting `signal` cancels the running statement on the server and releases the pooled connection.
 */

/** Database kinds. `mysql` and `mariadb` share the mysql2 driver. */
export type SqlKind = 'mssql' | 'postgres' | 'mariadb' | 'mysql';

/** Everything a driver needs to open its pool (the password is already decrypted). */
export interface SqlConnectionOptions {
  kind: SqlKind;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Pooled connections at most (default 10). */
  poolSize: number;
  /** Connect / login timeout, ms (default 10000). */
  connectTimeoutMs: number;
  /** Per statement timeout, ms (default 60000). 0 = none (streams of millions of rows). */
  requestTimeoutMs: number;
  tls?: {
    enabled: boolean;
    /** Default true. */
    rejectUnauthorized?: boolean;
    /** PEM CA bundle. */
    ca?: string;
  };
}

/**
 * Procedure arguments: positional (a list, in declaration order) or named (an object: parameter name →
 * value). Values are JSON: string, number, boolean, null; a value `{ "out": true }` or
 * `{ "out": true, "value": <initial> }` marks an OUT / INOUT parameter where the database has them.
 */
export type SqlArgs = unknown[] | Record<string, unknown>;

/** One call. */
export interface SqlCall {
  /** `name` or `schema.name`; validated and quoted by the driver. */
  procedure: string;
  args: SqlArgs;
  /**
   * PostgreSQL only: `function` → `SELECT * FROM schema.fn($1, …)` (rows stream), `procedure` → `CALL`
   * (one row of OUT values). Default: `auto` asks pg_proc once per name (cached) which it is.
   */
  routine?: 'auto' | 'function' | 'procedure';
}

/** Output parameters and the return value, known once the call finished. */
export interface SqlCallSummary {
  /** OUT / INOUT parameter values by name ({} when none). */
  outputParams: Record<string, unknown>;
  /** MS SQL: the RETURN status; others: null. */
  returnValue: unknown;
  /** Rows per result set. */
  rowCounts: number[];
}

/** The buffered answer of `sql.callproc` (issue: `{rows, resultSets?, outputParams, returnValue}`). */
export interface SqlCallResult extends SqlCallSummary {
  /** The rows of the first result set ([] when none). */
  rows: Array<Record<string, unknown>>;
  /** Every result set, present only when there is more than one. */
  resultSets?: Array<Array<Record<string, unknown>>>;
}

/** A batch of rows from one result set, as a stream yields them. */
export interface SqlRowBatch {
  /** 0-based result-set index. */
  resultSet: number;
  /** Column names, on the first batch of each result set (also when it has no rows). */
  columns?: string[];
  rows: Array<Record<string, unknown>>;
}

/**
 * A streaming call: iterate it to get row batches of at most `chunkRows` rows. The driver fetches the
 * next rows from the database only when the consumer asks for the next batch (pg: cursor reads;
 * mysql2: connection pause/resume; mssql: request pause/resume), so memory stays bounded whatever the
 * row count. `summary` resolves after the last batch; breaking out of the loop cancels the statement.
 */
export interface SqlStream extends AsyncIterable<SqlRowBatch> {
  readonly summary: Promise<SqlCallSummary>;
}

/** One connection definition's pool. */
export interface SqlDriver {
  readonly kind: SqlKind;
  /** Runs the call and buffers every row (bounded by the caller: a job result is one NATS message). */
  call(call: SqlCall, signal: AbortSignal): Promise<SqlCallResult>;
  /** Runs the call as a stream (see {@link SqlStream}). */
  stream(call: SqlCall, opts: { chunkRows: number; signal: AbortSignal }): SqlStream;
  /** Closes the pool (in-flight calls are cancelled). */
  close(): Promise<void>;
}

/** Makes the driver of one connection definition. */
export type SqlDriverFactory = (opts: SqlConnectionOptions) => SqlDriver;
