import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's Prometheus metrics: one registry, shared by broker and gateways. */
export interface Metrics {
  readonly registry: Registry;
  /** Publishes by topic and outcome (`stored`, `duplicate`, `error`). */
  readonly publishes: Counter<'topic' | 'outcome'>;
  /** Messages handed to subscribers, by topic. */
  readonly deliveries: Counter<'topic'>;
  /** Deliveries with deliveryCount > 1, by topic. */
  readonly redeliveries: Counter<'topic'>;
  /** Messages copied to a dead-letter topic, by source topic and reason. */
  readonly deadLetters: Counter<'topic' | 'reason'>;
  /** HTTP requests by method, route and status. */
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  /** HTTP latency in seconds by method and route. */
  readonly httpLatency: Histogram<'method' | 'route'>;
}

/** Creates a fresh registry (one per process; tests make their own). */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'sb_process_' });
  const reg = [registry];
  return {
    registry,
    publishes: new Counter({ name: 'sb_publishes_total', help: 'Publishes by topic and outcome', labelNames: ['topic', 'outcome'], registers: reg }),
    deliveries: new Counter({ name: 'sb_deliveries_total', help: 'Messages delivered to subscribers', labelNames: ['topic'], registers: reg }),
    redeliveries: new Counter({ name: 'sb_redeliveries_total', help: 'Deliveries of a message seen before', labelNames: ['topic'], registers: reg }),
    deadLetters: new Counter({ name: 'sb_dead_letters_total', help: 'Messages moved to a dead-letter topic', labelNames: ['topic', 'reason'], registers: reg }),
    httpRequests: new Counter({ name: 'sb_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: reg }),
    httpLatency: new Histogram({
      name: 'sb_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route'], registers: reg,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
  };
}
