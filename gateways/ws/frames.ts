/**
 * The frame protocol v1 (docs/ws-protocol.md): parsing and checking client frames, building server
 * frames. Pure: no sockets, no broker. A frame that fails here is answered with an error frame and
 * counts as a bad frame (too many in a row close the socket with 4400).
 */
import { SbError, type ErrorCode } from '../../broker/errors.js';
import type { DeliveredMessage } from '../../broker/types.js';

/** A correlation id as the client sent it (echoed back verbatim). */
export type FrameId = string | number;

/** A checked client frame. */
export type ClientFrame =
  | { type: 'auth'; id?: FrameId; authorization: string }
  | { type: 'ping'; id?: FrameId }
  | { type: 'publish'; id?: FrameId; topic: string; data: unknown; contentType?: string; idempotencyKey?: string }
  | { type: 'subscribe'; id?: FrameId; sub?: string; topic?: string; subscription?: string; batch?: boolean }
  | { type: 'unsubscribe'; id?: FrameId; sub: string }
  | { type: 'credit'; id?: FrameId; sub: string; n: number }
  /** `many`: the client sent `ackTokens` (answered with counts) rather than one `ackToken` (answered ok or error). */
  | { type: 'ack'; id?: FrameId; sub: string; ackTokens: string[]; many: boolean }
  | { type: 'nak'; id?: FrameId; sub: string; ackTokens: string[]; many: boolean; delayMs?: number };

/** A frame that could not be read: the error to answer with, and the id when one could be read. */
export class FrameError extends SbError {
  constructor(code: ErrorCode, message: string, readonly frameId?: FrameId) {
    super(code, message);
  }
}

/** Most credit one `credit` frame may grant, and most a subscription may hold. */
export const MAX_CREDIT = 10_000;
/** Most ack tokens one `ack`/`nak` frame may settle (mind the channel's maxFrameBytes: a token is ~80 bytes). */
export const MAX_SETTLE = 1000;
const SUB_KEY = /^[A-Za-z0-9_.:-]{1,64}$/;
type Obj = Record<string, unknown>;

/** Parses one text frame; throws FrameError (SB_ERR_INVALID_JSON or SB_ERR_VALIDATION). */
export function parseFrame(text: string): ClientFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new FrameError('SB_ERR_INVALID_JSON', 'the frame is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FrameError('SB_ERR_VALIDATION', 'a frame must be a JSON object');
  const o = v as Obj;
  const id = readId(o['id']);
  const bad = (message: string): FrameError => new FrameError('SB_ERR_VALIDATION', message, id);
  const str = (k: string, max: number, optional = false): string | undefined => {
    const x = o[k];
    if (x === undefined && optional) return undefined;
    if (typeof x !== 'string' || x.length === 0 || x.length > max) throw bad(`${k} must be a string of 1–${max} characters`);
    return x;
  };
  const subKey = (optional = false): string | undefined => {
    const s = str('sub', 64, optional);
    if (s !== undefined && !SUB_KEY.test(s)) throw bad('sub must be 1–64 characters of [A-Za-z0-9_.:-]');
    return s;
  };
  // `ackToken` (one) or `ackTokens` (1–MAX_SETTLE, settled together and answered with counts).
  const tokens = (): { ackTokens: string[]; many: boolean } => {
    const many = o['ackTokens'];
    if (many === undefined) return { ackTokens: [str('ackToken', 512)!], many: false };
    if (o['ackToken'] !== undefined) throw bad('send ackToken or ackTokens, not both');
    if (!Array.isArray(many) || many.length < 1 || many.length > MAX_SETTLE
      || !many.every((t) => typeof t === 'string' && t.length > 0 && t.length <= 512)) {
      throw bad(`ackTokens must be an array of 1–${MAX_SETTLE} strings of 1–512 characters`);
    }
    return { ackTokens: many as string[], many: true };
  };
  const withId = <T extends object>(f: T): T & { id?: FrameId } => (id === undefined ? f : { ...f, id });
  switch (o['type']) {
    case 'ping':
      return withId({ type: 'ping' as const });
    case 'auth':
      return withId({ type: 'auth' as const, authorization: str('authorization', 4096)! });
    case 'publish': {
      if (!('data' in o) || o['data'] === undefined) throw bad('publish needs data (a string or any JSON value)');
      const f: ClientFrame = { type: 'publish', topic: str('topic', 200)!, data: o['data'] };
      const ct = str('contentType', 200, true);
      if (ct !== undefined) f.contentType = ct;
      const key = str('idempotencyKey', 256, true);
      if (key !== undefined) f.idempotencyKey = key;
      return withId(f);
    }
    case 'subscribe': {
      const topic = str('topic', 200, true);
      const subscription = str('subscription', 64, true);
      if ((topic === undefined) === (subscription === undefined)) throw bad('subscribe needs exactly one of topic (live) and subscription (durable)');
      const f: ClientFrame = { type: 'subscribe' };
      const sub = subKey(true);
      if (sub !== undefined) f.sub = sub;
      if (topic !== undefined) f.topic = topic;
      if (subscription !== undefined) f.subscription = subscription;
      const batch = o['batch'];
      if (batch !== undefined) {
        if (typeof batch !== 'boolean') throw bad('batch must be true or false');
        if (subscription === undefined) throw bad('batch applies to durable subscriptions only');
        f.batch = batch;
      }
      return withId(f);
    }
    case 'unsubscribe':
      return withId({ type: 'unsubscribe' as const, sub: subKey()! });
    case 'credit': {
      const n = o['n'];
      if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_CREDIT) throw bad(`n must be an integer 1–${MAX_CREDIT}`);
      return withId({ type: 'credit' as const, sub: subKey()!, n: n as number });
    }
    case 'ack':
      return withId({ type: 'ack' as const, sub: subKey()!, ...tokens() });
    case 'nak': {
      const f: ClientFrame = { type: 'nak', sub: subKey()!, ...tokens() };
      const d = o['delayMs'];
      if (d !== undefined) {
        if (!Number.isInteger(d) || (d as number) < 0 || (d as number) > 86_400_000) throw bad('delayMs must be an integer 0–86400000');
        f.delayMs = d as number;
      }
      return withId(f);
    }
    default:
      throw bad(typeof o['type'] === 'string' ? `unknown frame type ${JSON.stringify(o['type'].slice(0, 40))}` : 'a frame needs a string type');
  }
}

/** The id field, if it is a usable one; a bad id is a bad frame (answered without an id). */
function readId(x: unknown): FrameId | undefined {
  if (x === undefined) return undefined;
  if ((typeof x === 'string' && x.length <= 128) || (typeof x === 'number' && Number.isFinite(x))) return x;
  throw new FrameError('SB_ERR_VALIDATION', 'id must be a string of at most 128 characters or a finite number');
}

/** Bytes and content type of a publish frame's data: a string as text, any other JSON value as JSON. */
export function publishBytes(data: unknown, contentType: string | undefined): { data: Uint8Array; contentType: string } {
  if (typeof data === 'string') return { data: Buffer.from(data, 'utf8'), contentType: contentType ?? 'text/plain; charset=utf-8' };
  return { data: Buffer.from(JSON.stringify(data), 'utf8'), contentType: contentType ?? 'application/json' };
}

const JSON_TYPE = /^application\/(?:[A-Za-z0-9!#$&^_.-]+\+)?json\s*(?:;|$)/i;
const TEXT_TYPE = /^text\//i;
// fatal: bytes that are not UTF-8 must travel as base64, not be replaced by U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `"data":…` of a message frame: JSON as itself, text as a string, anything else base64 with `encoding`. */
function dataField(ct: string, data: Uint8Array): string {
  const json = JSON_TYPE.test(ct);
  if (json || TEXT_TYPE.test(ct)) {
    try {
      const text = utf8.decode(data);
      if (!json) return `"data":${JSON.stringify(text)}`;
      JSON.parse(text);
      return `"data":${text}`;
    } catch {
      // fall through to base64
    }
  }
  return `"data":"${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64')}","encoding":"base64"`;
}

/** A `message` frame as JSON text; `ackToken` only for durable subscriptions, `seq` only when known. */
export function messageFrame(sub: string, m: Omit<DeliveredMessage, 'ackToken' | 'seq'> & { ackToken?: string; seq?: number }): string {
  return `{"type":"message","sub":${JSON.stringify(sub)},"topic":${JSON.stringify(m.topic)}`
    + (m.seq === undefined ? '' : `,"seq":${m.seq}`)
    + `,"id":${JSON.stringify(m.id)},"deliveryCount":${m.deliveryCount},"publishedAt":${JSON.stringify(m.publishedAt)}`
    + `,"contentType":${JSON.stringify(m.contentType)},"headers":${JSON.stringify(m.headers)}`
    + (m.ackToken === undefined ? '' : `,"ackToken":${JSON.stringify(m.ackToken)}`)
    + `,${dataField(m.contentType, m.data)}}`;
}

/** An `error` frame. */
export function errorFrame(e: SbError, id?: FrameId, extra?: Record<string, unknown>): string {
  return JSON.stringify({ type: 'error', ...(id === undefined ? {} : { id }), code: e.code, message: e.message, ...extra });
}

/** An `ok` frame answering the client frame `id`. */
export function okFrame(id: FrameId | undefined, extra?: Record<string, unknown>): string {
  return JSON.stringify({ type: 'ok', ...(id === undefined ? {} : { id }), ...extra });
}

/**
 * A `broadcast` frame as bytes, built once per broadcast and sent as-is to every client of the channel
 * (`data` encoded as in message frames).
 */
export function broadcastFrame(channel: string, id: string, publishedAt: string, contentType: string, data: Uint8Array): Buffer {
  return Buffer.from(`{"type":"broadcast","channel":${JSON.stringify(channel)},"id":${JSON.stringify(id)}`
    + `,"publishedAt":${JSON.stringify(publishedAt)},"contentType":${JSON.stringify(contentType)},${dataField(contentType, data)}}`, 'utf8');
}

/**
 * `payload` as one complete server text frame (FIN, opcode 1, unmasked; RFC 6455 §5.2), built once
 * for a broadcast and written as is to every client's socket — what `ws` would frame again per client.
 * Valid only with permessage-deflate off (our servers never compress).
 */
export function wireTextFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81;
  if (n < 126) {
    frame[1] = n;
  } else if (n < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(frame, head);
  return frame;
}
