/**
 * What the operations commands (`topics`, `subscriptions`, `jobs`, `broadcast`, `users`,
 * `connections`) share: the REST client built from the environment, option parsing that names the
 * option at fault, secrets read from stdin or a hidden prompt (never argv: `ps` and shell history
 * would keep them), and the cells humans read (durations, sizes). No server-side imports here.
 */
import { SbError, errors } from '../broker/errors.js';
import type { ArgSpec, CommandIo, CommandSpec, ParsedArgs } from './command-spec.js';
import { JSON_OPTION, printRecord, printRows, type Column } from './output.js';
import { RestClient } from './client.js';
import { clientEnv } from './env-vars.js';
import { readAll } from './pubsub.js';

/** The REST client for SB_URL with SB_API_KEY or SB_USER/SB_PASSWORD. */
export function clientOf(io: CommandIo): RestClient {
  return new RestClient(clientEnv(io.env));
}

/** `/v1/<collection>/<name>` with the name escaped. */
export function pathOf(collection: string, name: string): string {
  return `/v1/${collection}/${encodeURIComponent(name)}`;
}

/** Whether `--json` was given. */
export function jsonOf(args: ParsedArgs): boolean {
  return args.values['json'] === true;
}

/** The positional at `index`; the registry already refuses a missing required one (exit 2). */
export function arg(args: ParsedArgs, index: number, what: string): string {
  const v = args.positionals[index];
  if (v === undefined || v === '') throw errors.validation(`missing ${what}`);
  return v;
}

/** A string option, or undefined. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable string option (`--role a --role b`), also split on commas (`--role a,b`). */
export function list(args: ParsedArgs, name: string): string[] | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const raw = Array.isArray(v) ? v.map(String) : [String(v)];
  return raw.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** An integer option at least `min` (default 0), or undefined; anything else names the option. */
export function int(args: ParsedArgs, name: string, min = 0): number | undefined {
  const raw = str(args, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min) {
    throw errors.validation(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`, { option: name });
  }
  return n;
}

/** One of `words`, or undefined. */
export function oneOf<T extends string>(args: ParsedArgs, name: string, words: readonly T[]): T | undefined {
  const raw = str(args, name);
  if (raw === undefined) return undefined;
  if (!(words as readonly string[]).includes(raw)) throw errors.validation(`--${name} must be one of ${words.join(', ')}, got ${JSON.stringify(raw)}`, { option: name });
  return raw as T;
}

/** Copies the defined entries of `fields` into a new object (the API refuses explicit nulls). */
export function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** Prints what a delete removed: `deleted KIND NAME`, or `{"deleted": NAME, "kind": KIND}`. */
export function printDeleted(io: CommandIo, json: boolean, kind: string, name: string): void {
  io.out(json ? JSON.stringify({ deleted: name, kind }, null, 2) : `deleted ${kind} ${name}`);
}

/** Prints `value` as JSON with `--json`, else its human `view` as `key: value` lines. */
export function printView<T>(io: CommandIo, args: ParsedArgs, value: T, view: (v: T) => Record<string, unknown>): void {
  const json = jsonOf(args);
  printRecord(io, json, json ? (value as Record<string, unknown>) : view(value));
}

// The read and delete sub-commands every collection has (`topics list|info|delete`, `users …`,
// `connections winrm …`): one shape each, told what to fetch and how a row or a record reads.

/** `list`: a table of `rows(answer)` in `columns`, or the whole answer as JSON. */
export function listSpec<A, T>(o: {
  summary: string;
  description: string;
  fetch: (io: CommandIo) => Promise<unknown>;
  rows: (answer: A) => readonly T[];
  columns: ReadonlyArray<Column<T>>;
}): CommandSpec {
  return {
    name: 'list', summary: o.summary, description: o.description, options: [JSON_OPTION],
    async run(args, io) {
      const answer = (await o.fetch(io)) as A;
      printRows(io, jsonOf(args), answer, o.rows(answer), o.columns);
    },
  };
}

/** `info` / `get`: one object named by the positional `arg`, printed through `view`. */
export function showSpec<T>(o: {
  name: 'info' | 'get';
  summary: string;
  description: string;
  arg: ArgSpec;
  fetch: (io: CommandIo, name: string) => Promise<unknown>;
  view: (v: T) => Record<string, unknown>;
}): CommandSpec {
  return {
    name: o.name, summary: o.summary, description: o.description, args: [o.arg], options: [JSON_OPTION],
    async run(args, io) {
      printView(io, args, (await o.fetch(io, arg(args, 0, o.arg.name))) as T, o.view);
    },
  };
}

/** `delete`: removes the object named by the positional `arg`, then `deleted KIND NAME`. */
export function deleteSpec(o: {
  summary: string;
  description: string;
  arg: ArgSpec;
  kind: string;
  remove: (io: CommandIo, name: string) => Promise<unknown>;
}): CommandSpec {
  return {
    name: 'delete', summary: o.summary, description: o.description, args: [o.arg], options: [JSON_OPTION],
    async run(args, io) {
      const name = arg(args, 0, o.arg.name);
      await o.remove(io, name);
      printDeleted(io, jsonOf(args), o.kind, name);
    },
  };
}

/** Milliseconds as a human reads them: 0 → "-", 1500 → "1.5s", 120000 → "2m", 86400000 → "1d". */
export function duration(ms: number | undefined): string {
  if (ms === undefined || ms <= 0) return '-';
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [u, size] of units) if (ms >= size) return `${trim(ms / size)}${u}`;
  return `${ms}ms`;
}

/** Bytes in binary units: -1/undefined → "-", 1536 → "1.5KiB". */
export function bytes(n: number | undefined): string {
  if (n === undefined || n < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${n}B` : `${trim(v)}${units[i]}`;
}

/** A count where -1 means unlimited. */
export function limit(n: number | undefined): string {
  return n === undefined || n < 0 ? '-' : String(n);
}

function trim(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** The duck type of a terminal stdin (tty.ReadStream) that can hide what is typed. */
interface TtyIn {
  isTTY?: boolean;
  setRawMode(raw: boolean): unknown;
  setEncoding(enc: BufferEncoding): unknown;
  on(event: 'data', fn: (s: string) => void): unknown;
  off(event: 'data', fn: (s: string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

function ttyOf(io: CommandIo): TtyIn | undefined {
  const s = io.stdin as unknown as Partial<TtyIn>;
  return s.isTTY && typeof s.setRawMode === 'function' && typeof s.on === 'function' ? (s as TtyIn) : undefined;
}

/**
 * Reads a secret: from a terminal, a hidden prompt on stderr (asked twice when `confirm`); otherwise
 * all of stdin, minus one trailing line break (the shell's or echo's). An empty secret is refused.
 */
export async function readSecret(io: CommandIo, what: string, opts: { confirm?: boolean } = {}): Promise<string> {
  const tty = ttyOf(io);
  let secret: string;
  if (tty) {
    secret = await promptHidden(tty, io, `${what}: `);
    if (opts.confirm && (await promptHidden(tty, io, `${what} again: `)) !== secret) throw errors.validation(`the two ${what.toLowerCase()}s differ`);
  } else {
    secret = Buffer.from(await readAll(io.stdin)).toString('utf8').replace(/\r?\n$/, '');
  }
  if (secret === '') throw errors.validation(`empty ${what.toLowerCase()}: it is read from stdin (or a prompt on a terminal), never from the command line`);
  return secret;
}

/** One line typed with echo off; Ctrl-C aborts, Backspace erases. */
function promptHidden(tty: TtyIn, io: CommandIo, prompt: string): Promise<string> {
  io.writeErr(prompt);
  tty.setEncoding('utf8');
  tty.setRawMode(true);
  tty.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (): void => {
      tty.off('data', onData);
      tty.setRawMode(false);
      tty.pause();
      io.writeErr('\n');
    };
    const onData = (s: string): void => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new SbError('SB_ERR_VALIDATION', 'cancelled at the prompt'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    tty.on('data', onData);
  });
}
