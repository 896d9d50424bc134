/**
 * The durable consumers behind subscriptions. A subscription's filter may match many topics and every
 * topic is its own stream, so a subscription owns one consumer per matching stream; the config store
 * says what should exist, and `reconcile` makes the consumers match it.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from './log.js';
import type { PullSource } from './puller.js';
import type { StreamTopicManager } from './topics.js';
import { consumerConfig, consumerName, type SubscriptionRecord } from './subscription-record.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';
import { topicOfStream, topicStreamName } from './topics.js';
import { topicMatches } from './subjects.js';

// Reconcile from `pull` at most this often per subscription: listing streams is an API call.
const RECONCILE_EVERY_MS = 1000;

/** Live counters summed over a subscription's consumers. */
export interface ConsumerCounts {
  pending: number;
  ackPending: number;
  redelivered: number;
}

/** Keeps each subscription's consumers in step with the topics its filter matches. */
export class ConsumerSet {
  private readonly known = new Map<string, { sources: PullSource[]; at: number }>();
  // Stream → topic never changes for a stream name, so this cache needs no invalidation.
  private readonly topicOf = new Map<string, string>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly topics: StreamTopicManager,
    private readonly log: Logger,
  ) {}

  /** The sources of `rec`, reconciled when `force` or when the last reconcile is older than a second. */
  async sources(rec: SubscriptionRecord, force = false): Promise<PullSource[]> {
    const k = this.known.get(rec.name);
    if (k && !force && Date.now() - k.at < RECONCILE_EVERY_MS) return k.sources;
    return this.reconcile(rec, false);
  }

  /** Creates missing consumers of `rec` on every matching topic; `initial` at subscription creation. */
  async reconcile(rec: SubscriptionRecord, initial: boolean): Promise<PullSource[]> {
    const durable = consumerName(rec.name);
    const matching = await this.topics.matching(rec.topic);
    const have = new Set((this.known.get(rec.name)?.sources ?? []).map((s) => s.stream));
    const sources: PullSource[] = [];
    for (const { topic, stream } of matching) {
      this.topicOf.set(stream, topic);
      const src = { topic, stream, consumer: durable };
      if (have.has(stream) || (await this.ensure(rec, stream, initial))) sources.push(src);
    }
    this.known.set(rec.name, { sources, at: Date.now() });
    return sources;
  }

  /** Adds the consumer of `rec` on a newly created topic, if the filter matches it. */
  async onTopicCreated(rec: SubscriptionRecord, topic: string): Promise<void> {
    if (!topicMatches(rec.topic, topic)) return;
    const stream = topicStreamName(topic);
    this.topicOf.set(stream, topic);
    if (await this.ensure(rec, stream, false)) {
      const k = this.known.get(rec.name);
      if (k && !k.sources.some((s) => s.stream === stream)) k.sources.push({ topic, stream, consumer: consumerName(rec.name) });
    }
  }

  /** The topic held by `stream` if this process has seen it (no I/O: the settle hot path). */
  knownTopic(stream: string): string | undefined {
    return this.topicOf.get(stream);
  }

  /** The topic held by `stream` (cached; asks JetStream once for a stream this process has not seen). */
  async topicFor(stream: string): Promise<string | undefined> {
    const known = this.topicOf.get(stream);
    if (known !== undefined) return known;
    try {
      const topic = topicOfStream(await this.jsm.streams.info(stream));
      if (topic !== undefined) this.topicOf.set(stream, topic);
      return topic;
    } catch (e) {
      if (jsErrCode(e) === JS_ERR.streamNotFound) return undefined;
      throw toBackboneError(e);
    }
  }

  /** Forgets cached sources (a consumer went missing); the next pull reconciles. */
  forget(name: string): void {
    this.known.delete(name);
  }

  /** Deletes every consumer of subscription `name` on the topics `filter` matches. */
  async deleteAll(name: string, filter: string): Promise<void> {
    this.known.delete(name);
    for (const { stream } of await this.topics.matching(filter)) {
      try {
        await this.jsm.consumers.delete(stream, consumerName(name));
      } catch (e) {
        const code = jsErrCode(e);
        if (code !== JS_ERR.consumerNotFound && code !== JS_ERR.streamNotFound) throw toBackboneError(e);
      }
    }
  }

  /** Sums pending / ack-pending / redelivered over the consumers of `rec`. */
  async counts(rec: SubscriptionRecord): Promise<ConsumerCounts & { topics: string[] }> {
    const out = { pending: 0, ackPending: 0, redelivered: 0, topics: [] as string[] };
    for (const s of await this.sources(rec, true)) {
      try {
        const ci = await this.jsm.consumers.info(s.stream, s.consumer);
        out.pending += ci.num_pending;
        out.ackPending += ci.num_ack_pending;
        out.redelivered += ci.num_redelivered;
        out.topics.push(s.topic);
      } catch (e) {
        if (jsErrCode(e) !== JS_ERR.consumerNotFound && jsErrCode(e) !== JS_ERR.streamNotFound) throw toBackboneError(e);
      }
    }
    out.topics.sort();
    return out;
  }

  // Returns true when the consumer exists afterwards (false: the stream vanished meanwhile).
  private async ensure(rec: SubscriptionRecord, stream: string, initial: boolean): Promise<boolean> {
    try {
      await this.jsm.consumers.info(stream, consumerName(rec.name));
      return true;
    } catch (e) {
      const code = jsErrCode(e);
      if (code === JS_ERR.streamNotFound) return false;
      if (code !== JS_ERR.consumerNotFound) throw toBackboneError(e);
    }
    try {
      await this.jsm.consumers.add(stream, consumerConfig(rec, initial));
      this.log.debug({ subscription: rec.name, stream, initial }, 'consumer created');
      return true;
    } catch (e) {
      if (jsErrCode(e) === JS_ERR.streamNotFound) return false;
      throw toBackboneError(e);
    }
  }
}
