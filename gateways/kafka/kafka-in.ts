/**
 * `kafka-in`: a Kafka consumer group publishing each record into a topic (docs/bridges.md, "Kafka").
 * Per partition batch, records go to JetStream `inflight` at a time (publishBatch); the offset after
 * the last record of the stored prefix is committed only then. A record JetStream refuses as invalid
 * is poison: stored in the dead-letter topic, then committed past. When the backbone is unavailable
 * nothing more is committed: the batch waits and retries with backoff (heartbeating), and a crash
 * in between replays from the last commit — the idempotency key `<kafkaTopic>/<partition>/<offset>`
 * makes the replay a duplicate inside the topic's dedup window, not a second message.
 */
import type { KafkaInDefinition } from '../../schemas/bridge-kafka.js';
import { BRIDGE_DEAD_TOPIC, type BridgeDefinition } from '../../schemas/bridge.js';
import type { PublishRequest } from '../../broker/types.js';
import { KafkaInDefinition as KafkaInSchema } from '../../schemas/bridge-kafka.js';
import type { PublishResult } from '../../schemas/message.js';
import { isSbError, SbError } from '../../broker/errors.js';
import type { BridgeEnv, BridgeKind } from '../bridges/types.js';
import { BridgeBase, backoffMs, sleep } from '../bridges/state.js';
import { createKafka, kafkaErrorText, type EachBatchPayload, type KafkaConsumer, type KafkaMessage } from './driver.js';
import { inboundRequest, recordKey, type RecordOrigin } from './mapping.js';

/** A stored kafka-in definition. */
export type KafkaInStored = KafkaInDefinition & BridgeDefinition & { kind: 'kafka-in' };

/** Codes that say "this record can never be stored": poison. */
const POISON = new Set(['SB_ERR_PAYLOAD_TOO_LARGE', 'SB_ERR_VALIDATION']);

/** The kafka-in kind (schema, secret fields, factory). */
export const kafkaInKind: BridgeKind<KafkaInStored> = {
  kind: 'kafka-in',
  schema: KafkaInSchema,
  secretFields: ['password'],
  create: (def, env) => new KafkaInBridge(def, env),
};

/** One running kafka-in bridge. */
export class KafkaInBridge extends BridgeBase {
  private consumer: KafkaConsumer | undefined;
  private readonly log;

  constructor(private readonly def: KafkaInStored, private readonly env: BridgeEnv) {
    super(def);
    this.log = env.logger.child({ component: 'bridge', kind: 'kafka-in', bridge: def.name });
  }

  // A stop: run() sees the abort and disconnects, which waits for the running batches (they stop at
  // their next chunk and commit what was stored).
  protected async run(): Promise<void> {
    const { initialMs = 500, maxMs = 30_000 } = this.def.reconnect ?? {};
    let attempt = 0;
    while (!this.signal.aborted) {
      this.keeper.set(attempt === 0 ? 'connecting' : 'reconnecting');
      const error = await this.session();
      if (this.signal.aborted) break;
      this.keeper.fail(error);
      this.log.warn({ err: kafkaErrorText(error) }, 'kafka-in bridge interrupted; reconnecting');
      if (isSbError(error, 'SB_ERR_TOPIC_NOT_FOUND')) this.keeper.set('failed');
      attempt = this.keeper.state === 'running' ? 1 : attempt + 1;
      this.keeper.count('reconnects');
      await sleep(backoffMs(attempt, initialMs, maxMs), this.signal);
    }
  }

  /** One consumer's life: connect, subscribe, run until it crashes or the bridge stops. Resolves with the error. */
  private async session(): Promise<unknown> {
    const def = this.def;
    const kafka = createKafka({ ...def, password: this.env.secrets['password'] }, this.log);
    const sessionTimeout = def.sessionTimeoutMs ?? 30_000;
    const consumer = kafka.consumer({
      groupId: def.groupId,
      sessionTimeout,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)),
      allowAutoTopicCreation: false,
      // A crash ends this session; run() reconnects with our backoff and state instead of kafkajs'.
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5000, restartOnFailure: async () => false },
    });
    this.consumer = consumer;
    let crashed!: (e: unknown) => void;
    const crash = new Promise<unknown>((r) => { crashed = r; });
    const offs = [
      consumer.on(consumer.events.CRASH, (e) => crashed(e.payload.error)),
      consumer.on(consumer.events.GROUP_JOIN, () => this.keeper.set('running')),
    ];
    const stopped = new Promise<unknown>((r) => this.signal.addEventListener('abort', () => r(undefined), { once: true }));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: def.topics, fromBeginning: def.fromBeginning ?? true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: def.partitionsConcurrently ?? 4,
        eachBatch: (p) => this.onBatch(consumer, p),
      });
      return await Promise.race([crash, stopped]);
    } catch (e) {
      return e;
    } finally {
      for (const off of offs) off();
      await consumer.disconnect().catch(() => undefined);
      this.consumer = undefined;
    }
  }

  private async onBatch(consumer: KafkaConsumer, p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const origin: RecordOrigin = { kafkaTopic: batch.topic, partition: batch.partition };
    const { initialMs = 500, maxMs = 30_000 } = this.def.reconnect ?? {};
    const size = this.def.inflight ?? 1024;
    this.keeper.count('received', batch.messages.length);
    let i = 0;
    let attempt = 0;
    while (i < batch.messages.length) {
      if (!p.isRunning() || p.isStale() || this.signal.aborted) return;
      const chunk = batch.messages.slice(i, i + size);
      const done = await this.forward(origin, chunk);
      if (done > 0) {
        const last = (chunk[done - 1] as KafkaMessage).offset;
        p.resolveOffset(last);
        // Committed only now: everything up to `last` is stored (or dead-lettered) in JetStream.
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
        i += done;
        attempt = 0;
        this.keeper.set('running');
      }
      if (done < chunk.length) {
        // The backbone could not take the rest: commit nothing more, wait, try the same records again.
        this.keeper.count('retried', chunk.length - done);
        this.keeper.set('reconnecting');
        await sleep(backoffMs(++attempt, initialMs, maxMs), this.signal);
      }
      await p.heartbeat();
    }
  }

  /** Publishes one chunk; returns how many leading records are settled (stored, duplicate or dead-lettered). */
  private async forward(origin: RecordOrigin, chunk: KafkaMessage[]): Promise<number> {
    const def = this.def;
    const max = def.maxPayloadBytes ?? 1_000_000;
    const opts = { topic: def.topic, bridge: def.name, headerPrefix: def.headerPrefix ?? 'Kafka-H-', contentType: def.contentType ?? 'application/octet-stream' };
    const reqs = chunk.map((m) => inboundRequest(m, origin, opts));
    const tooBig = chunk.map((m) => (m.value?.length ?? 0) > max);
    const results = await this.env.broker.publishBatch(reqs.filter((_, j) => !tooBig[j]));
    let k = 0;
    for (let j = 0; j < chunk.length; j++) {
      const m = chunk[j] as KafkaMessage;
      const r: PublishResult | SbError = tooBig[j]
        ? new SbError('SB_ERR_PAYLOAD_TOO_LARGE', `record of ${m.value?.length ?? 0} bytes exceeds maxPayloadBytes ${max}`)
        : (results[k++] as PublishResult | SbError);
      if (!(r instanceof SbError)) {
        this.keeper.count(r.duplicate ? 'duplicates' : 'forwarded');
        continue;
      }
      if (!isPoison(r)) {
        this.keeper.fail(r);
        return j;
      }
      try {
        await this.deadLetter(reqs[j] as PublishRequest, origin, m, r);
      } catch (e) {
        this.keeper.fail(e);
        return j;
      }
    }
    return chunk.length;
  }

  /** Stores a poison record in the dead-letter topic (created if missing); a body over the limit is left out. */
  private async deadLetter(req: PublishRequest, origin: RecordOrigin, m: KafkaMessage, why: SbError): Promise<void> {
    const topic = this.def.deadLetterTopic ?? BRIDGE_DEAD_TOPIC;
    const tooBig = why.code === 'SB_ERR_PAYLOAD_TOO_LARGE';
    this.log.warn({ code: why.code, reason: why.message, record: recordKey(origin, m.offset) }, 'poison record; dead-lettered');
    const copy: PublishRequest = {
      ...req,
      topic,
      data: tooBig ? new Uint8Array(0) : req.data,
      idempotencyKey: `dlq:${req.idempotencyKey ?? ''}`,
      headers: {
        ...req.headers, 'Sb-Dlq-Reason': 'poison', 'Sb-Dlq-Topic': this.def.topic, 'Sb-Dlq-Bridge': this.def.name,
        'Sb-Dlq-Error': `${why.code}: ${why.message}`.slice(0, 1024), ...(tooBig ? { 'Sb-Dlq-Original-Bytes': String(m.value?.length ?? 0) } : {}),
      },
    };
    try {
      await this.env.broker.publish(copy);
    } catch (e) {
      if (!isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND')) throw e;
      await this.env.broker.topics.create({ name: topic }).catch((err: unknown) => { if (!isSbError(err, 'SB_ERR_TOPIC_EXISTS')) throw err; });
      await this.env.broker.publish(copy);
    }
    this.keeper.count('deadLettered');
  }
}

/**
 * Poison: the message itself is refused (too large, invalid), not the backbone unavailable. nats.js
 * refuses a message over the server's max_payload before sending it; JetStream answers a refused
 * message with an API error (`jetstream <code>: …`, surfaced as SB_ERR_INTERNAL).
 */
function isPoison(e: SbError): boolean {
  if (POISON.has(e.code)) return true;
  const cause = String((e.cause as Error | undefined)?.message ?? '');
  return /max_payload/i.test(cause) || (e.code === 'SB_ERR_INTERNAL' && /^jetstream \d+:/.test(cause));
}
