/**
 * `switchboard worker`: a worker process — the broker plus the worker runtime with the built-in and
 * plugin handlers. Config from `--config FILE` (YAML/JSON, the WorkerConfig schema) or SB_WORKER_* env.
 * Signals, exit codes and the fault hook's kill stay in main.ts; this module only builds and tears down.
 */
import { createServer } from 'node:http';
import { isAbsolute, resolve } from 'node:path';
import { createBroker, createLogger, createMetrics, type Logger } from '../broker/index.js';
import type { ProcessConfig } from '../schemas/index.js';
import type { WorkerConfig } from '../schemas/job.js';
import {
  builtinHandlers, createWorker, loadHandlerModules, loadWorkerConfigFile, mergeHandlers, resolveWorkerConfig, type JobHandler, type Worker,
} from '../workers/index.js';
import { Lifecycle, type StepFailure } from './lifecycle.js';
import { intVar } from './env.js';

/** Options for {@link startWorkerProcess}. */
export interface WorkerProcessOptions {
  config: Readonly<ProcessConfig>;
  env: Record<string, string | undefined>;
  cwd: string;
  /** `--config FILE`; when absent the SB_WORKER_* variables describe the worker. */
  configPath?: string;
  /** Fault tests only: called right after a result is recorded, before the ack. */
  afterResult?: () => void;
  logDestination?: NodeJS.WritableStream;
}

/** A running worker process. */
export interface WorkerProcess {
  readonly logger: Logger;
  readonly id: string;
  /** Drains (config drainMs), removes the registry entry, closes handlers and the broker. Idempotent. */
  stop(): Promise<StepFailure[]>;
}

/**
 * `GET /healthz` (200 while the process runs) and `GET /readyz` (200 while connected and pulling, 503
 * before start and during the drain), for Kubernetes probes; nothing else is served.
 */
async function startHealthServer(port: number, host: string, ready: () => boolean): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const ok = req.url === '/healthz' ? true : req.url === '/readyz' ? ready() : undefined;
    if (ok === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Loads the config and handlers, then starts broker and worker; on failure, stops what started. */
export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const logger = createLogger({ level: opts.config.log.level, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const life = new Lifecycle();
  try {
    const { handlers, config } = await workerSetup(opts);
    const broker = await createBroker({ config: opts.config, logger, metrics: createMetrics() });
    life.add('broker', () => broker.close({ deadlineMs: 5000 }));
    // Started before the worker and stopped after it, so /readyz answers 503 while the worker drains.
    const ref: { worker?: Worker } = {};
    const healthPort = intVar(opts.env, 'SB_WORKER_HEALTH_PORT');
    if (healthPort !== undefined) {
      const health = await startHealthServer(healthPort, opts.env['SB_WORKER_HEALTH_HOST'] || '0.0.0.0', () => broker.ready() && ref.worker?.info().state === 'running');
      life.add('health', () => health.close());
      logger.info({ port: health.port }, `worker health on port ${health.port}`);
    }
    const started = await createWorker({ broker, config, handlers, logger, ...(opts.afterResult ? { afterResult: opts.afterResult } : {}) });
    ref.worker = started;
    life.add('worker', () => started.stop());
    logger.info({ workerId: started.id }, `worker ${started.id} running`);
    return { logger, id: started.id, stop: () => stopAll(life, logger) };
  } catch (e) {
    await stopAll(life, logger);
    throw e;
  }
}

/** Built-in plus plugin handlers, and the worker config (file, or env with every loaded type by default). */
export async function workerSetup(opts: Pick<WorkerProcessOptions, 'env' | 'cwd' | 'configPath'>): Promise<{ handlers: JobHandler[]; config: WorkerConfig }> {
  if (opts.configPath) {
    const config = await loadWorkerConfigFile(opts.configPath);
    return { config, handlers: mergeHandlers(builtinHandlers(), await loadHandlerModules(config.handlers)) };
  }
  const handlers = mergeHandlers(builtinHandlers(), await loadHandlerModules(handlerPathsFromEnv(opts.env, opts.cwd)));
  if (!opts.env['SB_WORKER_TYPES'] && handlers.length === 0) {
    throw new Error('no job types: set SB_WORKER_TYPES / SB_WORKER_HANDLERS or pass --config FILE (docs/workers.md)');
  }
  return { handlers, config: workerConfigFromEnv(opts.env, opts.cwd, () => handlers.map((h) => h.type)) };
}

async function stopAll(life: Lifecycle, logger: Logger): Promise<StepFailure[]> {
  const failures = await life.stop((step, error) => {
    if (error) logger.error({ err: error, step }, `stop step ${step} failed`);
    else logger.info({ step }, `stopped ${step}`);
  });
  logger.flush();
  return failures;
}

/**
 * The env form: `SB_WORKER_TYPES=winrm.exec:8,noop` (concurrency optional), `SB_WORKER_HANDLERS=a.ts,b.js`
 * (relative to `cwd`), `SB_WORKER_ID`, `SB_WORKER_DRAIN_MS`, `SB_WORKER_ACK_WAIT_MS`. With no
 * SB_WORKER_TYPES, `defaultTypes` (every loaded handler's type) are run at their default settings.
 */
export function workerConfigFromEnv(env: Record<string, string | undefined>, cwd: string, defaultTypes: () => string[]): WorkerConfig {
  const ackWait = intVar(env, 'SB_WORKER_ACK_WAIT_MS');
  const types = (env['SB_WORKER_TYPES'] ? env['SB_WORKER_TYPES'].split(',') : defaultTypes())
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const [type, conc] = s.split(':');
      const t: Record<string, unknown> = { type };
      if (conc !== undefined) {
        const n = Number(conc);
        if (!Number.isInteger(n)) throw new Error(`SB_WORKER_TYPES: concurrency of ${type} must be an integer, got ${JSON.stringify(conc)}`);
        t['concurrency'] = n;
      }
      if (ackWait !== undefined) t['ackWaitMs'] = ackWait;
      return t;
    });
  const raw: Record<string, unknown> = {
    types,
    handlers: (env['SB_WORKER_HANDLERS'] ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0),
  };
  if (env['SB_WORKER_ID']) raw['id'] = env['SB_WORKER_ID'];
  const drain = intVar(env, 'SB_WORKER_DRAIN_MS');
  if (drain !== undefined) raw['drainMs'] = drain;
  return resolveWorkerConfig(raw, cwd);
}

/** Handler module paths from SB_WORKER_HANDLERS, absolute. */
export function handlerPathsFromEnv(env: Record<string, string | undefined>, cwd: string): string[] {
  return (env['SB_WORKER_HANDLERS'] ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((p) => (isAbsolute(p) ? p : resolve(cwd, p)));
}
