/**
 * nats-server SIGKILL and restart while a worker process drains a backlog of jobs. A delivery that
 * comes after a reconnect reads the job's record first (broker/jobs-port.ts, mustReadRecord), so a job
 * whose result was stored before the crash is not run again, whatever delivery count the restarted
 * server reports; and every accepted job still ends `succeeded`.
 */
import assert from 'node:assert/strict';
import { isFinal } from '../../schemas/job.js';
import { NatsServer } from '../support/nats-server.js';
import { startBroker, uniq, until, type TestBroker } from '../broker/helpers.js';
import type { CliProcess } from '../cli/process.js';
import { jobPrefix, spawnWorker, tempLog } from '../workers/helpers.js';

describe('faults: nats-server SIGKILL and restart under a worker', function () {
  this.timeout(90_000);
  let nats: NatsServer;
  let tb: TestBroker;
  let effects: Awaited<ReturnType<typeof tempLog>>;
  let worker: CliProcess | undefined;
  const bucket = uniq('jobnats');

  before(async () => {
    nats = await NatsServer.start();
    effects = await tempLog();
    tb = await startBroker({ url: nats.url, bucket });
  });
  after(async () => {
    await worker?.kill('SIGKILL');
    await tb?.broker.close({ deadlineMs: 2000 });
    await nats?.dispose();
    await effects?.remove();
  });

  it('every accepted job ends succeeded; a job recorded before the crash does not run again', async () => {
    const prefix = jobPrefix();
    const w = await spawnWorker({
      dir: effects.dir, bucket, prefix, types: [{ type: 'sleep', concurrency: 8, ackWaitMs: 4000 }], env: { SB_NATS_URL: nats.url },
    });
    worker = w.cli;
    const jobs = tb.broker.jobs;
    const n = 120;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await jobs.submit({ type: `${prefix}.sleep`, input: { ms: 25, log: effects.log }, principal: 'p' })).id);
    const lines = async (event: string) => (await effects.lines()).filter((l) => l[0] === event);

    // Mid-drain (8 slots × 25 ms: the backlog takes ~400 ms), note which jobs have a stored result, then crash.
    await until(async () => (await lines('done')).length >= 30, 15_000, '30 jobs done');
    const before = await Promise.all(ids.map((id) => jobs.get(id)));
    const recorded = new Map(before.flatMap((r) => (r && isFinal(r) ? [[r.id, `${r.worker}@${r.startedAt}`] as const] : [])));
    await nats.stop('SIGKILL');
    await nats.restart();
    assert.ok(recorded.size >= 30, `results stored before the crash: ${recorded.size}`);

    const after = await until(async () => {
      const recs = await Promise.all(ids.map((id) => jobs.get(id).catch(() => undefined)));
      return recs.every((r) => r && isFinal(r)) ? recs : undefined;
    }, 60_000, 'every job final after the restart');
    assert.deepEqual(after.map((r) => r?.status).filter((s) => s !== 'succeeded'), [], 'no job lost or failed');

    const starts = await lines('start');
    for (const [id, run] of recorded) {
      const rec = after.find((r) => r?.id === id);
      assert.equal(`${rec?.worker}@${rec?.startedAt}`, run, `job ${id}: the result stored before the crash stands`);
      assert.equal(starts.filter((l) => l[1] === id).length, 1, `job ${id} ran once`);
    }
  });
});
