/**
 * `npm run bench:sql`: BENCH_ROWS (1 000 000) rows from a stored routine on the real PostgreSQL (:5432)
 * and MariaDB (:3306), streamed
 *  - through Switchboard as a user runs it, in the production layout: `POST
 *    /v1/jobs/sql.callproc?mode=stream` (NDJSON) to the gateway (`switchboard dev`, SB_DEV_JOBS=off) and
 *    one `switchboard worker` process, on a private nats-server, the reader counting lines;
 *  - through the broker API without HTTP: `broker.jobs.stream()` from this process to the same worker;
 *  - against the raw driver stream in the same run: pg-cursor `read(chunk)` in a loop; mysql2's
 *    `query('CALL …').stream()` read with 'data' events. Same routine, same chunk size.
 * BENCH_ROUNDS (2) interleaved rounds; prints rows/s, ratios (acceptance: ours ≥ 0.7× raw) and the peak
 * RSS growth of the gateway and of the worker process (acceptance: < 64 MiB). Writes bench/results/sql-<time>.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import Cursor from 'pg-cursor';
import mysql from 'mysql2';
import mysqlp from 'mysql2/promise';
import { NatsServer } from '../test/support/nats-server.js';
import { CliProcess, startDev } from '../test/cli/process.js';
import { createBroker, createLogger, createMetrics } from '../broker/index.js';
import { Keyring } from '../broker/secrets.js';
import { resolveProcessConfig } from '../schemas/config.js';
import { printTable, ratio } from './load.js';
import { median } from './jobs-support.js';
import { cpuMsByName, cpuMsOf } from './proc-cpu.js';

const ROWS = Number(process.env['BENCH_ROWS'] ?? '1000000');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '2');
const CHUNK = Number(process.env['BENCH_CHUNK_ROWS'] ?? '1000');
const MIB = 1024 * 1024;
const tag = randomBytes(4).toString('hex');
const fn = `sb_bench_rows_${tag}`;
const myUser = `sb_bench_${tag}`;
const myPassword = randomBytes(12).toString('hex');
const PG = { host: '127.0.0.1', port: 5432, user: 'root', database: 'test' };
const MY = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' };

type Kind = 'postgres' | 'mariadb';
interface Figures { kind: Kind; raw: number; rest: number; broker: number; gatewayMiB: number; workerMiB: number; rawCpu: CpuPerRow; restCpu: CpuPerRow }
/** CPU per row, ns, by process: this process (the raw client, or the REST reader), the database server, and our three. */
type CpuPerRow = Record<'client' | 'db' | 'gateway' | 'worker' | 'nats', number>;

const loadBefore = loadavg()[0] ?? 0;
const keys = JSON.stringify(Keyring.generate('bench'));
process.env['SB_MASTER_KEYS'] = keys;
const admin = new pg.Client(PG);
await admin.connect();
await admin.query(`CREATE FUNCTION ${fn}(n int) RETURNS TABLE(i int, s text) LANGUAGE sql STABLE AS $$ SELECT g, 'row ' || g FROM generate_series(1, n) g $$`);
const myAdmin = await mysqlp.createConnection(MY);
await myAdmin.query(`CREATE PROCEDURE ${fn}(IN n INT) BEGIN SELECT seq AS i, CONCAT('row ', seq) AS s FROM seq_1_to_10000000 WHERE seq <= n; END`);
await myAdmin.query(`CREATE USER '${myUser}'@'%' IDENTIFIED BY '${myPassword}'`);
await myAdmin.query(`GRANT EXECUTE, SELECT ON test.* TO '${myUser}'@'%'`);

const nats = await NatsServer.start();
const dev = await startDev(nats.url, { env: { SB_MASTER_KEYS: keys, SB_DEV_JOBS: 'off' } });
const worker = CliProcess.spawn(['worker'], { SB_NATS_URL: nats.url, SB_WORKER_TYPES: 'sql.callproc:8', SB_MASTER_KEYS: keys, SB_LOG_LEVEL: 'info' });
await worker.waitFor(/worker \S+ running/, 60_000);
const config = resolveProcessConfig({ nats: { url: nats.url } });
const broker = await createBroker({ config, logger: createLogger({ level: 'warn' }), metrics: createMetrics({ defaultMetrics: false }) });
const rounds: Figures[][] = [];
try {
  await defineConnections();
  await runAll(20_000); // warm-up: JIT of dev and of this process, pools opened
  for (let r = 0; r < ROUNDS; r++) {
    console.error(`bench: round ${r + 1}/${ROUNDS}: ${ROWS} rows × (raw, REST, broker) × (postgres, mariadb) …`);
    rounds.push(await runAll(ROWS));
  }
  await report();
} finally {
  await broker.close({ deadlineMs: 2000 });
  await worker.kill('SIGTERM');
  await dev.stop('SIGTERM');
  await nats.dispose();
  await admin.query(`DROP FUNCTION IF EXISTS ${fn}(int)`);
  await admin.end();
  await myAdmin.query(`DROP PROCEDURE IF EXISTS ${fn}`);
  await myAdmin.query(`DROP USER IF EXISTS '${myUser}'@'%'`);
  await myAdmin.end();
}

async function defineConnections(): Promise<void> {
  const api = async (method: string, path: string, body: unknown): Promise<number> => {
    const res = await fetch(`${dev.url}${path}`, { method, headers: { authorization: dev.authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await res.arrayBuffer();
    return res.status;
  };
  for (const [name, kind, port, user, password] of [['pg', 'postgres', 5432, 'root', 'unused-trust-auth'], ['my', 'mariadb', 3306, myUser, myPassword]] as const) {
    if ((await api('POST', '/v1/connections/sql', { name, kind, host: '127.0.0.1', port, database: 'test', user, requestTimeoutMs: 0 })) !== 201) throw new Error(`connection ${name} not created`);
    if ((await api('PUT', `/v1/connections/sql/${name}/password`, { password })) !== 204) throw new Error(`password of ${name} not set`);
  }
}

async function runAll(rows: number): Promise<Figures[]> {
  const out: Figures[] = [];
  for (const kind of ['postgres', 'mariadb'] as const) {
    const conn = kind === 'postgres' ? 'pg' : 'my';
    const rawFrom = cpuNow(kind);
    let rawCpu: CpuPerRow | undefined;
    // PostgreSQL: read before the connection ends, or its server process (and its CPU time) is gone.
    const raw = kind === 'postgres' ? await rawPostgres(rows, () => { rawCpu = cpuPerRow(rawFrom, cpuNow(kind), rows); }) : await rawMariadb(rows);
    rawCpu ??= cpuPerRow(rawFrom, cpuNow(kind), rows);
    const restFrom = cpuNow(kind);
    const { rate: rest, growth } = await viaRest(conn, rows);
    const restCpu = cpuPerRow(restFrom, cpuNow(kind), rows);
    const viaBroker = await viaBrokerApi(conn, rows);
    out.push({ kind, raw, rest, broker: viaBroker, gatewayMiB: (growth[0] ?? 0) / MIB, workerMiB: (growth[1] ?? 0) / MIB, rawCpu, restCpu });
  }
  return out;
}

/** CPU time so far, ms, of each process that takes part (the database server: all its processes). */
function cpuNow(kind: Kind): CpuPerRow {
  const db = kind === 'postgres' ? 'postgres' : 'mariadbd';
  return { client: cpuMsOf(process.pid), db: cpuMsByName([db])[db] ?? 0, gateway: cpuMsOf(dev.cli.proc.pid as number), worker: cpuMsOf(worker.proc.pid as number), nats: cpuMsOf(nats.pid) };
}

function cpuPerRow(a: CpuPerRow, b: CpuPerRow, rows: number): CpuPerRow {
  const ns = (k: keyof CpuPerRow) => Math.round(((b[k] - a[k]) * 1e6) / rows);
  return { client: ns('client'), db: ns('db'), gateway: ns('gateway'), worker: ns('worker'), nats: ns('nats') };
}

/** The raw driver: a cursor read `CHUNK` rows at a time; `done` runs before the connection (and its server process) ends. */
async function rawPostgres(rows: number, done: () => void): Promise<number> {
  const c = new pg.Client(PG);
  await c.connect();
  try {
    const t = performance.now();
    const cursor = c.query(new Cursor(`SELECT * FROM ${fn}($1)`, [rows]));
    let n = 0;
    for (;;) {
      const got = await cursor.read(CHUNK);
      if (got.length === 0) break;
      n += got.length;
    }
    await cursor.close();
    const rate = check(n, rows) / ((performance.now() - t) / 1000);
    done();
    return rate;
  } finally {
    await c.end();
  }
}

/** The raw driver: mysql2's row stream of the CALL. */
async function rawMariadb(rows: number): Promise<number> {
  const c = mysql.createConnection(MY);
  try {
    const t = performance.now();
    const n = await new Promise<number>((resolve, reject) => {
      let count = 0;
      const s = c.query(`CALL ${fn}(?)`, [rows]).stream({ highWaterMark: CHUNK });
      // The CALL's final OK packet comes through the stream too: count rows only.
      s.on('data', (row: unknown) => { if (row && typeof row === 'object' && 'i' in row) count++; });
      s.on('end', () => resolve(count));
      s.on('error', reject);
    });
    return check(n, rows) / ((performance.now() - t) / 1000);
  } finally {
    c.end();
  }
}

/** REST NDJSON through the gateway and the worker; also the peak RSS growth of both processes. */
async function viaRest(connection: string, rows: number): Promise<{ rate: number; growth: number[] }> {
  const pids = [dev.cli.proc.pid as number, worker.proc.pid as number];
  const before = await Promise.all(pids.map(memoryOf));
  const peak = before.map((m) => m.rss);
  const sample = () => pids.forEach((pid, i) => void memoryOf(pid).then((m) => { peak[i] = Math.max(peak[i] ?? 0, m.rss); }, () => undefined));
  const sampler = setInterval(sample, 25);
  try {
    const t = performance.now();
    const res = await fetch(`${dev.url}/v1/jobs/sql.callproc?mode=stream`, {
      method: 'POST', headers: { authorization: dev.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ connection, procedure: fn, args: [rows], stream: true, chunkRows: CHUNK }),
    });
    if (res.status !== 200) throw new Error(`REST stream answered ${res.status}: ${await res.text()}`);
    let lines = 0;
    for await (const part of res.body as AsyncIterable<Uint8Array>) {
      for (let i = part.indexOf(10); i >= 0; i = part.indexOf(10, i + 1)) lines++;
    }
    const rate = check(lines - 1, rows) / ((performance.now() - t) / 1000); // the last line is {"$result": …}
    const after = await Promise.all(pids.map(memoryOf));
    // VmHWM is the peak since start: it counts here only if it rose during this stream.
    return { rate, growth: after.map((m, i) => Math.max(peak[i] ?? 0, m.hwm > (before[i]?.hwm ?? 0) ? m.hwm : 0) - (before[i]?.rss ?? 0)) };
  } finally {
    clearInterval(sampler);
  }
}

/** `broker.jobs.stream()` from this process: the worker side is the same, no HTTP. */
async function viaBrokerApi(connection: string, rows: number): Promise<number> {
  const t = performance.now();
  const reader = broker.jobs.stream({ type: 'sql.callproc', principal: 'admin', input: { connection, procedure: fn, args: [rows], stream: true, chunkRows: CHUNK } }, { windowChunks: 16 });
  let n = 0;
  for await (const chunk of reader) n += chunk.length;
  return check(n, rows) / ((performance.now() - t) / 1000);
}

function check(got: number, want: number): number {
  if (got !== want) throw new Error(`expected ${want} rows, got ${got}`);
  return got;
}

async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function report(): Promise<void> {
  const load = `load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after`;
  console.log(`\nSQL streaming: ${ROWS} rows per call, chunks of ${CHUNK}, ${ROUNDS} rounds, ${cpus().length} cores; ${load}`);
  printTable(['round / kind', 'raw rows/s', 'REST rows/s', 'REST/raw', 'broker rows/s', 'broker/raw', 'gateway RSS +MiB', 'worker RSS +MiB'],
    rounds.flatMap((round, r) => round.map((f) => [`${r + 1} ${f.kind}`, f.raw, f.rest, ratio(f.rest, f.raw), f.broker, ratio(f.broker, f.raw), f.gatewayMiB.toFixed(1), f.workerMiB.toFixed(1)])));
  console.log('\nCPU per row, ns (from /proc; "client" is this process: the raw driver, or the REST reader counting lines)');
  printTable(['round / kind / path', 'client', 'database', 'gateway', 'worker', 'nats-server', 'total', 'cores used'],
    rounds.flatMap((round, r) => round.flatMap((f) => (['raw', 'rest'] as const).map((path) => {
      const c = path === 'raw' ? f.rawCpu : f.restCpu;
      const total = c.client + c.db + c.gateway + c.worker + c.nats;
      return [`${r + 1} ${f.kind} ${path}`, c.client, c.db, c.gateway, c.worker, c.nats, total, ((total * (path === 'raw' ? f.raw : f.rest)) / 1e9).toFixed(2)];
    }))));
  console.log('');
  for (const kind of ['postgres', 'mariadb'] as const) {
    const of = (k: 'raw' | 'rest' | 'broker') => median(rounds.map((round) => round.find((f) => f.kind === kind)?.[k] ?? 0));
    const restRatio = of('rest') / of('raw');
    const worstGrowth = Math.max(...rounds.map((round) => { const f = round.find((x) => x.kind === kind); return Math.max(f?.gatewayMiB ?? 0, f?.workerMiB ?? 0); }));
    console.log(`${kind}: median REST ${of('rest').toFixed(0)} vs raw ${of('raw').toFixed(0)} rows/s = ${restRatio.toFixed(2)} (accept ≥ 0.70: ${restRatio >= 0.7 ? 'PASS' : 'FAIL'}); `
      + `broker ${ratio(of('broker'), of('raw'))}; worst RSS growth ${worstGrowth.toFixed(1)} MiB (accept < 64: ${worstGrowth < 64 ? 'PASS' : 'FAIL'})`);
  }
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const at = new Date().toISOString();
  const file = new URL(`./results/sql-${at.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, JSON.stringify({ at, cores: cpus().length, rows: ROWS, chunk: CHUNK, load, rounds }, null, 2));
  console.error(`bench: results in ${file.pathname}`);
}
