/**
 * `switchboard worker` as a real process: a plugin handler loaded from a module path (env form), and
 * the SIGTERM drain — jobs that finish within drainMs finish, the rest are handed back and finished by
 * another worker without counting as a failed attempt; exit code 0.
 */
import assert from 'node:assert/strict';
import type { Worker } from '../../workers/index.js';
import { sharedBrokerSuite, until, uniq } from '../broker/helpers.js';
import { CliProcess } from '../cli/process.js';
import { SHARED_NATS_URL, freePort } from '../support/nats-server.js';
import { FIXTURES, FIXTURE_TYPES, dropJobTypes, jobPrefix, spawnWorker, startWorker, tempLog } from './helpers.js';

describe('switchboard worker (process)', function () {
  this.timeout(30_000);
  const suite = sharedBrokerSuite('jobsproc');
  const prefix = jobPrefix();
  const t = (name: string): string => `${prefix}.${name}`;
  let effects: Awaited<ReturnType<typeof tempLog>>;
  const procs: CliProcess[] = [];
  const workers: Worker[] = [];

  before(async () => {
    effects = await tempLog();
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop({ drainMs: 0 })));
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await effects.remove();
    await dropJobTypes(prefix, FIXTURE_TYPES);
  });

  it('loads a plugin handler from a module path (SB_WORKER_HANDLERS) and runs its jobs', async () => {
    const id = uniq('greeter');
    const cli = CliProcess.spawn(['worker'], {
      SB_NATS_URL: SHARED_NATS_URL, SB_CONFIG_BUCKET: suite.bucket, SB_TEST_JOB_PREFIX: prefix, SB_WORKER_HANDLERS: FIXTURES.greet, SB_WORKER_ID: id,
    });
    procs.push(cli);
    await cli.waitFor(/"msg":"worker [^ ]+ running"/, 30_000);
    const jobs = suite.tb.broker.jobs;
    const ok = await jobs.submitAndWait({ type: t('greet'), input: { name: 'Ada', shout: true }, principal: 'p' }, 5000);
    assert.equal(ok.result?.status, 'succeeded');
    assert.deepEqual(ok.result?.output, { greeting: 'HELLO, ADA!' });
    assert.equal(ok.result?.worker, id);
    const refused = await jobs.submitAndWait({ type: t('greet'), input: { name: 'nobody' }, principal: 'p' }, 5000);
    assert.deepEqual(refused.result?.error, { code: 'GREET_NOBODY', message: 'cannot greet nobody', retryable: false });
    const invalid = await jobs.submitAndWait({ type: t('greet'), input: { name: 'Ada', extra: 1 }, principal: 'p' }, 5000);
    assert.equal(invalid.result?.error?.code, 'SB_ERR_JOB_INVALID_INPUT');
    const exit = await cli.kill('SIGTERM');
    assert.equal(exit.code, 0);
  });

  it('SIGTERM drains: a job that ends within drainMs finishes, a longer one is handed back and finished elsewhere', async () => {
    const a = await spawnWorker({ dir: effects.dir, bucket: suite.bucket, prefix, types: [{ type: 'sleep', concurrency: 4 }], drainMs: 1200 });
    procs.push(a.cli);
    const jobs = suite.tb.broker.jobs;
    const short = await jobs.submit({ type: t('sleep'), input: { ms: 400, log: effects.log }, principal: 'p' });
    const long = await jobs.submit({ type: t('sleep'), input: { ms: 2500, log: effects.log }, principal: 'p' });
    const startedOn = async (id: string) => (await effects.lines()).find((l) => l[0] === 'start' && l[1] === id)?.[2];
    assert.equal(await until(() => startedOn(short.id), 5000, 'short job started'), a.id);
    assert.equal(await until(() => startedOn(long.id), 5000, 'long job started'), a.id);
    // The taker: an in-process worker on the same type.
    const b = await startWorker(suite.tb.broker, prefix, [{ type: 'sleep' }]);
    workers.push(b);
    const exit = a.cli.kill('SIGTERM');
    const [s, l] = await Promise.all([jobs.wait(short.id, 10_000), jobs.wait(long.id, 10_000)]);
    assert.equal((await exit).code, 0, a.cli.stderr.slice(-1000));
    assert.equal(s?.status, 'succeeded');
    assert.equal(s?.worker, a.id);
    assert.equal(l?.status, 'succeeded');
    assert.equal(l?.worker, b.id);
    assert.equal(l?.attempt, 1, 'a hand-back is not a failed attempt');
    assert.equal(l?.handbacks, 1);
    const events = (await effects.lines()).filter((x) => x[1] === long.id).map((x) => `${x[0]}@${x[2] === a.id ? 'A' : 'B'}${x[4] ? `:${x[4]}` : ''}`);
    assert.deepEqual(events, ['start@A', 'aborted@A:shutdown', 'start@B', 'done@B']);
    assert.equal((await jobs.workers()).some((w) => w.id === a.id), false, 'the drained worker left the registry');
  });

  it('SB_WORKER_HEALTH_PORT: /healthz and /readyz answer 200 while running; /readyz turns 503 during the drain', async () => {
    const port = await freePort();
    const a = await spawnWorker({
      dir: effects.dir, bucket: suite.bucket, prefix, types: [{ type: 'sleep' }], drainMs: 3000,
      env: { SB_WORKER_HEALTH_PORT: String(port), SB_WORKER_HEALTH_HOST: '127.0.0.1' },
    });
    procs.push(a.cli);
    const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    assert.deepEqual([await get('/healthz'), await get('/readyz'), await get('/metrics')], [200, 200, 404]);
    // A job that outlives the SIGTERM keeps the drain going long enough to see readiness go.
    const job = await suite.tb.broker.jobs.submit({ type: t('sleep'), input: { ms: 1500, log: effects.log }, principal: 'p' });
    await until(async () => (await effects.lines()).some((l) => l[0] === 'start' && l[1] === job.id), 5000, 'the job started');
    const exit = a.cli.kill('SIGTERM');
    await until(async () => (await get('/readyz').catch(() => 0)) === 503, 3000, '/readyz 503 while draining');
    assert.equal(await get('/healthz'), 200, 'alive while draining');
    assert.equal((await exit).code, 0);
    assert.equal((await suite.tb.broker.jobs.wait(job.id, 5000))?.status, 'succeeded', 'the drain let the job finish');
  });
});
