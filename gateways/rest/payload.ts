/**
 * How message bytes cross JSON: on the way in (batch items) and on the way out (pull). A JSON content
 * type travels as the parsed value, text as a string, anything else as base64 with `encoding`.
 */
import type { DeliveredMessage } from '../../broker/types.js';
import { SbError } from '../../broker/errors.js';

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

/**
 * The pull response `{messages: [...]}` as JSON text (schema: DeliveredMessageJson), built by hand on
 * the delivery hot path: a JSON payload is checked with one parse and then spliced in as its own text
 * rather than re-serialised; text becomes a JSON string; anything else, or bytes that do not match
 * their declared type, base64 with `"encoding": "base64"`.
 */
export function pullResponseJson(msgs: DeliveredMessage[]): string {
  const parts: string[] = [];
  for (const m of msgs) {
    const head = `{"id":${JSON.stringify(m.id)},"topic":${JSON.stringify(m.topic)},"seq":${m.seq},"deliveryCount":${m.deliveryCount}`
      + `,"publishedAt":"${m.publishedAt}","headers":${JSON.stringify(m.headers)},"contentType":${JSON.stringify(m.contentType)}`
      + `,"ackToken":${JSON.stringify(m.ackToken)},"data":`;
    const data = dataJsonText(m.contentType, m.data);
    parts.push(data !== undefined
      ? `${head}${data}}`
      : `${head}"${Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('base64')}","encoding":"base64"}`);
  }
  return `{"messages":[${parts.join(',')}]}`;
}

/** The payload as JSON text for a JSON or text content type, or undefined when it must travel as base64. */
function dataJsonText(ct: string, data: Uint8Array): string | undefined {
  const json = isJsonContentType(ct);
  if (!json && !TEXT_TYPE.test(ct)) return undefined;
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return undefined;
  }
  if (!json) return JSON.stringify(text);
  try {
    JSON.parse(text);
    return text;
  } catch {
    return undefined;
  }
}
