import { Type, type Static } from '@sinclair/typebox';

/** NATS headers of the envelope (DESIGN.md "Envelope"). */
export const HEADERS = {
  msgId: 'Sb-Msg-Id',
  natsMsgId: 'Nats-Msg-Id',
  contentType: 'Content-Type',
  correlationId: 'Sb-Correlation-Id',
  replyTo: 'Sb-Reply-To',
  priority: 'Sb-Priority',
  expiresAt: 'Sb-Expires-At',
  publisher: 'Sb-Publisher',
  traceparent: 'traceparent',
  // Added on dead-letter copies.
  dlqReason: 'Sb-Dlq-Reason',
  dlqDeliveryCount: 'Sb-Dlq-Delivery-Count',
  dlqTopic: 'Sb-Dlq-Topic',
  dlqSeq: 'Sb-Dlq-Seq',
  dlqSubscription: 'Sb-Dlq-Subscription',
  /** The reason string a client gave with `term`. */
  dlqTermReason: 'Sb-Dlq-Term-Reason',
} as const;

/** The result of one publish: sent to the client only after JetStream stored the message. */
export const PublishResult = Type.Object({
  id: Type.String(),
  topic: Type.String(),
  seq: Type.Integer(),
  duplicate: Type.Boolean(),
});
export type PublishResult = Static<typeof PublishResult>;

/** A delivered message in its JSON form (REST pull). */
export const DeliveredMessageJson = Type.Object({
  id: Type.String(),
  topic: Type.String(),
  seq: Type.Integer(),
  deliveryCount: Type.Integer(),
  publishedAt: Type.String(),
  headers: Type.Record(Type.String(), Type.String()),
  contentType: Type.String(),
  data: Type.Unknown(),
  encoding: Type.Optional(Type.Literal('base64')),
  ackToken: Type.String(),
});
export type DeliveredMessageJson = Static<typeof DeliveredMessageJson>;

/** Why a message went to a dead-letter topic. */
export type DeadLetterReason = 'max_deliver' | 'terminated' | 'expired';
