/**
 * Jobs over REST: sync and async submits, long-poll reads, cancellation, the job ACL, idempotency,
 * job channels served by a second gateway, and the OpenAPI document. A real worker runtime runs the
 * handlers of test/fixtures/handlers/rest-handlers.ts on its own broker connection.
 */
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createBroker, idempotentJobId, jobConsumerName } from '../../broker/index.js';
import { createLogger } from '../../broker/log.js';
import { createMetrics } from '../../broker/metrics.js';
import type { ProcessConfig } from '../../schemas/config.js';
import { canPerform } from '../../security/acl.js';
import type { Principal } from '../../security/types.js';
import { createWorker } from '../../workers/runtime.js';
import type { JobHandler } from '../../workers/types.js';
import { restHandlers } from '../fixtures/handlers/rest-handlers.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { basic, dropBucket, http, rand, startRestStack, testBucket, waitUntil, type RestStack } from './rest-harness.js';

const bucket = testBucket('restjobs');

/** The shared jobs stream outlives this file: remove the durable consumers its job types created. */
async function dropJobConsumers(stream: string, types: string[]): Promise<void> {
  const nc = await connect({ servers: SHARED_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for (const t of types) await jsm.consumers.delete(stream, jobConsumerName(t)).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

interface TestWorker {
  id: string;
  stop(): Promise<void>;
}

/** A worker runtime on its own broker connection (as a worker process would have), sharing the stack's config bucket. */
async function startTestWorker(config: ProcessConfig, handlers: JobHandler[]): Promise<TestWorker> {
  const logger = createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent' });
  const broker = await createBroker({ config, logger, metrics: createMetrics({ defaultMetrics: false }) });
  try {
    const types = handlers.map((h) => ({ type: h.type, concurrency: 8, ackWaitMs: 30_000, maxAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 1000 }));
    const w = await createWorker({ broker, logger, handlers, config: { types, handlers: [], drainMs: 1000, heartbeatMs: 1000 } });
    return {
      id: w.id,
      async stop() {
        await w.stop();
        await broker.close({ deadlineMs: 2000 });
      },
    };
  } catch (e) {
    await broker.close({ deadlineMs: 1000 });
    throw e;
  }
}

describe('REST gateway: jobs', function () {
  this.timeout(20_000);
  let a: RestStack;
  let b: RestStack;
  let worker: TestWorker;
  const prefix = `rj${rand()}`;
  const echo = `${prefix}.echo`;
  const sleep = `${prefix}.sleep`;
  const fail = `${prefix}.fail`;

  before(async function () {
    a = await startRestStack({ bucket });
    b = await startRestStack({ bucket });
    worker = await startTestWorker(a.config, restHandlers(prefix));
  });
  after(async function () {
    await worker?.stop();
    await a?.dispose();
    await b?.dispose();
    await dropBucket(bucket);
    await dropJobConsumers(a.config.jobs.stream, [echo, sleep, fail]);
  });

  it('sync: 200 with the final record and the output', async function () {
    const r = await http(a, 'POST', `/v1/jobs/${echo}`, { x: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'succeeded');
    assert.equal(r.body.type, echo);
    assert.deepEqual(r.body.output, { input: { x: 1 }, principal: 'admin' });
    assert.equal(r.body.worker, worker.id);
    assert.equal(typeof r.body.durationMs, 'number');
    assert.match(r.body.id, /^[0-9A-Za-z]{16,64}$/);
  });

  it('async: 202 with Location, then GET long-polls to the final state', async function () {
    const r = await http(a, 'POST', `/v1/jobs/${sleep}?mode=async`, { ms: 200 });
    assert.equal(r.status, 202);
    assert.deepEqual(Object.keys(r.body).sort(), ['duplicate', 'id', 'status']);
    assert.equal(r.body.status, 'queued');
    assert.equal(r.body.duplicate, false);
    const location = r.headers.get('location');
    assert.equal(location, `/v1/jobs/${r.body.id}`);
    const first = await http(b, 'GET', location as string);
    assert.equal(first.status, 200);
    assert.ok(['queued', 'running', 'succeeded'].includes(first.body.status), first.body.status);
    const final = await http(b, 'GET', `${location}?waitMs=5000`);
    assert.equal(final.body.status, 'succeeded');
    assert.deepEqual(final.body.output, { slept: 200 });
  });

  it('sync past timeoutMs: 504 SB_ERR_JOB_PENDING with the id; the job still finishes', async function () {
    const r = await http(a, 'POST', `/v1/jobs/${sleep}?timeoutMs=100`, { ms: 700 });
    assert.equal(r.status, 504);
    assert.equal(r.body.error.code, 'SB_ERR_JOB_PENDING');
    const id = r.body.error.data.id as string;
    assert.equal(r.headers.get('location'), `/v1/jobs/${id}`);
    const later = await http(a, 'GET', `/v1/jobs/${id}?waitMs=5000`);
    assert.equal(later.body.status, 'succeeded');
    assert.deepEqual(later.body.output, { slept: 700 });
  });

  it('DELETE cancels a running job', async function () {
    const { body } = await http(a, 'POST', `/v1/jobs/${sleep}?mode=async`, { ms: 30_000 });
    await until(async () => (await http(a, 'GET', `/v1/jobs/${body.id}`)).body.status === 'running', 5000, 'the job to run');
    const del = await http(b, 'DELETE', `/v1/jobs/${body.id}`);
    assert.equal(del.status, 202);
    assert.equal(del.body.id, body.id);
    const final = await http(a, 'GET', `/v1/jobs/${body.id}?waitMs=5000`);
    assert.equal(final.body.status, 'cancelled');
    assert.ok(final.body.durationMs < 10_000);
    assert.equal((await http(a, 'DELETE', `/v1/jobs/0000000000000000${rand()}`)).body.error.code, 'SB_ERR_JOB_NOT_FOUND');
  });

  it('maps failed jobs to error answers with the record in error.data', async function () {
    const own = await http(a, 'POST', `/v1/jobs/${fail}`, {});
    assert.equal(own.status, 502);
    assert.equal(own.body.error.code, 'SB_ERR_JOB_FAILED');
    assert.equal(own.body.error.data.job.status, 'failed');
    assert.equal(own.body.error.data.job.error.code, 'HANDLER_OWN_CODE');
    assert.equal(own.headers.get('location'), `/v1/jobs/${own.body.error.data.id}`);
    const invalid = await http(a, 'POST', `/v1/jobs/${fail}`, { code: 'SB_ERR_JOB_INVALID_INPUT', message: 'no such host' });
    assert.deepEqual([invalid.status, invalid.body.error.code, invalid.body.error.message], [422, 'SB_ERR_JOB_INVALID_INPUT', 'no such host']);
    const schema = await http(a, 'POST', `/v1/jobs/${sleep}`, { ms: 'soon' });
    assert.deepEqual([schema.status, schema.body.error.code], [422, 'SB_ERR_JOB_INVALID_INPUT']);
  });

  it('a deadline (jobTimeoutMs) answers 504 SB_ERR_JOB_TIMED_OUT; a cancel during a sync wait answers 409', async function () {
    const late = await http(a, 'POST', `/v1/jobs/${sleep}?jobTimeoutMs=300`, { ms: 10_000 });
    assert.deepEqual([late.status, late.body.error.code, late.body.error.data.job.status], [504, 'SB_ERR_JOB_TIMED_OUT', 'timed_out']);
    const key = `cancel-${rand()}`;
    const waiting = fetch(`${a.base}/v1/jobs/${sleep}`, {
      method: 'POST', headers: { authorization: a.admin, 'content-type': 'application/json', 'idempotency-key': key }, body: '{"ms": 10000}',
    });
    // An idempotent submit's id is known in advance: cancel it from the other gateway once it runs.
    const id = idempotentJobId('admin', sleep, key);
    await until(async () => (await http(a, 'GET', `/v1/jobs/${id}`)).body.status === 'running', 5000, 'the sync job to run');
    assert.equal((await http(b, 'DELETE', `/v1/jobs/${id}`)).status, 202);
    const res = await waiting;
    const err = (await res.json()) as { error: { code: string; data: { id: string; job: { status: string } } } };
    assert.deepEqual([res.status, err.error.code, err.error.data.id, err.error.data.job.status], [409, 'SB_ERR_JOB_CANCELLED', id, 'cancelled']);
  });

  it('404 for a type no worker declared; 400 for a malformed type or bad JSON', async function () {
    const r = await http(a, 'POST', `/v1/jobs/${prefix}.nobody`, {});
    assert.deepEqual([r.status, r.body.error.code], [404, 'SB_ERR_JOB_TYPE_NOT_FOUND']);
    assert.equal((await http(a, 'POST', '/v1/jobs/bad..type', {})).status, 400);
    const bad = await fetch(`${a.base}/v1/jobs/${echo}`, { method: 'POST', headers: { authorization: a.admin, 'content-type': 'application/json' }, body: '{nope' });
    assert.deepEqual([bad.status, ((await bad.json()) as { error: { code: string } }).error.code], [400, 'SB_ERR_INVALID_JSON']);
  });

  it('job ACL: 403 without a matching pattern, 200 with one; others see 404 for jobs not theirs', async function () {
    const name = `bob${rand()}`;
    await http(a, 'POST', '/v1/users', { name, password: 'bob-password', acl: { publish: ['>'] } });
    const bob = basic(name, 'bob-password');
    const denied = await http(a, 'POST', `/v1/jobs/${echo}`, { x: 1 }, bob);
    assert.deepEqual([denied.status, denied.body.error.code], [403, 'SB_ERR_FORBIDDEN']);
    // Also before the type check: a denied caller cannot probe which types exist.
    assert.equal((await http(a, 'POST', `/v1/jobs/${prefix}.nobody`, {}, bob)).status, 403);
    const patched = await http(a, 'PATCH', `/v1/users/${name}`, { acl: { jobs: [`${prefix}.*`] } });
    assert.deepEqual(patched.body.acl, { publish: ['>'], subscribe: [], jobs: [`${prefix}.*`] });
    let ok: Awaited<ReturnType<typeof http>> | undefined;
    await waitUntil(async () => (ok = await http(b, 'POST', `/v1/jobs/${echo}`, { x: 2 }, bob)).status !== 403);
    assert.equal(ok?.status, 200);
    assert.equal(ok?.body.output.principal, name);
    assert.equal((await http(a, 'GET', `/v1/jobs/${ok?.body.id}`, undefined, bob)).status, 200, 'the submitter sees it');
    const admins = await http(a, 'POST', `/v1/jobs/${echo}?mode=async`, {});
    const hidden = await http(a, 'GET', `/v1/jobs/${admins.body.id}`, undefined, bob);
    assert.deepEqual([hidden.status, hidden.body.error.code], [404, 'SB_ERR_JOB_NOT_FOUND']);
    assert.equal((await http(a, 'DELETE', `/v1/jobs/${admins.body.id}`, undefined, bob)).status, 404);
    assert.equal((await http(a, 'GET', '/v1/workers', undefined, bob)).status, 403);
    const badPattern = await http(a, 'PATCH', `/v1/users/${name}`, { acl: { jobs: ['a..b'] } });
    assert.deepEqual([badPattern.status, badPattern.body.error.code], [400, 'SB_ERR_VALIDATION']);
    await http(a, 'DELETE', `/v1/users/${name}`);
  });

  it('job patterns match like topic patterns; admins run anything; a wildcard type is never granted', function () {
    const p = (jobs: string[], roles: string[] = []): Principal => ({ name: 'carol', roles, acl: { publish: [], subscribe: [], jobs }, via: 'basic' });
    const cases: Array<[string[], string, boolean]> = [
      [['winrm.exec'], 'winrm.exec', true], [['winrm.*'], 'winrm.exec', true], [['winrm.*'], 'winrm.exec.x', false],
      [['reports.>'], 'reports.daily.eu', true], [['>'], 'noop', true], [[], 'noop', false], [['winrm.exec'], 'winrm.*', false],
    ];
    for (const [jobs, type, want] of cases) assert.equal(canPerform(p(jobs), 'run', type), want, `${jobs.join(',')} run ${type}`);
    assert.equal(canPerform(p([], ['admin']), 'run', 'anything'), true);
  });

  it('the worker registry is visible to admins', async function () {
    const r = await http(a, 'GET', '/v1/workers');
    assert.equal(r.status, 200);
    const me = (r.body.workers as Array<{ id: string; types: Array<{ type: string }> }>).find((w) => w.id === worker.id);
    assert.ok(me, 'our worker is listed');
    assert.deepEqual(me.types.map((t) => t.type).sort(), [echo, fail, sleep].sort());
  });

  it('Idempotency-Key: the same key gives the same job id', async function () {
    const key = `k-${rand()}`;
    const post = (mode: string) => fetch(`${a.base}/v1/jobs/${echo}?mode=${mode}`, {
      method: 'POST', headers: { authorization: a.admin, 'content-type': 'application/json', 'idempotency-key': key }, body: '{"n":1}',
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as { id: string; duplicate?: boolean } }));
    const first = await post('async');
    const second = await post('async');
    assert.equal(first.body.id, second.body.id);
    assert.deepEqual([first.body.duplicate, second.body.duplicate], [false, true]);
    const sync = await post('sync');
    assert.deepEqual([sync.status, sync.body.id], [200, first.body.id]);
  });

  it('a job channel created on A answers on B with the output, default input fields applied', async function () {
    const name = `win_${rand()}`;
    const path = `/windows-${rand()}`;
    const created = await http(a, 'POST', '/v1/channels', { name, path, job: { type: echo, input: { host: 'dc1', type: 'cmd' } } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body, { name, path, job: { type: echo, input: { host: 'dc1', type: 'cmd' }, mode: 'sync', timeoutMs: 30_000 }, methods: ['POST'], enabled: true });
    // As `curl -d` sends it: form-urlencoded content type, JSON text.
    const call = () => fetch(`${b.base}${path}`, {
      method: 'POST', headers: { authorization: b.admin, 'content-type': 'application/x-www-form-urlencoded' }, body: '{"type":"ps","data":"dir c:"}',
    });
    let res: Response | undefined;
    await waitUntil(async () => (res = await call()).status !== 404);
    assert.equal(res?.status, 200);
    assert.deepEqual(await res?.json(), { input: { host: 'dc1', type: 'ps', data: 'dir c:' }, principal: 'admin' });
    assert.equal((await http(b, 'DELETE', `/v1/channels/${name}`)).status, 204);
    await waitUntil(async () => (await call()).status === 404);
  });

  it('async job channels answer 202; a failing job answers its error; a channel needs exactly one target', async function () {
    const name = `async_${rand()}`;
    const path = `/async-${rand()}`;
    assert.equal((await http(a, 'POST', '/v1/channels', { name, path, job: { type: echo, mode: 'async' } })).status, 201);
    await waitUntil(async () => (await http(a, 'POST', path, { y: 1 })).status !== 404);
    const r = await http(a, 'POST', path, { y: 2 });
    assert.equal(r.status, 202);
    const done = await http(a, 'GET', `${r.headers.get('location')}?waitMs=5000`);
    assert.deepEqual(done.body.output, { input: { y: 2 }, principal: 'admin' });
    const failName = `fail_${rand()}`;
    const failPath = `/fail-${rand()}`;
    assert.equal((await http(a, 'POST', '/v1/channels', { name: failName, path: failPath, job: { type: fail, input: { code: 'SB_ERR_FORBIDDEN' } } })).status, 201);
    await waitUntil(async () => (await http(a, 'POST', failPath, {})).status !== 404);
    const f = await http(a, 'POST', failPath, {});
    assert.deepEqual([f.status, f.body.error.code, f.body.error.data.job.status], [403, 'SB_ERR_FORBIDDEN', 'failed']);
    const both = await http(a, 'POST', '/v1/channels', { name: `both_${rand()}`, path: `/b-${rand()}`, topic: 'x.y', job: { type: echo } });
    assert.deepEqual([both.status, both.body.error.code], [400, 'SB_ERR_VALIDATION']);
    const none = await http(a, 'POST', '/v1/channels', { name: `none_${rand()}`, path: `/n-${rand()}` });
    assert.equal(none.status, 400);
    await http(a, 'DELETE', `/v1/channels/${name}`);
    await http(a, 'DELETE', `/v1/channels/${failName}`);
  });

  it('OpenAPI lists the job routes', async function () {
    const doc = (await http(a, 'GET', '/v1/openapi.json', undefined, null)).body as { paths: Record<string, Record<string, unknown>> };
    assert.ok(doc.paths['/v1/jobs/{type}']?.['post']);
    assert.ok(doc.paths['/v1/jobs/{id}']?.['get']);
    assert.ok(doc.paths['/v1/jobs/{id}']?.['delete']);
    assert.ok(doc.paths['/v1/workers']?.['get']);
  });
});
