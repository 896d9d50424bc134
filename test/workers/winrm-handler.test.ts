/**
 * The `winrm.exec` handler against the WinRM test server (NTLM with message encryption, as a stock
 * Windows host) and a config store on the shared NATS: the three Zato examples, Zato's "Invalid type",
 * the command ACL (a denied command never reaches the host), auth failure without leaking the password,
 * cancellation and timeouts that leave no shell open, per-host concurrency, host changes, unreachable hosts.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../broker/log.js';
import type { Broker } from '../../broker/types.js';
import { WINRM_ACL_PREFIX, WINRM_HOST_PREFIX, type WinrmAcl, type WinrmExecInput, type WinrmExecOutput, type WinrmHostStored } from '../../schemas/winrm.js';
import { createSecurity } from '../../security/index.js';
import { Keyring, sealSecret, secretAad } from '../../broker/secrets.js';
import { JobFailure, type JobContext } from '../../workers/types.js';
import { aclAllows, compileCommandPattern } from '../../workers/winrm/acl.js';
import { createWinrmHandler, type WinrmHandler } from '../../workers/winrm/handler.js';
import { Semaphore } from '../../broker/semaphore.js';
import { cleanup, startBroker, uniq } from '../broker/helpers.js';
import { until } from '../support/poll.js';
import { createWinRMServer, fixtures, type WinRMTestServer } from '../support/winrm-server/index.js';
import { LogSink } from '../support/log-sink.js';

const USER = 'svc-sb';
// Planted: searched for in every log line, output, error and stored record at the end.
const PASSWORD = `Pl4nted-${randomBytes(6).toString('hex')}`;
const WRONG = `Wr0ng-${randomBytes(6).toString('hex')}`;
const HOSTNAME = 'WIN-ZATO01';

/** Collects every pino line written, to search for secrets. */
describe('winrm.exec handler (workers/winrm/handler.ts)', function () {
  this.timeout(20_000);
  const bucket = uniq('sbtest_winrm_');
  const sink = new LogSink();
  const log = createLogger({ level: 'trace', destination: sink });
  const seen: string[] = [];
  let broker: Broker;
  let server: WinRMTestServer;
  let handler: WinrmHandler;
  let savedKeys: string | undefined;

  before(async () => {
    savedKeys = process.env['SB_MASTER_KEYS'];
    process.env['SB_MASTER_KEYS'] = JSON.stringify(Keyring.generate('t1'));
    broker = (await startBroker({ bucket })).broker;
    // Real user records: `admin` (bootstrap, admin role) and `bob` (no role; his ACL below).
    const { security } = await createSecurity({ config: broker.config, logger: log, enabled: true, adminPassword: 'admin-pass-123' });
    await security.users.create({ name: 'bob', password: 'bob-pass-123', roles: [] });
    server = await createWinRMServer({
      auth: { ntlm: { users: { [USER]: PASSWORD } } },
      hostname: HOSTNAME,
      script: [
        { cmd: 'ping -t localhost', steps: [{ stdout: 'Reply from 127.0.0.1: bytes=32 time<1ms TTL=128\r\n' }, { hang: true }] },
        { ps: 'Get-Item C:\\nope', steps: [], exitCode: 1, psErrors: ["Cannot find path 'C:\\nope' because it does not exist."] },
      ],
    });
    await putHost('dc1', { endpoint: server.url });
    await putHost('dc1-wrong', { endpoint: server.url }, WRONG);
    await putHost('dc1-one', { endpoint: server.url, maxConcurrent: 1 });
    await broker.config.put(`${WINRM_ACL_PREFIX}bob`, {
      principal: 'bob',
      rules: [{ hosts: ['dc1*'], cmd: ['dir *'], ps: ['Test-Connection'] }],
    } satisfies WinrmAcl);
    handler = createWinrmHandler();
    await handler.init({ broker, log });
  });

  after(async () => {
    await handler?.close();
    await server?.close();
    await broker?.close();
    await cleanup({ bucket });
    if (savedKeys === undefined) delete process.env['SB_MASTER_KEYS'];
    else process.env['SB_MASTER_KEYS'] = savedKeys;
  });

  async function putHost(name: string, over: Partial<WinrmHostStored> & { endpoint: string }, password = PASSWORD): Promise<void> {
    const key = `${WINRM_HOST_PREFIX}${name}`;
    const ring = Keyring.parse(process.env['SB_MASTER_KEYS'] as string, 'test');
    const def: WinrmHostStored = {
      name,
      auth: { type: 'ntlm', username: USER },
      password: sealSecret(ring, password, secretAad(key, 'password')),
      updatedAt: new Date().toISOString(),
      ...over,
    };
    await broker.config.put(key, def);
  }

  function context(principal = 'admin', ac = new AbortController(), reason?: () => 'cancelled' | 'deadline' | 'shutdown' | undefined): JobContext {
    const id = randomBytes(11).toString('hex');
    return {
      job: {
        id, type: 'winrm.exec', input: null, principal, attempt: 1,
        deadline: new Date(Date.now() + 60_000).toISOString(), submittedAt: new Date().toISOString(),
      },
      signal: ac.signal,
      abortReason: reason ?? (() => (ac.signal.aborted ? 'cancelled' : undefined)),
      working: () => undefined,
      log: log.child({ jobId: id, jobType: 'winrm.exec' }),
      broker,
      workerId: 'test-worker',
      broadcast: () => ({ id: '' }),
    };
  }

  async function run(input: WinrmExecInput, principal = 'admin', ctx = context(principal)): Promise<WinrmExecOutput> {
    const out = await handler.handle(ctx, input);
    seen.push(JSON.stringify(out));
    return out;
  }

  async function failure(p: Promise<unknown>): Promise<JobFailure> {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof JobFailure, `expected a JobFailure, got ${String(e)}`);
      seen.push(JSON.stringify({ code: e.code, message: e.message }));
      return e;
    }
    assert.fail('expected the handler to fail');
  }

  describe('the original Zato examples', () => {
    it('dir c: → exec_code ok, status 0, stdout, no empty keys', async () => {
      const out = await run({ host: 'dc1', type: 'cmd', data: 'dir c:' });
      assert.equal(out.exec_code, 'ok');
      assert.equal(out.status_code, 0);
      assert.match(out.stdout ?? '', /^ Volume in drive C has no label\.\r\n/);
      assert.match(out.stdout ?? '', /Dir\(s\)/);
      assert.deepEqual(Object.keys(out), ['exec_code', 'status_code', 'stdout']);
    });

    it('dir z: → status 1 and the stderr line, no stdout key', async () => {
      const out = await run({ host: 'dc1', type: 'cmd', data: 'dir z:' });
      assert.deepEqual(out, { exec_code: 'ok', status_code: 1, stderr: 'The system cannot find the path specified.\r\n' });
    });

    it('PowerShell Test-Connection → stdout, status 0, CLIXML stderr cleaned', async () => {
      const before = server.commands.length;
      const out = await run({ host: 'dc1', type: 'ps', data: 'Test-Connection' });
      assert.equal(out.exec_code, 'ok');
      assert.equal(out.status_code, 0);
      assert.match(out.stdout ?? '', new RegExp(`${HOSTNAME}\\s+localhost\\s+127\\.0\\.0\\.1`));
      // The host did send CLIXML (a progress record) on stderr; what reaches the caller is not CLIXML.
      const cmd = server.commands[before];
      assert.ok(cmd?.psScript?.includes('Test-Connection'), 'ran through -EncodedCommand');
      assert.ok(!(out.stderr ?? '').includes('CLIXML') && !(out.stderr ?? '').includes('<Objs'), `stderr: ${out.stderr}`);
    });

    it('PowerShell error records become readable stderr text', async () => {
      const out = await run({ host: 'dc1', type: 'ps', data: 'Get-Item C:\\nope' });
      assert.equal(out.exec_code, 'ok');
      assert.equal(out.status_code, 1);
      assert.match(out.stderr ?? '', /Cannot find path 'C:\\nope' because it does not exist\./);
      assert.ok(!(out.stderr ?? '').includes('<Objs'), `stderr: ${out.stderr}`);
      assert.ok(!(out.stderr ?? '').includes('_x000D_'), `stderr: ${out.stderr}`);
    });
  });

  it('an invalid type answers exactly like Zato and sends nothing to the host', async () => {
    const before = server.requests.length;
    for (const type of ['bash', '', 'CMD']) {
      assert.deepEqual(await run({ host: 'dc1', type, data: 'dir c:' }), { exec_code: 'error', details: 'Invalid type' });
    }
    assert.equal(server.requests.length, before);
  });

  describe('command ACL', () => {
    it('lets a principal run what its rules allow', async () => {
      const out = await run({ host: 'dc1', type: 'cmd', data: 'dir z:' }, 'bob');
      assert.equal(out.status_code, 1);
      assert.equal((await run({ host: 'dc1', type: 'ps', data: 'Test-Connection' }, 'bob')).status_code, 0);
    });

    it('denies anything else with SB_ERR_FORBIDDEN, and the host sees no request at all', async () => {
      const before = server.requests.length;
      const denied: Array<[string, WinrmExecInput]> = [
        ['bob', { host: 'dc1', type: 'cmd', data: 'dir c: & del /q x' }],
        ['bob', { host: 'dc1', type: 'cmd', data: 'dir c: | find "x"' }],
        ['bob', { host: 'dc1', type: 'cmd', data: 'dir c:\r\ndel /q x' }],
        ['bob', { host: 'dc1', type: 'cmd', data: 'whoami' }],
        ['bob', { host: 'dc1', type: 'ps', data: 'Test-Connection; Remove-Item x' }],
        ['bob', { host: 'dc1', type: 'ps', data: 'dir *' }],
        ['bob', { host: 'other', type: 'cmd', data: 'dir c:' }],
        ['carol', { host: 'dc1', type: 'cmd', data: 'dir c:' }],
      ];
      for (const [principal, input] of denied) {
        const f = await failure(handler.handle(context(principal), input));
        assert.equal(f.code, 'SB_ERR_FORBIDDEN', `${principal} ${input.data}`);
        assert.equal(f.retryable, false);
        assert.ok(!f.message.includes(input.data), 'the command text stays out of the message');
      }
      assert.equal(server.requests.length, before, 'no request reached the host');
    });

    it('an unknown host is invalid input naming the host only, not retried', async () => {
      const f = await failure(handler.handle(context(), { host: 'nosuch', type: 'cmd', data: 'dir c:' }));
      assert.equal(f.code, 'SB_ERR_JOB_INVALID_INPUT');
      assert.equal(f.retryable, false);
      assert.match(f.message, /nosuch/);
    });
  });

  it('an authentication failure is exec_code error with a safe one-line detail, and no password anywhere', async () => {
    const out = await run({ host: 'dc1-wrong', type: 'cmd', data: 'dir c:' });
    assert.equal(out.exec_code, 'error');
    assert.match(out.details ?? '', /authentication failed/i);
    assert.ok(!(out.details ?? '').includes('\n'));
    assert.ok(!JSON.stringify(out).includes(WRONG) && !JSON.stringify(out).includes(PASSWORD));
    assert.ok(server.requests.some((r) => r.status === 401 && r.authFailure !== undefined), 'the host refused the credentials');
    assert.equal(server.shells.size, 0);
  });

  it('cancellation mid-command sends Signal terminate and Delete: no shell left open', async () => {
    const ac = new AbortController();
    const before = server.commands.length;
    const p = handler.handle(context('admin', ac), { host: 'dc1', type: 'cmd', data: 'ping -t localhost' });
    const cmd = await until(() => ((server.commands[before]?.receives ?? 0) > 0 ? server.commands[before] : undefined), 10_000, 'the command to run');
    assert.equal(cmd.state, 'running');
    ac.abort();
    const f = await failure(p);
    assert.equal(f.code, 'SB_ERR_JOB_CANCELLED');
    assert.ok(cmd.signals.includes('terminate'), `signals: ${cmd.signals.join(',')}`);
    assert.equal(server.shells.size, 0, 'every shell deleted');
  });

  it('the job deadline (runtime abort) reports timed_out and cleans up too', async () => {
    const ac = new AbortController();
    const before = server.commands.length;
    const p = handler.handle(context('admin', ac, () => (ac.signal.aborted ? 'deadline' : undefined)), { host: 'dc1', type: 'cmd', data: 'ping -t localhost' });
    await until(() => (server.commands[before]?.receives ?? 0) > 0, 10_000, 'the command to run');
    ac.abort();
    assert.equal((await failure(p)).code, 'SB_ERR_JOB_TIMED_OUT');
    assert.equal(server.shells.size, 0);
  });

  it('input timeoutMs stops the command: exec_code error with what was read, shell deleted', async () => {
    const out = await run({ host: 'dc1', type: 'cmd', data: 'ping -t localhost', timeoutMs: 400 });
    assert.equal(out.exec_code, 'error');
    assert.equal(out.status_code, undefined);
    assert.match(out.details ?? '', /did not finish within 400 ms/);
    assert.match(out.stdout ?? '', /Reply from 127\.0\.0\.1/);
    assert.equal(server.shells.size, 0);
  });

  it('output past maxOutputBytes stops the command: exec_code error with the first bytes, shell deleted', async () => {
    server.script([{ cmd: 'type big.log', steps: [{ stdout: 'x'.repeat(1500) }, { stdout: 'y'.repeat(1500) }, { hang: true }] }]);
    await putHost('dc1-small', { endpoint: server.url, maxOutputBytes: 2048 });
    const out = await run({ host: 'dc1-small', type: 'cmd', data: 'type big.log' });
    assert.equal(out.exec_code, 'error');
    assert.match(out.details ?? '', /more than 2048 bytes/);
    assert.ok((out.stdout ?? '').length <= 2048 && (out.stdout ?? '').startsWith('x'.repeat(1500)), `stdout: ${(out.stdout ?? '').length}`);
    assert.equal(server.shells.size, 0);
  });

  it('maxConcurrent per host: a second command waits for the first', async () => {
    const ac = new AbortController();
    const before = server.commands.length;
    const first = handler.handle(context('admin', ac), { host: 'dc1-one', type: 'cmd', data: 'ping -t localhost' });
    await until(() => (server.commands[before]?.receives ?? 0) > 0, 10_000, 'the first command to run');
    const second = run({ host: 'dc1-one', type: 'cmd', data: 'hostname' });
    await until(() => handler.hostStats('dc1-one').waiting === 1, 5000, 'the second command to wait');
    assert.equal(server.commands.length, before + 1, 'the second command did not start');
    assert.equal(server.shells.size, 1);
    ac.abort();
    await failure(first);
    assert.deepEqual(await second, { exec_code: 'ok', status_code: 0, stdout: `${HOSTNAME}\r\n` });
  });

  it('a changed host definition takes effect on the next job (client rebuilt)', async () => {
    await putHost('dc1-flip', { endpoint: server.url }, WRONG);
    assert.equal((await run({ host: 'dc1-flip', type: 'cmd', data: 'hostname' })).exec_code, 'error');
    await putHost('dc1-flip', { endpoint: server.url });
    assert.equal((await run({ host: 'dc1-flip', type: 'cmd', data: 'hostname' })).stdout, `${HOSTNAME}\r\n`);
    await broker.config.delete(`${WINRM_HOST_PREFIX}dc1-flip`);
    assert.equal((await failure(handler.handle(context(), { host: 'dc1-flip', type: 'cmd', data: 'hostname' }))).code, 'SB_ERR_JOB_INVALID_INPUT');
  });

  it('an unreachable host is a retryable SB_ERR_WINRM_UNREACHABLE (nothing ran)', async () => {
    await putHost('down', { endpoint: 'http://127.0.0.1:1/wsman' });
    const f = await failure(handler.handle(context(), { host: 'down', type: 'cmd', data: 'dir c:' }));
    assert.equal(f.code, 'SB_ERR_WINRM_UNREACHABLE');
    assert.equal(f.retryable, true);
  });

  it('HTTPS with Basic, the host CA and a client certificate whose key is sealed like the password', async () => {
    const tlsServer = await createWinRMServer({ auth: { basic: { users: { [USER]: PASSWORD } } }, https: { clientCert: 'require' }, hostname: HOSTNAME });
    try {
      const key = `${WINRM_HOST_PREFIX}dc1-tls`;
      const ring = Keyring.parse(process.env['SB_MASTER_KEYS'] as string, 'test');
      await putHost('dc1-tls', {
        endpoint: tlsServer.url,
        auth: { type: 'basic', username: USER },
        tls: { ca: fixtures.ca, cert: fixtures.clientCert, key: sealSecret(ring, fixtures.clientKey, secretAad(key, 'tls.key')) },
      });
      assert.deepEqual(await run({ host: 'dc1-tls', type: 'cmd', data: 'hostname' }), { exec_code: 'ok', status_code: 0, stdout: `${HOSTNAME}\r\n` });
      assert.ok(tlsServer.requests.every((r) => r.tls && r.clientCert === 'deploy'), 'every request over TLS with the client certificate');
      // The wrong CA: the TLS handshake fails before anything ran, so it is retryable.
      await putHost('dc1-tls-wrongca', { endpoint: tlsServer.url, auth: { type: 'basic', username: USER }, tls: { ca: fixtures.wrongCa } });
      const f = await failure(handler.handle(context(), { host: 'dc1-tls-wrongca', type: 'cmd', data: 'hostname' }));
      assert.equal(f.code, 'SB_ERR_WINRM_UNREACHABLE');
    } finally {
      await tlsServer.close();
    }
  });

  it('host credentials without the master key fail closed with SB_ERR_SECRETS_UNAVAILABLE', async () => {
    const other = createWinrmHandler({ keyring: () => Keyring.parse(JSON.stringify(Keyring.generate('t1')), 'other') });
    await other.init({ broker, log });
    try {
      const before = server.requests.length;
      const f = await failure(other.handle(context(), { host: 'dc1', type: 'cmd', data: 'dir c:' }));
      assert.equal(f.code, 'SB_ERR_SECRETS_UNAVAILABLE');
      assert.equal(server.requests.length, before);
    } finally {
      await other.close();
    }
  });

  it('the password appears in no log line, output, error or stored record', async () => {
    assert.ok(sink.lines.length > 10, 'the handler logged');
    const stored = broker.config.list<unknown>(WINRM_HOST_PREFIX).map((e) => JSON.stringify(e.value));
    for (const secret of [PASSWORD, WRONG]) {
      for (const text of [...sink.lines, ...seen, ...stored]) assert.ok(!text.includes(secret), `leaked in: ${text.slice(0, 200)}`);
    }
    assert.ok(sink.lines.some((l) => l.includes('winrm command finished')));
  });
});

describe('WinRM command patterns (workers/winrm/acl.ts)', () => {
  const cases: Array<[string, 'cmd' | 'ps', string, boolean]> = [
    ['dir *', 'cmd', 'dir c:', true],
    ['dir *', 'cmd', 'DIR C:\\Temp /s', true],
    ['dir *', 'cmd', 'dir c: & del /q x', false],
    ['dir *', 'cmd', 'dir c: && del x', false],
    ['dir *', 'cmd', 'dir c: || del x', false],
    ['dir *', 'cmd', 'dir c: > out.txt', false],
    ['dir *', 'cmd', 'dir %COMSPEC%', false],
    ['dir *', 'cmd', 'dir c: ^& del x', false],
    ['dir *', 'cmd', 'dir c:\ndel x', false],
    ['dir *', 'cmd', 'dir c:\u0000', false],
    ['dir *', 'cmd', 'del x', false],
    ['ipconfig', 'cmd', 'ipconfig', true],
    ['ipconfig', 'cmd', 'ipconfig /all', false],
    ['**', 'cmd', 'dir c: & del /q x', true],
    ['echo **', 'cmd', 'echo a | b', true],
    ['Get-Service *', 'ps', 'Get-Service WinRM', true],
    ['Get-Service *', 'ps', 'Get-Service WinRM; Stop-Service WinRM', false],
    ['Get-Service *', 'ps', 'Get-Service WinRM | Stop-Service', false],
    ['Get-Service *', 'ps', 'Get-Service (Remove-Item x)', false],
    ['Get-Service *', 'ps', 'Get-Service $(Remove-Item x)', false],
    ['Get-Service *', 'ps', 'Get-Service `\nRemove-Item x', false],
    ['Get-Service *', 'ps', 'Get-Service x & calc', false],
    ['Get-Service *', 'ps', 'Get-Service {Remove-Item x}', false],
    ['Get-Service *', 'ps', 'Get-Service x > C:\\evil.txt', false],
    ['Get-Service *', 'ps', 'Get-Service x\r\nRemove-Item y', false],
    // `|` is a metacharacter of ps but a literal dot, `+`, `?` in a pattern are literals.
    ['a.b+c?', 'cmd', 'a.b+c?', true],
    ['a.b+c?', 'cmd', 'aXb+c?', false],
  ];
  for (const [pattern, type, data, expected] of cases) {
    it(`${type} ${JSON.stringify(pattern)} ${expected ? 'allows' : 'denies'} ${JSON.stringify(data)}`, () => {
      assert.equal(compileCommandPattern(pattern, type).test(data), expected);
    });
  }

  it('matches in linear time: several stars against a long, non-matching command do not backtrack', () => {
    const started = Date.now();
    assert.equal(compileCommandPattern('a*a*a*a*a*a*b', 'cmd').test('a'.repeat(200_000)), false);
    assert.equal(compileCommandPattern('dir *', 'cmd').test(`dir ${'x'.repeat(1_000_000)}`), true);
    assert.equal(compileCommandPattern('Get-Item * -Path * -Filter *z', 'ps').test(`Get-Item ${' -Path '.repeat(50_000)}`), false);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('rules combine host globs with per-type lists; no ACL denies', () => {
    const acl: WinrmAcl = { principal: 'p', rules: [{ hosts: ['web-*'], cmd: ['hostname'] }, { hosts: ['lab'], ps: ['**'] }] };
    assert.equal(aclAllows(acl, 'web-01', 'cmd', 'hostname'), true);
    assert.equal(aclAllows(acl, 'web-01', 'ps', 'hostname'), false);
    assert.equal(aclAllows(acl, 'db-01', 'cmd', 'hostname'), false);
    assert.equal(aclAllows(acl, 'lab', 'ps', 'anything; at all'), true);
    assert.equal(aclAllows(acl, 'lab', 'cmd', 'hostname'), false);
    assert.equal(aclAllows(undefined, 'web-01', 'cmd', 'hostname'), false);
  });

  it('a semaphore hands slots out in order and drops aborted waiters', async () => {
    const s = new Semaphore(1);
    const r1 = await s.acquire();
    const ac = new AbortController();
    const w2 = s.acquire(ac.signal);
    const w3 = s.acquire();
    ac.abort(new Error('gone'));
    await assert.rejects(w2, /gone/);
    r1();
    const r3 = await w3;
    assert.equal(s.running, 1);
    r3();
    r3();
    assert.equal(s.running, 0);
  });
});
