#!/usr/bin/env node
/**
 * The `switchboard` command. The only module that touches `process`: argv, env, stdio, signals,
 * exit codes and the shutdown watchdog (STYLE §7). Commands are specs in cli/commands.ts: this file
 * finds the spec, parses its arguments, prints help, and runs or serves it.
 */
import { parseArgs } from 'node:util';
// errors.js, not the broker's index: --help, pub and sub start ~1 s faster without the broker loaded.
import { isSbError } from '../broker/errors.js';
import type { CommandIo, CommandSpec, ParsedArgs, Stoppable } from './command-spec.js';
import { COMMANDS } from './commands.js';
import { commandHelp, topHelp } from './help.js';

/** Exit code of a usage error (unknown command or option, missing argument). */
const EXIT_USAGE = 2;
/** Exit code when the shutdown watchdog fires. */
const EXIT_WATCHDOG = 70;
/** Exit code on a second SIGINT/SIGTERM. */
const EXIT_SIGNAL = 130;
/** After SIGINT/SIGTERM, how long a short command may take to finish on its own, in ms. */
const ABORT_GRACE_MS = 2000;

const say = (line: string): void => void process.stderr.write(`switchboard: ${line}\n`);
const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** A mistake in the command line: one stderr line, exit 2. */
class UsageError extends Error {}

/** Turns a failure into one stderr line with its stable code; exit code 1 (2 for a usage error). */
function fail(e: unknown): void {
  if (e instanceof UsageError) {
    say(e.message);
    process.exitCode = EXIT_USAGE;
    return;
  }
  if (isSbError(e)) say(`error ${e.code}: ${e.message}`);
  else say(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}

/** Bounded shutdown: how long a long-running command may take to stop before the watchdog exits non-zero, in ms. */
function shutdownDeadlineMs(): number {
  const n = Number(process.env['SB_SHUTDOWN_TIMEOUT_MS'] ?? '');
  return Number.isInteger(n) && n > 0 ? n : 20_000;
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
      process.exit(EXIT_SIGNAL);
    }
    stopping = true;
    const deadline = shutdownDeadlineMs();
    // unref: the watchdog must not be what keeps a cleanly stopped process alive.
    setTimeout(() => {
      say(`shutdown did not finish within ${deadline} ms; exiting`);
      process.exit(EXIT_WATCHDOG);
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

/**
 * For short commands: the first SIGINT/SIGTERM aborts `io.signal` (a long-poll stops, a streamed job
 * is cancelled) and gives the command ABORT_GRACE_MS to finish (e.g. to ack what it printed); one
 * that does not, or a second signal, exits 130 — as the default handler would have.
 */
function abortOnSignal(ac: AbortController): void {
  const onSignal = (): void => {
    if (ac.signal.aborted) process.exit(EXIT_SIGNAL);
    ac.abort();
    setTimeout(() => process.exit(EXIT_SIGNAL), ABORT_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function commandIo(signal: AbortSignal): CommandIo {
  return {
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
    out: (line) => process.stdout.write(`${line}\n`),
    drain: () => new Promise<void>((resolve) => void process.stdout.once('drain', () => resolve())),
    write: (text) => void process.stdout.write(text),
    err: (line) => void process.stderr.write(`${line}\n`),
    writeErr: (text) => void process.stderr.write(text),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    signal,
  };
}

/** The command path named by the leading words of `argv`, and the words after it. */
function resolve(argv: readonly string[]): { path: CommandSpec[]; rest: string[] } {
  const path: CommandSpec[] = [];
  let specs: readonly CommandSpec[] = COMMANDS;
  let i = 0;
  while (i < argv.length) {
    const spec = specs.find((s) => s.name === argv[i]);
    if (!spec) break;
    path.push(spec);
    i++;
    if (!spec.subcommands) break;
    specs = spec.subcommands;
  }
  return { path, rest: argv.slice(i) };
}

const names = (path: readonly CommandSpec[]): string => path.map((s) => s.name).join(' ');

/** Whether the words before `--` ask for help. */
function wantsHelp(rest: readonly string[]): boolean {
  const end = rest.indexOf('--');
  return (end < 0 ? rest : rest.slice(0, end)).some((w) => w === '--help' || w === '-h');
}

/** Parses `rest` against the spec's options and arguments; a mismatch is a UsageError. */
function parse(path: readonly CommandSpec[], rest: string[]): ParsedArgs {
  const spec = path[path.length - 1]!;
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const o of spec.options ?? []) options[o.name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  const see = `; see "switchboard ${names(path)} --help"`;
  let parsed: ParsedArgs;
  try {
    const r = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    // A `multiple` option is all strings or all booleans (one type per option).
    parsed = { values: r.values as ParsedArgs['values'], positionals: r.positionals };
  } catch (e) {
    // node:util's message goes on about '--'; the first sentence names the problem.
    throw new UsageError(`${(e as Error).message.split('\n')[0]!.replace(/\. To specify .*$/, '')}${see}`);
  }
  const args = spec.args ?? [];
  const missing = args.filter((a) => !a.optional && !a.variadic).slice(parsed.positionals.length);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((a) => a.name).join(' ')}: switchboard ${usageTail(path)}${see}`);
  if (!args.some((a) => a.variadic) && parsed.positionals.length > args.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[args.length])}${see}`);
  }
  return parsed;
}

function usageTail(path: readonly CommandSpec[]): string {
  const spec = path[path.length - 1]!;
  return [names(path), ...(spec.args ?? []).map((a) => (a.optional ? `[${a.name}]` : a.name))].join(' ');
}

/** `switchboard help WORDS…`: the help of the command they name. */
function help(words: string[]): void {
  if (words.length === 0) return out(topHelp(COMMANDS));
  const { path, rest } = resolve(words);
  if (path.length === 0 || rest.length > 0) throw new UsageError(`no command ${JSON.stringify(words.join(' '))}; see switchboard --help`);
  out(commandHelp(path));
}

async function main(argv: string[]): Promise<void> {
  const [first, ...after] = argv;
  if (first === undefined || first === '--help' || first === '-h') return out(topHelp(COMMANDS));
  if (first === 'help') return help(after);
  const { path, rest } = resolve(argv);
  const spec = path[path.length - 1];
  if (!spec) throw new UsageError(`unknown command ${JSON.stringify(first)}; see switchboard --help`);
  if (wantsHelp(rest)) return out(commandHelp(path));
  if (!spec.run && !spec.serve) {
    // A group: bare, it shows its sub-commands; anything else after it is not one of them.
    if (rest.length === 0) return out(commandHelp(path));
    throw new UsageError(`unknown command ${JSON.stringify(`${names(path)} ${rest[0]}`)}; see "switchboard ${names(path)} --help"`);
  }
  const args = parse(path, rest);
  // A command with both (`start`): --fg asks for the long-running form.
  if (spec.serve && (!spec.run || args.values['fg'] === true)) {
    const serve = spec.serve.bind(spec);
    return runUntilSignalled(() => serve(args, commandIo(new AbortController().signal)));
  }
  const ac = new AbortController();
  abortOnSignal(ac);
  await spec.run!(args, commandIo(ac.signal));
}

main(process.argv.slice(2)).catch(fail);
