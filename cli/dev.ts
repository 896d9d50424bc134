/**
 * `switchboard dev`: the whole stack in one process — (a nats-server if none answers,) the broker,
 * security and the REST gateway — started in that order and stopped in reverse. Signals, exit codes
 * and the watchdog stay in main.ts; this module only builds and tears down.
 */
import { createBroker, createLogger, createMetrics, type Logger } from '../broker/index.js';
import { createSecurity } from '../security/index.js';
import { ensureKeyringFile } from '../broker/secrets.js';
import { createRestGateway, gatewayRegistry } from '../gateways/index.js';
import { builtinHandlers, createWorker, resolveWorkerConfig } from '../workers/index.js';
import type { ProcessConfig } from '../schemas/index.js';
import { dirname, resolve } from 'node:path';
import { Lifecycle, type StepFailure } from './lifecycle.js';
import { ensureNats } from './nats-autostart.js';

/** Options for {@link startDev}. */
export interface DevOptions {
  config: Readonly<ProcessConfig>;
  /** Human messages (auto-started nats-server, generated admin password). */
  say: (line: string) => void;
  /** Where pino JSON goes; default stdout. */
  logDestination?: NodeJS.WritableStream;
  /** Store dir for an auto-started nats-server; default `.data/nats`. */
  natsStoreDir?: string;
  /** Gateway drain deadline on stop, in ms; default 10000. */
  drainMs?: number;
  /**
   * Run the built-in job types in this process too (default true). Off (`SB_DEV_JOBS=off`) for a
   * gateway that only takes requests, with `switchboard worker` pods running every job — then this
   * process needs no secrets of WinRM hosts or databases.
   */
  jobs?: boolean;
}

/** A running dev process. */
export interface DevProcess {
  readonly logger: Logger;
  /** `http://host:port` the REST gateway listens on. */
  readonly url: string;
  /** Stops everything in reverse start order; resolves with the steps that failed. Idempotent. */
  stop(): Promise<StepFailure[]>;
}

/** Starts the stack. On a failed start, whatever already started is stopped before the error is rethrown. */
export async function startDev(opts: DevOptions): Promise<DevProcess> {
  const { config } = opts;
  const logger = createLogger({ level: config.log.level, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  const life = new Lifecycle();
  try {
    const url = await startStack(opts, logger, life);
    return { logger, url, stop: () => stopStack(life, logger) };
  } catch (e) {
    await stopStack(life, logger);
    throw e;
  }
}

async function startStack(opts: DevOptions, logger: Logger, life: Lifecycle): Promise<string> {
  const { config } = opts;
  const nats = await ensureNats({ url: config.nats.url, say: opts.say, ...(opts.natsStoreDir ? { storeDir: opts.natsStoreDir } : {}) });
  if (nats.started) life.add('nats-server', () => nats.stop());

  await ensureDevKeyring(opts);

  const metrics = createMetrics();
  // The broker binds its own `component` (and `part`) on the logger it gets; a child here would repeat it.
  const broker = await createBroker({ config, logger, metrics });
  life.add('broker', () => broker.close({ deadlineMs: 5000 }));

  const { security, generatedAdminPassword } = await createSecurity({
    config: broker.config,
    logger: logger.child({ component: 'security' }),
    enabled: config.auth.enabled,
    ...(config.auth.adminPassword ? { adminPassword: config.auth.adminPassword } : {}),
  });
  // Printed once, on stderr and never in the JSON log: logs are shipped and kept, stderr of a dev shell is not.
  if (generatedAdminPassword) opts.say(`generated admin password (shown once): ${generatedAdminPassword}  — log in as "admin"`);
  if (!config.auth.enabled) opts.say('SB_AUTH=off: authentication is disabled; do not expose this port');

  // Built-in job types run in this process too (docs/workers.md); started before the gateway so it is
  // stopped after it: intake stops first, then the worker drains.
  const handlers = opts.jobs === false ? [] : builtinHandlers();
  if (handlers.length > 0) {
    const config = resolveWorkerConfig({ id: `dev-${process.pid}`, types: handlers.map((h) => ({ type: h.type })) }, process.cwd());
    const worker = await createWorker({ broker, config, handlers, logger });
    life.add('worker', () => worker.stop({ drainMs: opts.drainMs ?? 10_000 }));
  }

  // Bridges (docs/bridges.md): every `bridge.*` definition of the config store runs here; stopped after
  // the REST gateway, before the worker and the broker.
  const bridges = gatewayRegistry['bridges']?.({ broker, security, logger: logger.child({ component: 'gateway', kind: 'bridges' }), metrics, config });
  if (bridges) {
    await bridges.start();
    life.add('bridges', () => bridges.stop({ deadlineMs: opts.drainMs ?? 10_000 }));
  }

  const gateway = createRestGateway({ broker, security, logger: logger.child({ component: 'gateway', kind: 'rest' }), metrics, config });
  await gateway.start();
  life.add('gateway', () => gateway.stop({ deadlineMs: opts.drainMs ?? 10_000 }));

  const { host, port } = gateway.address();
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url }, `listening on ${url}`);
  return url;
}

/**
 * Without SB_MASTER_KEYS(_FILE), dev generates a keyring (0600) next to its data and points
 * SB_MASTER_KEYS_FILE at it, so sealed secrets (WinRM passwords) work out of the box and survive restarts.
 */
async function ensureDevKeyring(opts: DevOptions): Promise<void> {
  if (process.env['SB_MASTER_KEYS'] || process.env['SB_MASTER_KEYS_FILE']) return;
  const file = resolve(opts.natsStoreDir ? dirname(opts.natsStoreDir) : '.data', 'master-keys.json');
  const { created } = await ensureKeyringFile(file);
  process.env['SB_MASTER_KEYS_FILE'] = file;
  opts.say(`${created ? 'generated master keys for secrets at rest in' : 'using master keys from'} ${file} (set SB_MASTER_KEYS in production)`);
}

async function stopStack(life: Lifecycle, logger: Logger): Promise<StepFailure[]> {
  return life.stop((step, error) => {
    if (error) logger.error({ err: error, step }, `stop step ${step} failed`);
    else logger.info({ step }, `stopped ${step}`);
  });
}
