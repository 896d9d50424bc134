/**
 * Component lifecycle commands (docs/components.md): `create`, `start`, `stop`, `restart`, `status`
 * of a component directory, and `gateway`, the long-running gateway process. Only the specs live
 * here; the work is in component-*.ts, imported when a command runs (help and completion stay fast).
 */
import type { CommandIo, CommandSpec, ParsedArgs } from './command-spec.js';
import { JSON_OPTION } from './output.js';

const KINDS = ['gateway', 'worker', 'dev'] as const;
const DIR_ARG = { name: 'DIR', description: 'the component directory', complete: 'dir' } as const;
const DEFAULT_START_TIMEOUT_MS = 60_000;
const DEFAULT_STOP_TIMEOUT_MS = 30_000;

/** Exit code of `status` when the component is not running (as LSB init scripts' `status`). */
export const EXIT_NOT_RUNNING = 3;

/** An integer option in ms, or `fallback`; a malformed value is an error naming the option. */
function msOption(args: ParsedArgs, name: string, fallback: number): number {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number of milliseconds, got ${JSON.stringify(raw)}`);
  return n;
}

async function pathsOf(args: ParsedArgs, io: CommandIo) {
  const { componentPaths } = await import('./component-config.js');
  return componentPaths(args.positionals[args.positionals.length - 1] ?? '.', io.cwd);
}

const note = (io: CommandIo) => (line: string): void => io.err(`switchboard: ${line}`);

const create: CommandSpec = {
  name: 'create',
  summary: 'create a component directory (gateway, worker or dev)',
  description: `Writes DIR/switchboard.yaml — every setting the component reads, commented out, with its
default — and the folders DIR/data/ and DIR/logs/. Then: switchboard start DIR.

  gateway  the REST/WebSocket gateway and its bridges; needs a running NATS
  worker   a worker process running job types (built-in, or handlers you add)
  dev      everything in one process, starting a nats-server if none answers

Refuses a DIR that exists and is not empty (exit 1, SB_ERR_COMPONENT_EXISTS) unless --force, which
rewrites switchboard.yaml and keeps data/ and logs/.`,
  args: [{ name: 'KIND', description: 'gateway, worker or dev', complete: { words: KINDS } }, DIR_ARG],
  options: [{ name: 'force', type: 'boolean', description: 'write into a DIR that is not empty (rewrites switchboard.yaml)' }],
  async run(args, io) {
    const kind = args.positionals[0];
    if (!KINDS.includes(kind as (typeof KINDS)[number])) throw new Error(`KIND must be one of ${KINDS.join(', ')}, got ${JSON.stringify(kind ?? '')}`);
    const { createComponent } = await import('./component-config.js');
    const paths = await pathsOf(args, io);
    await createComponent(kind as (typeof KINDS)[number], paths, args.values['force'] === true);
    io.out(`created ${kind} component in ${paths.dir}`);
    io.out(`edit ${paths.config}, then: switchboard start ${paths.dir}`);
  },
};

const start: CommandSpec = {
  name: 'start',
  summary: 'start a component in the background (or in the foreground with --fg)',
  description: `Validates DIR/switchboard.yaml (an invalid setting is reported with its file and line),
then runs the component detached with its pid in DIR/run/switchboard.pid and its output appended to
DIR/logs/switchboard.log, and waits until it is up. If it exits or is not up within --timeout, the
error shows the log's last lines. --fg runs it in this process instead (for systemd, containers,
debugging): logs on stdout, SIGTERM/SIGINT stop it as for \`switchboard dev\`.

Errors: SB_ERR_COMPONENT_NOT_FOUND (no DIR, or no switchboard.yaml in it), SB_ERR_CONFIG_INVALID,
SB_ERR_COMPONENT_RUNNING (names the pid), SB_ERR_COMPONENT_START_FAILED. A stale pid file (its
process gone, or the pid reused by another program) is reported and removed.`,
  args: [DIR_ARG],
  options: [
    { name: 'fg', type: 'boolean', description: 'run in the foreground (until SIGTERM/SIGINT)' },
    { name: 'timeout', type: 'string', value: 'MS', description: 'how long to wait for the component to be up', default: String(DEFAULT_START_TIMEOUT_MS) },
  ],
  async run(args, io) {
    const { startComponent } = await import('./component-control.js');
    const paths = await pathsOf(args, io);
    const state = await startComponent(paths, { env: io.env, timeoutMs: msOption(args, 'timeout', DEFAULT_START_TIMEOUT_MS), note: note(io) });
    io.out(`started ${state.kind} in ${paths.dir} (pid ${state.pid}${state.url ? `, ${state.url}` : ''}); log: ${paths.log}`);
  },
  /** `start --fg`: main.ts serves when --fg is given. */
  async serve(args, io) {
    const { serveComponent } = await import('./component-serve.js');
    return serveComponent(await pathsOf(args, io), io);
  },
};

const STOP_TIMEOUT = { name: 'timeout', type: 'string', value: 'MS', description: 'how long to wait after SIGTERM before SIGKILL', default: String(DEFAULT_STOP_TIMEOUT_MS) } as const;

async function stopRun(args: ParsedArgs, io: CommandIo): Promise<void> {
  const { stopComponent } = await import('./component-control.js');
  const paths = await pathsOf(args, io);
  const r = await stopComponent(paths, msOption(args, 'timeout', DEFAULT_STOP_TIMEOUT_MS), note(io));
  if (r.pid === undefined) io.out(`not running: ${paths.dir}`);
  else if (r.killed) io.out(`killed pid ${r.pid} (SIGKILL): it did not stop within ${msOption(args, 'timeout', DEFAULT_STOP_TIMEOUT_MS)} ms of SIGTERM`);
  else io.out(`stopped pid ${r.pid} in ${r.elapsedMs} ms`);
}

const stop: CommandSpec = {
  name: 'stop',
  summary: 'stop a component: SIGTERM, then SIGKILL after the deadline',
  description: `Sends SIGTERM (the component stops taking work, drains, and removes its pid file), waits up
to --timeout, then sends SIGKILL and removes the pid file itself. A component that is not running is
not an error (exit 0), as for LSB init scripts; a stale pid file is reported and removed.`,
  args: [DIR_ARG],
  options: [STOP_TIMEOUT],
  run: stopRun,
};

const restart: CommandSpec = {
  name: 'restart',
  summary: 'stop a component (if running), then start it',
  description: `stop DIR, then start DIR; the options of both apply (--timeout is the stop deadline,
--start-timeout how long to wait for it to be up).`,
  args: [DIR_ARG],
  options: [STOP_TIMEOUT, { name: 'start-timeout', type: 'string', value: 'MS', description: 'how long to wait for the component to be up', default: String(DEFAULT_START_TIMEOUT_MS) }],
  async run(args, io) {
    await stopRun(args, io);
    const { startComponent } = await import('./component-control.js');
    const paths = await pathsOf(args, io);
    const state = await startComponent(paths, { env: io.env, timeoutMs: msOption(args, 'start-timeout', DEFAULT_START_TIMEOUT_MS), note: note(io) });
    io.out(`started ${state.kind} in ${paths.dir} (pid ${state.pid}${state.url ? `, ${state.url}` : ''})`);
  },
};

/** 1 h 2 min 3 s. */
function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'min'], [s % 60, 's']] as const;
  const shown = parts.filter(([n], i) => n > 0 || i === parts.length - 1);
  return shown.map(([n, u]) => `${n} ${u}`).join(' ');
}

const status: CommandSpec = {
  name: 'status',
  summary: 'show whether a component runs: pid, uptime, health',
  description: `Prints whether the component in DIR is running, its pid, uptime and health: for a gateway
or dev, GET /readyz ("ok", "unavailable (503)" while NATS is unreachable or it drains, "unreachable");
for a worker, its /readyz when SB_WORKER_HEALTH_PORT is set, else "alive" (the process exists).

Exit codes (as LSB init scripts' status): 0 running, 3 not running (a stale pid file is reported
on stderr and removed), 1 error (no such directory).`,
  args: [DIR_ARG],
  options: [JSON_OPTION],
  async run(args, io) {
    const { componentStatus } = await import('./component-control.js');
    const { printRecord } = await import('./output.js');
    const s = await componentStatus(await pathsOf(args, io), note(io));
    if (args.values['json'] === true) io.out(JSON.stringify(s, null, 2));
    else {
      const shown: Record<string, unknown> = {
        dir: s.dir, kind: s.kind, status: s.running ? 'running' : 'not running',
        pid: s.pid, uptime: s.uptimeMs === undefined ? undefined : formatUptime(s.uptimeMs), health: s.health, url: s.url, worker: s.workerId,
        log: s.log,
      };
      printRecord(io, false, Object.fromEntries(Object.entries(shown).filter(([, v]) => v !== undefined)));
    }
    // Not an error (nothing on stderr), but scripts and init systems read "not running" from the code.
    if (!s.running) process.exitCode = EXIT_NOT_RUNNING;
  },
};

const gateway: CommandSpec = {
  name: 'gateway',
  summary: 'run the gateway: REST, WebSocket and bridges, without dev conveniences',
  description: `Runs the REST gateway (with WebSocket and the bridges it hosts) until SIGTERM/SIGINT,
configured by the same environment variables as \`switchboard dev\` (docs/configuration.md), but
without dev's conveniences: no nats-server is started (NATS must answer at SB_NATS_URL) and no
built-in job types run here (\`switchboard worker\` processes run them). What a gateway component
directory runs.`,
  async serve(_args, io) {
    const { startGatewayStack } = await import('./component-serve.js');
    return startGatewayStack(io.env, (line) => io.err(`switchboard: ${line}`));
  },
};

/** The component lifecycle commands, for cli/commands.ts. */
export const componentCommands: CommandSpec[] = [create, start, stop, restart, status, gateway];
