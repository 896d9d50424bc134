/**
 * The PostgreSQL and MariaDB drivers of `sql.callproc` against the real servers on loopback: IN/OUT
 * parameters (positional and named), several result sets, database errors with the database's own
 * code, unreachable servers and refused logins (no password in any message), injection attempts in
 * names and values, a million rows streamed in bounded memory, backpressure seen from the server side,
 * and cancellation that leaves no query running and a usable pool. Every routine, table and user made
 * here carries a random suffix and is dropped at the end.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import Cursor from 'pg-cursor';
import mysql from 'mysql2';
import mysqlp from 'mysql2/promise';
import { JobFailure } from '../../workers/types.js';
import { parseProcedureName, quoteIdent } from '../../workers/sql/identifiers.js';
import { createPostgresDriver } from '../../workers/sql/postgres.js';
import { createMysqlDriver } from '../../workers/sql/mysql.js';
import type { SqlCall, SqlConnectionOptions, SqlDriver, SqlKind } from '../../workers/sql/types.js';
import { until } from '../support/poll.js';

const SFX = randomBytes(4).toString('hex');
const MILLION = 1_000_000;
const MIB = 1024 * 1024;
const INJECTED_NAMES = ['p; DROP TABLE x', 'p()--', '"p"', 'a.b.c', '', '1p', 'a..b', 'p q', "p'", 'p`', 'p]', '.p', 'p.'];

function options(kind: SqlKind, over: Partial<SqlConnectionOptions> = {}): SqlConnectionOptions {
  const pgKind = kind === 'postgres';
  return {
    kind,
    host: '127.0.0.1',
    port: pgKind ? 5432 : 3306,
    database: 'test',
    user: 'root',
    password: '',
    poolSize: 2,
    connectTimeoutMs: 3000,
    requestTimeoutMs: 0,
    ...over,
  };
}

function isFailure(code: string, retryable?: boolean): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof JobFailure, `expected a JobFailure, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (retryable !== undefined) assert.equal(e.retryable, retryable);
    return true;
  };
}

function isAbort(e: unknown): boolean {
  assert.equal((e as Error).name, 'AbortError', String(e));
  return true;
}

/** Drains a stream, watching batch sizes and the process's RSS. */
async function drain(driver: SqlDriver, call: SqlCall, chunkRows: number): Promise<{ rows: number; maxBatch: number; rssGrowth: number; ms: number }> {
  const base = process.memoryUsage().rss;
  let peak = base;
  let rows = 0;
  let maxBatch = 0;
  const t0 = performance.now();
  for await (const b of driver.stream(call, { chunkRows, signal: new AbortController().signal })) {
    rows += b.rows.length;
    if (b.rows.length > maxBatch) maxBatch = b.rows.length;
    const rss = process.memoryUsage().rss;
    if (rss > peak) peak = rss;
  }
  return { rows, maxBatch, rssGrowth: peak - base, ms: performance.now() - t0 };
}

function rate(rows: number, ms: number): string {
  return `${Math.round(rows / (ms / 1000)).toLocaleString('en')} rows/s`;
}

describe('SQL identifiers (workers/sql/identifiers.ts)', () => {
  it('accepts name and schema.name, rejects everything else before any I/O', () => {
    assert.deepEqual(parseProcedureName('get_orders'), { name: 'get_orders' });
    assert.deepEqual(parseProcedureName('sales.Get$Orders_2'), { schema: 'sales', name: 'Get$Orders_2' });
    for (const bad of [...INJECTED_NAMES, 'x'.repeat(129)]) assert.throws(() => parseProcedureName(bad), isFailure('SB_ERR_SQL_INVALID_NAME', false), bad);
  });

  it('quotes by each database rule, doubling the closing quote', () => {
    assert.equal(quoteIdent('postgres', 'a"b'), '"a""b"');
    assert.equal(quoteIdent('mariadb', 'a`b'), '`a``b`');
    assert.equal(quoteIdent('mysql', 'ab'), '`ab`');
    assert.equal(quoteIdent('mssql', 'a]b'), '[a]]b]');
  });
});

/** Checks shared by both kinds; `kit` holds the per-database fixture names and server probes. */
interface Kit {
  kind: SqlKind;
  driver: () => SqlDriver;
  echo: string;
  gen: string;
  sleep: string;
  canaryExists: () => Promise<boolean>;
  /** Server-side id of the session running the generator, once it runs. */
  findGenerator: () => Promise<number | undefined>;
  /** Whether that session is still there (the drivers destroy a cancelled connection, so it must go). */
  stillRunning: (id: number) => Promise<boolean>;
  /** The raw driver's rows/s over the same million rows. */
  rawMillion: () => Promise<number>;
}

function sharedChecks(kit: () => Kit): void {
  it('rejects injected procedure names and parameter names with SB_ERR_SQL_INVALID_NAME before any I/O', async () => {
    const k = kit();
    // Port 1 has no server: any I/O would end in SB_ERR_SQL_UNREACHABLE instead.
    const nowhere = k.kind === 'postgres' ? createPostgresDriver(options(k.kind, { port: 1 })) : createMysqlDriver(options(k.kind, { port: 1 }));
    try {
      for (const procedure of INJECTED_NAMES) {
        await assert.rejects(nowhere.call({ procedure, args: [] }, new AbortController().signal), isFailure('SB_ERR_SQL_INVALID_NAME', false), procedure);
        await assert.rejects(
          (async () => {
            for await (const _ of nowhere.stream({ procedure, args: [] }, { chunkRows: 10, signal: new AbortController().signal }));
          })(),
          isFailure('SB_ERR_SQL_INVALID_NAME', false),
        );
      }
      await assert.rejects(nowhere.call({ procedure: k.echo, args: { 'v"; DROP TABLE x; --': 1 } }, new AbortController().signal), isFailure('SB_ERR_SQL_INVALID_NAME'));
    } finally {
      await nowhere.close();
    }
  });

  it('passes argument values verbatim as data (the canary table survives)', async () => {
    const k = kit();
    const d = k.driver();
    try {
      const canary = `sbt_canary_${SFX}`;
      const values = [`'); DROP TABLE ${canary}; --`, `"); DROP TABLE ${canary}; --`, `\\'; DROP TABLE ${canary}; --`, `$1 ? @x \`x\` ]] */ /*`, "O'Brien ? \\0 \u00e9\u{1F600}"];
      for (const v of values) {
        const r = await d.call({ procedure: k.echo, args: [v] }, new AbortController().signal);
        assert.deepEqual(r.rows, [{ v_out: v }]);
        const named = await d.call({ procedure: k.echo, args: { v } }, new AbortController().signal);
        assert.deepEqual(named.rows, [{ v_out: v }]);
      }
      assert.equal(await k.canaryExists(), true);
    } finally {
      await d.close();
    }
  });

  it('returns SB_ERR_SQL_UNREACHABLE (retryable) for a server that is not there', async () => {
    const k = kit();
    const d = k.kind === 'postgres' ? createPostgresDriver(options(k.kind, { port: 1 })) : createMysqlDriver(options(k.kind, { port: 1 }));
    try {
      await assert.rejects(d.call({ procedure: k.echo, args: ['x'] }, new AbortController().signal), (e) => {
        isFailure('SB_ERR_SQL_UNREACHABLE', true)(e);
        assert.match((e as Error).message, /ECONNREFUSED/);
        return true;
      });
    } finally {
      await d.close();
    }
  });

  it('streams a million rows in batches of at most chunkRows with RSS growth under 64 MiB', async function () {
    this.timeout(120_000);
    const k = kit();
    const d = k.driver();
    try {
      const raw = await k.rawMillion();
      const r = await drain(d, { procedure: k.gen, args: [MILLION] }, 1000);
      assert.equal(r.rows, MILLION);
      assert.ok(r.maxBatch <= 1000 && r.maxBatch > 0, `max batch ${r.maxBatch}`);
      assert.ok(r.rssGrowth < 64 * MIB, `RSS grew by ${(r.rssGrowth / MIB).toFixed(1)} MiB`);
      const ours = MILLION / (r.ms / 1000);
      console.log(`      ${k.kind}: 1M rows, driver stream ${rate(MILLION, r.ms)} (RSS +${(r.rssGrowth / MIB).toFixed(1)} MiB) vs raw ${Math.round(raw).toLocaleString('en')} rows/s = ${(ours / raw).toFixed(2)}x`);
      // The benchmark wants 0.7x; a loose bound here keeps a noisy machine from failing the suite.
      assert.ok(ours >= 0.5 * raw, `driver ${Math.round(ours)} rows/s vs raw ${Math.round(raw)} rows/s`);
    } finally {
      await d.close();
    }
  });

  it('cancels mid-stream: the iteration ends with an abort, the server query is gone, the pool still works', async function () {
    this.timeout(30_000);
    const k = kit();
    const d = k.driver(); // poolSize 2: a leaked connection per cancel would starve the last call
    try {
      for (let round = 0; round < 3; round++) {
        const ac = new AbortController();
        let batches = 0;
        let id: number | undefined;
        let abortedAt = 0;
        await assert.rejects(
          (async () => {
            for await (const b of d.stream({ procedure: k.gen, args: [MILLION] }, { chunkRows: 500, signal: ac.signal })) {
              assert.ok(b.rows.length <= 500);
              if (++batches === 1) id = await until(() => k.findGenerator(), 5000, 'the generator on the server');
              if (batches === 3) {
                abortedAt = performance.now();
                ac.abort();
              }
            }
          })(),
          isAbort,
        );
        assert.ok(performance.now() - abortedAt < 2000, 'the abort took too long');
        assert.equal(batches, 3);
        await until(async () => !(await k.stillRunning(id!)), 5000, 'the server-side query to end');
      }
      const r = await d.call({ procedure: k.echo, args: ['still usable'] }, new AbortController().signal);
      assert.deepEqual(r.rows, [{ v_out: 'still usable' }]);
    } finally {
      await d.close();
    }
  });

  it('cancels a statement that is running on the server (no rows yet)', async function () {
    this.timeout(30_000);
    const k = kit();
    const d = k.driver();
    try {
      const ac = new AbortController();
      const t0 = performance.now();
      setTimeout(() => ac.abort(), 300);
      await assert.rejects(d.call({ procedure: k.sleep, args: [30] }, ac.signal), isAbort);
      assert.ok(performance.now() - t0 < 3000, `took ${performance.now() - t0} ms`);
      const r = await d.call({ procedure: k.echo, args: ['after'] }, new AbortController().signal);
      assert.deepEqual(r.rows, [{ v_out: 'after' }]);
    } finally {
      await d.close();
    }
  });

  it('an abort while waiting for a pooled connection ends the wait; the pool keeps working', async () => {
    const k = kit();
    const d = k.kind === 'postgres' ? createPostgresDriver(options(k.kind, { poolSize: 1 })) : createMysqlDriver(options(k.kind, { poolSize: 1 }));
    try {
      const holder = new AbortController();
      const holding = d.call({ procedure: k.sleep, args: [30] }, holder.signal);
      const waiter = new AbortController();
      const waiting = d.call({ procedure: k.echo, args: ['never'] }, waiter.signal);
      setTimeout(() => waiter.abort(), 200);
      const t0 = performance.now();
      await assert.rejects(waiting, isAbort);
      assert.ok(performance.now() - t0 < 1000);
      holder.abort();
      await assert.rejects(holding, isAbort);
      assert.deepEqual((await d.call({ procedure: k.echo, args: ['next'] }, new AbortController().signal)).rows, [{ v_out: 'next' }]);
    } finally {
      await d.close();
    }
  });

  it('a statement over requestTimeoutMs is stopped: SB_ERR_SQL_FAILED, not retried', async () => {
    const k = kit();
    const d = k.kind === 'postgres' ? createPostgresDriver(options(k.kind, { requestTimeoutMs: 300 })) : createMysqlDriver(options(k.kind, { requestTimeoutMs: 300 }));
    try {
      const t0 = performance.now();
      await assert.rejects(d.call({ procedure: k.sleep, args: [30] }, new AbortController().signal), (e) => {
        isFailure('SB_ERR_SQL_FAILED', false)(e);
        assert.match((e as Error).message, k.kind === 'postgres' ? /^postgres 57014: canceling statement due to statement timeout/ : /ran longer than 300 ms/);
        return true;
      });
      assert.ok(performance.now() - t0 < 3000);
      assert.deepEqual((await d.call({ procedure: k.echo, args: ['next'] }, new AbortController().signal)).rows, [{ v_out: 'next' }]);
    } finally {
      await d.close();
    }
  });

  it('breaking out of the loop stops the statement and frees the connection', async () => {
    const k = kit();
    const d = k.driver();
    try {
      for (let i = 0; i < 3; i++) {
        const s = d.stream({ procedure: k.gen, args: [MILLION] }, { chunkRows: 100, signal: new AbortController().signal });
        let n = 0;
        for await (const _ of s) if (++n === 2) break;
        await assert.rejects(s.summary);
      }
      const r = await d.call({ procedure: k.echo, args: ['x'] }, new AbortController().signal);
      assert.deepEqual(r.rows, [{ v_out: 'x' }]);
    } finally {
      await d.close();
    }
  });
}

describe('PostgreSQL driver (workers/sql/postgres.ts)', function () {
  this.timeout(30_000);
  const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'root', database: 'test' });
  const n = (s: string): string => `sbt_${s}_${SFX}`;
  const kitOf = (): Kit => ({
    kind: 'postgres',
    driver: () => createPostgresDriver(options('postgres')),
    echo: n('echo'),
    gen: n('gen'),
    sleep: n('sleep'),
    canaryExists: async () => (await admin.query('SELECT to_regclass($1) IS NOT NULL AS ok', [n('canary')])).rows[0].ok === true,
    findGenerator: async () => {
      const r = await admin.query(`SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`, [`%${n('gen')}%`]);
      return r.rows[0]?.pid as number | undefined;
    },
    stillRunning: async (pid) => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [pid])).rowCount !== 0,
    rawMillion: async () => {
      const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'root', database: 'test' });
      await client.connect();
      try {
        const t0 = performance.now();
        const cursor = client.query(new Cursor(`SELECT * FROM ${n('gen')}($1)`, [MILLION]));
        let rows = 0;
        for (;;) {
          const b = await cursor.read(1000);
          if (b.length === 0) break;
          rows += b.length;
        }
        await cursor.close();
        assert.equal(rows, MILLION);
        return MILLION / ((performance.now() - t0) / 1000);
      } finally {
        await client.end();
      }
    },
  });

  before(async () => {
    await admin.connect();
    await admin.query(`
      CREATE TABLE ${n('canary')} (id int);
      CREATE SEQUENCE ${n('seq')};
      CREATE FUNCTION ${n('fn')}(a int, b text, OUT doubled int, OUT label text) LANGUAGE sql AS $$ SELECT a * 2, b || '!' $$;
      CREATE PROCEDURE ${n('proc')}(IN a int, INOUT b int, OUT c text) LANGUAGE plpgsql AS $$ BEGIN b := b + a; c := 'x' || a; END $$;
      CREATE FUNCTION ${n('multi')}(k int) RETURNS SETOF refcursor LANGUAGE plpgsql AS $$
        DECLARE c1 refcursor; c2 refcursor; c3 refcursor;
        BEGIN
          OPEN c1 FOR SELECT g AS n FROM generate_series(1, k) g; RETURN NEXT c1;
          OPEN c2 FOR SELECT 'a'::text AS s, true AS flag; RETURN NEXT c2;
          OPEN c3 FOR SELECT 1 AS never WHERE false; RETURN NEXT c3;
        END $$;
      CREATE PROCEDURE ${n('mproc')}(IN k int, INOUT c1 refcursor, INOUT c2 refcursor, OUT total int) LANGUAGE plpgsql AS $$
        BEGIN
          OPEN c1 FOR SELECT g AS n FROM generate_series(1, k) g;
          OPEN c2 FOR SELECT 'z'::text AS s;
          total := k * 10;
        END $$;
      CREATE FUNCTION ${n('echo')}(v text) RETURNS TABLE(v_out text) LANGUAGE sql AS $$ SELECT v $$;
      CREATE FUNCTION ${n('gen')}(k int) RETURNS TABLE(i int, t text) LANGUAGE sql STABLE AS $$ SELECT g, 'row' FROM generate_series(1, k) g $$;
      -- STABLE so it is inlined: nextval then runs once per row actually fetched, which shows how far the server ran.
      CREATE FUNCTION ${n('tick')}(k int) RETURNS TABLE(i int, s bigint) LANGUAGE sql STABLE AS $$ SELECT g, nextval('${n('seq')}') FROM generate_series(1, k) g $$;
      CREATE FUNCTION ${n('sleep')}(secs float8) RETURNS TABLE(v_out text) LANGUAGE sql AS $$ SELECT 'slept' FROM pg_sleep(secs) $$;
      CREATE FUNCTION ${n('fail')}() RETURNS int LANGUAGE sql AS $$ SELECT 1 / 0 $$;
    `);
  });

  after(async () => {
    await admin.query(`
      DROP TABLE IF EXISTS ${n('canary')};
      DROP FUNCTION IF EXISTS ${n('fn')}, ${n('multi')}, ${n('echo')}, ${n('gen')}, ${n('tick')}, ${n('sleep')}, ${n('fail')};
      DROP PROCEDURE IF EXISTS ${n('proc')}, ${n('mproc')};
      DROP SEQUENCE IF EXISTS ${n('seq')};
    `);
    await admin.end();
  });

  let d: SqlDriver;
  beforeEach(() => (d = createPostgresDriver(options('postgres'))));
  afterEach(() => d.close());
  const sig = (): AbortSignal => new AbortController().signal;

  it('calls a function with OUT parameters (columns), positional and named', async () => {
    const r = await d.call({ procedure: n('fn'), args: [21, 'hi'] }, sig());
    assert.deepEqual(r, { rows: [{ doubled: 42, label: 'hi!' }], outputParams: {}, returnValue: null, rowCounts: [1] });
    const named = await d.call({ procedure: `public.${n('fn')}`, args: { b: 'yo', a: 2 } }, sig());
    assert.deepEqual(named.rows, [{ doubled: 4, label: 'yo!' }]);
    // An OUT marker for a function is not an argument (OUT params of a function are columns).
    const marked = await d.call({ procedure: n('fn'), args: [1, 'a', { out: true }, { out: true }] }, sig());
    assert.deepEqual(marked.rows, [{ doubled: 2, label: 'a!' }]);
  });

  it('calls a procedure with IN, INOUT and OUT parameters, positional and named', async () => {
    const r = await d.call({ procedure: n('proc'), args: [3, { out: true, value: 4 }, { out: true }] }, sig());
    assert.deepEqual(r, { rows: [], outputParams: { b: 7, c: 'x3' }, returnValue: null, rowCounts: [] });
    const named = await d.call({ procedure: n('proc'), args: { c: { out: true }, b: { out: true, value: 10 }, a: 5 }, routine: 'procedure' }, sig());
    assert.deepEqual(named.outputParams, { b: 15, c: 'x5' });
  });

  it('returns several result sets from refcursors (function SETOF refcursor, procedure INOUT refcursor)', async () => {
    const r = await d.call({ procedure: n('multi'), args: [3] }, sig());
    assert.deepEqual(r.resultSets, [[{ n: 1 }, { n: 2 }, { n: 3 }], [{ s: 'a', flag: true }], []]);
    assert.deepEqual(r.rows, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual(r.rowCounts, [3, 1, 0]);
    const p = await d.call({ procedure: n('mproc'), args: { k: 2, c1: { out: true, value: 'my cursor "1"' }, c2: { out: true }, total: { out: true } } }, sig());
    assert.deepEqual(p.resultSets, [[{ n: 1 }, { n: 2 }], [{ s: 'z' }]]);
    assert.deepEqual(p.outputParams, { total: 20 });

    // Streamed: FETCH chunkRows at a time, columns on the first batch of every set, also an empty one.
    const batches = [];
    for await (const b of d.stream({ procedure: n('multi'), args: [5] }, { chunkRows: 2, signal: sig() })) batches.push(b);
    assert.deepEqual(batches, [
      { resultSet: 0, columns: ['n'], rows: [{ n: 1 }, { n: 2 }] },
      { resultSet: 0, rows: [{ n: 3 }, { n: 4 }] },
      { resultSet: 0, rows: [{ n: 5 }] },
      { resultSet: 1, columns: ['s', 'flag'], rows: [{ s: 'a', flag: true }] },
      { resultSet: 2, columns: ['never'], rows: [] },
    ]);
  });

  it('maps database errors to SB_ERR_SQL_FAILED with the SQLSTATE', async () => {
    await assert.rejects(d.call({ procedure: n('nope'), args: [1] }, sig()), (e) => {
      isFailure('SB_ERR_SQL_FAILED', false)(e);
      assert.match((e as Error).message, new RegExp(`^postgres 42883: function ${n('nope')}\\(unknown\\) does not exist`));
      return true;
    });
    await assert.rejects(d.call({ procedure: n('fail'), args: [] }, sig()), (e) => {
      isFailure('SB_ERR_SQL_FAILED', false)(e);
      assert.equal((e as Error).message, 'postgres 22012: division by zero');
      return true;
    });
    // The pool survives failures.
    assert.deepEqual((await d.call({ procedure: n('echo'), args: ['ok'] }, sig())).rows, [{ v_out: 'ok' }]);
  });

  it('a refused login is SB_ERR_SQL_UNREACHABLE without the password (pg_hba here is trust: an unknown role stands in for a wrong password)', async () => {
    const password = `Pl4nted-${randomBytes(6).toString('hex')}`;
    const bad = createPostgresDriver(options('postgres', { user: n('nobody'), password }));
    try {
      await assert.rejects(bad.call({ procedure: n('echo'), args: [password] }, sig()), (e) => {
        isFailure('SB_ERR_SQL_UNREACHABLE', true)(e);
        assert.match((e as Error).message, /28000/);
        assert.ok(!(e as Error).message.includes(password));
        assert.ok(!JSON.stringify(e).includes(password));
        return true;
      });
    } finally {
      await bad.close();
    }
  });

  it('does not fetch ahead while the consumer does not pull (server-side row counter)', async () => {
    const counter = async (): Promise<number> => {
      const r = await admin.query(`SELECT last_value, is_called FROM ${n('seq')}`);
      return r.rows[0].is_called ? Number(r.rows[0].last_value) : 0;
    };
    const start = await counter();
    let pulled = 0;
    let batches = 0;
    for await (const b of d.stream({ procedure: n('tick'), args: [MILLION] }, { chunkRows: 100, signal: sig() })) {
      pulled += b.rows.length;
      const now = await counter();
      await sleep(200);
      const later = await counter();
      assert.equal(later, now, 'rows were produced while the consumer was not pulling');
      assert.ok(later - start <= pulled + 1, `server produced ${later - start} rows, consumer pulled ${pulled}`);
      if (++batches === 4) break;
    }
    assert.equal(pulled, 400);
  });

  sharedChecks(kitOf);
});

describe('MariaDB driver (workers/sql/mysql.ts)', function () {
  this.timeout(30_000);
  let admin: mysqlp.Connection;
  const n = (s: string): string => `sbt_${s}_${SFX}`;
  const user = n('u');
  const userPassword = `Pl4nted-${randomBytes(6).toString('hex')}`;
  const kitOf = (): Kit => ({
    kind: 'mariadb',
    driver: () => createMysqlDriver(options('mariadb')),
    echo: n('echo'),
    gen: n('gen'),
    sleep: n('sleep'),
    canaryExists: async () => {
      const [rows] = await admin.query<mysqlp.RowDataPacket[]>('SELECT COUNT(*) AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [n('canary')]);
      return Number(rows[0]!['c']) === 1;
    },
    findGenerator: async () => {
      const [rows] = await admin.query<mysqlp.RowDataPacket[]>(
        `SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%seq_1_to_1000000%' AND ID <> CONNECTION_ID()`,
      );
      return rows[0]?.['ID'] as number | undefined;
    },
    stillRunning: async (id) => {
      const [rows] = await admin.query<mysqlp.RowDataPacket[]>(`SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?`, [id]);
      return rows.length > 0;
    },
    rawMillion: async () => {
      const conn = mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
      try {
        const t0 = performance.now();
        let rows = 0;
        for await (const row of conn.execute(`CALL ${n('gen')}(?)`, [MILLION]).stream({ highWaterMark: 1000 })) {
          if ((row as { constructor: { name: string } }).constructor.name !== 'ResultSetHeader') rows++;
        }
        assert.equal(rows, MILLION);
        return MILLION / ((performance.now() - t0) / 1000);
      } finally {
        conn.destroy();
      }
    },
  });

  before(async () => {
    admin = await mysqlp.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
    const ddl = [
      `CREATE TABLE ${n('canary')} (id INT)`,
      `CREATE TABLE ${n('ctr')} (id INT PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB`,
      `INSERT INTO ${n('ctr')} VALUES (1, 0)`,
      `CREATE FUNCTION ${n('bump')}() RETURNS INT NOT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE ${n('ctr')} SET n = n + 1 WHERE id = 1; RETURN 1; END`,
      `CREATE PROCEDURE ${n('proc')}(IN a INT, INOUT b INT, OUT c VARCHAR(20)) BEGIN SET b = b + a; SET c = CONCAT('x', a); SELECT a * 2 AS doubled; END`,
      `CREATE PROCEDURE ${n('multi')}() BEGIN SELECT seq AS n FROM seq_1_to_3; SELECT 'a' AS s, 1 AS flag; SELECT seq AS never FROM seq_1_to_3 WHERE seq > 5; END`,
      `CREATE PROCEDURE ${n('echo')}(IN v TEXT) BEGIN SELECT v AS v_out; END`,
      `CREATE PROCEDURE ${n('gen')}(IN k INT) BEGIN SELECT seq AS i, 'row' AS t FROM seq_1_to_1000000 WHERE seq <= k; END`,
      // Each row produced bumps a counter (read uncommitted from outside): shows how far the server ran.
      `CREATE PROCEDURE ${n('tick')}(IN k INT) BEGIN SELECT seq AS i, ${n('bump')}() AS b, REPEAT('x', 200) AS pad FROM seq_1_to_1000000 WHERE seq <= k; END`,
      `CREATE PROCEDURE ${n('sleep')}(IN secs DOUBLE) BEGIN SELECT SLEEP(secs) AS v_out; END`,
      `CREATE PROCEDURE ${n('fail')}() BEGIN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'custom failure'; END`,
      `CREATE USER '${user}'@'localhost' IDENTIFIED BY '${userPassword}'`,
      `CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${userPassword}'`,
      `GRANT EXECUTE ON test.* TO '${user}'@'localhost'`,
      `GRANT EXECUTE ON test.* TO '${user}'@'127.0.0.1'`,
    ];
    for (const s of ddl) await admin.query(s);
    await admin.query('SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED');
  });

  after(async () => {
    for (const p of ['proc', 'multi', 'echo', 'gen', 'tick', 'sleep', 'fail']) await admin.query(`DROP PROCEDURE IF EXISTS ${n(p)}`);
    await admin.query(`DROP FUNCTION IF EXISTS ${n('bump')}`);
    await admin.query(`DROP TABLE IF EXISTS ${n('canary')}, ${n('ctr')}`);
    await admin.query(`DROP USER IF EXISTS '${user}'@'localhost', '${user}'@'127.0.0.1'`);
    await admin.end();
  });

  let d: SqlDriver;
  beforeEach(() => (d = createMysqlDriver(options('mariadb'))));
  afterEach(() => d.close());
  const sig = (): AbortSignal => new AbortController().signal;

  it('calls a procedure with IN, INOUT and OUT parameters, positional and named', async () => {
    const r = await d.call({ procedure: n('proc'), args: [3, { out: true, value: 4 }, { out: true }] }, sig());
    assert.deepEqual(r, { rows: [{ doubled: 6 }], outputParams: { b: 7, c: 'x3' }, returnValue: null, rowCounts: [1] });
    const named = await d.call({ procedure: `test.${n('proc')}`, args: { c: { out: true }, b: { out: true, value: 10 }, a: 5 } }, sig());
    assert.deepEqual(named.outputParams, { b: 15, c: 'x5' });
    assert.deepEqual(named.rows, [{ doubled: 10 }]);
    // A plain value for an INOUT parameter is its initial value; an OUT left out of named args is still read.
    const plain = await d.call({ procedure: n('proc'), args: { a: 1, b: 1 } }, sig());
    assert.deepEqual(plain.outputParams, { b: 2, c: 'x1' });
    await assert.rejects(d.call({ procedure: n('proc'), args: { a: 1, zzz: 2 } }, sig()), isFailure('SB_ERR_SQL_FAILED'));
  });

  it('returns several result sets (one per SELECT), without the final OK packet', async () => {
    const r = await d.call({ procedure: n('multi'), args: [] }, sig());
    assert.deepEqual(r.resultSets, [[{ n: 1 }, { n: 2 }, { n: 3 }], [{ s: 'a', flag: 1 }], []]);
    assert.deepEqual(r.rowCounts, [3, 1, 0]);
    const batches = [];
    for await (const b of d.stream({ procedure: n('multi'), args: [] }, { chunkRows: 2, signal: sig() })) batches.push(b);
    assert.deepEqual(batches, [
      { resultSet: 0, columns: ['n'], rows: [{ n: 1 }, { n: 2 }] },
      { resultSet: 0, rows: [{ n: 3 }] },
      { resultSet: 1, columns: ['s', 'flag'], rows: [{ s: 'a', flag: 1 }] },
      { resultSet: 2, columns: ['never'], rows: [] },
    ]);
  });

  it('maps database errors to SB_ERR_SQL_FAILED with the error name and number', async () => {
    await assert.rejects(d.call({ procedure: n('nope'), args: [1] }, sig()), (e) => {
      isFailure('SB_ERR_SQL_FAILED', false)(e);
      assert.match((e as Error).message, new RegExp(`^mariadb ER_SP_DOES_NOT_EXIST \\(1305\\): PROCEDURE test\\.${n('nope')} does not exist`));
      return true;
    });
    await assert.rejects(d.call({ procedure: n('fail'), args: [] }, sig()), (e) => {
      isFailure('SB_ERR_SQL_FAILED', false)(e);
      assert.equal((e as Error).message, 'mariadb ER_SIGNAL_EXCEPTION (1644): custom failure');
      return true;
    });
    await assert.rejects(d.call({ procedure: n('echo'), args: [1, 2] }, sig()), (e) => {
      isFailure('SB_ERR_SQL_FAILED', false)(e);
      assert.match((e as Error).message, /^mariadb ER_SP_WRONG_NO_OF_ARGS \(1318\)/);
      return true;
    });
    assert.deepEqual((await d.call({ procedure: n('echo'), args: ['ok'] }, sig())).rows, [{ v_out: 'ok' }]);
  });

  it('a wrong password is SB_ERR_SQL_UNREACHABLE without the password; the right one works', async () => {
    const wrong = `Wr0ng-${randomBytes(6).toString('hex')}`;
    const bad = createMysqlDriver(options('mariadb', { user, password: wrong }));
    const good = createMysqlDriver(options('mariadb', { user, password: userPassword }));
    try {
      await assert.rejects(bad.call({ procedure: n('echo'), args: [wrong] }, sig()), (e) => {
        isFailure('SB_ERR_SQL_UNREACHABLE', true)(e);
        assert.match((e as Error).message, /ER_ACCESS_DENIED_ERROR/);
        for (const s of [wrong, userPassword]) assert.ok(!(e as Error).message.includes(s) && !JSON.stringify(e).includes(s));
        return true;
      });
      assert.deepEqual((await good.call({ procedure: n('echo'), args: ['in'] }, sig())).rows, [{ v_out: 'in' }]);
    } finally {
      await bad.close();
      await good.close();
    }
  });

  it('does not read ahead while the consumer does not pull (server-side row counter stops)', async function () {
    this.timeout(30_000);
    const counter = async (): Promise<number> => {
      const [rows] = await admin.query<mysqlp.RowDataPacket[]>(`SELECT n FROM ${n('ctr')} WHERE id = 1`);
      return Number(rows[0]!['n']);
    };
    let pulled = 0;
    let batches = 0;
    const seen: number[] = [];
    for await (const b of d.stream({ procedure: n('tick'), args: [MILLION] }, { chunkRows: 100, signal: sig() })) {
      pulled += b.rows.length;
      assert.ok(b.rows.length <= 100);
      // The server fills the socket buffers (a few MB) and then blocks until rows are read again.
      await sleep(100);
      const a = await counter();
      await sleep(200);
      const later = await counter();
      seen.push(later);
      if (++batches >= 2) assert.equal(later, a, 'rows were produced while the consumer was not pulling');
      if (batches === 5) break;
    }
    assert.equal(pulled, 500);
    assert.ok(Math.max(...seen) < MILLION / 5, `the server ran ahead to ${Math.max(...seen)} rows`);
  });

  sharedChecks(kitOf);
});
