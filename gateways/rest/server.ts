/** The REST gateway's lifecycle: start listening, report health, drain and close under a deadline. */
import type { FastifyInstance } from 'fastify';
import { SbError } from '../../broker/errors.js';
import type { Gateway, GatewayDeps, GatewayHealth } from '../types.js';
import { buildApp } from './app.js';
import { ChannelTable } from './channels.js';
import { attachWebSocket, type WsAttachment, type WsOptions } from '../ws/index.js';

/** Default drain deadline of stop(), in milliseconds. */
export const DEFAULT_STOP_DEADLINE_MS = 10_000;

/** The REST gateway: Fastify on config.http.host:port. `app` is exposed for inject-based tests. */
export class RestGateway implements Gateway {
  readonly kind = 'rest';
  readonly app: FastifyInstance;
  private readonly channels: ChannelTable;
  private draining = false;
  private listening = false;
  private stopping: Promise<void> | undefined;
  /** The WebSocket side (`/ws/{channel}` on the same port), attached on start. */
  ws: WsAttachment | undefined;

  constructor(private readonly deps: GatewayDeps, private readonly wsOptions: WsOptions = {}) {
    // deps.logger already carries the component bindings (the caller makes the child, STYLE §12).
    this.channels = new ChannelTable(deps.broker.config, deps.logger);
    this.app = buildApp(deps, { draining: () => this.draining, health: () => this.health(), channels: this.channels });
  }

  /** Loads channels and starts listening; `signal` aborts a slow start. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.stopping) throw new SbError('SB_ERR_SHUTTING_DOWN', 'gateway was stopped');
    signal?.throwIfAborted();
    this.channels.start();
    this.ws = attachWebSocket(this.deps, this.app.server, this.wsOptions);
    const { host, port } = this.deps.config.http;
    try {
      // A burst of new connections (a deploy, a reconnect storm) must not overflow the accept queue.
      await this.app.listen({ host, port, backlog: 2048 });
    } catch (e) {
      this.channels.stop();
      await this.ws.close({ deadlineMs: 0 });
      throw e;
    }
    this.listening = true;
    if (signal?.aborted) {
      await this.stop({ deadlineMs: 0 });
      signal.throwIfAborted();
    }
  }

  /** Where it listens (port 0 in config becomes the real port). */
  address(): { host: string; port: number } {
    const a = this.app.server.address();
    if (!a || typeof a === 'string') throw new SbError('SB_ERR_INTERNAL', 'the REST gateway is not listening');
    return { host: a.address, port: a.port };
  }

  /** Ready while listening, not draining, and the backbone is ready. */
  health(): GatewayHealth {
    const backbone = this.deps.broker.status();
    const ready = this.listening && !this.draining && this.deps.broker.ready();
    return { ready, detail: { backbone, draining: this.draining, listening: this.listening } };
  }

  /** Answers 503 to new requests, lets in-flight ones finish within `deadlineMs`, then cuts the rest. Idempotent. */
  stop(opts: { deadlineMs?: number } = {}): Promise<void> {
    this.stopping ??= this.drain(opts.deadlineMs ?? DEFAULT_STOP_DEADLINE_MS);
    return this.stopping;
  }

  private async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.channels.stop();
    // Upgraded sockets keep the HTTP server open: tell WebSocket clients to reconnect elsewhere first.
    await this.ws?.close({ deadlineMs });
    // close() stops accepting and reaps idle keep-alive sockets; busy ones finish their request first.
    const closed = this.app.close();
    const timer = setTimeout(() => this.app.server.closeAllConnections(), deadlineMs);
    try {
      await closed;
    } finally {
      clearTimeout(timer);
      this.listening = false;
    }
  }
}

/** Creates the REST gateway (not started). */
export function createRestGateway(deps: GatewayDeps, opts: { ws?: WsOptions } = {}): RestGateway {
  return new RestGateway(deps, opts.ws);
}
