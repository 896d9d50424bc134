/**
 * The original Zato WinRM call, working as written: a REST channel `/windows` runs `winrm.exec` with
 * the default input `{host}`, and `curl http://api:password@<gateway>/windows -d '{"type":"cmd","data":"dir c:"}'`
 * answers the Zato-shaped JSON — through a real gateway, the job pipeline on NATS, a real worker runtime
 * with the built-in handlers, and the WinRM test server (NTLM + message encryption). Hosts and the ACL
 * are set over the admin API; the planted password is searched for in logs, records and answers.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createBroker } from '../../broker/broker.js';
import { createLogger } from '../../broker/log.js';
import { createMetrics } from '../../broker/metrics.js';
import type { Broker } from '../../broker/types.js';
import { createRestGateway, type RestGateway } from '../../gateways/index.js';
import { resolveProcessConfig } from '../../schemas/config.js';
import { WINRM_HOST_PREFIX } from '../../schemas/winrm.js';
import { createSecurity } from '../../security/index.js';
import { Keyring } from '../../broker/secrets.js';
import { builtinHandlers } from '../../workers/builtin.js';
import { createWorker, type Worker } from '../../workers/runtime.js';
import { basic, dropBucket, rand, testBucket, waitUntil } from '../gateways/rest-harness.js';
import { until } from '../support/poll.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { createWinRMServer, type WinRMTestServer } from '../support/winrm-server/index.js';
import { LogSink } from '../support/log-sink.js';

const run = promisify(execFile);
const ADMIN_PASSWORD = 'admin-e2e-password';
const WIN_USER = 'svc-switchboard';
const WIN_PASSWORD = `Pl4nted-${randomBytes(8).toString('hex')}`;
const HOSTNAME = 'WIN-A3I92B';

describe('winrm.exec end to end: the Zato /windows channel', function () {
  this.timeout(30_000);
  const bucket = testBucket('winrme2e');
  const host = `dc${rand()}`;
  const sink = new LogSink();
  const logger = createLogger({ level: 'trace', destination: sink });
  const answers: string[] = [];
  let gwBroker: Broker;
  let wkBroker: Broker;
  let gateway: RestGateway;
  let worker: Worker;
  let server: WinRMTestServer;
  let base: string;
  let savedKeys: string | undefined;

  const admin = basic('admin', ADMIN_PASSWORD);
  async function api(method: string, path: string, body?: unknown, auth: string = admin): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const headers: Record<string, string> = { authorization: auth };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    const text = await res.text();
    answers.push(text);
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** The call exactly as the Zato post makes it. */
  async function curl(data: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const url = base.replace('http://', 'http://api:password@');
    const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', `${url}/windows`, '-d', data]);
    const nl = stdout.lastIndexOf('\n');
    answers.push(stdout);
    return { status: Number(stdout.slice(nl + 1)), body: JSON.parse(stdout.slice(0, nl)) };
  }

  before(async () => {
    savedKeys = process.env['SB_MASTER_KEYS'];
    // The gateway (seals on PUT) and the worker (opens) share the master keys, as in a deployment.
    process.env['SB_MASTER_KEYS'] = JSON.stringify(Keyring.generate('e2e'));
    const config = resolveProcessConfig({
      nats: { url: SHARED_NATS_URL, configBucket: bucket },
      http: { host: '127.0.0.1', port: 0 },
      auth: { enabled: true, adminPassword: ADMIN_PASSWORD },
    });
    const metrics = createMetrics({ defaultMetrics: false });
    gwBroker = await createBroker({ config, logger: logger.child({ proc: 'gateway' }), metrics });
    const { security } = await createSecurity({ config: gwBroker.config, logger, enabled: true, adminPassword: ADMIN_PASSWORD });
    gateway = createRestGateway({ broker: gwBroker, security, logger: logger.child({ component: 'gateway' }), metrics, config });
    await gateway.start();
    base = `http://127.0.0.1:${gateway.address().port}`;

    // The worker: its own broker connection, the built-in handlers, as `switchboard worker` runs them.
    wkBroker = await createBroker({ config, logger: logger.child({ proc: 'worker' }), metrics: createMetrics({ defaultMetrics: false }) });
    worker = await createWorker({
      broker: wkBroker, logger, handlers: builtinHandlers(),
      config: { types: [{ type: 'winrm.exec', concurrency: 8, ackWaitMs: 30_000, maxAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 1000 }], handlers: [], drainMs: 1000, heartbeatMs: 1000 },
    });

    server = await createWinRMServer({ auth: { ntlm: { users: { [WIN_USER]: WIN_PASSWORD } } }, hostname: HOSTNAME });
  });

  after(async () => {
    await worker?.stop();
    await gateway?.stop({ deadlineMs: 2000 });
    await wkBroker?.close({ deadlineMs: 2000 });
    await gwBroker?.close({ deadlineMs: 2000 });
    await server?.close();
    await dropBucket(bucket);
    if (savedKeys === undefined) delete process.env['SB_MASTER_KEYS'];
    else process.env['SB_MASTER_KEYS'] = savedKeys;
  });

  it('an admin defines the host (password sealed, never returned), the ACL, the user and the channel', async () => {
    const put = await api('PUT', `/v1/connections/winrm/${host}`, {
      endpoint: server.url, auth: { type: 'ntlm', username: WIN_USER }, password: WIN_PASSWORD,
    });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    assert.equal(put.body.passwordSet, true);
    assert.equal(put.body.password, undefined);
    assert.equal(put.body.messageEncryption, 'auto');
    const again = await api('PUT', `/v1/connections/winrm/${host}`, { endpoint: server.url, auth: { type: 'ntlm', username: WIN_USER }, maxConcurrent: 4 });
    assert.equal(again.status, 200, 'a replace without password keeps the stored one');
    assert.equal(again.body.maxConcurrent, 4);
    const listed = await api('GET', '/v1/connections/winrm');
    assert.deepEqual(listed.body.connections.map((c: { name: string }) => c.name), [host]);
    const stored = JSON.stringify(gwBroker.config.get(`${WINRM_HOST_PREFIX}${host}`));
    assert.match(stored, /"kid":"e2e"/);
    assert.ok(!stored.includes(WIN_PASSWORD));

    // Stable 400s and 404s.
    const bad = [
      await api('PUT', `/v1/connections/winrm/new${rand()}`, { endpoint: server.url, auth: { type: 'ntlm', username: WIN_USER } }),
      await api('PUT', `/v1/connections/winrm/${host}`, { name: 'other', endpoint: server.url, auth: { type: 'ntlm', username: WIN_USER } }),
      await api('PUT', `/v1/connections/winrm/${host}`, { endpoint: 'ftp://x', auth: { type: 'ntlm', username: WIN_USER }, password: 'x' }),
      await api('PUT', `/v1/connections/winrm/${host}`, { endpoint: 'http://u:p@dc1:5985/wsman', auth: { type: 'ntlm', username: WIN_USER }, password: 'x' }),
      await api('PUT', `/v1/connections/winrm/${host}`, { endpoint: server.url, auth: { type: 'kerberos', username: WIN_USER }, password: 'x' }),
      await api('PUT', '/v1/winrm/acl/api', { rules: [{ hosts: ['a.b'], cmd: ['dir *'] }] }),
    ];
    for (const r of bad) assert.deepEqual([r.status, r.body.error.code], [400, 'SB_ERR_VALIDATION'], JSON.stringify(r.body));
    const missing = await api('GET', '/v1/connections/winrm/nosuch');
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'SB_ERR_CONNECTION_NOT_FOUND']);

    assert.equal((await api('POST', '/v1/users', { name: 'api', password: 'password', acl: { jobs: ['winrm.exec'] } })).status, 201);
    const acl = await api('PUT', '/v1/winrm/acl/api', { rules: [{ hosts: [host], cmd: ['dir *'], ps: ['Test-Connection'] }] });
    assert.equal(acl.status, 200, JSON.stringify(acl.body));
    assert.deepEqual((await api('GET', '/v1/winrm/acl/api')).body, { principal: 'api', rules: [{ hosts: [host], cmd: ['dir *'], ps: ['Test-Connection'] }] });
    // Only admins manage hosts and ACLs.
    const forbidden = await api('GET', '/v1/connections/winrm', undefined, basic('api', 'password'));
    assert.deepEqual([forbidden.status, forbidden.body.error.code], [403, 'SB_ERR_FORBIDDEN']);

    const ch = await api('POST', '/v1/channels', { name: 'windows', path: '/windows', job: { type: 'winrm.exec', input: { host } } });
    assert.equal(ch.status, 201, JSON.stringify(ch.body));
    await waitUntil(async () => (await fetch(`${base}/windows`, { method: 'POST', headers: { authorization: basic('api', 'password') }, body: '{}' })).status !== 404);
  });

  it('curl http://api:password@…/windows -d \'{"type":"cmd","data":"dir c:"}\' → status 0 and stdout', async () => {
    const r = await curl('{"type":"cmd", "data":"dir c:"}');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.exec_code, 'ok');
    assert.equal(r.body.status_code, 0);
    assert.match(r.body.stdout, /^ Volume in drive C has no label\.\r\n Volume Serial Number is [0-9A-F-]+\r\n\r\n Directory of /);
    assert.deepEqual(Object.keys(r.body).sort(), ['exec_code', 'status_code', 'stdout']);
  });

  it('dir z: → status 1 and "The system cannot find the path specified."', async () => {
    const r = await curl('{"type":"cmd", "data":"dir z:"}');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status_code: 1, exec_code: 'ok', stderr: 'The system cannot find the path specified.\r\n' });
  });

  it('PowerShell Test-Connection → stdout, status 0, no raw CLIXML', async () => {
    const r = await curl('{"type":"ps", "data":"Test-Connection"}');
    assert.equal(r.status, 200);
    assert.equal(r.body.exec_code, 'ok');
    assert.equal(r.body.status_code, 0);
    assert.match(r.body.stdout, new RegExp(HOSTNAME));
    assert.ok(!String(r.body.stderr ?? '').includes('CLIXML'));
  });

  it('an invalid type answers Zato\'s error; a command outside the ACL is 403 and never reaches the host', async () => {
    assert.deepEqual((await curl('{"type":"bash", "data":"ls"}')).body, { exec_code: 'error', details: 'Invalid type' });
    const before = server.requests.length;
    const denied = await curl('{"type":"cmd", "data":"dir c: & del /q c:\\\\x"}');
    assert.deepEqual([denied.status, denied.body.error.code], [403, 'SB_ERR_FORBIDDEN']);
    assert.equal(server.requests.length, before, 'the host saw no request');
  });

  it('DELETE /v1/jobs/{id} stops a running command: cancelled, shell deleted', async () => {
    server.script([{ cmd: 'ping -t localhost', steps: [{ stdout: 'Reply from 127.0.0.1\r\n' }, { hang: true }] }]);
    const before = server.commands.length;
    const sub = await api('POST', '/v1/jobs/winrm.exec?mode=async', { host, type: 'cmd', data: 'ping -t localhost' });
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    await until(() => (server.commands[before]?.receives ?? 0) > 0, 10_000, 'the command to run');
    assert.equal((await api('DELETE', `/v1/jobs/${sub.body.id}`)).status, 202);
    const done = await api('GET', `/v1/jobs/${sub.body.id}?waitMs=10000`);
    assert.equal(done.body.status, 'cancelled', JSON.stringify(done.body));
    await until(() => server.shells.size === 0, 5000, 'the shell to be deleted');
    assert.ok(server.commands[before]?.signals.includes('terminate'));
  });

  it('an unreachable host is retried by the runtime (nothing ran), then fails naming SB_ERR_WINRM_UNREACHABLE', async () => {
    const down = `down${rand()}`;
    assert.equal((await api('PUT', `/v1/connections/winrm/${down}`, { endpoint: 'http://127.0.0.1:1/wsman', auth: { type: 'ntlm', username: WIN_USER }, password: WIN_PASSWORD })).status, 201);
    const r = await api('POST', '/v1/jobs/winrm.exec', { host: down, type: 'cmd', data: 'dir c:' });
    // The runtime retried it (retryable), then gave up: the record names the handler's code.
    assert.equal(r.status, 502, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'SB_ERR_JOB_FAILED');
    assert.match(r.body.error.message, /after 3 attempts; last error SB_ERR_WINRM_UNREACHABLE: host down\w+: transport error: \w+ request failed: ECONNREFUSED/);
    const record = await api('GET', `/v1/jobs/${r.body.error.data.job.id}`);
    assert.equal(record.body.status, 'failed');
    assert.equal(record.body.attempt, 3, 'maxAttempts deliveries');
  });

  it('a synchronous job record holds the output and no credential; no log line holds the password', async () => {
    const r = await api('POST', '/v1/jobs/winrm.exec', { host, type: 'cmd', data: 'hostname' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.output, { exec_code: 'ok', status_code: 0, stdout: `${HOSTNAME}\r\n` });
    await api('GET', `/v1/jobs/${r.body.id}`);
    await api('GET', `/v1/connections/winrm/${host}`);
    assert.ok(sink.lines.some((l) => l.includes("winrm command finished")), `log lines: ${sink.lines.length}`);
    for (const text of [...sink.lines, ...answers]) assert.ok(!text.includes(WIN_PASSWORD), `leaked in: ${text.slice(0, 200)}`);
  });
});
