/**
 * The PostgreSQL driver of `sql.callproc` (`pg` + `pg-cursor`). Routines are asked once from pg_proc
 * (cached per name) whether they are functions (`SELECT * FROM fn(…)`, rows streamed through a server
 * cursor that is read only when the consumer pulls) or procedures (`CALL p(…)`, one row of OUT values),
 * and whether they hand back refcursors. Refcursors are PostgreSQL's way of returning several result
 * sets: inside one transaction each returned cursor is `FETCH`ed, chunk by chunk, as one result set.
 *
 * Aborting cancels the running statement with pg_cancel_backend from a separate connection, then
 * destroys the pooled connection (a suspended portal or open transaction dies with it).
 */
import pg from 'pg';
import Cursor from 'pg-cursor';
import { quoteIdent, quoteName, checkIdentifierPart, parseProcedureName, type ProcedureName } from './identifiers.js';
import { sqlFailure } from './errors.js';
import type { SqlCall, SqlCallSummary, SqlConnectionOptions, SqlDriver, SqlRowBatch } from './types.js';
import { abortable, CallSession, outMarker, pooledDriver } from './driver-kit.js';

/** pg_type oid of `refcursor`. */
const REFCURSOR_OID = 1790;

type Row = Record<string, unknown>;

/** What pg_proc says about one overload. */
interface RoutineInfo {
  prokind: string;
  /** Needs a transaction: returns refcursor(s), or has a refcursor parameter. */
  cursors: boolean;
  returnsCursor: boolean;
  nargs: number;
  ndefaults: number;
}

/** The pg_proc rows of a name, in the first schema of the search path that has it. */
const LOOKUP_SQL = `
SELECT p.prokind::text AS prokind,
       p.prorettype = 'refcursor'::regtype AS returns_cursor,
       'refcursor'::regtype = ANY (coalesce(p.proallargtypes, p.proargtypes::oid[])) AS cursor_arg,
       p.pronargs::int AS nargs, p.pronargdefaults::int AS ndefaults, n.nspname AS schema
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname = $1
   AND CASE WHEN $2::text IS NULL THEN n.nspname = ANY (current_schemas(true)) ELSE n.nspname = $2::text END
 ORDER BY array_position(current_schemas(true), n.nspname::text), p.oid`;

/** The argument list SQL (`$1, NULL`, `"a" => $1`) and its bound values. Values never enter the text. */
function buildArgs(args: SqlCall['args'], procedure: boolean): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const parts: string[] = [];
  const one = (v: unknown): string | undefined => {
    const out = outMarker(v);
    if (out === undefined) {
      values.push(v);
      return `$${values.length}`;
    }
    // A function's OUT parameters are result columns, not arguments; a procedure takes NULL for them.
    if (!procedure) return undefined;
    if (out.value === undefined) return 'NULL';
    values.push(out.value);
    return `$${values.length}`;
  };
  if (Array.isArray(args)) {
    for (const v of args) {
      const p = one(v);
      if (p !== undefined) parts.push(p);
    }
  } else {
    for (const [k, v] of Object.entries(args)) {
      const p = one(v);
      if (p !== undefined) parts.push(`${quoteIdent('postgres', k)} => ${p}`);
    }
  }
  return { text: parts.join(', '), values };
}

function argCount(args: SqlCall['args'], procedure: boolean): number {
  const list = Array.isArray(args) ? args : Object.values(args);
  return procedure ? list.length : list.filter((v) => outMarker(v) === undefined).length;
}

/** Runs one query on a client; the promise form of pg's callback API. */
function query(client: pg.PoolClient, text: string, values?: unknown[]): Promise<pg.QueryResult<Row>> {
  return client.query<Row>(text, values);
}

/** Reads up to `n` rows from a cursor, with the field list. */
function readCursor(cursor: Cursor<Row>, n: number): Promise<{ rows: Row[]; fields: string[] }> {
  return new Promise((resolve, reject) => {
    cursor.read(n, (err, rows, result) => {
      if (err) reject(err);
      else resolve({ rows, fields: result.fields.map((f) => f.name) });
    });
  });
}

/** A pg client's session: pg_cancel_backend by the backend's pid (from another connection). */
class Session extends CallSession {
  constructor(
    readonly client: pg.PoolClient,
    private readonly cancelBackend: (pid: number) => Promise<void>,
  ) {
    super();
  }

  protected async cancelRunning(): Promise<void> {
    const pid = (this.client as unknown as { processID: number | null }).processID;
    if (typeof pid === 'number') await this.cancelBackend(pid);
  }

  protected close(destroy: boolean): void {
    this.client.release(destroy ? true : undefined);
  }
}

/** Makes the PostgreSQL driver of one connection definition. */
export function createPostgresDriver(opts: SqlConnectionOptions): SqlDriver {
  const secrets = [opts.password];
  const config: pg.PoolConfig = {
    host: opts.host,
    port: opts.port,
    database: opts.database,
    user: opts.user,
    password: opts.password,
    max: opts.poolSize,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    application_name: 'switchboard',
    ...(opts.requestTimeoutMs > 0 ? { statement_timeout: opts.requestTimeoutMs } : {}),
    ssl: opts.tls?.enabled ? { rejectUnauthorized: opts.tls.rejectUnauthorized ?? true, ...(opts.tls.ca ? { ca: opts.tls.ca } : {}) } : false,
  };
  const pool = new pg.Pool(config);
  // An idle pooled connection that dies (server restart) must not take the process down; the pool drops it.
  pool.on('error', () => undefined);
  const routines = new Map<string, RoutineInfo[]>();
  const sessions = new Set<Session>();

  /** pg_cancel_backend from a connection of its own: the pool may be full of the calls to cancel. */
  async function cancelBackend(pid: number): Promise<void> {
    const { max: _max, connectionTimeoutMillis, statement_timeout: _st, ...rest } = config;
    const c = new pg.Client({ ...rest, connectionTimeoutMillis });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT pg_cancel_backend($1)', [pid]);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async function lookup(session: Session, name: ProcedureName): Promise<RoutineInfo[]> {
    const key = `${name.schema ?? ''}.${name.name}`;
    const hit = routines.get(key);
    if (hit) return hit;
    const r = await session.run(() => query(session.client, LOOKUP_SQL, [name.name, name.schema ?? null]));
    const first = r.rows[0]?.['schema'];
    const infos = r.rows
      .filter((row) => row['schema'] === first)
      .map((row) => ({
        prokind: String(row['prokind']),
        returnsCursor: row['returns_cursor'] === true,
        cursors: row['returns_cursor'] === true || row['cursor_arg'] === true,
        nargs: Number(row['nargs']),
        ndefaults: Number(row['ndefaults']),
      }));
    // Unknown names are not cached: the call's own error says what is wrong, and a later CREATE is seen.
    if (infos.length > 0) routines.set(key, infos);
    return infos;
  }

  /** The overload the call most likely reaches (by argument count); PostgreSQL resolves the real one. */
  function pick(infos: RoutineInfo[], call: SqlCall): RoutineInfo | undefined {
    const fits = infos.filter((i) => {
      const n = argCount(call.args, i.prokind === 'p');
      return n >= i.nargs - i.ndefaults && n <= i.nargs;
    });
    return fits[0] ?? infos[0];
  }

  async function* run(call: SqlCall, chunkRows: number, signal: AbortSignal, sink: { summary?: SqlCallSummary }): AsyncGenerator<SqlRowBatch> {
    // Everything that can be refused without the database is refused before any I/O.
    const name = parseProcedureName(call.procedure);
    if (!Array.isArray(call.args)) for (const k of Object.keys(call.args)) checkIdentifierPart(k);
    const chunk = Math.max(1, Math.floor(chunkRows));
    signal.throwIfAborted();

    let client: pg.PoolClient;
    try {
      // Waiting for a pooled connection ends with the abort too (a full pool must not hold a cancelled job).
      client = await abortable(pool.connect(), signal, (c) => c.release());
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw sqlFailure('postgres', e, 'connect', secrets);
    }
    const session = new Session(client, cancelBackend);
    sessions.add(session);
    const onAbort = (): void => void session.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    let done = false;
    let key: string | undefined = `${name.schema ?? ''}.${name.name}`;
    try {
      if (signal.aborted) onAbort();
      const info = pick(await lookup(session, name), call);
      const routine = call.routine === 'function' || call.routine === 'procedure' ? call.routine : info?.prokind === 'p' ? 'procedure' : 'function';
      const target = quoteName('postgres', name);
      const { text: argText, values } = buildArgs(call.args, routine === 'procedure');
      const rowCounts: number[] = [];
      let outputParams: Record<string, unknown> = {};

      if (routine === 'procedure' || info?.cursors === true) {
        // Refcursors live only inside the transaction that opened them.
        const tx = info?.cursors === true;
        if (tx) await session.run(() => query(client, 'BEGIN'));
        const sql = routine === 'procedure' ? `CALL ${target}(${argText})` : `SELECT * FROM ${target}(${argText})`;
        const r = await session.run(() => query(client, sql, values));
        const cursorNames: string[] = [];
        if (routine === 'procedure') {
          const row = r.rows[0] ?? {};
          for (const f of r.fields ?? []) {
            if (f.dataTypeID === REFCURSOR_OID) {
              if (typeof row[f.name] === 'string') cursorNames.push(row[f.name] as string);
            } else outputParams[f.name] = row[f.name];
          }
        } else {
          const col = r.fields[0]?.name;
          for (const row of r.rows) if (col !== undefined && typeof row[col] === 'string') cursorNames.push(row[col] as string);
        }
        for (const [i, cursorName] of cursorNames.entries()) {
          const fetch = `FETCH FORWARD ${chunk} FROM ${quoteIdent('postgres', cursorName)}`;
          let count = 0;
          for (let first = true; ; first = false) {
            const f = await session.run(() => query(client, fetch));
            count += f.rows.length;
            if (first || f.rows.length > 0) {
              yield first ? { resultSet: i, columns: f.fields.map((x) => x.name), rows: f.rows } : { resultSet: i, rows: f.rows };
            }
            if (f.rows.length < chunk) break;
          }
          rowCounts.push(count);
          await session.run(() => query(client, `CLOSE ${quoteIdent('postgres', cursorName)}`));
        }
        if (tx) await session.run(() => query(client, 'COMMIT'));
        if (routine === 'function') outputParams = {};
      } else {
        const cursor = client.query(new Cursor<Row>(`SELECT * FROM ${target}(${argText})`, values));
        let count = 0;
        for (let first = true; ; first = false) {
          const { rows, fields } = await session.run(() => readCursor(cursor, chunk));
          count += rows.length;
          if (first || rows.length > 0) yield first ? { resultSet: 0, columns: fields, rows } : { resultSet: 0, rows };
          // Fewer rows than asked: the portal is complete, no need for another round trip.
          if (rows.length < chunk) break;
        }
        await session.run(() => cursor.close());
        rowCounts.push(count);
      }
      key = undefined;
      done = true;
      sink.summary = { outputParams, returnValue: null, rowCounts };
    } catch (e) {
      if (signal.aborted || session.stopped) throw signal.reason ?? new Error('the call was stopped');
      throw sqlFailure('postgres', e, 'call', secrets);
    } finally {
      signal.removeEventListener('abort', onAbort);
      // A failed call may come from a changed routine: ask pg_proc again next time.
      if (key !== undefined) routines.delete(key);
      await session.finish(done);
      sessions.delete(session);
    }
  }

  return pooledDriver('postgres', run, sessions, () => pool.end());
}
