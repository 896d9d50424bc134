/**
 * The WebSocket gateway: `upgrade` handling for `/ws/{channel}` on any http.Server (the REST
 * gateway's, so REST and WebSocket share one port), the per-channel and per-principal connection
 * limits, the ping/pong liveness sweep and the graceful close (1012). `WsGateway` runs it alone on its
 * own server. The frame protocol lives in session.ts and frames.ts (docs/ws-protocol.md).
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { WebSocketServer } from 'ws';
import { SbError, type ErrorCode } from '../../broker/errors.js';
import type { Principal } from '../../security/types.js';
import { WS_CHANNEL_PREFIX, WS_CLOSE, type WsChannel } from '../../schemas/ws.js';
import { startBroadcastReceiver, startPresence, type ChannelState } from './fanout.js';
import type { Gateway, GatewayDeps, GatewayHealth } from '../types.js';
import { Session, type SessionEnv, type SessionOptions } from './session.js';
import { startOutgoing } from './outgoing.js';

/** Options of {@link attachWebSocket}; every field has a default. */
export interface WsOptions extends Partial<SessionOptions> {
  /** Interval of server pings (ms); a client that misses 2 in a row is cut. Default 30000. */
  pingIntervalMs?: number;
  /** This attachment's id in presence answers and events. Default `<hostname>-<8 random hex>`. */
  gatewayId?: string;
}

/** Counters for health and tests. */
export interface WsStats {
  connections: number;
  slowConsumerCloses: number;
  livenessCloses: number;
}

/** The WebSocket side attached to a server. */
export interface WsAttachment {
  /** This attachment's id in presence answers and join/leave events. */
  readonly gatewayId: string;
  stats(): WsStats;
  /** Stops accepting, closes every client with 1012, waits up to `deadlineMs` for them to go, cuts the rest. Idempotent. */
  close(opts?: { deadlineMs?: number }): Promise<void>;
}

const PATH = /^\/ws\/([A-Za-z0-9_-]{1,64})$/;
const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' };

/** Handles WebSocket upgrades on `server` (which keeps serving plain HTTP). */
export function attachWebSocket(deps: GatewayDeps, server: http.Server, opts: WsOptions = {}): WsAttachment {
  const sessionOpts: SessionOptions = {
    authTimeoutMs: opts.authTimeoutMs ?? 5000,
    maxBadFrames: opts.maxBadFrames ?? 32,
    closeGraceMs: opts.closeGraceMs ?? 10_000,
  };
  const logger = deps.logger.child({ part: 'ws' });
  const channels = new Map<string, ChannelState>();
  // ws applies maxPayload per server, and channels have their own frame limit: one server per limit.
  const servers = new Map<number, WebSocketServer>();
  const stats: WsStats = { connections: 0, slowConsumerCloses: 0, livenessCloses: 0 };
  let closing: Promise<void> | undefined;
  const gatewayId = opts.gatewayId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  // Broadcasts and presence queries of every replica reach this one over core NATS (fanout.ts).
  const bcast = startBroadcastReceiver(deps.broker.signals, channels, logger);
  const presence = startPresence(deps, channels, gatewayId, logger);
  // Outgoing connections (docs/ws-outgoing.md) run where WebSocket gateways run, one replica each (leases).
  const outgoing = startOutgoing(deps);

  const stateOf = (name: string): ChannelState => {
    let s = channels.get(name);
    if (!s) channels.set(name, s = { name, sessions: new Set(), perPrincipal: new Map() });
    return s;
  };
  // One env per channel definition, shared by its sessions: per-connection closures cost ~450 bytes each.
  const envOf = (st: ChannelState, ch: WsChannel): SessionEnv => {
    if (st.env?.channel === ch) return st.env;
    st.env = {
      deps, channel: ch, logger, opts: sessionOpts,
      admit: (name) => {
        const n = st.perPrincipal.get(name) ?? 0;
        if (n >= ch.limits.maxConnectionsPerPrincipal) return false;
        st.perPrincipal.set(name, n + 1);
        return true;
      },
      release: (name) => {
        const n = (st.perPrincipal.get(name) ?? 1) - 1;
        if (n <= 0) st.perPrincipal.delete(name);
        else st.perPrincipal.set(name, n);
      },
      onSlowConsumer: () => { stats.slowConsumerCloses++; },
      onJoin: (s) => presence.joined(s, ch),
      onLeave: (s, code) => presence.left(s, ch, code),
    };
    return st.env;
  };
  const wssFor = (maxPayload: number): WebSocketServer => {
    let w = servers.get(maxPayload);
    // clientTracking off: we keep our own sets; perMessageDeflate off (CPU and memory per connection).
    if (!w) servers.set(maxPayload, w = new WebSocketServer({ noServer: true, maxPayload, clientTracking: false, perMessageDeflate: false }));
    return w;
  };

  async function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    if (closing) return reject(socket, 'SB_ERR_SHUTTING_DOWN', 'this gateway is shutting down; reconnect to another replica');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = PATH.exec(url.pathname);
    if (!m) return reject(socket, 'SB_ERR_NOT_FOUND', 'WebSocket channels live under /ws/{channel}');
    const ch = deps.broker.config.get<WsChannel>(`${WS_CHANNEL_PREFIX}${m[1]!}`);
    if (!ch) return reject(socket, 'SB_ERR_CHANNEL_NOT_FOUND', `WebSocket channel ${m[1]!} does not exist`);
    // Browsers always send Origin; clients that are not browsers need none, and cannot be tricked into it.
    const origin = req.headers.origin;
    if (origin !== undefined && ch.allowedOrigins.length > 0 && !ch.allowedOrigins.includes(origin)) {
      return reject(socket, 'SB_ERR_FORBIDDEN', 'this Origin may not connect to this channel');
    }
    const st = stateOf(ch.name);
    if (st.sessions.size >= ch.limits.maxConnections) return reject(socket, 'SB_ERR_RATE_LIMITED', 'this channel has reached its connection limit');
    const token = url.searchParams.get('token');
    const authorization = req.headers.authorization ?? (token ? `Bearer ${token}` : undefined);
    let principal: Principal | undefined;
    if (authorization !== undefined) {
      try {
        principal = await deps.security.authenticate(authorization);
      } catch {
        return reject(socket, 'SB_ERR_UNAUTHENTICATED', 'authentication failed');
      }
    } else if (!deps.security.enabled) {
      principal = await deps.security.authenticate(undefined);
    }
    if (socket.destroyed) return;
    if (closing) return reject(socket, 'SB_ERR_SHUTTING_DOWN', 'this gateway is shutting down; reconnect to another replica');
    const env = envOf(st, ch);
    if (principal && !env.admit(principal.name)) return reject(socket, 'SB_ERR_RATE_LIMITED', 'too many connections of this principal to this channel');
    // Read now: a callback that names `req` keeps the request and its headers alive as long as the session (~1.2 KiB each).
    const remoteAddress = req.socket.remoteAddress ?? '';
    wssFor(ch.limits.maxFrameBytes).handleUpgrade(req, socket, head, (ws) => {
      const session = new Session(randomUUID(), ws, socket, env, principal, remoteAddress);
      st.sessions.add(session);
      stats.connections++;
      void session.done.then(() => {
        st.sessions.delete(session);
        stats.connections--;
      });
    });
  }

  const listener = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    onUpgrade(req, socket, head).catch((e: unknown) => {
      logger.error({ err: e }, 'websocket upgrade failed');
      reject(socket, 'SB_ERR_INTERNAL', 'internal error');
    });
  };
  server.on('upgrade', listener);

  // Liveness: one sweep for every client; a client that missed 2 pings in a row is cut.
  const pingEvery = opts.pingIntervalMs ?? 30_000;
  const sweep = setInterval(() => {
    for (const st of channels.values()) {
      for (const s of st.sessions) {
        if (s.missedPings >= 2) {
          stats.livenessCloses++;
          s.terminate();
          continue;
        }
        s.missedPings++;
        s.ping();
      }
    }
  }, pingEvery);
  sweep.unref();

  async function shutdown(deadlineMs: number): Promise<void> {
    server.off('upgrade', listener);
    clearInterval(sweep);
    bcast.unsubscribe();
    // First: releasing the leases lets another replica take the outgoing connections over at once.
    await outgoing.close();
    const all = [...channels.values()].flatMap((st) => [...st.sessions]);
    for (const s of all) s.close(WS_CLOSE.restart, 'server restart; reconnect');
    // Each session hands its un-acked messages back before `done` resolves.
    const gone = Promise.all(all.map((s) => s.done));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), deadlineMs); });
    if (await Promise.race([gone, late]) === 'late') {
      for (const s of all) s.terminate();
      await gone;
    }
    clearTimeout(timer);
    for (const w of servers.values()) w.close();
    // After the clients: their leave events are published (or given up on) first.
    await presence.close();
  }

  return {
    gatewayId,
    stats: () => ({ ...stats }),
    close(o = {}) {
      closing ??= shutdown(o.deadlineMs ?? 10_000);
      return closing;
    },
  };
}

/** Answers a refused upgrade with our JSON error body and closes the socket. */
function reject(socket: Duplex, code: ErrorCode, message: string): void {
  if (socket.destroyed) return;
  const e = new SbError(code, message);
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  socket.end(`HTTP/1.1 ${e.status} ${STATUS_TEXT[e.status] ?? 'Error'}\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The WebSocket gateway on its own http server (plain HTTP requests get 404). */
export class WsGateway implements Gateway {
  readonly kind = 'ws';
  private readonly server: http.Server;
  private ws: WsAttachment | undefined;
  private listening = false;

  constructor(private readonly deps: GatewayDeps, private readonly opts: WsOptions & { host?: string; port?: number } = {}) {
    this.server = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'SB_ERR_NOT_FOUND', message: 'WebSocket only: /ws/{channel}' } }));
    });
  }

  async start(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.ws = attachWebSocket(this.deps, this.server, this.opts);
    const host = this.opts.host ?? this.deps.config.http.host;
    const port = this.opts.port ?? this.deps.config.http.port;
    await new Promise<void>((resolve, rejectListen) => {
      this.server.once('error', rejectListen);
      this.server.listen({ host, port, backlog: 2048 }, () => { this.server.off('error', rejectListen); resolve(); });
    });
    this.listening = true;
  }

  /** Where it listens. */
  address(): { host: string; port: number } {
    const a = this.server.address();
    if (!a || typeof a === 'string') throw new SbError('SB_ERR_INTERNAL', 'the WebSocket gateway is not listening');
    return { host: a.address, port: a.port };
  }

  stats(): WsStats | undefined {
    return this.ws?.stats();
  }

  health(): GatewayHealth {
    return { ready: this.listening && this.deps.broker.ready(), detail: { listening: this.listening, ...this.ws?.stats() } };
  }

  async stop(opts: { deadlineMs?: number } = {}): Promise<void> {
    await this.ws?.close(opts);
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    await closed;
  }
}
