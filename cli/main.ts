#!/usr/bin/env node
/**
 * The `switchboard` command. The only module that touches `process`: argv, env, stdio, signals,
 * exit codes and the shutdown watchdog (STYLE §7). Commands live in dev.ts and pubsub.ts.
 */
import { parseArgs } from 'node:util';
// errors.js, not the broker's index: --help, pub and sub start ~1 s faster without the broker loaded.
import { isSbError } from '../broker/errors.js';
import { clientEnv } from './env-vars.js';
import { intOption, runPub, runSub } from './pubsub.js';
import { runJobCommand } from './jobs.js';
import { runSql } from './sql.js';
import { HELP, commandHelp } from './help.js';

const say = (line: string): void => void process.stderr.write(`switchboard: ${line}\n`);
const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** Turns a failure into one stderr line with its stable code; exit code 1. */
function fail(e: unknown): void {
  if (isSbError(e)) say(`error ${e.code}: ${e.message}`);
  else say(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}

/** Bounded shutdown: how long `dev` may take to stop before the watchdog exits non-zero, in ms. */
function shutdownDeadlineMs(): number {
  const n = Number(process.env['SB_SHUTDOWN_TIMEOUT_MS'] ?? '');
  return Number.isInteger(n) && n > 0 ? n : 20_000;
}

/** A long-running process (`dev`, `worker`) as the signal handling sees it. */
interface Stoppable {
  readonly logger: { info(obj: object, msg: string): void };
  stop(): Promise<unknown[]>;
}

/**
 * Runs `start()` until SIGTERM/SIGINT, then stops it within SB_SHUTDOWN_TIMEOUT_MS (watchdog: exit 70);
 * a second signal exits at once (130). Exit code 0 when every stop step succeeded, else 1.
 */
async function runUntilSignalled(start: () => Promise<Stoppable>): Promise<void> {
  // Set once started; the signal handler reads it (before that, a signal only marks the stop as wanted).
  let running: Stoppable | undefined = undefined;
  let stopping = false;
  const shutdown = (proc: Stoppable): void => {
    void proc.stop().then((failures) => {
      process.exitCode = failures.length > 0 ? 1 : 0;
    });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal means "now": the operator gave up on the drain.
      say(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    const deadline = shutdownDeadlineMs();
    // unref: the watchdog must not be what keeps a cleanly stopped process alive.
    setTimeout(() => {
      say(`shutdown did not finish within ${deadline} ms; exiting`);
      process.exit(70);
    }, deadline).unref();
    running?.logger.info({ signal }, 'shutting down');
    if (running) shutdown(running);
  };
  // Registered before starting, so a signal during start still stops what started (e.g. a nats-server).
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  running = await start();
  if (stopping) shutdown(running);
}

async function dev(): Promise<void> {
  await runUntilSignalled(async () => {
    // Lazy imports: `pub`, `sub` and `--help` must not load TypeBox, fastify, NATS or security.
    const { processConfigFromEnv } = await import('./env.js');
    const config = processConfigFromEnv(process.env);
    const { startDev } = await import('./dev.js');
    return startDev({ config, say, jobs: process.env['SB_DEV_JOBS'] !== 'off' });
  });
}

async function worker(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out(commandHelp('worker'));
  await runUntilSignalled(async () => {
    const { processConfigFromEnv } = await import('./env.js');
    const config = processConfigFromEnv(process.env);
    const { startWorkerProcess } = await import('./worker.js');
    // Fault tests only (docs/workers.md): die right after a result is recorded, before its ack.
    const afterResult = process.env['SB_FAULT_KILL_AFTER_RESULT'] === '1' ? () => process.kill(process.pid, 'SIGKILL') : undefined;
    return startWorkerProcess({
      config, env: process.env, cwd: process.cwd(),
      ...(values.config ? { configPath: values.config } : {}),
      ...(afterResult ? { afterResult } : {}),
    });
  });
}

async function pub(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { 'content-type': { type: 'string' }, key: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return out(commandHelp('pub'));
  const stdin = process.stdin;
  await runPub(clientEnv(process.env), { topic: positionals[0], data: positionals[1], contentType: values['content-type'], key: values.key }, { stdin, out });
}

async function sub(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { max: { type: 'string' }, wait: { type: 'string' }, count: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return out(commandHelp('sub'));
  const ac = new AbortController();
  // Ctrl-C aborts the long-poll in flight; a batch already received is still printed and acked.
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  await runSub(clientEnv(process.env), {
    subscription: positionals[0],
    max: intOption('max', values.max, 10) ?? 10,
    waitMs: intOption('wait', values.wait, 5000) ?? 5000,
    count: intOption('count', values.count, undefined),
  }, { out, signal: ac.signal });
}

async function job(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { async: { type: 'boolean' }, stream: { type: 'boolean' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return out(commandHelp('job'));
  const ac = new AbortController();
  // Ctrl-C closes the connection: the gateway cancels a streamed job; a sync or async one keeps running.
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  await runJobCommand(clientEnv(process.env), {
    type: positionals[0], input: positionals[1], async: values.async, stream: values.stream,
    timeoutMs: intOption('timeout', values.timeout, undefined),
  }, {
    stdin: process.stdin,
    out: (line) => process.stdout.write(`${line}\n`),
    drain: () => new Promise<void>((resolve) => void process.stdout.once('drain', () => resolve())),
    signal: ac.signal,
  });
}

async function sql(argv: string[]): Promise<void> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) return out(commandHelp('sql'));
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  await runSql(clientEnv(process.env), argv, { stdin: process.stdin, out, signal: ac.signal });
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      return out(rest[0] ? commandHelp(rest[0]) : HELP);
    case 'dev':
      if (rest.includes('--help') || rest.includes('-h')) return out(commandHelp('dev'));
      return dev();
    case 'worker':
      return worker(rest);
    case 'pub':
      return pub(rest);
    case 'sub':
      return sub(rest);
    case 'job':
      return job(rest);
    case 'sql':
      return sql(rest);
    default:
      say(`unknown command ${JSON.stringify(command)}; see switchboard --help`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch(fail);
