/**
 * Streamed job results over REST (NDJSON): item lines and the `$result` line, `"stream": true` in the
 * body, errors before and after the first byte, the job ACL, and a client that disconnects mid-stream
 * (its job is cancelled). A real worker runtime runs the `rows` fixture of test-handlers.ts.
 */
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import type { Worker } from '../../workers/index.js';
import { until } from '../support/poll.js';
import { dropJobTypes, jobPrefix, startWorker, tempLog } from '../workers/helpers.js';
import { basic, dropBucket, http, startRestStack, testBucket, type RestStack } from './rest-harness.js';

const bucket = testBucket('reststream');

/** POSTs and reads the whole answer as text. */
async function post(stack: RestStack, path: string, body: unknown, auth = stack.admin): Promise<{ status: number; type: string; text: string; headers: Headers }> {
  const res = await fetch(`${stack.base}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text(), headers: res.headers };
}

function lines(text: string): unknown[] {
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as unknown);
}

describe('REST gateway: streamed jobs (NDJSON)', function () {
  this.timeout(30_000);
  let a: RestStack;
  let worker: Worker;
  let effects: Awaited<ReturnType<typeof tempLog>>;
  const prefix = jobPrefix();
  const rows = `${prefix}.rows`;

  before(async function () {
    effects = await tempLog();
    a = await startRestStack({ bucket });
    worker = await startWorker(a.broker, prefix, [{ type: 'rows', concurrency: 4 }]);
  });
  after(async function () {
    await worker?.stop({ drainMs: 0 });
    await a?.dispose();
    await dropBucket(bucket);
    await dropJobTypes(prefix, ['rows']);
    await effects?.remove();
  });

  it('?mode=stream: 200 application/x-ndjson, one line per item, then {"$result": record}', async function () {
    const r = await post(a, `/v1/jobs/${rows}?mode=stream`, { n: 1000, chunk: 64 });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.match(r.type, /^application\/x-ndjson/);
    const got = lines(r.text);
    assert.equal(got.length, 1001);
    got.slice(0, 1000).forEach((item, i) => assert.deepEqual(item, { i }));
    const last = got[1000] as { $result: { status: string; output: unknown; id: string } };
    assert.equal(last.$result.status, 'succeeded');
    assert.deepEqual(last.$result.output, { count: 1000 });
    assert.equal(r.headers.get('location'), `/v1/jobs/${last.$result.id}`);
  });

  it('"stream": true in the body streams as well (the input keeps the field)', async function () {
    const r = await post(a, `/v1/jobs/${rows}`, { n: 5, chunk: 2, stream: true });
    assert.equal(r.status, 200);
    assert.match(r.type, /^application\/x-ndjson/);
    assert.deepEqual(lines(r.text).slice(0, 5), [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }]);
    // Without it, the same call is an ordinary sync job with everything in the output.
    const plain = await http(a, 'POST', `/v1/jobs/${rows}`, { n: 5, chunk: 2 });
    assert.equal(plain.status, 200);
    assert.equal(plain.body.output.items.length, 5);
  });

  it('a failure before the first item is an ordinary JSON error answer', async function () {
    const r = await post(a, `/v1/jobs/${rows}?mode=stream`, { n: 100, chunk: 10, failAt: 0, failCode: 'SB_ERR_SQL_FAILED' });
    assert.equal(r.status, 502);
    assert.match(r.type, /^application\/json/);
    const body = JSON.parse(r.text) as { error: { code: string; data: { id: string } } };
    assert.equal(body.error.code, 'SB_ERR_SQL_FAILED');
    assert.equal(r.headers.get('location'), `/v1/jobs/${body.error.data.id}`);
  });

  it('a failure after streaming began ends the body with a {"$error"} line', async function () {
    const r = await post(a, `/v1/jobs/${rows}?mode=stream`, { n: 100, chunk: 10, failAt: 30, failCode: 'SB_ERR_SQL_FAILED' });
    assert.equal(r.status, 200);
    const got = lines(r.text);
    assert.equal(got.length, 31);
    assert.deepEqual(got[29], { i: 29 });
    const last = got[30] as { $error: { code: string; message: string } };
    assert.equal(last.$error.code, 'SB_ERR_SQL_FAILED');
    assert.match(last.$error.message, /planned failure/);
  });

  it('keeps the job ACL: a user without run on the type gets 403', async function () {
    const user = `u${prefix}`;
    await http(a, 'POST', '/v1/users', { name: user, password: 'user-password-123', roles: [] });
    try {
      const r = await post(a, `/v1/jobs/${rows}?mode=stream`, { n: 3, chunk: 1 }, basic(user, 'user-password-123'));
      assert.equal(r.status, 403, r.text);
      assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'SB_ERR_FORBIDDEN');
    } finally {
      await http(a, 'DELETE', `/v1/users/${user}`);
    }
  });

  it('a client that stops reading stalls the worker; disconnecting cancels the job', async function () {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const body = JSON.stringify({ n: 2_000_000, chunk: 100, log: effects.log });
      const req = request(`${a.base}/v1/jobs/${rows}?mode=stream`, {
        method: 'POST', headers: { authorization: a.admin, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, resolve);
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.statusCode, 200);
    const id = (res.headers['location'] ?? '').split('/').pop() ?? '';
    // Read a little, then stop reading: the socket fills up and the credit stops.
    await new Promise<void>((resolve) => res.once('data', () => resolve()));
    res.pause();
    const chunks = async () => (await effects.lines()).filter((l) => l[1] === id && l[0] === 'chunk').length;
    let before = -1;
    await until(async () => {
      const now = await chunks();
      const still = now === before;
      before = now;
      await new Promise((r) => setTimeout(r, 200));
      return still;
    }, 10_000, 'the worker to stall');
    assert.ok(before < 20_000, `the worker sent all ${before} chunks`);
    assert.equal((await http(a, 'GET', `/v1/jobs/${id}`)).body.status, 'running');
    res.destroy();
    const final = await until(async () => {
      const r = await http(a, 'GET', `/v1/jobs/${id}`);
      return r.body.status === 'cancelled' ? r.body : undefined;
    }, 5000, 'the cancelled record');
    assert.equal(final.error.code, 'SB_ERR_JOB_CANCELLED');
    await until(async () => (await effects.lines()).some((l) => l[1] === id && l[0] === 'aborted'), 5000, 'the handler to see the abort');
  });
});
