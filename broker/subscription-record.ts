/**
 * A subscription as stored in the config store (the source of truth) and the consumer config and
 * retry delays derived from it. Pure functions: no I/O here.
 */
import { nanos } from '@nats-io/nats-core';
import type { ConsumerConfig } from '@nats-io/jetstream';
import type { DeliverPolicy, SubscriptionSpec } from '../schemas/subscription.js';
import { SIMPLE_NAME_MAX } from '../schemas/names.js';
import { errors } from './errors.js';
import { validateTopicFilter, validateTopicName } from './subjects.js';

/** A subscription's definition with every default filled in, plus when it was created. */
export interface SubscriptionRecord {
  name: string;
  topic: string;
  deliver: DeliverPolicy;
  ackWaitMs: number;
  maxDeliver: number;
  backoffMs: number[];
  deadLetterTopic: string | null;
  createdAt: string;
}

/** Defaults of a subscription (docs/backbone.md). */
export const SUBSCRIPTION_DEFAULTS = { ackWaitMs: 30_000, maxDeliver: 5 } as const;
/** Config-store key prefix of subscriptions. */
export const SUBSCRIPTION_KEY_PREFIX = 'subscription.';
/** The floor of any nak delay: a 0 ms nak is the hot redelivery loop STYLE §2 forbids. */
export const MIN_NAK_DELAY_MS = 100;
const NAME_RE = /^[A-Za-z0-9_-]+$/;

/** The config-store key of subscription `name`. */
export function subscriptionKey(name: string): string {
  return `${SUBSCRIPTION_KEY_PREFIX}${name}`;
}

/** The durable consumer name used for subscription `name` on every topic stream it reads. */
export function consumerName(name: string): string {
  return `SBS_${name}`;
}

/** True when the filter has a wildcard, i.e. it may read more than one topic. */
export function isWildcard(filter: string): boolean {
  return filter.split('.').some((t) => t === '*' || t === '>');
}

/** Validates a spec and fills in defaults; throws SB_ERR_INVALID_NAME / _INVALID_TOPIC_NAME / _VALIDATION. */
export function normalizeSpec(spec: SubscriptionSpec, createdAt: string): SubscriptionRecord {
  checkSubscriptionName(spec.name);
  validateTopicFilter(spec.topic);
  if (spec.deadLetterTopic !== undefined) validateTopicName(spec.deadLetterTopic);
  const deliver = spec.deliver ?? 'new';
  if (typeof deliver === 'object' && 'fromSequence' in deliver && isWildcard(spec.topic)) {
    throw errors.validation('deliver.fromSequence needs a single topic, not a wildcard filter', { topic: spec.topic });
  }
  if (typeof deliver === 'object' && 'fromTime' in deliver && Number.isNaN(Date.parse(deliver.fromTime))) {
    throw errors.validation('deliver.fromTime is not a date-time', { fromTime: deliver.fromTime });
  }
  const rec: SubscriptionRecord = {
    name: spec.name,
    topic: spec.topic,
    deliver,
    ackWaitMs: spec.ackWaitMs ?? SUBSCRIPTION_DEFAULTS.ackWaitMs,
    maxDeliver: spec.maxDeliver ?? SUBSCRIPTION_DEFAULTS.maxDeliver,
    backoffMs: spec.backoffMs ?? [],
    deadLetterTopic: spec.deadLetterTopic ?? null,
    createdAt,
  };
  if (!Number.isInteger(rec.ackWaitMs) || rec.ackWaitMs < 100) throw errors.validation('ackWaitMs must be an integer ≥ 100');
  if (!Number.isInteger(rec.maxDeliver) || rec.maxDeliver < 1) throw errors.validation('maxDeliver must be an integer ≥ 1');
  if (rec.backoffMs.some((d) => !Number.isInteger(d) || d < 0)) throw errors.validation('backoffMs must be integers ≥ 0');
  return rec;
}

/** Throws SB_ERR_INVALID_NAME unless `name` is a valid subscription name. */
export function checkSubscriptionName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.length > SIMPLE_NAME_MAX) {
    throw errors.invalidName('subscription', String(name), `use 1–${SIMPLE_NAME_MAX} characters of [A-Za-z0-9_-]`);
  }
}

/** True when two records define the same subscription (createdAt aside): a re-create is then idempotent. */
export function sameDefinition(a: SubscriptionRecord, b: SubscriptionRecord): boolean {
  const def = (r: SubscriptionRecord) => JSON.stringify([r.name, r.topic, r.deliver, r.ackWaitMs, r.maxDeliver, r.backoffMs, r.deadLetterTopic]);
  return def(a) === def(b);
}

/**
 * The durable pull consumer of `rec` on one topic stream. `initial` is true for consumers made when
 * the subscription is created; a consumer added later (a topic created afterwards) starts at the
 * subscription's createdAt so nothing published since the subscription existed is missed.
 */
export function consumerConfig(rec: SubscriptionRecord, initial: boolean): Partial<ConsumerConfig> {
  const cfg: Partial<ConsumerConfig> = {
    durable_name: consumerName(rec.name),
    ack_policy: 'explicit',
    ack_wait: nanos(rec.ackWaitMs),
    max_deliver: rec.maxDeliver,
  };
  // 2.9.10 applies `backoff` only when the ack timer runs out, and refuses it unless max_deliver > its length.
  if (rec.backoffMs.length > 0 && rec.maxDeliver > rec.backoffMs.length) cfg.backoff = rec.backoffMs.map((d) => nanos(Math.max(1, d)));
  const d = rec.deliver;
  if (d === 'all') cfg.deliver_policy = 'all';
  else if (d === 'new') {
    if (initial) cfg.deliver_policy = 'new';
    else Object.assign(cfg, { deliver_policy: 'by_start_time', opt_start_time: rec.createdAt });
  } else if ('fromSequence' in d) Object.assign(cfg, { deliver_policy: 'by_start_sequence', opt_start_seq: d.fromSequence });
  else Object.assign(cfg, { deliver_policy: 'by_start_time', opt_start_time: new Date(d.fromTime).toISOString() });
  return cfg;
}

/**
 * The delay before redelivering a message nak'ed without an explicit delay, after its `deliveryCount`-th
 * delivery: the subscription's backoff (last entry repeats), else min(ackWait, 1 s)·2^(n-1) capped at ackWait.
 */
export function nakDelayMs(rec: SubscriptionRecord, deliveryCount: number, explicit?: number): number {
  let ms: number;
  if (explicit !== undefined) ms = explicit;
  else if (rec.backoffMs.length > 0) ms = rec.backoffMs[Math.min(deliveryCount - 1, rec.backoffMs.length - 1)] ?? rec.ackWaitMs;
  else ms = Math.min(rec.ackWaitMs, Math.min(rec.ackWaitMs, 1000) * 2 ** Math.max(0, Math.min(deliveryCount - 1, 30)));
  return Math.max(MIN_NAK_DELAY_MS, Math.round(ms));
}
