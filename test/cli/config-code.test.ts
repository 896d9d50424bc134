import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isSbError, type SbError } from '../../broker/errors.js';
import { RestClient } from '../../cli/client.js';
import type { CommandIo, CommandSpec } from '../../cli/command-spec.js';
import { configCommands } from '../../cli/config-code.js';
import { OBJECT_TYPES } from '../../cli/config-code-types.js';
import { NatsServer } from '../support/nats-server.js';
import { runCli, startDev, type DevChild } from './process.js';

const SQL_PASSWORD = `pg-${randomBytes(6).toString('hex')}`;
const WINRM_PASSWORD = `win-${randomBytes(6).toString('hex')}`;
const TLS_KEY = `-----BEGIN PRIVATE KEY-----\n${randomBytes(24).toString('base64')}\n-----END PRIVATE KEY-----\n`;
const WS_TOKEN = `tok-${randomBytes(6).toString('hex')}`;
const AMQP_PASSWORD = `amqp-${randomBytes(6).toString('hex')}`;
const SECRETS = [SQL_PASSWORD, WINRM_PASSWORD, TLS_KEY.split('\n')[1] as string, WS_TOKEN, AMQP_PASSWORD];

/** What one `switchboard config …` run printed, and the error it ended with. */
interface Run {
  out: string;
  err: string;
  error: SbError | undefined;
}

const sub = (name: string): CommandSpec => {
  const s = configCommands[0]?.subcommands?.find((c) => c.name === name);
  if (!s?.run) throw new Error(`no config ${name}`);
  return s;
};

describe('switchboard config (configuration as code)', function () {
  this.timeout(120_000);
  let natsA: NatsServer;
  let natsB: NatsServer;
  let a: DevChild;
  let b: DevChild;
  let dir: string;
  /** Everything any run printed, to prove no secret ever appears in clear. */
  let printed = '';

  /** Runs `config NAME FILE …` against `dev` (undefined: no system) in `dir`. */
  async function config(dev: DevChild | undefined, name: string, file: string, values: Record<string, string | boolean> = {}): Promise<Run> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CommandIo = {
      env: dev ? { SB_URL: dev.url, SB_PASSWORD: dev.password } : { SB_URL: 'http://127.0.0.1:9' },
      cwd: dir,
      stdin: (async function* () { /* empty */ })(),
      out: (l) => void out.push(l),
      write: (t) => void out.push(t),
      err: (l) => void err.push(l),
      writeErr: (t) => void err.push(t),
      stdoutIsTTY: false,
      stderrIsTTY: false,
      signal: new AbortController().signal,
    };
    let error: SbError | undefined;
    try {
      await sub(name).run?.({ values, positionals: [file] }, io);
    } catch (e) {
      if (!isSbError(e)) throw e;
      error = e;
    }
    const r = { out: out.join('\n'), err: err.join('\n'), error };
    printed += `${r.out}\n${r.err}\n${error?.message ?? ''}\n${JSON.stringify(error?.data ?? {})}\n`;
    return r;
  }

  const admin = (dev: DevChild) => new RestClient({ baseUrl: dev.url, authorization: dev.authorization });
  const ok = (r: Run) => assert.equal(r.error, undefined, `${r.error?.code}: ${r.error?.message}\n${r.err}`);

  before(async () => {
    [natsA, natsB] = await Promise.all([NatsServer.start(), NatsServer.start()]);
    // Encrypted export reads secrets back: off by default, on for these two systems (SB_SECRET_EXPORT).
    const env = { SB_SECRET_EXPORT: 'on' };
    [a, b] = await Promise.all([startDev(natsA.url, { env }), startDev(natsB.url, { env })]);
    dir = await mkdtemp(join(tmpdir(), 'sb-config-'));
    const c = admin(a);
    await c.createTopic({ name: 'orders', retention: { maxAgeMs: 86_400_000, maxMessages: 1000 } });
    await c.createTopic({ name: 'audit.log', storage: 'memory' });
    await c.createSubscription({ name: 'orders-sub', topic: 'orders', deliver: 'all', backoffMs: [100, 200], deadLetterTopic: 'audit.log' });
    await c.call('POST', '/v1/connections/sql', { name: 'pg1', kind: 'postgres', host: '127.0.0.1', port: 5432, database: 'app', user: 'app' });
    await c.call('PUT', '/v1/connections/sql/pg1/password', { password: SQL_PASSWORD });
    await c.call('POST', '/v1/channels', { name: 'orders-in', path: '/orders', topic: 'orders' });
    await c.call('POST', '/v1/channels', { name: 'report', path: '/report', job: { type: 'sql.callproc', input: { connection: 'pg1', procedure: 'report' }, mode: 'async' } });
    await c.call('PUT', '/v1/ws-channels/chat', { auth: 'none', allowedOrigins: ['https://example.com'], limits: { maxConnections: 50 } });
    await c.call('POST', '/v1/users', { name: 'bob', password: 'bob-password-1', acl: { publish: ['orders'], subscribe: ['orders'] } });
    await c.call('PUT', '/v1/sql/acl/bob', { rules: [{ connections: ['pg1'], procedures: ['report'] }] });
    await c.call('PUT', '/v1/winrm/acl/bob', { rules: [{ hosts: ['dc*'], cmd: ['dir *'] }] });
    // Defined but not running: nothing dials out during the test.
    await c.call('PUT', '/v1/ws-outgoing/feed', { url: 'ws://127.0.0.1:9/feed', inbound: { topic: 'orders' }, enabled: false, headers: { Authorization: `Bearer ${WS_TOKEN}` } });
    await c.call('PUT', '/v1/bridges/rabbit-in', { kind: 'amqp-in', url: 'amqp://guest@127.0.0.1:5672/', password: AMQP_PASSWORD, queue: 'q1', topic: 'orders', enabled: false });
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([natsA?.dispose(), natsB?.dispose()]);
    if (dir) await rm(dir, { recursive: true, force: true });
    for (const s of SECRETS) assert.ok(!printed.includes(s), 'a secret was printed in clear');
  });

  // The tests below run in order: the first imports a1.yaml into b, and later ones start from that state.
  for (const ext of ['yaml', 'json']) {
    it(`export -> import into an empty system -> export gives an identical ${ext} file`, async () => {
      const exported = await config(a, 'export', `a1.${ext}`);
      ok(exported);
      assert.equal(exported.err, '', 'the export passes its own check');
      ok(await config(b, 'import', `a1.${ext}`));
      ok(await config(b, 'export', `b1.${ext}`));
      const [fromA, fromB] = await Promise.all([readFile(join(dir, `a1.${ext}`), 'utf8'), readFile(join(dir, `b1.${ext}`), 'utf8')]);
      assert.equal(fromB, fromA);
      const doc = (ext === 'json' ? JSON.parse(fromA) : parse(fromA)) as Record<string, Array<Record<string, unknown>>>;
      // Everything seeded is there, defaults filled in, no runtime state.
      assert.deepEqual(doc['topics']?.find((t) => t['name'] === 'orders'), {
        name: 'orders', retention: { maxAgeMs: 86_400_000, maxMessages: 1000, maxBytes: -1 }, storage: 'file', replicas: 1, dedupWindowMs: 120_000,
      });
      assert.deepEqual(doc['subscriptions']?.find((s) => s['name'] === 'orders-sub'), {
        name: 'orders-sub', topic: 'orders', deliver: 'all', ackWaitMs: 30_000, maxDeliver: 5, backoffMs: [100, 200], deadLetterTopic: 'audit.log',
      });
      assert.ok(doc['restChannels']?.some((c) => c['name'] === 'report'));
      assert.ok(doc['wsChannels']?.some((c) => c['name'] === 'chat'));
      assert.deepEqual(doc['wsOutgoing']?.map((c) => [c['name'], c['headers']]), [['feed', undefined]]);
      assert.deepEqual(doc['bridges']?.map((x) => [x['name'], x['kind'], x['enabled'], x['password']]), [['rabbit-in', 'amqp-in', false, undefined]]);
      assert.deepEqual(doc['users']?.map((u) => u['name']), ['admin', 'bob']);
      assert.doesNotMatch(fromA, /createdAt|updatedAt|passwordSet|"seq"|messages:|password/);
    });
  }

  it('a second import changes nothing and says so; diff shows creates and updates', async () => {
    const again = await config(b, 'import', 'a1.yaml');
    ok(again);
    assert.match(again.out, /^no changes/m);

    const doc = parse(await readFile(join(dir, 'a1.yaml'), 'utf8')) as { topics: Array<Record<string, unknown>>; wsChannels: Array<Record<string, unknown>> };
    const orders = doc.topics.find((t) => t['name'] === 'orders') as { retention: { maxAgeMs: number } };
    orders.retention.maxAgeMs = 3_600_000;
    doc.topics.push({ name: 'fresh' });
    (doc.wsChannels[0] as { limits: { maxConnections: number } }).limits.maxConnections = 70;
    await writeFile(join(dir, 'changed.yaml'), JSON.stringify(doc));
    // JSON is YAML: a .yaml name is enough.
    const diff = await config(b, 'diff', 'changed.yaml');
    ok(diff);
    assert.match(diff.out, /^\+ create topic fresh$/m);
    assert.match(diff.out, /^~ update topic orders: retention\.maxAgeMs 86400000 -> 3600000$/m);
    assert.match(diff.out, /^~ update WebSocket channel chat: limits\.maxConnections 50 -> 70$/m);
    assert.match(diff.out, /^1 to create, 2 to update, 0 to delete$/m);
    const json = JSON.parse((await config(b, 'diff', 'changed.yaml', { json: true })).out) as { create: unknown[]; update: Array<{ id: string; fields: unknown[] }> };
    assert.deepEqual(json.create, [{ type: 'topics', id: 'fresh', fields: [] }]);
    assert.deepEqual(json.update.map((u) => u.id).sort(), ['chat', 'orders']);

    // Nothing was applied by diff; a dry run neither.
    assert.match((await config(b, 'import', 'changed.yaml', { 'dry-run': true })).out, /^dry run: 1 to create, 2 to update, 0 to delete/m);
    const applied = await config(b, 'import', 'changed.yaml');
    ok(applied);
    assert.match(applied.out, /^applied: 1 created, 2 updated, 0 deleted$/m);
    assert.match((await config(b, 'import', 'changed.yaml')).out, /^no changes/m);

    // Back to a1 with --prune: "fresh" goes, and the user the CLI signs in as is never pruned.
    const pruneDiff = await config(b, 'diff', 'a1.yaml', { prune: true });
    assert.match(pruneDiff.out, /^- delete topic fresh$/m);
    ok(await config(b, 'import', 'a1.yaml', { prune: true }));
    ok(await config(b, 'export', 'b2.yaml'));
    assert.equal(await readFile(join(dir, 'b2.yaml'), 'utf8'), await readFile(join(dir, 'a1.yaml'), 'utf8'));
  });

  it('an object failing mid-type leaves that type as it was (transactional per type)', async () => {
    ok(await config(b, 'export', 'before.yaml'));
    const doc = parse(await readFile(join(dir, 'before.yaml'), 'utf8')) as { topics: Array<Record<string, unknown>>; users: Array<Record<string, unknown>> };
    const orders = doc.topics.find((t) => t['name'] === 'orders') as { retention: { maxAgeMs: number } };
    orders.retention.maxAgeMs = 600_000; // applied first (sorted by name) ...
    // ... then this one passes the schema but JetStream refuses it: a dedup window longer than the max age.
    doc.topics.push({ name: 'orders2', retention: { maxAgeMs: 1000 }, dedupWindowMs: 120_000 });
    doc.topics.push({ name: 'zz-never' });
    doc.users.push({ name: 'carol' }); // a later type: never reached
    await writeFile(join(dir, 'failing.yaml'), JSON.stringify(doc));
    const r = await config(b, 'import', 'failing.yaml');
    assert.equal(r.error?.code, 'SB_ERR_CONFIG_IMPORT_FAILED', r.error?.message);
    assert.match(r.error?.message ?? '', /create topic orders2 failed: .*topics restored to its previous state \(1 change undone\)/);
    ok(await config(b, 'export', 'after.yaml'));
    assert.equal(await readFile(join(dir, 'after.yaml'), 'utf8'), await readFile(join(dir, 'before.yaml'), 'utf8'));
  });

  it('a change that cannot be made in place is a conflict and nothing is applied', async () => {
    const doc = parse(await readFile(join(dir, 'a1.yaml'), 'utf8')) as { topics: Array<Record<string, unknown>>; subscriptions: Array<Record<string, unknown>> };
    doc.topics.push({ name: 'not-created' });
    (doc.subscriptions.find((s) => s['name'] === 'orders-sub') as { topic: string }).topic = 'audit.log';
    await writeFile(join(dir, 'conflict.json'), JSON.stringify(doc, null, 2));
    const r = await config(b, 'import', 'conflict.json');
    assert.equal(r.error?.code, 'SB_ERR_CONFIG_CONFLICT');
    assert.match(r.err, /subscription orders-sub: topic cannot change in place/);
    assert.match((await config(b, 'diff', 'a1.yaml')).out, /^no changes/m);
  });

  it('invalid files give line-numbered errors, offline', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['syntax.yaml', 'version: 1\ntopics:\n  - name: a\n   retention: {\n', /^syntax\.yaml:\d+:\d+: syntax: /m],
      ['schema.yaml', 'version: 1\ntopics:\n  - name: a\n  - name: b\n    retention:\n      maxAgeMs: 1.5\n    colour: red\n', /^schema\.yaml:6:7: topics\[1\]\.retention\.maxAgeMs: must be integer$/m],
      ['schema.yaml', '', /^schema\.yaml:7:5: topics\[1\]\.colour: is not a known field$/m],
      ['dupes.yaml', 'version: 1\nusers:\n  - name: x\n  - name: x\n', /^dupes\.yaml:4:5: users\[1\]\.name: name x is already defined at users\[0\]$/m],
      ['bad.json', '{\n  "version": 1,\n  "topics": [\n    {"name": "a",}\n  ]\n}\n', /^bad\.json:4:18: syntax: /m],
      ['types.json', '{\n  "version": 1,\n  "subscriptions": [\n    {"name": "s", "topic": "t", "ackWaitMs": "soon"}\n  ]\n}\n', /^types\.json:4:33: subscriptions\[0\]\.ackWaitMs: must be integer$/m],
      ['version.yaml', 'version: 2\n', /^version\.yaml:1:1: version: unsupported version 2/m],
      // A bridge is checked against its kind's own schema.
      ['bridge.yaml', 'version: 1\nbridges:\n  - name: b\n    kind: amqp-in\n    url: amqp://h\n    queue: q\n    prefetch: 0\n  - name: c\n    kind: smtp-out\n', /^bridge\.yaml:3:5: bridges\[0\]\.topic: is required$/m],
      ['bridge.yaml', '', /^bridge\.yaml:7:5: bridges\[0\]\.prefetch: must be >= 1$/m],
      ['bridge.yaml', '', /^bridge\.yaml:9:5: bridges\[1\]\.kind: must be one of amqp-in, amqp-out, kafka-in, kafka-out$/m],
    ];
    for (const [file, text, re] of cases) {
      if (text) await writeFile(join(dir, file), text);
      const r = await config(undefined, 'check', file);
      assert.equal(r.error?.code, 'SB_ERR_CONFIG_INVALID', file);
      assert.match(r.err, re);
      assert.ok(r.error?.message.startsWith(`${file}:`), r.error?.message);
    }
    await writeFile(join(dir, 'good.yml'), 'version: 1\ntopics:\n  - name: a\nacls:\n  sql:\n    - principal: bob\n      rules: []\n');
    const good = await config(undefined, 'check', 'good.yml');
    ok(good);
    assert.equal(good.out, 'good.yml: ok (2 objects)');
  });

  it('runs as the real switchboard command: exit codes, stdout and stderr', async () => {
    const env = { SB_URL: a.url, SB_PASSWORD: a.password };
    const file = join(dir, 'cli.yaml');
    const exported = await runCli(['config', 'export', file], env);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^exported \d+ objects to .*cli\.yaml \(secrets omitted\)$/m);
    const [diff, check] = await Promise.all([runCli(['config', 'diff', file], env), runCli(['config', 'check', file])]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /^no changes/m);
    assert.equal(check.code, 0, check.stderr);
    const bad = await runCli(['config', 'check', join(dir, 'schema.yaml')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /schema\.yaml:6:7: topics\[1\]\.retention\.maxAgeMs: must be integer\n/);
    assert.match(bad.stderr, /error SB_ERR_CONFIG_INVALID: .*schema\.yaml:6:7: /);
  });

  it('secrets: left out by default, encrypted round trip with a key file, never printed', async () => {
    await admin(a).call('PUT', '/v1/connections/winrm/dc1', {
      endpoint: 'https://dc1.example.com:5986/wsman', auth: { type: 'ntlm', username: 'EXAMPLE\\ops' }, password: WINRM_PASSWORD,
      tls: { cert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', key: TLS_KEY },
    });
    await writeFile(join(dir, 'key'), randomBytes(32));
    await writeFile(join(dir, 'other-key'), randomBytes(32));

    ok(await config(a, 'export', 'omit.yaml'));
    const omitted = await readFile(join(dir, 'omit.yaml'), 'utf8');
    assert.doesNotMatch(omitted, /password|encrypted|PRIVATE KEY/);
    // A new WinRM host needs its password: an omit export cannot create it, and says so before applying anything.
    const conflict = await config(b, 'import', 'omit.yaml');
    assert.equal(conflict.error?.code, 'SB_ERR_CONFIG_CONFLICT');
    assert.match(conflict.err, /WinRM host dc1 is new and needs password/);

    ok(await config(a, 'export', 'enc.yaml', { secrets: 'encrypt', 'key-file': 'key' }));
    const encrypted = await readFile(join(dir, 'enc.yaml'), 'utf8');
    for (const s of SECRETS) assert.ok(!encrypted.includes(s), 'a secret is in the file in clear');
    assert.match(encrypted, /encryption:\n {2}cipher: aes-256-gcm\n {2}kdf: scrypt/);
    // SQL password, WinRM password and TLS key, the WebSocket header, the AMQP password.
    assert.equal((encrypted.match(/encrypted: /g) ?? []).length, 5);

    const wrong = await config(b, 'import', 'enc.yaml', { 'key-file': 'other-key' });
    assert.equal(wrong.error?.code, 'SB_ERR_SECRETS_UNAVAILABLE');
    const noKey = await config(b, 'import', 'enc.yaml');
    assert.equal(noKey.error?.code, 'SB_ERR_VALIDATION');
    assert.match(noKey.error?.message ?? '', /--key-file/);

    ok(await config(b, 'import', 'enc.yaml', { 'key-file': 'key' }));
    const types = new Map(OBJECT_TYPES.map((t) => [t.docPath.join('.'), t]));
    const client = admin(b);
    assert.deepEqual(await types.get('sqlConnections')?.readSecrets?.(client, 'pg1'), { password: SQL_PASSWORD });
    assert.deepEqual(await types.get('winrmHosts')?.readSecrets?.(client, 'dc1'), { password: WINRM_PASSWORD, 'tls.key': TLS_KEY });
    assert.deepEqual(await types.get('wsOutgoing')?.readSecrets?.(client, 'feed'), { 'headers.authorization': `Bearer ${WS_TOKEN}` });
    assert.deepEqual(await types.get('bridges')?.readSecrets?.(client, 'rabbit-in'), { password: AMQP_PASSWORD });
    // Secrets compare equal now: idempotent with secrets too.
    assert.match((await config(b, 'import', 'enc.yaml', { 'key-file': 'key' })).out, /^no changes/m);
    // And with them in place, the omit exports of both systems are the same bytes.
    ok(await config(b, 'export', 'omit-b.yaml'));
    assert.equal(await readFile(join(dir, 'omit-b.yaml'), 'utf8'), omitted);

    // A changed secret shows by name only, and is restored by import.
    await admin(b).call('PUT', '/v1/connections/sql/pg1/password', { password: 'changed-elsewhere' });
    const diff = await config(b, 'diff', 'enc.yaml', { 'key-file': 'key' });
    assert.match(diff.out, /^~ update SQL connection pg1: password \(secret\)$/m);
    ok(await config(b, 'import', 'enc.yaml', { 'key-file': 'key' }));
    assert.deepEqual(await types.get('sqlConnections')?.readSecrets?.(client, 'pg1'), { password: SQL_PASSWORD });
  });

  it('a failed type gets its secrets back too', async () => {
    // Runs after the secrets test: b has dc1 with WINRM_PASSWORD.
    const doc = {
      version: 1,
      winrmHosts: [
        { name: 'dc1', endpoint: 'https://dc1.example.com:5986/wsman', auth: { type: 'ntlm', username: 'EXAMPLE\\ops' }, password: 'new-password-1' },
        // Valid for the schema, refused by the gateway: a TLS key needs a certificate.
        { name: 'dc2', endpoint: 'https://dc2.example.com:5986/wsman', auth: { type: 'basic', username: 'ops' }, password: 'x', tls: { key: 'no-cert' } },
      ],
    };
    await writeFile(join(dir, 'winrm-fail.yaml'), JSON.stringify(doc));
    const r = await config(b, 'import', 'winrm-fail.yaml');
    assert.equal(r.error?.code, 'SB_ERR_CONFIG_IMPORT_FAILED');
    assert.match(r.error?.message ?? '', /create WinRM host dc2 failed: SB_ERR_VALIDATION: .*winrmHosts restored to its previous state \(1 change undone\)/);
    const winrm = OBJECT_TYPES.find((t) => t.docPath[0] === 'winrmHosts');
    assert.deepEqual(await winrm?.readSecrets?.(admin(b), 'dc1'), { password: WINRM_PASSWORD, 'tls.key': TLS_KEY });
    assert.deepEqual((await winrm?.list(admin(b)))?.map((h) => h['name']), ['dc1']);
  });
});
