/**
 * AMQP bridge definitions (docs/bridges.md): `amqp-in` consumes a RabbitMQ queue into a topic,
 * `amqp-out` delivers a durable subscription to an exchange with publisher confirms. The URL carries no
 * password: it is shown and logged; the password is the secret field `password`, sealed at rest.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN, TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from './names.js';
import { BridgeCommon } from './bridge.js';

const Topic = Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX });
// amqp(s)://[user@]host[:port][/vhost][?query] — no `user:pass@` (the password is the sealed `password` field).
const AMQP_URL_PATTERN = '^amqps?://([^\\s:/?#@]+@)?[^\\s/?#@]+(/[^\\s?#@]*)?(\\?[^\\s#@]*)?$';
const AmqpName = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\s]+$' });

/** Connection fields shared by both directions. */
const Connection = {
  url: Type.String({ pattern: AMQP_URL_PATTERN, maxLength: 2048, description: '`amqp://user@host:5672/vhost`, no password in it (use `password`).' }),
  password: Type.Optional(Type.String({ maxLength: 1024, description: 'Secret: sealed at rest, never shown. Without it and without a user: guest/guest.' })),
  heartbeatSec: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, default: 10, description: 'AMQP heartbeat, seconds; a dead peer is noticed after about twice this. Default 10.' })),
  reconnect: Type.Optional(Type.Object({
    initialMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 500, description: 'First reconnect delay, ms. Default 500.' }),
    maxMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000, description: 'Cap of the exponential backoff, ms (±20 % jitter). Default 30000.' }),
  }, { additionalProperties: false, default: {} })),
};

const Binding = Type.Object({
  exchange: AmqpName,
  routingKey: Type.String({ maxLength: 255, default: '' }),
}, { additionalProperties: false });

/** `amqp-in`: a queue consumed into a topic; the AMQP ack only after JetStream stored the message. */
export const AmqpInDefinition = Type.Object({
  kind: Type.Literal('amqp-in'),
  ...BridgeCommon,
  ...Connection,
  queue: AmqpName,
  declare: Type.Optional(Type.Object({
    durable: Type.Boolean({ default: true }),
    arguments: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Queue arguments, e.g. `x-queue-type`, `x-dead-letter-exchange`.' })),
    bindings: Type.Array(Binding, { maxItems: 64, default: [], description: 'Bindings made after the queue; the exchanges must exist.' }),
  }, { additionalProperties: false, description: 'Declare the queue (idempotent) on every (re)connect. Absent: the queue must exist.' })),
  topic: Topic,
  prefetch: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535, default: 256, description: 'Unacked deliveries per consumer = publishes in flight to JetStream. Default 256.' })),
  concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'Consumers (channels) on the queue. Above 1 the topic is no longer in queue order. Default 1.' })),
  poison: Type.Optional(Type.Object({
    action: Type.Union([Type.Literal('dead-letter'), Type.Literal('reject')], { default: 'dead-letter', description: '`dead-letter`: copy to `deadLetterTopic`, then ack. `reject`: nack without requeue (RabbitMQ dead-letters it if the queue has a DLX).' }),
    deadLetterTopic: Type.Optional(Topic),
  }, { additionalProperties: false, default: {} })),
  idempotency: Type.Optional(Type.Union([Type.Literal('message-id'), Type.Literal('none')], { default: 'message-id', description: '`message-id`: the AMQP messageId is the idempotency key (a redelivery inside the dedup window is stored once). Default message-id.' })),
  maxPayloadBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024, default: 1_000_000, description: 'Larger bodies are poison. Keep it below the NATS max_payload minus headers. Default 1000000.' })),
  headerPrefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]+$', maxLength: 32, default: 'Amqp-', description: 'AMQP headers become envelope headers `<prefix><name>` (never empty: a bare name could collide with the envelope headers). Default `Amqp-`.' })),
}, { additionalProperties: false });
export type AmqpInDefinition = Static<typeof AmqpInDefinition>;

/** `amqp-out`: a durable subscription delivered to an exchange; the JetStream ack only after the broker confirmed. */
export const AmqpOutDefinition = Type.Object({
  kind: Type.Literal('amqp-out'),
  ...BridgeCommon,
  ...Connection,
  subscription: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX, description: 'A durable subscription (it must exist).' }),
  exchange: Type.String({ maxLength: 255, description: 'Target exchange; `""` is the default exchange (routing key = queue name).' }),
  declareExchange: Type.Optional(Type.Object({
    type: Type.Union([Type.Literal('direct'), Type.Literal('topic'), Type.Literal('fanout'), Type.Literal('headers')]),
    durable: Type.Boolean({ default: true }),
  }, { additionalProperties: false, description: 'Declare the exchange on every (re)connect. Absent: it must exist.' })),
  routingKey: Type.Optional(Type.String({ maxLength: 255, default: '', description: 'Fixed routing key, or the fallback when `routingKeyHeader` is absent on a message.' })),
  routingKeyHeader: Type.Optional(Type.String({ maxLength: 128, description: 'Envelope header whose value is the routing key.' })),
  persistent: Type.Optional(Type.Boolean({ default: true, description: 'deliveryMode 2. Default true.' })),
  inflight: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535, default: 256, description: 'Messages published and not yet confirmed. Default 256.' })),
}, { additionalProperties: false });
export type AmqpOutDefinition = Static<typeof AmqpOutDefinition>;
