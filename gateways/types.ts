import type { Broker } from '../broker/types.js';
import type { Logger } from '../broker/log.js';
import type { Metrics } from '../broker/metrics.js';
import type { ProcessConfig } from '../schemas/config.js';
import type { Security } from '../security/types.js';

/** Health of one gateway, for /readyz and the admin API. */
export interface GatewayHealth {
  ready: boolean;
  detail?: Record<string, unknown>;
}

/** One protocol adapter: translates its protocol to broker calls, authenticates at the edge, nothing else. */
export interface Gateway {
  readonly kind: string;
  /** Starts serving; `signal` aborts a slow start. */
  start(signal?: AbortSignal): Promise<void>;
  /** Refuses new intake, drains in-flight work within `deadlineMs`, then closes. Idempotent. */
  stop(opts?: { deadlineMs?: number }): Promise<void>;
  health(): GatewayHealth;
}

/** What every gateway factory receives. */
export interface GatewayDeps {
  broker: Broker;
  security: Security;
  logger: Logger;
  metrics: Metrics;
  config: ProcessConfig;
}

/** A gateway factory: `kind → factory(deps)` lives in `gateways/registry.ts`. */
export type GatewayFactory = (deps: GatewayDeps) => Gateway;
