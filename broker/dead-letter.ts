/**
 * Dead letters, decided on our side. On 2.9 the server forgets an exhausted message (and sends the
 * MAX_DELIVERIES advisory) only when someone pulls again, so we dead-letter when a message is termed,
 * nak'ed on its last delivery, or its last delivery's ack wait runs out; the advisory is a backstop for
 * a process that crashed holding a last delivery. The copy is stored first, then the original termed.
 */
import { headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { DeadLetterReason } from '../schemas/message.js';
import { HEADERS } from '../schemas/message.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Publisher } from './publisher.js';
import type { StreamTopicManager } from './topics.js';
import type { AckSubject } from './ack-token.js';
import type { SubscriptionRecord } from './subscription-record.js';
import { isSbError } from './errors.js';
import { topicSubject } from './subjects.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';

/** Header carrying the reason string a client gave to `term` (dead-letter copies only). */
const ADVISORY = '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.*.*';
// Past the server's ack wait, so the server has surely given up on the delivery too.
const TIMER_MARGIN_MS = 200;

/** One delivery to dead-letter. */
export interface DeadLetterJob {
  rec: SubscriptionRecord;
  topic: string;
  ack: Pick<AckSubject, 'stream' | 'streamSeq' | 'deliveryCount'> & { subject?: string };
  reason: DeadLetterReason;
  termReason?: string;
}

/** Moves exhausted or terminated messages to their subscription's dead-letter topic. */
export class DeadLetters {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private advisorySub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly publisher: Publisher,
    private readonly topics: StreamTopicManager,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Stores the copy (deduplicated per stream+seq), then terms the original. Throws if the copy fails. */
  async deadLetter(job: DeadLetterJob): Promise<void> {
    const { rec, ack } = job;
    if (rec.deadLetterTopic) {
      // null only for "no message found" (retention took it); any other failure must not lead to a term.
      const stored = await this.jsm.streams.getMessage(ack.stream, { seq: ack.streamSeq }).catch((e: unknown) => { throw toBackboneError(e); });
      if (stored) await this.storeCopy(job, rec.deadLetterTopic, stored.header, stored.data);
      else this.log.warn({ subscription: rec.name, stream: ack.stream, seq: ack.streamSeq }, 'message to dead-letter is gone (retention); termed');
    } else {
      // Expiry is the publisher's intent, not a failure: not worth a warning per message.
      const level = job.reason === 'expired' ? 'debug' : 'warn';
      this.log[level]({ subscription: rec.name, topic: job.topic, seq: ack.streamSeq, reason: job.reason }, 'no dead-letter topic; message dropped');
    }
    this.metrics.deadLetters.inc({ topic: job.topic, reason: job.reason });
    if (ack.subject) this.nc.publish(ack.subject, '+TERM');
  }

  /** Arms the ack-wait timer of a last delivery handed out by this process. */
  armLastDelivery(job: DeadLetterJob & { ack: AckSubject }): void {
    const key = job.ack.subject;
    if (this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.expired(job).catch((err: unknown) => this.log.error({ err, subscription: job.rec.name }, 'dead-letter after ack wait failed'));
    }, job.rec.ackWaitMs + TIMER_MARGIN_MS);
    this.timers.set(key, t);
  }

  // An ack on another replica is invisible here, except when it moved the consumer's ack floor past
  // the message: check that (one API call) before copying. An ack above the floor elsewhere can still
  // yield a duplicate dead letter; at-least-once makes that acceptable (docs/backbone.md).
  private async expired(job: DeadLetterJob & { ack: AckSubject }): Promise<void> {
    let floor = 0;
    try {
      floor = (await this.jsm.consumers.info(job.ack.stream, job.ack.consumer)).ack_floor.stream_seq;
    } catch (e) {
      // Consumer or stream deleted: nothing left to dead-letter. Other failures: try the copy anyway.
      if (jsErrCode(e) === JS_ERR.consumerNotFound || jsErrCode(e) === JS_ERR.streamNotFound) return;
    }
    if (floor >= job.ack.streamSeq) return;
    await this.deadLetter(job);
  }

  /** The delivery was acked, nak'ed or termed here: no timer-driven dead letter for it. */
  settled(ackSubject: string): void {
    const t = this.timers.get(ackSubject);
    if (t) clearTimeout(t);
    this.timers.delete(ackSubject);
  }

  /**
   * Listens for MAX_DELIVERIES advisories of our consumers in queue group `sb-dlq.<deployment>`: one
   * replica handles each advisory, and deployments sharing one NATS (told apart by their config
   * bucket) do not steal each other's advisories.
   */
  startBackstop(deployment: string, lookup: (consumer: string, stream: string) => Promise<{ rec: SubscriptionRecord; topic: string } | undefined>): void {
    this.advisorySub = this.nc.subscribe(ADVISORY, {
      queue: `sb-dlq.${deployment}`,
      callback: (_err, msg) => {
        let a: { stream?: string; consumer?: string; stream_seq?: number; deliveries?: number };
        try {
          a = msg.json();
        } catch {
          return;
        }
        const { stream, consumer, stream_seq: seq } = a;
        if (!stream || !consumer || typeof seq !== 'number') return;
        lookup(consumer, stream)
          .then((found) => {
            if (!found) return undefined;
            const ack = { stream, streamSeq: seq, deliveryCount: a.deliveries ?? found.rec.maxDeliver };
            // No ack subject: the server already dropped it from pending when it sent the advisory.
            return this.deadLetter({ rec: found.rec, topic: found.topic, ack, reason: 'max_deliver' });
          })
          .catch((err: unknown) => this.log.error({ err, consumer }, 'dead-letter from advisory failed'));
      },
    });
  }

  /** Cancels timers and the advisory subscription. */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.advisorySub && !this.nc.isClosed()) this.advisorySub.unsubscribe();
  }

  private async storeCopy(job: DeadLetterJob, dlqTopic: string, orig: MsgHdrs | undefined, data: Uint8Array): Promise<void> {
    const h = natsHeaders();
    for (const [k, vs] of orig ? orig : []) for (const v of vs) h.append(k, v);
    h.set(HEADERS.dlqReason, job.reason);
    h.set(HEADERS.dlqDeliveryCount, String(job.ack.deliveryCount));
    h.set(HEADERS.dlqTopic, job.topic);
    h.set(HEADERS.dlqSeq, String(job.ack.streamSeq));
    h.set(HEADERS.dlqSubscription, job.rec.name);
    if (job.termReason) h.set(HEADERS.dlqTermReason, job.termReason.slice(0, 1024));
    // Same id from the timer path and the advisory path (any replica): JetStream keeps one copy.
    h.set(HEADERS.natsMsgId, `dlq:${job.ack.stream}:${job.ack.streamSeq}`);
    const subject = topicSubject(dlqTopic);
    try {
      await this.publisher.send(subject, data, h);
    } catch (e) {
      if (!isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND')) throw e;
      await this.topics.create({ name: dlqTopic }).catch((err: unknown) => { if (!isSbError(err, 'SB_ERR_TOPIC_EXISTS')) throw err; });
      await this.publisher.send(subject, data, h);
    }
  }
}
