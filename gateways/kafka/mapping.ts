/**
 * Kafka records ⇄ envelope (docs/bridges.md, "Kafka header mapping"). Pure functions, no driver calls.
 */
import type { DeliveredMessage, PublishRequest } from '../../broker/types.js';
import { bridgePublisher } from '../../schemas/bridge.js';
import { HEADERS } from '../../schemas/message.js';
import type { KafkaKeySource } from '../../schemas/bridge-kafka.js';
import type { KafkaMessage, KafkaRecord } from './driver.js';


/** Envelope headers the inbound mapping sets, besides `<headerPrefix><record header>`. */
export const KAFKA_IN_HEADERS = {
  topic: 'Kafka-Topic',
  partition: 'Kafka-Partition',
  offset: 'Kafka-Offset',
  timestamp: 'Kafka-Timestamp',
  key: 'Kafka-Key',
} as const;

/** Where one record came from. */
export interface RecordOrigin {
  kafkaTopic: string;
  partition: number;
}

const HEADER_NAME_BAD = /[^A-Za-z0-9_.-]/g;
const MAX_HEADER_VALUE = 4096;
const utf8 = new TextDecoder('utf-8', { fatal: true });


/** The idempotency key of a record: the same record read twice (a replay after a crash) is stored once. */
export function recordKey(o: RecordOrigin, offset: string): string {
  return `${o.kafkaTopic}/${o.partition}/${offset}`;
}

/**
 * Bytes as a header value: UTF-8 text as is (CR/LF become spaces: header lines cannot hold them),
 * anything else as `base64:<base64>`. Values are cut at 4096 characters.
 */
export function headerText(v: Buffer | string): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else {
    try {
      s = utf8.decode(v);
    } catch {
      s = `base64:${v.toString('base64')}`;
    }
  }
  return s.replace(/[\r\n]/g, ' ').slice(0, MAX_HEADER_VALUE);
}

/** One Kafka record as a publish into `topic`. */
export function inboundRequest(m: KafkaMessage, o: RecordOrigin, opts: { topic: string; bridge: string; headerPrefix: string; contentType: string }): PublishRequest {
  const headers: Record<string, string> = {};
  let contentType = opts.contentType;
  for (const [name, raw] of Object.entries(m.headers ?? {})) {
    if (raw === undefined) continue;
    const value = (Array.isArray(raw) ? raw : [raw]).map(headerText).join(', ').slice(0, MAX_HEADER_VALUE);
    if (name.toLowerCase() === 'content-type' && value !== '') contentType = value;
    headers[`${opts.headerPrefix}${name.replace(HEADER_NAME_BAD, '_')}`] = value;
  }
  headers[KAFKA_IN_HEADERS.topic] = o.kafkaTopic;
  headers[KAFKA_IN_HEADERS.partition] = String(o.partition);
  headers[KAFKA_IN_HEADERS.offset] = m.offset;
  const ts = Number(m.timestamp);
  if (Number.isFinite(ts) && ts >= 0) headers[KAFKA_IN_HEADERS.timestamp] = new Date(ts).toISOString();
  if (m.key !== null && m.key !== undefined) headers[KAFKA_IN_HEADERS.key] = headerText(m.key);
  return {
    topic: opts.topic,
    data: m.value ?? new Uint8Array(0),
    contentType,
    idempotencyKey: recordKey(o, m.offset),
    publisher: bridgePublisher(opts.bridge),
    headers,
  };
}

/** Envelope headers not copied to Kafka: the dedup id means nothing outside; Content-Type is copied as `content-type`. */
const NOT_COPIED = new Set([HEADERS.natsMsgId, HEADERS.contentType].map((h) => h.toLowerCase()));

/** One delivered message as a Kafka record: the body as the value, envelope headers as record headers. */
export function outboundRecord(m: DeliveredMessage, key: KafkaKeySource | null | undefined): KafkaRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers)) if (!NOT_COPIED.has(k.toLowerCase())) headers[k] = v;
  headers['content-type'] = m.contentType;
  headers['Sb-Topic'] = m.topic;
  headers['Sb-Seq'] = String(m.seq);
  const published = Date.parse(m.publishedAt);
  return {
    key: recordKeyOf(m, key),
    value: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
    headers,
    ...(Number.isFinite(published) ? { timestamp: String(published) } : {}),
  };
}

/**
 * The record key: an envelope header (case-insensitive name), or a top-level field of a JSON body
 * (strings as is, numbers and booleans as their JSON text). Missing, or a body that is not a JSON
 * object: no key (Kafka's partitioner spreads such records).
 */
export function recordKeyOf(m: DeliveredMessage, key: KafkaKeySource | null | undefined): string | null {
  if (!key) return null;
  if ('header' in key) {
    const lower = key.header.toLowerCase();
    for (const [k, v] of Object.entries(m.headers)) if (k.toLowerCase() === lower) return v;
    return null;
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'));
  } catch {
    return null;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const v = (body as Record<string, unknown>)[key.field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return null;
}
