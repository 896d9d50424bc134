/**
 * `kafka-out`: delivers a durable subscription to a Kafka topic (docs/bridges.md, "Kafka"). It pulls up
 * to `inflight` messages, sends them as one batch through an idempotent producer (acks from all
 * in-sync replicas, one request in flight so order holds per partition) and acks them in JetStream
 * only after Kafka acknowledged the send. A record Kafka refuses as invalid is termed (the
 * subscription's dead-letter topic gets it). When Kafka is unreachable the batch is nakked with a
 * delay and the bridge stops pulling until a producer connects again: the messages wait in JetStream,
 * and an outage costs each of them at most one delivery attempt.
 */
import type { KafkaOutDefinition } from '../../schemas/bridge-kafka.js';
import type { BridgeDefinition } from '../../schemas/bridge.js';
import { KafkaOutDefinition as KafkaOutSchema } from '../../schemas/bridge-kafka.js';
import type { DeliveredMessage } from '../../broker/types.js';
import { isSbError } from '../../broker/errors.js';
import type { BridgeEnv, BridgeKind } from '../bridges/types.js';
import { BridgeBase, backoffMs, sleep } from '../bridges/state.js';
import { createKafka, kafkaErrorText, partitioner, recordsRejected, type KafkaProducer } from './driver.js';
import { outboundRecord } from './mapping.js';

/** A stored kafka-out definition. */
export type KafkaOutStored = KafkaOutDefinition & BridgeDefinition & { kind: 'kafka-out' };

/** The kafka-out kind (schema, secret fields, factory). */
export const kafkaOutKind: BridgeKind<KafkaOutStored> = {
  kind: 'kafka-out',
  schema: KafkaOutSchema,
  secretFields: ['password'],
  create: (def, env) => new KafkaOutBridge(def, env),
};

/** One running kafka-out bridge. */
export class KafkaOutBridge extends BridgeBase {
  private readonly log;
  private pullFailures = 0;

  // A stop: a send in flight finishes and is acked; a pull in flight ends within pullWaitMs and is nakked.
  constructor(private readonly def: KafkaOutStored, private readonly env: BridgeEnv) {
    super(def);
    this.log = env.logger.child({ component: 'bridge', kind: 'kafka-out', bridge: def.name });
  }

  private get initialMs(): number {
    return this.def.reconnect?.initialMs ?? 500;
  }

  protected async run(): Promise<void> {
    const maxMs = this.def.reconnect?.maxMs ?? 30_000;
    let attempt = 0;
    while (!this.signal.aborted) {
      this.keeper.set(attempt === 0 ? 'connecting' : 'reconnecting');
      // Three kafkajs retries (~2 s) per send: a longer outage is the bridge's to handle (nak, reconnect).
      const kafka = createKafka({ ...this.def, password: this.env.secrets['password'] }, this.log, 3);
      // Idempotent: a retried produce request is written once. kafkajs requires acks -1 for it, and
      // one request in flight keeps the batches in order.
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: partitioner, retry: { retries: 3, initialRetryTime: 300, maxRetryTime: 5000 } });
      let error: unknown;
      try {
        await producer.connect();
        this.keeper.set('running');
        attempt = 0;
        error = await this.pump(producer);
      } catch (e) {
        error = e;
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
      if (this.signal.aborted) break;
      this.keeper.fail(error);
      this.log.warn({ err: kafkaErrorText(error) }, 'kafka-out bridge interrupted; reconnecting');
      attempt++;
      this.keeper.count('reconnects');
      await sleep(backoffMs(attempt, this.initialMs, maxMs), this.signal);
    }
  }

  /**
   * Pull → send → ack until the bridge stops or Kafka fails; resolves with the failure. Pipelined: the
   * next pull runs while Kafka takes the current batch, and acks go out while the next batch is sent
   * (sends stay one at a time, so order holds).
   */
  private async pump(producer: KafkaProducer): Promise<unknown> {
    const settling = new Set<Promise<void>>();
    let next = this.pull();
    try {
      while (!this.signal.aborted) {
        const msgs = await next;
        next = this.signal.aborted ? Promise.resolve([]) : this.pull();
        if (msgs.length === 0) continue;
        this.keeper.count('received', msgs.length);
        const sent = await this.deliver(producer, msgs, settling);
        if (sent !== 'ok') return sent.error;
      }
      return undefined;
    } finally {
      // Whatever was pulled ahead and not sent goes back to JetStream now, not after the ack wait.
      const ahead = await next;
      if (ahead.length > 0) await this.nak(ahead);
      await Promise.all(settling);
    }
  }

  /** One pull; a backbone or subscription failure is reported, waited out, and yields no messages. */
  private async pull(): Promise<DeliveredMessage[]> {
    try {
      const msgs = await this.env.broker.subscriptions.pull(this.def.subscription, { max: this.def.inflight ?? 400, waitMs: this.def.pullWaitMs ?? 5000 });
      this.pullFailures = 0;
      if (this.keeper.state !== 'running') this.keeper.set('running');
      return msgs;
    } catch (e) {
      // Kafka is fine: keep the producer and wait for the backbone (or for the subscription to exist).
      this.keeper.fail(e);
      this.keeper.set(isSbError(e, 'SB_ERR_SUBSCRIPTION_NOT_FOUND') ? 'failed' : 'reconnecting');
      await sleep(backoffMs(++this.pullFailures, this.initialMs, this.def.reconnect?.maxMs ?? 30_000), this.signal);
      return [];
    }
  }

  /** Sends one batch and settles it; a batch Kafka refuses is retried record by record to find the poison. */
  private async deliver(producer: KafkaProducer, msgs: DeliveredMessage[], settling: Set<Promise<void>>): Promise<'ok' | { error: unknown }> {
    try {
      await this.send(producer, msgs);
      this.track(settling, this.settle('ack', msgs));
      return 'ok';
    } catch (e) {
      if (!recordsRejected(e)) {
        await this.nak(msgs);
        return { error: e };
      }
    }
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i] as DeliveredMessage;
      try {
        await this.send(producer, [m]);
        this.track(settling, this.settle('ack', [m]));
      } catch (e) {
        if (!recordsRejected(e)) {
          await this.nak(msgs.slice(i));
          return { error: e };
        }
        this.log.warn({ err: kafkaErrorText(e), topic: m.topic, seq: m.seq }, 'Kafka refused the record; terminated (dead-lettered by the subscription)');
        await this.settle('term', [m], `kafka refused the record: ${kafkaErrorText(e)}`.slice(0, 500));
      }
    }
    return 'ok';
  }

  private track(set: Set<Promise<void>>, p: Promise<void>): void {
    set.add(p);
    void p.finally(() => set.delete(p));
  }

  private async send(producer: KafkaProducer, msgs: DeliveredMessage[]): Promise<void> {
    await producer.send({ topic: this.def.kafkaTopic, acks: -1, messages: msgs.map((m) => outboundRecord(m, this.def.key)) });
  }

  private async settle(how: 'ack' | 'term', msgs: DeliveredMessage[], reason?: string): Promise<void> {
    const tokens = msgs.map((m) => m.ackToken);
    const subs = this.env.broker.subscriptions;
    // A failed ack only means a redelivery (a duplicate in Kafka): at least once.
    const results = await (how === 'ack' ? subs.ack(this.def.subscription, tokens) : subs.term(this.def.subscription, tokens, reason)).catch(() => []);
    const ok = results.filter((r) => r.ok).length;
    this.keeper.count(how === 'ack' ? 'forwarded' : 'deadLettered', how === 'ack' ? msgs.length : ok);
  }

  /** Back to JetStream after a delay (never a bare nak): Kafka did not take them. */
  private async nak(msgs: DeliveredMessage[]): Promise<void> {
    this.keeper.count('retried', msgs.length);
    await this.env.broker.subscriptions.nak(this.def.subscription, msgs.map((m) => m.ackToken), this.initialMs).catch(() => undefined);
  }
}
