/**
 * The submitting side of jobs ({@link JobClient}): submit into the work-queue stream, wait for results,
 * read records, cancel, list workers. One inbox subscription per process carries every sync reply;
 * waiters register before the publish and fall back to the results KV at their timeout and after a
 * reconnect (docs/jobs.md, "Waiting for a result").
 */
import { createInbox, headers as natsHeaders, nuid, type Msg, type MsgHdrs, type Subscription } from '@nats-io/nats-core';
import type { JobEnvelope, JobRecord, JobResult, WorkerInfo } from '../schemas/job.js';
import { isFinal, JOB_ID_PATTERN } from '../schemas/job.js';
import { HEADERS } from '../schemas/message.js';
import type { Connection } from './connection.js';
import type { ConfigStore, JobAccepted, JobClient, JobStreamOptions, JobStreamReader, JobSubmit } from './types.js';
import type { Logger } from './log.js';
import { errors, isSbError, SbError } from './errors.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';
import { NatsJobStreamReader } from './job-stream.js';
import { CANCEL_SUBJECT_PREFIX, CREDIT_SUBJECT_PREFIX, JOB_HEADERS, RESULT_SUBJECT_PREFIX, idempotentJobId, jobConsumerName, jobSubject, jobTypeKey, validateJobType } from './jobs-names.js';
import { encodeRecord, type JobStore } from './jobs-store.js';

interface Waiter {
  id: string;
  /** Known for jobs this process submitted (a cancel before the first record uses it). */
  type?: string;
  /** Stream sequence of the job message, once stored (own jobs). */
  seq?: number;
  /** Who submitted it (own jobs), so a cancel record stays visible to its submitter. */
  principal?: string;
  expires: number;
  /** Its reply comes on our inbox (we submitted it); false: only the results topic tells us. */
  own: boolean;
  settle: (r: JobResult | undefined) => void;
}

const enc = new TextEncoder();
const idRe = new RegExp(JOB_ID_PATTERN);
/** Ids end up in subjects and KV keys: anything but JOB_ID_PATTERN is simply unknown (no `>` or `.` tricks). */
function validId(id: unknown): id is string {
  return typeof id === 'string' && idRe.test(id);
}
// Wait timers are swept, not one setTimeout per job; a waiter may overrun its wait by up to this much.
const SWEEP_MS = 25;
// A declared type is looked up in the watched config store; a type found only by asking JetStream is cached.
const TYPE_CACHE_MS = 60_000;
/** Entries older than this many heartbeats are not listed by workers(). */
const ALIVE_HEARTBEATS = 3;
const DEFAULT_HEARTBEAT_MS = 5000;

/** {@link JobClient} on the jobs stream and the results bucket. */
export class JsJobClient implements JobClient {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private foreign = 0;
  private tap: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly typesSeen = new Map<string, number>();
  private closed = false;
  private readonly offStatus: () => void;
  /** Streaming jobs read here: chunks come on `<streamInbox>.<id>`, one wildcard subscription, made on first use. */
  private readonly streamInbox = createInbox();
  private streamSub: Subscription | undefined;
  private readonly streams = new Map<string, { reader: NatsJobStreamReader; waiter?: Waiter }>();

  constructor(
    private readonly conn: Connection,
    private readonly store: JobStore,
    private readonly config: ConfigStore,
    private readonly log: Logger,
  ) {
    this.sub = conn.nc.subscribe(`${this.inbox}.*`, { callback: (_e, msg) => this.onReply(msg) });
    let wasDown = false;
    this.offStatus = conn.onStatus((s) => {
      if (s.type === 'connected' && wasDown) this.recheckAll();
      wasDown = s.type !== 'connected' && s.type !== 'heartbeats_missed';
    });
  }

  async submit(job: JobSubmit): Promise<JobAccepted> {
    const { envelope, bytes } = await this.prepare(job);
    if (job.idempotencyKey !== undefined) {
      // Past the stream's dedup window, the record (kept for the result TTL) still says "done already".
      const existing = await this.store.read(envelope.id);
      if (existing) return { id: envelope.id, duplicate: true };
    }
    const { accepted, seq } = await this.publish(envelope, bytes, undefined);
    if (!accepted.duplicate) await this.writeQueued(envelope, seq);
    return accepted;
  }

  async submitAndWait(job: JobSubmit, waitMs: number): Promise<{ accepted: JobAccepted; result?: JobResult }> {
    const { envelope, bytes } = await this.prepare(job);
    const id = envelope.id;
    if (job.idempotencyKey !== undefined) {
      const existing = await this.store.read(id);
      if (existing) {
        const accepted = { id, duplicate: true };
        if (isFinal(existing.record)) return { accepted, result: existing.record };
        const result = await this.wait(id, waitMs);
        return result ? { accepted, result } : { accepted };
      }
    }
    // Registered before the publish: a fast worker's reply must find the waiter.
    let accepted: JobAccepted;
    let seq: number;
    const waiting = this.register(id, waitMs, true, envelope.type);
    try {
      ({ accepted, seq } = await this.publish(envelope, bytes, `${this.inbox}.${id}`));
      waiting.waiter.seq = seq;
      waiting.waiter.principal = envelope.principal;
    } catch (e) {
      this.unregister(waiting.waiter);
      throw e;
    }
    if (accepted.duplicate) {
      // The first submit's reply goes to its own inbox: listen to result events and look at the record now.
      this.makeForeign(waiting.waiter);
      void this.check(id);
    }
    const result = await waiting.promise;
    if (result) return { accepted, result };
    if (!accepted.duplicate) await this.writeQueued(envelope, seq);
    return { accepted };
  }

  async wait(id: string, waitMs: number): Promise<JobResult | undefined> {
    if (!validId(id)) return undefined;
    const w = this.register(id, waitMs, false);
    void this.check(id);
    return w.promise;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    if (!validId(id)) return undefined;
    return (await this.store.read(id))?.record;
  }

  async cancel(id: string, principal: string): Promise<JobRecord> {
    if (!validId(id)) throw errors.jobNotFound(String(id));
    // Every worker listens; the one running the job aborts it (its record ends `cancelled`).
    this.conn.nc.publish(`${CANCEL_SUBJECT_PREFIX}${id}`, enc.encode(principal));
    for (let i = 0; i < 5; i++) {
      const cur = await this.store.read(id);
      if (cur && (isFinal(cur.record) || cur.record.status === 'running')) return cur.record;
      // No record: unknown, unless it is a sync job of ours still waiting (those get a record only at their timeout).
      if (!cur && !this.waiters.has(id)) throw errors.jobNotFound(id);
      const now = new Date().toISOString();
      const mine = [...(this.waiters.get(id) ?? [])].find((w) => w.type);
      const base: JobRecord = cur?.record ?? {
        id, type: mine?.type ?? 'unknown', status: 'queued', ...(mine?.seq ? { seq: mine.seq } : {}), ...(mine?.principal ? { principal: mine.principal } : {}),
      };
      const rec: JobRecord = {
        ...base, status: 'cancelled', finishedAt: now, durationMs: 0,
        error: { code: 'SB_ERR_JOB_CANCELLED', message: `cancelled by ${principal} before it started`, retryable: false },
      };
      // The first final record of a job stands: a worker that runs it anyway (it missed the cancel
      // broadcast) cannot overwrite this one, and one that finished first makes this write fail.
      if (await this.store.putFinal(rec, encodeRecord(rec))) {
        // Take the job out of the queue as well.
        if (base.seq !== undefined) await this.store.removeJob(base.seq);
        this.deliver(id, rec as JobResult);
        return rec;
      }
    }
    throw errors.backboneUnavailable(new Error('job record kept changing during cancel'));
  }

  stream(job: JobSubmit, opts: JobStreamOptions = {}): JobStreamReader {
    return new NatsJobStreamReader(opts, {
      credit: (id, upTo) => {
        if (!this.conn.nc.isClosed()) this.conn.nc.publish(`${CREDIT_SUBJECT_PREFIX}${id}`, enc.encode(JSON.stringify({ upTo })));
      },
      cancel: (id) => this.cancel(id, job.principal),
      read: (id) => this.get(id),
      closed: (id) => {
        const s = this.streams.get(id);
        this.streams.delete(id);
        if (s?.waiter) this.unregister(s.waiter);
      },
    }, (reader) => this.startStream(job, reader));
  }

  // Like submitAndWait: the routes (stream inbox entry, result waiter) exist before the publish.
  private async startStream(job: JobSubmit, reader: NatsJobStreamReader): Promise<JobAccepted> {
    const { envelope, bytes } = await this.prepare(job);
    const id = envelope.id;
    if (this.streams.has(id)) throw errors.validation(`job ${id} is already being streamed here`);
    reader.bind(id);
    this.streamSub ??= this.conn.nc.subscribe(`${this.streamInbox}.*`, {
      callback: (_e, msg) => this.streams.get(msg.subject.slice(this.streamInbox.length + 1))?.reader.onMessage(msg),
    });
    // The waiter brings the final record when no end message does (cancelled before it ran, re-notified);
    // it lives until a little past the job's deadline.
    const waitMs = Date.parse(envelope.deadline) - Date.now() + 5000;
    const waiting = this.register(id, waitMs, true, envelope.type);
    const entry = { reader, waiter: waiting.waiter };
    this.streams.set(id, entry);
    void waiting.promise.then((r) => { if (r) reader.onRecord(r); });
    let accepted: JobAccepted;
    try {
      const extra = { [JOB_HEADERS.streamTo]: `${this.streamInbox}.${id}`, [JOB_HEADERS.streamWindow]: String(reader.window) };
      let seq: number;
      ({ accepted, seq } = await this.publish(envelope, bytes, `${this.inbox}.${id}`, extra));
      waiting.waiter.seq = seq;
      waiting.waiter.principal = envelope.principal;
    } catch (e) {
      this.dropStream(id, entry);
      throw e;
    }
    if (accepted.duplicate) {
      // The first submit's worker streams to its own reader: this one cannot be served.
      this.dropStream(id, entry);
      throw new SbError('SB_ERR_STREAM_BROKEN', `job ${id} was submitted before (same idempotency key); its stream cannot be read twice`, { data: { id } });
    }
    return accepted;
  }

  private dropStream(id: string, entry: { waiter?: Waiter }): void {
    if (this.streams.get(id) === entry) this.streams.delete(id);
    if (entry.waiter) this.unregister(entry.waiter);
  }

  async workers(): Promise<WorkerInfo[]> {
    const out: WorkerInfo[] = [];
    const now = Date.now();
    try {
      for (const info of await this.store.listWorkers()) {
        const every = info.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
        if (now - Date.parse(info.seenAt) <= ALIVE_HEARTBEATS * every) out.push(info);
      }
    } catch (e) {
      throw toBackboneError(e);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Fails every waiter with SB_ERR_SHUTTING_DOWN and drops the subscriptions. */
  close(): void {
    this.closed = true;
    this.offStatus();
    if (this.sweeper) clearInterval(this.sweeper);
    for (const set of this.waiters.values()) for (const w of set) w.settle(undefined);
    this.waiters.clear();
    for (const s of [...this.streams.values()]) s.reader.fail(new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing'));
    this.streams.clear();
    if (!this.conn.nc.isClosed()) {
      this.sub.unsubscribe();
      this.tap?.unsubscribe();
      this.streamSub?.unsubscribe();
    }
  }

  // ---- submit helpers ----

  private async prepare(job: JobSubmit): Promise<{ envelope: JobEnvelope; bytes: Uint8Array }> {
    if (this.closed) throw new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing');
    validateJobType(job.type);
    const timeoutMs = job.timeoutMs ?? this.store.settings.defaultTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw errors.validation('timeoutMs must be a positive integer', { timeoutMs });
    if (job.idempotencyKey !== undefined && (typeof job.idempotencyKey !== 'string' || job.idempotencyKey.length === 0 || job.idempotencyKey.length > 256)) {
      throw errors.validation('idempotencyKey must be 1-256 characters');
    }
    await this.checkDeclared(job.type);
    const now = Date.now();
    const envelope: JobEnvelope = {
      id: job.idempotencyKey === undefined ? nuid.next() : idempotentJobId(job.principal, job.type, job.idempotencyKey),
      type: job.type,
      input: job.input,
      principal: job.principal,
      deadline: new Date(now + timeoutMs).toISOString(),
      attempt: 1,
      ...(job.idempotencyKey === undefined ? {} : { idempotencyKey: job.idempotencyKey }),
      submittedAt: new Date(now).toISOString(),
    };
    return { envelope, bytes: enc.encode(JSON.stringify(envelope)) };
  }

  // Workers declare their types at start (config key `jobtype.<type>`, watched, so this is a map lookup).
  // A miss asks JetStream whether the type's consumer exists (a declaration still on its way here).
  private async checkDeclared(type: string): Promise<void> {
    if (this.config.get(jobTypeKey(type)) !== undefined) return;
    const seen = this.typesSeen.get(type);
    if (seen !== undefined && Date.now() - seen < TYPE_CACHE_MS) return;
    try {
      await this.store.jsm.consumers.info(this.store.settings.stream, jobConsumerName(type));
      this.typesSeen.set(type, Date.now());
    } catch (e) {
      if (jsErrCode(e) === JS_ERR.consumerNotFound || jsErrCode(e) === JS_ERR.streamNotFound) throw errors.jobTypeNotFound(type);
      throw toBackboneError(e);
    }
  }

  private async publish(envelope: JobEnvelope, bytes: Uint8Array, replyTo: string | undefined, extra?: Record<string, string>): Promise<{ accepted: JobAccepted; seq: number }> {
    // Only the headers a job needs, often none: a header block is parsed by nats-server on the way in
    // and by the worker on the way out. The body is always the JSON envelope (no Content-Type needed).
    let h: MsgHdrs | undefined;
    // Dedup only helps an id that can be submitted again: one derived from an idempotency key. A fresh
    // nuid never is (nothing re-publishes a job), and every dedup entry costs nats-server work and memory.
    if (envelope.idempotencyKey !== undefined) (h ??= natsHeaders()).set(HEADERS.natsMsgId, envelope.id);
    if (replyTo) (h ??= natsHeaders()).set(JOB_HEADERS.replyTo, replyTo);
    if (extra) for (const [k, v] of Object.entries(extra)) (h ??= natsHeaders()).set(k, v);
    try {
      const ack = await this.store.publisher.send(jobSubject(envelope.type), bytes, h);
      return { accepted: { id: envelope.id, duplicate: ack.duplicate }, seq: ack.seq };
    } catch (e) {
      // "No responders": the jobs stream is gone (deleted by hand); nothing was stored.
      throw isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND') ? errors.backboneUnavailable(e) : e;
    }
  }

  // `create` never overwrites: a worker that already wrote `running` or a final record wins.
  private async writeQueued(env: JobEnvelope, seq: number): Promise<void> {
    const rec: JobRecord = { id: env.id, type: env.type, status: 'queued', principal: env.principal, submittedAt: env.submittedAt, seq };
    await this.store.createState(env.id, encodeRecord(rec)).catch((err: unknown) => {
      this.log.warn({ err, id: env.id }, 'queued record not written; the job is stored and will run');
    });
  }

  // ---- waiters ----

  private register(id: string, waitMs: number, own: boolean, type?: string): { waiter: Waiter; promise: Promise<JobResult | undefined> } {
    let settle!: (r: JobResult | undefined) => void;
    const promise = new Promise<JobResult | undefined>((resolve) => { settle = resolve; });
    const waiter: Waiter = { id, expires: Date.now() + Math.max(0, waitMs), own: true, settle, ...(type ? { type } : {}) };
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(waiter);
    if (!own) this.makeForeign(waiter);
    waiter.settle = (r) => {
      this.unregister(waiter);
      settle(r);
    };
    this.armSweeper();
    return { waiter, promise };
  }

  private unregister(w: Waiter): void {
    const set = this.waiters.get(w.id);
    if (!set?.delete(w)) return;
    if (set.size === 0) this.waiters.delete(w.id);
    if (!w.own && --this.foreign === 0 && this.tap) {
      this.tap.unsubscribe();
      this.tap = undefined;
    }
  }

  // Results of jobs submitted elsewhere arrive only as their final records: a core subscription on
  // `sb.jobres.*`, held only while such waiters exist.
  private makeForeign(w: Waiter): void {
    if (!w.own) return;
    w.own = false;
    this.foreign++;
    this.tap ??= this.conn.nc.subscribe(`${RESULT_SUBJECT_PREFIX}*`, {
      callback: (_e, msg) => this.onResult(msg.subject.slice(RESULT_SUBJECT_PREFIX.length), msg),
    });
  }

  private onReply(msg: Msg): void {
    this.onResult(msg.subject.slice(this.inbox.length + 1), msg);
  }

  private onResult(id: string, msg: Msg): void {
    if (!this.waiters.has(id)) return;
    let rec: JobRecord;
    try {
      rec = msg.json<JobRecord>();
    } catch {
      return;
    }
    if (isFinal(rec)) this.deliver(id, rec);
  }

  private deliver(id: string, rec: JobResult): void {
    for (const w of [...(this.waiters.get(id) ?? [])]) w.settle(rec);
  }

  /** Reads the record once and hands a final one to the waiters of `id`. */
  private async check(id: string): Promise<void> {
    try {
      const cur = await this.store.read(id);
      if (cur && isFinal(cur.record)) this.deliver(id, cur.record);
    } catch (err) {
      this.log.debug({ err, id }, 'result check failed');
    }
  }

  // A reply published while we were disconnected is lost: look at the records once.
  private recheckAll(): void {
    for (const id of this.waiters.keys()) void this.check(id);
  }

  private armSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
  }

  private sweep(): void {
    const now = Date.now();
    for (const set of this.waiters.values()) {
      for (const w of set) if (w.expires <= now) this.expire(w);
    }
    if (this.waiters.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  // At its timeout a waiter looks at the record once: the reply may have been lost.
  private expire(w: Waiter): void {
    w.expires = Number.POSITIVE_INFINITY;
    this.store.read(w.id).then(
      (cur) => w.settle(cur && isFinal(cur.record) ? cur.record : undefined),
      () => w.settle(undefined),
    );
  }
}
