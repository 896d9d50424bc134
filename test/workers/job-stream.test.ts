/**
 * Streaming job results (docs/jobs.md, "Streaming results"), in process against the shared NATS:
 * order and completeness, backpressure from the reader to the handler, cancel on an early break, a
 * failure mid-stream, and a redelivered streaming job that is failed instead of re-run.
 */
import assert from 'node:assert/strict';
import { connect, headers as natsHeaders, nuid } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { JOB_HEADERS, isSbError, jobConsumerName, jobSubject } from '../../broker/index.js';
import type { JobEnvelope, JobResult } from '../../schemas/job.js';
import type { Worker } from '../../workers/index.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { sharedBrokerSuite, until } from '../broker/helpers.js';
import { FIXTURE_TYPES, dropJobTypes, jobPrefix, startWorker, tempLog } from './helpers.js';

describe('jobs: streaming results', function () {
  this.timeout(30_000);
  const suite = sharedBrokerSuite('jstream');
  const prefix = jobPrefix();
  const rows = `${prefix}.rows`;
  let effects: Awaited<ReturnType<typeof tempLog>>;
  const workers: Worker[] = [];
  const start = async (): Promise<Worker> => {
    const w = await startWorker(suite.tb.broker, prefix, [{ type: 'rows', concurrency: 4 }]);
    workers.push(w);
    return w;
  };
  const jobs = () => suite.tb.broker.jobs;
  const linesOf = async (id: string) => (await effects.lines()).filter((l) => l[1] === id);
  const chunksLogged = async (id: string) => (await linesOf(id)).filter((l) => l[0] === 'chunk').length;

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

  it('streams 100k items in order and complete, then the final record', async () => {
    await start();
    const reader = jobs().stream({ type: rows, input: { n: 100_000, chunk: 500 }, principal: 'alice' }, { windowChunks: 8 });
    let next = 0;
    let chunks = 0;
    for await (const chunk of reader) {
      chunks++;
      for (const item of chunk) assert.equal((item as { i: number }).i, next++);
    }
    assert.equal(next, 100_000);
    assert.equal(chunks, 200);
    const rec = await reader.result;
    assert.equal(rec.status, 'succeeded');
    assert.deepEqual(rec.output, { count: 100_000 });
    assert.equal((await reader.accepted).id, rec.id);
  });

  it('a reader that stops pulling stops the handler at the window; credit resumes it', async () => {
    await start();
    const window = 4;
    const reader = jobs().stream({ type: rows, input: { n: 40, chunk: 1, log: effects.log }, principal: 'alice' }, { windowChunks: window });
    const { id } = await reader.accepted;
    const it = reader[Symbol.asyncIterator]();
    // Read two chunks: with a window of 4 the reader credits every 2, so the worker may send through 6.
    assert.deepEqual((await it.next()).value, [{ i: 0 }]);
    assert.deepEqual((await it.next()).value, [{ i: 1 }]);
    await until(async () => (await chunksLogged(id)) >= 2 + window, 5000, 'the worker to fill the window');
    // Nothing announces "still blocked": give it time to run ahead if it would.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await chunksLogged(id), 2 + window, 'the handler ran ahead of the credit window');
    assert.equal((await jobs().get(id))?.status, 'running');
    // Pulling again grants credit: the handler resumes and finishes.
    let next = 2;
    for (let r = await it.next(); !r.done; r = await it.next()) for (const item of r.value as Array<{ i: number }>) assert.equal(item.i, next++);
    assert.equal(next, 40);
    assert.equal((await reader.result).status, 'succeeded');
    assert.equal(await chunksLogged(id), 40);
  });

  it('leaving the loop early cancels the job; the handler sees the abort', async () => {
    await start();
    const reader = jobs().stream({ type: rows, input: { n: 1000, chunk: 1, log: effects.log }, principal: 'alice' }, { windowChunks: 2 });
    let seen = 0;
    for await (const _chunk of reader) {
      if (++seen === 3) break;
    }
    const { id } = await reader.accepted;
    const rec = await until(async () => {
      const r = await jobs().get(id);
      return r?.status === 'cancelled' ? r : undefined;
    }, 5000, 'the cancelled record');
    assert.equal(rec.error?.code, 'SB_ERR_JOB_CANCELLED');
    const aborted = await until(async () => (await linesOf(id)).find((l) => l[0] === 'aborted'), 5000, 'the handler to see the abort');
    assert.deepEqual(aborted.slice(4), ['cancelled', 'SB_ERR_STREAM_BROKEN']);
    await assert.rejects(reader.result, (e: unknown) => isSbError(e, 'SB_ERR_JOB_CANCELLED'));
    assert.ok((await chunksLogged(id)) < 10, 'the handler stopped near the break');
  });

  it('a handler failing mid-stream rejects the reader with its code, after the chunks it sent', async () => {
    await start();
    const reader = jobs().stream({ type: rows, input: { n: 100, chunk: 10, failAt: 30, failCode: 'SB_ERR_SQL_FAILED' }, principal: 'alice' });
    const got: unknown[] = [];
    await assert.rejects(async () => {
      for await (const chunk of reader) got.push(...chunk);
    }, (e: unknown) => isSbError(e, 'SB_ERR_SQL_FAILED') && e.status === 502 && (e.data?.['job'] as JobResult).status === 'failed');
    assert.equal(got.length, 30);
    await assert.rejects(reader.result, (e: unknown) => isSbError(e, 'SB_ERR_SQL_FAILED'));
  });

  it('a retryable failure of a streaming job is not retried', async () => {
    await start();
    const reader = jobs().stream({ type: rows, input: { n: 50, chunk: 10, failAt: 20, log: effects.log }, principal: 'alice' });
    await assert.rejects(async () => {
      for await (const _chunk of reader) { /* drain */ }
    }, (e: unknown) => isSbError(e, 'SB_ERR_JOB_FAILED'));
    const { id } = await reader.accepted;
    const rec = await jobs().get(id);
    assert.equal(rec?.status, 'failed');
    assert.equal(rec?.attempt, 1);
    assert.equal((await linesOf(id)).filter((l) => l[0] === 'start').length, 1);
  });

  it('without a stream reader the same handler returns everything in its output', async () => {
    await start();
    const { result } = await jobs().submitAndWait({ type: rows, input: { n: 25, chunk: 10 }, principal: 'alice' }, 5000);
    assert.equal(result?.status, 'succeeded');
    assert.equal((result?.output as { items: unknown[] }).items.length, 25);
  });

  it('a worker that sends nothing for idleTimeoutMs breaks the stream and the job is cancelled', async () => {
    await startWorker(suite.tb.broker, prefix, [{ type: 'sleep' }]).then((w) => workers.push(w));
    // The sleep fixture never writes to ctx.stream: the reader hears nothing.
    const reader = jobs().stream({ type: `${prefix}.sleep`, input: { ms: 20_000, log: effects.log }, principal: 'alice' }, { idleTimeoutMs: 300 });
    await assert.rejects(async () => {
      for await (const _chunk of reader) { /* nothing comes */ }
    }, (e: unknown) => isSbError(e, 'SB_ERR_STREAM_BROKEN'));
    const { id } = await reader.accepted;
    const rec = await until(() => jobs().get(id).then((r) => (r?.status === 'cancelled' ? r : undefined)), 5000, 'the cancelled record');
    assert.equal(rec.error?.code, 'SB_ERR_JOB_CANCELLED');
  });

  it('a gap in the chunk numbers (a lost chunk) breaks the stream and cancels the job', async () => {
    await start();
    // Core subscribers of the job subject see the job message too: it names the reader's stream subject.
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      let streamTo: string | undefined;
      nc.subscribe(jobSubject(rows), { callback: (_e, m) => { streamTo = m.headers?.get(JOB_HEADERS.streamTo); } });
      await nc.flush();
      const reader = jobs().stream({ type: rows, input: { n: 1000, chunk: 1, log: effects.log }, principal: 'alice' }, { windowChunks: 2 });
      const it = reader[Symbol.asyncIterator]();
      assert.deepEqual((await it.next()).value, [{ i: 0 }]);
      const to = await until(() => streamTo, 5000, 'the job message');
      const h = natsHeaders();
      h.set(JOB_HEADERS.streamSeq, '999');
      nc.publish(to, JSON.stringify([{ i: -1 }]), { headers: h });
      await assert.rejects(async () => {
        for (let r = await it.next(); !r.done; r = await it.next()) assert.notDeepEqual(r.value, [{ i: -1 }]);
      }, (e: unknown) => isSbError(e, 'SB_ERR_STREAM_BROKEN') && /lost/.test(e.message));
      const { id } = await reader.accepted;
      await until(() => jobs().get(id).then((r) => r?.status === 'cancelled'), 5000, 'the cancelled record');
    } finally {
      await nc.close();
    }
  });

  it('a redelivered streaming job is failed SB_ERR_STREAM_BROKEN and not run again', async () => {
    // Declare the type (a worker that starts and stops), then take the first delivery by hand and nak
    // it, so the next worker gets delivery 2, as after a worker crash mid-stream.
    await (await startWorker(suite.tb.broker, prefix, [{ type: 'rows' }])).stop({ drainMs: 0 });
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      const inbox = `_INBOX.${nuid.next()}`;
      const ends: Array<{ seq: string; end: string; rec: JobResult }> = [];
      nc.subscribe(inbox, {
        callback: (_e, m) => {
          ends.push({ seq: m.headers?.get(JOB_HEADERS.streamSeq) ?? '', end: m.headers?.get(JOB_HEADERS.streamEnd) ?? '', rec: m.json<JobResult>() });
        },
      });
      await nc.flush();
      const now = Date.now();
      const env: JobEnvelope = {
        id: nuid.next(), type: rows, input: { n: 10, chunk: 1, log: effects.log }, principal: 'alice',
        deadline: new Date(now + 60_000).toISOString(), attempt: 1, submittedAt: new Date(now).toISOString(),
      };
      const h = natsHeaders();
      h.set('Nats-Msg-Id', env.id);
      h.set(JOB_HEADERS.streamTo, inbox);
      h.set(JOB_HEADERS.streamWindow, '4');
      const js = jetstream(nc);
      await js.publish(jobSubject(rows), JSON.stringify(env), { headers: h });
      const consumer = await js.consumers.get('SB_JOBS', jobConsumerName(rows));
      const first = await consumer.next({ expires: 5000 });
      assert.ok(first, 'the first delivery');
      first.nak();
      await start();
      const rec = await until(() => jobs().get(env.id).then((r) => (r && r.status !== 'queued' && r.status !== 'running' ? r : undefined)), 10_000, 'the final record');
      assert.equal(rec.status, 'failed');
      assert.equal(rec.error?.code, 'SB_ERR_STREAM_BROKEN');
      assert.equal((await linesOf(env.id)).length, 0, 'the handler ran');
      const end = await until(() => ends[0], 5000, 'the end message');
      assert.equal(end.seq, '1');
      assert.equal(end.end, '1');
      assert.equal(end.rec.error?.code, 'SB_ERR_STREAM_BROKEN');
    } finally {
      await nc.close();
    }
  });
});
