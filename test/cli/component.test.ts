/**
 * Component lifecycle on real processes (docs/components.md): `switchboard create`, `start` (detached
 * and --fg), `status`, `stop` (graceful, and killed past its deadline), `restart`, stale pid files,
 * and the errors for a missing, invalid or already-running directory. Gateways run on the shared NATS
 * with a private config bucket; the worker gets a private nats-server so it takes no other test's jobs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliProcess, runCli } from './process.js';
import { cleanup, uniq } from '../broker/helpers.js';
import { freePort, NatsServer, SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';

/**
 * True while `pid` runs. A zombie does not count: a detached component whose `start` has exited is
 * re-parented to pid 1, which may reap it some time after it died.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

interface Status { running: boolean; pid?: number; uptimeMs?: number; health?: string; kind?: string; url?: string }

describe('switchboard create/start/stop/status (component lifecycle)', function () {
  this.timeout(120_000);
  let root: string;
  const bucket = uniq('sbtest_cfg_');
  const leases = uniq('sbtest_lease_');
  const pids: number[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sb-component-'));
  });
  after(async () => {
    // Whatever a failed test left running.
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
    await cleanup({ bucket });
    await cleanup({ bucket: leases });
  });

  /** Sets `settings` in DIR/switchboard.yaml by replacing the commented lines `create` wrote. */
  async function configure(dir: string, settings: Record<string, string | number>): Promise<void> {
    const file = join(dir, 'switchboard.yaml');
    let text = await readFile(file, 'utf8');
    for (const [k, v] of Object.entries(settings)) {
      const re = new RegExp(`^  # ${k}: .*$`, 'm');
      assert.match(text, re, `create wrote no commented ${k}`);
      text = text.replace(re, `  ${k}: ${JSON.stringify(String(v))}`);
    }
    await writeFile(file, text);
  }

  /** A new gateway component on a free port, on the shared NATS with this file's private buckets. */
  async function gatewayDir(name: string, extra: Record<string, string | number> = {}): Promise<{ dir: string; port: number }> {
    const dir = join(root, name);
    const port = await freePort();
    const r = await runCli(['create', 'gateway', dir]);
    assert.equal(r.code, 0, r.stderr);
    await configure(dir, {
      SB_NATS_URL: SHARED_NATS_URL, SB_HTTP_HOST: '127.0.0.1', SB_HTTP_PORT: port, SB_CONFIG_BUCKET: bucket,
      SB_LEASES_BUCKET: leases, SB_ADMIN_PASSWORD: 'pw-component-test', ...extra,
    });
    return { dir, port };
  }

  async function status(dir: string): Promise<{ code: number | null; s: Status; stderr: string }> {
    const r = await runCli(['status', dir, '--json']);
    return { code: r.code, s: JSON.parse(r.stdout) as Status, stderr: r.stderr };
  }

  async function startOk(dir: string): Promise<number> {
    const r = await runCli(['start', dir]);
    assert.equal(r.code, 0, `start failed: ${r.stderr}`);
    const pid = Number(await readFile(join(dir, 'run', 'switchboard.pid'), 'utf8'));
    pids.push(pid);
    return pid;
  }

  it('create writes a commented config file, data/ and logs/, and refuses a directory that is not empty', async () => {
    const dir = join(root, 'created');
    const r = await runCli(['create', 'gateway', dir]);
    assert.equal(r.code, 0, r.stderr);
    const text = await readFile(join(dir, 'switchboard.yaml'), 'utf8');
    assert.match(text, /^kind: gateway$/m);
    // Every setting commented out, with its default.
    assert.match(text, /^ {2}# SB_HTTP_PORT: 8080$/m);
    assert.match(text, /^ {2}# SB_NATS_URL: nats:\/\/127\.0\.0\.1:4222$/m);
    assert.doesNotMatch(text, /^ {2}SB_/m);
    assert.ok((await stat(join(dir, 'data'))).isDirectory());
    assert.ok((await stat(join(dir, 'logs'))).isDirectory());

    const again = await runCli(['create', 'gateway', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /error SB_ERR_COMPONENT_EXISTS: .*not empty/);
    assert.equal((await runCli(['create', 'worker', dir, '--force'])).code, 0);
    const worker = await readFile(join(dir, 'switchboard.yaml'), 'utf8');
    assert.match(worker, /^kind: worker$/m);
    assert.match(worker, /^ {2}# SB_WORKER_TYPES: /m);
    assert.doesNotMatch(worker, /SB_HTTP_PORT/, 'a worker serves no REST');

    const bad = await runCli(['create', 'broker', join(root, 'nope')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /KIND must be one of gateway, worker, dev/);
  });

  it('create → start → status → stop → status: detached, healthy, graceful, exit 3 when stopped', async () => {
    const { dir, port } = await gatewayDir('gw');
    const started = await runCli(['start', dir]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /started gateway in .* \(pid \d+, http:\/\/127\.0\.0\.1:\d+\)/);
    const pid = Number(await readFile(join(dir, 'run', 'switchboard.pid'), 'utf8'));
    pids.push(pid);
    assert.ok(alive(pid));
    // Detached: `start` exited, the component answers.
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);

    const st = await status(dir);
    assert.equal(st.code, 0);
    assert.equal(st.s.running, true);
    assert.equal(st.s.pid, pid);
    assert.equal(st.s.kind, 'gateway');
    assert.equal(st.s.health, 'ok');
    assert.ok(typeof st.s.uptimeMs === 'number' && st.s.uptimeMs >= 0);
    const human = await runCli(['status', dir]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /status: +running/);
    assert.match(human.stdout, new RegExp(`pid: +${pid}`));
    assert.match(human.stdout, /uptime: +\d+ s/);

    // Already running: refused, naming the pid; the running one is untouched.
    const twice = await runCli(['start', dir]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, new RegExp(`error SB_ERR_COMPONENT_RUNNING: .*already running \\(pid ${pid}\\)`));
    assert.ok(alive(pid));

    const stopped = await runCli(['stop', dir]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`stopped pid ${pid} in \\d+ ms`));
    assert.equal(alive(pid), false);
    assert.equal(await exists(join(dir, 'run', 'switchboard.pid')), false);
    // Graceful: the component ran its stop steps (the log is its stdout).
    const log = await readFile(join(dir, 'logs', 'switchboard.log'), 'utf8');
    assert.match(log, /"msg":"stopped broker"/);

    const afterStop = await status(dir);
    assert.equal(afterStop.code, 3);
    assert.equal(afterStop.s.running, false);
    // Stopping what is not running is not an error.
    const again = await runCli(['stop', dir]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /not running/);
  });

  it('start --fg runs in the foreground until SIGTERM and owns the pid file meanwhile', async () => {
    const { dir, port } = await gatewayDir('fg');
    const cli = CliProcess.spawn(['start', '--fg', dir]);
    pids.push(cli.proc.pid ?? 0);
    await cli.waitFor(/component gateway in .* running/, 60_000);
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    const st = await status(dir);
    assert.equal(st.s.running, true);
    assert.equal(st.s.pid, cli.proc.pid);
    const { code } = await cli.kill('SIGTERM');
    assert.equal(code, 0, cli.stderr);
    assert.equal(await exists(join(dir, 'run', 'switchboard.pid')), false);
    assert.equal((await status(dir)).code, 3);
  });

  it('a stale pid file (dead pid, or a live pid of another program) is reported, removed and never signalled', async () => {
    const { dir } = await gatewayDir('stale');
    const pidFile = join(dir, 'run', 'switchboard.pid');

    // A pid whose process has exited.
    const gone = spawn('true');
    await once(gone, 'exit');
    await writeFile(pidFile, `${gone.pid}\n`);
    const dead = await status(dir);
    assert.equal(dead.code, 3);
    assert.equal(dead.s.running, false);
    assert.match(dead.stderr, new RegExp(`stale pid file .* process ${gone.pid} is gone`));
    assert.equal(await exists(pidFile), false);

    // A live process that is not ours: by command line, then by start time (a state file of another process).
    const other = spawn('sleep', ['120'], { stdio: 'ignore' });
    try {
      await writeFile(pidFile, `${other.pid}\n`);
      const foreign = await status(dir);
      assert.equal(foreign.code, 3);
      assert.match(foreign.stderr, new RegExp(`pid ${other.pid} belongs to another program`));
      await writeFile(pidFile, `${other.pid}\n`);
      await writeFile(join(dir, 'run', 'switchboard.json'), JSON.stringify({ pid: other.pid, kind: 'gateway', state: 'running', startedAt: new Date().toISOString(), startTicks: '1' }));
      const stop = await runCli(['stop', dir, '--timeout', '500']);
      assert.equal(stop.code, 0);
      assert.match(stop.stderr, /started at a different time/);
      assert.match(stop.stdout, /not running/);
      assert.equal(other.exitCode, null, 'stop must not signal a process that is not ours');
      assert.ok(alive(other.pid ?? 0));
      assert.equal(await exists(pidFile), false);

      // start over a stale pid file starts.
      await writeFile(pidFile, `${other.pid}\n`);
      const pid = await startOk(dir);
      assert.notEqual(pid, other.pid);
      assert.equal((await runCli(['stop', dir])).code, 0);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('start refuses a missing directory, a directory without config, and an invalid config (naming the line)', async () => {
    const missing = await runCli(['start', join(root, 'does-not-exist')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error SB_ERR_COMPONENT_NOT_FOUND: .*does-not-exist does not exist/);
    assert.equal((await runCli(['status', join(root, 'does-not-exist')])).code, 1);

    const empty = join(root, 'empty');
    await mkdir(empty);
    const noConfig = await runCli(['start', empty]);
    assert.equal(noConfig.code, 1);
    assert.match(noConfig.stderr, /error SB_ERR_COMPONENT_NOT_FOUND: .*no switchboard\.yaml/);

    const { dir } = await gatewayDir('invalid');
    const file = join(dir, 'switchboard.yaml');
    const good = await readFile(file, 'utf8');
    const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

    const badPort = good.replace(/^ {2}SB_HTTP_PORT: .*$/m, '  SB_HTTP_PORT: 80a');
    await writeFile(file, badPort);
    const r1 = await runCli(['start', dir]);
    assert.equal(r1.code, 1);
    assert.ok(r1.stderr.includes(`error SB_ERR_CONFIG_INVALID: ${file}:${lineOf(badPort, 'SB_HTTP_PORT: 80a')}: SB_HTTP_PORT must be an integer`), r1.stderr);

    const typo = good.replace(/^ {2}SB_HTTP_PORT: /m, '  SB_HTTP_PROT: ');
    await writeFile(file, typo);
    const r2 = await runCli(['start', dir]);
    assert.equal(r2.code, 1);
    assert.ok(r2.stderr.includes(`${file}:${lineOf(typo, 'SB_HTTP_PROT')}: unknown setting "SB_HTTP_PROT"`), r2.stderr);

    const syntax = good.replace(/^kind: gateway$/m, 'kind: [gateway');
    await writeFile(file, syntax);
    const r3 = await runCli(['start', dir]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, new RegExp(`SB_ERR_CONFIG_INVALID: ${file}:\\d+: not valid YAML`));

    await writeFile(file, good.replace(/^kind: gateway$/m, 'kind: broker'));
    const r4 = await runCli(['start', dir]);
    assert.ok(r4.stderr.includes(`${file}:${lineOf(good, 'kind: gateway')}: kind must be one of gateway, worker, dev`), r4.stderr);
    assert.equal(await exists(join(dir, 'run', 'switchboard.pid')), false, 'nothing was started');
  });

  it('start reports a component that dies while starting with the tail of its log', async () => {
    // Nothing listens there, and a gateway does not start a nats-server.
    const { dir } = await gatewayDir('no-nats', { SB_NATS_URL: `nats://127.0.0.1:${await freePort()}` });
    const r = await runCli(['start', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error SB_ERR_COMPONENT_START_FAILED: .* exited with code 1; last lines of .*switchboard\.log:/);
    assert.match(r.stderr, /nothing answers at 127\.0\.0\.1:\d+/);
    assert.equal(await exists(join(dir, 'run', 'switchboard.pid')), false);

    // Not up within --timeout: killed, and its pid file removed.
    const slow = await gatewayDir('slow');
    const t = await runCli(['start', slow.dir, '--timeout', '100']);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /error SB_ERR_COMPONENT_START_FAILED: .* was not up within 100 ms and was killed/);
    assert.equal(await exists(join(slow.dir, 'run', 'switchboard.pid')), false);
    assert.equal((await status(slow.dir)).code, 3);
  });

  it('restart gives a new process; stop past its deadline kills with SIGKILL', async () => {
    const { dir } = await gatewayDir('restart');
    const first = await startOk(dir);
    const r = await runCli(['restart', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`stopped pid ${first}`));
    const second = Number(await readFile(join(dir, 'run', 'switchboard.pid'), 'utf8'));
    pids.push(second);
    assert.notEqual(second, first);
    assert.equal(alive(first), false);
    assert.equal((await status(dir)).s.pid, second);

    // A stopped process cannot handle SIGTERM: only the SIGKILL at the deadline ends it.
    process.kill(second, 'SIGSTOP');
    const t0 = Date.now();
    const stop = await runCli(['stop', dir, '--timeout', '500']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`killed pid ${second} \\(SIGKILL\\)`));
    assert.ok(Date.now() - t0 >= 500);
    await until(() => !alive(second), 5000, 'the killed component to be reaped');
    assert.equal(await exists(join(dir, 'run', 'switchboard.pid')), false);
    assert.equal((await status(dir)).code, 3);
  });

  it('a worker component runs with its health port and reports it in status', async () => {
    const nats = await NatsServer.start();
    try {
      const dir = join(root, 'worker');
      assert.equal((await runCli(['create', 'worker', dir])).code, 0);
      const healthPort = await freePort();
      await configure(dir, { SB_NATS_URL: nats.url, SB_WORKER_HEALTH_PORT: healthPort, SB_WORKER_HEALTH_HOST: '127.0.0.1', SB_WORKER_ID: 'component-test' });
      const pid = await startOk(dir);
      const st = await status(dir);
      assert.equal(st.code, 0);
      assert.equal(st.s.kind, 'worker');
      assert.equal(st.s.pid, pid);
      assert.equal(st.s.health, 'ok');
      assert.equal((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status, 200);
      const stop = await runCli(['stop', dir]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(alive(pid), false);
    } finally {
      await nats.dispose();
    }
  });
  it('a dev component starts its own nats-server with its store under DIR/data and stops it with itself', async () => {
    const dir = join(root, 'dev');
    assert.equal((await runCli(['create', 'dev', dir])).code, 0);
    const natsPort = await freePort();
    await configure(dir, { SB_NATS_URL: `nats://127.0.0.1:${natsPort}`, SB_HTTP_HOST: '127.0.0.1', SB_HTTP_PORT: await freePort() });
    const pid = await startOk(dir);
    const st = await status(dir);
    assert.equal(st.s.kind, 'dev');
    assert.equal(st.s.health, 'ok');
    assert.ok((await stat(join(dir, 'data', 'nats'))).isDirectory(), 'the nats-server store is in data/');
    assert.ok((await stat(join(dir, 'data', 'master-keys.json'))).isFile(), 'the generated keyring is in data/');
    const stop = await runCli(['stop', dir]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(alive(pid), false);
    assert.match(await readFile(join(dir, 'logs', 'switchboard.log'), 'utf8'), /"step":"nats-server"/);
  });

  it('switchboard gateway serves REST without starting a nats-server, until SIGTERM', async () => {
    const port = await freePort();
    const env = { SB_NATS_URL: SHARED_NATS_URL, SB_HTTP_HOST: '127.0.0.1', SB_HTTP_PORT: String(port), SB_CONFIG_BUCKET: bucket, SB_LEASES_BUCKET: leases, SB_MASTER_KEYS_FILE: join(root, 'keys.json') };
    await writeFile(env.SB_MASTER_KEYS_FILE, JSON.stringify({ active: 'k1', keys: { k1: Buffer.alloc(32, 7).toString('base64') } }));
    const cli = CliProcess.spawn(['gateway'], env, root);
    pids.push(cli.proc.pid ?? 0);
    await cli.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/, 60_000);
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    const { code } = await cli.kill('SIGTERM');
    assert.equal(code, 0, cli.stderr);

    const down = CliProcess.spawn(['gateway'], { ...env, SB_NATS_URL: `nats://127.0.0.1:${await freePort()}` }, root);
    assert.equal((await down.exited).code, 1);
    assert.match(down.stderr, /nothing answers at .*a gateway does not start a nats-server/);
  });
});
