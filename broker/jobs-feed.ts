/**
 * A continuous pull on one job type's consumer: pull requests (`MSG.NEXT`, batch = free slots,
 * expiring after `expiresMs`) stay open on the server, which hands each job to the worker the moment
 * it is queued — no round trip per job or per batch. The runtime asks for more whenever slots free up;
 * the feed counts what it has asked for and not yet received, so the worker never holds more than its
 * concurrency. This is what nats.js's consume() does, on raw requests so we control the batch.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { parseAckSubject, type AckSubject } from './ack-token.js';
import { consumerGone, requestNext, type PullSource } from './puller.js';

interface OpenRequest {
  left: number;
  expiresAt: number;
}

// A request whose end (408) never arrives (socket dropped) is forgotten this long after its expiry.
const GRACE_MS = 2000;

/** What the feed tells its owner. */
export interface FeedEvents {
  /** A delivery (parsed ack subject included). */
  message: (msg: Msg, ack: AckSubject) => void;
  /** A request ended (expired, or the server refused it): the owner may ask again. */
  ended: () => void;
  /** The consumer is gone (deleted by hand): the owner re-creates it. */
  missing: () => void;
}

/** The continuous pull of one consumer. */
export class JobFeed {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly open = new Map<string, OpenRequest>();
  private counter = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly source: PullSource,
    private readonly on: FeedEvents,
  ) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (_e, msg) => this.onMsg(msg) });
  }

  /** Jobs asked for and not yet delivered. */
  get outstanding(): number {
    let n = 0;
    for (const r of this.open.values()) n += r.left;
    return n;
  }

  /** Open requests (each ends with a status or its local expiry). */
  get requests(): number {
    return this.open.size;
  }

  /** Asks the server for up to `batch` jobs, delivered as they come within `expiresMs`. */
  request(batch: number, expiresMs: number): void {
    if (this.closed || batch <= 0) return;
    const id = String(++this.counter);
    this.open.set(id, { left: batch, expiresAt: Date.now() + expiresMs + GRACE_MS });
    try {
      requestNext(this.nc, this.source, `${this.inbox}.${id}`, batch, expiresMs);
    } catch {
      this.open.delete(id);
    }
  }

  /** Forgets requests whose end never came (call it from a timer). */
  sweep(): void {
    const now = Date.now();
    let ended = false;
    for (const [id, r] of this.open) {
      if (r.expiresAt <= now) {
        this.open.delete(id);
        ended = true;
      }
    }
    if (ended) this.on.ended();
  }

  /** Stops the subscription. Call it once no request is open (or deliveries to it are redelivered later). */
  close(): void {
    this.closed = true;
    this.open.clear();
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }

  private onMsg(msg: Msg): void {
    // A job carries its own subject; only a status arrives on the request's. Checked in that order so a
    // job's headers (often none) are not decoded here.
    if (msg.subject.startsWith(this.inbox) && (msg.headers?.code ?? 0) >= 100) {
      // A status ends its request: 408 expired, 404 nothing, 409 refused (limits, or the consumer deleted), 503 gone.
      const id = msg.subject.slice(this.inbox.length + 1);
      this.open.delete(id);
      if (consumerGone(msg)) this.on.missing();
      this.on.ended();
      return;
    }
    const ack = msg.reply ? parseAckSubject(msg.reply) : undefined;
    if (!ack || ack.consumer !== this.source.consumer) return;
    // Data messages carry their own subject, not the request's: the server serves requests in order,
    // so it counts against the oldest open one.
    for (const [id, r] of this.open) {
      if (--r.left <= 0) this.open.delete(id);
      break;
    }
    this.on.message(msg, ack);
  }
}
