/**
 * The broker's public contract. Gateways, security, workers and the CLI see the backbone only
 * through these interfaces; `createBroker()` in `broker/broker.ts` implements them on NATS JetStream.
 */
import type { TopicInfo, TopicSpec, TopicUpdate } from '../schemas/topic.js';
import type { SubscriptionInfo, SubscriptionSpec } from '../schemas/subscription.js';
import type { PublishResult } from '../schemas/message.js';
import type { SbError } from './errors.js';

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

/** The backbone. */
export interface Broker {
  readonly topics: TopicManager;
  readonly subscriptions: SubscriptionManager;
  readonly config: ConfigStore;
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
