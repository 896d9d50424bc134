/**
 * Where jobs live: the work-queue stream, the job-state KV bucket (records before they are final), the
 * results topic's stream (final records, one per job, on `sb.jobres.<id>`: the record and the result
 * event are one message), the worker registry bucket and the dead-letter topic. Created or found at
 * broker start, so every process can submit, run and read jobs without a setup step. Writes go through
 * the fast {@link Publisher}: one PubAck, no per-call inbox.
 */
import { createInbox, headers as natsHeaders, nanos, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { MsgHdrsImpl } from '@nats-io/nats-core/internal';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { ProcessConfig } from '../schemas/config.js';
import type { JobRecord, WorkerInfo } from '../schemas/job.js';
import { HEADERS } from '../schemas/message.js';
import type { Logger } from './log.js';
import type { Publisher } from './publisher.js';
import type { StreamTopicManager } from './topics.js';
import { topicStreamName } from './topics.js';
import { errors, isSbError, SbError } from './errors.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';
import { topicSubject } from './subjects.js';
import { JOB_HEADERS, JOB_SUBJECT_PREFIX, RESULT_SUBJECT_PREFIX, kvSubject, resultSubject } from './jobs-names.js';

/** The `jobs` section of the process config. */
export type JobsSettings = ProcessConfig['jobs'];

/** Registry entries outlive their writer by this much at most (3 heartbeats are what counts as alive). */
const WORKERS_TTL_MS = 60_000;
const enc = new TextEncoder();
const EXPECT_NEW = 'Nats-Expected-Last-Subject-Sequence';

/** A record as read back. */
export interface StoredRecord {
  record: JobRecord;
}

/** JSON bytes of a record, encoded once and reused for the write and the reply. */
export function encodeRecord(rec: JobRecord): Uint8Array {
  return enc.encode(JSON.stringify(rec));
}

/**
 * Headers from key, value, key, value, … whose keys are our constants and whose values cannot hold a
 * line break (job ids, validated type names, statuses). nats.js's `set` validates and searches the keys
 * on every call, which showed in a no-op drain's profile at six headers per final record.
 */
function trustedHeaders(...kv: string[]): MsgHdrs {
  const h = natsHeaders() as MsgHdrsImpl;
  for (let i = 0; i + 1 < kv.length; i += 2) h.headers.set(kv[i] as string, [kv[i + 1] as string]);
  return h;
}

/** The stream, buckets and topics of the job pipeline, and record reads/writes on them. */
export class JobStore {
  private readonly resultsStream: string;

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly publisher: Publisher,
    readonly settings: JobsSettings,
    readonly workers: KV,
    private readonly log: Logger,
    private readonly reader: DirectReader,
  ) {
    this.resultsStream = topicStreamName(settings.resultsTopic);
  }

  /** Finds or creates everything (idempotent: another process may be doing the same right now). */
  static async open(nc: NatsConnection, jsm: JetStreamManager, publisher: Publisher, topics: StreamTopicManager, settings: JobsSettings, log: Logger, timeoutMs: number): Promise<JobStore> {
    await ensureStream(jsm, settings);
    await ensureResultsStream(jsm, settings);
    const kvm = new Kvm(nc);
    await openBucket(kvm, settings.stateBucket, settings.resultTtlMs);
    const workers = await openBucket(kvm, settings.workersBucket, WORKERS_TTL_MS);
    // Dead letters stay until someone deals with them.
    await topics.create({ name: settings.deadTopic }).catch((e: unknown) => {
      if (!isSbError(e, 'SB_ERR_TOPIC_EXISTS')) throw e;
    });
    return new JobStore(nc, jsm, publisher, settings, workers, log, new DirectReader(nc, timeoutMs));
  }

  /**
   * The record of job `id`: the final one if there is one, else the latest state (queued, running), else
   * undefined. Raw direct gets on one shared inbox: nats.js's kv.get() costs a request object and an
   * error with a stack per call, which showed in the profile of a no-op drain.
   */
  async read(id: string): Promise<StoredRecord | undefined> {
    return (await this.readFinal(id)) ?? this.readState(id);
  }

  /** The final record of job `id`, if one was stored. */
  readFinal(id: string): Promise<StoredRecord | undefined> {
    // Job ids are [0-9A-Za-z] (JOB_ID_PATTERN; checked by callers that take ids from outside), so no escaping is needed.
    return this.reader.get(`$JS.API.DIRECT.GET.${this.resultsStream}`, `{"last_by_subj":"${resultSubject(id)}"}`);
  }

  /** The latest non-final record of job `id` (queued, running), if any. */
  readState(id: string): Promise<StoredRecord | undefined> {
    return this.reader.get(`$JS.API.DIRECT.GET.KV_${this.settings.stateBucket}`, `{"last_by_subj":"${kvSubject(this.settings.stateBucket, id)}"}`);
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

  /** Overwrites the job's state record (queued with hand-backs, running). */
  async putState(id: string, bytes: Uint8Array): Promise<void> {
    await this.publisher.send(kvSubject(this.settings.stateBucket, id), bytes);
  }

  /** Writes the first state record of a job; false when it already has one (a worker was faster). */
  async createState(id: string, bytes: Uint8Array): Promise<boolean> {
    const h = natsHeaders();
    h.set(EXPECT_NEW, '0');
    return this.sendUnlessExists(kvSubject(this.settings.stateBucket, id), bytes, h);
  }

  /**
   * Stores the final record of a job — which is also its result event on the results topic — unless
   * the job already has one: resolves false then, and the caller reads the one that won. So a job has
   * at most one final record, whoever writes it (a worker, a cancel before the start).
   */
  async putFinal(rec: JobRecord, bytes: Uint8Array): Promise<boolean> {
    // Subscribers of the results topic see the job id as the message id.
    const h = trustedHeaders(
      EXPECT_NEW, '0', HEADERS.msgId, rec.id, JOB_HEADERS.jobId, rec.id, JOB_HEADERS.jobType, rec.type,
      JOB_HEADERS.jobStatus, rec.status, HEADERS.contentType, 'application/json',
    );
    return this.sendUnlessExists(resultSubject(rec.id), bytes, h);
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

  /** Stores a dead-letter copy (body unchanged); deduplicated per job id. */
  async publishDeadLetter(id: string, body: Uint8Array, hdrs: MsgHdrs): Promise<void> {
    hdrs.set(HEADERS.natsMsgId, `jobdlq:${id}`);
    await this.publisher.send(topicSubject(this.settings.deadTopic), body, hdrs);
  }

  /** Stops the reader (fails reads in flight). */
  close(): void {
    this.reader.close();
  }

  private async sendUnlessExists(subject: string, bytes: Uint8Array, h: MsgHdrs): Promise<boolean> {
    try {
      await this.publisher.send(subject, bytes, h);
      return true;
    } catch (e) {
      if (isWrongLastSequence(e)) return false;
      throw e;
    }
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
      p.resolve({ record: msg.json<JobRecord>() });
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

/**
 * The results topic's stream, capturing its topic subject (first: that is how streams are read back as
 * topics) and `sb.jobres.>`, the final records. Direct gets read a record by subject; subscriptions to
 * the topic (consumers without a filter) see every final record as the result event. A stream made by
 * an older version (topic subject only) is extended in place.
 */
async function ensureResultsStream(jsm: JetStreamManager, s: JobsSettings): Promise<void> {
  const name = topicStreamName(s.resultsTopic);
  const subjects = [topicSubject(s.resultsTopic), `${RESULT_SUBJECT_PREFIX}>`];
  for (let i = 0; i < 3; i++) {
    let cfg: StreamConfig | undefined;
    try {
      cfg = (await jsm.streams.info(name)).config;
    } catch (e) {
      if (jsErrCode(e) !== JS_ERR.streamNotFound) throw toBackboneError(e);
    }
    try {
      if (!cfg) {
        await jsm.streams.add({ name, subjects, storage: 'file' as never, max_age: nanos(s.resultTtlMs), allow_direct: true, num_replicas: 1 });
      } else if (!cfg.allow_direct || !cfg.subjects.includes(subjects[1] as string)) {
        await jsm.streams.update(name, { ...cfg, subjects: [...new Set([...subjects, ...cfg.subjects])], allow_direct: true });
      }
      return;
    } catch (e) {
      // Created by another process in the meantime: look again.
      if (jsErrCode(e) === JS_ERR.streamNameInUse) continue;
      if (jsErrCode(e) === JS_ERR.subjectsOverlap) throw errors.internal(new Error(`another stream already captures ${RESULT_SUBJECT_PREFIX}>`));
      throw toBackboneError(e);
    }
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
