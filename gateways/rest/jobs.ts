/**
 * Running a job from HTTP, shared by `POST /v1/jobs/{type}` and job channels: the ACL check, the
 * submit (sync waits, async does not), and how a job's outcome becomes an HTTP answer. The happy
 * path is one in-memory ACL check and one broker call: no config or KV read.
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ERROR_CODES, SbError, toSbError, type ErrorCode } from '../../broker/errors.js';
import type { JobClient, JobSubmit } from '../../broker/types.js';
import { JobRecord, type JobResult } from '../../schemas/job.js';
import type { Principal, Security } from '../../security/types.js';
import { principalOf } from './auth.js';
import type { ServedJob } from './channels.js';
import { MAX_KEY_LENGTH } from './publish.js';

/** One job call as a route or channel asks for it. */
export interface JobCall {
  type: string;
  input: unknown;
  mode: 'sync' | 'async';
  /** Sync only: how long to wait for the final record, ms. */
  timeoutMs: number;
  /** The job's own deadline, ms; default the broker's (jobs.defaultTimeoutMs). */
  jobTimeoutMs?: number;
  idempotencyKey?: string;
}

/** What a job call came to. */
export type JobAnswer =
  | { kind: 'accepted'; id: string; duplicate: boolean }
  | { kind: 'succeeded'; record: JobResult }
  | { kind: 'failed'; record: JobResult; error: SbError }
  | { kind: 'pending'; id: string; error: SbError };

/** The error body of job answers: the common shape plus `data` (the job id and, when final, its record). */
export const JobErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    data: Type.Optional(Type.Object({ id: Type.Optional(Type.String()), job: Type.Optional(JobRecord) })),
  }),
});

/** The URL of a job's record. */
export function jobLocation(id: string): string {
  return `/v1/jobs/${id}`;
}

/** Checks `run` on the type, submits, and (sync) waits up to `call.timeoutMs` for the final record. */
export async function runJob(jobs: JobClient, security: Security, principal: Principal, call: JobCall): Promise<JobAnswer> {
  security.assert(principal, 'run', call.type);
  const submit: JobSubmit = { type: call.type, input: call.input, principal: principal.name };
  if (call.jobTimeoutMs !== undefined) submit.timeoutMs = call.jobTimeoutMs;
  if (call.idempotencyKey !== undefined) submit.idempotencyKey = call.idempotencyKey;
  if (call.mode === 'async') {
    const accepted = await jobs.submit(submit);
    return { kind: 'accepted', id: accepted.id, duplicate: accepted.duplicate };
  }
  const { accepted, result } = await jobs.submitAndWait(submit, call.timeoutMs);
  if (!result) {
    const msg = `job ${accepted.id} has not finished after ${call.timeoutMs} ms; GET ${jobLocation(accepted.id)} for its result`;
    return { kind: 'pending', id: accepted.id, error: new SbError('SB_ERR_JOB_PENDING', msg, { data: { id: accepted.id } }) };
  }
  if (result.status === 'succeeded') return { kind: 'succeeded', record: result };
  return { kind: 'failed', record: result, error: outcomeError(result) };
}

/**
 * The error of a final, unsuccessful job: the handler's own code when it is one of ours (e.g.
 * SB_ERR_JOB_INVALID_INPUT → 422, SB_ERR_FORBIDDEN → 403), else by status: failed → SB_ERR_JOB_FAILED
 * (502), timed_out → SB_ERR_JOB_TIMED_OUT (504), cancelled → SB_ERR_JOB_CANCELLED (409).
 */
export function outcomeError(r: JobResult): SbError {
  const own = r.error?.code;
  const code: ErrorCode = own !== undefined && Object.hasOwn(ERROR_CODES, own) ? (own as ErrorCode)
    : r.status === 'timed_out' ? 'SB_ERR_JOB_TIMED_OUT'
      : r.status === 'cancelled' ? 'SB_ERR_JOB_CANCELLED' : 'SB_ERR_JOB_FAILED';
  const message = r.error?.message ?? `job ${r.id} ended ${r.status}`;
  return new SbError(code, message, { data: { id: r.id, job: r } });
}

/** Writes a job error (failed outcome or pending) with its `data`, and `Location` when the job exists. */
export function sendJobError(reply: FastifyReply, err: SbError, id: string): FastifyReply {
  reply.header('location', jobLocation(id));
  if (err.retryable) reply.header('retry-after', '1');
  return reply.code(err.status).send({ error: { code: err.code, message: err.message, data: err.data } });
}

/** The `Idempotency-Key` header, checked like a publish's (1–256 characters, one value). */
export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const v = req.headers['idempotency-key'];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_KEY_LENGTH) {
    throw new SbError('SB_ERR_VALIDATION', `Idempotency-Key must be one value of 1–${MAX_KEY_LENGTH} characters`);
  }
  return v;
}

/**
 * A job body as JSON, whatever its Content-Type says (`curl -d` sends form-urlencoded): undefined when
 * empty, else the parsed value; SB_ERR_INVALID_JSON when it does not parse.
 */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new SbError('SB_ERR_INVALID_JSON', 'a job input must be JSON');
  }
}

/** Whether `principal` may see job record `r`: its submitter or an admin. */
export function canSeeJob(security: Security, principal: Principal, r: { principal?: string }): boolean {
  return r.principal === principal.name || security.can(principal, 'manage');
}

/**
 * Serves a job channel: input = `{...job.input, ...body}`; sync answers 200 with the job's output as
 * the body (not the record: the Zato "service as an API" shape), async 202 with the id; errors as on
 * `POST /v1/jobs/{type}`.
 */
export async function serveJobChannel(jobs: JobClient, security: Security, job: ServedJob, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const body = Buffer.isBuffer(req.body) ? parseJsonBody(req.body) : undefined;
  const call: JobCall = { type: job.type, input: mergeInput(job.input, body), mode: job.mode, timeoutMs: job.timeoutMs };
  if (job.jobTimeoutMs !== undefined) call.jobTimeoutMs = job.jobTimeoutMs;
  // Already JSON text: with a JSON content type Fastify sends a string as is (a string output stays a JSON string).
  return answerJob(jobs, security, req, reply, call, (r) => reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(r.output ?? null)));
}

/**
 * Runs `call` for the request's principal, with the request's Idempotency-Key, and answers: 202 with
 * the id (async), `succeeded(record)` (sync success), or the job error with `Location`.
 */
export async function answerJob(
  jobs: JobClient, security: Security, req: FastifyRequest, reply: FastifyReply, call: JobCall, succeeded: (r: JobResult) => FastifyReply,
): Promise<FastifyReply> {
  const key = idempotencyKeyOf(req);
  if (key !== undefined) call.idempotencyKey = key;
  const a = await runJob(jobs, security, principalOf(req), call);
  switch (a.kind) {
    case 'accepted':
      return reply.code(202).header('location', jobLocation(a.id)).send({ id: a.id, status: 'queued', duplicate: a.duplicate });
    case 'succeeded':
      return succeeded(a.record);
    case 'failed':
      return sendJobError(reply, a.error, a.record.id);
    case 'pending':
      return sendJobError(reply, a.error, a.id);
  }
}

/** Whether a `POST /v1/jobs/{type}` asks for a streamed answer: `?mode=stream`, or `"stream": true` in a JSON object body. */
export function wantsStream(mode: string, body: unknown): boolean {
  if (mode === 'stream') return true;
  return typeof body === 'object' && body !== null && !Array.isArray(body) && (body as Record<string, unknown>)['stream'] === true;
}

/**
 * Runs `call` as a streaming job and answers NDJSON (docs/rest-api.md): 200 `application/x-ndjson`,
 * one line per item, then `{"$result": record}`. Until the first chunk (or the end) is in hand,
 * errors are the usual JSON error answers; after that a last line `{"$error": {code, message}}`. The
 * body is a Readable that pulls the next chunk only when the socket takes more (backpressure to the
 * worker); the client going away destroys it, which cancels the job.
 */
export async function streamJob(jobs: JobClient, security: Security, req: FastifyRequest, reply: FastifyReply, call: JobCall): Promise<FastifyReply> {
  const key = idempotencyKeyOf(req);
  const principal = principalOf(req);
  security.assert(principal, 'run', call.type);
  const submit: JobSubmit = { type: call.type, input: call.input, principal: principal.name };
  if (call.jobTimeoutMs !== undefined) submit.timeoutMs = call.jobTimeoutMs;
  if (key !== undefined) submit.idempotencyKey = key;
  const reader = jobs.stream(submit);
  let done = false;
  // The client going away at any point before the end (even before the first chunk) cancels the job.
  reply.raw.once('close', () => {
    if (!done) void reader.cancel();
  });
  const { id } = await reader.accepted;
  // NDJSON bytes as the worker sent them: the gateway forwards rows without parsing them.
  const it = reader.ndjson()[Symbol.asyncIterator]();
  // Nothing is written before the first chunk: an early failure is an ordinary error answer.
  let first: IteratorResult<Uint8Array>;
  try {
    first = await it.next();
  } catch (e) {
    done = true;
    return sendJobError(reply, toSbError(e), id);
  }
  let pending: IteratorResult<Uint8Array> | undefined = first;
  const body = new Readable({
    read() {
      const step = pending ? Promise.resolve(pending) : it.next();
      pending = undefined;
      // One chain with one error exit: after a cancel the reader ends and `result` rejects; nothing
      // may escape as an unhandled rejection (it would end the process).
      step.then(async (r) => {
        if (!r.done) return void this.push(r.value);
        const record = await reader.result;
        done = true;
        this.push(`${JSON.stringify({ $result: record })}\n`);
        this.push(null);
      }).catch((e: unknown) => {
        if (this.destroyed) return;
        done = true;
        const err = toSbError(e);
        this.push(`${JSON.stringify({ $error: { code: err.code, message: err.message } })}\n`);
        this.push(null);
      });
    },
    destroy(err, cb) {
      // The client went away before the end: stop the job (its handler's signal aborts).
      if (!done) {
        done = true;
        void reader.cancel();
      }
      cb(err);
    },
  });
  return reply.code(200).header('location', jobLocation(id)).type('application/x-ndjson').send(body);
}

/** Default fields under the body's: a body that is not a JSON object replaces them only when there are none. */
function mergeInput(defaults: Record<string, unknown>, body: unknown): unknown {
  if (body === undefined) return { ...defaults };
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return { ...defaults, ...(body as Record<string, unknown>) };
  if (Object.keys(defaults).length === 0) return body;
  throw new SbError('SB_ERR_VALIDATION', 'this channel merges the body into its default input fields: send a JSON object');
}
