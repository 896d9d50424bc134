/**
 * Durable subscriptions: definitions in the config store, JetStream pull consumers behind them,
 * stateless ack tokens in front. Retry timing and dead letters are decided here, once (STYLE §2).
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { SubscriptionInfo, SubscriptionSpec } from '../schemas/subscription.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { ConsumerSet } from './consumers.js';
import type { DeadLetters } from './dead-letter.js';
import { decodeAckToken, nakWithDelay, type AckSubject } from './ack-token.js';
import { HEADERS } from '../schemas/message.js';
import type { Connection } from './connection.js';
import type { ConfigStore, DeliveredMessage, SettleResult, SubscriptionManager } from './types.js';
import { pullFair, type PullOutcome, type PullSource, type Pulled } from './puller.js';
import { toDelivered } from './delivery.js';
import { errors, isSbError, SbError, toSbError } from './errors.js';
import { topicMatches } from './subjects.js';
import { TOPIC_STREAM_PREFIX } from './topics.js';
import {
  checkSubscriptionName, consumerName, isWildcard, nakDelayMs, normalizeSpec, sameDefinition, subscriptionKey,
  SUBSCRIPTION_KEY_PREFIX, type SubscriptionRecord,
} from './subscription-record.js';

/** Everything the subscription manager works with. */
export interface SubscriptionDeps {
  conn: Connection;
  config: ConfigStore;
  consumers: ConsumerSet;
  deadLetters: DeadLetters;
  metrics: Metrics;
  logger: Logger;
  topicExists: (topic: string) => Promise<boolean>;
}

// Encoded once: a string payload is UTF-8 encoded again on every publish.
const ACK_BODY = new TextEncoder().encode('+ACK');

/** Messages that arrived after a long-poll returned: served first by the next pull, if still fresh. */
interface Buffered {
  pulled: Pulled;
  at: number;
}

/** The SubscriptionManager over JetStream. */
export class JsSubscriptionManager implements SubscriptionManager {
  private readonly buffers = new Map<string, Buffered[]>();
  private rr = 0;
  private closed = false;
  private readonly sleepers = new Set<() => void>();
  private readonly nc: NatsConnection;

  constructor(private readonly d: SubscriptionDeps) {
    this.nc = d.conn.nc;
  }

  async create(spec: SubscriptionSpec): Promise<SubscriptionInfo> {
    const rec = normalizeSpec(spec, new Date().toISOString());
    const existing = this.d.config.get<SubscriptionRecord>(subscriptionKey(rec.name));
    if (existing) return this.existingOr(existing, rec);
    if (!isWildcard(rec.topic) && !(await this.d.topicExists(rec.topic))) throw errors.topicNotFound(rec.topic);
    try {
      await this.d.config.create(subscriptionKey(rec.name), rec);
    } catch (e) {
      if (!isSbError(e) || e.data?.['exists'] !== true) throw e;
      // Created concurrently elsewhere: our cache may lag, so wait for it before comparing.
      await this.d.config.sync();
      const other = this.d.config.get<SubscriptionRecord>(subscriptionKey(rec.name));
      if (!other) throw errors.subscriptionExists(rec.name);
      return this.existingOr(other, rec);
    }
    await this.d.config.sync();
    await this.d.consumers.reconcile(rec, true);
    return this.info(rec.name);
  }

  async delete(name: string): Promise<void> {
    const rec = this.record(name);
    await this.d.consumers.deleteAll(name, rec.topic);
    await this.d.config.delete(subscriptionKey(name));
    this.buffers.delete(name);
  }

  async list(): Promise<SubscriptionInfo[]> {
    const recs = this.d.config.list<SubscriptionRecord>(SUBSCRIPTION_KEY_PREFIX);
    return Promise.all(recs.map((r) => this.describe(r.value)));
  }

  async info(name: string): Promise<SubscriptionInfo> {
    return this.describe(this.record(name));
  }

  filterOf(name: string): string {
    return this.record(name).topic;
  }

  async pull(name: string, opts: { max: number; waitMs: number }): Promise<DeliveredMessage[]> {
    const rec = this.record(name);
    if (this.closed) throw new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing');
    if (!this.d.conn.connected()) throw errors.backboneUnavailable();
    const max = Math.max(1, Math.floor(opts.max));
    const fresh = this.deliverLive(rec, this.takeBuffered(rec, max));
    if (fresh.length > 0) return fresh;
    const deadline = Date.now() + Math.max(0, opts.waitMs);
    const late = (p: Pulled) => this.buffer(rec.name, p);
    for (;;) {
      const sources = await this.sourcesWithin(rec, deadline);
      const waitMs = Math.max(0, deadline - Date.now());
      let out: PullOutcome;
      try {
        out = await pullFair(this.nc, sources, { max, waitMs, start: this.rr++, late });
      } catch (e) {
        // close() began while we waited: a pull in flight ends normally, empty (STYLE §8: drain, don't fail).
        if (this.closed) return [];
        throw errors.backboneUnavailable(e);
      }
      if (out.missing.length > 0) this.d.consumers.forget(rec.name);
      const live = this.deliverLive(rec, out.messages);
      // Everything that came had expired: keep the long-poll going for a live message.
      if (live.length > 0 || out.messages.length === 0 || Date.now() >= deadline || this.closed) return live;
    }
  }

  async ack(name: string, tokens: string[]): Promise<SettleResult[]> {
    return this.settle(name, tokens, (_rec, ack) => {
      this.d.deadLetters.settled(ack.subject);
      this.nc.publish(ack.subject, ACK_BODY);
    });
  }

  async nak(name: string, tokens: string[], delayMs?: number): Promise<SettleResult[]> {
    if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0)) throw errors.validation('delayMs must be ≥ 0');
    return this.settle(name, tokens, async (rec, ack, topic) => {
      this.d.deadLetters.settled(ack.subject);
      // A nak on the last delivery would never be redelivered: it is exhausted now.
      if (ack.deliveryCount >= rec.maxDeliver) {
        await this.d.deadLetters.deadLetter({ rec, topic, ack, reason: 'max_deliver' });
        return;
      }
      this.nc.publish(ack.subject, nakWithDelay(nakDelayMs(rec, ack.deliveryCount, delayMs)));
    });
  }

  async term(name: string, tokens: string[], reason?: string): Promise<SettleResult[]> {
    return this.settle(name, tokens, async (rec, ack, topic) => {
      this.d.deadLetters.settled(ack.subject);
      await this.d.deadLetters.deadLetter({ rec, topic, ack, reason: 'terminated', ...(reason ? { termReason: reason } : {}) });
    });
  }

  /** Drops buffered deliveries and ends waiting pulls early (on close). */
  close(): void {
    this.closed = true;
    this.buffers.clear();
    for (const wake of [...this.sleepers]) wake();
  }

  /** The subscription and topic a consumer on `stream` belongs to (for the advisory backstop). */
  async lookupConsumer(consumer: string, stream: string): Promise<{ rec: SubscriptionRecord; topic: string } | undefined> {
    if (!consumer.startsWith('SBS_')) return undefined;
    const rec = this.d.config.get<SubscriptionRecord>(subscriptionKey(consumer.slice(4)));
    const topic = rec ? await this.d.consumers.topicFor(stream) : undefined;
    return rec && topic ? { rec, topic } : undefined;
  }

  /**
   * The subscription's consumers; while a wildcard matches no topic yet, keep reconciling (once a second,
   * there is no event for "a topic appeared on another replica") until `deadline`, so a long-poll does not
   * turn into a hot loop of empty answers.
   */
  private async sourcesWithin(rec: SubscriptionRecord, deadline: number): Promise<PullSource[]> {
    for (;;) {
      const sources = await this.d.consumers.sources(rec);
      const left = deadline - Date.now();
      if (sources.length > 0 || left <= 0 || this.closed) return sources;
      await new Promise<void>((r) => {
        const wake = () => { clearTimeout(t); this.sleepers.delete(wake); r(); };
        const t = setTimeout(wake, Math.min(1000, left));
        this.sleepers.add(wake);
      });
    }
  }

  private record(name: string): SubscriptionRecord {
    checkSubscriptionName(name);
    const rec = this.d.config.get<SubscriptionRecord>(subscriptionKey(name));
    if (!rec) throw errors.subscriptionNotFound(name);
    return rec;
  }

  private async existingOr(existing: SubscriptionRecord, wanted: SubscriptionRecord): Promise<SubscriptionInfo> {
    if (!sameDefinition(existing, wanted)) throw errors.subscriptionExists(wanted.name);
    return this.describe(existing);
  }

  private async describe(rec: SubscriptionRecord): Promise<SubscriptionInfo> {
    const c = await this.d.consumers.counts(rec);
    return { ...rec, topics: c.topics, pending: c.pending, ackPending: c.ackPending, redelivered: c.redelivered };
  }

  /** Hands out what is live; a message past its Sb-Expires-At is dead-lettered (reason `expired`) instead. */
  private deliverLive(rec: SubscriptionRecord, pulled: Pulled[]): DeliveredMessage[] {
    const now = Date.now();
    const out: DeliveredMessage[] = [];
    for (const p of pulled) {
      const { message: m, ack } = toDelivered(p);
      const expiresAt = m.headers[HEADERS.expiresAt];
      // A dead-letter copy keeps the original's headers for inspection; its expiry no longer applies.
      if (expiresAt && m.headers[HEADERS.dlqReason] === undefined && Date.parse(expiresAt) <= now) {
        this.d.deadLetters.deadLetter({ rec, topic: m.topic, ack, reason: 'expired' })
          .catch((err: unknown) => this.d.logger.error({ err, subscription: rec.name }, 'dead-letter of an expired message failed'));
        continue;
      }
      if (m.deliveryCount >= rec.maxDeliver) this.d.deadLetters.armLastDelivery({ rec, topic: m.topic, ack, reason: 'max_deliver' });
      out.push(m);
    }
    this.count(out);
    return out;
  }

  // One labelled increment per topic and pull, not per message: label hashing shows up in profiles.
  private count(msgs: DeliveredMessage[]): void {
    const per = new Map<string, [number, number]>();
    for (const m of msgs) {
      const c = per.get(m.topic) ?? [0, 0];
      c[0]++;
      if (m.deliveryCount > 1) c[1]++;
      per.set(m.topic, c);
    }
    for (const [topic, [delivered, redelivered]] of per) {
      this.d.metrics.deliveries.inc({ topic }, delivered);
      if (redelivered > 0) this.d.metrics.redeliveries.inc({ topic }, redelivered);
    }
  }

  private buffer(name: string, pulled: Pulled): void {
    const b = this.buffers.get(name) ?? [];
    b.push({ pulled, at: Date.now() });
    this.buffers.set(name, b);
  }

  // A buffered delivery older than half the ack wait may be redelivered soon: drop it rather than hand out a twin.
  private takeBuffered(rec: SubscriptionRecord, max: number): Pulled[] {
    const b = this.buffers.get(rec.name);
    if (!b) return [];
    const limit = Date.now() - rec.ackWaitMs / 2;
    const fresh = b.filter((x) => x.at >= limit);
    const taken = fresh.splice(0, max);
    if (fresh.length > 0) this.buffers.set(rec.name, fresh);
    else this.buffers.delete(rec.name);
    return taken.map((x) => x.pulled);
  }

  /**
   * Settles each token with `fn`. Synchronous per token when its stream's topic is known and `fn` is
   * (an ack): a frame of hundreds of tokens costs no promise per token.
   */
  private async settle(
    name: string,
    tokens: string[],
    fn: (rec: SubscriptionRecord, ack: AckSubject, topic: string) => Promise<void> | void,
  ): Promise<SettleResult[]> {
    const rec = this.record(name);
    const durable = consumerName(name);
    const out: Array<SettleResult | Promise<SettleResult>> = [];
    let pending = false;
    const failed = (token: string, e: unknown): SettleResult => {
      const err = toSbError(e);
      if (err.code === 'SB_ERR_INTERNAL') this.d.logger.error({ err: e, subscription: name }, 'settle failed');
      return { token, ok: false, error: { code: err.code, message: err.message } };
    };
    // The stream must be one of this subscription's topics: a token naming another stream could
    // otherwise copy a message the caller may not read into the dead-letter topic.
    const check = (topic: string | undefined): string => {
      if (topic === undefined || !topicMatches(rec.topic, topic)) throw errors.invalidAckToken('the token names a topic outside this subscription');
      return topic;
    };
    for (const token of tokens) {
      try {
        const ack = decodeAckToken(token, durable);
        if (!this.d.conn.connected()) throw errors.backboneUnavailable();
        const known = this.d.consumers.knownTopic(ack.stream);
        if (known === undefined && ack.stream.startsWith(TOPIC_STREAM_PREFIX)) {
          pending = true;
          out.push(this.d.consumers.topicFor(ack.stream).then((t) => fn(rec, ack, check(t))).then(() => ({ token, ok: true }), (e: unknown) => failed(token, e)));
          continue;
        }
        const r = fn(rec, ack, check(known));
        if (r === undefined) {
          out.push({ token, ok: true });
        } else {
          pending = true;
          out.push(r.then(() => ({ token, ok: true }), (e: unknown) => failed(token, e)));
        }
      } catch (e) {
        out.push(failed(token, e));
      }
    }
    return pending ? Promise.all(out) : (out as SettleResult[]);
  }
}
