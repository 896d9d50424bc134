/**
 * The worker runtime: one process-level object that runs the configured job types with their
 * handlers, listens for cancel requests, keeps its registry entry fresh, and drains on stop
 * (stop pulling → wait up to drainMs → hand the rest back → remove the registry entry → close
 * handlers). The caller (cli/worker.ts, cli/dev.ts, tests) owns the broker and closes it afterwards.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { jobPort, type Broker, type JobPort, type Logger } from '../broker/index.js';
import type { WorkerConfig, WorkerInfo } from '../schemas/job.js';
import type { JobHandler } from './types.js';
import { TypeRunner } from './type-runner.js';

/** Options for {@link createWorker}. */
export interface WorkerOptions {
  broker: Broker;
  /** A validated config with defaults filled in (see `resolveWorkerConfig`). */
  config: WorkerConfig;
  /** Every handler available; each configured type needs one. */
  handlers: JobHandler[];
  logger: Logger;
  /** Fault-test hook: runs after a final record is stored and before the ack (docs/workers.md). */
  afterResult?: () => void;
}

/** A running worker. */
export interface Worker {
  readonly id: string;
  /** The registry entry as it would be written now. */
  info(): WorkerInfo;
  /** Drains and stops. Idempotent. `drainMs` defaults to the config's. */
  stop(opts?: { drainMs?: number }): Promise<void>;
}

/** How long a cancel request is remembered for a job not (yet) running here, ms. */
const CANCEL_MEMORY_MS = 60_000;

/** Starts a worker: init handlers, declare types, start pulling. On failure, what started is stopped. */
export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  const w = new WorkerRuntime(opts);
  try {
    await w.start();
  } catch (e) {
    await w.stop({ drainMs: 0 }).catch(() => undefined);
    throw e;
  }
  return w;
}

class WorkerRuntime implements Worker {
  readonly id: string;
  private readonly port: JobPort;
  private readonly log: Logger;
  private readonly runners: TypeRunner[] = [];
  private readonly initialized: JobHandler[] = [];
  private readonly cancelled = new Map<string, number>();
  private readonly startedAt = new Date().toISOString();
  private state: WorkerInfo['state'] = 'running';
  private offCancel: (() => void) | undefined;
  private beat: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: WorkerOptions) {
    this.id = opts.config.id ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.port = jobPort(opts.broker);
    this.log = opts.logger.child({ component: 'worker', workerId: this.id });
  }

  async start(): Promise<void> {
    const { config, broker } = this.opts;
    const byType = new Map(this.opts.handlers.map((h) => [h.type, h]));
    for (const t of config.types) if (!byType.has(t.type)) throw new Error(`no handler for job type ${t.type} (loaded: ${[...byType.keys()].join(', ') || 'none'})`);
    for (const t of config.types) {
      const h = byType.get(t.type) as JobHandler;
      if (h.init && !this.initialized.includes(h)) {
        await h.init({ broker, log: this.log.child({ type: h.type }), workerId: this.id });
      }
      this.initialized.push(h);
    }
    // Cancel requests before the runners exist are remembered too.
    this.offCancel = this.port.onCancel((id) => this.onCancel(id));
    this.port.onResultRecorded(this.opts.afterResult);
    for (const t of config.types) {
      await this.port.declare(t);
      const runner = new TypeRunner(t, byType.get(t.type) as JobHandler, {
        port: this.port, broker, workerId: this.id, log: this.log.child({ type: t.type }),
        wasCancelled: (id) => this.cancelled.has(id),
      });
      this.runners.push(runner);
    }
    await this.port.putWorker(this.info());
    this.beat = setInterval(() => this.heartbeat(), config.heartbeatMs);
    for (const r of this.runners) r.start();
    this.log.info({ types: config.types.map((t) => `${t.type}:${t.concurrency}`) }, 'worker started');
  }

  info(): WorkerInfo {
    const now = new Date().toISOString();
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      seenAt: now,
      state: this.state,
      heartbeatMs: this.opts.config.heartbeatMs,
      types: this.runners.map((r) => ({
        type: r.cfg.type, concurrency: r.cfg.concurrency, inFlight: r.inFlight.size, succeeded: r.counts.succeeded, failed: r.counts.failed,
      })),
    };
  }

  stop(opts: { drainMs?: number } = {}): Promise<void> {
    this.stopping ??= this.drain(opts.drainMs ?? this.opts.config.drainMs);
    return this.stopping;
  }

  private async drain(drainMs: number): Promise<void> {
    const started = Date.now();
    this.state = 'draining';
    await this.port.putWorker(this.info()).catch((err: unknown) => this.log.warn({ err }, 'registry update failed'));
    const held = (): number => this.runners.reduce((n, r) => n + r.inFlight.size, 0);
    this.log.info({ inFlight: held(), drainMs }, 'draining');
    await Promise.all(this.runners.map((r) => r.stopPulling()));
    const left = Math.max(0, drainMs - (Date.now() - started));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      Promise.all(this.runners.map((r) => r.idle())).then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), left); }),
    ]);
    clearTimeout(timer);
    if (late) {
      this.log.warn({ handedBack: held() }, 'drain deadline reached; handing jobs back');
      await Promise.all(this.runners.map((r) => r.handBackAll()));
    }
    // Every step runs even if one fails (STYLE §8).
    for (const r of this.runners) r.close();
    if (this.beat) clearInterval(this.beat);
    this.offCancel?.();
    this.port.onResultRecorded(undefined);
    await this.port.removeWorker(this.id).catch((err: unknown) => this.log.warn({ err }, 'registry entry not removed; it expires'));
    for (const h of new Set(this.initialized)) {
      await h.close?.().catch((err: unknown) => this.log.warn({ err, type: h.type }, 'handler close failed'));
    }
    this.log.info({ ms: Date.now() - started }, 'worker stopped');
  }

  private onCancel(id: string): void {
    const now = Date.now();
    this.cancelled.set(id, now);
    // Forget old requests (the map is insertion-ordered, so the oldest come first).
    for (const [k, at] of this.cancelled) {
      if (now - at < CANCEL_MEMORY_MS) break;
      this.cancelled.delete(k);
    }
    for (const r of this.runners) if (r.abort(id, 'cancelled')) this.log.info({ id }, 'job cancel requested');
  }

  private heartbeat(): void {
    this.port.putWorker(this.info()).catch((err: unknown) => this.log.warn({ err }, 'registry heartbeat failed'));
  }
}
