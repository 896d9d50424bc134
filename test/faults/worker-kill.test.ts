/**
 * Worker faults with real processes on the shared NATS: `kill -9` mid-job, three workers sharing the
 * load, and a worker killed right after recording a result but before its ack
 * (SB_FAULT_KILL_AFTER_RESULT). Across all three: no job is lost, and no job with a recorded result
 * runs twice. The fixture handler writes one synchronous log line per start/finish, the ground truth.
 */
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { jobConsumerName } from '../../broker/index.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { sharedBrokerSuite, until } from '../broker/helpers.js';
import type { CliProcess } from '../cli/process.js';
import { FIXTURE_TYPES, dropJobTypes, jobPrefix, spawnWorker, tempLog } from '../workers/helpers.js';

describe('faults: worker kill', function () {
  this.timeout(30_000);
  const suite = sharedBrokerSuite('jobkill');
  let effects: Awaited<ReturnType<typeof tempLog>>;
  const procs: CliProcess[] = [];
  const prefixes: string[] = [];
  const fresh = (): string => {
    const p = jobPrefix();
    prefixes.push(p);
    return p;
  };
  const spawn = async (prefix: string, opts: { concurrency?: number; env?: Record<string, string> } = {}) => {
    const w = await spawnWorker({ dir: effects.dir, bucket: suite.bucket, prefix, types: [{ type: 'sleep', concurrency: opts.concurrency ?? 4, ackWaitMs: 1000 }], ...(opts.env ? { env: opts.env } : {}) });
    procs.push(w.cli);
    return w;
  };

  before(async () => {
    effects = await tempLog();
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await effects.remove();
    for (const p of prefixes) await dropJobTypes(p, FIXTURE_TYPES);
  });

  const linesOf = async (id: string) => (await effects.lines()).filter((l) => l[1] === id);

  it('kill -9 mid-job: the job completes exactly once on another worker', async () => {
    const prefix = fresh();
    const [a, b] = await Promise.all([spawn(prefix), spawn(prefix)]);
    const jobs = suite.tb.broker.jobs;
    const job = await jobs.submit({ type: `${prefix}.sleep`, input: { ms: 1500, log: effects.log }, principal: 'p' });
    const first = await until(async () => (await linesOf(job.id)).find((l) => l[0] === 'start')?.[2], 5000, 'job started');
    const victim = first === a.id ? a : b;
    const survivor = first === a.id ? b : a;
    await victim.cli.kill('SIGKILL');
    const r = await jobs.wait(job.id, 15_000);
    assert.equal(r?.status, 'succeeded');
    assert.equal(r?.worker, survivor.id);
    assert.equal(r?.attempt, 2, 'the killed run was attempt 1');
    const log = (await linesOf(job.id)).map((l) => `${l[0]}@${l[2] === victim.id ? 'killed' : 'survivor'}`);
    assert.deepEqual(log, ['start@killed', 'start@survivor', 'done@survivor']);
    await survivor.cli.kill('SIGTERM');
  });

  it('three worker processes share the load', async () => {
    const prefix = fresh();
    const ws = await Promise.all([spawn(prefix, { concurrency: 2 }), spawn(prefix, { concurrency: 2 }), spawn(prefix, { concurrency: 2 })]);
    const jobs = suite.tb.broker.jobs;
    const n = 60;
    const accepted = await Promise.all(Array.from({ length: n }, () => jobs.submit({ type: `${prefix}.sleep`, input: { ms: 60, log: effects.log }, principal: 'p' })));
    const results = await Promise.all(accepted.map((a) => jobs.wait(a.id, 20_000)));
    assert.ok(results.every((r) => r?.status === 'succeeded'), 'no job lost');
    const ids = new Set(accepted.map((a) => a.id));
    const done = (await effects.lines()).filter((l) => l[0] === 'done' && ids.has(l[1] as string));
    assert.equal(done.length, n, 'each job ran once');
    const per = ws.map((w) => done.filter((l) => l[2] === w.id).length);
    // Each of 3 workers with 2 slots takes its turn; a fair share is n/3 = 20: accept anything from half of it.
    assert.ok(per.every((c) => c >= n / 6), `shares ${per.join('/')}`);
    await Promise.all(ws.map((w) => w.cli.kill('SIGTERM')));
  });

  it('a result recorded but never acked (worker killed in between) is not run again on redelivery', async () => {
    const prefix = fresh();
    const a = await spawn(prefix, { env: { SB_FAULT_KILL_AFTER_RESULT: '1' } });
    const jobs = suite.tb.broker.jobs;
    // A sync caller: the killed worker never sends the reply; the redelivery re-notifies it.
    const call = jobs.submitAndWait({ type: `${prefix}.sleep`, input: { ms: 10, log: effects.log }, principal: 'p' }, 15_000);
    const exit = await a.cli.exited;
    assert.equal(exit.signal, 'SIGKILL', 'the fault hook killed the worker after the result write');
    const b = await spawn(prefix);
    const { accepted, result } = await call;
    assert.equal(result?.status, 'succeeded');
    assert.equal(result?.worker, a.id, 'the recorded result is the one of the killed worker');
    // The redelivery reached b (the job left the queue) and b did not run it.
    await until(async () => (await jobs.get(accepted.id))?.status === 'succeeded', 5000, 'final record');
    await until(async () => (await countPending(prefix)) === 0, 10_000, 'job acked by the second worker');
    assert.deepEqual((await linesOf(accepted.id)).map((l) => `${l[0]}@${l[2] === a.id ? 'A' : 'B'}`), ['start@A', 'done@A']);
    await b.cli.kill('SIGTERM');
  });

  // Messages of this type still in the work queue (unacked): 0 once the redelivery was acked.
  async function countPending(prefix: string): Promise<number> {
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      const ci = await (await jetstreamManager(nc)).consumers.info('SB_JOBS', jobConsumerName(`${prefix}.sleep`));
      return ci.num_pending + ci.num_ack_pending;
    } finally {
      await nc.close();
    }
  }
});
