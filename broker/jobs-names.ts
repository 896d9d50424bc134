/**
 * Names of the job pipeline: subjects, consumer names, ids, headers and config-store keys (docs/jobs.md).
 * Pure functions, no I/O.
 */
import { createHash } from 'node:crypto';
import { JOB_TYPE_MAX, JOB_TYPE_PATTERN } from '../schemas/job.js';
import { HEADERS } from '../schemas/message.js';
import { errors } from './errors.js';
import { SUBJECT_PREFIX } from './subjects.js';

/** Every job subject starts with this; the jobs stream captures `sb.job.>`. */
export const JOB_SUBJECT_PREFIX = `${SUBJECT_PREFIX}.job.`;
/** Workers subscribe `sb.jobctl.cancel.*`; `cancel(id)` publishes `sb.jobctl.cancel.<id>`. */
export const CANCEL_SUBJECT_PREFIX = `${SUBJECT_PREFIX}.jobctl.cancel.`;
/**
 * Credit of streaming jobs: the reader core-publishes `{"upTo": n}` ("consumed chunks 1..n") on
 * `sb.jobctl.credit.<id>`; the worker streaming that job subscribes it (docs/jobs.md, "Streaming results").
 */
export const CREDIT_SUBJECT_PREFIX = `${SUBJECT_PREFIX}.jobctl.credit.`;
/**
 * Final job records are stored on `sb.jobres.<id>` in the results topic's stream (which captures
 * `sb.jobres.>` besides its topic subject): one write is the record and the result event.
 */
export const RESULT_SUBJECT_PREFIX = `${SUBJECT_PREFIX}.jobres.`;
/** Config-store key prefix of declared job types (`jobtype.<type>`), written by workers at start. */
export const JOBTYPE_KEY_PREFIX = 'jobtype.';
/** Durable consumer names of job types start with this. */
export const JOB_CONSUMER_PREFIX = 'SBJ_';

/** Headers of job messages, result events and job dead letters. */
export const JOB_HEADERS = {
  /** The submitting process's inbox subject for this job's core reply. */
  replyTo: HEADERS.replyTo,
  jobId: 'Sb-Job-Id',
  jobType: 'Sb-Job-Type',
  jobStatus: 'Sb-Job-Status',
  /** Dead letters: how many attempts ran, and the last error's code. */
  attempts: 'Sb-Job-Attempts',
  errorCode: 'Sb-Job-Error-Code',
  /** Streaming jobs: the subject the worker sends chunks to (the reader's stream inbox `.<id>`). */
  streamTo: 'Sb-Stream-To',
  /** Streaming jobs: how many chunks the worker may send ahead of the reader's credit. */
  streamWindow: 'Sb-Stream-Window',
  /** On every chunk and on the end message: 1, 2, … with no gaps. */
  streamSeq: 'Sb-Stream-Seq',
  /** `1` on the end message, whose body is the final record. */
  streamEnd: 'Sb-Stream-End',
} as const;

const typeRe = new RegExp(JOB_TYPE_PATTERN);

/** Throws SB_ERR_VALIDATION unless `type` is a job type. */
export function validateJobType(type: unknown): asserts type is string {
  if (typeof type !== 'string' || type.length === 0 || type.length > JOB_TYPE_MAX || !typeRe.test(type)) {
    throw errors.validation(`invalid job type ${JSON.stringify(String(type).slice(0, 140))}: use dot-separated tokens of [A-Za-z0-9_-]`, { type: String(type).slice(0, 140) });
  }
}

/** The subject jobs of `type` are published on. */
export function jobSubject(type: string): string {
  return `${JOB_SUBJECT_PREFIX}${type}`;
}

/** The shared durable consumer of `type`: sanitised type plus a short hash (dots are illegal in names). */
export function jobConsumerName(type: string): string {
  const hash = createHash('sha256').update(type).digest('hex').slice(0, 8);
  return `${JOB_CONSUMER_PREFIX}${type.replace(/\./g, '_')}_${hash}`;
}

/** The config-store key declaring `type`. */
export function jobTypeKey(type: string): string {
  return `${JOBTYPE_KEY_PREFIX}${type}`;
}

/**
 * The id of an idempotent submit: a digest of (principal, type, key), 32 hex characters, so a retried
 * submit maps to the same job and JetStream answers "duplicate" inside the dedup window.
 */
export function idempotentJobId(principal: string, type: string, key: string): string {
  // NUL separators: none of the three can forge a boundary of another.
  return createHash('sha256').update(`${principal}\0${type}\0${key}`).digest('hex').slice(0, 32);
}

/** The subject of job `id`'s final record. */
export function resultSubject(id: string): string {
  return `${RESULT_SUBJECT_PREFIX}${id}`;
}

/** The KV subject of key `id` in `bucket`. */
export function kvSubject(bucket: string, id: string): string {
  return `$KV.${bucket}.${id}`;
}
