/**
 * One live outgoing WebSocket connection (docs/ws-outgoing.md): dials the server, publishes every frame
 * it receives into the inbound topic — one at a time and in order, the socket paused until JetStream
 * stored it, so nothing is dropped however slow or absent the backbone is — and sends the messages of
 * the outbound subscription as frames, acking each only after the server confirmed reading it (a pong).
 * The lifecycle around it (lease, backoff, config changes) lives in outgoing.ts.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { isSbError } from '../../broker/errors.js';
import type { Broker, DeliveredMessage } from '../../broker/types.js';
import { MIN_NAK_DELAY_MS } from '../../broker/subscription-record.js';
import type { WsOutgoingStored } from '../../schemas/ws-outgoing.js';

/** What a link reports as it runs (counters and the last failure). */
export interface LinkEvents {
  open(): void;
  received(): void;
  published(): void;
  sent(): void;
  acked(n: number): void;
  error(code: string): void;
  /** The socket closed; received frames may still be publishing. */
  closed(): void;
}

/** Retry delays of a failed inbound publish or outbound pull (ms): doubling, capped. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;
const PULL_WAIT_MS = 1000;
/** A ping that confirms sent frames must be answered within this (ms), or the connection is cut. */
const PONG_TIMEOUT_MS = 10_000;

/**
 * Runs one connection until the socket closes or `stop` aborts; resolves once every frame received was
 * published (or `hardStop` gave up on them) and every message pulled was acked or nak'ed. Resolves
 * whether it ever opened.
 */
export async function runLink(
  broker: Broker, def: WsOutgoingStored, headers: Record<string, string>,
  stop: AbortSignal, hardStop: AbortSignal, ev: LinkEvents,
): Promise<{ opened: boolean }> {
  const ws = new WebSocket(def.url, {
    headers, maxPayload: def.maxFrameBytes, handshakeTimeout: def.handshakeTimeoutMs, perMessageDeflate: false, followRedirects: false,
  });
  let opened = false;
  const closed = new Promise<void>((resolve) => {
    ws.on('close', (code) => {
      // 1000/1005 from the server, or ours after stop: an orderly close, not an error.
      if (opened && !stop.aborted && code !== 1000 && code !== 1005) ev.error(`CLOSE_${code}`);
      ev.closed();
      resolve();
    });
  });
  ws.on('error', (err: Error & { code?: string }) => ev.error(errorCode(err)));
  // Resume so the close handshake can be read even while a publish holds the socket paused; frames
  // still arriving meanwhile are queued and published like the others.
  const onStop = () => { ws.close(1001, 'going away'); ws.resume(); };
  stop.addEventListener('abort', onStop, { once: true });
  if (stop.aborted) onStop();

  const inbound = def.inbound ? new Inbound(broker, def, ws, hardStop, ev) : undefined;
  const outbound = def.outbound ? new Outbound(broker, def.outbound, ws, closed, ev) : undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    ev.received();
    inbound?.push(data, isBinary);
  });
  ws.on('open', () => {
    opened = true;
    ev.open();
    outbound?.start();
  });
  await closed;
  stop.removeEventListener('abort', onStop);
  await Promise.all([inbound?.drained(), outbound?.done()]);
  return { opened };
}

/** Frames in, one publish at a time, in arrival order; the socket stays paused while any wait. */
class Inbound {
  private readonly queue: Array<{ data: Buffer; isBinary: boolean }> = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly broker: Broker, private readonly def: WsOutgoingStored, private readonly ws: WebSocket,
    private readonly hardStop: AbortSignal, private readonly ev: LinkEvents,
  ) {}

  push(data: Buffer, isBinary: boolean): void {
    this.queue.push({ data, isBinary });
    // Frames already parsed from the socket's last chunk still arrive after pause(): they queue here.
    if (!this.ws.isPaused && this.ws.readyState === WebSocket.OPEN) this.ws.pause();
    this.running ??= this.run().finally(() => { this.running = undefined; });
  }

  drained(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    for (let f = this.queue[0]; f; f = this.queue[0]) {
      if (!(await this.publish(f.data, f.isBinary))) return;
      this.queue.shift();
      this.ev.published();
    }
    if (this.ws.readyState === WebSocket.OPEN) this.ws.resume();
  }

  /** Publishes until stored, with one idempotency key so a retry after a timeout is not stored twice. False: gave up (hard stop). */
  private async publish(data: Buffer, isBinary: boolean): Promise<boolean> {
    const req = {
      topic: (this.def.inbound as { topic: string }).topic, data, contentType: contentTypeOf(data, isBinary),
      idempotencyKey: `wsout-${randomUUID()}`, publisher: `wsout:${this.def.name}`,
    };
    for (let wait = RETRY_FIRST_MS; ; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      if (this.hardStop.aborted) return false;
      try {
        await this.broker.publish(req);
        return true;
      } catch (e) {
        this.ev.error(isSbError(e) ? e.code : 'SB_ERR_INTERNAL');
        // Wait for the backbone (or the topic) to come back; a hard stop ends the wait.
        await delay(wait, undefined, { signal: this.hardStop }).catch(() => undefined);
      }
    }
  }
}

/**
 * Subscription messages out, at most `maxInFlight` unsettled. A message is acked once the server
 * answered a ping sent after its frame was written: the server's WebSocket reads frames in order, so
 * that pong proves it read the frame. "Written" alone is not enough: bytes in the local socket buffer
 * die with a connection the server cuts. What is unconfirmed when the socket closes is nak'ed.
 */
class Outbound {
  private readonly inFlight = new Set<string>();
  private written: string[] = [];
  private ping: { id: string; tokens: string[]; timer: NodeJS.Timeout } | undefined;
  private pings = 0;
  private slot: (() => void) | undefined;
  private pump: Promise<void> | undefined;
  private readonly settling = new Set<Promise<unknown>>();
  private isClosed = false;

  constructor(
    private readonly broker: Broker, private readonly cfg: { subscription: string; maxInFlight: number },
    private readonly ws: WebSocket, closed: Promise<void>, private readonly ev: LinkEvents,
  ) {
    ws.on('pong', (data: Buffer) => this.onPong(data.toString()));
    void closed.then(() => {
      this.isClosed = true;
      if (this.ping) clearTimeout(this.ping.timer);
      this.slot?.();
    });
  }

  start(): void {
    this.pump = this.run();
  }

  async done(): Promise<void> {
    await this.pump;
    // Whatever the server did not confirm is redelivered soon: nak with the minimum delay.
    this.nak([...this.inFlight]);
    this.inFlight.clear();
    while (this.settling.size > 0) await Promise.all([...this.settling]);
  }

  private async run(): Promise<void> {
    const subs = this.broker.subscriptions;
    for (let wait = RETRY_FIRST_MS; !this.isClosed;) {
      const room = this.cfg.maxInFlight - this.inFlight.size;
      if (room <= 0) {
        await new Promise<void>((r) => { this.slot = r; });
        this.slot = undefined;
        continue;
      }
      let msgs: DeliveredMessage[];
      try {
        msgs = await subs.pull(this.cfg.subscription, { max: room, waitMs: PULL_WAIT_MS });
        wait = RETRY_FIRST_MS;
      } catch (e) {
        this.ev.error(isSbError(e) ? e.code : 'SB_ERR_INTERNAL');
        await Promise.race([delay(wait), new Promise<void>((r) => { this.slot = r; })]);
        this.slot = undefined;
        wait = Math.min(wait * 2, RETRY_MAX_MS);
        continue;
      }
      for (const m of msgs) this.send(m);
    }
  }

  private send(m: DeliveredMessage): void {
    if (this.isClosed || this.ws.readyState !== WebSocket.OPEN) return this.nak([m.ackToken]);
    const token = m.ackToken;
    this.inFlight.add(token);
    this.ws.send(m.data, { binary: !isText(m.contentType) }, (err) => {
      // done() may have nak'ed it already (the socket closed first): settle each token once.
      if (!this.inFlight.has(token)) return;
      if (err) {
        this.inFlight.delete(token);
        return this.nak([token]);
      }
      this.ev.sent();
      this.written.push(token);
      if (this.written.length === 1) setImmediate(() => this.sendPing());
    });
  }

  /** One ping covers every frame written before it; the next waits for its pong (one round trip per batch). */
  private sendPing(): void {
    if (this.ping || this.written.length === 0 || this.isClosed || this.ws.readyState !== WebSocket.OPEN) return;
    const id = String(++this.pings);
    // No pong in time: the server is gone or not reading; cut it so the messages are redelivered.
    const timer = setTimeout(() => { this.ev.error('PONG_TIMEOUT'); this.ws.terminate(); }, PONG_TIMEOUT_MS);
    this.ping = { id, tokens: this.written, timer };
    this.written = [];
    this.ws.ping(id);
  }

  private onPong(id: string): void {
    const p = this.ping;
    if (!p || p.id !== id) return;
    clearTimeout(p.timer);
    this.ping = undefined;
    const tokens = p.tokens.filter((t) => this.inFlight.delete(t));
    if (tokens.length > 0) {
      this.track(this.broker.subscriptions.ack(this.cfg.subscription, tokens).then((rs) => {
        this.ev.acked(rs.filter((r) => r.ok).length);
      }, (e: unknown) => this.ev.error(isSbError(e) ? e.code : 'SB_ERR_INTERNAL')).finally(() => this.slot?.()));
    }
    this.slot?.();
    this.sendPing();
  }

  private nak(tokens: string[]): void {
    if (tokens.length === 0) return;
    // A failed nak is harmless: the message comes back after the subscription's ack wait.
    this.track(this.broker.subscriptions.nak(this.cfg.subscription, tokens, MIN_NAK_DELAY_MS).catch(() => undefined).finally(() => this.slot?.()));
  }

  private track(p: Promise<unknown>): void {
    this.settling.add(p);
    void p.finally(() => this.settling.delete(p));
  }
}

/** Text frames are JSON when they parse as JSON, plain text otherwise; binary frames are octets. */
function contentTypeOf(data: Buffer, isBinary: boolean): string {
  if (isBinary) return 'application/octet-stream';
  try {
    JSON.parse(data.toString('utf8'));
    return 'application/json';
  } catch {
    return 'text/plain';
  }
}

/** Payloads whose content type is text or JSON go out as text frames; the rest as binary. */
export function isText(contentType: string): boolean {
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return t.startsWith('text/') || t === 'application/json' || t.endsWith('+json');
}

/** A short, secret-free code for a socket failure: the errno, `HTTP_<status>` for a refused upgrade, or the error's name. */
function errorCode(err: Error & { code?: string }): string {
  const http = /Unexpected server response: (\d{3})/.exec(err.message);
  if (http) return `HTTP_${http[1]!}`;
  if (err.code) return err.code;
  return /handshake has timed out/i.test(err.message) ? 'HANDSHAKE_TIMEOUT' : 'WS_ERROR';
}
