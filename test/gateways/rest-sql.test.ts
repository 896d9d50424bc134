/**
 * The SQL admin API over real HTTP (gateways/rest/routes/sql.ts) with a real worker running
 * `sql.callproc` against the real MariaDB: a new connection has a random password nobody knows
 * (`passwordSet: false`, jobs fail SB_ERR_SQL_PASSWORD_NOT_SET), the admin sets the real one, and
 * calls work; PATCH rebuilds the pool; the ACL routes; 403 for non-admins; stable 400/404/409s; the
 * `switchboard sql` CLI functions against the same gateway. The planted password is searched for in
 * every response body and every log line.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import { createBroker } from '../../broker/broker.js';
import { isSbError } from '../../broker/errors.js';
import { createLogger } from '../../broker/log.js';
import { createMetrics } from '../../broker/metrics.js';
import { Keyring } from '../../broker/secrets.js';
import type { Broker } from '../../broker/types.js';
import { createRestGateway, type RestGateway } from '../../gateways/index.js';
import { sqlRoutes } from '../../gateways/rest/routes/sql.js';
import { resolveProcessConfig } from '../../schemas/config.js';
import { SQL_CALLPROC_TYPE, sqlConnKey } from '../../schemas/sql.js';
import { createSecurity } from '../../security/index.js';
import { createWorker, resolveWorkerConfig, type Worker } from '../../workers/index.js';
import { createSqlCallprocHandler } from '../../workers/sql/index.js';
import { createMssqlDriver } from '../../workers/sql/mssql.js';
import { createMysqlDriver } from '../../workers/sql/mysql.js';
import { createPostgresDriver } from '../../workers/sql/postgres.js';
import { runSqlCall, runSqlConn } from '../../cli/sql.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { basic, dropBucket, rand, testBucket } from './rest-harness.js';
import { LogSink } from '../support/log-sink.js';

const ADMIN_PASSWORD = 'admin-sql-password';
const DB_PASSWORD = `Pl4nted-${randomBytes(8).toString('hex')}`;

describe('REST: SQL connections, passwords and ACL (/v1/connections/sql, /v1/sql/acl)', function () {
  this.timeout(30_000);
  const bucket = testBucket('restsql');
  const hex = randomBytes(4).toString('hex');
  const conn = `crm${hex}`;
  const proc = `sbr_${hex}_add`;
  const dbUser = `sbr_${hex}`;
  const sink = new LogSink();
  const logger = createLogger({ level: 'trace', destination: sink });
  const answers: string[] = [];
  let gwBroker: Broker;
  let wkBroker: Broker;
  let gateway: RestGateway;
  let worker: Worker;
  let maria: mysql.Connection;
  let base: string;
  let savedKeys: string | undefined;
  const admin = basic('admin', ADMIN_PASSWORD);
  const carol = basic('carol', 'carol-password');

  async function api(method: string, path: string, body?: unknown, auth: string = admin): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const headers: Record<string, string> = { authorization: auth };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    const text = await res.text();
    answers.push(text);
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  const definition = { name: conn, kind: 'mariadb', host: '127.0.0.1', port: 3306, database: 'test', user: dbUser };

  before(async () => {
    savedKeys = process.env['SB_MASTER_KEYS'];
    // The gateway seals, the worker opens: they share the master keys, as in a deployment.
    process.env['SB_MASTER_KEYS'] = JSON.stringify(Keyring.generate('restsql'));
    const config = resolveProcessConfig({
      nats: { url: SHARED_NATS_URL, configBucket: bucket },
      http: { host: '127.0.0.1', port: 0 },
      auth: { enabled: true, adminPassword: ADMIN_PASSWORD },
    });
    gwBroker = await createBroker({ config, logger: logger.child({ proc: 'gateway' }), metrics: createMetrics({ defaultMetrics: false }) });
    const { security } = await createSecurity({ config: gwBroker.config, logger, enabled: true, adminPassword: ADMIN_PASSWORD });
    const deps = { broker: gwBroker, security, logger: logger.child({ component: 'gateway' }), metrics: createMetrics({ defaultMetrics: false }), config };
    gateway = createRestGateway(deps);
    // Until gateways/rest/app.ts registers sqlRoutes itself; the check keeps this working once it does.
    void gateway.app.register(async (app) => {
      if (!app.hasRoute({ method: 'GET', url: '/v1/connections/sql' })) await app.register(sqlRoutes(deps));
    });
    await gateway.start();
    base = `http://127.0.0.1:${gateway.address().port}`;

    wkBroker = await createBroker({ config, logger: logger.child({ proc: 'worker' }), metrics: createMetrics({ defaultMetrics: false }) });
    worker = await createWorker({
      broker: wkBroker, logger,
      handlers: [createSqlCallprocHandler({ drivers: { postgres: createPostgresDriver, mysql: createMysqlDriver, mariadb: createMysqlDriver, mssql: createMssqlDriver } })],
      config: resolveWorkerConfig({ types: [{ type: SQL_CALLPROC_TYPE, concurrency: 4, maxAttempts: 1 }], heartbeatMs: 500, drainMs: 1000 }, process.cwd()),
    });

    maria = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
    await maria.query(`CREATE PROCEDURE ${proc}(IN a INT, IN b INT) BEGIN SELECT a + b AS total; END`);
    for (const host of ['%', 'localhost']) {
      await maria.query(`CREATE USER '${dbUser}'@'${host}' IDENTIFIED BY '${DB_PASSWORD}'`);
      await maria.query(`GRANT EXECUTE, SELECT ON test.* TO '${dbUser}'@'${host}'`);
    }
    assert.equal((await api('POST', '/v1/users', { name: 'carol', password: 'carol-password', acl: { jobs: ['sql.callproc'] } })).status, 201);
  });

  after(async () => {
    await worker?.stop({ drainMs: 0 });
    await gateway?.stop({ deadlineMs: 2000 });
    await wkBroker?.close({ deadlineMs: 2000 });
    await gwBroker?.close({ deadlineMs: 2000 });
    await dropBucket(bucket);
    if (maria) {
      await maria.query(`DROP PROCEDURE IF EXISTS ${proc}`);
      for (const host of ['%', 'localhost']) await maria.query(`DROP USER IF EXISTS '${dbUser}'@'${host}'`);
      await maria.end();
    }
    if (savedKeys === undefined) delete process.env['SB_MASTER_KEYS'];
    else process.env['SB_MASTER_KEYS'] = savedKeys;
  });

  it('create: 201 with the shown form — no password, passwordSet false, defaults filled; the store holds it sealed', async () => {
    const r = await api('POST', '/v1/connections/sql', definition);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.password, undefined);
    assert.equal(r.body.passwordSet, false);
    assert.deepEqual([r.body.poolSize, r.body.connectTimeoutMs, r.body.requestTimeoutMs], [10, 10_000, 60_000]);
    const stored = gwBroker.config.get<{ password: { kid: string; ct: string }; passwordSet: boolean }>(sqlConnKey(conn));
    assert.equal(stored?.password.kid, 'restsql');
    assert.equal(stored?.passwordSet, false);
    const again = await api('POST', '/v1/connections/sql', definition);
    assert.deepEqual([again.status, again.body.error.code], [409, 'SB_ERR_CONNECTION_EXISTS']);
    assert.match(again.body.error.message, /already exists/);
    const listed = await api('GET', '/v1/connections/sql');
    assert.deepEqual(listed.body.connections.map((c: { name: string }) => c.name), [conn]);
  });

  it('a job on it fails SB_ERR_SQL_PASSWORD_NOT_SET until the password is set; then it runs as that user', async () => {
    const before = await api('POST', '/v1/jobs/sql.callproc', { connection: conn, procedure: proc, args: [2, 3] });
    assert.deepEqual([before.status, before.body.error.code], [409, 'SB_ERR_SQL_PASSWORD_NOT_SET'], JSON.stringify(before.body));

    const set = await api('PUT', `/v1/connections/sql/${conn}/password`, { password: DB_PASSWORD });
    assert.equal(set.status, 204);
    assert.equal((await api('GET', `/v1/connections/sql/${conn}`)).body.passwordSet, true);

    const after = await api('POST', '/v1/jobs/sql.callproc', { connection: conn, procedure: proc, args: [2, 3] });
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.deepEqual(after.body.output.rows.map((r: { total: unknown }) => Number(r.total)), [5]);

    // Reading a secret back (config export) is off unless the deployment turns it on (SB_SECRET_EXPORT).
    const exported = await api('POST', `/v1/connections/sql/${conn}/secrets`, { transportKey: randomBytes(32).toString('base64') });
    assert.deepEqual([exported.status, exported.body.error.code], [403, 'SB_ERR_FORBIDDEN']);
    assert.match(exported.body.error.message, /SB_SECRET_EXPORT/);
    assert.ok(!JSON.stringify(exported.body).includes(DB_PASSWORD));
  });

  it('PATCH changes fields and keeps the password; the worker rebuilds its pool', async () => {
    const r = await api('PATCH', `/v1/connections/sql/${conn}`, { poolSize: 3, requestTimeoutMs: 5000 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.poolSize, r.body.requestTimeoutMs, r.body.passwordSet, r.body.connectTimeoutMs], [3, 5000, true, 10_000]);
    const call = await api('POST', '/v1/jobs/sql.callproc', { connection: conn, procedure: proc, args: [40, 2] });
    assert.equal(call.status, 200, JSON.stringify(call.body));
    assert.deepEqual(call.body.output.rows.map((x: { total: unknown }) => Number(x.total)), [42]);
    // A wrong port through PATCH: the next call no longer reaches the database.
    assert.equal((await api('PATCH', `/v1/connections/sql/${conn}`, { port: 1 })).status, 200);
    const down = await api('POST', '/v1/jobs/sql.callproc', { connection: conn, procedure: proc, args: [1, 1] });
    assert.equal(down.status, 502, JSON.stringify(down.body));
    assert.match(down.body.error.message, /SB_ERR_SQL_UNREACHABLE|cannot connect/);
    assert.equal((await api('PATCH', `/v1/connections/sql/${conn}`, { port: 3306 })).status, 200);
  });

  it('the ACL: PUT, GET, DELETE; a non-admin with the job ACL is denied by it, then allowed', async () => {
    const denied = await api('POST', '/v1/jobs/sql.callproc', { connection: conn, procedure: proc, args: [1, 2] }, carol);
    assert.deepEqual([denied.status, denied.body.error.code], [403, 'SB_ERR_SQL_DENIED'], JSON.stringify(denied.body));
    const acl = { rules: [{ connections: ['crm*'], procedures: ['sbr_*_add'] }] };
    const put = await api('PUT', '/v1/sql/acl/carol', acl);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual((await api('GET', '/v1/sql/acl/carol')).body, { principal: 'carol', ...acl });
    const ok = await api('POST', '/v1/jobs/sql.callproc', { connection: conn, procedure: proc, args: [1, 2] }, carol);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await api('DELETE', '/v1/sql/acl/carol')).status, 204);
    assert.deepEqual((await api('GET', '/v1/sql/acl/carol')).body, { principal: 'carol', rules: [] });
  });

  it('non-admins get 403 on every admin route', async () => {
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/v1/connections/sql'],
      ['POST', '/v1/connections/sql', { ...definition, name: `x${rand()}` }],
      ['GET', `/v1/connections/sql/${conn}`],
      ['PATCH', `/v1/connections/sql/${conn}`, { poolSize: 2 }],
      ['PUT', `/v1/connections/sql/${conn}/password`, { password: 'carol-wants-in' }],
      ['DELETE', `/v1/connections/sql/${conn}`],
      ['PUT', '/v1/sql/acl/carol', { rules: [{ connections: ['*'], procedures: ['*'] }] }],
      ['GET', '/v1/sql/acl/carol'],
    ];
    for (const [method, path, body] of calls) {
      const r = await api(method, path, body, carol);
      assert.deepEqual([r.status, r.body.error.code], [403, 'SB_ERR_FORBIDDEN'], `${method} ${path}`);
    }
  });

  it('validation: stable 400s and 404s', async () => {
    const bad = [
      await api('POST', '/v1/connections/sql', { ...definition, name: `a${rand()}`, kind: 'oracle' }),
      await api('POST', '/v1/connections/sql', { ...definition, name: `a${rand()}`, port: 0 }),
      await api('POST', '/v1/connections/sql', { ...definition, name: `a${rand()}`, poolSize: 101 }),
      await api('POST', '/v1/connections/sql', { ...definition, name: 'has.dot' }),
      await api('POST', '/v1/connections/sql', { ...definition, name: `a${rand()}`, host: 'db/../x' }),
      await api('POST', '/v1/connections/sql', { ...definition, name: `a${rand()}`, password: 'not-here' }),
      await api('POST', '/v1/connections/sql', { name: `a${rand()}`, kind: 'postgres' }),
      await api('PATCH', `/v1/connections/sql/${conn}`, { name: 'renamed' }),
      await api('PATCH', `/v1/connections/sql/${conn}`, {}),
      await api('PUT', `/v1/connections/sql/${conn}/password`, { password: '' }),
      await api('PUT', '/v1/sql/acl/carol', { rules: [{ connections: ['a b'], procedures: ['x'] }] }),
      await api('PUT', '/v1/sql/acl/carol', { principal: 'other', rules: [] }),
    ];
    for (const r of bad) assert.deepEqual([r.status, r.body.error.code], [400, 'SB_ERR_VALIDATION'], JSON.stringify(r.body));
    for (const [method, body] of [['GET'], ['PATCH', { poolSize: 2 }], ['DELETE'], ['PUT', { password: 'x1234' }]] as Array<[string, unknown?]>) {
      const path = method === 'PUT' ? '/v1/connections/sql/nosuch/password' : '/v1/connections/sql/nosuch';
      const r = await api(method, path, body);
      assert.deepEqual([r.status, r.body.error.code], [404, 'SB_ERR_CONNECTION_NOT_FOUND'], `${method} ${path}`);
    }
  });

  it('the CLI: sql conn list / password (stdin) / call, buffered and --stream', async () => {
    const env = { baseUrl: base, authorization: admin };
    const lines: string[] = [];
    const io = (stdin = '') => ({ stdin: Readable.from([Buffer.from(stdin)]), out: (l: string) => void lines.push(l) });
    await runSqlConn(env, 'list', undefined, {}, io());
    assert.deepEqual(JSON.parse(lines.pop() as string).connections.map((c: { name: string }) => c.name), [conn]);
    await runSqlConn(env, 'password', conn, {}, io(`${DB_PASSWORD}\n`));
    assert.deepEqual(JSON.parse(lines.pop() as string), { connection: conn, passwordSet: true });
    await runSqlCall(env, { connection: conn, procedure: proc, argsJson: '[20, 22]' }, io());
    assert.deepEqual(JSON.parse(lines.pop() as string).rows.map((r: { total: unknown }) => Number(r.total)), [42]);
    lines.length = 0;
    await runSqlCall(env, { connection: conn, procedure: proc, argsJson: '[1, 2]', stream: true }, io());
    assert.equal(Number(JSON.parse(lines[0] as string).total), 3, lines.join('\n'));
    assert.equal(JSON.parse(lines.at(-1) as string).$result.output.streamed, true, lines.join('\n'));
    const denied = await runSqlConn({ baseUrl: base, authorization: carol }, 'list', undefined, {}, io()).catch((e: unknown) => e);
    assert.ok(isSbError(denied, 'SB_ERR_FORBIDDEN'), String(denied));
    answers.push(...lines);
  });

  it('delete: 204, then a job on it is SB_ERR_JOB_INVALID_INPUT; the password never appeared in an answer or a log line', async () => {
    assert.equal((await api('DELETE', `/v1/connections/sql/${conn}`)).status, 204);
    const r = await api('POST', '/v1/jobs/sql.callproc', { connection: conn, procedure: proc, args: [1, 2] });
    assert.deepEqual([r.status, r.body.error.code], [422, 'SB_ERR_JOB_INVALID_INPUT']);
    assert.ok(sink.lines.some((l) => l.includes('sql call finished')), `log lines: ${sink.lines.length}`);
    for (const text of [...answers, ...sink.lines]) assert.ok(!text.includes(DB_PASSWORD), `leaked in: ${text.slice(0, 300)}`);
  });
});
