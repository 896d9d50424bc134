/**
 * Outgoing WebSocket connections (docs/ws-outgoing.md): one runner per definition `wsout.<name>` in the
 * config store, started, restarted and stopped as definitions change. Exactly one replica runs each
 * connection: the one holding the lease `wsout.<name>`; the others stand by and retry the lease, so a
 * dead holder is replaced within about the lease TTL. A replica that loses its lease closes the socket.
 * Each replica answers the signal `wsout.status.<name>` with its status (the admin API gathers them).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import { isSbError } from '../../broker/errors.js';
import { openSecret, processKeyring, secretAad, type Keyring } from '../../broker/secrets.js';
import type { Lease, SignalHandle } from '../../broker/types.js';
import { WS_OUTGOING_PREFIX, WS_OUTGOING_STATUS_SIGNAL, type WsOutgoingState, type WsOutgoingStatus, type WsOutgoingStored } from '../../schemas/ws-outgoing.js';
import type { GatewayDeps } from '../types.js';
import { runLink, type LinkEvents } from './outgoing-link.js';

/** Options of {@link startOutgoing}; every field has a default. */
export interface OutgoingOptions {
  /** How often a standby replica tries to take a connection's lease (ms). Default 1000. */
  leaseRetryMs?: number;
  /** How long close() lets received frames finish publishing (ms). Default 5000. */
  closeDeadlineMs?: number;
  /** Master keys that open the sealed headers. Default: SB_MASTER_KEYS / SB_MASTER_KEYS_FILE. */
  keyring?: () => Keyring;
}

/** The running set of outgoing connections of this replica. */
export interface OutgoingRunner {
  /** This replica's status of connection `name` (undefined when it has no such definition). */
  status(name: string): WsOutgoingStatus | undefined;
  /** Stops every connection (frames received are published first, up to the deadline), releases the leases. Idempotent. */
  close(): Promise<void>;
}

/** Starts running the outgoing WebSocket connections defined in the config store. */
export function startOutgoing(deps: GatewayDeps, opts: OutgoingOptions = {}): OutgoingRunner {
  const { broker } = deps;
  const ctx: RunContext = {
    deps, metrics: outgoingMetrics(deps.metrics.registry),
    leaseRetryMs: opts.leaseRetryMs ?? 1000, keyring: opts.keyring ?? processKeyring,
  };
  const log = deps.logger.child({ part: 'ws-outgoing' });
  const closeDeadlineMs = opts.closeDeadlineMs ?? 5000;
  const conns = new Map<string, Connection>();
  const apply = (name: string, def: WsOutgoingStored | null) => {
    const c = conns.get(name);
    if (def) {
      if (c) c.update(def);
      else conns.set(name, new Connection(ctx, def, log.child({ connection: name })));
    } else if (c) {
      conns.delete(name);
      void c.stop(closeDeadlineMs);
    }
  };
  const unwatch = broker.config.watch<WsOutgoingStored>(WS_OUTGOING_PREFIX, (ch) => apply(ch.key.slice(WS_OUTGOING_PREFIX.length), ch.op === 'put' ? ch.value : null));
  for (const { key, value } of broker.config.list<WsOutgoingStored>(WS_OUTGOING_PREFIX)) apply(key.slice(WS_OUTGOING_PREFIX.length), value);
  const statusSub: SignalHandle = broker.signals.on(`${WS_OUTGOING_STATUS_SIGNAL}*`, (s) => {
    const st = conns.get(s.name.slice(WS_OUTGOING_STATUS_SIGNAL.length))?.status();
    if (st && s.reply) s.reply(Buffer.from(JSON.stringify(st)));
  });
  let closing: Promise<void> | undefined;
  return {
    status: (name) => conns.get(name)?.status(),
    close() {
      closing ??= (async () => {
        unwatch();
        statusSub.unsubscribe();
        const all = [...conns.values()];
        conns.clear();
        await Promise.all(all.map((c) => c.stop(closeDeadlineMs)));
      })();
      return closing;
    },
  };
}

interface OutgoingMetrics {
  received: Counter<'connection'>;
  published: Counter<'connection'>;
  sent: Counter<'connection'>;
  acked: Counter<'connection'>;
  reconnects: Counter<'connection'>;
  open: Gauge<'connection'>;
}

interface RunContext {
  deps: GatewayDeps;
  metrics: OutgoingMetrics;
  leaseRetryMs: number;
  keyring: () => Keyring;
}

/** One connection definition on this replica: lease, connect, backoff, repeat. */
class Connection {
  private state: WsOutgoingState = 'standby';
  private readonly counts = { received: 0, published: 0, sent: 0, acked: 0, reconnects: 0 };
  private lastError: string | undefined;
  private lease: Lease | undefined;
  private stopped = false;
  /** Aborts the current link or sleep: a new definition, a stop, a lost lease. */
  private turn = new AbortController();
  private readonly hardStop = new AbortController();
  private readonly loop: Promise<void>;

  constructor(private readonly ctx: RunContext, private def: WsOutgoingStored, private readonly log: GatewayDeps['logger']) {
    this.loop = this.run().catch((err: unknown) => this.log.error({ err }, 'outgoing connection loop failed'));
  }

  status(): WsOutgoingStatus {
    const replica = this.ctx.deps.broker.leases.id;
    return {
      replica, state: this.state, ...(this.lease ? { holder: replica } : {}), ...this.counts,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  update(def: WsOutgoingStored): void {
    if (JSON.stringify(def) === JSON.stringify(this.def)) return;
    this.def = def;
    this.turn.abort();
  }

  /** Stops for good; received frames get `deadlineMs` to be published. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopped = true;
    this.turn.abort();
    const timer = setTimeout(() => this.hardStop.abort(), deadlineMs);
    try {
      await this.loop;
    } finally {
      clearTimeout(timer);
      this.ctx.metrics.open.set({ connection: this.def.name }, 0);
    }
  }

  private async run(): Promise<void> {
    const { broker } = this.ctx.deps;
    let attempt = 0;
    while (!this.stopped) {
      if (this.turn.signal.aborted) this.turn = new AbortController();
      const turn = this.turn.signal;
      if (!this.def.enabled) {
        this.state = 'stopped';
        await this.dropLease();
        await sleep(Infinity, turn);
        continue;
      }
      if (!this.lease || this.lease.signal.aborted) {
        this.lease = undefined;
        this.state = 'standby';
        try {
          this.lease = await broker.leases.acquire(`${WS_OUTGOING_PREFIX}${this.def.name}`);
        } catch (e) {
          this.lastError = isSbError(e) ? e.code : 'SB_ERR_INTERNAL';
        }
        if (!this.lease) {
          await sleep(this.ctx.leaseRetryMs, turn);
          continue;
        }
        attempt = 0;
        this.log.info({ holder: broker.leases.id }, 'lease taken; connecting');
      }
      const stop = AbortSignal.any([turn, this.lease.signal]);
      const opened = await this.connect(stop);
      if (opened) attempt = 0;
      if (stop.aborted) continue; // changed, stopped or lease lost: no backoff
      this.state = 'backoff';
      this.counts.reconnects++;
      this.ctx.metrics.reconnects.inc({ connection: this.def.name });
      await sleep(backoffMs(this.def.reconnect, attempt++), stop);
    }
    await this.dropLease();
    this.state = 'stopped';
  }

  /** One connection attempt, until the socket closes. Whether it opened. */
  private async connect(stop: AbortSignal): Promise<boolean> {
    let headers: Record<string, string>;
    try {
      headers = this.openHeaders();
    } catch (e) {
      this.lastError = isSbError(e) ? e.code : 'SB_ERR_INTERNAL';
      return false;
    }
    const name = this.def.name;
    const m = this.ctx.metrics;
    const c = this.counts;
    const ev: LinkEvents = {
      open: () => { this.state = 'open'; m.open.set({ connection: name }, 1); this.log.info('connected'); },
      received: () => { c.received++; m.received.inc({ connection: name }); },
      published: () => { c.published++; m.published.inc({ connection: name }); },
      sent: () => { c.sent++; m.sent.inc({ connection: name }); },
      acked: (n) => { c.acked += n; m.acked.inc({ connection: name }, n); },
      error: (code) => { this.lastError = code; },
      closed: () => {
        m.open.set({ connection: name }, 0);
        this.state = this.stopped ? 'stopped' : this.lease?.signal.aborted !== false ? 'standby' : 'backoff';
      },
    };
    this.state = 'connecting';
    try {
      const { opened } = await runLink(this.ctx.deps.broker, this.def, headers, stop, this.hardStop.signal, ev);
      if (opened) this.log.info({ lastError: this.lastError }, 'disconnected');
      return opened;
    } finally {
      m.open.set({ connection: name }, 0);
    }
  }

  /** The header values in clear, for the upgrade request only (never logged, never stored in clear). */
  private openHeaders(): Record<string, string> {
    const out: Record<string, string> = {};
    const entries = Object.entries(this.def.headers);
    if (entries.length === 0) return out;
    const ring = this.ctx.keyring();
    for (const [h, sealed] of entries) out[h] = openSecret(ring, sealed, secretAad(`${WS_OUTGOING_PREFIX}${this.def.name}`, `headers.${h}`));
    return out;
  }

  private async dropLease(): Promise<void> {
    const l = this.lease;
    this.lease = undefined;
    await l?.release().catch((err: unknown) => this.log.warn({ err }, 'lease release failed; it ages out'));
  }
}

/** Exponential backoff with equal jitter: between half and all of min(maxMs, initialMs·2^attempt). */
export function backoffMs(r: { initialMs: number; maxMs: number }, attempt: number): number {
  const cap = Math.min(r.maxMs, r.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

/** Sleeps `ms` (Infinity: until aborted); an abort ends it early, without throwing. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  if (ms === Infinity) return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

/** The connection metrics, registered once per registry (a second runner on the same registry shares them). */
function outgoingMetrics(registry: Registry): OutgoingMetrics {
  const reg = [registry];
  const counter = (name: string, help: string) =>
    (registry.getSingleMetric(name) as Counter<'connection'> | undefined) ?? new Counter({ name, help, labelNames: ['connection'], registers: reg });
  return {
    received: counter('sb_wsout_frames_received_total', 'Frames received on outgoing WebSocket connections'),
    published: counter('sb_wsout_frames_published_total', 'Received frames stored in the inbound topic'),
    sent: counter('sb_wsout_messages_sent_total', 'Subscription messages written to outgoing WebSocket connections'),
    acked: counter('sb_wsout_messages_acked_total', 'Sent messages acked on the outbound subscription'),
    reconnects: counter('sb_wsout_reconnects_total', 'Reconnect attempts (after a failed or lost connection)'),
    open: (registry.getSingleMetric('sb_wsout_open') as Gauge<'connection'> | undefined)
      ?? new Gauge({ name: 'sb_wsout_open', help: '1 while this replica has the connection open', labelNames: ['connection'], registers: reg }),
  };
}
