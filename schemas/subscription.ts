import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN, TOPIC_FILTER_PATTERN, TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from './names.js';

/** Where a new subscription starts: only new messages, everything kept, a sequence (one topic only), or a time. */
export const DeliverPolicy = Type.Union([
  Type.Literal('new'),
  Type.Literal('all'),
  Type.Object({ fromSequence: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  Type.Object({ fromTime: Type.String({ format: 'date-time' }) }, { additionalProperties: false }),
]);
export type DeliverPolicy = Static<typeof DeliverPolicy>;

/** What a client sends to create a durable subscription. */
export const SubscriptionSpec = Type.Object(
  {
    name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }),
    topic: Type.String({ pattern: TOPIC_FILTER_PATTERN, maxLength: TOPIC_NAME_MAX, description: 'A topic name or a wildcard pattern (`*` one token, `>` the rest).' }),
    deliver: Type.Optional(DeliverPolicy),
    ackWaitMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'Redeliver when not acked within this. Default 30000.' })),
    maxDeliver: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Deliveries before dead-lettering. Default 5.' })),
    backoffMs: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 50, description: 'Delay before the n-th redelivery (last repeats). Default [] = ackWaitMs.' })),
    deadLetterTopic: Type.Optional(Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX, description: 'Default: none (exhausted messages are dropped after a log line).' })),
  },
  { additionalProperties: false },
);
export type SubscriptionSpec = Static<typeof SubscriptionSpec>;

/** A subscription with its defaults filled in and its live counters. */
export const SubscriptionInfo = Type.Object({
  name: Type.String(),
  topic: Type.String(),
  deliver: DeliverPolicy,
  ackWaitMs: Type.Integer(),
  maxDeliver: Type.Integer(),
  backoffMs: Type.Array(Type.Integer()),
  deadLetterTopic: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  topics: Type.Array(Type.String(), { description: 'The concrete topics this subscription currently reads.' }),
  pending: Type.Integer({ description: 'Messages not yet delivered.' }),
  ackPending: Type.Integer({ description: 'Delivered, not yet acked.' }),
  redelivered: Type.Integer({ description: 'Delivered more than once and not yet acked.' }),
});
export type SubscriptionInfo = Static<typeof SubscriptionInfo>;
