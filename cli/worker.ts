/**
 * `switchboard worker`: a worker process — the broker plus the worker runtime with the built-in and
 * plugin handlers. Config from `--config FILE` (YAML/JSON, the WorkerConfig schema) or SB_WORKER_* env.
 * Signals, exit codes and the fault hook's kill stay in main.ts; this module only builds and tears down.
 */
import { createBroker, createLogger, createMetrics, type Logger } from '../broker/index.js';
import type { ProcessConfig } from '../schemas/index.js';
import type { WorkerConfig } from '../schemas/job.js';
import {
  builtinHandlers, createWorker, handlerPathsFromEnv, loadHandlerModules, loadWorkerConfigFile, mergeHandlers, workerConfigFromEnv, type JobHandler,
} from '../workers/index.js';
import { Lifecycle, type StepFailure } from './lifecycle.js';

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

/** Loads the config and handlers, then starts broker and worker; on failure, stops what started. */
export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const logger = createLogger({ level: opts.config.log.level, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const life = new Lifecycle();
  try {
    const { handlers, config } = await workerSetup(opts);
    const broker = await createBroker({ config: opts.config, logger, metrics: createMetrics() });
    life.add('broker', () => broker.close({ deadlineMs: 5000 }));
    const worker = await createWorker({ broker, config, handlers, logger, ...(opts.afterResult ? { afterResult: opts.afterResult } : {}) });
    life.add('worker', () => worker.stop());
    logger.info({ workerId: worker.id }, `worker ${worker.id} running`);
    return { logger, id: worker.id, stop: () => stopAll(life, logger) };
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
