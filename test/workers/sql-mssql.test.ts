/**
 * The MS SQL driver (workers/sql/mssql.ts) end to end on the real `mssql` + tedious stack. By default it
 * talks to the TDS test responder (test/support/tds-server: a mock of the wire, not an engine), which
 * also reports what the server side saw (logins, ATTENTIONs, rows handed to the socket). With
 * MSSQL_TEST_URL=mssql://user:pass@host:1433/db (add ?encrypt=true&trustServerCertificate=true when
 * needed) the same behaviours run against a real SQL Server, whose procedures are created here in T-SQL
 * under unique names and dropped afterwards; the server-side counters are then not asserted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import sql from 'mssql';
import { until } from '../support/poll.js';
import { defaultProcedures, startTdsServer, type ProcDef, type TdsServer } from '../support/tds-server/index.js';
import { createMssqlDriver } from '../../workers/sql/mssql.js';
import type { SqlConnectionOptions, SqlDriver, SqlRowBatch } from '../../workers/sql/types.js';
import { JobFailure } from '../../workers/types.js';

const REAL_URL = process.env['MSSQL_TEST_URL'];
const SUFFIX = randomBytes(4).toString('hex');
/** Procedure names of this run (unique, so a shared real server is not disturbed). */
const P = {
  echo: `dbo.sb_echo_${SUFFIX}`,
  add: `dbo.sb_add_${SUFFIX}`,
  twoSets: `dbo.sb_two_sets_${SUFFIX}`,
  fail: `dbo.sb_fail_${SUFFIX}`,
  rows: `dbo.sb_rows_${SUFFIX}`,
  sleep: `dbo.sb_sleep_${SUFFIX}`,
};

/** The same procedures in T-SQL, for a real server. */
const TSQL: Array<[string, string]> = [
  [P.echo, `CREATE PROCEDURE ${P.echo} @a nvarchar(4000), @b int AS SELECT @a AS a, @b AS b;`],
  [P.add, `CREATE PROCEDURE ${P.add} @x int, @y int, @sum int OUTPUT AS BEGIN SET NOCOUNT ON; SET @sum = @x + @y; RETURN 7; END`],
  [P.twoSets, `CREATE PROCEDURE ${P.twoSets} AS BEGIN SET NOCOUNT ON; SELECT n FROM (VALUES (1), (2)) AS v(n); SELECT N'x' AS name; END`],
  [P.fail, `CREATE PROCEDURE ${P.fail} AS BEGIN RAISERROR('dbo.fail failed on purpose', 16, 1); RETURN -6; END`],
  [P.sleep, `CREATE PROCEDURE ${P.sleep} @ms int AS BEGIN SET NOCOUNT ON; DECLARE @t datetime = DATEADD(ms, @ms, 0); WAITFOR DELAY @t; SELECT 1 AS slept; END`],
  [
    P.rows,
    `CREATE PROCEDURE ${P.rows} @n int, @width int = 0 AS BEGIN SET NOCOUNT ON;
       SELECT t.i, CONCAT(N'row-', t.i) + REPLICATE(N'.', CASE WHEN @width > LEN(CONCAT(N'row-', t.i)) THEN @width - LEN(CONCAT(N'row-', t.i)) ELSE 0 END) AS s
         FROM (SELECT TOP (@n) CAST(ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS int) AS i
                 FROM sys.all_columns a CROSS JOIN sys.all_columns b CROSS JOIN sys.all_columns c) AS t
        ORDER BY t.i; END`,
  ],
];

const PASSWORD = 'Tds-Secret-9f3b7';

function realOptions(url: string): SqlConnectionOptions {
  const u = new URL(url);
  return {
    kind: 'mssql',
    host: u.hostname,
    port: Number(u.port || 1433),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'master',
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    poolSize: 4,
    connectTimeoutMs: 10_000,
    requestTimeoutMs: 0,
    tls: { enabled: u.searchParams.get('encrypt') === 'true', rejectUnauthorized: u.searchParams.get('trustServerCertificate') !== 'true' },
  };
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The responder in a child process (tsx), until `stop()`. */
async function spawnResponder(password: string): Promise<{ port: number; stop(): Promise<void> }> {
  const main = fileURLToPath(new URL('../support/tds-server/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'sa', password], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const [line] = (await Promise.race([once(child.stdout, 'data'), exited.then(() => assert.fail('the responder exited'))])) as [Buffer];
  const { port } = JSON.parse(line.toString()) as { port: number };
  return {
    port,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

async function failureOf(p: Promise<unknown>): Promise<JobFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof JobFailure, `expected a JobFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

async function collect(it: AsyncIterable<SqlRowBatch>): Promise<SqlRowBatch[]> {
  const out: SqlRowBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('sql: MS SQL driver (mssql + tedious over TDS)', function () {
  this.timeout(60_000);
  let server: TdsServer | undefined;
  let base: SqlConnectionOptions;
  const drivers: SqlDriver[] = [];
  let d: SqlDriver;
  const signal = new AbortController().signal;

  function driver(over: Partial<SqlConnectionOptions> = {}): SqlDriver {
    const x = createMssqlDriver({ ...base, ...over });
    drivers.push(x);
    return x;
  }

  /** A plain mssql pool on the real server, for the T-SQL setup and teardown. */
  const adminPool = (): Promise<sql.ConnectionPool> => new sql.ConnectionPool({
    server: base.host,
    port: base.port,
    database: base.database,
    user: base.user,
    password: base.password,
    options: { encrypt: base.tls?.enabled === true, trustServerCertificate: base.tls?.rejectUnauthorized === false },
  }).connect();

  before(async () => {
    if (REAL_URL) {
      base = realOptions(REAL_URL);
      const pool = await adminPool();
      try {
        for (const [, ddl] of TSQL) await pool.request().batch(ddl);
      } finally {
        await pool.close();
      }
    } else {
      // The scripted procedures, under this run's names.
      const defs = defaultProcedures();
      const procedures: Record<string, ProcDef> = {};
      for (const [key, name] of Object.entries({ echo: P.echo, add: P.add, two_sets: P.twoSets, fail: P.fail, rows: P.rows, sleep: P.sleep })) {
        procedures[name.toLowerCase()] = defs[`dbo.${key}`]!;
      }
      server = await startTdsServer({ users: { sa: PASSWORD }, database: 'test', procedures });
      base = { kind: 'mssql', host: '127.0.0.1', port: server.port, database: 'test', user: 'sa', password: PASSWORD, poolSize: 4, connectTimeoutMs: 5000, requestTimeoutMs: 0, tls: { enabled: false } };
    }
    d = driver();
  });

  after(async () => {
    for (const x of drivers) await x.close();
    if (REAL_URL) {
      const pool = await adminPool();
      try {
        for (const [name] of TSQL) await pool.request().batch(`DROP PROCEDURE IF EXISTS ${name}`);
      } finally {
        await pool.close();
      }
    }
    await server?.close();
  });

  it('passes IN and OUT parameters (named and positional) and returns the RETURN status', async () => {
    const named = await d.call({ procedure: P.add, args: { x: 2, y: 40, sum: { out: true } } }, signal);
    assert.deepEqual(named.outputParams, { sum: 42 });
    assert.equal(named.returnValue, 7);
    assert.deepEqual(named.rows, []);
    const positional = await d.call({ procedure: P.add, args: [5, 6, { out: true }] }, signal);
    assert.deepEqual(positional.outputParams, { sum: 11 });
    assert.equal(positional.returnValue, 7);
    // The same through the stream: output and RETURN status come with the summary.
    const s = d.stream({ procedure: P.add, args: { x: 1, y: 1, sum: { out: true } } }, { chunkRows: 10, signal });
    assert.deepEqual(await collect(s), []);
    const summary = await s.summary;
    assert.deepEqual(summary.outputParams, { sum: 2 });
    assert.equal(summary.returnValue, 7);
  });

  it('returns every result set, buffered and streamed', async () => {
    const r = await d.call({ procedure: P.twoSets, args: {} }, signal);
    assert.deepEqual(r.rows, [{ n: 1 }, { n: 2 }]);
    assert.deepEqual(r.resultSets, [[{ n: 1 }, { n: 2 }], [{ name: 'x' }]]);
    assert.deepEqual(r.rowCounts, [2, 1]);
    const s = d.stream({ procedure: P.twoSets, args: [] }, { chunkRows: 1, signal });
    const batches = await collect(s);
    assert.deepEqual(batches, [
      { resultSet: 0, columns: ['n'], rows: [{ n: 1 }] },
      { resultSet: 0, rows: [{ n: 2 }] },
      { resultSet: 1, columns: ['name'], rows: [{ name: 'x' }] },
    ]);
    assert.deepEqual((await s.summary).rowCounts, [2, 1]);
  });

  it('reports a database error as SB_ERR_SQL_FAILED with its number, buffered and streamed', async () => {
    const f = await failureOf(d.call({ procedure: P.fail, args: {} }, signal));
    assert.equal(f.code, 'SB_ERR_SQL_FAILED');
    assert.equal(f.retryable, false);
    assert.match(f.message, /50000/);
    assert.match(f.message, /failed on purpose/);
    const s = d.stream({ procedure: P.fail, args: {} }, { chunkRows: 10, signal });
    const g = await failureOf(collect(s));
    assert.equal(g.code, 'SB_ERR_SQL_FAILED');
    assert.match(g.message, /50000/);
    await assert.rejects(s.summary);
    const missing = await failureOf(d.call({ procedure: `dbo.sb_missing_${SUFFIX}`, args: {} }, signal));
    assert.equal(missing.code, 'SB_ERR_SQL_FAILED');
    assert.match(missing.message, /2812/);
  });

  it('rejects unknown argument names through the server and accepts @-prefixed ones', async () => {
    const r = await d.call({ procedure: P.echo, args: { '@a': 'at', B: 2 } }, signal);
    assert.deepEqual(r.rows, [{ a: 'at', b: 2 }]);
    const f = await failureOf(d.call({ procedure: P.echo, args: { a: 'x', b: 1, zzz: 3 } }, signal));
    assert.equal(f.code, 'SB_ERR_SQL_FAILED');
    assert.match(f.message, /8145|zzz/);
    const bad = await failureOf(d.call({ procedure: P.echo, args: { 'a; drop': 1 } }, signal));
    assert.equal(bad.code, 'SB_ERR_SQL_INVALID_NAME');
    const many = await failureOf(d.call({ procedure: P.echo, args: [1, 2, 3] }, signal));
    assert.equal(many.code, 'SB_ERR_SQL_FAILED');
  });

  it('times a statement out after requestTimeoutMs (the server is told with an ATTENTION) and keeps the pool usable', async () => {
    const quick = driver({ requestTimeoutMs: 300, poolSize: 1 });
    const attentions = server?.stats.attentions ?? 0;
    const f = await failureOf(quick.call({ procedure: P.sleep, args: { ms: 10_000 } }, signal));
    assert.equal(f.code, 'SB_ERR_SQL_FAILED');
    assert.match(f.message, /ETIMEOUT|Timeout/);
    if (server) assert.ok(server.stats.attentions > attentions, 'tedious cancelled the statement on the server');
    assert.deepEqual((await quick.call({ procedure: P.sleep, args: { ms: 1 } }, signal)).rows, [{ slept: 1 }]);
  });

  it('refuses a wrong password as SB_ERR_SQL_UNREACHABLE without the password in the message', async () => {
    const wrong = 'Wrong-Pass-Zq81';
    const before = server?.stats.failedLogins ?? 0;
    const f = await failureOf(driver({ password: wrong }).call({ procedure: P.echo, args: { a: 'x', b: 1 } }, signal));
    assert.equal(f.code, 'SB_ERR_SQL_UNREACHABLE');
    assert.equal(f.retryable, true);
    assert.match(f.message, /Login failed/);
    assert.ok(!f.message.includes(wrong) && !f.message.includes(PASSWORD), f.message);
    assert.ok(!JSON.stringify(f).includes(wrong));
    if (server) assert.ok(server.stats.failedLogins > before, 'the responder checked the LOGIN7 password and refused it');
  });

  it('reports a port with nothing listening as SB_ERR_SQL_UNREACHABLE', async () => {
    const f = await failureOf(driver({ host: '127.0.0.1', port: await deadPort(), connectTimeoutMs: 3000 }).call({ procedure: P.echo, args: { a: 'x', b: 1 } }, signal));
    assert.equal(f.code, 'SB_ERR_SQL_UNREACHABLE');
    assert.equal(f.retryable, true);
    assert.ok(!f.message.includes(PASSWORD));
  });

  it('rejects an injected procedure name before any I/O and binds hostile values verbatim', async () => {
    const fresh = driver();
    const connections = server?.stats.connections ?? 0;
    for (const procedure of [`${P.echo}; DROP TABLE t`, "dbo.echo'--", 'a.b.c', '[dbo].[echo]', 'dbo.echo ']) {
      const f = await failureOf(fresh.call({ procedure, args: {} }, signal));
      assert.equal(f.code, 'SB_ERR_SQL_INVALID_NAME', procedure);
      const s = fresh.stream({ procedure, args: {} }, { chunkRows: 10, signal });
      assert.equal((await failureOf(collect(s))).code, 'SB_ERR_SQL_INVALID_NAME');
    }
    if (server) assert.equal(server.stats.connections, connections, 'no connection was opened for a bad name');
    const hostile = "'); DROP TABLE t; --";
    const r = await d.call({ procedure: P.echo, args: { a: hostile, b: 3 } }, signal);
    assert.deepEqual(r.rows, [{ a: hostile, b: 3 }]);
    const pos = await d.call({ procedure: P.echo, args: [hostile, -1] }, signal);
    assert.deepEqual(pos.rows, [{ a: hostile, b: -1 }]);
  });

  it('streams 1,000,000 rows in batches of at most chunkRows with bounded memory', async function () {
    this.timeout(300_000);
    // The responder runs in a process of its own here, so this process's RSS is the client's alone.
    const child = REAL_URL ? undefined : await spawnResponder(PASSWORD);
    try {
      const big = child ? driver({ port: child.port }) : d;
      const procedure = child ? 'dbo.rows' : P.rows;
      const n = 1_000_000;
      const chunkRows = 5000;
      const rss0 = process.memoryUsage.rss();
      let peak = rss0;
      let seen = 0;
      let batches = 0;
      const s = big.stream({ procedure, args: { n } }, { chunkRows, signal });
      for await (const b of s) {
        assert.ok(b.rows.length <= chunkRows, `batch of ${b.rows.length}`);
        assert.equal(b.resultSet, 0);
        const first = b.rows[0] as { i: number } | undefined;
        if (first) assert.equal(first.i, seen + 1, 'rows arrive in order, none lost');
        seen += b.rows.length;
        if (++batches % 10 === 0) peak = Math.max(peak, process.memoryUsage.rss());
      }
      peak = Math.max(peak, process.memoryUsage.rss());
      assert.equal(seen, n);
      assert.deepEqual((await s.summary).rowCounts, [n]);
      assert.ok(peak - rss0 < 64 * 1024 * 1024, `RSS grew by ${((peak - rss0) / 1048576).toFixed(1)} MiB`);
    } finally {
      await child?.stop();
    }
  });

  it('applies backpressure: the server blocks while the consumer does not pull', async function () {
    if (!server) {
      // A real server's send buffer cannot be observed from here; the 1,000,000-row test bounds memory.
      return;
    }
    const srv = server;
    const n = 1_000_000;
    const written0 = srv.stats.rowsWritten;
    const it = d.stream({ procedure: P.rows, args: { n, width: 200 } }, { chunkRows: 100, signal })[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    // Not pulling: the responder fills the socket, then waits for 'drain'.
    await until(() => srv.stats.blocked, 10_000, 'the responder to block on a full socket');
    const ahead = srv.stats.rowsWritten - written0;
    assert.ok(ahead < n / 10, `the server ran ${ahead} rows ahead of a consumer that took 100`);
    // Pulling again lets it go on.
    for (let i = 0; i < 2000; i++) assert.equal((await it.next()).done, false);
    await until(() => srv.stats.rowsWritten - written0 > ahead, 10_000, 'the responder to resume');
    const attentions = srv.stats.attentions;
    await it.return?.(undefined);
    await until(() => srv.stats.attentions > attentions, 5000, 'an ATTENTION');
    assert.ok(srv.stats.rowsWritten - written0 < n, 'the rest was never produced');
  });

  it('cancels mid-stream on abort: the iteration ends fast, the server sees an ATTENTION, the pool still works', async () => {
    const one = driver({ poolSize: 1 }); // a leaked connection would make the next call hang
    const ac = new AbortController();
    const attentions = server?.stats.attentions ?? 0;
    const s = one.stream({ procedure: P.rows, args: { n: 1_000_000 } }, { chunkRows: 500, signal: ac.signal });
    let got = 0;
    const t0 = Date.now();
    await assert.rejects(
      (async () => {
        for await (const b of s) {
          got += b.rows.length;
          if (got >= 1000) ac.abort(new JobFailure('SB_ERR_TIMEOUT', 'stopped by the test'));
        }
      })(),
      (err: unknown) => err instanceof JobFailure && err.code === 'SB_ERR_TIMEOUT',
    );
    assert.ok(Date.now() - t0 < 5000, 'the iteration ended quickly');
    await assert.rejects(s.summary);
    if (server) {
      const srv = server;
      await until(() => srv.stats.attentions > attentions, 5000, 'an ATTENTION');
    }
    const again = await one.call({ procedure: P.echo, args: { a: 'after', b: 1 } }, signal);
    assert.deepEqual(again.rows, [{ a: 'after', b: 1 }]);

    // Leaving the loop early (break) cancels too.
    const before = server?.stats.attentions ?? 0;
    for await (const b of one.stream({ procedure: P.rows, args: { n: 1_000_000 } }, { chunkRows: 500, signal })) {
      assert.ok(b.rows.length > 0);
      break;
    }
    if (server) assert.ok(server.stats.attentions > before, 'break sent an ATTENTION');
    assert.deepEqual((await one.call({ procedure: P.echo, args: { a: 'again', b: 2 } }, signal)).rows, [{ a: 'again', b: 2 }]);
  });

  it('cancels a buffered call on abort', async () => {
    const ac = new AbortController();
    const p = d.call({ procedure: P.rows, args: { n: 1_000_000 } }, ac.signal);
    const reason = new JobFailure('SB_ERR_TIMEOUT', 'stopped by the test');
    if (server) {
      const srv = server;
      const written = srv.stats.rowsWritten;
      await until(() => srv.stats.rowsWritten > written, 5000, 'rows to flow');
    }
    ac.abort(reason);
    await assert.rejects(p, (err) => err === reason);
    assert.deepEqual((await d.call({ procedure: P.echo, args: { a: 'ok', b: 0 } }, signal)).rows, [{ a: 'ok', b: 0 }]);
  });
});
