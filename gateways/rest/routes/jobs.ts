/**
 * Jobs over HTTP: submit (sync by default, or async), read with an optional long poll, cancel, and the
 * worker registry. The routes live in their own context whose body parser reads any Content-Type as
 * JSON, so `curl -d '{…}'` (form-urlencoded by default) works as written.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../../../broker/errors.js';
import { JOB_ID_PATTERN, JobRecord, JobType, WorkerInfo, isFinal, type JobRecord as JobRecordT } from '../../../schemas/job.js';
import { JOB_TIMEOUT_MAX_MS, JOB_WAIT_DEFAULT_MS, JOB_WAIT_MAX_MS } from '../../../schemas/channel.js';
import type { GatewayDeps } from '../../types.js';
import { authorize, principalOf } from '../auth.js';
import { ErrorBody } from '../errors.js';
import { JobErrorBody, answerJob, canSeeJob, parseJsonBody, streamJob, wantsStream, type JobCall } from '../jobs.js';

const tags = ['jobs'];
const idRe = new RegExp(JOB_ID_PATTERN);
const Mode = Type.Union([Type.Literal('sync'), Type.Literal('async'), Type.Literal('stream')], {
  default: 'sync', description: 'stream (or `"stream": true` in the body): 200 NDJSON, one line per streamed item, then `{"$result": record}`.',
});
const SubmitQuery = Type.Object({
  mode: Mode,
  timeoutMs: Type.Integer({ minimum: 1, maximum: JOB_WAIT_MAX_MS, default: JOB_WAIT_DEFAULT_MS, description: 'Sync: how long to wait for the result, ms.' }),
  jobTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: JOB_TIMEOUT_MAX_MS, description: "The job's deadline, ms. Default: jobs.defaultTimeoutMs (5 min)." })),
}, { additionalProperties: false });
const Accepted = Type.Object({ id: Type.String(), status: Type.Literal('queued'), duplicate: Type.Boolean() });
const IdParams = Type.Object({ id: Type.String({ maxLength: 128 }) });

/** Registers `/v1/jobs/{type}` (POST), `/v1/jobs/{id}` (GET, DELETE) and `/v1/workers` (GET, admin). */
export function jobRoutes(deps: GatewayDeps): FastifyPluginAsyncTypebox {
  const { broker, security, config } = deps;
  const jobs = broker.jobs;
  const WaitQuery = Type.Object({
    waitMs: Type.Integer({ minimum: 0, maximum: config.http.maxPullWaitMs, default: 0, description: 'Long poll: wait up to this long for the final state, ms.' }),
  }, { additionalProperties: false });

  /** The record if it exists and the caller may see it; else SB_ERR_JOB_NOT_FOUND (never 403: ids do not leak). */
  async function visible(principal: Parameters<typeof canSeeJob>[1], id: string): Promise<JobRecordT> {
    const r = idRe.test(id) ? await jobs.get(id) : undefined;
    if (!r || !canSeeJob(security, principal, r)) throw errors.jobNotFound(id);
    return r;
  }

  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
      try {
        done(null, parseJsonBody(body as Buffer));
      } catch (e) {
        done(e as Error, undefined);
      }
    });

    app.post('/v1/jobs/:type', {
      schema: {
        tags, summary: 'Run a job: sync (200 with the final record, 504 SB_ERR_JOB_PENDING past timeoutMs) or async (202 with the id)',
        params: Type.Object({ type: JobType }), querystring: SubmitQuery,
        body: Type.Unknown({ description: 'The job input, JSON (any Content-Type is read as JSON; no body means {}).' }),
        response: { 200: JobRecord, 202: Accepted, '4xx': JobErrorBody, '5xx': JobErrorBody },
      },
    }, async (req, reply) => {
      const q = req.query;
      const input = req.body ?? {};
      const call: JobCall = { type: req.params.type, input, mode: q.mode === 'async' ? 'async' : 'sync', timeoutMs: q.timeoutMs };
      if (q.jobTimeoutMs !== undefined) call.jobTimeoutMs = q.jobTimeoutMs;
      // The input keeps its `stream` field: a handler may declare it (sql.callproc does).
      if (wantsStream(q.mode, input)) return streamJob(jobs, security, req, reply, call);
      return answerJob(jobs, security, req, reply, call, (r) => reply.code(200).send(r));
    });

    app.get('/v1/jobs/:id', {
      schema: {
        tags, summary: 'Read a job (its submitter or an admin); ?waitMs= long-polls for the final state',
        params: IdParams, querystring: WaitQuery, response: { 200: JobRecord, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    }, async (req) => {
      const { id } = req.params;
      const r = await visible(principalOf(req), id);
      if (isFinal(r) || req.query.waitMs === 0) return r;
      // The final record, or the latest state when the wait ran out.
      return (await jobs.wait(id, req.query.waitMs)) ?? (await jobs.get(id)) ?? r;
    });

    app.delete('/v1/jobs/:id', {
      schema: {
        tags, summary: 'Cancel a job (its submitter or an admin): a queued job will not start, a running one is told to stop',
        params: IdParams, response: { 202: JobRecord, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    }, async (req, reply) => {
      const p = principalOf(req);
      await visible(p, req.params.id);
      return reply.code(202).send(await jobs.cancel(req.params.id, p.name));
    });

    app.get('/v1/workers', {
      schema: { tags, summary: 'The worker registry: live worker processes, what they run, in-flight counts (admin)', response: { 200: Type.Object({ workers: Type.Array(WorkerInfo) }), '4xx': ErrorBody } },
    }, async (req) => {
      authorize(security, req, 'manage');
      return { workers: await jobs.workers() };
    });
  };
}
