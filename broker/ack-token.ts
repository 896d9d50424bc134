/**
 * Stateless ack tokens: the JetStream ack reply subject plus a short HMAC tag, so a message pulled on
 * one replica can be acked on another, and a client can neither forge a token nor use one on another
 * subscription's consumer.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors } from './errors.js';

/** The config-store key of the per-deployment secret the tag key is derived from. */
export const ACK_KEY_CONFIG_KEY = 'secret.ack-token-key';
const TAG_BYTES = 12;

/** What an ack subject says about one delivery. */
export interface AckSubject {
  subject: string;
  stream: string;
  consumer: string;
  deliveryCount: number;
  streamSeq: number;
  consumerSeq: number;
  /** Delivery time, nanoseconds since the epoch (as a string: it does not fit a double). */
  timestampNs: string;
  pending: number;
}

/** Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (2.9) or the v2 form with domain and account hash. */
export function parseAckSubject(subject: string): AckSubject | undefined {
  const t = subject.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined;
  // 9 tokens: the 2.9 form; 11 or 12: `$JS.ACK.<domain>.<hash>.` then the same fields (+ a random token).
  const o = t.length === 9 ? 2 : t.length === 11 || t.length === 12 ? 4 : -1;
  if (o < 0) return undefined;
  const nums = [t[o + 2], t[o + 3], t[o + 4], t[o + 6]].map((x) => Number(x));
  const [stream, consumer, ts] = [t[o], t[o + 1], t[o + 5]];
  if (!stream || !consumer || !ts || !/^\d+$/.test(ts) || nums.some((n) => !Number.isSafeInteger(n) || n < 0)) return undefined;
  const [deliveryCount, streamSeq, consumerSeq, pending] = nums as [number, number, number, number];
  return { subject, stream, consumer, deliveryCount, streamSeq, consumerSeq, timestampNs: ts, pending };
}

/** A new random secret for {@link ACK_KEY_CONFIG_KEY} (base64url, 32 bytes). */
export function newAckSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Signs and verifies ack tokens with a key derived from the deployment secret. */
export class AckTokens {
  private readonly key: Buffer;

  constructor(secret: string) {
    // Derive a purpose-bound key so the stored secret can seed other keys later without reuse.
    this.key = createHmac('sha256', secret).update('switchboard ack-token v1').digest();
  }

  /** The opaque token for an ack subject. */
  encode(ackSubject: string): string {
    return `${Buffer.from(ackSubject).toString('base64url')}.${this.tag(ackSubject).toString('base64url')}`;
  }

  /** Verifies the tag and that the delivery belongs to `consumer`; throws SB_ERR_INVALID_ACK_TOKEN. */
  decode(token: string, consumer: string): AckSubject {
    if (typeof token !== 'string' || token.length > 1024) throw errors.invalidAckToken('malformed');
    const [body, tag, extra] = token.split('.');
    if (!body || !tag || extra !== undefined) throw errors.invalidAckToken('malformed');
    const subject = Buffer.from(body, 'base64url').toString();
    const given = Buffer.from(tag, 'base64url');
    const want = this.tag(subject);
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw errors.invalidAckToken('bad signature');
    const parsed = parseAckSubject(subject);
    if (!parsed) throw errors.invalidAckToken('malformed');
    if (parsed.consumer !== consumer) throw errors.invalidAckToken('the token belongs to another subscription');
    return parsed;
  }

  private tag(subject: string): Buffer {
    return createHmac('sha256', this.key).update(subject).digest().subarray(0, TAG_BYTES);
  }
}
