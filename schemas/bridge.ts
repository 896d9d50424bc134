/**
 * Bridge definitions (docs/bridges.md), stored in the config store under `bridge.<name>`. Every kind
 * shares the fields in {@link BridgeCommon}; each adapter adds its own in its schema file
 * (schemas/bridge-amqp.ts, schemas/bridge-kafka.ts). Secret fields are replaced by their sealed form
 * at rest and left out of every answer.
 */
import { Type, type Static } from '@sinclair/typebox';

/** Config-store key prefix of bridge definitions. */
export const BRIDGE_PREFIX = 'bridge.';

/** Default dead-letter topic of inbound bridges (poison messages). */
export const BRIDGE_DEAD_TOPIC = 'bridges.dead';

/** The principal a bridge publishes as: `:` is not allowed in user names, so it cannot be impersonated. */
export function bridgePublisher(name: string): string {
  return `bridge:${name}`;
}

/** Kinds of bridges: `<protocol>-in` publishes into a topic, `<protocol>-out` delivers a subscription. */
export const BRIDGE_KINDS = ['amqp-in', 'amqp-out', 'kafka-in', 'kafka-out'] as const;
export type BridgeKindName = (typeof BRIDGE_KINDS)[number];

/** Fields every bridge definition has. */
export const BridgeCommon = {
  enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: defined but not running. Default true.' })),
  description: Type.Optional(Type.String({ maxLength: 1024 })),
};

/** A stored definition: kind-specific fields, defaults filled, secrets sealed (typed loosely here). */
export interface BridgeDefinition {
  name: string;
  kind: BridgeKindName;
  enabled: boolean;
  [field: string]: unknown;
}

/** Life of a running bridge, as status() reports it. */
export const BridgeState = Type.Union([
  Type.Literal('connecting'), Type.Literal('running'), Type.Literal('reconnecting'),
  Type.Literal('stopping'), Type.Literal('stopped'), Type.Literal('failed'),
]);
export type BridgeState = Static<typeof BridgeState>;

/** Monotonic counters of one bridge in one process. */
export const BridgeCounters = Type.Object({
  /** Messages taken from the source (AMQP deliveries, Kafka records, JetStream deliveries). */
  received: Type.Integer(),
  /** Stored downstream and acknowledged upstream (inbound: JetStream stored; outbound: broker confirmed). */
  forwarded: Type.Integer(),
  /** Duplicates the downstream recognised (inbound dedup window). */
  duplicates: Type.Integer(),
  /** Poison messages sent to the dead-letter topic (or rejected, per config). */
  deadLettered: Type.Integer(),
  /** Deliveries that failed and will be retried (nak, no commit, no ack). */
  retried: Type.Integer(),
  reconnects: Type.Integer(),
});
export type BridgeCounters = Static<typeof BridgeCounters>;

/** What the admin API shows for one bridge on one process. */
export const BridgeStatus = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  state: BridgeState,
  /** When the state last changed (ISO 8601). */
  since: Type.String(),
  counters: BridgeCounters,
  lastError: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), at: Type.String() })),
});
export type BridgeStatus = Static<typeof BridgeStatus>;
