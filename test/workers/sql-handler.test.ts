/**
 * `sql.callproc` end to end through a real worker runtime on the shared NATS, with the real drivers
 * against the real PostgreSQL and MariaDB: buffered calls with OUT parameters and several result sets,
 * the SQL ACL (a denied call never reaches the database), name checks, unknown connections and the
 * "password not set" state, the buffered size limit, streaming through `broker.jobs.stream()` with
 * result-set markers, and the `callproc` one-liner inside a custom handler. MariaDB is reached as a
 * dedicated user whose password is sealed in the connection definition, so the password path is real;
 * that password is searched for in every log line and result at the end.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { createLogger } from '../../broker/log.js';
import type { Broker } from '../../broker/types.js';
import { Keyring, sealSecret, secretAad } from '../../broker/secrets.js';
import type { JobResult } from '../../schemas/job.js';
import { SQL_CALLPROC_TYPE, sqlAclKey, sqlConnKey, type SqlAcl, type SqlConnStored } from '../../schemas/sql.js';
import { createSecurity } from '../../security/index.js';
import { createWorker, resolveWorkerConfig, type Worker } from '../../workers/index.js';
import type { JobHandler } from '../../workers/types.js';
import { callproc, createSqlCallprocHandler } from '../../workers/sql/index.js';
import { createPostgresDriver } from '../../workers/sql/postgres.js';
import { createMysqlDriver } from '../../workers/sql/mysql.js';
import { createMssqlDriver } from '../../workers/sql/mssql.js';
import { cleanup, startBroker, uniq } from '../broker/helpers.js';
import { until } from '../support/poll.js';
import { dropJobTypes } from './helpers.js';
import { LogSink } from '../support/log-sink.js';

const PG = { host: '127.0.0.1', port: 5432, user: 'root', database: 'test' };
const MARIA = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };
// Planted: the MariaDB user's real password, searched for in every log line and result at the end.
const MARIA_PASSWORD = `Pl4nted-${randomBytes(8).toString('hex')}`;

describe('sql.callproc through a worker (workers/sql/handler.ts) on PostgreSQL and MariaDB', function () {
  this.timeout(30_000);
  const bucket = uniq('sbtest_sql_');
  const hex = randomBytes(4).toString('hex');
  const p = (name: string) => `sbt_${hex}_${name}`;
  const mariaUser = `sbu_${hex}`;
  const prefix = uniq('sqlt');
  const reportType = `${prefix}.report`;
  const sink = new LogSink();
  const logger = createLogger({ level: 'trace', destination: sink });
  const seen: string[] = [];
  let broker: Broker;
  let worker: Worker;
  let pgc: pg.Client;
  let maria: mysql.Connection;
  let savedKeys: string | undefined;

  async function putConn(name: string, def: Omit<SqlConnStored, 'name' | 'password' | 'passwordSet' | 'updatedAt'>, password: string, passwordSet = true): Promise<void> {
    const ring = Keyring.parse(process.env['SB_MASTER_KEYS'] as string, 'test');
    await broker.config.put(sqlConnKey(name), {
      name, ...def, password: sealSecret(ring, password, secretAad(sqlConnKey(name), 'password')), passwordSet, updatedAt: new Date().toISOString(),
    } satisfies SqlConnStored);
  }

  /** A custom handler using the one-liner: sums `n` over the rows, stopping after `limit` rows if given. */
  const report: JobHandler<{ connection: string; procedure: string; args: unknown[]; limit?: number }, { rows: number; sum: number; resultSets: number[] }> = {
    type: reportType,
    inputSchema: Type.Object({ connection: Type.String(), procedure: Type.String(), args: Type.Array(Type.Unknown()), limit: Type.Optional(Type.Integer()) }),
    outputSchema: Type.Object({ rows: Type.Integer(), sum: Type.Number(), resultSets: Type.Array(Type.Integer()) }),
    async handle(ctx, input) {
      let rows = 0;
      let sum = 0;
      const resultSets: number[] = [];
      for await (const row of callproc(ctx, input.connection, input.procedure, input.args, { chunkRows: 100, onResultSet: (i) => resultSets.push(i) })) {
        rows++;
        sum += Number(row['n'] ?? 0);
        if (input.limit !== undefined && rows >= input.limit) break;
      }
      return { rows, sum, resultSets };
    },
  };

  before(async () => {
    savedKeys = process.env['SB_MASTER_KEYS'];
    process.env['SB_MASTER_KEYS'] = JSON.stringify(Keyring.generate('sqlt'));
    broker = (await startBroker({ bucket })).broker;
    const { security } = await createSecurity({ config: broker.config, logger, enabled: true, adminPassword: 'admin-pass-123' });
    await security.users.create({ name: 'bob', password: 'bob-pass-123', roles: [] });

    pgc = new pg.Client(PG);
    await pgc.connect();
    await pgc.query(`CREATE TABLE ${p('canary')} (at timestamptz DEFAULT now())`);
    await pgc.query(`CREATE FUNCTION ${p('orders')}(customer int) RETURNS TABLE(id int, customer_id int, note text)
      LANGUAGE sql AS $$ SELECT g, customer, 'order ' || g FROM generate_series(1, 5) g $$`);
    await pgc.query(`CREATE FUNCTION ${p('series')}(total int) RETURNS TABLE(n int) LANGUAGE sql AS $$ SELECT g FROM generate_series(1, total) g $$`);
    await pgc.query(`CREATE PROCEDURE ${p('add')}(IN a int, IN b int, OUT total int) LANGUAGE plpgsql AS $$ BEGIN total := a + b; END $$`);
    await pgc.query(`CREATE PROCEDURE ${p('touch')}() LANGUAGE sql AS $$ INSERT INTO ${p('canary')} DEFAULT VALUES $$`);

    maria = await mysql.createConnection({ ...MARIA, multipleStatements: false });
    await maria.query(`CREATE PROCEDURE ${p('add')}(IN a INT, IN b INT, OUT total INT) BEGIN SET total = a + b; SELECT a AS a, b AS b; END`);
    await maria.query(`CREATE PROCEDURE ${p('two')}(IN k INT) BEGIN SELECT k AS n, 'first' AS src; SELECT seq AS n FROM seq_1_to_3; END`);
    await maria.query(`CREATE PROCEDURE ${p('many')}(IN total INT) BEGIN SELECT seq AS n FROM seq_1_to_1000000 WHERE seq <= total; END`);
    for (const host of ['%', 'localhost']) {
      await maria.query(`CREATE USER '${mariaUser}'@'${host}' IDENTIFIED BY '${MARIA_PASSWORD}'`);
      await maria.query(`GRANT EXECUTE, SELECT ON test.* TO '${mariaUser}'@'${host}'`);
    }

    await putConn('pg1', { kind: 'postgres', ...PG, poolSize: 4, connectTimeoutMs: 5000, requestTimeoutMs: 20_000 }, 'trust-ignores-it');
    await putConn('maria1', { kind: 'mariadb', ...MARIA, user: mariaUser, poolSize: 4 }, MARIA_PASSWORD);
    await putConn('maria-wrong', { kind: 'mariadb', ...MARIA, user: mariaUser }, `Wr0ng-${hex}`);
    await putConn('fresh', { kind: 'postgres', ...PG }, randomBytes(32).toString('base64url'), false);
    await broker.config.put(sqlAclKey('bob'), {
      principal: 'bob', rules: [{ connections: ['pg*'], procedures: [p('orders'), p('ser*')] }],
    } satisfies SqlAcl);

    const handler = createSqlCallprocHandler({
      drivers: { postgres: createPostgresDriver, mysql: createMysqlDriver, mariadb: createMysqlDriver, mssql: createMssqlDriver },
      maxResultBytes: 64 * 1024,
    });
    worker = await createWorker({
      broker, logger, handlers: [handler, report],
      config: resolveWorkerConfig({
        types: [
          { type: SQL_CALLPROC_TYPE, concurrency: 8, maxAttempts: 2, backoffBaseMs: 50, backoffMaxMs: 100 },
          { type: reportType, concurrency: 2, maxAttempts: 1 },
        ],
        heartbeatMs: 500, drainMs: 1000,
      }, process.cwd()),
    });
  });

  after(async () => {
    await worker?.stop({ drainMs: 0 });
    await broker?.close();
    await cleanup({ bucket });
    await dropJobTypes(prefix, ['report']);
    if (pgc) {
      for (const f of ['orders(int)', 'series(int)']) await pgc.query(`DROP FUNCTION IF EXISTS ${p(f)}`);
      for (const f of ['add(int, int, int)', 'touch()']) await pgc.query(`DROP PROCEDURE IF EXISTS ${p(f)}`);
      await pgc.query(`DROP TABLE IF EXISTS ${p('canary')}`);
      await pgc.end();
    }
    if (maria) {
      for (const f of ['add', 'two', 'many']) await maria.query(`DROP PROCEDURE IF EXISTS ${p(f)}`);
      for (const host of ['%', 'localhost']) await maria.query(`DROP USER IF EXISTS '${mariaUser}'@'${host}'`);
      await maria.end();
    }
    if (savedKeys === undefined) delete process.env['SB_MASTER_KEYS'];
    else process.env['SB_MASTER_KEYS'] = savedKeys;
  });

  async function run(input: Record<string, unknown>, principal = 'admin', type = SQL_CALLPROC_TYPE): Promise<JobResult> {
    const { result } = await broker.jobs.submitAndWait({ type, input, principal }, 20_000);
    assert.ok(result, 'the job finished');
    seen.push(JSON.stringify(result));
    return result;
  }

  async function failed(input: Record<string, unknown>, principal = 'admin'): Promise<{ code: string; message: string }> {
    const r = await run(input, principal);
    assert.equal(r.status, 'failed', JSON.stringify(r));
    return r.error as { code: string; message: string };
  }

  async function canaryRows(): Promise<number> {
    return Number((await pgc.query(`SELECT count(*)::int AS c FROM ${p('canary')}`)).rows[0].c);
  }

  it('PostgreSQL function, buffered: the rows; no OUT params, returnValue null', async () => {
    const r = await run({ connection: 'pg1', procedure: p('orders'), args: [42] });
    assert.equal(r.status, 'succeeded', JSON.stringify(r));
    const out = r.output as { rows: Array<Record<string, unknown>>; outputParams: object; returnValue: unknown; rowCounts: number[]; resultSets?: unknown };
    assert.equal(out.rows.length, 5);
    assert.deepEqual(out.rows[0], { id: 1, customer_id: 42, note: 'order 1' });
    assert.deepEqual([out.outputParams, out.returnValue, out.rowCounts, out.resultSets], [{}, null, [5], undefined]);
  });

  it('PostgreSQL procedure with an OUT parameter (positional) and MariaDB with named args, through a real password', async () => {
    const pgr = await run({ connection: 'pg1', procedure: p('add'), args: [2, 3, { out: true }] });
    assert.equal(pgr.status, 'succeeded', JSON.stringify(pgr));
    assert.deepEqual((pgr.output as { outputParams: object }).outputParams, { total: 5 });

    const mr = await run({ connection: 'maria1', procedure: p('add'), args: { a: 20, b: 22, total: { out: true } } });
    assert.equal(mr.status, 'succeeded', JSON.stringify(mr));
    const out = mr.output as { rows: unknown[]; outputParams: Record<string, unknown>; returnValue: unknown };
    assert.deepEqual(out.rows, [{ a: 20, b: 22 }]);
    assert.equal(Number(out.outputParams['total']), 42);
    assert.equal(out.returnValue, null);
  });

  it('MariaDB with two SELECTs: rows = the first, resultSets = both', async () => {
    const r = await run({ connection: 'maria1', procedure: p('two'), args: [7] });
    assert.equal(r.status, 'succeeded', JSON.stringify(r));
    const out = r.output as { rows: unknown[]; resultSets: unknown[][]; rowCounts: number[] };
    assert.deepEqual(out.rows, [{ n: 7, src: 'first' }]);
    assert.equal(out.resultSets.length, 2);
    assert.deepEqual(out.resultSets[1]?.map((x) => Number((x as { n: unknown }).n)), [1, 2, 3]);
    assert.deepEqual(out.rowCounts, [1, 3]);
  });

  it('the ACL: bob may call what his rules allow; anything else is SB_ERR_SQL_DENIED and never reaches the database', async () => {
    const ok = await run({ connection: 'pg1', procedure: p('orders'), args: [1] }, 'bob');
    assert.equal(ok.status, 'succeeded', JSON.stringify(ok));
    const before = await canaryRows();
    const denied = await failed({ connection: 'pg1', procedure: p('touch') }, 'bob');
    assert.equal(denied.code, 'SB_ERR_SQL_DENIED');
    assert.match(denied.message, /principal bob may not call sbt_\w+_touch on connection pg1/);
    // Schema-qualified is another name: `public.…` is not covered by a rule on the bare name.
    assert.equal((await failed({ connection: 'pg1', procedure: `public.${p('orders')}`, args: [1] }, 'bob')).code, 'SB_ERR_SQL_DENIED');
    assert.equal((await failed({ connection: 'maria1', procedure: p('orders'), args: [1] }, 'bob')).code, 'SB_ERR_SQL_DENIED');
    assert.equal(await canaryRows(), before, 'the denied procedure did not run');
    // The same call as an admin does run (so the check above proves the denial, not a broken procedure).
    assert.equal((await run({ connection: 'pg1', procedure: p('touch') })).status, 'succeeded');
    assert.equal(await canaryRows(), before + 1);
  });

  it('an invalid procedure name is SB_ERR_SQL_INVALID_NAME before the ACL and before any I/O', async () => {
    for (const procedure of [`${p('orders')}; DROP TABLE ${p('canary')}`, `${p('orders')}()--`, `"${p('orders')}"`, 'a.b.c']) {
      for (const principal of ['admin', 'bob']) {
        const e = await failed({ connection: 'pg1', procedure, args: [1] }, principal);
        assert.equal(e.code, 'SB_ERR_SQL_INVALID_NAME', `${procedure} as ${principal}: ${e.message}`);
      }
    }
    assert.notEqual((await pgc.query(`SELECT to_regclass('${p('canary')}') AS t`)).rows[0].t, null, 'the canary table is still there');
  });

  it('unknown connection → SB_ERR_JOB_INVALID_INPUT; a connection whose password was never set → SB_ERR_SQL_PASSWORD_NOT_SET', async () => {
    const unknown = await failed({ connection: 'nosuch', procedure: p('orders'), args: [1] });
    assert.deepEqual([unknown.code, unknown.message], ['SB_ERR_JOB_INVALID_INPUT', 'no SQL connection named nosuch']);
    const fresh = await failed({ connection: 'fresh', procedure: p('orders'), args: [1] });
    assert.equal(fresh.code, 'SB_ERR_SQL_PASSWORD_NOT_SET');
    assert.match(fresh.message, /PUT \/v1\/connections\/sql\/fresh\/password/);
  });

  it('a wrong password is SB_ERR_SQL_UNREACHABLE (retried, nothing ran), and its message holds no password', async () => {
    const r = await run({ connection: 'maria-wrong', procedure: p('add'), args: [1, 2, { out: true }] });
    assert.equal(r.status, 'failed', JSON.stringify(r));
    assert.match(r.error?.message ?? '', /SB_ERR_SQL_UNREACHABLE/);
    assert.equal(r.attempt, 2, 'retried up to maxAttempts');
    assert.ok(!JSON.stringify(r).includes(`Wr0ng-${hex}`));
  });

  it('a buffered answer over maxResultBytes fails, telling the caller to stream', async () => {
    const e = await failed({ connection: 'pg1', procedure: p('series'), args: [20_000] });
    assert.equal(e.code, 'SB_ERR_JOB_FAILED');
    assert.match(e.message, /more than the 65536 .*"stream": true/);
  });

  it('stream: true without a streaming reader is SB_ERR_JOB_INVALID_INPUT', async () => {
    const e = await failed({ connection: 'pg1', procedure: p('series'), args: [10], stream: true });
    assert.equal(e.code, 'SB_ERR_JOB_INVALID_INPUT');
    assert.match(e.message, /needs a streaming reader/);
  });

  it('streaming via broker.jobs.stream(): chunks of ≤ chunkRows rows, in order, then the summary', async () => {
    const reader = broker.jobs.stream({ type: SQL_CALLPROC_TYPE, input: { connection: 'pg1', procedure: p('series'), args: [20_000], stream: true, chunkRows: 1000 }, principal: 'bob' });
    let next = 1;
    let chunks = 0;
    for await (const chunk of reader) {
      chunks++;
      assert.ok(chunk.length <= 1000, `chunk of ${chunk.length}`);
      for (const row of chunk) assert.deepEqual(row, { n: next++ });
    }
    assert.equal(next - 1, 20_000);
    assert.ok(chunks >= 20, `${chunks} chunks`);
    const result = await reader.result;
    seen.push(JSON.stringify(result));
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.output, { streamed: true, rowCount: 20_000, rowCounts: [20_000], outputParams: {}, returnValue: null });
  });

  it('streaming several result sets: a {"$resultSet": 1, "columns"} marker before the second one\'s rows', async () => {
    const reader = broker.jobs.stream({ type: SQL_CALLPROC_TYPE, input: { connection: 'maria1', procedure: p('two'), args: [9], stream: true }, principal: 'admin' });
    const items: unknown[] = [];
    for await (const chunk of reader) items.push(...chunk);
    const norm = items.map((i) => ('$resultSet' in (i as object) ? i : { n: Number((i as { n: unknown }).n) }));
    assert.deepEqual(norm, [{ n: 9 }, { $resultSet: 1, columns: ['n'] }, { n: 1 }, { n: 2 }, { n: 3 }]);
    assert.equal((await reader.result).status, 'succeeded');
  });

  it('the callproc one-liner in a custom handler: rows one at a time, markers to onResultSet, as the calling principal', async () => {
    const sum = await run({ connection: 'pg1', procedure: p('series'), args: [5000] }, 'bob', reportType);
    assert.equal(sum.status, 'succeeded', JSON.stringify(sum));
    assert.deepEqual(sum.output, { rows: 5000, sum: (5000 * 5001) / 2, resultSets: [] });

    const two = await run({ connection: 'maria1', procedure: p('two'), args: [4] }, 'admin', reportType);
    assert.deepEqual(two.output, { rows: 4, sum: 4 + 1 + 2 + 3, resultSets: [1] });

    // The inner job runs as bob: his ACL applies to what the custom handler calls.
    const denied = await run({ connection: 'pg1', procedure: p('touch'), args: [] }, 'bob', reportType);
    assert.equal(denied.status, 'failed');
    assert.match(denied.error?.message ?? '', /SB_ERR_SQL_DENIED|may not call/);
  });

  it('leaving the loop early stops the streamed call on the database', async () => {
    const r = await run({ connection: 'maria1', procedure: p('many'), args: [1_000_000], limit: 250 }, 'admin', reportType);
    assert.equal(r.status, 'succeeded', JSON.stringify(r));
    assert.deepEqual(r.output, { rows: 250, sum: (250 * 251) / 2, resultSets: [] });
    // The inner job was cancelled: its query is gone from the server.
    await until(async () => {
      const [rows] = await maria.query(`SELECT count(*) AS c FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND = 'Query'`, [mariaUser]);
      return Number((rows as Array<{ c: unknown }>)[0]?.c) === 0;
    }, 10_000, 'the streamed query to stop');
  });

  it('no log line and no result holds the MariaDB password', () => {
    assert.ok(sink.lines.some((l) => l.includes('sql call finished')), `log lines: ${sink.lines.length}`);
    for (const text of [...sink.lines, ...seen]) assert.ok(!text.includes(MARIA_PASSWORD), `leaked in: ${text.slice(0, 300)}`);
  });
});
