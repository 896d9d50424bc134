/**
 * One million rows from a stored routine, streamed end to end as a user runs it: `switchboard dev`
 * (REST gateway and the built-in `sql.callproc` worker in one process), a connection defined through
 * the admin API, `POST /v1/jobs/sql.callproc` answering NDJSON, against the real PostgreSQL and
 * MariaDB. The process's peak RSS (gateway and worker together) must grow by less than 64 MiB, and a
 * client that disconnects mid-stream must stop the query on the database server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { Keyring } from '../../broker/secrets.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { startDev, type DevChild } from '../cli/process.js';
import { dropBucket } from '../gateways/rest-harness.js';

const ROWS = 1_000_000;
const MIB = 1024 * 1024;
const PG = { host: '127.0.0.1', port: 5432, user: 'root', database: 'test' };
const MY = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' };

/** VmRSS and VmHWM (peak) of a process, bytes. */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

describe('sql.callproc: a million rows streamed through gateway and worker', function () {
  this.timeout(180_000);
  const tag = randomBytes(4).toString('hex');
  const bucket = `sbt_sqle2e_${tag}`;
  const fn = `sb_e2e_rows_${tag}`;
  const myUser = `sb_e2e_${tag}`;
  const myPassword = randomBytes(12).toString('hex');
  let dev: DevChild;
  let pgc: pg.Client;
  let my: mysql.Connection;

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${dev.url}${path}`, {
      method, headers: { authorization: dev.authorization, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) as Record<string, unknown> : {} };
  };

  before(async () => {
    pgc = new pg.Client(PG);
    await pgc.connect();
    // An inlinable SQL function: PostgreSQL streams its rows instead of materialising them first.
    await pgc.query(`CREATE FUNCTION ${fn}(n int) RETURNS TABLE(i int, s text) LANGUAGE sql STABLE AS $$ SELECT g, 'row ' || g FROM generate_series(1, n) g $$`);
    my = await mysql.createConnection(MY);
    await my.query(`CREATE PROCEDURE ${fn}(IN n INT) BEGIN SELECT seq AS i, CONCAT('row ', seq) AS s FROM seq_1_to_10000000 WHERE seq <= n; END`);
    await my.query(`CREATE USER '${myUser}'@'%' IDENTIFIED BY '${myPassword}'`);
    await my.query(`GRANT EXECUTE, SELECT ON test.* TO '${myUser}'@'%'`);

    dev = await startDev(SHARED_NATS_URL, { env: { SB_CONFIG_BUCKET: bucket, SB_MASTER_KEYS: JSON.stringify(Keyring.generate('e2e')) } });
    for (const [name, kind, port, user, password] of [['pg', 'postgres', 5432, 'root', 'unused-trust-auth'], ['my', 'mariadb', 3306, myUser, myPassword]] as const) {
      const created = await api('POST', '/v1/connections/sql', { name, kind, host: '127.0.0.1', port, database: 'test', user, requestTimeoutMs: 0 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await api('PUT', `/v1/connections/sql/${name}/password`, { password })).status, 204);
    }
  });

  after(async () => {
    await dev?.stop('SIGTERM');
    await pgc?.query(`DROP FUNCTION IF EXISTS ${fn}(int)`).catch(() => undefined);
    await pgc?.end();
    await my?.query(`DROP PROCEDURE IF EXISTS ${fn}`).catch(() => undefined);
    await my?.query(`DROP USER IF EXISTS '${myUser}'@'%'`).catch(() => undefined);
    await my?.end();
    await dropBucket(bucket);
  });

  /** POSTs a streaming call; returns the response and an abort handle. */
  async function streamCall(connection: string, n: number, ac = new AbortController()): Promise<Response> {
    const res = await fetch(`${dev.url}/v1/jobs/sql.callproc?mode=stream`, {
      method: 'POST', signal: ac.signal,
      headers: { authorization: dev.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ connection, procedure: fn, args: [n], stream: true }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/x-ndjson/);
    return res;
  }

  for (const connection of ['pg', 'my']) {
    it(`${connection}: every row arrives in order, and peak RSS grows by less than 64 MiB`, async () => {
      const pid = dev.cli.proc.pid as number;
      const before = await memoryOf(pid);
      let peak = before.rss;
      const sampler = setInterval(() => {
        void memoryOf(pid).then((m) => { peak = Math.max(peak, m.rss); }, () => undefined);
      }, 25);
      let rows = 0;
      let last = '';
      let pending = '';
      const dec = new TextDecoder();
      try {
        const res = await streamCall(connection, ROWS);
        for await (const part of res.body as AsyncIterable<Uint8Array>) {
          pending += dec.decode(part, { stream: true });
          let nl = pending.indexOf('\n');
          let start = 0;
          while (nl >= 0) {
            const line = pending.slice(start, nl);
            if (line.startsWith('{"i":')) {
              rows++;
              // Spot checks keep the reader cheap: order at every 100 000th row.
              if (rows % 100_000 === 0) assert.equal((JSON.parse(line) as { i: number }).i, rows);
            } else last = line;
            start = nl + 1;
            nl = pending.indexOf('\n', start);
          }
          pending = pending.slice(start);
        }
      } finally {
        clearInterval(sampler);
      }
      const after = await memoryOf(pid);
      // VmHWM is the peak since start: it counts here only if it rose during this stream.
      if (after.hwm > before.hwm) peak = Math.max(peak, after.hwm);
      assert.equal(rows, ROWS);
      const result = (JSON.parse(last) as { $result: { status: string; output: { rowCount: number } } }).$result;
      assert.equal(result.status, 'succeeded');
      assert.equal(result.output.rowCount, ROWS);
      const growth = peak - before.rss;
      assert.ok(growth < 64 * MIB, `peak RSS grew by ${(growth / MIB).toFixed(1)} MiB (from ${(before.rss / MIB).toFixed(0)} MiB)`);
    });
  }

  it('the same routine answers buffered (the drivers load on first use)', async () => {
    for (const connection of ['pg', 'my']) {
      const r = await api('POST', '/v1/jobs/sql.callproc', { connection, procedure: fn, args: [3] });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual((r.body['output'] as { rows: unknown[] }).rows, [{ i: 1, s: 'row 1' }, { i: 2, s: 'row 2' }, { i: 3, s: 'row 3' }]);
    }
  });

  it('a client that disconnects mid-stream stops the query on both servers', async () => {
    for (const connection of ['pg', 'my']) {
      const ac = new AbortController();
      const res = await streamCall(connection, 10_000_000, ac);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let bytes = 0;
      while (bytes < 100_000) bytes += (await reader.read()).value?.length ?? 0;
      // The query runs on the server while we read.
      const running = connection === 'pg'
        ? async () => (await pgc.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%${fn}%' AND pid <> pg_backend_pid()`)).rows[0].n as number
        // Inside a procedure PROCESSLIST shows the statement running in it, under the definer's name.
        : async () => ((await my.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE '%seq_1_to_10000000%' AND ID <> CONNECTION_ID()`))[0] as Array<{ n: number }>)[0]?.n ?? 0;
      assert.ok((await running()) > 0, `${connection}: the query is running`);
      ac.abort();
      await until(async () => (await running()) === 0, 15_000, `${connection}: query gone from the server`);
    }
    // And the process that served both streams is still serving.
    assert.equal((await api('GET', '/readyz')).status, 200);
  });
});
