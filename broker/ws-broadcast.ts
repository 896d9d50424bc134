/**
 * WebSocket broadcast, the sending side shared by the REST route, the CLI (through REST) and job
 * handlers (`ctx.broadcast`): one core NATS signal `ws.bcast.<channel>` that every gateway replica
 * receives and fans out to its clients of that channel. At most once, never stored (docs/ws-protocol.md).
 */
import { nuid } from '@nats-io/nats-core';
import { HEADERS } from '../schemas/message.js';
import { SIMPLE_NAME_MAX } from '../schemas/names.js';
import { WS_BROADCAST_SIGNAL, WS_PUBLISHED_AT_HEADER } from '../schemas/ws.js';
import { SbError, isSbError } from './errors.js';
import type { SignalBus } from './types.js';

const CHANNEL = /^[A-Za-z0-9_-]+$/;

/** Options of {@link broadcast}. */
export interface BroadcastOptions {
  /** Content-Type of the payload; decides how clients get `data` (JSON value, text, base64). */
  contentType: string;
  /** The principal that sent it (header Sb-Publisher). */
  publisher: string;
}

/**
 * Sends `payload` to every client of WebSocket channel `channel` on every gateway replica and returns
 * its message id at once (fire and forget). Throws SB_ERR_VALIDATION for a bad channel name and
 * SB_ERR_BACKBONE_UNAVAILABLE while disconnected. Does not check that the channel exists.
 */
export function broadcast(signals: SignalBus, channel: string, payload: Uint8Array, opts: BroadcastOptions): { id: string } {
  if (channel.length > SIMPLE_NAME_MAX || !CHANNEL.test(channel)) {
    throw new SbError('SB_ERR_VALIDATION', `invalid WebSocket channel name: 1–${SIMPLE_NAME_MAX} characters of [A-Za-z0-9_-]`);
  }
  const id = nuid.next();
  try {
    signals.emit(`${WS_BROADCAST_SIGNAL}.${channel}`, payload, {
      [HEADERS.msgId]: id,
      [HEADERS.contentType]: opts.contentType,
      [HEADERS.publisher]: opts.publisher,
      [WS_PUBLISHED_AT_HEADER]: new Date().toISOString(),
    });
  } catch (e) {
    if (isSbError(e) && e.code !== 'SB_ERR_BACKBONE_UNAVAILABLE') throw e;
    throw new SbError('SB_ERR_BACKBONE_UNAVAILABLE', 'the message backbone is unavailable; the broadcast was not sent', { cause: e });
  }
  return { id };
}

/** Bytes and content type of a value a handler broadcasts: bytes as they are, a string as text, anything else as JSON. */
export function broadcastBytes(data: unknown, contentType?: string): { data: Uint8Array; contentType: string } {
  if (data instanceof Uint8Array) return { data, contentType: contentType ?? 'application/octet-stream' };
  if (typeof data === 'string') return { data: Buffer.from(data, 'utf8'), contentType: contentType ?? 'text/plain; charset=utf-8' };
  if (data === undefined) throw new SbError('SB_ERR_VALIDATION', 'broadcast needs data (a JSON value, a string or bytes)');
  return { data: Buffer.from(JSON.stringify(data), 'utf8'), contentType: contentType ?? 'application/json' };
}
