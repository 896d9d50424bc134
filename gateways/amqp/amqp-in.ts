/**
 * `amqp-in`: consumes a RabbitMQ queue into a topic (docs/bridges.md). A delivery is acked only after
 * JetStream stored it; acks go out in delivery order (`multiple` over each settled run). A message the
 * backbone refuses as invalid is poison: copied to the dead-letter topic and acked, or rejected. When
 * the backbone is unavailable nothing more is acked: the connection is closed, RabbitMQ requeues every
 * unacked delivery in queue order, and the bridge reconnects after a backoff (the message id dedups
 * what was stored but not acked).
 */
import type { AmqpInDefinition } from '../../schemas/bridge-amqp.js';
import { BRIDGE_DEAD_TOPIC, bridgePublisher, type BridgeDefinition } from '../../schemas/bridge.js';
import type { PublishRequest } from '../../broker/types.js';
import type { PublishResult } from '../../schemas/message.js';
import { isSbError, SbError, toSbError } from '../../broker/errors.js';
import type { BridgeEnv, BridgeKind } from '../bridges/types.js';
import { BridgeBase, backoffMs, sleep, type BridgeStatusKeeper } from '../bridges/state.js';
import { AmqpInDefinition as AmqpInSchema } from '../../schemas/bridge-amqp.js';
import { openAmqp, redactUrl, type AmqpChannel, type AmqpConnection, type AmqpMessage } from './driver.js';
import { inboundRequest } from './mapping.js';
import { isJsonContentType } from '../rest/payload.js';

/** A stored amqp-in definition. */
export type AmqpInStored = AmqpInDefinition & BridgeDefinition & { kind: 'amqp-in' };


type Outcome = 'pending' | 'ack' | 'reject';
interface Entry { msg: AmqpMessage; outcome: Outcome }

/** Why a session ended (`topic`: the definition does not fit the world — missing topic or queue, access refused). */
type End = { why: 'closed' | 'stop' | 'backbone' | 'topic'; error?: unknown };

/** Codes that say "this message can never be stored": poison. */
const POISON = new Set(['SB_ERR_PAYLOAD_TOO_LARGE', 'SB_ERR_VALIDATION', 'SB_ERR_INVALID_JSON']);

/** The amqp-in kind (schema, secret fields, factory). */
export const amqpInKind: BridgeKind<AmqpInStored> = {
  kind: 'amqp-in',
  schema: AmqpInSchema,
  secretFields: ['password'],
  create: (def, env) => new AmqpInBridge(def, env),
};

/** One running amqp-in bridge. */
export class AmqpInBridge extends BridgeBase {
  private session: InboundSession | undefined;

  constructor(private readonly def: AmqpInStored, private readonly env: BridgeEnv) {
    super(def);
  }

  protected override async drain(deadlineMs: number): Promise<void> {
    await this.session?.end({ why: 'stop' }, deadlineMs);
  }

  protected async run(): Promise<void> {
    const { initialMs = 500, maxMs = 30_000 } = this.def.reconnect ?? {};
    let attempt = 0;
    let failed = false;
    while (!this.signal.aborted) {
      // A definition problem stays `failed` while retrying; an outage shows `reconnecting`.
      this.keeper.set(attempt === 0 ? 'connecting' : failed ? 'failed' : 'reconnecting');
      let end: End;
      try {
        const conn = await openAmqp({ url: this.def.url, password: this.env.secrets['password'], heartbeatSec: this.def.heartbeatSec ?? 10, connectionName: `switchboard ${this.name}` });
        this.session = new InboundSession(this.def, this.env, conn, this.keeper);
        end = await this.session.run(this.signal);
        if (end.why === 'closed' && this.session.delivered) attempt = 0; // it worked for a while: start the backoff over
      } catch (e) {
        end = { why: isTopologyError(e) || isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND') ? 'topic' : 'closed', error: e };
      }
      this.session = undefined;
      if (this.signal.aborted) break;
      if (end.error !== undefined) {
        this.keeper.fail(end.error);
        this.env.logger.warn({ bridge: this.name, url: redactUrl(this.def.url), err: errText(end.error), why: end.why }, 'amqp-in bridge interrupted; reconnecting');
      }
      failed = end.why === 'topic';
      this.keeper.set(failed ? 'failed' : 'reconnecting');
      attempt++;
      this.keeper.count('reconnects');
      await sleep(backoffMs(attempt, initialMs, maxMs), this.signal);
      // The backbone is down: consuming again would only requeue the same window. Wait for it.
      await backboneReady(this.env.broker, this.signal);
    }
  }
}

/** One connection's life: channels, consumers, the in-order ack windows. */
class InboundSession {
  delivered = false;
  private readonly windows: AckWindow[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private finish!: (e: End) => void;
  private readonly ended: Promise<End>;
  private closing: Promise<void> | undefined;
  private intake = true;
  private readonly useMessageId: boolean;
  private readonly deadTopic: string;

  constructor(private readonly def: AmqpInStored, private readonly env: BridgeEnv, private readonly conn: AmqpConnection, private readonly keeper: BridgeStatusKeeper) {
    this.ended = new Promise((r) => { this.finish = r; });
    this.useMessageId = (def.idempotency ?? 'message-id') === 'message-id';
    this.deadTopic = def.poison?.deadLetterTopic ?? BRIDGE_DEAD_TOPIC;
  }

  async run(signal: AbortSignal): Promise<End> {
    this.conn.on('error', () => undefined); // 'close' follows; the error is reported from there
    this.conn.on('close', (err?: Error) => this.finish({ why: 'closed', error: err ?? new Error('AMQP connection closed') }));
    try {
      await this.env.broker.topics.info(this.def.topic); // a missing topic is a definition problem: `failed`
      const setup = await this.conn.createChannel();
      await declare(setup, this.def);
      await setup.close();
      for (let i = 0; i < (this.def.concurrency ?? 1); i++) {
        const ch = await this.conn.createChannel();
        ch.on('error', () => undefined);
        ch.on('close', () => this.finish({ why: 'closed', error: new Error('AMQP channel closed') }));
        await ch.prefetch(this.def.prefetch ?? 256);
        const w = new AckWindow(ch);
        this.windows.push(w);
        await ch.consume(this.def.queue, (msg) => {
          if (msg) this.onDelivery(w, msg);
          else this.finish({ why: 'closed', error: new Error(`queue ${this.def.queue} consumer cancelled by the server`) });
        }, { noAck: false });
      }
    } catch (e) {
      await this.closeConn();
      throw e;
    }
    if (signal.aborted) {
      await this.end({ why: 'stop' }, 0);
      return { why: 'stop' };
    }
    this.keeper.set('running');
    const end = await this.ended;
    if (end.why !== 'stop') await this.end(end, 0);
    return end;
  }

  /** Stops intake, lets in-flight publishes settle (up to `deadlineMs`), acks what was stored, closes. */
  end(e: End, deadlineMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.intake = false;
      this.finish(e);
      if (this.inflight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const limit = new Promise<void>((r) => { timer = setTimeout(r, Math.max(deadlineMs, 0)); });
        await Promise.race([Promise.allSettled([...this.inflight]), limit]);
        clearTimeout(timer);
      }
      let requeued = 0;
      for (const w of this.windows) requeued += w.flush();
      if (requeued > 0) this.keeper.count('retried', requeued);
      await this.closeConn();
    })();
    return this.closing;
  }

  private async closeConn(): Promise<void> {
    // Closing the connection requeues every unacked delivery, in queue order.
    await this.conn.close().catch(() => undefined);
  }

  private onDelivery(w: AckWindow, msg: AmqpMessage): void {
    this.delivered = true;
    this.keeper.count('received');
    if (!this.intake) return; // left unacked: requeued when the connection closes
    const entry = w.push(msg);
    const poison = this.precheck(msg);
    if (poison) return this.track(this.poison(w, entry, poison));
    const req = inboundRequest(msg, { topic: this.def.topic, bridge: this.def.name, useMessageId: this.useMessageId, headerPrefix: this.def.headerPrefix ?? 'Amqp-' });
    this.track(this.env.broker.publish(req).then(
      (r: PublishResult) => {
        this.keeper.count(r.duplicate ? 'duplicates' : 'forwarded');
        w.settle(entry, 'ack');
      },
      (e: unknown) => this.failed(w, entry, toSbError(e)),
    ));
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Poison that needs no round trip: too large, or declared JSON that does not parse. */
  private precheck(msg: AmqpMessage): SbError | undefined {
    const max = this.def.maxPayloadBytes ?? 1_000_000;
    if (msg.content.length > max) return new SbError('SB_ERR_PAYLOAD_TOO_LARGE', `message of ${msg.content.length} bytes exceeds ${max}`);
    if (isJsonContentType(msg.properties.contentType as string | undefined)) {
      try {
        JSON.parse(msg.content.toString('utf8'));
      } catch {
        return new SbError('SB_ERR_INVALID_JSON', 'the body is declared JSON but does not parse');
      }
    }
    return undefined;
  }

  private async failed(w: AckWindow, entry: Entry, e: SbError): Promise<void> {
    // nats.js refuses a message over the server's max_payload before sending it; that is poison too.
    const tooBig = /max_payload/i.test(String((e.cause as Error | undefined)?.message ?? ''));
    if (POISON.has(e.code) || tooBig) return this.poison(w, entry, tooBig ? new SbError('SB_ERR_PAYLOAD_TOO_LARGE', 'message exceeds the NATS max_payload') : e);
    // Not the message's fault: stop here, ack nothing more, let RabbitMQ requeue the rest.
    void this.end({ why: isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND') ? 'topic' : 'backbone', error: e }, this.env.broker.ready() ? 5000 : 0);
  }

  private async poison(w: AckWindow, entry: Entry, why: SbError): Promise<void> {
    this.env.logger.warn({ bridge: this.def.name, code: why.code, reason: why.message }, 'poison message');
    if ((this.def.poison?.action ?? 'dead-letter') === 'reject') {
      this.keeper.count('deadLettered');
      return w.settle(entry, 'reject');
    }
    try {
      await this.deadLetter(entry.msg, why);
      this.keeper.count('deadLettered');
      w.settle(entry, 'ack');
    } catch (e) {
      void this.end({ why: 'backbone', error: e }, 0);
    }
  }

  /** Stores the poison message in the dead-letter topic (created if missing). A body over the limit is left out. */
  private async deadLetter(msg: AmqpMessage, why: SbError): Promise<void> {
    const base = inboundRequest(msg, { topic: this.deadTopic, bridge: this.def.name, useMessageId: false, headerPrefix: this.def.headerPrefix ?? 'Amqp-' });
    const tooBig = why.code === 'SB_ERR_PAYLOAD_TOO_LARGE';
    const req: PublishRequest = {
      ...base,
      data: tooBig ? new Uint8Array(0) : msg.content,
      headers: {
        ...base.headers, 'Sb-Dlq-Reason': 'poison', 'Sb-Dlq-Topic': this.def.topic, 'Sb-Dlq-Bridge': this.def.name,
        'Sb-Dlq-Error': `${why.code}: ${why.message}`.slice(0, 1024), ...(tooBig ? { 'Sb-Dlq-Original-Bytes': String(msg.content.length) } : {}),
      },
      publisher: bridgePublisher(this.def.name),
    };
    const id = typeof msg.properties.messageId === 'string' ? msg.properties.messageId : undefined;
    if (id && this.useMessageId) req.idempotencyKey = `dlq:${id}`.slice(0, 1024);
    try {
      await this.env.broker.publish(req);
    } catch (e) {
      if (!isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND')) throw e;
      await this.env.broker.topics.create({ name: this.deadTopic }).catch((err: unknown) => { if (!isSbError(err, 'SB_ERR_TOPIC_EXISTS')) throw err; });
      await this.env.broker.publish(req);
    }
  }
}

/** Deliveries of one channel in order; settles the longest settled prefix with as few frames as possible. */
class AckWindow {
  private entries: Entry[] = [];
  private head = 0;
  private scheduled = false;

  constructor(private readonly ch: AmqpChannel) {}

  push(msg: AmqpMessage): Entry {
    const e: Entry = { msg, outcome: 'pending' };
    this.entries.push(e);
    return e;
  }

  settle(e: Entry, outcome: Outcome): void {
    e.outcome = outcome;
    if (this.scheduled) return;
    this.scheduled = true;
    // One flush per event-loop turn: a burst of PubAcks becomes one `multiple` ack.
    setImmediate(() => { this.scheduled = false; this.flush(); });
  }

  /** Acks / rejects the settled prefix; returns how many entries are still unsettled (they will be requeued). */
  flush(): number {
    let lastAck: Entry | undefined;
    try {
      while (this.head < this.entries.length) {
        const e = this.entries[this.head] as Entry;
        if (e.outcome === 'pending') break;
        if (e.outcome === 'reject') {
          if (lastAck) this.ch.ack(lastAck.msg, true);
          lastAck = undefined;
          this.ch.nack(e.msg, false, false);
        } else lastAck = e;
        this.head++;
      }
      // Every earlier delivery of this channel is settled, so `multiple` acks exactly this run.
      if (lastAck) this.ch.ack(lastAck.msg, true);
    } catch {
      // The channel is closed: the server requeues whatever was not acked; dedup covers what was stored.
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return this.entries.length - this.head;
  }
}

/** Resolves once the backbone is ready (at once if it is), or when `signal` aborts. */
async function backboneReady(broker: BridgeEnv['broker'], signal: AbortSignal): Promise<void> {
  while (!broker.ready() && !signal.aborted) {
    const wake = new AbortController();
    const off = broker.onStatus((st) => { if (st.type === 'connected') wake.abort(); });
    const stop = () => wake.abort();
    signal.addEventListener('abort', stop, { once: true });
    // The status event says "connected"; JetStream may need a moment more, so re-check at least every second.
    await sleep(1000, wake.signal);
    off();
    signal.removeEventListener('abort', stop);
  }
}

/** Declares the queue and its bindings, or checks that the queue exists. */
async function declare(ch: AmqpChannel, def: AmqpInStored): Promise<void> {
  if (!def.declare) {
    await ch.checkQueue(def.queue);
    return;
  }
  await ch.assertQueue(def.queue, { durable: def.declare.durable, ...(def.declare.arguments ? { arguments: def.declare.arguments } : {}) });
  for (const b of def.declare.bindings) await ch.bindQueue(def.queue, b.exchange, b.routingKey);
}

/** A channel error from topology (404 NOT_FOUND, 403, 406 PRECONDITION_FAILED): a definition problem, not an outage. */
export function isTopologyError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === 404 || code === 403 || code === 406;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
