// CONTRACT NOTE (H5, no change to the shapes below): the runner validates each definition against
// `kind.schema` with defaults filled (TypeBox Value.Default) before create(), and passes `def` without
// the secret fields (those are in env.secrets). Metrics are derived by the runner from status(), so a
// bridge only keeps counters. Shared helpers: gateways/bridges/state.ts (BridgeStatusKeeper, backoffMs,
// sleep, withDeadline). Register a kind in gateways/bridges/kinds.ts with `registered(kind)`.
/**
 * Bridges (docs/bridges.md): config objects that move messages between Switchboard topics and an
 * outside broker — RabbitMQ (gateways/amqp) or Kafka (gateways/kafka) — in either direction, at least
 * once, nothing acknowledged upstream before it is stored downstream. Each protocol adapter implements
 * {@link Bridge} and registers a {@link BridgeKind}; the runner (gateways/bridges/runner.ts) starts,
 * stops and restarts bridges as their definitions (`bridge.<name>` in the config store) change.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Broker } from '../../broker/types.js';
import type { Logger } from '../../broker/log.js';
import type { Metrics } from '../../broker/metrics.js';
import type { BridgeCounters, BridgeDefinition, BridgeStatus } from '../../schemas/bridge.js';

/** What every bridge gets from its runner. */
export interface BridgeEnv {
  broker: Broker;
  logger: Logger;
  metrics: Metrics;
  /** The definition's secrets (e.g. `password`), opened from their sealed form; never log them. */
  secrets: Readonly<Record<string, string>>;
}

/** One running bridge: a definition made live. */
export interface Bridge {
  readonly name: string;
  /**
   * Starts and returns at once; the bridge connects, reconnects with backoff and declares its topology
   * again by itself, reflecting it in status() (`connecting` → `running`, `reconnecting`, …).
   */
  start(): void;
  /**
   * Stops taking new messages, settles what is in flight within `deadlineMs` (in-flight inbound
   * messages are not acknowledged upstream unless stored; outbound ones not acked in JetStream unless
   * confirmed), then closes its connections. Idempotent.
   */
  stop(opts?: { deadlineMs?: number }): Promise<void>;
  status(): BridgeStatus;
}

/** One kind of bridge (`amqp-in`, `amqp-out`, `kafka-in`, `kafka-out`): its schema and factory. */
export interface BridgeKind<D extends BridgeDefinition = BridgeDefinition> {
  readonly kind: D['kind'];
  /** The TypeBox schema of the kind's definition (the body of PUT /v1/bridges/{name} minus `name`). */
  readonly schema: TSchema;
  /** Top-level fields of the definition that are secrets: sealed at rest, never shown, handed to create() in env.secrets. */
  readonly secretFields: readonly string[];
  create(def: D, env: BridgeEnv): Bridge;
}

/** Counters a bridge keeps; the runner exports them as metrics. */
export type { BridgeCounters, BridgeStatus };
