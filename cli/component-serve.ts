/**
 * The component process itself (`switchboard start --fg DIR`, also what `start DIR` runs detached):
 * takes the pid file, puts the config file's settings into its environment, starts the kind's stack
 * (dev, gateway or worker) in DIR, and records `running` with its health URL once it is up. Stopping
 * stops the stack, then releases the pid file. Signals and the watchdog stay in main.ts.
 */
import { mkdir } from 'node:fs/promises';
import { SbError } from '../broker/errors.js';
import type { CommandIo, Stoppable } from './command-spec.js';
import { componentEnv, readComponentConfig, type ComponentConfig, type ComponentPaths } from './component-config.js';
import { claimPidFile, releasePidFile, startTicks, writeState, type ComponentState } from './component-pid.js';

/** A started stack: what stops it and what `status` should know about it. */
interface Started extends Stoppable {
  url?: string;
  healthUrl?: string;
  workerId?: string;
}

/** `http://0.0.0.0:8080` is where it listens, not where to connect: ask loopback instead. */
function connectable(url: string): string {
  return url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}

/**
 * The gateway stack: the REST gateway (with WebSocket and the bridges it hosts) and no dev
 * conveniences — no nats-server is started and no built-in job types run here. startDev starts a
 * nats-server only when nothing answers, so checking first keeps it from doing so.
 */
export async function startGatewayStack(env: NodeJS.ProcessEnv, say: (line: string) => void, dataDir?: string): Promise<Started> {
  const { processConfigFromEnv } = await import('./env.js');
  const config = processConfigFromEnv(env);
  const { answers, natsHostPort } = await import('./nats-autostart.js');
  const { host, port } = natsHostPort(config.nats.url);
  if (!(await answers(host, port, 3000))) {
    throw new SbError('SB_ERR_BACKBONE_UNAVAILABLE', `nothing answers at ${host}:${port} (SB_NATS_URL); a gateway does not start a nats-server — start NATS first, or use a dev component`);
  }
  const { startDev } = await import('./dev.js');
  const dev = await startDev({ config, say, jobs: false, ...(dataDir ? { natsStoreDir: `${dataDir}/nats` } : {}) });
  return { logger: dev.logger, stop: () => dev.stop(), url: dev.url, healthUrl: `${connectable(dev.url)}/readyz` };
}

async function startStack(config: ComponentConfig, env: NodeJS.ProcessEnv, paths: ComponentPaths, say: (line: string) => void): Promise<Started> {
  if (config.kind === 'gateway') return startGatewayStack(env, say, paths.data);
  const { processConfigFromEnv, intVar } = await import('./env.js');
  const processConfig = processConfigFromEnv(env);
  if (config.kind === 'dev') {
    const { startDev } = await import('./dev.js');
    const dev = await startDev({ config: processConfig, say, jobs: env['SB_DEV_JOBS'] !== 'off', natsStoreDir: `${paths.data}/nats` });
    return { logger: dev.logger, stop: () => dev.stop(), url: dev.url, healthUrl: `${connectable(dev.url)}/readyz` };
  }
  const { startWorkerProcess } = await import('./worker.js');
  const worker = await startWorkerProcess({ config: processConfig, env, cwd: paths.dir });
  const healthPort = intVar(env, 'SB_WORKER_HEALTH_PORT');
  const healthHost = env['SB_WORKER_HEALTH_HOST'] || '0.0.0.0';
  // Port 0 picks a free port that is not reported back: no health URL then, only "alive".
  const healthUrl = healthPort ? connectable(`http://${healthHost.includes(':') ? `[${healthHost}]` : healthHost}:${healthPort}/readyz`) : undefined;
  return { logger: worker.logger, stop: () => worker.stop(), workerId: worker.id, ...(healthUrl ? { healthUrl } : {}) };
}

/**
 * Runs the component in this process. The file's settings go into `io.env` — in the CLI that is
 * `process.env` — because parts of the stack read the environment directly (the master keys, the
 * shutdown watchdog); this process exists only to run the component, so that is its environment.
 */
export async function serveComponent(paths: ComponentPaths, io: CommandIo): Promise<Stoppable> {
  const config = await readComponentConfig(paths);
  Object.assign(io.env, componentEnv({}, config));
  await mkdir(paths.run, { recursive: true });
  await mkdir(paths.data, { recursive: true });
  const pid = process.pid;
  const held = await claimPidFile(paths, pid);
  if (held.status === 'running') throw runningError(paths, held.pid);
  const state: ComponentState = { pid, kind: config.kind, state: 'starting', startedAt: new Date().toISOString() };
  const ticks = await startTicks(pid);
  if (ticks !== undefined) state.startTicks = ticks;
  let started: Started;
  try {
    await writeState(paths, state);
    started = await startStack(config, io.env, paths, (line) => io.err(`switchboard: ${line}`));
  } catch (e) {
    await releasePidFile(paths, pid);
    throw e;
  }
  const { logger, url, healthUrl, workerId } = started;
  await writeState(paths, { ...state, state: 'running', ...(url ? { url } : {}), ...(healthUrl ? { healthUrl } : {}), ...(workerId ? { workerId } : {}) });
  logger.info({ dir: paths.dir, kind: config.kind }, `component ${config.kind} in ${paths.dir} running (pid ${pid})`);
  let stopping: Promise<unknown[]> | undefined;
  return {
    logger,
    stop: () => {
      stopping ??= started.stop().finally(() => releasePidFile(paths, pid));
      return stopping;
    },
  };
}

/** The error for a directory whose component already runs. */
export function runningError(paths: ComponentPaths, pid: number): SbError {
  return new SbError('SB_ERR_COMPONENT_RUNNING', `the component in ${paths.dir} is already running (pid ${pid}); stop it first: switchboard stop ${paths.dir}`, { data: { dir: paths.dir, pid } });
}
