/**
 * The broker's public contract. Gateways, security, workers and the CLI see the backbone only
 * through these interfaces; `createBroker()` in `broker/broker.ts` implements them on NATS JetStream.
 */
import type { TopicInfo, TopicSpec, TopicUpdate } from '../schemas/topic.js';
import type { SubscriptionInfo, SubscriptionSpec } from '../schemas/subscription.js';
import type { PublishResult } from '../schemas/message.js';
import type { SbError } from './errors.js';
import type { JobRecord, JobResult, WorkerInfo } from '../schemas/job.js';

/** Connection state of the backbone, as a discriminated union (STYLE §11). */
export type BackboneStatus =
  | { type: 'connected'; server: string }
  | { type: 'reconnecting'; attempt: number }
  | { type: 'disconnected'; reason?: string }
  | { type: 'heartbeats_missed'; count: number }
  | { type: 'closed'; reason?: string };

/** One message to publish. `data` is stored byte for byte. */
export interface PublishRequest {
  topic: string;
  data: Uint8Array;
  /** MIME type; default `application/octet-stream`. */
  contentType?: string;
  /** Dedup key: a second publish with the same key inside the topic's dedup window is not stored again. */
  idempotencyKey?: string;
  correlationId?: string;
  replyTo?: string;
  /** 0–9, default 5 (stored as a header; lanes come later). */
  priority?: number;
  /** ISO time after which the message should not be delivered. */
  expiresAt?: string;
  /** The principal that published; set by the gateway, never by the client. */
  publisher?: string;
  traceparent?: string;
  /**
   * Extra envelope headers (bridge metadata such as `Kafka-Partition`). The fields above win over
   * same-named ones; `Nats-*`, `Sb-Msg-Id` and `Sb-Publisher` are refused (SB_ERR_VALIDATION): they
   * decide dedup and identity.
   */
  headers?: Record<string, string>;
}

/** A message handed to a subscriber. `ackToken` is opaque and valid on any replica. */
export interface DeliveredMessage {
  id: string;
  topic: string;
  seq: number;
  deliveryCount: number;
  publishedAt: string;
  headers: Record<string, string>;
  contentType: string;
  data: Uint8Array;
  ackToken: string;
}

/** A topic message tapped off the wire (core NATS): no seq and no ack token. */
export type TappedMessage = Omit<DeliveredMessage, 'ackToken' | 'seq'>;

/** One signal as received (broker/signals.ts). */
export interface Signal {
  /** The signal's name (`a.b` for subject `sb.sig.a.b`). */
  name: string;
  data: Uint8Array;
  headers: Record<string, string>;
  /** Set when the sender gathers answers: sends one back. */
  reply?: (data: Uint8Array) => void;
}

export interface SignalHandle {
  unsubscribe(): void;
}

/**
 * Core NATS on the process's connection: at most once, never stored, every subscriber gets every
 * signal. For what must reach every replica now and need not survive (WebSocket broadcast, presence,
 * live taps); never for what must not be lost.
 */
export interface SignalBus {
  /** Fire and forget. Throws SB_ERR_BACKBONE_UNAVAILABLE while disconnected (nothing queues behind a dead socket). */
  emit(name: string, data: Uint8Array, headers?: Record<string, string>): void;
  /** Every signal whose name matches `pattern` (`*`, `>` as in topic filters); `queue` shares them among a group instead. */
  on(pattern: string, fn: (s: Signal) => void, opts?: { queue?: string }): SignalHandle;
  /** Scatter-gather: sends `data` and collects every reply until none came for `stallMs` (default 250) or `maxWaitMs` (2000) passed. No listener: []. */
  gather(name: string, data: Uint8Array, opts?: { stallMs?: number; maxWaitMs?: number }): Promise<Uint8Array[]>;
  /** Live tap of the topics matching `filter`: messages published from now on, at most once, no storage cost. */
  tap(filter: string, fn: (m: TappedMessage) => void): SignalHandle;
  /** Resolves once the server has seen every subscription and emit made so far. */
  flush(): Promise<void>;
}

/** Outcome of an ack/nak/term for one token. */
export interface SettleResult {
  token: string;
  ok: boolean;
  error?: { code: string; message: string };
}

/** Topic lifecycle. */
export interface TopicManager {
  create(spec: TopicSpec): Promise<TopicInfo>;
  update(name: string, patch: TopicUpdate): Promise<TopicInfo>;
  delete(name: string): Promise<void>;
  list(): Promise<TopicInfo[]>;
  info(name: string): Promise<TopicInfo>;
}

/** Durable subscriptions (pull). */
export interface SubscriptionManager {
  create(spec: SubscriptionSpec): Promise<SubscriptionInfo>;
  delete(name: string): Promise<void>;
  list(): Promise<SubscriptionInfo[]>;
  info(name: string): Promise<SubscriptionInfo>;
  /** The subscription's topic filter, from the config cache (no I/O: for per-request ACL checks). */
  filterOf(name: string): string;
  /** Long-poll: resolves as soon as at least one message is there, or after `waitMs` with none. */
  pull(name: string, opts: { max: number; waitMs: number }): Promise<DeliveredMessage[]>;
  ack(name: string, tokens: string[]): Promise<SettleResult[]>;
  /** Redeliver after `delayMs` (default: the subscription's backoff for that delivery). Never a bare nak. */
  nak(name: string, tokens: string[], delayMs?: number): Promise<SettleResult[]>;
  /** Stop redelivering; the message goes to the dead-letter topic with reason `terminated`. */
  term(name: string, tokens: string[], reason?: string): Promise<SettleResult[]>;
}

/** A change seen by a config watcher. */
export interface ConfigChange<T = unknown> {
  key: string;
  value: T | null;
  op: 'put' | 'delete';
  revision: number;
}

/** The config store: JSON objects in a watched KV bucket, cached in memory, hot-reloaded. */
export interface ConfigStore {
  /** The cached value (updated by the watch), or undefined. */
  get<T>(key: string): T | undefined;
  /** Every cached entry whose key starts with `prefix`. */
  list<T>(prefix: string): Array<{ key: string; value: T }>;
  /** Writes; resolves once this replica's cache shows the write (read-your-writes). */
  put<T>(key: string, value: T): Promise<number>;
  /** Like put, but fails with `exists: true` data if the key is there. */
  create<T>(key: string, value: T): Promise<number>;
  delete(key: string): Promise<void>;
  /** Calls `fn` for every change under `prefix` (after the initial load). Returns an unsubscribe function. */
  watch<T>(prefix: string, fn: (change: ConfigChange<T>) => void): () => void;
  /** Resolves once the cache has caught up with writes made before this call (read-your-writes). */
  sync(): Promise<void>;
}

/** A job to submit. The broker fills id, deadline, attempt and submittedAt. */
export interface JobSubmit {
  type: string;
  input: unknown;
  /** Set by the gateway from the authenticated principal. */
  principal: string;
  /** The job must start and finish within this many ms of submission (default 5 min; status timed_out otherwise). */
  timeoutMs?: number;
  /** Same key, same principal and type inside the dedup window → the same job id, stored once. */
  idempotencyKey?: string;
}

/** What the jobs stream confirmed. */
export interface JobAccepted {
  id: string;
  /** True when the idempotency key matched a job already stored. */
  duplicate: boolean;
}

/**
 * Jobs on the backbone (DESIGN.md "Jobs", docs/jobs.md). Stream `SB_JOBS` (work-queue retention,
 * subjects `sb.job.>`), one durable consumer per job type shared by every worker, queued/running
 * records in the KV bucket `sb_jobstate` (TTL), final records on `sb.jobres.<id>` in the stream of the
 * topic `jobs.results` (TTL): each is the job's result and its result event.
 */
export interface JobClient {
  /** Stores the job; resolves after JetStream stored it. Rejects SB_ERR_VALIDATION on a bad type. */
  submit(job: JobSubmit): Promise<JobAccepted>;
  /**
   * Submits and waits for the final result up to `waitMs`. Resolves `{ accepted, result }`; `result` is
   * undefined when the job is still running at `waitMs` (the caller answers 504 with the id).
   */
  submitAndWait(job: JobSubmit, waitMs: number): Promise<{ accepted: JobAccepted; result?: JobResult }>;
  /** Waits for the final result of a job already submitted; undefined after `waitMs`. */
  wait(id: string, waitMs: number): Promise<JobResult | undefined>;
  /** The stored record (queued, running or final), or undefined when unknown or expired. */
  get(id: string): Promise<JobRecord | undefined>;
  /**
   * Asks for a stop: a queued job will not start (its record becomes cancelled), a running one is
   * told to stop and ends `cancelled`. Resolves with the record after the request; SB_ERR_JOB_NOT_FOUND
   * when unknown; a final job is returned unchanged.
   */
  cancel(id: string, principal: string): Promise<JobRecord>;
  /** Live worker registry entries (entries older than 3 heartbeats are left out). */
  workers(): Promise<WorkerInfo[]>;
  /**
   * Submits a job whose handler streams items back (docs/jobs.md, "Streaming results"), and reads
   * them with backpressure: the worker sends at most `windowChunks` chunks the reader has not consumed
   * yet. Iterating yields one chunk (an array of JSON items) at a time, in order; leaving the loop early
   * (break, throw) cancels the job. Errors: SB_ERR_STREAM_BROKEN (a chunk was lost, or the worker
   * stopped sending for `idleTimeoutMs`), the job's own error when it fails.
   */
  stream(job: JobSubmit, opts?: JobStreamOptions): JobStreamReader;
}

/** Options of {@link JobClient.stream}. */
export interface JobStreamOptions {
  /** Chunks the worker may send ahead of the reader (credit window). Default 8. */
  windowChunks?: number;
  /** Fail with SB_ERR_STREAM_BROKEN when no chunk and no end arrive for this long while waiting. Default 30000. */
  idleTimeoutMs?: number;
}

/** A streaming job being read. */
export interface JobStreamReader extends AsyncIterable<unknown[]> {
  /** Resolves once the job is stored (its id); rejects as submit would. */
  readonly accepted: Promise<JobAccepted>;
  /** The final record; resolves after the last chunk was read (rejects like the iteration). */
  readonly result: Promise<JobResult>;
  /** Stops reading and cancels the job (idempotent). */
  cancel(): Promise<void>;
  /**
   * The same chunks unparsed, as NDJSON bytes (one JSON item per line): for readers that pass them on
   * (the REST gateway's NDJSON answer). Use either this or the item iteration, not both.
   */
  ndjson(): AsyncIterable<Uint8Array>;
}

/**
 * Single-owner leases (broker/leases.ts): at most one holder per name among every replica, kept alive
 * by renewing, freed by release or when the holder stops renewing for a TTL.
 */
export interface Leases {
  /** This replica's holder id, as written into the leases it holds. */
  readonly id: string;
  /** The lease, or undefined while another replica holds it. Rejects SB_ERR_BACKBONE_UNAVAILABLE when NATS does not answer. */
  acquire(name: string): Promise<Lease | undefined>;
  /** The holder id of `name`, or undefined when nobody holds it. */
  holder(name: string): Promise<string | undefined>;
}

/** A held lease. `signal` aborts when it is lost (a renew failed, or its entry changed) or released. */
export interface Lease {
  readonly name: string;
  readonly signal: AbortSignal;
  /** Gives the lease up now (deletes the entry if it is still ours). Idempotent. */
  release(): Promise<void>;
}

/** The backbone. */
export interface Broker {
  readonly topics: TopicManager;
  readonly jobs: JobClient;
  readonly subscriptions: SubscriptionManager;
  readonly config: ConfigStore;
  /** Core NATS fan-out between processes, at most once (broker/signals.ts). */
  readonly signals: SignalBus;
  /** Single-owner leases over a KV bucket with a TTL (`nats.leasesBucket`, `nats.leaseTtlMs`). */
  readonly leases: Leases;
  /** Resolves only after JetStream stored the message (or found it a duplicate). */
  publish(req: PublishRequest): Promise<PublishResult>;
  /** Publishes in order, concurrently on the wire; one outcome per message. */
  publishBatch(reqs: PublishRequest[]): Promise<Array<PublishResult | SbError>>;
  status(): BackboneStatus;
  onStatus(fn: (s: BackboneStatus) => void): () => void;
  /** True while connected and JetStream answers. */
  ready(): boolean;
  /** Idempotent, bounded: stop intake, drain, close the connection. */
  close(opts?: { deadlineMs?: number }): Promise<void>;
}
