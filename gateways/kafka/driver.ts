/**
 * The one file that imports kafkajs (STYLE §6). It builds a client from our definition fields, routes
 * kafkajs' own log lines into pino, and classifies the driver's errors. No retry policy lives here:
 * the bridges decide what a failure means (docs/bridges.md, "Kafka").
 */
import { Kafka, logLevel, Partitioners, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from '../../broker/log.js';

export type { Admin as KafkaAdmin, Consumer as KafkaConsumer, EachBatchPayload, KafkaMessage, Message as KafkaRecord, Producer as KafkaProducer } from 'kafkajs';
export { Kafka };

/** Connection fields of both bridge kinds (schemas/bridge-kafka.ts). */
export interface KafkaTarget {
  brokers: string[];
  clientId?: string | undefined;
  ssl?: boolean | undefined;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string } | undefined;
  /** The opened secret; never logged. */
  password?: string | undefined;
  connectionTimeoutMs?: number | undefined;
}

/**
 * A kafkajs client. kafkajs retries each request by itself (`retries` times, 300 ms doubling up to
 * 5 s); past that the call rejects and the bridge's own backoff takes over.
 */
export function createKafka(t: KafkaTarget, log: Logger, retries = 5): Kafka {
  return new Kafka({
    brokers: t.brokers,
    clientId: t.clientId ?? 'switchboard',
    ssl: t.ssl ?? false,
    ...(t.sasl ? { sasl: { mechanism: t.sasl.mechanism, username: t.sasl.username, password: t.password ?? '' } as SASLOptions } : {}),
    connectionTimeout: t.connectionTimeoutMs ?? 3000,
    retry: { retries, initialRetryTime: 300, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator: () => (e: LogEntry) => logEntry(log, e),
  });
}

/**
 * The default partitioner of kafkajs 2 (murmur2 of the key, like the Java client), chosen explicitly:
 * kafkajs warns at every producer creation otherwise (KAFKAJS_NO_PARTITIONER_WARNING).
 */
export const partitioner = Partitioners.DefaultPartitioner;

// kafkajs logs reconnects and retries at ERROR/WARN while our bridges already report them; keep its
// lines but at debug/warn. The retries warning of the idempotent producer is expected: we bound
// retries on purpose so a Kafka outage surfaces as a failed send (see kafka-out.ts).
function logEntry(log: Logger, e: LogEntry): void {
  const { message, timestamp: _t, logger: _l, ...extra } = e.log as { message: string; timestamp: string; logger?: string; [k: string]: unknown };
  delete extra['password'];
  delete extra['sasl'];
  const fields = { kafkajs: e.namespace, ...extra };
  if (e.level === logLevel.ERROR || /Limiting retries/.test(message)) log.debug(fields, `kafkajs: ${message}`);
  else if (e.level === logLevel.WARN) log.warn(fields, `kafkajs: ${message}`);
  else log.debug(fields, `kafkajs: ${message}`);
}

/** Broker error types that mean "this record can never be written": poison, not an outage. */
const REJECTED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP']);

/** True when Kafka refused the records as invalid (kafkajs wraps the protocol error in `cause`/`errors`). */
export function recordsRejected(e: unknown): boolean {
  return kafkaErrorTypes(e).some((t) => REJECTED.has(t));
}

/** The protocol error types inside a kafkajs error (`type` of the error, its causes, and aggregated errors). */
export function kafkaErrorTypes(e: unknown, depth = 0): string[] {
  if (!e || typeof e !== 'object' || depth > 5) return [];
  const o = e as { type?: unknown; cause?: unknown; errors?: unknown };
  const out = typeof o.type === 'string' ? [o.type] : [];
  if (o.cause && o.cause !== e) out.push(...kafkaErrorTypes(o.cause, depth + 1));
  if (Array.isArray(o.errors)) for (const x of o.errors) out.push(...kafkaErrorTypes(x, depth + 1));
  return out;
}

/** A driver error as a short text without secrets (kafkajs messages carry no credentials). */
export function kafkaErrorText(e: unknown): string {
  const m = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return m.slice(0, 500);
}
