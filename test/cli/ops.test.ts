/**
 * The operations commands (cli/ops-*.ts) as an operator runs them: the real `switchboard` CLI against
 * a real `switchboard dev` (REST gateway + built-in workers) on the shared NATS, the real PostgreSQL
 * for jobs, the WinRM test server for a host definition. Every command runs in table and --json form;
 * each test checks what the command did (a password works, a revoked key does not, a broadcast
 * arrives), not only what it printed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { Keyring } from '../../broker/secrets.js';
import type { CommandIo } from '../../cli/command-spec.js';
import { jobsCommand } from '../../cli/ops-jobs.js';
import { NatsServer } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { createWinRMServer, type WinRMTestServer } from '../support/winrm-server/index.js';
import { WsClient } from '../gateways/ws-client.js';
import { runCli, startDev, type DevChild } from './process.js';

const PG = { host: '127.0.0.1', port: 5432, user: 'root', database: 'test' };
const WIN_USER = 'svc-ops';

type Row = Record<string, string>;

/** Parses a table printed by formatTable: columns start where the header's words start. */
function tableOf(text: string): Row[] {
  const [head, ...lines] = text.trimEnd().split('\n');
  assert.ok(head !== undefined && /^[A-Z]/.test(head), `not a table: ${text}`);
  const starts = [...head.matchAll(/\S+/g)].map((m) => ({ name: m[0].toLowerCase(), at: m.index ?? 0 }));
  // A right-aligned column's cells may start before its header: cut each line at the gaps of two spaces.
  return lines.map((l) => {
    const cells = l.trim().split(/\s{2,}/);
    assert.equal(cells.length, starts.length, `row ${JSON.stringify(l)} does not match header ${JSON.stringify(head)}`);
    return Object.fromEntries(starts.map((s, i) => [s.name, cells[i]!]));
  });
}

/** Parses `key: value` lines printed by printRecord. */
function recordOf(text: string): Row {
  const rows = text.trimEnd().split('\n').map((l) => /^([\w-]+):\s*(.*)$/.exec(l));
  assert.ok(rows.every((m) => m !== null), `not a record: ${text}`);
  return Object.fromEntries(rows.map((m) => [m![1]!, m![2]!]));
}

describe('switchboard topics, subscriptions, jobs, broadcast, users, connections (real CLI, real system)', function () {
  this.timeout(120_000);
  const tag = randomBytes(3).toString('hex');
  const fnRows = `sb_ops_rows_${tag}`;
  const fnSleep = `sb_ops_sleep_${tag}`;
  const pgConn = `pg${tag}`;
  let nats: NatsServer;
  let dev: DevChild;
  let env: Record<string, string>;
  let pgc: pg.Client;
  let winrm: WinRMTestServer;

  /** Runs `switchboard ARGS` as the admin (or with `as`), feeding `stdin`. */
  const sb = (args: string[], opts: { stdin?: string; as?: Record<string, string> } = {}) => runCli(args, opts.as ? { SB_URL: dev.url, ...opts.as } : env, opts.stdin);
  /** Runs a command that must succeed; returns its stdout. */
  const ok = async (args: string[], opts: { stdin?: string; as?: Record<string, string> } = {}): Promise<string> => {
    const r = await sb(args, opts);
    assert.equal(r.code, 0, `switchboard ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  /** Runs a command with --json; returns the parsed answer. */
  const json = async <T = Record<string, unknown>>(args: string[], opts: { stdin?: string; as?: Record<string, string> } = {}): Promise<T> => JSON.parse(await ok([...args, '--json'], opts)) as T;
  /** Runs a command that must fail with exit 1 and `error CODE:` on stderr. */
  const fails = async (args: string[], code: string, opts: { stdin?: string; as?: Record<string, string> } = {}): Promise<void> => {
    const r = await sb(args, opts);
    assert.equal(r.code, 1, `switchboard ${args.join(' ')}: expected exit 1, got ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`error ${code}:`));
  };
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${dev.url}${path}`, {
      method, headers: { authorization: dev.authorization, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  before(async function () {
    pgc = new pg.Client(PG);
    await pgc.connect();
    await pgc.query(`CREATE FUNCTION ${fnRows}(n int) RETURNS TABLE(i int, s text) LANGUAGE sql STABLE AS $$ SELECT g, 'row ' || g FROM generate_series(1, n) g $$`);
    await pgc.query(`CREATE FUNCTION ${fnSleep}(ms int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(ms / 1000.0); RETURN ms; END $$`);
    winrm = await createWinRMServer({ auth: { ntlm: { users: { [WIN_USER]: 'right-password' } } } });
    // A private backbone: the jobs stream is shared by every process on a NATS, and a `dev` of another
    // test (another config bucket) would take our sql.callproc jobs and not know our connections.
    nats = await NatsServer.start();
    dev = await startDev(nats.url, { env: { SB_MASTER_KEYS: JSON.stringify(Keyring.generate('ops')) } });
    env = { SB_URL: dev.url, SB_PASSWORD: dev.password };
    // The jobs' connection (PostgreSQL trusts local users: the password is not checked).
    const conn = { name: pgConn, kind: 'postgres', host: PG.host, port: PG.port, database: PG.database, user: PG.user };
    assert.equal((await api('POST', '/v1/connections/sql', conn)).status, 201);
    assert.equal((await api('PUT', `/v1/connections/sql/${pgConn}/password`, { password: 'unused' })).status, 204);
  });

  after(async function () {
    await dev?.stop();
    await winrm?.close();
    await pgc?.query(`DROP FUNCTION IF EXISTS ${fnRows}(int)`).catch(() => undefined);
    await pgc?.query(`DROP FUNCTION IF EXISTS ${fnSleep}(int)`).catch(() => undefined);
    await pgc?.end();
    await nats?.dispose();
  });

  it('topics create|list|info|delete, as tables and --json; a missing topic exits 1 with its code', async function () {
    const [t1, t2] = [`ops.${tag}.one`, `ops.${tag}.two`];
    const created = recordOf(await ok(['topics', 'create', t1, '--max-age', '3600000', '--max-messages', '100', '--storage', 'memory']));
    assert.deepEqual([created['name'], created['max-age'], created['max-messages'], created['storage']], [t1, '1h', '100', 'memory']);
    const c2 = await json<{ name: string; dedupWindowMs: number; retention: { maxBytes: number } }>(['topics', 'create', t2, '--dedup-window', '5000', '--max-bytes', '1048576']);
    assert.deepEqual([c2.name, c2.dedupWindowMs, c2.retention.maxBytes], [t2, 5000, 1_048_576]);
    assert.equal((await api('POST', `/v1/topics/${t1}/messages`, { n: 1 })).status, 201);

    // Reads do not depend on each other: one process each, at once.
    const [table, listed, info, info2] = await Promise.all([
      ok(['topics', 'list']),
      json<{ topics: Array<{ name: string; retention: { maxBytes: number } }> }>(['topics', 'list']),
      ok(['topics', 'info', t1]),
      json<{ messages: number }>(['topics', 'info', t2]),
    ]);
    const row = tableOf(table).find((r) => r['name'] === t1);
    assert.deepEqual([row?.['messages'], row?.['storage'], row?.['max-age']], ['1', 'memory', '1h']);
    assert.equal(listed.topics.find((t) => t.name === t2)?.retention.maxBytes, 1_048_576);
    assert.deepEqual([recordOf(info)['messages'], recordOf(info)['last-seq']], ['1', '1']);
    assert.equal(info2.messages, 0);

    const [deleted, deleted2] = await Promise.all([ok(['topics', 'delete', t1]), json(['topics', 'delete', t2])]);
    assert.equal(deleted.trim(), `deleted topic ${t1}`);
    assert.deepEqual(deleted2, { deleted: t2, kind: 'topic' });
    await Promise.all([
      fails(['topics', 'info', t1], 'SB_ERR_TOPIC_NOT_FOUND'),
      fails(['topics', 'create', `ops.${tag}.bad`, '--storage', 'tape'], 'SB_ERR_VALIDATION'),
    ]);
  });

  it('a usage error (missing argument, unknown option or sub-command) exits 2 with a line on stderr', async function () {
    const cases = [['topics', 'create'], ['topics', 'list', '--bogus'], ['topics', 'frobnicate'], ['subscriptions', 'create', 'only-a-name'], ['users', 'keys', 'revoke', 'u'], ['broadcast', 'ch', 'data', 'extra']];
    await Promise.all(cases.map(async (args) => {
      const r = await sb(args);
      assert.equal(r.code, 2, `switchboard ${args.join(' ')} exited ${r.code}; stderr: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    }));
  });

  it('subscriptions create|list|info|delete show the backlog of the topics they read', async function () {
    const topic = `ops.${tag}.subs`;
    const [s1, s2] = [`ops${tag}a`, `ops${tag}b`];
    await ok(['topics', 'create', topic]);
    const made = recordOf(await ok(['subscriptions', 'create', s1, `ops.${tag}.>`, '--deliver', 'all', '--ack-wait', '1500', '--max-deliver', '3', '--backoff', '100,200', '--dead-letter', topic]));
    assert.deepEqual([made['filter'], made['ack-wait'], made['max-deliver'], made['backoff'], made['dead-letter']], [`ops.${tag}.>`, '1.5s', '3', '100ms, 200ms', topic]);
    const s2made = await json<{ name: string; deliver: unknown }>(['subscriptions', 'create', s2, topic, '--deliver', '1']);
    assert.deepEqual(s2made.deliver, { fromSequence: 1 });
    for (const n of [1, 2]) assert.equal((await api('POST', `/v1/topics/${topic}/messages`, { n })).status, 201);

    const [table, all, info] = await Promise.all([
      ok(['subscriptions', 'list']),
      json<{ subscriptions: Array<{ name: string; pending: number }> }>(['subscriptions', 'list']),
      ok(['subscriptions', 'info', s1]),
    ]);
    const row = tableOf(table).find((r) => r['name'] === s1);
    assert.deepEqual([row?.['filter'], row?.['pending'], row?.['unacked']], [`ops.${tag}.>`, '2', '0']);
    assert.equal(all.subscriptions.find((s) => s.name === s2)?.pending, 2);
    assert.equal(recordOf(info)['topics'], topic);
    // What `sub` pulls is what `info` counted.
    assert.equal((await ok(['sub', s2, '--count', '2', '--wait', '2000'])).trim().split('\n').length, 2);
    const after = await json<{ pending: number; ackPending: number }>(['subscriptions', 'info', s2]);
    assert.deepEqual([after.pending, after.ackPending], [0, 0]);

    assert.equal((await ok(['subscriptions', 'delete', s1])).trim(), `deleted subscription ${s1}`);
    assert.deepEqual(await json(['subscriptions', 'delete', s2]), { deleted: s2, kind: 'subscription' });
    await fails(['subscriptions', 'info', s1], 'SB_ERR_SUBSCRIPTION_NOT_FOUND');
    await ok(['topics', 'delete', topic]);
  });

  it('users add|list|info|set|passwd|delete: passwords from stdin take effect, never echoed', async function () {
    const [u1, u2] = [`ops${tag}u`, `ops${tag}k`];
    const added = await ok(['users', 'add', u1, '--role', 'admin', '--publish', 'a.>', '--publish', 'b.c', '--subscribe', 'x.*,y.>'], { stdin: 'first-secret\n' });
    assert.deepEqual([recordOf(added)['roles'], recordOf(added)['publish'], recordOf(added)['subscribe']], ['admin', 'a.>,b.c', 'x.*,y.>']);
    assert.doesNotMatch(added, /first-secret/);
    await ok(['topics', 'list'], { as: { SB_USER: u1, SB_PASSWORD: 'first-secret' } });
    const keyOnly = await json<{ name: string; roles: string[] }>(['users', 'add', u2, '--no-password', '--jobs', 'sql.*']);
    assert.deepEqual([keyOnly.name, keyOnly.roles], [u2, []]);

    const [table, listed] = await Promise.all([ok(['users', 'list']), json<{ users: Array<{ name: string }> }>(['users', 'list'])]);
    const row = tableOf(table).find((r) => r['name'] === u2);
    assert.deepEqual([row?.['roles'], row?.['jobs'], row?.['keys']], ['-', 'sql.*', '0']);
    assert.ok(listed.users.some((u) => u.name === u1));
    const [set, cleared] = await Promise.all([
      ok(['users', 'set', u2, '--subscribe', 'q.>', '--role', 'ops']),
      json<{ acl: { publish: string[] } }>(['users', 'set', u1, '--publish', '']),
    ]);
    assert.deepEqual([recordOf(set)['roles'], recordOf(set)['subscribe'], recordOf(set)['jobs']], ['ops', 'q.>', 'sql.*']);
    assert.deepEqual(cleared.acl.publish, []);
    const [info1, info2] = await Promise.all([ok(['users', 'info', u1]), json<{ roles: string[] }>(['users', 'info', u2])]);
    assert.equal(recordOf(info1)['publish'], '-');
    assert.deepEqual(info2.roles, ['ops']);

    assert.equal((await ok(['users', 'passwd', u1], { stdin: 'second-secret\n' })).trim(), `password set for ${u1}`);
    await fails(['topics', 'list'], 'SB_ERR_UNAUTHENTICATED', { as: { SB_USER: u1, SB_PASSWORD: 'first-secret' } });
    await ok(['topics', 'list'], { as: { SB_USER: u1, SB_PASSWORD: 'second-secret' } });
    assert.deepEqual(await json(['users', 'passwd', u2], { stdin: 'third' }), { user: u2, passwordSet: true });
    await fails(['users', 'passwd', u1], 'SB_ERR_VALIDATION', { stdin: '' });

    assert.equal((await ok(['users', 'delete', u1])).trim(), `deleted user ${u1}`);
    assert.deepEqual(await json(['users', 'delete', u2]), { deleted: u2, kind: 'user' });
    await fails(['users', 'info', u1], 'SB_ERR_USER_NOT_FOUND');
  });

  it('users keys create|list|revoke: a key authenticates until it is revoked', async function () {
    const u = `ops${tag}api`;
    await ok(['users', 'add', u, '--no-password', '--role', 'admin']);
    const first = recordOf(await ok(['users', 'keys', 'create', u, '--label', 'ci']));
    const second = await json<{ id: string; key: string }>(['users', 'keys', 'create', u]);
    await ok(['topics', 'list'], { as: { SB_API_KEY: first['key']! } });
    const rows = tableOf(await ok(['users', 'keys', 'list', u], { as: { SB_API_KEY: second.key } }));
    assert.deepEqual(rows.map((r) => [r['id'], r['label']]), [[first['id'], 'ci'], [second.id, '-']]);
    assert.deepEqual((await json<{ keys: Array<{ id: string }> }>(['users', 'keys', 'list', u])).keys.map((k) => k.id), [first['id'], second.id]);

    assert.equal((await ok(['users', 'keys', 'revoke', u, first['id']!])).trim(), `deleted api-key ${first['id']}`);
    await fails(['topics', 'list'], 'SB_ERR_UNAUTHENTICATED', { as: { SB_API_KEY: first['key']! } });
    assert.deepEqual(await json(['users', 'keys', 'revoke', u, second.id]), { deleted: second.id, kind: 'api-key' });
    await fails(['users', 'keys', 'revoke', u, second.id], 'SB_ERR_API_KEY_NOT_FOUND');
    await ok(['users', 'delete', u]);
  });

  it('connections sql create|password|list|get|delete (through sql conn): a job on a new connection runs once its password is set', async function () {
    const conn = `pg${tag}x`;
    const made = recordOf(await ok(['connections', 'sql', 'create', conn, '--kind', 'postgres', '--host', PG.host, '--port', String(PG.port), '--database', PG.database, '--user', PG.user]));
    assert.deepEqual([made['kind'], made['password']], ['postgres', 'not set']);
    const call = ['jobs', 'run', 'sql.callproc', '--input', JSON.stringify({ connection: conn, procedure: fnRows, args: [1] })];
    await fails(call, 'SB_ERR_SQL_PASSWORD_NOT_SET');
    assert.equal((await ok(['connections', 'sql', 'password', conn], { stdin: 'trust-auth-ignores-it\n' })).trim(), `password set for SQL connection ${conn}`);
    assert.equal(recordOf(await ok(call))['status'], 'succeeded');
    const other = `my${tag}`;
    const m2 = await json<{ kind: string; poolSize: number; passwordSet: boolean }>(['connections', 'sql', 'create', other, '--kind', 'mariadb', '--host', '127.0.0.1', '--port', '3306', '--database', 'test', '--user', 'x', '--pool', '3']);
    assert.deepEqual([m2.kind, m2.poolSize, m2.passwordSet], ['mariadb', 3, false]);
    assert.deepEqual(await json(['connections', 'sql', 'password', other], { stdin: 'y' }), { connection: other, passwordSet: true });

    const [table, listed, got, got2] = await Promise.all([
      ok(['connections', 'sql', 'list']),
      json<{ connections: Array<{ name: string }> }>(['connections', 'sql', 'list']),
      ok(['connections', 'sql', 'get', conn]),
      json<{ port: number }>(['connections', 'sql', 'get', other]),
      fails(['connections', 'sql', 'create', other, '--kind', 'mariadb', '--host', 'h', '--port', '1', '--database', 'd', '--user', 'u'], 'SB_ERR_CONNECTION_EXISTS'),
    ]);
    const rows = tableOf(table).filter((r) => r['name'] === conn || r['name'] === other);
    assert.deepEqual(rows.map((r) => [r['name'], r['pool'], r['password']]).sort(), [[conn, '10', 'set'], [other, '3', 'set']].sort());
    assert.deepEqual(listed.connections.map((c) => c.name).sort(), [conn, other, pgConn].sort());
    assert.equal(recordOf(got)['password'], 'set');
    assert.equal(got2.port, 3306);
    assert.equal((await ok(['connections', 'sql', 'delete', other])).trim(), `deleted sql-connection ${other}`);
    await fails(['connections', 'sql', 'get', other], 'SB_ERR_CONNECTION_NOT_FOUND');
    assert.deepEqual(await json(['connections', 'sql', 'delete', conn]), { deleted: conn, kind: 'sql-connection' });
  });

  it('jobs run (sync, --async, --stream), jobs get, jobs cancel, jobs workers', async function () {
    const input = (n: number) => JSON.stringify({ connection: pgConn, procedure: fnRows, args: [n] });
    const [syncText, viaStdin] = await Promise.all([
      ok(['jobs', 'run', 'sql.callproc', '--input', input(3)]),
      json<{ status: string; output: { rowCounts: number[] } }>(['jobs', 'run', 'sql.callproc', '--input', '-'], { stdin: input(4) }),
    ]);
    const sync = recordOf(syncText);
    assert.equal(sync['status'], 'succeeded');
    assert.deepEqual((JSON.parse(sync['output']!) as { rows: unknown[] }).rows, [{ i: 1, s: 'row 1' }, { i: 2, s: 'row 2' }, { i: 3, s: 'row 3' }]);
    assert.deepEqual([viaStdin.status, viaStdin.output.rowCounts], ['succeeded', [4]]);

    const queued = recordOf(await ok(['jobs', 'run', 'sql.callproc', '--input', input(2), '--async']));
    assert.equal(queued['status'], 'queued');
    const got = recordOf(await ok(['jobs', 'get', queued['id']!, '--wait', '10000']));
    assert.deepEqual([got['id'], got['status'], got['type']], [queued['id'], 'succeeded', 'sql.callproc']);
    assert.equal((await json<{ status: string }>(['jobs', 'get', queued['id']!])).status, 'succeeded');

    // --stream: the rows alone on stdout (the summary goes to stderr); --json adds the $result line.
    const stream = await sb(['jobs', 'run', 'sql.callproc', '--input', input(500), '--stream']);
    assert.equal(stream.code, 0, stream.stderr);
    const lines = stream.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 500);
    lines.forEach((l, i) => assert.deepEqual(JSON.parse(l), { i: i + 1, s: `row ${i + 1}` }));
    assert.match(stream.stderr, /job \S+ succeeded: 500 rows/);
    const ndjson = (await ok(['jobs', 'run', 'sql.callproc', '--input', input(5), '--stream', '--json'])).trimEnd().split('\n');
    assert.equal(ndjson.length, 6);
    assert.equal((JSON.parse(ndjson[5]!) as { $result: { status: string } }).$result.status, 'succeeded');

    // Cancel a running job: the record says so at once, the final one is `cancelled`.
    const slow = await json<{ id: string }>(['jobs', 'run', 'sql.callproc', '--input', JSON.stringify({ connection: pgConn, procedure: fnSleep, args: [20_000] }), '--async']);
    await until(async () => (await api('GET', `/v1/jobs/${slow.id}`)).body['status'] === 'running', 10_000, 'the slow job to run');
    assert.equal(recordOf(await ok(['jobs', 'cancel', slow.id]))['status'], 'running');
    const cancelled = await json<{ status: string; error: { code: string } }>(['jobs', 'get', slow.id, '--wait', '10000']);
    assert.deepEqual([cancelled.status, cancelled.error.code], ['cancelled', 'SB_ERR_JOB_CANCELLED']);
    assert.equal((await json<{ status: string }>(['jobs', 'cancel', slow.id])).status, 'cancelled');

    const [wj] = await Promise.all([
      json<{ workers: Array<{ types: Array<{ type: string }> }> }>(['jobs', 'workers']),
      fails(['jobs', 'get', 'NO0SUCH0JOB0ID0000000'], 'SB_ERR_JOB_NOT_FOUND'),
      fails(['jobs', 'run', 'sql.callproc', '--input', JSON.stringify({ connection: pgConn, procedure: `no_such_fn_${tag}`, args: [] })], 'SB_ERR_SQL_FAILED'),
      fails(['jobs', 'run', 'sql.callproc', '--input', '{nope'], 'SB_ERR_INVALID_JSON'),
    ]);
    // The registry's counters arrive with the worker's next heartbeat (every 5 s): poll the table until they do.
    let workers: Array<Record<string, string>> = [];
    await until(async () => {
      workers = tableOf(await ok(['jobs', 'workers']));
      return workers.some((w) => w['type'] === 'sql.callproc' && w['state'] === 'running' && Number(w['succeeded']) >= 4);
    }, 20_000, 'the worker table to count 4 succeeded jobs');
    assert.ok(wj.workers.some((w) => w.types.some((t) => t.type === 'winrm.exec')));
  });

  it('jobs run --stream counts rows on a terminal stderr when stdout goes to a file, and only then', async function () {
    const drawn = async (stdoutIsTTY: boolean): Promise<{ rows: number; err: string }> => {
      let rows = 0;
      let err = '';
      const io: CommandIo = {
        env: { SB_URL: dev.url, SB_PASSWORD: dev.password }, cwd: process.cwd(), stdin: new PassThrough({ objectMode: true }).end(),
        out: () => void (rows += 1), write: () => undefined, err: (l) => void (err += `${l}\n`), writeErr: (t) => void (err += t),
        stdoutIsTTY, stderrIsTTY: true, signal: new AbortController().signal,
      };
      const run = jobsCommand.subcommands?.find((c) => c.name === 'run')?.run;
      await run!({ values: { input: JSON.stringify({ connection: pgConn, procedure: fnRows, args: [3000] }), stream: true }, positionals: ['sql.callproc'] }, io);
      return { rows, err };
    };
    const toFile = await drawn(false);
    assert.equal(toFile.rows, 3000);
    assert.match(toFile.err, /\rrows 3000 \d+\/s\n/);
    const toScreen = await drawn(true);
    assert.equal(toScreen.rows, 3000);
    assert.doesNotMatch(toScreen.err, /\r/);
  });

  it('broadcast CHANNEL [DATA|-] reaches a connected WebSocket client; an unknown channel exits 1', async function () {
    const ch = `ops${tag}`;
    assert.equal((await api('PUT', `/v1/ws-channels/${ch}`, {})).status, 200);
    const client = await until(() => WsClient.connect(`${dev.url.replace('http:', 'ws:')}/ws/${ch}`, { authorization: dev.authorization }).catch(() => undefined), 10_000, 'the channel');
    try {
      const sent = recordOf(await ok(['broadcast', ch, '{"price": 1.08}']));
      assert.equal(sent['channel'], ch);
      const f1 = await client.next((f) => f['type'] === 'broadcast' && f['id'] === sent['id']);
      assert.deepEqual(f1['data'], { price: 1.08 });
      const viaStdin = await json<{ id: string; channel: string }>(['broadcast', ch, '-'], { stdin: 'plain text\n' });
      const f2 = await client.next((f) => f['type'] === 'broadcast' && f['id'] === viaStdin.id);
      assert.equal(f2['data'], 'plain text');
    } finally {
      await client.close();
    }
    await fails(['broadcast', `nochan${tag}`, 'x'], 'SB_ERR_CHANNEL_NOT_FOUND');
  });

  it('connections winrm create|list|get|password|delete: the password set by the CLI is the one the job uses', async function () {
    const host = `win${tag}`;
    const made = recordOf(await ok(['connections', 'winrm', 'create', host, '--endpoint', winrm.url, '--user', WIN_USER, '--max-concurrent', '2'], { stdin: 'wrong-password\n' }));
    assert.deepEqual([made['endpoint'], made['auth'], made['user'], made['max-concurrent'], made['password']], [winrm.url, 'ntlm', WIN_USER, '2', 'set']);
    const exec = ['jobs', 'run', 'winrm.exec', '--input', JSON.stringify({ host, type: 'cmd', data: 'hostname' }), '--json'];
    const denied = await sb(exec);
    assert.ok(denied.code !== 0 || (JSON.parse(denied.stdout) as { output: { exec_code: string } }).output.exec_code === 'error', denied.stdout);

    assert.deepEqual(await json(['connections', 'winrm', 'password', host], { stdin: 'right-password\n' }), { connection: host, passwordSet: true });
    const ran = JSON.parse(await ok(exec)) as { status: string; output: { exec_code: string; status_code: number } };
    assert.deepEqual([ran.status, ran.output.exec_code, ran.output.status_code], ['succeeded', 'ok', 0]);
    const kept = await json<{ maxConcurrent: number; auth: { username: string }; passwordSet: boolean }>(['connections', 'winrm', 'get', host]);
    assert.deepEqual([kept.maxConcurrent, kept.auth.username, kept.passwordSet], [2, WIN_USER, true]);

    assert.equal(tableOf(await ok(['connections', 'winrm', 'list'])).find((r) => r['name'] === host)?.['auth'], 'ntlm');
    assert.equal((await json<{ connections: Array<{ name: string }> }>(['connections', 'winrm', 'list'])).connections[0]?.name, host);
    assert.equal(recordOf(await ok(['connections', 'winrm', 'get', host]))['encryption'], 'auto');
    assert.equal((await ok(['connections', 'winrm', 'password', host], { stdin: 'right-password' })).trim(), `password set for WinRM host ${host}`);
    await fails(['connections', 'winrm', 'create', host, '--endpoint', winrm.url, '--user', 'x'], 'SB_ERR_CONNECTION_EXISTS', { stdin: 'p' });
    assert.equal((await ok(['connections', 'winrm', 'delete', host])).trim(), `deleted winrm-host ${host}`);
    await fails(['connections', 'winrm', 'get', host], 'SB_ERR_CONNECTION_NOT_FOUND');
    await ok(['connections', 'winrm', 'create', host, '--endpoint', winrm.url, '--user', WIN_USER, '--auth', 'basic'], { stdin: 'p' });
    assert.deepEqual(await json(['connections', 'winrm', 'delete', host]), { deleted: host, kind: 'winrm-host' });
  });
});
