/**
 * The one NATS connection of a process and its status, mapped to {@link BackboneStatus} (STYLE §11).
 * nats.js buffers publishes while reconnecting; the publisher asks {@link Connection.connected} first
 * so nothing is ever silently queued behind a dead socket.
 */
import { connect } from '@nats-io/transport-node';
import type { ConnectionOptions, NatsConnection, Status } from '@nats-io/nats-core';
import type { ProcessConfig } from '../schemas/config.js';
import type { Logger } from './log.js';
import type { BackboneStatus } from './types.js';
import { errors } from './errors.js';

/** A live connection plus its status, as seen by the rest of the broker. */
export interface Connection {
  readonly nc: NatsConnection;
  status(): BackboneStatus;
  /** True while the socket is up (not reconnecting, not closed). */
  connected(): boolean;
  onStatus(fn: (s: BackboneStatus) => void): () => void;
}

/** Connects with reconnect forever; rejects with SB_ERR_BACKBONE_UNAVAILABLE if the first connect fails. */
export async function openConnection(config: ProcessConfig, logger: Logger): Promise<Connection> {
  const n = config.nats;
  const opts: ConnectionOptions = {
    servers: n.url.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
    name: n.name,
    // Async stack traces cost ~45% of publish throughput (measured); our errors carry their own context.
    noAsyncTraces: true,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
  if (n.token) opts.token = n.token;
  if (n.user) opts.user = n.user;
  if (n.pass) opts.pass = n.pass;
  let nc: NatsConnection;
  try {
    nc = await connect(opts);
  } catch (e) {
    throw errors.backboneUnavailable(e);
  }
  coalesceWrites(nc);
  return new NatsConnectionState(nc, logger.child({ part: 'connection' }));
}

class NatsConnectionState implements Connection {
  readonly nc: NatsConnection;
  private current: BackboneStatus;
  private readonly listeners = new Set<(s: BackboneStatus) => void>();
  private attempts = 0;

  constructor(nc: NatsConnection, private readonly log: Logger) {
    this.nc = nc;
    this.current = { type: 'connected', server: nc.getServer() };
    void this.watch();
    void nc.closed().then((err) => this.set({ type: 'closed', ...(err ? { reason: err.message } : {}) }));
  }

  status(): BackboneStatus {
    return this.current;
  }

  connected(): boolean {
    return this.current.type === 'connected' && !this.nc.isClosed();
  }

  onStatus(fn: (s: BackboneStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private async watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      const mapped = this.map(s);
      if (mapped) this.set(mapped);
    }
  }

  private map(s: Status): BackboneStatus | undefined {
    switch (s.type) {
      case 'disconnect':
        return { type: 'disconnected', reason: `lost ${s.server}` };
      case 'reconnecting':
        return { type: 'reconnecting', attempt: ++this.attempts };
      case 'reconnect':
        this.attempts = 0;
        return { type: 'connected', server: s.server };
      case 'staleConnection':
        return { type: 'heartbeats_missed', count: 1 };
      case 'ping':
        // One outstanding ping is normal; two or more means the server stopped answering.
        return s.pendingPings > 1 ? { type: 'heartbeats_missed', count: s.pendingPings } : undefined;
      case 'close':
        return { type: 'closed' };
      default:
        return undefined;
    }
  }

  private set(s: BackboneStatus): void {
    if (this.current.type === 'closed') return;
    // A missed heartbeat while connected is surfaced but keeps the socket usable: only the socket decides `connected`.
    if (s.type === 'heartbeats_missed' && this.current.type !== 'connected') return;
    // Reconnect attempts repeat every 250 ms during an outage: log transitions, not every attempt.
    if (s.type !== this.current.type) this.log.info({ status: s }, 'backbone status');
    else this.log.debug({ status: s }, 'backbone status');
    this.current = s.type === 'heartbeats_missed' ? this.current : s;
    for (const fn of this.listeners) {
      try {
        fn(s);
      } catch (e) {
        this.log.error({ err: e }, 'status listener failed');
      }
    }
  }
}

/**
 * One socket write per event-loop turn instead of one per microtask checkpoint. nats.js 3.3 schedules
 * a flush with queueMicrotask at the first buffered command, so a worker finishing jobs from many
 * async continuations sends many small writes (writev/writeBuffer were ~15 % of a gateway's CPU in a
 * REST sync-job profile) and nats-server reads as many. setImmediate runs after the poll phase, when
 * every callback of this turn has buffered its commands. Measured on the no-op job drain: ~10 % more
 * jobs/s and ~12 % less client CPU (docs/benchmarks.md). nats.js internals, pinned at 3.3.1: the
 * patched method mirrors ProtocolHandler.sendCommand except for the scheduling.
 */
function coalesceWrites(nc: NatsConnection): void {
  interface Protocol {
    outbound: { size(): number; fill(b: Uint8Array, ...p: Uint8Array[]): void };
    pendingLimit: number;
    flushPending(): void;
    sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  }
  const proto = (nc as unknown as { protocol?: Protocol }).protocol;
  if (!proto || typeof proto.sendCommand !== 'function' || typeof proto.flushPending !== 'function') return;
  const enc = new TextEncoder();
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    proto.flushPending();
  };
  proto.sendCommand = function sendCommand(cmd, ...payloads) {
    proto.outbound.fill(typeof cmd === 'string' ? enc.encode(cmd) : cmd, ...payloads);
    if (proto.outbound.size() >= proto.pendingLimit) {
      proto.flushPending();
    } else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
