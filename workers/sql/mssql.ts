/**
 * The MS SQL driver of `sql.callproc` (`mssql` on tedious 19). A call is a TDS RPC request
 * (`request.execute('[schema].[name]')`): arguments travel as typed RPC parameters, never as SQL text.
 * Parameter names and types come once per procedure from sys.parameters (cached): positional arguments
 * get their names from it, and OUT parameters their declared types.
 *
 * Streaming uses mssql's event API (`request.stream = true`): rows are gathered into batches of
 * `chunkRows`; when a full batch waits for the consumer the request is paused (tedious stops reading the
 * socket, so the server blocks on its send buffer) and resumed only when the consumer pulls again. In that
 * mode errors come only as 'error' events, and output parameters and the RETURN status only with 'done'
 * (../../../shared/ref/sql-streaming.md §1.2). Aborting or leaving early cancels the request (a TDS
 * ATTENTION); the connection goes back to the pool once the server acknowledged it.
 */
import sql from 'mssql';
import { JobFailure } from '../types.js';
import { sqlFailure } from './errors.js';
import { checkIdentifierPart, parseProcedureName, quoteName } from './identifiers.js';
import type { SqlArgs, SqlCall, SqlCallResult, SqlCallSummary, SqlConnectionOptions, SqlDriver, SqlRowBatch, SqlStream } from './types.js';
import { makeStream, outMarker } from './driver-kit.js';

type Row = Record<string, unknown>;

/** How long a procedure's parameter list is trusted. */
const PARAMS_TTL_MS = 5 * 60_000;

/** One declared parameter, from sys.parameters. */
interface ParamMeta {
  /** Without the leading '@'. */
  name: string;
  type: string;
  /** Bytes; -1 for (max). */
  maxLength: number;
  precision: number;
  scale: number;
  isOutput: boolean;
}

/** The parameters of a procedure in declaration order ([] when it does not exist or is not visible). */
const PARAMS_SQL = `SELECT p.name AS name, TYPE_NAME(p.system_type_id) AS type, p.max_length AS maxLength,
       p.[precision] AS [precision], p.scale AS scale, p.is_output AS isOutput
  FROM sys.parameters AS p
 WHERE p.object_id = OBJECT_ID(@proc) AND p.parameter_id > 0
 ORDER BY p.parameter_id`;

/** The mssql type of a declared parameter; undefined lets mssql infer it from the value. */
function declaredType(p: ParamMeta): sql.ISqlType | (() => sql.ISqlType) | undefined {
  const chars = (bytesPerChar: number): number => (p.maxLength < 0 ? sql.MAX : Math.max(1, p.maxLength / bytesPerChar));
  switch (p.type.toLowerCase()) {
    case 'int':
      return sql.Int;
    case 'bigint':
      return sql.BigInt;
    case 'smallint':
      return sql.SmallInt;
    case 'tinyint':
      return sql.TinyInt;
    case 'bit':
      return sql.Bit;
    case 'float':
      return sql.Float;
    case 'real':
      return sql.Real;
    case 'decimal':
    case 'numeric':
      return sql.Decimal(p.precision, p.scale);
    case 'money':
      return sql.Money;
    case 'nvarchar':
      return sql.NVarChar(chars(2));
    case 'nchar':
      return sql.NChar(chars(2));
    case 'varchar':
      return sql.VarChar(chars(1));
    case 'char':
      return sql.Char(chars(1));
    case 'date':
      return sql.Date;
    case 'datetime':
      return sql.DateTime;
    case 'datetime2':
      return sql.DateTime2(p.scale);
    case 'datetimeoffset':
      return sql.DateTimeOffset(p.scale);
    case 'uniqueidentifier':
      return sql.UniqueIdentifier;
    case 'varbinary':
      return sql.VarBinary(chars(1));
    default:
      return undefined;
  }
}

/** Binds `args` to `req`: named (matched to the catalog case-insensitively) or positional (named by it). */
function bind(req: sql.Request, procedure: string, args: SqlArgs, meta: ParamMeta[]): void {
  const byName = new Map(meta.map((m) => [m.name.toLowerCase(), m]));
  let pairs: Array<[string, unknown, ParamMeta | undefined]>;
  if (Array.isArray(args)) {
    if (args.length > meta.length) {
      const why = meta.length === 0 ? 'does not exist, is not visible, or takes no parameters' : `takes ${meta.length} parameters`;
      throw new JobFailure('SB_ERR_SQL_FAILED', `mssql: ${procedure} ${why}; ${args.length} positional arguments given`);
    }
    pairs = args.map((v, i) => [meta[i]!.name, v, meta[i]]);
  } else {
    pairs = Object.entries(args).map(([k, v]) => {
      const name = checkIdentifierPart(k.startsWith('@') ? k.slice(1) : k);
      return [name, v, byName.get(name.toLowerCase())];
    });
  }
  for (const [name, v, m] of pairs) {
    const type = m === undefined ? undefined : declaredType(m);
    const out = outMarker(v);
    if (out !== undefined) req.output(name, type ?? sql.NVarChar(sql.MAX), out.value ?? null);
    else if (type !== undefined) req.input(name, type, v);
    else req.input(name, v);
  }
}

/** A plain array copy of a recordset (mssql's carries non-enumerable helpers). */
const plainRows = (rs: unknown): Row[] => (Array.isArray(rs) ? (rs as Row[]).map((r) => ({ ...r })) : []);

export function createMssqlDriver(opts: SqlConnectionOptions): SqlDriver {
  const secrets = [opts.password];
  const config: sql.config = {
    server: opts.host,
    port: opts.port,
    database: opts.database,
    user: opts.user,
    password: opts.password,
    connectionTimeout: opts.connectTimeoutMs,
    // tedious: 0 = no timeout (streams of millions of rows).
    requestTimeout: opts.requestTimeoutMs,
    pool: { max: opts.poolSize, min: 0, idleTimeoutMillis: 30_000 },
    options: {
      encrypt: opts.tls?.enabled === true,
      trustServerCertificate: opts.tls?.enabled === true && opts.tls.rejectUnauthorized === false,
      ...(opts.tls?.ca !== undefined ? { cryptoCredentialsDetails: { ca: opts.tls.ca } } : {}),
      appName: 'switchboard',
    },
  };
  let connecting: Promise<sql.ConnectionPool> | undefined;
  let closed = false;
  const paramCache = new Map<string, { at: number; meta: Promise<ParamMeta[]> }>();

  /** The connected pool; a failed connect is forgotten so the next call (a job retry) tries again. */
  function pool(): Promise<sql.ConnectionPool> {
    if (closed) return Promise.reject(new JobFailure('SB_ERR_SQL_UNREACHABLE', 'mssql: the connection pool is closed', { retryable: true }));
    connecting ??= (async () => {
      const p = new sql.ConnectionPool(config);
      p.on('error', () => undefined); // pool-level errors also reach the request that hit them
      try {
        return await p.connect();
      } catch (err) {
        connecting = undefined;
        p.close().catch(() => undefined);
        throw sqlFailure('mssql', err, 'connect', secrets);
      }
    })();
    return connecting;
  }

  /**
   * The declared parameters of `quoted`, cached for {@link PARAMS_TTL_MS} (an ALTERed procedure is seen
   * after that). Failed and empty look-ups are not kept: the procedure may be created next.
   */
  function paramsOf(p: sql.ConnectionPool, quoted: string): Promise<ParamMeta[]> {
    const hit = paramCache.get(quoted);
    if (hit !== undefined && Date.now() - hit.at < PARAMS_TTL_MS) return hit.meta;
    const meta = (async () => {
      const r = await p.request().input('proc', sql.NVarChar(776), quoted).query<ParamMeta>(PARAMS_SQL);
      return r.recordset.map((m) => ({ ...m, name: m.name.replace(/^@/, ''), isOutput: Boolean(m.isOutput) }));
    })();
    paramCache.set(quoted, { at: Date.now(), meta });
    meta.then(
      (m) => {
        if (m.length === 0) paramCache.delete(quoted);
      },
      () => paramCache.delete(quoted),
    );
    return meta;
  }

  /** Checks the name (before any I/O), then gets a pool and a bound request. */
  async function prepare(call: SqlCall, signal: AbortSignal): Promise<{ req: sql.Request; quoted: string }> {
    const quoted = quoteName('mssql', parseProcedureName(call.procedure));
    signal.throwIfAborted();
    const p = await pool();
    let meta: ParamMeta[];
    try {
      meta = await paramsOf(p, quoted);
    } catch (err) {
      throw sqlFailure('mssql', err, 'call', secrets);
    }
    signal.throwIfAborted();
    const req = p.request();
    bind(req, quoted, call.args, meta);
    return { req, quoted };
  }

  async function call(c: SqlCall, signal: AbortSignal): Promise<SqlCallResult> {
    const { req, quoted } = await prepare(c, signal);
    const onAbort = (): void => req.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await req.execute(quoted);
      const sets = (Array.isArray(r.recordsets) ? r.recordsets : []).map(plainRows);
      return {
        rows: sets[0] ?? [],
        ...(sets.length > 1 ? { resultSets: sets } : {}),
        outputParams: { ...(r.output ?? {}) },
        returnValue: r.returnValue ?? null,
        rowCounts: sets.map((s) => s.length),
      };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw sqlFailure('mssql', err, 'call', secrets);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async function* run(c: SqlCall, chunkRows: number, signal: AbortSignal, sink: { summary?: SqlCallSummary }): AsyncGenerator<SqlRowBatch> {
    const { req, quoted } = await prepare(c, signal);
    req.stream = true;
    const ready: SqlRowBatch[] = [];
    let open: SqlRowBatch | undefined;
    let rs = -1;
    const rowCounts: number[] = [];
    let failure: unknown;
    let finished: { output: Record<string, unknown>; returnValue: unknown } | undefined;
    let paused = false;
    let wake: () => void = () => undefined;
    const notify = (): void => wake();
    const seal = (): void => {
      if (open !== undefined && (open.rows.length > 0 || open.columns !== undefined)) ready.push(open);
      open = undefined;
    };

    req.on('recordset', (columns: Record<string, unknown>) => {
      seal();
      rs++;
      rowCounts.push(0);
      open = { resultSet: rs, columns: Object.keys(columns), rows: [] };
    });
    req.on('row', (row: Row) => {
      if (open === undefined || open.rows.length >= chunkRows) {
        seal();
        open = { resultSet: rs, rows: [] };
      }
      open.rows.push(row);
      rowCounts[rs] = (rowCounts[rs] ?? 0) + 1;
      if (open.rows.length >= chunkRows) {
        seal();
        // A full batch waits for the consumer: stop reading from the server until it pulls.
        if (!paused) {
          paused = true;
          req.pause();
        }
        notify();
      }
    });
    req.on('error', (err: unknown) => {
      failure ??= err;
      notify();
    });
    req.on('done', (r: { output?: Record<string, unknown>; returnValue?: unknown }) => {
      seal();
      finished = { output: { ...(r.output ?? {}) }, returnValue: r.returnValue ?? null };
      notify();
    });
    const onAbort = (): void => {
      req.cancel();
      notify();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // In stream mode the promise resolves even on error; 'error' is the failure signal.
    req.execute(quoted).catch((err: unknown) => {
      failure ??= err;
      notify();
    });
    try {
      for (;;) {
        const next = ready.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (signal.aborted) throw signal.reason;
        if (failure !== undefined) throw sqlFailure('mssql', failure, 'call', secrets);
        if (finished !== undefined) break;
        if (paused) {
          paused = false;
          req.resume();
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = () => undefined;
      }
      sink.summary = { outputParams: finished.output, returnValue: finished.returnValue, rowCounts };
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (finished === undefined && failure === undefined) {
        // Left early or aborted: cancel (an ATTENTION) and wait for mssql's answer to it, which comes
        // after the connection went back to the pool.
        req.cancel();
        while (finished === undefined && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
      }
    }
  }

  return {
    kind: 'mssql',
    call,
    stream(c: SqlCall, o: { chunkRows: number; signal: AbortSignal }): SqlStream {
      return makeStream((sink) => run(c, Math.max(1, o.chunkRows), o.signal, sink));
    },
    async close(): Promise<void> {
      closed = true;
      const p = connecting;
      connecting = undefined;
      if (p !== undefined) await p.then((x) => x.close()).catch(() => undefined);
    },
  };
}

