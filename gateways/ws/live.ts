/**
 * Live (at most once) topic subscriptions of the WebSocket gateway: plain core NATS subscriptions on
 * the topics' subjects, so a live subscriber costs JetStream nothing. The broker does not expose its
 * connection, so the gateway opens its own, lazily, on the first live subscribe.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { openConnection, type Connection } from '../../broker/connection.js';
import type { Logger } from '../../broker/log.js';
import { SUBJECT_PREFIX, topicSubject } from '../../broker/subjects.js';
import { HEADERS } from '../../schemas/message.js';
import type { ProcessConfig } from '../../schemas/config.js';
import type { DeliveredMessage } from '../../broker/types.js';

const TOPIC_SUBJECT_PREFIX = `${SUBJECT_PREFIX}.topic.`;

/** A live message in the shape of a delivered one, without seq or ack token (core NATS has neither). */
export type LiveMessage = Omit<DeliveredMessage, 'ackToken' | 'seq'>;

/** One NATS connection shared by every live subscription of a gateway. */
export class LiveBus {
  private conn: Promise<Connection> | undefined;
  private closed = false;

  constructor(private readonly config: ProcessConfig, private readonly logger: Logger) {}

  /** Subscribes to the topics matching `pattern` (validated by the caller). */
  async subscribe(pattern: string, fn: (m: LiveMessage) => void): Promise<Subscription> {
    const nc = await this.connection();
    return nc.subscribe(topicSubject(pattern), { callback: (err, msg) => { if (!err) fn(toLive(msg)); } });
  }

  /** Resolves once the server has seen every subscription made so far. */
  async flush(): Promise<void> {
    await (await this.connection()).flush();
  }

  /** Drains the connection (idempotent). */
  async close(): Promise<void> {
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    if (!c) return;
    const conn = await c.catch(() => undefined);
    await conn?.nc.close().catch(() => undefined);
  }

  private async connection(): Promise<NatsConnection> {
    if (this.closed) throw new Error('closed');
    this.conn ??= openConnection({ ...this.config, nats: { ...this.config.nats, name: `${this.config.nats.name}-ws-live` } }, this.logger);
    try {
      return (await this.conn).nc;
    } catch (e) {
      this.conn = undefined; // the next subscribe tries again
      throw e;
    }
  }
}

function toLive(msg: Msg): LiveMessage {
  const headers: Record<string, string> = {};
  if (msg.headers) for (const [k, vs] of msg.headers) if (vs[0] !== undefined) headers[k] = vs[0];
  return {
    id: headers[HEADERS.msgId] ?? '',
    topic: msg.subject.slice(TOPIC_SUBJECT_PREFIX.length),
    deliveryCount: 1,
    publishedAt: new Date().toISOString(),
    headers,
    contentType: headers[HEADERS.contentType] ?? 'application/octet-stream',
    data: msg.data,
  };
}
