/**
 * AMQP properties ⇄ envelope (docs/bridges.md, "Header mapping"). Pure functions, no driver calls.
 */
import type { DeliveredMessage, PublishRequest } from '../../broker/types.js';
import { bridgePublisher } from '../../schemas/bridge.js';
import { HEADERS } from '../../schemas/message.js';
import type { AmqpMessage, AmqpPublishOptions } from './driver.js';


/** Envelope header names set by the inbound mapping, besides `<prefix><amqp header>`. */
export const AMQP_IN_HEADERS = {
  messageId: 'Amqp-Message-Id',
  replyTo: 'Amqp-Reply-To',
  type: 'Amqp-Type',
  appId: 'Amqp-App-Id',
  userId: 'Amqp-User-Id',
  timestamp: 'Amqp-Timestamp',
  contentEncoding: 'Amqp-Content-Encoding',
  exchange: 'Amqp-Exchange',
  routingKey: 'Amqp-Routing-Key',
} as const;

const HEADER_NAME_BAD = /[^A-Za-z0-9_.-]/g;
const HEADER_VALUE_BAD = /[\r\n]/g;
const MAX_HEADER_VALUE = 4096;


/** One AMQP delivery as a publish into `topic`. */
export function inboundRequest(msg: AmqpMessage, opts: { topic: string; bridge: string; useMessageId: boolean; headerPrefix: string }): PublishRequest {
  const p = msg.properties;
  const headers: Record<string, string> = {};
  const put = (k: string, v: unknown): void => {
    if (v === undefined || v === null) return;
    const s = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    headers[k.replace(HEADER_NAME_BAD, '_')] = s.replace(HEADER_VALUE_BAD, ' ').slice(0, MAX_HEADER_VALUE);
  };
  for (const [k, v] of Object.entries(p.headers ?? {})) put(`${opts.headerPrefix}${k}`, v);
  put(AMQP_IN_HEADERS.messageId, p.messageId);
  put(AMQP_IN_HEADERS.replyTo, p.replyTo);
  put(AMQP_IN_HEADERS.type, p.type);
  put(AMQP_IN_HEADERS.appId, p.appId);
  put(AMQP_IN_HEADERS.userId, p.userId);
  put(AMQP_IN_HEADERS.timestamp, typeof p.timestamp === 'number' ? new Date(p.timestamp * 1000).toISOString() : undefined);
  put(AMQP_IN_HEADERS.contentEncoding, p.contentEncoding);
  put(AMQP_IN_HEADERS.exchange, msg.fields.exchange || undefined);
  put(AMQP_IN_HEADERS.routingKey, msg.fields.routingKey || undefined);

  const req: PublishRequest = { topic: opts.topic, data: msg.content, publisher: bridgePublisher(opts.bridge), headers };
  if (typeof p.contentType === 'string' && p.contentType !== '') req.contentType = p.contentType;
  const messageId = typeof p.messageId === 'string' ? p.messageId : undefined;
  if (opts.useMessageId && messageId) req.idempotencyKey = messageId.slice(0, 1024);
  if (typeof p.correlationId === 'string' && p.correlationId !== '') req.correlationId = p.correlationId.slice(0, 1024);
  if (Number.isInteger(p.priority)) req.priority = Math.min(9, Math.max(0, p.priority as number));
  // AMQP expiration is a relative TTL in ms (a string); the envelope wants an absolute time.
  const ttl = typeof p.expiration === 'string' ? Number(p.expiration) : NaN;
  if (Number.isFinite(ttl) && ttl >= 0) req.expiresAt = new Date(Date.now() + ttl).toISOString();
  return req;
}

/** Envelope headers not copied to AMQP headers (they become AMQP properties, or mean nothing outside). */
const NOT_COPIED = new Set([HEADERS.natsMsgId, HEADERS.contentType].map((h) => h.toLowerCase()));

/** One delivered message as AMQP publish options; `routingKey` picked from a header or the fixed key. */
export function outboundMessage(m: DeliveredMessage, opts: { persistent: boolean; routingKey: string; routingKeyHeader?: string | undefined }): { routingKey: string; options: AmqpPublishOptions } {
  const headers: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(m.headers)) if (!NOT_COPIED.has(k.toLowerCase())) headers[k] = v;
  headers['Sb-Topic'] = m.topic;
  headers['Sb-Seq'] = m.seq;
  const options: AmqpPublishOptions = {
    contentType: m.contentType,
    messageId: m.id,
    timestamp: Math.floor(Date.parse(m.publishedAt) / 1000),
    persistent: opts.persistent,
    headers,
  };
  const corr = m.headers[HEADERS.correlationId];
  if (corr !== undefined) options.correlationId = corr;
  const prio = Number(m.headers[HEADERS.priority]);
  if (Number.isInteger(prio)) options.priority = prio;
  const exp = m.headers[HEADERS.expiresAt];
  if (exp !== undefined) {
    const left = Date.parse(exp) - Date.now();
    if (Number.isFinite(left)) options.expiration = String(Math.max(1, left));
  }
  const fromHeader = opts.routingKeyHeader ? headerValue(m.headers, opts.routingKeyHeader) : undefined;
  return { routingKey: fromHeader ?? opts.routingKey, options };
}

function headerValue(h: Record<string, string>, name: string): string | undefined {
  if (h[name] !== undefined) return h[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === lower) return v;
  return undefined;
}
