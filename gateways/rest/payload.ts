/**
 * How message bytes cross JSON: on the way in (batch items) and on the way out (pull). A JSON content
 * type travels as the parsed value, text as a string, anything else as base64 with `encoding`.
 */
import type { DeliveredMessage } from '../../broker/types.js';
import { SbError } from '../../broker/errors.js';
import type { DeliveredMessageJson } from '../../schemas/message.js';

const JSON_TYPE = /^application\/(?:[A-Za-z0-9!#$&^_.-]+\+)?json\s*(?:;|$)/i;
const TEXT_TYPE = /^text\//i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// fatal: bytes that are not UTF-8 must not be silently replaced by U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True for `application/json` and `application/<x>+json`, with or without parameters. */
export function isJsonContentType(ct: string | undefined): boolean {
  return ct !== undefined && JSON_TYPE.test(ct);
}

/** Throws SB_ERR_INVALID_JSON unless `body` parses; the parsed value is dropped, the bytes are what we store. */
export function assertJson(body: Buffer): void {
  try {
    JSON.parse(body.toString('utf8'));
  } catch {
    throw new SbError('SB_ERR_INVALID_JSON', 'the body is declared application/json but does not parse');
  }
}

/** One batch item as the client sends it. */
export interface BatchItemInput {
  data?: unknown;
  contentType?: string;
  encoding?: 'base64';
}

/** Bytes and content type of a batch item: base64 decoded, strings as text, other JSON values as JSON text. */
export function batchItemBytes(item: BatchItemInput): { data: Uint8Array; contentType: string } {
  const { data } = item;
  if (item.encoding === 'base64') {
    if (typeof data !== 'string' || data.length % 4 !== 0 || !BASE64.test(data)) {
      throw new SbError('SB_ERR_VALIDATION', 'data with encoding base64 must be a base64 string');
    }
    return { data: Buffer.from(data, 'base64'), contentType: item.contentType ?? 'application/octet-stream' };
  }
  if (data === undefined) throw new SbError('SB_ERR_VALIDATION', 'data is required');
  if (typeof data === 'string') return { data: Buffer.from(data, 'utf8'), contentType: item.contentType ?? 'text/plain; charset=utf-8' };
  return { data: Buffer.from(JSON.stringify(data), 'utf8'), contentType: item.contentType ?? 'application/json' };
}

/** The JSON form of a delivered message; falls back to base64 when the bytes do not match their declared type. */
export function toDeliveredJson(m: DeliveredMessage): DeliveredMessageJson {
  const base = {
    id: m.id, topic: m.topic, seq: m.seq, deliveryCount: m.deliveryCount, publishedAt: m.publishedAt,
    headers: m.headers, contentType: m.contentType, ackToken: m.ackToken,
  };
  const decoded = decodeData(m.contentType, m.data);
  if (decoded.ok) return { ...base, data: decoded.value };
  return { ...base, data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('base64'), encoding: 'base64' };
}

function decodeData(ct: string, data: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  const json = isJsonContentType(ct);
  if (!json && !TEXT_TYPE.test(ct)) return { ok: false };
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { ok: false };
  }
  if (!json) return { ok: true, value: text };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
