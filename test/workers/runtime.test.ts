/**
 * The job pipeline and the worker runtime, in process, against the shared NATS: submit / wait / get /
 * cancel, result records and events, idempotent submits, concurrency, heartbeats, retries and dead
 * letters, poison input, deadlines, cancellation, and the registry.
 */
import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { idempotentJobId, isSbError, topicSubject } from '../../broker/index.js';
import type { JobRecord } from '../../schemas/job.js';
import type { Worker } from '../../workers/index.js';
import { sharedBrokerSuite, startBroker, uniq, until } from '../broker/helpers.js';
import { FIXTURE_TYPES, dropJobTypes, jobPrefix, startWorker, tap, tempLog } from './helpers.js';

describe('jobs: pipeline and worker runtime', function () {
  this.timeout(20_000);
  const suite = sharedBrokerSuite('jobs');
  const prefix = jobPrefix();
  const t = (name: string): string => `${prefix}.${name}`;
  let effects: Awaited<ReturnType<typeof tempLog>>;
  const workers: Worker[] = [];
  const start = async (...args: Parameters<typeof startWorker> extends [unknown, unknown, ...infer R] ? R : never): Promise<Worker> => {
    const w = await startWorker(suite.tb.broker, prefix, ...args);
    workers.push(w);
    return w;
  };

  before(async () => {
    effects = await tempLog();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ drainMs: 0 })));
  });
  after(async () => {
    await effects.remove();
    await dropJobTypes(prefix, FIXTURE_TYPES);
  });

  const jobs = () => suite.tb.broker.jobs;
  const linesOf = async (id: string) => (await effects.lines()).filter((l) => l[1] === id);

  it('submitAndWait returns the result; the record and a result event on the results topic carry it', async () => {
    await start([{ type: 'noop' }]);
    // What a user does: a durable subscription on the results topic.
    const subs = suite.tb.broker.subscriptions;
    const sub = uniq('jobres');
    await subs.create({ name: sub, topic: 'jobs.results' });
    try {
      const { accepted, result } = await jobs().submitAndWait({ type: t('noop'), input: { hello: 'world' }, principal: 'alice' }, 5000);
      assert.equal(accepted.duplicate, false);
      assert.equal(result?.status, 'succeeded');
      assert.deepEqual(result?.output, { hello: 'world' });
      assert.equal(result?.principal, 'alice');
      assert.equal(result?.attempt, 1);
      assert.ok(typeof result?.durationMs === 'number' && result.worker);
      assert.deepEqual(await jobs().get(accepted.id), result);
      // Other suites' results share the topic: pull until ours comes.
      const ev = await until(async () => {
        const got = await subs.pull(sub, { max: 100, waitMs: 500 });
        await subs.ack(sub, got.map((m) => m.ackToken));
        return got.find((m) => m.id === accepted.id);
      }, 5000, 'result event');
      assert.equal(ev.topic, 'jobs.results');
      assert.equal(ev.headers['Sb-Job-Type'], t('noop'));
      assert.equal(ev.headers['Sb-Job-Status'], 'succeeded');
      assert.equal(ev.contentType, 'application/json');
      assert.deepEqual(JSON.parse(Buffer.from(ev.data).toString()), result);
    } finally {
      await subs.delete(sub);
    }
  });

  it('submit is async: queued record, then wait() and get() see the final one', async () => {
    const accepted = await jobs().submit({ type: t('noop'), input: 7, principal: 'alice' }).catch(async (e: unknown) => {
      // The type was declared by the previous test's worker: the declaration outlives the worker.
      throw e;
    });
    const queued = await jobs().get(accepted.id);
    assert.equal(queued?.status, 'queued');
    await start([{ type: 'noop' }]);
    const result = await jobs().wait(accepted.id, 5000);
    assert.equal(result?.status, 'succeeded');
    assert.equal(result?.output, 7);
    assert.equal((await jobs().get(accepted.id))?.status, 'succeeded');
  });

  it('wait() on another process sees the result of a job it did not submit (result events)', async () => {
    await start([{ type: 'sleep' }]);
    const other = await startBroker({ bucket: suite.bucket });
    try {
      const accepted = await jobs().submit({ type: t('sleep'), input: { ms: 300 }, principal: 'alice' });
      const r = await other.broker.jobs.wait(accepted.id, 5000);
      assert.equal(r?.status, 'succeeded');
      assert.deepEqual(r?.output, { slept: true });
      assert.equal(await other.broker.jobs.wait('not-an-id.>', 10), undefined, 'ids outside the pattern are simply unknown');
      assert.equal(await other.broker.jobs.get('>'), undefined);
    } finally {
      await other.broker.close();
    }
  });

  it('an idempotent submit maps to the same job and is stored once', async () => {
    await start([{ type: 'noop' }]);
    const key = `k-${prefix}`;
    const a = await jobs().submit({ type: t('noop'), input: 1, principal: 'alice', idempotencyKey: key });
    const b = await jobs().submit({ type: t('noop'), input: 2, principal: 'alice', idempotencyKey: key });
    assert.equal(a.duplicate, false);
    assert.equal(b.id, a.id);
    assert.equal(b.duplicate, true);
    assert.match(a.id, /^[0-9a-f]{32}$/);
    // Another principal with the same key is another job.
    const c = await jobs().submit({ type: t('noop'), input: 3, principal: 'bob', idempotencyKey: key });
    assert.notEqual(c.id, a.id);
    const r = await jobs().wait(a.id, 5000);
    assert.equal(r?.output, 1);
    const again = await jobs().submitAndWait({ type: t('noop'), input: 9, principal: 'alice', idempotencyKey: key }, 5000);
    assert.deepEqual(again, { accepted: { id: a.id, duplicate: true }, result: r });
  });

  it('refuses a type no worker declared, and a malformed type', async () => {
    await assert.rejects(jobs().submit({ type: t('never'), input: null, principal: 'alice' }), (e: unknown) => isSbError(e, 'SB_ERR_JOB_TYPE_NOT_FOUND'));
    await assert.rejects(jobs().submit({ type: 'bad type', input: null, principal: 'alice' }), (e: unknown) => isSbError(e, 'SB_ERR_VALIDATION'));
    await assert.rejects(jobs().cancel('NoSuchJob0000000000000', 'alice'), (e: unknown) => isSbError(e, 'SB_ERR_JOB_NOT_FOUND'));
  });

  it('runs at most `concurrency` jobs at once', async () => {
    await start([{ type: 'sleep', concurrency: 2 }]);
    const ids = await Promise.all(Array.from({ length: 6 }, () => jobs().submit({ type: t('sleep'), input: { ms: 150, log: effects.log }, principal: 'p' })));
    const results = await Promise.all(ids.map((a) => jobs().wait(a.id, 10_000)));
    assert.ok(results.every((r) => r?.status === 'succeeded'));
    const mine = new Set(ids.map((a) => a.id));
    let running = 0;
    let max = 0;
    for (const l of await effects.lines()) {
      if (!mine.has(l[1] as string)) continue;
      running += l[0] === 'start' ? 1 : -1;
      max = Math.max(max, running);
    }
    assert.equal(max, 2);
  });

  it('heartbeats keep a job that outlives its ack wait from being redelivered', async () => {
    await start([{ type: 'sleep', ackWaitMs: 1000 }]);
    const { accepted, result } = await jobs().submitAndWait({ type: t('sleep'), input: { ms: 2600, log: effects.log }, principal: 'p' }, 8000);
    assert.equal(result?.status, 'succeeded');
    assert.equal(result?.attempt, 1);
    assert.deepEqual((await linesOf(accepted.id)).map((l) => l[0]), ['start', 'done']);
  });

  it('retries a retryable failure with growing delays, then dead-letters it', async () => {
    await start([{ type: 'flaky', maxAttempts: 3, backoffBaseMs: 200, backoffMaxMs: 5000 }]);
    const dead = await tap(topicSubject('jobs.dead'));
    try {
      const { accepted, result } = await jobs().submitAndWait({ type: t('flaky'), input: { failTimes: 99, log: effects.log, code: 'FLAKY_DOWN' }, principal: 'p' }, 10_000);
      assert.equal(result?.status, 'failed');
      assert.equal(result?.error?.code, 'SB_ERR_JOB_FAILED');
      assert.match(result?.error?.message ?? '', /3 attempts.*FLAKY_DOWN/);
      const tries = await linesOf(accepted.id);
      assert.deepEqual(tries.map((l) => Number(l[3])), [1, 2, 3]);
      const at = tries.map((l) => Number(l[4]));
      const gaps = [at[1]! - at[0]!, at[2]! - at[1]!];
      assert.ok(gaps[0]! >= 200 && gaps[1]! >= 400 && gaps[1]! > gaps[0]!, `delays grow: ${gaps.join(', ')}`);
      const copy = await until(() => dead.got.find((m) => m.headers['Sb-Job-Id'] === accepted.id), 5000, 'dead letter');
      assert.equal(copy.headers['Sb-Dlq-Reason'], 'max_attempts');
      assert.equal(copy.headers['Sb-Job-Attempts'], '3');
      assert.equal(copy.headers['Sb-Job-Error-Code'], 'FLAKY_DOWN');
      assert.equal(copy.headers['Sb-Job-Type'], t('flaky'));
      const env = JSON.parse(copy.data) as { id: string; input: unknown; attempt: number };
      assert.equal(env.id, accepted.id);
      assert.equal(env.attempt, 1, 'the copy is the envelope as submitted');
    } finally {
      await dead.close();
    }
  });

  it('a retryable failure that recovers succeeds on a later attempt', async () => {
    await start([{ type: 'flaky', maxAttempts: 5, backoffBaseMs: 50, backoffMaxMs: 100 }]);
    const { result } = await jobs().submitAndWait({ type: t('flaky'), input: { failTimes: 2 }, principal: 'p' }, 8000);
    assert.equal(result?.status, 'succeeded');
    assert.deepEqual(result?.output, { attempt: 3 });
  });

  it('invalid input is poison: failed, dead-lettered, never run or retried', async () => {
    await start([{ type: 'sleep' }]);
    const dead = await tap(topicSubject('jobs.dead'));
    try {
      const { accepted, result } = await jobs().submitAndWait({ type: t('sleep'), input: { ms: 'soon', log: effects.log }, principal: 'p' }, 5000);
      assert.equal(result?.status, 'failed');
      assert.equal(result?.error?.code, 'SB_ERR_JOB_INVALID_INPUT');
      assert.equal(result?.error?.retryable, false);
      assert.equal(result?.attempt, 1);
      const copy = await until(() => dead.got.find((m) => m.headers['Sb-Job-Id'] === accepted.id), 5000, 'dead letter');
      assert.equal(copy.headers['Sb-Dlq-Reason'], 'poison');
      assert.deepEqual(await linesOf(accepted.id), []);
    } finally {
      await dead.close();
    }
  });

  it('a message published on a job subject by hand that is not a job is dead-lettered "malformed", never run', async () => {
    await start([{ type: 'noop' }]);
    const dead = await tap(topicSubject('jobs.dead'));
    try {
      const js = jetstream(dead.nc);
      const deadline = new Date(Date.now() + 60_000).toISOString();
      // Not JSON; an id that could not be a job id (it would end up in a header value); another type's envelope.
      const bodies = [
        'not json',
        JSON.stringify({ id: 'x\r\nSb-Evil: 1', type: t('noop'), input: {}, deadline }),
        JSON.stringify({ id: 'A'.repeat(22), type: t('sleep'), input: {}, deadline }),
      ];
      for (const b of bodies) await js.publish(`sb.job.${t('noop')}`, b);
      const copies = await until(() => {
        const mine = dead.got.filter((m) => bodies.includes(m.data));
        return mine.length === bodies.length ? mine : undefined;
      }, 5000, 'three dead letters');
      for (const c of copies) {
        assert.equal(c.headers['Sb-Dlq-Reason'], 'malformed');
        assert.equal(c.headers['Sb-Job-Type'], t('noop'));
        assert.equal(c.headers['Sb-Evil'], undefined);
      }
      // And the worker keeps serving.
      const { result } = await jobs().submitAndWait({ type: t('noop'), input: { after: true }, principal: 'p' }, 5000);
      assert.deepEqual(result?.output, { after: true });
    } finally {
      await dead.close();
    }
  });

  it('a non-retryable JobFailure fails the job with its own code, without a dead letter', async () => {
    await start([{ type: 'fatal' }]);
    const dead = await tap(topicSubject('jobs.dead'));
    try {
      const { accepted, result } = await jobs().submitAndWait({ type: t('fatal'), input: { code: 'MY_NOPE' }, principal: 'p' }, 5000);
      assert.equal(result?.status, 'failed');
      assert.deepEqual(result?.error, { code: 'MY_NOPE', message: 'not retryable', retryable: false });
      // A result event surely went out after the record; a dead letter would have gone out with it.
      const events = await jobs().get(accepted.id);
      assert.equal(events?.status, 'failed');
      assert.equal(dead.got.filter((m) => m.headers['Sb-Job-Id'] === accepted.id).length, 0);
    } finally {
      await dead.close();
    }
  });

  it('a running job is stopped at its deadline (timed_out, the handler saw the abort)', async () => {
    await start([{ type: 'sleep' }]);
    const { accepted, result } = await jobs().submitAndWait({ type: t('sleep'), input: { ms: 10_000, log: effects.log }, principal: 'p', timeoutMs: 400 }, 5000);
    assert.equal(result?.status, 'timed_out');
    assert.equal(result?.error?.code, 'SB_ERR_JOB_TIMED_OUT');
    const lines = await until(async () => ((await linesOf(accepted.id)).length === 2 ? linesOf(accepted.id) : undefined), 3000, 'aborted line');
    assert.deepEqual(lines.map((l) => [l[0], l[4]]), [['start', ''], ['aborted', 'deadline']]);
  });

  it('a job picked up after its deadline ends timed_out without running', async () => {
    // The type is declared (earlier tests) but no worker runs now.
    const accepted = await jobs().submit({ type: t('sleep'), input: { ms: 1, log: effects.log }, principal: 'p', timeoutMs: 150 });
    const deadline = Date.now() + 200;
    await until(() => Date.now() > deadline, 2000, 'the deadline to pass');
    await start([{ type: 'sleep' }]);
    const r = await jobs().wait(accepted.id, 5000);
    assert.equal(r?.status, 'timed_out');
    assert.deepEqual(await linesOf(accepted.id), []);
  });

  it('cancel stops a running job: cancelled, and the handler saw the abort', async () => {
    await start([{ type: 'sleep' }]);
    const accepted = await jobs().submit({ type: t('sleep'), input: { ms: 10_000, log: effects.log }, principal: 'p' });
    await until(async () => (await linesOf(accepted.id)).length > 0, 5000, 'the job to start');
    await jobs().cancel(accepted.id, 'alice');
    const r = await jobs().wait(accepted.id, 5000);
    assert.equal(r?.status, 'cancelled');
    assert.equal(r?.error?.code, 'SB_ERR_JOB_CANCELLED');
    const lines = await until(async () => ((await linesOf(accepted.id)).length === 2 ? linesOf(accepted.id) : undefined), 3000, 'aborted line');
    assert.deepEqual(lines.map((l) => [l[0], l[4]]), [['start', ''], ['aborted', 'cancelled']]);
  });

  it('cancel of a queued job: it never runs, and the job behind it does', async () => {
    const first = await jobs().submit({ type: t('sleep'), input: { ms: 1, log: effects.log }, principal: 'p' });
    const second = await jobs().submit({ type: t('sleep'), input: { ms: 1, log: effects.log }, principal: 'p' });
    const rec = await jobs().cancel(first.id, 'alice');
    assert.equal(rec.status, 'cancelled');
    assert.match(rec.error?.message ?? '', /alice/);
    await start([{ type: 'sleep' }]);
    assert.equal((await jobs().wait(second.id, 5000))?.status, 'succeeded');
    assert.equal((await jobs().get(first.id))?.status, 'cancelled');
    assert.deepEqual(await linesOf(first.id), []);
    // Cancelling a final job changes nothing.
    assert.equal((await jobs().cancel(second.id, 'alice')).status, 'succeeded');
  });

  it('cancel of a queued sync job: the waiting caller gets cancelled, and the record keeps its submitter', async () => {
    const key = `k-${Math.random().toString(36).slice(2)}`;
    const id = idempotentJobId('carol', t('sleep'), key);
    const waiting = jobs().submitAndWait({ type: t('sleep'), input: { ms: 1, log: effects.log }, principal: 'carol', idempotencyKey: key }, 5000);
    // No worker runs: the job stays queued, and a sync submit writes no record while it waits.
    await until(async () => (await jobs().cancel(id, 'carol').catch(() => undefined))?.status === 'cancelled', 5000, 'the cancel to find the waiting job');
    const { result } = await waiting;
    assert.equal(result?.status, 'cancelled');
    const rec = await jobs().get(id);
    assert.deepEqual([rec?.status, rec?.principal], ['cancelled', 'carol']);
    await start([{ type: 'sleep' }]);
    assert.deepEqual(await linesOf(id), []);
  });

  it('the registry lists live workers with in-flight counts; a stopped worker leaves it', async () => {
    const w = await start([{ type: 'sleep', concurrency: 4 }], { heartbeatMs: 200 });
    const ids = await Promise.all(Array.from({ length: 3 }, () => jobs().submit({ type: t('sleep'), input: { ms: 1500 }, principal: 'p' })));
    const seen = await until(async () => {
      const me = (await jobs().workers()).find((x) => x.id === w.id);
      return me?.types[0]?.inFlight === 3 ? me : undefined;
    }, 5000, 'registry shows 3 in flight');
    assert.equal(seen.state, 'running');
    assert.equal(seen.types[0]?.type, t('sleep'));
    assert.equal(seen.types[0]?.concurrency, 4);
    await Promise.all(ids.map((a) => jobs().wait(a.id, 5000)));
    const after: JobRecord[] = [];
    for (const a of ids) after.push((await jobs().get(a.id)) as JobRecord);
    assert.ok(after.every((r) => r.status === 'succeeded' && r.worker === w.id));
    await w.stop({ drainMs: 1000 });
    assert.equal((await jobs().workers()).some((x) => x.id === w.id), false);
  });
});
