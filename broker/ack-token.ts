/**
 * Stateless ack tokens: the JetStream ack reply subject, base64url-encoded, so a message pulled on one
 * replica can be settled on any other. A token is a reference, not a capability: the subscription's
 * ACL decides who may settle, and {@link decodeAckToken} plus the subscription manager check that the
 * token names this subscription's consumer on one of this subscription's topics. A forged token can
 * therefore only settle a message its caller may read and settle anyway (docs/backbone.md, "Ack tokens").
 */
import { nanos } from '@nats-io/nats-core';
import { errors } from './errors.js';

/** What an ack subject says about one delivery. */
export interface AckSubject {
  subject: string;
  stream: string;
  consumer: string;
  deliveryCount: number;
  streamSeq: number;
  consumerSeq: number;
  /** When the stream stored the message (not when it was delivered), nanoseconds since the epoch, as a string: it does not fit a double. */
  timestampNs: string;
  pending: number;
}

/** Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (2.9) or the v2 form with domain and account hash. */
export function parseAckSubject(subject: string): AckSubject | undefined {
  // Hot path (every delivery and every settle): no regexes or intermediate arrays beyond the split.
  const t = subject.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined;
  // 9 tokens: the 2.9 form; 11 or 12: `$JS.ACK.<domain>.<hash>.` then the same fields (+ a random token).
  const o = t.length === 9 ? 2 : t.length === 11 || t.length === 12 ? 4 : -1;
  if (o < 0) return undefined;
  const stream = t[o];
  const consumer = t[o + 1];
  const ts = t[o + 5];
  const deliveryCount = digits(t[o + 2]);
  const streamSeq = digits(t[o + 3]);
  const consumerSeq = digits(t[o + 4]);
  const pending = digits(t[o + 6]);
  if (!stream || !consumer || !ts || deliveryCount < 0 || streamSeq < 0 || consumerSeq < 0 || pending < 0) return undefined;
  for (let i = 0; i < ts.length; i++) {
    const c = ts.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return { subject, stream, consumer, deliveryCount, streamSeq, consumerSeq, timestampNs: ts, pending };
}

/** The store time of an ack subject's message in epoch milliseconds (the nanosecond field, truncated). */
export function storedAtMs(ack: Pick<AckSubject, 'timestampNs'>): number {
  // Without BigInt: this runs once per delivery.
  const ns = ack.timestampNs;
  return ns.length > 6 ? Number(ns.slice(0, ns.length - 6)) : 0;
}

/** A non-negative safe integer written in decimal digits only, else -1. */
function digits(s: string | undefined): number {
  if (!s || s.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** The payload of a nak that redelivers after `delayMs` (published on the message's ack subject). */
export function nakWithDelay(delayMs: number): string {
  return `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}`;
}

const ACK_PREFIX = '$JS.ACK.';

/**
 * The token handed to a client: the ack subject without its `$JS.ACK.` prefix, e.g.
 * `SBT_orders_1a2b3c4d.SBS_billing.1.42.40.1795940264315571279.0`. URL-safe as is (stream and consumer
 * names are `[A-Za-z0-9_-]`), and smaller than base64 — it travels three times per message.
 */
export function encodeAckToken(ackSubject: string): string {
  return ackSubject.startsWith(ACK_PREFIX) ? ackSubject.slice(ACK_PREFIX.length) : ackSubject;
}

/** Rebuilds the ack subject of a token and checks it names `consumer`; throws SB_ERR_INVALID_ACK_TOKEN. */
export function decodeAckToken(token: string, consumer: string): AckSubject {
  if (typeof token !== 'string' || token.length === 0 || token.length > 512) throw errors.invalidAckToken('malformed');
  const parsed = parseAckSubject(ACK_PREFIX + token);
  if (!parsed) throw errors.invalidAckToken('malformed');
  if (parsed.consumer !== consumer) throw errors.invalidAckToken('the token belongs to another subscription');
  return parsed;
}
