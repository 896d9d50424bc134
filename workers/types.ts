/**
 * The handler contract: what a job family (ours, like `winrm.exec`, or a user's module) implements.
 * The runtime validates `input` against `inputSchema` before `handle` runs (a mismatch is poison: the
 * job is terminated, never retried) and `output` against `outputSchema` after (a mismatch is a bug:
 * the job fails, not retried). docs/workers.md has the worked example.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Logger } from '../broker/log.js';
import type { Broker } from '../broker/types.js';
import type { JobEnvelope } from '../schemas/job.js';

/** What a handler gets besides its input. */
export interface JobContext {
  /** The envelope: id, type, principal, deadline, attempt (1 on the first delivery), idempotencyKey. */
  readonly job: JobEnvelope;
  /** Aborted on cancellation (DELETE /v1/jobs/{id}), on the deadline, and when a drain hands the job back. */
  readonly signal: AbortSignal;
  /** Why `signal` aborted, once it has. */
  readonly abortReason: () => 'cancelled' | 'deadline' | 'shutdown' | undefined;
  /** Extends the ack deadline. The runtime already calls it every ackWait/3 while `handle` runs; call it for extra safety in tight loops. */
  working(): void;
  /** A child logger bound to job id and type. Never log secrets or whole inputs. */
  readonly log: Logger;
  /** The backbone, e.g. to read config (connection definitions) or publish. */
  readonly broker: Broker;
  /** The worker process id, as in the registry. */
  readonly workerId: string;
  /**
   * Set when the caller reads this job as a stream (`JobClient.stream`, REST NDJSON): send items to
   * it with backpressure. Undefined for an ordinary call: return everything in the output instead.
   */
  readonly stream?: JobStreamSink;
  /**
   * Sends `data` to every client of WebSocket channel `channel` on every gateway replica, at once and at
   * most once (docs/ws-protocol.md, "Broadcast"). `data`: bytes as they are, a string as text, any other
   * value as JSON; `opts.contentType` overrides. Returns the broadcast's message id. Throws
   * SB_ERR_BACKBONE_UNAVAILABLE while disconnected (the job's retry policy decides what follows).
   */
  broadcast(channel: string, data: unknown, opts?: { contentType?: string }): { id: string };
}

/** The sending end of a streaming job (docs/jobs.md, "Streaming results"). */
export interface JobStreamSink {
  /**
   * Sends one chunk of JSON items, in order. Resolves once the reader has room for more (its credit
   * window); a handler awaiting it is paused, which is the backpressure. Rejects with a JobFailure
   * SB_ERR_STREAM_BROKEN when the reader went away; `ctx.signal` aborts then as well.
   */
  write(items: unknown[]): Promise<void>;
}

/**
 * A job failure with a stable code. `retryable: true` → the runtime retries with capped exponential
 * backoff until maxAttempts, then dead-letters; `false` → the job fails now (and is dead-lettered if
 * `poison`). Anything else thrown counts as retryable with code SB_ERR_JOB_FAILED.
 */
export class JobFailure extends Error {
  readonly code: string;
  readonly retryable: boolean;
  /** Terminate and dead-letter now (bad input the schema could not catch). */
  readonly poison: boolean;

  constructor(code: string, message: string, opts: { retryable?: boolean; poison?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'JobFailure';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.poison = opts.poison ?? false;
  }
}

/**
 * The failure a handler throws once `ctx.signal` aborted, so the runtime records the run as timed out,
 * handed back (retryable) or cancelled. `stopped` says what was stopped, e.g. "the statement was cancelled".
 */
export function abortedFailure(ctx: Pick<JobContext, 'abortReason'>, stopped: string): JobFailure {
  switch (ctx.abortReason()) {
    case 'deadline':
      return new JobFailure('SB_ERR_JOB_TIMED_OUT', `the job passed its deadline; ${stopped}`);
    case 'shutdown':
      return new JobFailure('SB_ERR_SHUTTING_DOWN', `the worker is shutting down; ${stopped}`, { retryable: true });
    default:
      return new JobFailure('SB_ERR_JOB_CANCELLED', `the job was cancelled; ${stopped}`);
  }
}

/** A job family. `I`/`O` are the static types of the two schemas. */
export interface JobHandler<I = unknown, O = unknown> {
  /** The job type it serves, e.g. `winrm.exec` (JOB_TYPE_PATTERN). */
  readonly type: string;
  readonly inputSchema: TSchema;
  readonly outputSchema: TSchema;
  /** Optional one-time setup when the worker starts (open pools, read config); `close` on drain. */
  init?(ctx: { broker: Broker; log: Logger; workerId: string }): Promise<void>;
  close?(): Promise<void>;
  handle(ctx: JobContext, input: I): Promise<O>;
}
