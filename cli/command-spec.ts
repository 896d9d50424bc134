/**
 * The shape of a `switchboard` command (docs/cli.md). Every command is one {@link CommandSpec}: the
 * single source for argument parsing, `--help`, bash/zsh completion and the docs. A command module
 * exports its spec(s); cli/commands.ts lists them; main.ts dispatches by name and nothing else.
 * Keep this file free of imports that load the server side: `--help` and completion must start fast.
 */

/** Names a running system knows, for completing a value (served from a short-lived cache). */
export type NameKind =
  | 'topics' | 'subscriptions' | 'job-types' | 'winrm-hosts' | 'sql-connections'
  | 'ws-channels' | 'users' | 'bridges';

/** How to complete a value: nothing, a path, a directory, names of a running system, or fixed words. */
export type Completion = 'none' | 'file' | 'dir' | { names: NameKind } | { words: readonly string[] };

/** One option (`--name VALUE` or `--flag`). */
export interface OptionSpec {
  /** Long name without dashes. */
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  /** Placeholder of the value in help (`--timeout MS`); strings only. */
  value?: string;
  description: string;
  /** Default shown in help (informational). */
  default?: string;
  multiple?: boolean;
  complete?: Completion;
}

/** One positional argument. */
export interface ArgSpec {
  name: string;
  description?: string;
  optional?: boolean;
  /** Takes every remaining positional. */
  variadic?: boolean;
  complete?: Completion;
}

/** What a running command may touch: the entrypoint gives it stdio, env and an abort signal. */
export interface CommandIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: AsyncIterable<Uint8Array | string> & { isTTY?: boolean };
  /** One line to stdout; false when the pipe is full: await drain() before writing much more. */
  out(line: string): boolean | void;
  /** Resolves once stdout takes more after out() returned false (a slow reader slows a stream down). */
  drain?(): Promise<void>;
  /** Raw text to stdout (no newline added). */
  write(text: string): void;
  /** One line to stderr (notes, warnings). */
  err(line: string): void;
  /** Raw text to stderr (progress bars redraw with `\r`). */
  writeErr(text: string): void;
  /** Whether stdout/stderr are terminals (tables and progress bars vs plain output). */
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Aborted on SIGINT/SIGTERM for short commands. */
  signal: AbortSignal;
}

/** A started long-running command. `stop()` resolves with its failed steps (none: exit 0). */
export interface Stoppable {
  readonly logger: { info(obj: object, msg: string): void };
  stop(): Promise<unknown[]>;
}

/** Parsed arguments handed to `run`. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** One command or sub-command. */
export interface CommandSpec {
  name: string;
  /** One line for the list of commands. */
  summary: string;
  /** Longer text for `--help` (paragraphs; environment variables; exit codes). */
  description?: string;
  args?: readonly ArgSpec[];
  options?: readonly OptionSpec[];
  /** A command made of sub-commands (`topics list`, `config export`); then `run` is absent. */
  subcommands?: readonly CommandSpec[];
  /** Runs the command; errors propagate (main.ts prints `error CODE: message` and exits 1). */
  run?(args: ParsedArgs, io: CommandIo): Promise<void>;
  /**
   * For long-running commands (`dev`, `worker`, `start --fg`): starts and returns what stops it; main.ts
   * owns SIGTERM/SIGINT, the shutdown watchdog and the exit code (STYLE §7).
   */
  serve?(args: ParsedArgs, io: CommandIo): Promise<Stoppable>;
  /** Hidden from help and completion (internal helpers such as `__complete`). */
  hidden?: boolean;
}
