/**
 * `amqp-out`: delivers a durable subscription to an exchange (docs/bridges.md). Messages are pulled
 * (at most `inflight` unconfirmed), published on a confirm channel, and acked in JetStream only after
 * RabbitMQ confirmed them; a broker nack, a closed channel or a lost connection naks them with the
 * subscription's backoff (never a bare nak). While RabbitMQ is away nothing is pulled: messages wait in
 * JetStream.
 */
import type { AmqpOutDefinition } from '../../schemas/bridge-amqp.js';
import { AmqpOutDefinition as AmqpOutSchema } from '../../schemas/bridge-amqp.js';
import type { BridgeDefinition } from '../../schemas/bridge.js';
import type { DeliveredMessage } from '../../broker/types.js';
import { isSbError } from '../../broker/errors.js';
import type { BridgeEnv, BridgeKind } from '../bridges/types.js';
import { BridgeBase, backoffMs, sleep, withDeadline, type BridgeStatusKeeper } from '../bridges/state.js';
import { openAmqp, redactUrl, type AmqpConfirmChannel, type AmqpConnection } from './driver.js';
import { outboundMessage } from './mapping.js';
import { isTopologyError } from './amqp-in.js';

/** A stored amqp-out definition. */
export type AmqpOutStored = AmqpOutDefinition & BridgeDefinition & { kind: 'amqp-out' };

// Long-poll of one pull, ms: short enough that a stop or a lost connection is noticed quickly.
const PULL_WAIT_MS = 1000;

/** The amqp-out kind (schema, secret fields, factory). */
export const amqpOutKind: BridgeKind<AmqpOutStored> = {
  kind: 'amqp-out',
  schema: AmqpOutSchema,
  secretFields: ['password'],
  create: (def, env) => new AmqpOutBridge(def, env),
};

/** One running amqp-out bridge. */
export class AmqpOutBridge extends BridgeBase {
  private session: OutboundSession | undefined;

  constructor(private readonly def: AmqpOutStored, private readonly env: BridgeEnv) {
    super(def);
  }

  protected override async drain(deadlineMs: number): Promise<void> {
    await this.session?.end(deadlineMs);
  }

  protected async run(): Promise<void> {
    const { initialMs = 500, maxMs = 30_000 } = this.def.reconnect ?? {};
    let attempt = 0;
    let failed = false;
    while (!this.signal.aborted) {
      this.keeper.set(attempt === 0 ? 'connecting' : failed ? 'failed' : 'reconnecting');
      let error: unknown;
      try {
        const conn = await openAmqp({ url: this.def.url, password: this.env.secrets['password'], heartbeatSec: this.def.heartbeatSec ?? 10, connectionName: `switchboard ${this.name}` });
        this.session = new OutboundSession(this.def, this.env, conn, this.keeper);
        error = await this.session.run(this.signal);
        if (this.session.published) attempt = 0;
      } catch (e) {
        error = e;
      }
      this.session = undefined;
      failed = isTopologyError(error) || isSbError(error, 'SB_ERR_SUBSCRIPTION_NOT_FOUND');
      if (!this.signal.aborted) this.keeper.set(failed ? 'failed' : 'reconnecting');
      if (this.signal.aborted) break;
      if (error !== undefined) {
        this.keeper.fail(error);
        this.env.logger.warn({ bridge: this.name, url: redactUrl(this.def.url), err: error instanceof Error ? error.message : String(error) }, 'amqp-out bridge interrupted; reconnecting');
      }
      attempt++;
      this.keeper.count('reconnects');
      await sleep(backoffMs(attempt, initialMs, maxMs), this.signal);
    }
  }
}

/** One connection's life: a confirm channel fed from the subscription. */
class OutboundSession {
  published = false;
  /** Published, not yet confirmed, by ack token. */
  private readonly unconfirmed = new Map<string, DeliveredMessage>();
  /** Pulled, not yet published (read-ahead: the next messages are here when confirms free the window). */
  private ahead: DeliveredMessage[] = [];
  private toAck: string[] = [];
  private toNak: string[] = [];
  private flushScheduled = false;
  private lost: unknown;
  private readonly closed: Promise<void>;
  private markClosed!: () => void;
  private slot: (() => void) | undefined;
  private drained: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private pumping = true;
  private ch: AmqpConfirmChannel | undefined;
  private readonly inflight: number;
  /** Pull again only once this many slots are free: one pull per confirm would mean many tiny pulls. */
  private readonly lowWater: number;
  private readonly rk: { persistent: boolean; routingKey: string; routingKeyHeader: string | undefined };

  constructor(private readonly def: AmqpOutStored, private readonly env: BridgeEnv, private readonly conn: AmqpConnection, private readonly keeper: BridgeStatusKeeper) {
    this.closed = new Promise((r) => { this.markClosed = r; });
    this.inflight = def.inflight ?? 256;
    this.lowWater = Math.max(1, Math.floor(this.inflight / 4));
    this.rk = { persistent: def.persistent ?? true, routingKey: def.routingKey ?? '', routingKeyHeader: def.routingKeyHeader };
  }

  /** Runs until the connection is lost or stop; resolves with the error that ended it (undefined on stop). */
  async run(signal: AbortSignal): Promise<unknown> {
    const onLost = (err?: Error): void => {
      this.lost ??= err ?? new Error('AMQP connection closed');
      this.pumping = false;
      this.failUnconfirmed();
      this.markClosed();
      this.slot?.();
    };
    this.conn.on('error', () => undefined);
    this.conn.on('close', onLost);
    try {
      await this.env.broker.subscriptions.info(this.def.subscription);
      const ch = await this.conn.createConfirmChannel();
      ch.on('error', () => undefined);
      ch.on('close', () => onLost(new Error('AMQP channel closed')));
      if (this.def.declareExchange) await ch.assertExchange(this.def.exchange, this.def.declareExchange.type, { durable: this.def.declareExchange.durable });
      else if (this.def.exchange !== '') await ch.checkExchange(this.def.exchange);
      this.ch = ch;
    } catch (e) {
      await this.conn.close().catch(() => undefined);
      throw e;
    }
    if (signal.aborted) {
      await this.end(0);
      return undefined;
    }
    this.keeper.set('running');
    await this.pump(signal);
    await this.closed;
    return signal.aborted ? undefined : this.lost;
  }

  /** Stops pulling, waits for confirms up to `deadlineMs`, settles, closes. */
  end(deadlineMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.pumping = false;
      this.slot?.();
      if (this.unconfirmed.size > 0) await withDeadline(new Promise<void>((r) => { this.drained = r; }), deadlineMs);
      this.failUnconfirmed();
      await this.flush();
      await this.conn.close().catch(() => undefined);
      this.markClosed();
    })();
    return this.closing;
  }

  /** Free slots: the window (`inflight` unconfirmed) plus as many read ahead. */
  private room(reserved: number): number {
    return 2 * this.inflight - this.unconfirmed.size - this.ahead.length - reserved;
  }

  /**
   * Keeps the window full: up to two pulls in flight for the slots nobody has reserved yet, read ahead
   * of the window so a confirm is followed by the next publish at once, not by a pull round trip. The
   * window bounds what amqplib buffers, so a `false` from publish needs no extra wait.
   */
  private async pump(signal: AbortSignal): Promise<void> {
    let pullFailures = 0;
    let reserved = 0;
    let pulls = 0;
    while (this.pumping && !signal.aborted) {
      const room = this.room(reserved);
      if (room < this.lowWater || pulls >= 2) {
        await new Promise<void>((r) => { this.slot = r; });
        this.slot = undefined;
        continue;
      }
      reserved += room;
      pulls++;
      this.env.broker.subscriptions.pull(this.def.subscription, { max: room, waitMs: PULL_WAIT_MS }).then((msgs) => {
        pullFailures = 0;
        this.keeper.count('received', msgs.length);
        for (const m of msgs) this.ahead.push(m);
        this.feed();
      }, async (e: unknown) => {
        if (isSbError(e, 'SB_ERR_SUBSCRIPTION_NOT_FOUND')) {
          this.keeper.set('failed');
          this.lost = e;
          void this.end(0);
          return;
        }
        this.keeper.fail(e);
        await sleep(backoffMs(++pullFailures, 200, 5000), signal);
      }).finally(() => {
        reserved -= room;
        pulls--;
        this.slot?.();
      });
    }
    this.dropAhead(); // what was read ahead goes back; unconfirmed ones still get their confirms (end())
  }

  /** Publishes read-ahead messages while the window has room. */
  private feed(): void {
    if (!this.pumping || !this.ch) return this.dropAhead();
    if (this.ahead.length === 0 || this.unconfirmed.size >= this.inflight) return;
    const n = Math.min(this.ahead.length, this.inflight - this.unconfirmed.size);
    const batch = this.ahead.splice(0, n);
    for (const m of batch) this.publish(this.ch, m);
  }

  private publish(ch: AmqpConfirmChannel, m: DeliveredMessage): void {
    const { routingKey, options } = outboundMessage(m, this.rk);
    this.unconfirmed.set(m.ackToken, m);
    try {
      ch.publish(this.def.exchange, routingKey, Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), options, (err: unknown) => this.confirmed(m.ackToken, err));
      this.published = true;
    } catch {
      // The channel closed under us: the message may not have left; nak it (onLost naks the rest).
      this.unconfirmed.delete(m.ackToken);
      this.nak(m.ackToken);
    }
  }

  private confirmed(token: string, err: unknown): void {
    if (!this.unconfirmed.delete(token)) return;
    if (err) {
      this.nak(token);
    } else {
      this.keeper.count('forwarded');
      this.toAck.push(token);
      this.schedule();
    }
    this.feed();
    if (this.room(0) >= this.lowWater) this.slot?.(); // the pump re-checks its reservations
    if (this.unconfirmed.size === 0) this.drained?.();
  }

  private nak(token: string): void {
    this.keeper.count('retried');
    this.toNak.push(token);
    this.schedule();
  }

  /** Naks every unconfirmed message (it may or may not have reached RabbitMQ: at least once) and the read-ahead. */
  private failUnconfirmed(): void {
    for (const token of this.unconfirmed.keys()) this.nak(token);
    this.unconfirmed.clear();
    this.dropAhead();
    this.drained?.();
  }

  /** Naks what was pulled but not published. */
  private dropAhead(): void {
    for (const m of this.ahead) this.nak(m.ackToken);
    this.ahead = [];
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => { this.flushScheduled = false; void this.flush(); });
  }

  private async flush(): Promise<void> {
    const acks = this.toAck;
    const naks = this.toNak;
    this.toAck = [];
    this.toNak = [];
    const subs = this.env.broker.subscriptions;
    // A failed settle is not lost: the message comes back after the ack wait (a duplicate downstream at worst).
    if (acks.length > 0) await subs.ack(this.def.subscription, acks).catch(() => undefined);
    // No delay given: the subscription's backoff for that delivery count (never a bare nak).
    if (naks.length > 0) await subs.nak(this.def.subscription, naks).catch(() => undefined);
  }
}
