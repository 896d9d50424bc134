/**
 * Signals: core NATS on the process's one connection — at most once, never stored, fanned out to
 * every subscriber. For what must reach every replica now and need not survive (WebSocket broadcast,
 * presence queries, live topic taps), never for what must not be lost (that is a topic).
 * Names are dot-separated tokens of [A-Za-z0-9_-]; signal `x.y` travels on subject `sb.sig.x.y`.
 */
import { headers as natsHeaders, type Msg, type MsgHdrs } from '@nats-io/nats-core';
import { HEADERS } from '../schemas/message.js';
import type { Connection } from './connection.js';
import { errors } from './errors.js';
import { SUBJECT_PREFIX, topicSubject, validateTopicFilter, validateTopicName } from './subjects.js';
import type { Signal, SignalBus, SignalHandle, TappedMessage } from './types.js';

const SIGNAL_PREFIX = `${SUBJECT_PREFIX}.sig.`;
const TOPIC_PREFIX = `${SUBJECT_PREFIX}.topic.`;

/** Default quiet time that ends a gather, and its overall bound (ms). */
export const GATHER_STALL_MS = 250;
export const GATHER_MAX_WAIT_MS = 2000;

/** The signal bus over `conn` (see SignalBus in types.ts). */
export class NatsSignalBus implements SignalBus {
  constructor(private readonly conn: Connection) {}

  emit(name: string, data: Uint8Array, headers?: Record<string, string>): void {
    validateTopicName(name);
    if (!this.conn.connected()) throw errors.backboneUnavailable();
    this.conn.nc.publish(SIGNAL_PREFIX + name, data, headers ? { headers: toHdrs(headers) } : undefined);
  }

  on(pattern: string, fn: (s: Signal) => void, opts: { queue?: string } = {}): SignalHandle {
    validateTopicFilter(pattern);
    const sub = this.conn.nc.subscribe(SIGNAL_PREFIX + pattern, {
      ...(opts.queue === undefined ? {} : { queue: opts.queue }),
      callback: (err, msg) => {
        if (err) return;
        const s: Signal = { name: msg.subject.slice(SIGNAL_PREFIX.length), data: msg.data, headers: fromHdrs(msg.headers) };
        if (msg.reply) s.reply = (data) => { msg.respond(data); };
        fn(s);
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async gather(name: string, data: Uint8Array, opts: { stallMs?: number; maxWaitMs?: number } = {}): Promise<Uint8Array[]> {
    validateTopicName(name);
    if (!this.conn.connected()) throw errors.backboneUnavailable();
    const out: Uint8Array[] = [];
    try {
      const it = await this.conn.nc.requestMany(SIGNAL_PREFIX + name, data, {
        strategy: 'stall', stall: opts.stallMs ?? GATHER_STALL_MS, maxWait: opts.maxWaitMs ?? GATHER_MAX_WAIT_MS,
      });
      for await (const m of it) out.push(m.data);
    } catch (e) {
      // No responders: nobody listens, which is an empty answer, not a failure.
      if ((e as { code?: string }).code === '503' || /no responders/i.test(String((e as Error).message))) return out;
      throw errors.backboneUnavailable(e);
    }
    return out;
  }

  tap(filter: string, fn: (m: TappedMessage) => void): SignalHandle {
    validateTopicFilter(filter);
    const sub = this.conn.nc.subscribe(topicSubject(filter), { callback: (err, msg) => { if (!err) fn(tapped(msg)); } });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async flush(): Promise<void> {
    try {
      await this.conn.nc.flush();
    } catch (e) {
      throw errors.backboneUnavailable(e);
    }
  }
}

function toHdrs(h: Record<string, string>): MsgHdrs {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

function fromHdrs(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h) for (const [k, vs] of h) if (vs[0] !== undefined) out[k] = vs[0];
  return out;
}

/** A topic message seen on the wire as it was published: no seq, no ack token (core NATS has neither). */
function tapped(msg: Msg): TappedMessage {
  const headers = fromHdrs(msg.headers);
  return {
    id: headers[HEADERS.msgId] ?? '',
    topic: msg.subject.slice(TOPIC_PREFIX.length),
    deliveryCount: 1,
    publishedAt: new Date().toISOString(),
    headers,
    contentType: headers[HEADERS.contentType] ?? 'application/octet-stream',
    data: msg.data,
  };
}
