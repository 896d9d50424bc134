/**
 * The worker side of the job pipeline: what `workers/runtime.ts` uses to pull jobs and settle them.
 * Retry, backoff, dead letters and the completion order live here, once (STYLE §2); the runtime
 * only runs handlers and says how each run ended. docs/jobs.md describes the guarantees.
 */
import { headers as natsHeaders, millis, nanos, type Msg, type Subscription } from '@nats-io/nats-core';
import type { ConsumerConfig } from '@nats-io/jetstream';
import { JOB_ID_PATTERN, type JobEnvelope, type JobRecord, type JobResult, type WorkerInfo, type WorkerTypeConfig } from '../schemas/job.js';
import type { Broker, ConfigStore } from './types.js';
import type { Logger } from './log.js';
import type { JobStore } from './jobs-store.js';
import { encodeRecord } from './jobs-store.js';
import type { PullSource } from './puller.js';
import { nakWithDelay, storedAtMs, type AckSubject } from './ack-token.js';
import { JobFeed } from './jobs-feed.js';
import { MIN_NAK_DELAY_MS } from './subscription-record.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';
import { CANCEL_SUBJECT_PREFIX, JOB_HEADERS, jobConsumerName, jobSubject, jobTypeKey } from './jobs-names.js';
import { HEADERS } from '../schemas/message.js';
import { JobStreamSender, publishEnd, streamWindowOf } from './job-stream.js';

/** How long a handed-back job waits before another worker may take it, ms. */
export const HANDBACK_DELAY_MS = 100;

/**
 * Margin, ms, for clock skew between a worker and nats-server in the record-read rule below; also the
 * shortest "fresh" age (half the shortest ack wait a worker may configure, 1000 ms: schemas/job.ts).
 */
export const FRESH_DELIVERY_MS = 500;

/** Config-store key prefix of server epochs: `backbone.epoch.<server_id>` = {@link ServerEpoch}. */
export const EPOCH_KEY_PREFIX = 'backbone.epoch.';

/** When a Switchboard process first saw a nats-server process (its `server_id` is new at every start). */
export interface ServerEpoch {
  firstSeenAt: number;
}

/**
 * True when a delivery must read the job's record before it runs (docs/jobs.md, "Exactly once"). The
 * delivery count alone cannot say "handed out before": after a nats-server crash the consumer's state
 * on disk lags, and a recorded job comes back with delivery count 1. So the read is skipped only when
 * the server says first delivery, the message was stored at least the skew margin after `trustFrom`
 * (when the server process we talk to was first seen, or our connection opened if that is unknown),
 * and it is younger than `freshMs` (half the ack wait: an expired ack wait redelivers later than that).
 */
export function mustReadRecord(d: Pick<JobDelivery, 'deliveryCount' | 'storedAt'>, trustFrom: number, now: number, freshMs: number): boolean {
  if (d.deliveryCount !== 1) return true;
  if (d.storedAt < trustFrom + FRESH_DELIVERY_MS) return true;
  return now - d.storedAt >= Math.max(FRESH_DELIVERY_MS, freshMs);
}

/** Why a job went to the dead letters (header `Sb-Dlq-Reason`). */
export type JobDeadLetterReason = 'poison' | 'max_attempts' | 'worker_lost' | 'malformed';

/** One job delivery. `envelope.attempt` is the attempt number (deliveries minus hand-backs). */
export interface JobDelivery {
  readonly envelope: JobEnvelope;
  /** The body as stored, for dead-letter copies. */
  readonly data: Uint8Array;
  readonly ackSubject: string;
  readonly replyTo: string | undefined;
  readonly deliveryCount: number;
  /** When the jobs stream stored the message, epoch ms (server clock). */
  readonly storedAt: number;
  /** Hand-backs so far, from the record; carried into every record this delivery writes. */
  handbacks: number;
  /** Streaming jobs: where chunks go (`Sb-Stream-To`); undefined for an ordinary job. */
  readonly streamTo: string | undefined;
  /** Streaming jobs: the reader's credit window, chunks (`Sb-Stream-Window`). */
  readonly streamWindow: number;
}

/** The continuous pull of one type, as the runtime drives it (broker/jobs-feed.ts). */
export interface JobFeedHandle {
  /** Jobs asked for and not yet delivered. */
  readonly outstanding: number;
  /** Pull requests still open on the server. */
  readonly requests: number;
  /** Asks for up to `batch` more jobs, delivered as they are queued within `expiresMs`. */
  request(batch: number, expiresMs: number): void;
  /** Forgets requests whose end never came; call it from a timer. */
  sweep(): void;
  close(): void;
}

/** How one run ended, as the runtime reports it. */
export type JobOutcome =
  | { kind: 'succeeded'; output: unknown }
  | { kind: 'failed'; code: string; message: string; retryable: boolean; poison: boolean }
  | { kind: 'timed_out' }
  | { kind: 'cancelled' }
  | { kind: 'shutdown' };

/** What the runtime needs from the backbone. Get it with `jobPort(broker)`. */
export interface JobPort {
  /** Creates the type's shared consumer (or aligns its ack wait) and declares the type for submitters. */
  declare(cfg: WorkerTypeConfig): Promise<void>;
  /**
   * Opens the continuous pull of `type` (declare it first): `job` gets every delivery, `ended` fires
   * when a pull request ended so the caller can ask again (docs/workers.md).
   */
  feed(type: string, on: { job: (d: JobDelivery) => void; ended: () => void }): JobFeedHandle;
  /**
   * Looks at the job's record before it runs. Resolves `run`, or `skip` when it was settled here:
   * a recorded result (re-notified, acked), a cancel, attempts used up by lost workers, a passed deadline.
   */
  admit(d: JobDelivery, cfg: WorkerTypeConfig, workerId: string): Promise<'run' | 'skip'>;
  /**
   * The sending end of a streaming delivery (it has `Sb-Stream-To`), or undefined. Settling the job
   * sends the stream's end message after the final record and closes it.
   */
  openStream(d: JobDelivery): JobStreamSender | undefined;
  /** Extends the ack deadline (`+WPI`). */
  working(d: JobDelivery): void;
  /** Writes the lazy `running` record (jobs that run longer than ~250 ms). */
  markRunning(d: JobDelivery, workerId: string, startedAt: number): Promise<void>;
  /** Records how a run ended and settles the delivery: ack, nak(delay), or dead-letter then term. */
  settle(d: JobDelivery, outcome: JobOutcome, cfg: WorkerTypeConfig, run: { workerId: string; startedAt: number }): Promise<'done' | 'retry' | 'dead'>;
  /** Calls `fn(id)` for every cancel request. */
  onCancel(fn: (id: string) => void): () => void;
  /** Fault-test hook: `fn` runs after a final record is stored and before the ack (SB_FAULT_KILL_AFTER_RESULT). */
  onResultRecorded(fn: (() => void) | undefined): void;
  putWorker(info: WorkerInfo): Promise<void>;
  removeWorker(id: string): Promise<void>;
  /** The backbone, for handlers. */
  readonly broker: Broker;
}

/** Retry delay after a failed attempt: min(base · 2^(attempt-1), max), never below 100 ms. */
export function jobRetryDelayMs(cfg: Pick<WorkerTypeConfig, 'backoffBaseMs' | 'backoffMaxMs'>, attempt: number): number {
  const ms = Math.min(cfg.backoffBaseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)), cfg.backoffMaxMs);
  return Math.max(MIN_NAK_DELAY_MS, Math.round(ms));
}

const dec = new TextDecoder();
const JOB_ID_RE = new RegExp(JOB_ID_PATTERN);
// Settle verbs, encoded once (each job sends one or two of these).
const enc = new TextEncoder();
const VERB = { ack: enc.encode('+ACK'), term: enc.encode('+TERM'), wpi: enc.encode('+WPI') } as const;
const ports = new WeakMap<Broker, JobPort>();

/** The worker port of a broker made by `createBroker()`. */
export function jobPort(broker: Broker): JobPort {
  const p = ports.get(broker);
  if (!p) throw new Error('jobPort: not a broker made by createBroker()');
  return p;
}

/** Registers the port of `broker` (called by createBroker). */
export function registerJobPort(broker: Broker, port: JobPort): void {
  ports.set(broker, port);
}

/** {@link JobPort} over the jobs stream, the results bucket and the registry bucket. */
export class JsJobPort implements JobPort {
  private readonly sources = new Map<string, PullSource>();
  private readonly configs = new Map<string, WorkerTypeConfig>();
  private readonly cancelSubs = new Set<Subscription>();
  /** Open streams of streaming jobs running here, by job id. */
  private readonly senders = new Map<string, JobStreamSender>();
  /** When the backbone connection last (re)opened (see trustFrom). */
  private connectedSince = Date.now();

  constructor(
    readonly broker: Broker,
    private readonly store: JobStore,
    private readonly config: ConfigStore,
    private readonly log: Logger,
  ) {
    broker.onStatus((s) => {
      if (s.type !== 'connected') return;
      this.connectedSince = Date.now();
      void this.registerEpoch();
    });
    void this.registerEpoch();
  }

  /**
   * Notes when a Switchboard process first saw the nats-server process it is connected to (every
   * process does this at start and after each reconnect; the first write wins). Not for a cluster:
   * there the jobs stream may live on another node than the one we talk to.
   */
  private async registerEpoch(): Promise<void> {
    const key = this.epochKey();
    if (key === undefined || this.config.get(key) !== undefined) return;
    await this.config.create<ServerEpoch>(key, { firstSeenAt: Date.now() }).catch(() => undefined);
  }

  private epochKey(): string | undefined {
    const info = this.store.nc.info;
    return info && !info.cluster ? `${EPOCH_KEY_PREFIX}${info.server_id}` : undefined;
  }

  /**
   * Messages stored from this moment on (plus the skew margin) were stored by the server process we
   * talk to now, so their delivery counts are whole: when that process was first seen, if known, else
   * when our connection last opened.
   */
  private trustFrom(): number {
    const key = this.epochKey();
    const epoch = key === undefined ? undefined : this.config.get<ServerEpoch>(key);
    return epoch ? Math.min(epoch.firstSeenAt, this.connectedSince) : this.connectedSince;
  }

  /** Test fault hook: runs after a result is recorded and before the ack (docs/workers.md). */
  private afterResult: (() => void) | undefined;

  onResultRecorded(fn: (() => void) | undefined): void {
    this.afterResult = fn;
  }

  async declare(cfg: WorkerTypeConfig): Promise<void> {
    const { stream } = this.store.settings;
    const name = jobConsumerName(cfg.type);
    const want: Partial<ConsumerConfig> = {
      durable_name: name,
      filter_subject: jobSubject(cfg.type),
      ack_policy: 'explicit' as never,
      deliver_policy: 'all' as never,
      ack_wait: nanos(cfg.ackWaitMs),
      // Unbounded on the server: the runtime counts attempts itself (hand-backs are not attempts) and
      // dead-letters any delivery past maxAttempts before running it (docs/jobs.md).
      max_deliver: -1,
      max_ack_pending: -1,
    };
    try {
      const ci = await this.store.jsm.consumers.info(stream, name);
      if (ci.config.ack_wait !== want.ack_wait) {
        // The last worker to start decides the shared ack wait; say so, since heartbeats depend on it.
        this.log.info({ type: cfg.type, from: millis(ci.config.ack_wait ?? 0), to: cfg.ackWaitMs }, 'job consumer ack wait changed');
        await this.store.jsm.consumers.update(stream, name, { ack_wait: want.ack_wait as number });
      }
    } catch (e) {
      if (jsErrCode(e) !== JS_ERR.consumerNotFound) throw toBackboneError(e);
      await this.store.jsm.consumers.add(stream, want).catch((err: unknown) => { throw toBackboneError(err); });
    }
    this.sources.set(cfg.type, { topic: cfg.type, stream, consumer: name });
    this.configs.set(cfg.type, cfg);
    if (this.config.get(jobTypeKey(cfg.type)) === undefined) {
      await this.config.put(jobTypeKey(cfg.type), { type: cfg.type, declaredAt: new Date().toISOString() });
    }
  }

  feed(type: string, on: { job: (d: JobDelivery) => void; ended: () => void }): JobFeedHandle {
    const src = this.sources.get(type);
    if (!src) throw new Error(`job type ${type} was not declared`);
    return new JobFeed(this.store.nc, src, {
      message: (msg, ack) => {
        const d = this.parse(type, msg, ack);
        if (d) on.job(d);
      },
      ended: on.ended,
      missing: () => {
        // Deleted under us (by hand): make it again, the stream still holds the jobs.
        this.log.warn({ type }, 'job consumer missing; re-creating');
        const cfg = this.configs.get(type);
        if (cfg) this.declare(cfg).catch((err: unknown) => this.log.error({ err, type }, 'job consumer not re-created'));
      },
    });
  }

  async admit(d: JobDelivery, cfg: WorkerTypeConfig, workerId: string): Promise<'run' | 'skip'> {
    // A delivery that may have been handed out before reads the record first (see mustReadRecord).
    if (mustReadRecord(d, this.trustFrom(), Date.now(), cfg.ackWaitMs / 2)) {
      const fin = await this.store.readFinal(d.envelope.id);
      if (fin) {
        // Recorded but not acked (a crash between the two), or cancelled before it started: tell the
        // waiters again, never run it.
        this.notifyAndSettle(d, encodeRecord(fin.record));
        return 'skip';
      }
      // Hand-backs are naks, so a first delivery has none: only a redelivery reads the state record.
      if (d.deliveryCount > 1) d.handbacks = (await this.store.readState(d.envelope.id))?.record.handbacks ?? 0;
    }
    (d.envelope as { attempt: number }).attempt = Math.max(1, d.deliveryCount - d.handbacks);
    const now = Date.now();
    const base = { workerId, startedAt: now };
    if (d.envelope.attempt > cfg.maxAttempts) {
      // The previous attempt's worker died or hung past its ack wait: that was the last attempt.
      await this.deadLetter(d, this.finalRecord(d, { kind: 'failed', code: 'SB_ERR_JOB_FAILED', message: `the worker of attempt ${d.envelope.attempt - 1} of ${cfg.maxAttempts} was lost`, retryable: false, poison: false }, base), 'worker_lost', 'SB_ERR_JOB_FAILED');
      return 'skip';
    }
    if (Date.parse(d.envelope.deadline) <= now) {
      await this.finish(d, this.finalRecord(d, { kind: 'timed_out' }, base), '+ACK');
      return 'skip';
    }
    if (d.streamTo !== undefined && d.deliveryCount > 1) {
      // The reader's position died with the earlier delivery and streams are never resumed: running it
      // again would send its items twice (or to nobody).
      const why = `delivered again (delivery ${d.deliveryCount}); a streamed job is never re-run`;
      await this.finish(d, this.finalRecord(d, { kind: 'failed', code: 'SB_ERR_STREAM_BROKEN', message: why, retryable: false, poison: false }, base), '+ACK');
      return 'skip';
    }
    return 'run';
  }

  openStream(d: JobDelivery): JobStreamSender | undefined {
    if (d.streamTo === undefined) return undefined;
    const id = d.envelope.id;
    this.senders.get(id)?.abort('opened again');
    const s = new JobStreamSender(this.store.nc, id, d.streamTo, d.streamWindow);
    this.senders.set(id, s);
    return s;
  }

  working(d: JobDelivery): void {
    this.store.nc.publish(d.ackSubject, VERB.wpi);
  }

  async markRunning(d: JobDelivery, workerId: string, startedAt: number): Promise<void> {
    const rec: JobRecord = { ...this.recordBase(d), status: 'running', worker: workerId, startedAt: new Date(startedAt).toISOString() };
    await this.store.putState(d.envelope.id, encodeRecord(rec));
  }

  async settle(d: JobDelivery, outcome: JobOutcome, cfg: WorkerTypeConfig, run: { workerId: string; startedAt: number }): Promise<'done' | 'retry' | 'dead'> {
    if (d.streamTo === undefined) return this.settleRun(d, outcome, cfg, run);
    try {
      return await this.settleRun(d, streamedOutcome(outcome), cfg, run);
    } finally {
      // finish/deadLetter ended it; this only matters when settling threw.
      this.senders.get(d.envelope.id)?.abort('settled');
      this.senders.delete(d.envelope.id);
    }
  }

  private async settleRun(d: JobDelivery, outcome: JobOutcome, cfg: WorkerTypeConfig, run: { workerId: string; startedAt: number }): Promise<'done' | 'retry' | 'dead'> {
    if (outcome.kind === 'shutdown') {
      // Handed back, not failed: the record remembers it so the next delivery is not counted as an attempt.
      d.handbacks++;
      const rec: JobRecord = { ...this.recordBase(d), status: 'queued' };
      await this.store.putState(d.envelope.id, encodeRecord(rec)).catch((err: unknown) => this.log.warn({ err, id: d.envelope.id }, 'hand-back record not written'));
      this.nak(d, HANDBACK_DELAY_MS);
      return 'retry';
    }
    if (outcome.kind !== 'failed') {
      await this.finish(d, this.finalRecord(d, outcome, run), '+ACK');
      return 'done';
    }
    const attempt = d.envelope.attempt;
    if (outcome.poison) {
      await this.deadLetter(d, this.finalRecord(d, outcome, run), 'poison', outcome.code);
      return 'dead';
    }
    if (!outcome.retryable) {
      await this.finish(d, this.finalRecord(d, outcome, run), '+ACK');
      return 'done';
    }
    if (attempt < cfg.maxAttempts) {
      this.nak(d, jobRetryDelayMs(cfg, attempt));
      return 'retry';
    }
    const gaveUp: JobOutcome = {
      kind: 'failed', code: 'SB_ERR_JOB_FAILED', retryable: false, poison: false,
      message: `gave up after ${attempt} attempts; last error ${outcome.code}: ${outcome.message}`.slice(0, 2000),
    };
    await this.deadLetter(d, this.finalRecord(d, gaveUp, run), 'max_attempts', outcome.code);
    return 'dead';
  }

  onCancel(fn: (id: string) => void): () => void {
    const sub = this.store.nc.subscribe(`${CANCEL_SUBJECT_PREFIX}*`, {
      callback: (_e, msg) => fn(msg.subject.slice(CANCEL_SUBJECT_PREFIX.length)),
    });
    this.cancelSubs.add(sub);
    return () => {
      this.cancelSubs.delete(sub);
      if (!this.store.nc.isClosed()) sub.unsubscribe();
    };
  }

  async putWorker(info: WorkerInfo): Promise<void> {
    await this.store.workers.put(info.id, JSON.stringify(info)).catch((e: unknown) => { throw toBackboneError(e); });
  }

  async removeWorker(id: string): Promise<void> {
    await this.store.workers.delete(id).catch((e: unknown) => { throw toBackboneError(e); });
  }

  // ---- settling ----

  /**
   * Completion order: (1) the final record, which is also the result event; (2) the core reply; (3) ack
   * or term. A job that already has a final record (cancelled before it started, or recorded by an
   * earlier run) keeps it: the reply carries that one.
   */
  private async finish(d: JobDelivery, rec: JobResult, settle: '+ACK' | '+TERM'): Promise<void> {
    const bytes = await this.storeFinal(rec);
    this.afterResult?.();
    this.endStream(d, bytes);
    this.reply(d, bytes);
    this.store.nc.publish(d.ackSubject, settle === '+ACK' ? VERB.ack : VERB.term);
  }

  /** Writes the final record; resolves the bytes of the record that stands (ours, or the one there first). */
  private async storeFinal(rec: JobResult, alongside?: Promise<void>): Promise<Uint8Array> {
    const bytes = encodeRecord(rec);
    const stored = alongside ? (await Promise.all([this.store.putFinal(rec, bytes), alongside]))[0] : await this.store.putFinal(rec, bytes);
    if (stored) return bytes;
    const won = await this.store.readFinal(rec.id);
    this.log.info({ id: rec.id, status: won?.record.status }, 'job already had a final record; it stands');
    return won ? encodeRecord(won.record) : bytes;
  }

  // A delivery whose final record is stored: the record is the event already, so only the reply and the ack.
  private notifyAndSettle(d: JobDelivery, bytes: Uint8Array): void {
    this.reply(d, bytes);
    this.store.nc.publish(d.ackSubject, VERB.ack);
  }

  private async deadLetter(d: JobDelivery, rec: JobResult, reason: JobDeadLetterReason, lastCode: string): Promise<void> {
    const h = natsHeaders();
    h.set(HEADERS.dlqReason, reason);
    h.set(HEADERS.contentType, 'application/json');
    h.set(JOB_HEADERS.jobId, d.envelope.id);
    h.set(JOB_HEADERS.jobType, d.envelope.type);
    h.set(JOB_HEADERS.attempts, String(d.envelope.attempt));
    h.set(JOB_HEADERS.errorCode, lastCode);
    // The copy is stored before the original is termed; both stores go out at once.
    const bytes = await this.storeFinal(rec, this.store.publishDeadLetter(d.envelope.id, d.data, h));
    this.afterResult?.();
    this.endStream(d, bytes);
    this.reply(d, bytes);
    this.store.nc.publish(d.ackSubject, VERB.term);
    this.log.warn({ id: rec.id, type: rec.type, reason, code: lastCode, attempts: d.envelope.attempt }, 'job dead-lettered');
  }

  // A streaming job's end message goes out before the reply, on the same connection, so a reader
  // has every chunk and the end by the time the reply arrives.
  private endStream(d: JobDelivery, bytes: Uint8Array): void {
    if (d.streamTo === undefined) return;
    const s = this.senders.get(d.envelope.id);
    this.senders.delete(d.envelope.id);
    // No sender: settled before the handler ran, so nothing was sent by this delivery.
    if (s) s.end(bytes);
    else publishEnd(this.store.nc, d.streamTo, 1, bytes);
  }

  private reply(d: JobDelivery, bytes: Uint8Array): void {
    // Fire-and-forget: a waiter that misses it reads the record at its timeout.
    if (d.replyTo) this.store.nc.publish(d.replyTo, bytes);
  }

  private nak(d: JobDelivery, delayMs: number): void {
    this.store.nc.publish(d.ackSubject, nakWithDelay(Math.max(MIN_NAK_DELAY_MS, delayMs)));
  }

  private recordBase(d: JobDelivery): JobRecord {
    const e = d.envelope;
    const rec: JobRecord = { id: e.id, type: e.type, status: 'queued', attempt: e.attempt, principal: e.principal, submittedAt: e.submittedAt };
    if (d.handbacks > 0) rec.handbacks = d.handbacks;
    return rec;
  }

  private finalRecord(d: JobDelivery, outcome: Exclude<JobOutcome, { kind: 'shutdown' }>, run: { workerId: string; startedAt: number }): JobResult {
    const e = d.envelope;
    const now = Date.now();
    // One literal with every field in a fixed order (this runs once per job; the profile noticed spreads).
    const rec: JobResult = {
      id: e.id, type: e.type, status: 'succeeded', output: undefined, error: undefined,
      durationMs: now - run.startedAt, worker: run.workerId, attempt: e.attempt, principal: e.principal, submittedAt: e.submittedAt,
      startedAt: new Date(run.startedAt).toISOString(), finishedAt: new Date(now).toISOString(),
    };
    if (d.handbacks > 0) rec.handbacks = d.handbacks;
    switch (outcome.kind) {
      case 'succeeded':
        rec.output = outcome.output;
        break;
      case 'failed':
        rec.status = 'failed';
        rec.error = { code: outcome.code, message: outcome.message, retryable: outcome.retryable };
        break;
      case 'timed_out':
        rec.status = 'timed_out';
        rec.error = { code: 'SB_ERR_JOB_TIMED_OUT', message: `the job passed its deadline ${e.deadline}`, retryable: false };
        break;
      case 'cancelled':
        rec.status = 'cancelled';
        rec.error = { code: 'SB_ERR_JOB_CANCELLED', message: 'the job was cancelled while it ran', retryable: false };
        break;
    }
    return rec;
  }

  // ---- parsing ----

  private parse(type: string, msg: Msg, ack: AckSubject): JobDelivery | undefined {
    let env: JobEnvelope | undefined;
    try {
      const v = JSON.parse(dec.decode(msg.data)) as JobEnvelope;
      // The id and type go into header values of the final record: a well-formed id, and the type the
      // message was published for.
      if (v && typeof v.id === 'string' && JOB_ID_RE.test(v.id) && v.type === type && typeof v.deadline === 'string') env = v;
    } catch {
      env = undefined;
    }
    if (!env) {
      // Not ours (someone published on sb.job.* by hand): keep a copy, never run it.
      void this.malformed(msg, ack).catch((err: unknown) => this.log.error({ err, seq: ack.streamSeq }, 'malformed job could not be dead-lettered'));
      return undefined;
    }
    // One pass over the headers: nats.js's headers.get() builds and filters a key array on every call.
    let replyTo: string | undefined;
    let streamTo: string | undefined;
    let window: string | undefined;
    if (msg.headers) {
      for (const [k, vs] of msg.headers) {
        if (k === JOB_HEADERS.replyTo) replyTo = vs[0] || undefined;
        else if (k === JOB_HEADERS.streamTo) streamTo = vs[0] || undefined;
        else if (k === JOB_HEADERS.streamWindow) window = vs[0];
      }
    }
    return {
      envelope: env,
      // nats.js hands out views into its read buffer: copy (dead letters carry these bytes much later).
      data: new Uint8Array(msg.data),
      ackSubject: ack.subject,
      replyTo,
      deliveryCount: ack.deliveryCount,
      storedAt: storedAtMs(ack),
      handbacks: 0,
      streamTo,
      streamWindow: streamWindowOf(window),
    };
  }

  private async malformed(msg: Msg, ack: AckSubject): Promise<void> {
    const h = natsHeaders();
    h.set(HEADERS.dlqReason, 'malformed');
    h.set(JOB_HEADERS.jobType, msg.subject.slice(jobSubject('').length));
    await this.store.publishDeadLetter(`seq${ack.streamSeq}`, new Uint8Array(msg.data), h);
    this.store.nc.publish(ack.subject, VERB.term);
  }
}

/**
 * A streaming job is never retried nor handed back: its reader cannot take the items again. A
 * retryable failure fails now (its code kept); a drain's hand-back fails SB_ERR_STREAM_BROKEN.
 */
function streamedOutcome(o: JobOutcome): JobOutcome {
  if (o.kind === 'shutdown') return { kind: 'failed', code: 'SB_ERR_STREAM_BROKEN', message: 'the worker stopped while streaming; a streamed job is not handed back', retryable: false, poison: false };
  if (o.kind === 'failed' && o.retryable && !o.poison) return { ...o, retryable: false };
  return o;
}
