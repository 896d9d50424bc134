/**
 * `switchboard job` (cli/jobs.ts) against a real gateway and worker runtime: sync prints the record,
 * --async the id, --stream every NDJSON line as it arrives, and errors carry the job's code.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { runJobCommand, type JobArgs } from '../../cli/jobs.js';
import type { ClientEnv } from '../../cli/env-vars.js';
import { isSbError } from '../../broker/errors.js';
import type { Worker } from '../../workers/index.js';
import { dropJobTypes, jobPrefix, startWorker } from '../workers/helpers.js';
import { dropBucket, http, startRestStack, testBucket, type RestStack } from '../gateways/rest-harness.js';

const bucket = testBucket('clijob');

describe('switchboard job', function () {
  this.timeout(30_000);
  let a: RestStack;
  let worker: Worker;
  let env: ClientEnv;
  const prefix = jobPrefix();
  const rows = `${prefix}.rows`;

  before(async function () {
    a = await startRestStack({ bucket });
    worker = await startWorker(a.broker, prefix, [{ type: 'rows' }, { type: 'noop' }, { type: 'fatal' }]);
    env = { baseUrl: a.base, authorization: a.admin };
  });
  after(async function () {
    await worker?.stop({ drainMs: 0 });
    await a?.dispose();
    await dropBucket(bucket);
    await dropJobTypes(prefix, ['rows', 'noop', 'fatal']);
  });

  async function run(args: JobArgs, stdin = ''): Promise<string[]> {
    const out: string[] = [];
    await runJobCommand(env, args, { stdin: Readable.from([Buffer.from(stdin)]), out: (l) => void out.push(l) });
    return out;
  }

  it('sync prints the final record; input from stdin with "-"', async function () {
    const [line] = await run({ type: `${prefix}.noop`, input: '-' }, '{"x": 1}');
    const rec = JSON.parse(line ?? '') as { status: string; output: unknown };
    assert.equal(rec.status, 'succeeded');
    assert.deepEqual(rec.output, { x: 1 });
  });

  it('--async prints the id; the job runs', async function () {
    const [line] = await run({ type: `${prefix}.noop`, input: '7', async: true });
    const { id } = JSON.parse(line ?? '') as { id: string };
    const rec = await http(a, 'GET', `/v1/jobs/${id}?waitMs=5000`);
    assert.equal(rec.body.status, 'succeeded');
  });

  it('--stream prints one line per item, then the $result line', async function () {
    const out = await run({ type: rows, input: '{"n": 250, "chunk": 20}', stream: true, timeoutMs: 20_000 });
    assert.equal(out.length, 251);
    out.slice(0, 250).forEach((l, i) => assert.deepEqual(JSON.parse(l), { i }));
    assert.equal((JSON.parse(out[250] ?? '') as { $result: { status: string } }).$result.status, 'succeeded');
  });

  it('--stream: a $error line mid-stream is an SbError with the job code, after the items', async function () {
    const out: string[] = [];
    await assert.rejects(
      runJobCommand(env, { type: rows, input: '{"n": 100, "chunk": 10, "failAt": 20, "failCode": "SB_ERR_SQL_FAILED"}', stream: true }, { stdin: Readable.from([]), out: (l) => void out.push(l) }),
      (e: unknown) => isSbError(e, 'SB_ERR_SQL_FAILED'),
    );
    assert.equal(out.length, 20);
  });

  it('sync: a failed job and bad input are SbErrors with stable codes', async function () {
    await assert.rejects(run({ type: `${prefix}.fatal`, input: '{"code": "SB_ERR_SQL_FAILED"}' }), (e: unknown) => isSbError(e, 'SB_ERR_SQL_FAILED'));
    await assert.rejects(run({ type: rows, input: '{nope' }), (e: unknown) => isSbError(e, 'SB_ERR_INVALID_JSON'));
    await assert.rejects(run({ type: undefined, input: undefined }), (e: unknown) => isSbError(e, 'SB_ERR_VALIDATION'));
  });
});
