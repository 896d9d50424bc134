/**
 * The MariaDB / MySQL driver of `sql.callproc` (`mysql2`, core callback API). A call is
 * `CALL db.proc(?, @sb_out_2, …)` as a server-side prepared statement: IN values are bound, OUT and
 * INOUT parameters go through session variables (the text protocol has no other way back), read with
 * `SELECT @sb_out_…` on the same connection once the call ended. Parameter names and modes come from
 * information_schema.PARAMETERS, once per procedure.
 *
 * Every SELECT inside the procedure is one result set; the CALL's final OK packet is dropped. Rows are
 * grouped into batches as mysql2 parses them; when a batch is full the connection is paused (the socket
 * is no longer read, so the server blocks on TCP) until the consumer asks for the next batch.
 * Aborting runs `KILL QUERY <thread>` from a connection of its own, then destroys the streaming one.
 */
import mysql from 'mysql2';
import { JobFailure } from '../types.js';
import { checkIdentifierPart, parseProcedureName, quoteName, type ProcedureName } from './identifiers.js';
import { sqlFailure } from './errors.js';
import type { SqlCall, SqlCallSummary, SqlConnectionOptions, SqlDriver, SqlKind, SqlRowBatch } from './types.js';
import { abortable, CallSession, outMarker, pooledDriver } from './driver-kit.js';

/** Prepared statements kept per connection (the server's max_prepared_stmt_count is global). */
const MAX_PREPARED = 64;

type Row = Record<string, unknown>;

/** One declared parameter. */
interface Param {
  name: string;
  mode: 'IN' | 'OUT' | 'INOUT';
}

const PARAMS_SQL = `SELECT PARAMETER_NAME AS name, PARAMETER_MODE AS mode FROM information_schema.PARAMETERS
 WHERE SPECIFIC_SCHEMA = COALESCE(?, DATABASE()) AND SPECIFIC_NAME = ? AND ROUTINE_TYPE = 'PROCEDURE' AND ORDINAL_POSITION > 0
 ORDER BY ORDINAL_POSITION`;

/** The CALL text, its bound values, and the session variables to preset and read back. */
interface Plan {
  callSql: string;
  values: unknown[];
  /** `SET @sb_out_2 = ?, …` (INOUT initial values, OUT reset to NULL), or undefined without OUT args. */
  setSql?: string;
  setValues: unknown[];
  /** Session variable → output parameter name. */
  outs: Array<{ variable: string; name: string }>;
}

function plan(kind: SqlKind, name: ProcedureName, args: SqlCall['args'], params: Param[]): Plan {
  let list: unknown[];
  if (Array.isArray(args)) list = args;
  else {
    // Named arguments: placed by ORDINAL_POSITION; an OUT parameter left out is still read back.
    list = params.map((p) => (p.mode === 'IN' ? null : { out: true }));
    const given = new Set<number>();
    for (const [k, v] of Object.entries(args)) {
      const i = params.findIndex((p) => p.name.toLowerCase() === k.toLowerCase());
      if (i < 0) throw new JobFailure('SB_ERR_SQL_FAILED', `${kind}: procedure ${name.name} has no parameter ${JSON.stringify(k)}`, { retryable: false });
      given.add(i);
      list[i] = v;
    }
    for (let i = 0; i < params.length; i++) if (!given.has(i) && params[i]!.mode === 'INOUT') list[i] = { out: true };
  }
  const parts: string[] = [];
  const values: unknown[] = [];
  const sets: string[] = [];
  const setValues: unknown[] = [];
  const outs: Plan['outs'] = [];
  list.forEach((v, i) => {
    const param = params[i];
    let out = outMarker(v);
    // OUT / INOUT arguments must be variables in MariaDB/MySQL; a plain value for an INOUT is its initial value.
    if (out === undefined && param !== undefined && param.mode !== 'IN') out = { value: param.mode === 'INOUT' ? v : undefined };
    if (out === undefined) {
      parts.push('?');
      values.push(bindable(v));
      return;
    }
    const variable = `@sb_out_${i + 1}`;
    parts.push(variable);
    outs.push({ variable, name: param?.name ?? `p${i + 1}` });
    if (out.value === undefined || out.value === null) sets.push(`${variable} = NULL`);
    else {
      sets.push(`${variable} = ?`);
      setValues.push(bindable(out.value));
    }
  });
  return {
    callSql: `CALL ${quoteName(kind, name)}(${parts.join(', ')})`,
    values,
    ...(sets.length > 0 ? { setSql: `SET ${sets.join(', ')}` } : {}),
    setValues,
    outs,
  };
}

/** mysql2 refuses `undefined`; JSON objects and arrays go as their JSON text. */
function bindable(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return v;
}

/** The rows of a small statement (lookup, SET, SELECT @var). */
function execute(conn: mysql.PoolConnection, sql: string, values: unknown[]): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    conn.execute(sql, values as mysql.ExecuteValues, (err, rows) => (err ? reject(err) : resolve(Array.isArray(rows) ? (rows as Row[]) : [])));
  });
}

/** A mysql2 connection's session: KILL QUERY by thread id, and a destroy that really closes the socket. */
class Session extends CallSession {
  constructor(
    readonly conn: mysql.PoolConnection,
    private readonly killQuery: (threadId: number) => Promise<void>,
  ) {
    super();
  }

  protected cancelRunning(): Promise<void> {
    return this.killQuery(this.conn.threadId);
  }

  protected close(destroy: boolean): void {
    if (destroy) {
      this.conn.destroy();
      // mysql2's destroy() only half-closes (FIN); a server blocked writing rows into a paused socket
      // would wait for net_write_timeout. Closing the socket resets it, so the server thread ends now.
      (this.conn as unknown as { stream?: { destroy?: () => void } }).stream?.destroy?.();
    } else this.conn.release();
  }
}

/** Makes the MariaDB / MySQL driver of one connection definition. */
export function createMysqlDriver(opts: SqlConnectionOptions): SqlDriver {
  const kind = opts.kind;
  const secrets = [opts.password];
  const base: mysql.ConnectionOptions = {
    host: opts.host,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    database: opts.database,
    connectTimeout: opts.connectTimeoutMs,
    // Integers beyond 2^53 come as strings instead of losing digits.
    supportBigNumbers: true,
    maxPreparedStatements: MAX_PREPARED,
    ...(opts.tls?.enabled ? { ssl: { rejectUnauthorized: opts.tls.rejectUnauthorized ?? true, ...(opts.tls.ca ? { ca: opts.tls.ca } : {}) } } : {}),
  };
  const pool = mysql.createPool({ ...base, connectionLimit: opts.poolSize, waitForConnections: true });
  const params = new Map<string, Param[]>();
  const sessions = new Set<Session>();

  /** KILL QUERY from a connection of its own: the pool may be full of the calls to stop. */
  function killQuery(threadId: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const c = mysql.createConnection(base);
      c.on('error', () => undefined);
      c.query(`KILL QUERY ${Number(threadId)}`, (err) => {
        c.destroy();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  const guarded = new WeakSet<object>();
  function getConnection(): Promise<mysql.PoolConnection> {
    return new Promise((resolve, reject) =>
      pool.getConnection((err, conn) => {
        if (err) return reject(err);
        // A connection dying between calls must not crash the process (mysql2 only listens once).
        if (!guarded.has(conn)) {
          guarded.add(conn);
          conn.on('error', () => undefined);
        }
        resolve(conn);
      }),
    );
  }

  async function lookup(session: Session, name: ProcedureName): Promise<Param[]> {
    const key = `${name.schema ?? ''}.${name.name}`.toLowerCase();
    const hit = params.get(key);
    if (hit) return hit;
    const rows = await session.run(() => execute(session.conn, PARAMS_SQL, [name.schema ?? null, name.name]));
    const list = rows.map((r) => ({ name: String(r['name']), mode: String(r['mode']).toUpperCase() as Param['mode'] }));
    // A procedure without parameters (or an unknown one) is asked again next time: cheap, and sees a CREATE.
    if (list.length > 0) params.set(key, list);
    return list;
  }

  async function* run(call: SqlCall, chunkRows: number, signal: AbortSignal, sink: { summary?: SqlCallSummary }): AsyncGenerator<SqlRowBatch> {
    const name = parseProcedureName(call.procedure);
    if (!Array.isArray(call.args)) for (const k of Object.keys(call.args)) checkIdentifierPart(k);
    const chunk = Math.max(1, Math.floor(chunkRows));
    signal.throwIfAborted();

    let conn: mysql.PoolConnection;
    try {
      // Waiting for a pooled connection ends with the abort too (a full pool must not hold a cancelled job).
      conn = await abortable(getConnection(), signal, (c) => c.release());
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw sqlFailure(kind, e, 'connect', secrets);
    }
    const session = new Session(conn, killQuery);
    sessions.add(session);
    const onAbort = (): void => void session.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    // The statement timeout, client side (MySQL has none for CALL): stops the call like an abort.
    let timedOut = false;
    const timer =
      opts.requestTimeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            void session.stop();
          }, opts.requestTimeoutMs)
        : undefined;
    let done = false;
    const key = `${name.schema ?? ''}.${name.name}`.toLowerCase();
    try {
      if (signal.aborted) onAbort();
      const p = plan(kind, name, call.args, await lookup(session, name));
      if (p.setSql !== undefined) await session.run(() => execute(conn, p.setSql!, p.setValues));

      // The row pump: mysql2 emits rows synchronously while parsing; full batches queue up and pause it.
      const queue: SqlRowBatch[] = [];
      const rowCounts: number[] = [];
      let rows: Row[] = [];
      let set = -1;
      let columns: string[] | undefined;
      let paused = false;
      let ended = false;
      let failure: unknown;
      let wake: (() => void) | undefined;
      const flush = (): void => {
        if (rows.length === 0 && columns === undefined) return;
        queue.push(columns === undefined ? { resultSet: set, rows } : { resultSet: set, columns, rows });
        rowCounts[set] = (rowCounts[set] ?? 0) + rows.length;
        rows = [];
        columns = undefined;
        if (!paused) {
          paused = true;
          conn.pause();
        }
        wake?.();
      };
      const finish = (err?: unknown): void => {
        if (ended) return;
        if (err !== undefined) failure = err;
        else flush();
        ended = true;
        wake?.();
      };
      session.onStop = () => finish(new Error('stopped'));
      session.busy = true;
      const q = conn.execute(p.callSql, p.values as mysql.ExecuteValues);
      q.on('fields', (fields: unknown) => {
        // `undefined` announces the CALL's final OK packet, not a result set.
        if (fields === undefined) return;
        flush();
        set++;
        rowCounts[set] = 0;
        columns = (fields as Array<{ name: string }>).map((f) => f.name);
      });
      q.on('result', (row: Row, index?: number) => {
        if (index === undefined) return;
        rows.push(row);
        if (rows.length >= chunk) flush();
      });
      q.on('error', (err: unknown) => finish(err));
      q.on('end', () => finish());

      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (ended) break;
        // The consumer wants more and everything parsed was handed over: read the socket again.
        if (paused) {
          paused = false;
          conn.resume();
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      session.busy = false;
      // A pause taken on the last batch would leave the socket unread for the next statement.
      if (paused) conn.resume();

      const outputParams: Record<string, unknown> = {};
      if (p.outs.length > 0) {
        const [row] = await session.run(() => execute(conn, `SELECT ${p.outs.map((o) => o.variable).join(', ')}`, []));
        for (const o of p.outs) outputParams[o.name] = row?.[o.variable];
      }
      done = true;
      sink.summary = { outputParams, returnValue: null, rowCounts };
    } catch (e) {
      if (timedOut) throw new JobFailure('SB_ERR_SQL_FAILED', `${kind}: the call ran longer than ${opts.requestTimeoutMs} ms and was stopped`, { retryable: false });
      if (signal.aborted || session.stopped) throw signal.reason ?? new Error('the call was stopped');
      params.delete(key);
      throw e instanceof JobFailure ? e : sqlFailure(kind, e, 'call', secrets);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      await session.finish(done);
      sessions.delete(session);
    }
  }

  return pooledDriver(kind, run, sessions, () => new Promise<void>((resolve) => pool.end(() => resolve())));
}
