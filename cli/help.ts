/**
 * Renders `switchboard --help` and `switchboard COMMAND… --help` from the command specs
 * (cli/commands.ts). Pure functions over specs: no imports of the registry (no cycle), nothing heavy.
 */
import type { ArgSpec, CommandSpec, OptionSpec } from './command-spec.js';

/** The synopsis column is at most this wide; a longer synopsis pushes its summary further right. */
const SYNOPSIS_WIDTH = 40;

/** One `  NAME  description` line per environment variable (the lists live in cli/env-vars.ts). */
export function envHelp(vars: Readonly<Record<string, string>>): string {
  return Object.entries(vars).map(([k, v]) => `  ${k.padEnd(26)} ${v}`).join('\n');
}

/** `TOPIC`, `[DATA]`, `FILE...`, `[ARGS...]`. */
function argSynopsis(a: ArgSpec): string {
  const name = a.variadic ? `${a.name}...` : a.name;
  return a.optional ? `[${name}]` : name;
}

/** The visible sub-commands of a spec. */
function visible(specs: readonly CommandSpec[] | undefined): CommandSpec[] {
  return (specs ?? []).filter((s) => !s.hidden);
}

/** What follows the command path in a synopsis: its arguments, or its sub-commands. */
function tail(spec: CommandSpec): string {
  const subs = visible(spec.subcommands);
  if (subs.length > 0) return `${subs.map((s) => s.name).join('|')} ...`;
  return (spec.args ?? []).map(argSynopsis).join(' ');
}

/** The usage line of a command (`path` runs from the top-level command to it). */
export function usageLine(path: readonly CommandSpec[]): string {
  const spec = path[path.length - 1]!;
  const parts = ['switchboard', ...path.map((s) => s.name)];
  if (visible(spec.subcommands).length > 0) parts.push('COMMAND', '...');
  else {
    parts.push(...(spec.args ?? []).map(argSynopsis));
    if ((spec.options ?? []).length > 0) parts.push('[OPTIONS]');
  }
  return parts.join(' ');
}

/** `--timeout MS`, `-c, --config FILE`. */
function optionSynopsis(o: Pick<OptionSpec, 'name' | 'short' | 'type' | 'value'>): string {
  const long = `--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
  return o.short ? `-${o.short}, ${long}` : `    ${long}`;
}

/** Two aligned columns. */
function columns(rows: ReadonlyArray<readonly [string, string]>, indent = '  '): string {
  const width = Math.min(SYNOPSIS_WIDTH, Math.max(0, ...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => {
    if (!r) return `${indent}${l}`;
    // Too long for the column: the text goes on the next line, aligned with the others.
    if (l.length > width) return `${indent}${l}\n${indent}${' '.repeat(width)}  ${r}`;
    return `${indent}${l.padEnd(width)}  ${r}`;
  }).join('\n');
}

const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', type: 'boolean', description: 'show this help' };

/** The help of one command or sub-command: usage, summary, description, arguments, options, sub-commands. */
export function commandHelp(path: readonly CommandSpec[]): string {
  const spec = path[path.length - 1]!;
  const blocks: string[] = [`Usage: ${usageLine(path)}`, spec.summary];
  // An "Environment:" paragraph of the description goes last, after the options.
  const [text, env] = splitEnvironment(spec.description ?? '');
  if (text) blocks.push(text);
  const args = spec.args ?? [];
  if (args.length > 0) blocks.push(`Arguments:\n${columns(args.map((a) => [argSynopsis(a), a.description ?? '']))}`);
  const subs = visible(spec.subcommands);
  if (subs.length > 0) {
    const prefix = path.map((s) => s.name).join(' ');
    blocks.push(`Commands:\n${columns(subs.map((s) => [`${prefix} ${s.name} ${tail(s)}`.trimEnd(), s.summary]))}`);
    blocks.push(`Run "switchboard ${prefix} COMMAND --help" for the options of one.`);
  }
  const options = [...(spec.options ?? []), HELP_OPTION];
  blocks.push(`Options:\n${columns(options.map((o) => [optionSynopsis(o), o.default !== undefined ? `${o.description} (default ${o.default})` : o.description]))}`);
  if (env) blocks.push(env);
  return blocks.join('\n\n');
}

/** The description without its "Environment:" paragraph (and what follows it), and that part. */
function splitEnvironment(description: string): [string, string] {
  const at = description.search(/^Environment:/m);
  if (at < 0) return [description.trim(), ''];
  return [description.slice(0, at).trim(), description.slice(at).trim()];
}

/** The top-level help: every visible command with its synopsis and summary. */
export function topHelp(commands: readonly CommandSpec[]): string {
  const rows: Array<[string, string]> = visible(commands).map((c) => [`switchboard ${c.name} ${tail(c)}`.trimEnd(), c.summary]);
  rows.push(['switchboard help COMMAND...', 'help for one command (as COMMAND --help)']);
  return `switchboard — pub/sub and integration middleware on NATS JetStream

Usage: switchboard COMMAND [ARGS] [OPTIONS]

Commands:
${columns(rows)}

Run "switchboard COMMAND --help" for its arguments and options. Docs: docs/cli.md, docs/configuration.md.
Exit codes: 0 ok; 1 error, printed on stderr as "error SB_ERR_…: message"; 2 usage error;
70 shutdown watchdog; 130 a second SIGINT/SIGTERM. Tab completion: docs/completion.md.`;
}
