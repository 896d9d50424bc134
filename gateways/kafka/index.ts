/**
 * Kafka bridges (docs/bridges.md, "Kafka"): `kafka-in` (a consumer group into a topic) and `kafka-out`
 * (a durable subscription to a Kafka topic). kafkajs is imported only in ./driver.ts.
 */
export { kafkaInKind, KafkaInBridge, type KafkaInStored } from './kafka-in.js';
export { kafkaOutKind, KafkaOutBridge, type KafkaOutStored } from './kafka-out.js';
export { KAFKA_IN_HEADERS } from './mapping.js';
