/**
 * Jobs: the envelope a caller submits, the result a worker records, and the worker registry entry.
 * DESIGN.md "Jobs"; docs/jobs.md is the user-facing description. Subjects: `sb.job.<type>`.
 */
import { Type, type Static } from '@sinclair/typebox';

/** A job type: dot-separated tokens of `[A-Za-z0-9_-]`, e.g. `winrm.exec`, `noop`. */
export const JOB_TYPE_PATTERN = '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$';
/** Longest job type, in characters. */
export const JOB_TYPE_MAX = 128;
/** A job id: what `nuid` makes (22 characters of [0-9A-Za-z]), or a 32-hex digest for idempotent submits. */
export const JOB_ID_PATTERN = '^[0-9A-Za-z]{16,64}$';

export const JobType = Type.String({ pattern: JOB_TYPE_PATTERN, maxLength: JOB_TYPE_MAX });

/** What a job is, as it travels in the jobs stream (JSON body of `sb.job.<type>`). */
export const JobEnvelope = Type.Object(
  {
    id: Type.String({ pattern: JOB_ID_PATTERN }),
    type: JobType,
    input: Type.Unknown(),
    /** Name of the principal that submitted it (set by the gateway, never by the client). */
    principal: Type.String(),
    /** ISO time after which the job must not start, and a running one is stopped (status timed_out). */
    deadline: Type.String(),
    /** 1 on the first delivery; the runtime fills it from the delivery count, the stored value is 1. */
    attempt: Type.Integer({ minimum: 1 }),
    idempotencyKey: Type.Optional(Type.String({ maxLength: 256 })),
    /** ISO time of submission. */
    submittedAt: Type.String(),
  },
  { additionalProperties: false },
);
export type JobEnvelope = Static<typeof JobEnvelope>;

/** Final states. */
export const JobFinalStatus = Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('timed_out'), Type.Literal('cancelled')]);
export type JobFinalStatus = Static<typeof JobFinalStatus>;

/** Every state a job record can show (`queued` and `running` are not final). */
export const JobStatus = Type.Union([Type.Literal('queued'), Type.Literal('running'), JobFinalStatus]);
export type JobStatus = Static<typeof JobStatus>;

/** Why a job failed. `code` is an `SB_ERR_*` code or a handler's own stable code. */
export const JobError = Type.Object(
  {
    code: Type.String(),
    message: Type.String(),
    retryable: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type JobError = Static<typeof JobError>;

/**
 * A job record as kept in the results KV bucket (key = job id) and as `GET /v1/jobs/{id}` shows it.
 * A final record has `output` (succeeded) or `error` (any other final state) and `durationMs`.
 */
export const JobRecord = Type.Object(
  {
    id: Type.String(),
    type: JobType,
    status: JobStatus,
    output: Type.Optional(Type.Unknown()),
    error: Type.Optional(JobError),
    durationMs: Type.Optional(Type.Number()),
    /** Id of the worker process that ran (or runs) it. */
    worker: Type.Optional(Type.String()),
    attempt: Type.Optional(Type.Integer()),
    principal: Type.Optional(Type.String()),
    submittedAt: Type.Optional(Type.String()),
    startedAt: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()),
    /** Sequence of the job message in the jobs stream (lets a cancel remove a queued job). */
    seq: Type.Optional(Type.Integer()),
    /** Deliveries handed back by a draining worker; they do not count as attempts (docs/jobs.md). */
    handbacks: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type JobRecord = Static<typeof JobRecord>;

/** A final job record (what a waiting caller receives). */
export type JobResult = JobRecord & { status: JobFinalStatus };

/** Whether `r` is final. */
export function isFinal(r: Pick<JobRecord, 'status'>): r is JobResult {
  return r.status !== 'queued' && r.status !== 'running';
}

/** Per-type settings of one worker process. */
export const WorkerTypeConfig = Type.Object(
  {
    type: JobType,
    /** Jobs of this type run at once in this process. */
    concurrency: Type.Integer({ minimum: 1, maximum: 10_000, default: 16 }),
    /** Ack wait of the shared consumer, ms; heartbeats (`working()`) run at a third of it. */
    ackWaitMs: Type.Integer({ minimum: 1000, default: 30_000 }),
    /** Deliveries before a job is dead-lettered. */
    maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
    /** Retry delay after a retryable failure: min(backoffBaseMs · 2^(attempt-1), backoffMaxMs). */
    backoffBaseMs: Type.Integer({ minimum: 10, default: 1000 }),
    backoffMaxMs: Type.Integer({ minimum: 10, default: 60_000 }),
  },
  { additionalProperties: false },
);
export type WorkerTypeConfig = Static<typeof WorkerTypeConfig>;

/** A worker process's configuration (`switchboard worker --config worker.yaml`, or env; docs/workers.md). */
export const WorkerConfig = Type.Object(
  {
    /** Stable id in the registry; default `<hostname>-<pid>-<random>`. */
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$', maxLength: 128 })),
    types: Type.Array(WorkerTypeConfig, { minItems: 1 }),
    /** Module paths (absolute, or relative to the config file) whose default export is a JobHandler or an array of them. */
    handlers: Type.Array(Type.String(), { default: [] }),
    /** On SIGTERM: stop pulling, wait this long for in-flight jobs, then hand the rest back (nak). */
    drainMs: Type.Integer({ minimum: 0, default: 10_000 }),
    /** Registry heartbeat period, ms. An entry older than 3 periods is shown as gone. */
    heartbeatMs: Type.Integer({ minimum: 100, default: 5000 }),
  },
  { additionalProperties: false },
);
export type WorkerConfig = Static<typeof WorkerConfig>;

/** One worker process in the registry (KV bucket `sb_workers`, key = worker id). */
export const WorkerInfo = Type.Object(
  {
    id: Type.String(),
    host: Type.String(),
    pid: Type.Integer(),
    startedAt: Type.String(),
    /** Last heartbeat. */
    seenAt: Type.String(),
    state: Type.Union([Type.Literal('running'), Type.Literal('draining')]),
    /** The worker's registry heartbeat period, ms (an entry is alive for 3 of them). */
    heartbeatMs: Type.Optional(Type.Integer()),
    types: Type.Array(
      Type.Object({
        type: Type.String(),
        concurrency: Type.Integer(),
        inFlight: Type.Integer(),
        succeeded: Type.Integer(),
        failed: Type.Integer(),
      }),
    ),
  },
  { additionalProperties: false },
);
export type WorkerInfo = Static<typeof WorkerInfo>;
