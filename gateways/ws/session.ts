/**
 * One WebSocket client: authentication (header, query token or first frame), the frame loop, its
 * live and durable subscriptions, credit, and the slow-consumer check. Everything a client sends is
 * answered with exactly one frame (ok, pong or error) unless the socket is closed first.
 */
import type { WebSocket, RawData } from 'ws';
import { ERROR_CODES, SbError, toSbError, isSbError, type ErrorCode } from '../../broker/errors.js';
import type { Logger } from '../../broker/log.js';
import type { DeliveredMessage, SignalHandle } from '../../broker/types.js';
import { MIN_NAK_DELAY_MS } from '../../broker/subscription-record.js';
import { validateTopicFilter, validateTopicName } from '../../broker/subjects.js';
import type { Principal } from '../../security/types.js';
import { WS_CLOSE, WS_PROTOCOL_VERSION, type WsChannel } from '../../schemas/ws.js';
import type { GatewayDeps } from '../types.js';
import { FrameError, MAX_CREDIT, errorFrame, messageFrame, okFrame, parseFrame, publishBytes, type ClientFrame, type FrameId } from './frames.js';

/** Tunables of every session of one gateway. */
export interface SessionOptions {
  /** An unauthenticated client on an auth-required channel must send its auth frame within this (ms). */
  authTimeoutMs: number;
  /** Invalid frames in a row (a valid one resets the count) before closing with 4400. */
  maxBadFrames: number;
  /** After a close we started, the peer has this long to finish the handshake before the socket is cut (ms). */
  closeGraceMs: number;
}

/** What a session needs from the gateway that owns it. */
export interface SessionEnv {
  deps: GatewayDeps;
  channel: WsChannel;
  logger: Logger;
  opts: SessionOptions;
  /** Counts the connection against its principal's limit; false when the limit is reached. */
  admit(principal: string): boolean;
  release(principal: string): void;
  onSlowConsumer(): void;
  /** The client has a principal now (presence join); called once per session. */
  onJoin(s: Session): void;
  /** A joined client is gone, with the close code it went with (presence leave). */
  onLeave(s: Session, code: number): void;
}

/** The part of the net.Socket under `ws` a session uses directly. */
export interface RawSocket { cork(): void; uncork(): void; write(frame: Buffer): boolean }

/** Most subscriptions one connection may hold, and most publishes it may have in flight. */
const MAX_SUBS = 100;
const MAX_INFLIGHT_PUBLISHES = 1000;
/** How long one pull of a durable subscription waits for messages (ms). */
const PULL_WAIT_MS = 5000;
/** Messages fetched per pull at most. */
const PULL_BATCH = 256;
/** Pulls of one durable subscription in flight: the next batch is on its way while this one is written. */
const PULLS_IN_FLIGHT = 2;

/** The principal of an anonymous client of an `auth: none` channel: no topic rights at all. */
const GUEST: Principal = { name: 'anonymous', roles: [], acl: { publish: [], subscribe: [], jobs: [] }, via: 'anonymous' };

interface Durable {
  kind: 'durable';
  name: string;
  credit: number;
  /** Ack tokens delivered and not yet acked or nak'd: nak'd at once when the client goes away. */
  outstanding: Set<string>;
  pumping: boolean;
  active: boolean;
  /** Messages of one pull leave as one WebSocket frame, one JSON object per line (`batch: true`). */
  batch: boolean;
}
interface Live { kind: 'live'; sub: SignalHandle | undefined; active: boolean }

/** One connected client. */
export class Session {
  principal: Principal | undefined;
  readonly since = new Date();
  /** Pings sent and not answered (the gateway's liveness sweep). */
  missedPings = 0;
  private readonly subs = new Map<string, Durable | Live>();
  private badFrames = 0;
  private inflight = 0;
  private authTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private open = true;
  private joined = false;
  /** Resolves once the client is gone and its un-acked messages were handed back. */
  readonly done: Promise<void>;

  constructor(
    readonly id: string, private readonly ws: WebSocket,
    /** The socket under `ws`: corked while a batch of messages is written; broadcast frames go to it as built. */
    private readonly socket: RawSocket,
    private readonly env: SessionEnv, principal: Principal | undefined,
    /** The peer's address as the socket saw it ('' when unknown). */
    readonly remoteAddress = '',
  ) {
    this.principal = principal;
    let finish!: () => void;
    this.done = new Promise((r) => { finish = r; });
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('pong', () => { this.missedPings = 0; });
    // ws reports protocol violations and oversized frames here, then closes the socket itself (1002/1009).
    ws.on('error', (e) => env.logger.debug({ err: e, clientId: id }, 'websocket error'));
    ws.on('close', (code) => {
      if (this.joined) env.onLeave(this, code);
      void this.cleanup().finally(finish);
    });
    const authenticated = principal !== undefined;
    if (!authenticated && env.channel.auth === 'none') this.principal = GUEST;
    this.send(JSON.stringify({ type: 'hello', protocol: WS_PROTOCOL_VERSION, clientId: id, channel: env.channel.name, authenticated, principal: this.principal?.name ?? null }));
    if (this.principal === undefined) {
      this.authTimer = setTimeout(() => this.close(WS_CLOSE.authFailed, 'no auth frame in time'), env.opts.authTimeoutMs);
    } else {
      this.join();
    }
  }

  /**
   * Sends a complete prebuilt frame (a broadcast: the same bytes to every client of a channel), with
   * the slow-consumer check. An unauthenticated client of an auth-required channel gets nothing yet.
   */
  sendFrame(wire: Buffer): void {
    if (this.principal === undefined || this.ws.readyState !== this.ws.OPEN) return;
    // A complete frame (frames.ts wireTextFrame): `ws` writes to this socket synchronously and in order
    // (no compression), so a frame written here never lands inside one of its own.
    this.socket.write(wire);
    if (this.ws.bufferedAmount > this.env.channel.limits.maxBufferedBytes && this.open) this.slow();
  }

  private join(): void {
    if (this.joined) return;
    this.joined = true;
    this.env.onJoin(this);
  }

  /** Sends a ping for the liveness sweep. */
  ping(): void {
    if (this.open) this.ws.ping();
  }

  /** Closes with `code`; the socket is cut if the peer does not finish the handshake in time. */
  close(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    clearTimeout(this.authTimer);
    this.ws.close(code, reason);
    this.closeTimer = setTimeout(() => this.ws.terminate(), this.env.opts.closeGraceMs);
    this.closeTimer.unref();
  }

  /** Cuts the socket at once (liveness failure, shutdown deadline). */
  terminate(): void {
    this.open = false;
    this.ws.terminate();
  }

  /** Sends one frame; `check: false` while corked (nothing can leave yet): the caller checks after uncork. */
  private send(text: string, check = true): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(text);
    if (check) this.checkBuffered();
  }

  /** A client that does not read makes our buffer grow: cut it before it costs the process its memory. */
  private checkBuffered(): void {
    if (this.ws.bufferedAmount > this.env.channel.limits.maxBufferedBytes && this.open) this.slow();
  }

  private slow(): void {
    this.env.onSlowConsumer();
    this.close(WS_CLOSE.slowConsumer, 'slow consumer');
  }

  private fail(e: unknown, id: FrameId | undefined, extra?: Record<string, unknown>): void {
    const sb = toSbError(e);
    if (sb.code === 'SB_ERR_INTERNAL') this.env.logger.error({ err: sb.cause ?? sb, clientId: this.id }, 'websocket frame failed');
    this.send(errorFrame(sb, id, extra));
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (!this.open) return;
    let frame: ClientFrame;
    try {
      if (isBinary) throw new FrameError('SB_ERR_VALIDATION', 'frames must be text (JSON)');
      frame = parseFrame(data.toString());
    } catch (e) {
      this.fail(e, e instanceof FrameError ? e.frameId : undefined);
      if (++this.badFrames > this.env.opts.maxBadFrames) this.close(WS_CLOSE.protocolError, 'too many invalid frames');
      return;
    }
    this.badFrames = 0;
    if (this.principal === undefined && frame.type !== 'auth') {
      this.send(errorFrame(new SbError('SB_ERR_UNAUTHENTICATED', 'the first frame must be an auth frame'), frame.id));
      this.close(WS_CLOSE.authFailed, 'authentication required');
      return;
    }
    void this.dispatch(frame).catch((e: unknown) => this.fail(e, frame.id, 'sub' in frame && frame.sub !== undefined ? { sub: frame.sub } : undefined));
  }

  private async dispatch(f: ClientFrame): Promise<void> {
    switch (f.type) {
      case 'ping': return this.send(JSON.stringify({ type: 'pong', ...(f.id === undefined ? {} : { id: f.id }) }));
      case 'auth': return this.auth(f.authorization, f.id);
      case 'publish': return this.publish(f);
      case 'subscribe': return this.subscribe(f);
      case 'unsubscribe': return this.unsubscribe(f.sub, f.id);
      case 'credit': return this.credit(f.sub, f.n, f.id);
      case 'ack':
      case 'nak': return this.settle(f);
    }
  }

  private async auth(authorization: string, id: FrameId | undefined): Promise<void> {
    if (this.principal !== undefined && this.principal !== GUEST) throw new SbError('SB_ERR_VALIDATION', 'already authenticated');
    let p: Principal;
    try {
      p = await this.env.deps.security.authenticate(authorization);
    } catch (e) {
      this.fail(isSbError(e) ? e : new SbError('SB_ERR_UNAUTHENTICATED', 'authentication failed'), id);
      this.close(WS_CLOSE.authFailed, 'authentication failed');
      return;
    }
    if (!this.open) return;
    if (!this.env.admit(p.name)) {
      this.fail(new SbError('SB_ERR_RATE_LIMITED', 'too many connections of this principal to this channel'), id);
      this.close(WS_CLOSE.tryAgainLater, 'too many connections');
      return;
    }
    clearTimeout(this.authTimer);
    this.principal = p;
    this.send(okFrame(id, { principal: p.name }));
    this.join();
  }

  /** Stores the message; the ok frame leaves only after JetStream stored it (broker.publish resolved). */
  private async publish(f: Extract<ClientFrame, { type: 'publish' }>): Promise<void> {
    validateTopicName(f.topic);
    const p = this.principal!;
    this.env.deps.security.assert(p, 'publish', f.topic);
    if (this.inflight >= MAX_INFLIGHT_PUBLISHES) throw new SbError('SB_ERR_RATE_LIMITED', `more than ${MAX_INFLIGHT_PUBLISHES} publishes in flight on this connection`);
    const { data, contentType } = publishBytes(f.data, f.contentType);
    this.inflight++;
    try {
      const r = await this.env.deps.broker.publish({
        topic: f.topic, data, contentType, publisher: p.name, ...(f.idempotencyKey === undefined ? {} : { idempotencyKey: f.idempotencyKey }),
      });
      this.send(okFrame(f.id, { seq: r.seq, messageId: r.id, duplicate: r.duplicate }));
    } finally {
      this.inflight--;
    }
  }

  private async subscribe(f: Extract<ClientFrame, { type: 'subscribe' }>): Promise<void> {
    const p = this.principal!;
    const { security, broker } = this.env.deps;
    const key = f.sub ?? f.subscription ?? f.topic!;
    if (this.subs.has(key)) throw new SbError('SB_ERR_VALIDATION', `sub ${key} is already in use on this connection`);
    if (this.subs.size >= MAX_SUBS) throw new SbError('SB_ERR_RATE_LIMITED', `at most ${MAX_SUBS} subscriptions per connection`);
    if (f.topic !== undefined) {
      validateTopicFilter(f.topic);
      security.assert(p, 'subscribe', f.topic);
      const live: Live = { kind: 'live', sub: undefined, active: true };
      const signals = this.env.deps.broker.signals;
      this.subs.set(key, live);
      try {
        live.sub = signals.tap(f.topic, (m) => { if (live.active) this.send(messageFrame(key, m)); });
        // A flush makes the subscription known to the server before we say ok: a publish after ok is seen.
        await signals.flush();
      } catch (e) {
        this.subs.delete(key);
        live.active = false;
        live.sub?.unsubscribe();
        throw isSbError(e) ? e : new SbError('SB_ERR_BACKBONE_UNAVAILABLE', 'live subscriptions are unavailable', { cause: e });
      }
      // Set before the first await: a client gone meanwhile had it stopped by cleanup().
      return this.send(okFrame(f.id, { sub: key, mode: 'live' }));
    }
    const name = f.subscription!;
    // As REST: admins may read any subscription, others need subscribe on its filter (cache lookup).
    const filter = broker.subscriptions.filterOf(name);
    if (!security.can(p, 'manage')) security.assert(p, 'subscribe', filter);
    this.subs.set(key, { kind: 'durable', name, credit: 0, outstanding: new Set(), pumping: false, active: true, batch: f.batch === true });
    this.send(okFrame(f.id, { sub: key, mode: 'durable' }));
  }

  private async unsubscribe(key: string, id: FrameId | undefined): Promise<void> {
    const s = this.subs.get(key);
    if (!s) throw new SbError('SB_ERR_VALIDATION', `no subscription ${key} on this connection`);
    this.subs.delete(key);
    await this.stop(s);
    this.send(okFrame(id, { sub: key }));
  }

  private credit(key: string, n: number, id: FrameId | undefined): void {
    const s = this.subs.get(key);
    if (!s || s.kind !== 'durable') throw new SbError('SB_ERR_VALIDATION', `no durable subscription ${key} on this connection`);
    s.credit = Math.min(MAX_CREDIT, s.credit + n);
    this.send(okFrame(id, { sub: key, credit: s.credit }));
    void this.pump(key, s);
  }

  /**
   * Acks or naks. One token (`ackToken`): ok, or the error of that token. Many (`ackTokens`): one ok
   * with `settled` and the tokens that `failed` ({ackToken, code}); the rest are settled.
   */
  private async settle(f: Extract<ClientFrame, { type: 'ack' | 'nak' }>): Promise<void> {
    const s = this.subs.get(f.sub);
    if (!s || s.kind !== 'durable') throw new SbError('SB_ERR_VALIDATION', `no durable subscription ${f.sub} on this connection`);
    const subs = this.env.deps.broker.subscriptions;
    const results = f.type === 'ack' ? await subs.ack(s.name, f.ackTokens) : await subs.nak(s.name, f.ackTokens, f.delayMs);
    const failed: Array<{ ackToken: string; code: string }> = [];
    for (const r of results) {
      if (r.ok) s.outstanding.delete(r.token);
      else failed.push({ ackToken: r.token, code: settleCode(r.error?.code) });
    }
    if (f.many) return this.send(okFrame(f.id, { sub: f.sub, settled: results.length - failed.length, ...(failed.length > 0 ? { failed } : {}) }));
    const r = results[0];
    if (!r?.ok) throw new SbError(settleCode(r?.error?.code), r?.error?.message ?? `${f.type} failed`);
    this.send(okFrame(f.id, { sub: f.sub }));
  }

  /**
   * Pulls while the subscription has credit; each delivered message uses one credit. Up to
   * PULLS_IN_FLIGHT pulls ask for credit not yet asked for; each batch is written corked (one write).
   */
  private async pump(key: string, d: Durable): Promise<void> {
    if (d.pumping) return;
    d.pumping = true;
    const subs = this.env.deps.broker.subscriptions;
    const pulls: Array<Promise<DeliveredMessage[]>> = [];
    let asked = 0;
    const refill = (): void => {
      while (pulls.length < PULLS_IN_FLIGHT && d.active && this.open && d.credit - asked > 0) {
        const max = Math.min(d.credit - asked, PULL_BATCH);
        asked += max;
        pulls.push(subs.pull(d.name, { max, waitMs: PULL_WAIT_MS }).finally(() => { asked -= max; }));
      }
    };
    try {
      refill();
      while (pulls.length > 0) {
        const msgs = await pulls.shift()!;
        const back: string[] = [];
        const lines: string[] = [];
        this.socket.cork();
        for (const m of msgs) {
          if (!d.active || !this.open) {
            back.push(m.ackToken);
            continue;
          }
          d.credit--;
          d.outstanding.add(m.ackToken);
          if (d.batch) lines.push(messageFrame(key, m));
          else this.send(messageFrame(key, m), false);
        }
        if (lines.length > 0) this.send(lines.join('\n'), false);
        this.socket.uncork();
        this.checkBuffered();
        if (back.length > 0) await this.handBack(d.name, back);
        refill();
      }
    } catch (e) {
      // Messages of the other pulls in flight go back at once; the ack wait would return them anyway.
      const rest = await Promise.all(pulls.splice(0).map((p) => p.catch(() => [] as DeliveredMessage[])));
      void this.handBack(d.name, rest.flat().map((m) => m.ackToken));
      // The subscription is gone or the backbone failed: tell the client, who may subscribe again.
      if (d.active && this.open) {
        d.active = false;
        this.subs.delete(key);
        this.fail(e, undefined, { sub: key });
      }
    } finally {
      d.pumping = false;
    }
  }

  /** Returns un-acked messages for immediate redelivery (to this or any other client). */
  private async handBack(name: string, tokens: string[]): Promise<void> {
    if (tokens.length === 0) return;
    try {
      await this.env.deps.broker.subscriptions.nak(name, tokens, MIN_NAK_DELAY_MS);
    } catch (e) {
      // The ack wait redelivers them anyway; this only makes it sooner.
      this.env.logger.warn({ err: e, subscription: name, count: tokens.length }, 'could not hand back un-acked messages');
    }
  }

  private async stop(s: Durable | Live): Promise<void> {
    s.active = false;
    if (s.kind === 'live') {
      s.sub?.unsubscribe();
      return;
    }
    const tokens = [...s.outstanding];
    s.outstanding.clear();
    await this.handBack(s.name, tokens);
  }

  private async cleanup(): Promise<void> {
    this.open = false;
    clearTimeout(this.authTimer);
    clearTimeout(this.closeTimer);
    if (this.principal !== undefined && this.principal !== GUEST) this.env.release(this.principal.name);
    const all = [...this.subs.values()];
    this.subs.clear();
    await Promise.all(all.map((s) => this.stop(s)));
  }
}

/** The code of a failed settle: the broker's SB_ERR_* code, or SB_ERR_INVALID_ACK_TOKEN. */
function settleCode(code: string | undefined): ErrorCode {
  return code !== undefined && Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'SB_ERR_INVALID_ACK_TOKEN';
}
