/**
 * Kafka bridge definitions (docs/bridges.md, "Kafka"): `kafka-in` reads Kafka topics with a consumer
 * group into a Switchboard topic, committing offsets only after JetStream stored the records;
 * `kafka-out` delivers a durable subscription to a Kafka topic through an idempotent producer
 * (acks from all in-sync replicas). The SASL password is the secret field `password`, sealed at rest.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN, TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from './names.js';
import { BridgeCommon } from './bridge.js';

const Topic = Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX });
/** Kafka's own topic name rule: 1–249 of `[A-Za-z0-9._-]`. */
export const KAFKA_TOPIC_PATTERN = '^[A-Za-z0-9._-]{1,249}$';
const KafkaTopic = Type.String({ pattern: KAFKA_TOPIC_PATTERN, maxLength: 249 });

/** Connection fields shared by both directions. */
const Connection = {
  brokers: Type.Array(Type.String({ pattern: '^[^\\s/@]+:[0-9]{1,5}$', maxLength: 255 }), { minItems: 1, maxItems: 64, description: 'Bootstrap brokers, `host:port`.' }),
  clientId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+$', maxLength: 255, default: 'switchboard', description: 'Kafka client id (quotas, broker logs). Default `switchboard`.' })),
  ssl: Type.Optional(Type.Boolean({ default: false, description: 'TLS to the brokers (system CAs). Default false.' })),
  sasl: Type.Optional(Type.Object({
    mechanism: Type.Union([Type.Literal('plain'), Type.Literal('scram-sha-256'), Type.Literal('scram-sha-512')]),
    username: Type.String({ minLength: 1, maxLength: 255 }),
  }, { additionalProperties: false, description: 'SASL login; the password is the secret field `password`.' })),
  password: Type.Optional(Type.String({ maxLength: 1024, description: 'Secret: the SASL password, sealed at rest, never shown.' })),
  connectionTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000, default: 3000, description: 'TCP connect timeout per broker, ms. Default 3000.' })),
  reconnect: Type.Optional(Type.Object({
    initialMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 500, description: 'First retry delay, ms. Default 500.' }),
    maxMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000, description: 'Cap of the exponential backoff, ms (±20 % jitter). Default 30000.' }),
  }, { additionalProperties: false, default: {} })),
};

/** `kafka-in`: a consumer group on Kafka topics, each record published into `topic`. */
export const KafkaInDefinition = Type.Object({
  kind: Type.Literal('kafka-in'),
  ...BridgeCommon,
  ...Connection,
  topics: Type.Array(KafkaTopic, { minItems: 1, maxItems: 256, description: 'Kafka topics to read (they must exist).' }),
  groupId: Type.String({ pattern: '^[A-Za-z0-9._-]+$', maxLength: 255, description: 'Kafka consumer group; its committed offsets are where a restart resumes.' }),
  topic: Topic,
  fromBeginning: Type.Optional(Type.Boolean({ default: true, description: 'A group with no committed offset starts at the oldest record (true) or at new ones. Default true.' })),
  inflight: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535, default: 1024, description: 'Records of one partition published to JetStream at once before their offsets are committed. Default 1024.' })),
  partitionsConcurrently: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, default: 4, description: 'Partitions processed in parallel (order is kept within each). Default 4.' })),
  sessionTimeoutMs: Type.Optional(Type.Integer({ minimum: 6000, maximum: 300_000, default: 30_000, description: 'Group session timeout, ms: a crashed member\'s partitions move after this. Default 30000.' })),
  maxPayloadBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024, default: 1_000_000, description: 'Larger record values are poison. Keep it below the NATS max_payload minus headers. Default 1000000.' })),
  deadLetterTopic: Type.Optional(Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX, default: 'bridges.dead', description: 'Where poison records go (created if missing). Default `bridges.dead`.' })),
  headerPrefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]+$', maxLength: 32, default: 'Kafka-H-', description: 'Kafka record headers become envelope headers `<prefix><name>` (never empty: a bare name could collide with the envelope headers). Default `Kafka-H-`.' })),
  contentType: Type.Optional(Type.String({ maxLength: 255, default: 'application/octet-stream', description: 'Content-Type of published messages unless the record has a `content-type` header. Default application/octet-stream.' })),
}, { additionalProperties: false });
export type KafkaInDefinition = Static<typeof KafkaInDefinition>;

/** Where the Kafka record key comes from: an envelope header, or a top-level field of a JSON payload. */
export const KafkaKeySource = Type.Union([
  Type.Object({ header: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
  Type.Object({ field: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
]);
export type KafkaKeySource = Static<typeof KafkaKeySource>;

/** `kafka-out`: a durable subscription delivered to a Kafka topic; the JetStream ack only after Kafka acknowledged. */
export const KafkaOutDefinition = Type.Object({
  kind: Type.Literal('kafka-out'),
  ...BridgeCommon,
  ...Connection,
  subscription: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX, description: 'A durable subscription (it must exist).' }),
  kafkaTopic: KafkaTopic,
  key: Type.Optional(Type.Union([KafkaKeySource, Type.Null()], { default: null, description: 'Record key from a header or a JSON field; absent value or null: no key. Default null.' })),
  // 400: the next batch is pulled while one is in Kafka's hands, and JetStream hands out at most 1000
  // unacked messages per consumer (its default max_ack_pending): two batches must fit.
  inflight: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 400, description: 'Messages pulled and sent as one Kafka batch before their JetStream acks. Default 400.' })),
  pullWaitMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 5000, description: 'Long-poll wait of one pull, ms. Default 5000.' })),
}, { additionalProperties: false });
export type KafkaOutDefinition = Static<typeof KafkaOutDefinition>;
