/**
 * Where jobs live: the work-queue stream, the results KV bucket (job records), the worker registry
 * bucket and the two topics (result events, dead letters). Created or found at broker start, so every
 * process can submit, run and read jobs without a setup step. Record writes go through the fast
 * {@link Publisher} (a KV put is a publish on `$KV.<bucket>.<key>`): one PubAck, no per-call inbox.
 */
import { createInbox, headers as natsHeaders, nanos, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { ProcessConfig } from '../schemas/config.js';
import type { JobRecord, WorkerInfo } from '../schemas/job.js';
import { HEADERS } from '../schemas/message.js';
import type { Logger } from './log.js';
import type { Publisher } from './publisher.js';
import type { StreamTopicManager } from './topics.js';
import { errors, isSbError, SbError } from './errors.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';
import { topicSubject } from './subjects.js';
import { JOB_HEADERS, JOB_SUBJECT_PREFIX, kvSubject } from './jobs-names.js';

/** The `jobs` section of the process config. */
export type JobsSettings = ProcessConfig['jobs'];

/** Registry entries outlive their writer by this much at most (3 heartbeats are what counts as alive). */
const WORKERS_TTL_MS = 60_000;
const enc = new TextEncoder();

/** A record and its KV revision (for compare-and-set). */
export interface StoredRecord {
  record: JobRecord;
  revision: number;
}

/** JSON bytes of a record, encoded once and reused for the KV write, the event and the reply. */
export function encodeRecord(rec: JobRecord): Uint8Array {
  return enc.encode(JSON.stringify(rec));
}

/** The stream, buckets and topics of the job pipeline, and record reads/writes on them. */
export class JobStore {
  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly publisher: Publisher,
    readonly settings: JobsSettings,
    readonly results: KV,
    readonly workers: KV,
    private readonly log: Logger,
    private readonly reader: DirectReader,
  ) {}

  /** Finds or creates everything (idempotent: another process may be doing the same right now). */
  static async open(nc: NatsConnection, jsm: JetStreamManager, publisher: Publisher, topics: StreamTopicManager, settings: JobsSettings, log: Logger, timeoutMs: number): Promise<JobStore> {
    await ensureStream(jsm, settings);
    const kvm = new Kvm(nc);
    const results = await openBucket(kvm, settings.resultsBucket, settings.resultTtlMs);
    const workers = await openBucket(kvm, settings.workersBucket, WORKERS_TTL_MS);
    const ensureTopic = (name: string, maxAgeMs?: number) =>
      topics.create({ name, ...(maxAgeMs ? { retention: { maxAgeMs } } : {}) }).catch((e: unknown) => {
        if (!isSbError(e, 'SB_ERR_TOPIC_EXISTS')) throw e;
      });
    // Result events are only interesting while the records exist; dead letters stay until someone deals with them.
    await ensureTopic(settings.resultsTopic, settings.resultTtlMs);
    await ensureTopic(settings.deadTopic);
    return new JobStore(nc, jsm, publisher, settings, results, workers, log, new DirectReader(nc, timeoutMs));
  }

  /**
   * The record of job `id` with its revision, or undefined. A raw direct get on one shared inbox (the
   * worker reads before every run): nats.js's kv.get() costs a request object and an error with a
   * stack per call, which showed in the profile of a no-op drain.
   */
  read(id: string): Promise<StoredRecord | undefined> {
    // Job ids are [0-9A-Za-z] (JOB_ID_PATTERN; checked by callers that take ids from outside), so no escaping is needed.
    return this.reader.get(`$JS.API.DIRECT.GET.KV_${this.settings.resultsBucket}`, `{"last_by_subj":"${kvSubject(this.settings.resultsBucket, id)}"}`);
  }

  /**
   * Every live entry of the workers bucket. Not `kv.keys()`: its ordered consumer hung now and then
   * (never returned) while heartbeats were being written; the stream's subject list plus one direct
   * get per subject has no consumer to get stuck.
   */
  async listWorkers(): Promise<WorkerInfo[]> {
    const stream = `KV_${this.settings.workersBucket}`;
    const info = await this.jsm.streams.info(stream, { subjects_filter: `$KV.${this.settings.workersBucket}.>` });
    const subjects = Object.keys(info.state.subjects ?? {});
    const got = await Promise.all(subjects.map((subj) => this.reader.get(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ last_by_subj: subj }))));
    return got.flatMap((g) => (g ? [g.record as unknown as WorkerInfo] : []));
  }

  /** Overwrites the record (the worker's writes: running, final). */
  async put(id: string, bytes: Uint8Array): Promise<number> {
    const ack = await this.publisher.send(kvSubject(this.settings.resultsBucket, id), bytes);
    return ack.seq;
  }

  /**
   * Writes only if the key has no record (`revision` 0) or still has `revision`. Resolves false when
   * someone else wrote first (JetStream's "wrong last sequence"), so the caller re-reads.
   */
  async compareAndSet(id: string, bytes: Uint8Array, revision: number): Promise<boolean> {
    const h = natsHeaders();
    h.set('Nats-Expected-Last-Subject-Sequence', String(revision));
    try {
      await this.publisher.send(kvSubject(this.settings.resultsBucket, id), bytes, h);
      return true;
    } catch (e) {
      if (isWrongLastSequence(e)) return false;
      throw e;
    }
  }

  /** Deletes a queued job message from the jobs stream; a message already gone (acked, termed) is fine. */
  async removeJob(seq: number): Promise<void> {
    try {
      await this.jsm.streams.deleteMessage(this.settings.stream, seq, false);
    } catch (e) {
      // 2.9 answers every failed delete with err_code 10057; only its description tells "already gone".
      if (!/no message found|not found/i.test((e as Error).message ?? '')) this.log.warn({ err: e, seq }, 'queued job not removed from the stream');
    }
  }

  /** Publishes the result event of a final record on the results topic (type, id and status as headers). */
  async publishEvent(rec: JobRecord, bytes: Uint8Array): Promise<void> {
    const h = natsHeaders();
    h.set(JOB_HEADERS.jobId, rec.id);
    h.set(JOB_HEADERS.jobType, rec.type);
    h.set(JOB_HEADERS.jobStatus, rec.status);
    await this.publisher.send(this.resultsSubject, bytes, h);
  }

  /** Stores a dead-letter copy (body unchanged); deduplicated per job id. */
  async publishDeadLetter(id: string, body: Uint8Array, hdrs: MsgHdrs): Promise<void> {
    hdrs.set(HEADERS.natsMsgId, `jobdlq:${id}`);
    await this.publisher.send(topicSubject(this.settings.deadTopic), body, hdrs);
  }

  /** The core subject result events are published on (a core subscription sees them too). */
  get resultsSubject(): string {
    return topicSubject(this.settings.resultsTopic);
  }

  /** Stops the reader (fails reads in flight). */
  close(): void {
    this.reader.close();
  }
}

interface PendingRead {
  resolve: (r: StoredRecord | undefined) => void;
  reject: (e: SbError) => void;
  deadline: number;
}

/** Direct gets (`$JS.API.DIRECT.GET`) over one wildcard inbox, deadlines swept by one timer. */
class DirectReader {
  private readonly prefix = createInbox();
  private readonly pending = new Map<string, PendingRead>();
  private readonly sub: Subscription;
  private counter = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly nc: NatsConnection, private readonly timeoutMs: number) {
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (_e, msg) => this.onReply(msg) });
  }

  get(subject: string, body: string): Promise<StoredRecord | undefined> {
    if (this.nc.isClosed()) return Promise.reject(new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing'));
    const token = String(++this.counter);
    return new Promise((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      this.sweeper ??= setInterval(() => this.sweep(), Math.max(10, Math.min(100, Math.floor(this.timeoutMs / 4))));
      try {
        this.nc.publish(subject, body, { reply: `${this.prefix}.${token}` });
      } catch (e) {
        this.pending.delete(token);
        reject(errors.backboneUnavailable(e));
      }
    });
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const p of this.pending.values()) p.reject(new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing'));
    this.pending.clear();
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length + 1);
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    const code = msg.headers?.code ?? 0;
    // 404: no such key (never written, or expired). Other statuses: the backbone is not answering properly.
    if (code === 404) return p.resolve(undefined);
    if (code >= 300) return p.reject(errors.backboneUnavailable(new Error(`direct get: ${code} ${msg.headers?.description ?? ''}`)));
    const op = msg.headers?.get('KV-Operation');
    if (op === 'DEL' || op === 'PURGE' || msg.data.length === 0) return p.resolve(undefined);
    try {
      p.resolve({ record: msg.json<JobRecord>(), revision: Number(msg.headers?.get('Nats-Sequence') ?? 0) });
    } catch (e) {
      p.reject(errors.internal(e));
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(token);
      p.reject(errors.backboneUnavailable(new Error('direct get timed out')));
    }
    if (this.pending.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

/** True when a conditional write failed because the key moved on (JetStream err_code 10071). */
export function isWrongLastSequence(e: unknown): boolean {
  if (jsErrCode(e) === JS_ERR.wrongLastSequence) return true;
  const cause = e instanceof SbError ? e.cause : undefined;
  return cause instanceof Error && /jetstream 10071\b/.test(cause.message);
}

// The shared NATS may be 2.9.10: no metadata, no multiple filters. Work-queue retention means a message
// leaves the stream when acked or termed, and consumer filters must not overlap (one per type, exact).
async function ensureStream(jsm: JetStreamManager, s: JobsSettings): Promise<void> {
  try {
    await jsm.streams.info(s.stream);
    return;
  } catch (e) {
    if (jsErrCode(e) !== JS_ERR.streamNotFound) throw toBackboneError(e);
  }
  try {
    await jsm.streams.add({
      name: s.stream,
      subjects: [`${JOB_SUBJECT_PREFIX}>`],
      retention: 'workqueue' as never,
      storage: 'file' as never,
      duplicate_window: nanos(s.dedupWindowMs),
      num_replicas: 1,
    });
  } catch (e) {
    // Created by another process in the meantime: fine. Anything else (e.g. subjects owned by another stream) is not.
    if (jsErrCode(e) === JS_ERR.streamNameInUse) return;
    if (jsErrCode(e) === JS_ERR.subjectsOverlap) throw errors.internal(new Error(`another stream already captures ${JOB_SUBJECT_PREFIX}>`));
    throw toBackboneError(e);
  }
}

async function openBucket(kvm: Kvm, bucket: string, ttlMs: number): Promise<KV> {
  try {
    // Finds an existing bucket as it is (another process created it); creates it otherwise.
    return await kvm.create(bucket, { history: 1, ttl: ttlMs });
  } catch (e) {
    try {
      return await kvm.open(bucket);
    } catch {
      throw toBackboneError(e);
    }
  }
}
