/**
 * The name cache behind Tab completion (docs/completion.md): one file per kind of name, one name per
 * line, under `${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/<user>@<url>/`. The bash function reads the
 * files itself and starts `switchboard __names refresh KIND` in the background when one is missing or
 * older than NAMES_TTL_S, so Tab never waits for the network. This module is that refresh: it lists
 * the names over the REST API and replaces the files atomically (temp file + rename), mode 0600.
 * Only names are stored: no credentials, no URLs with passwords (the directory name drops them).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { NameKind } from './command-spec.js';
import { RestClient } from './client.js';
import { clientEnv } from './env-vars.js';

/** How long a cache file is fresh, in seconds (the bash function compares it with the stamp file). */
export const NAMES_TTL_S = 60;
/** After starting a refresh, the bash function starts no other one for this long, in seconds. */
export const NAMES_RETRY_S = 10;

type Env = Record<string, string | undefined>;

/** Each kind of name: the list endpoint and how to read the names from its answer. */
const SOURCES: Record<NameKind, { path: string; names(body: Record<string, unknown>): unknown[] }> = {
  topics: { path: '/v1/topics', names: (b) => field(b['topics'], 'name') },
  subscriptions: { path: '/v1/subscriptions', names: (b) => field(b['subscriptions'], 'name') },
  // The worker registry: every type some live worker process runs.
  'job-types': { path: '/v1/workers', names: (b) => field(arr(b['workers']).flatMap((w) => arr((w as { types?: unknown }).types)), 'type') },
  'winrm-hosts': { path: '/v1/connections/winrm', names: (b) => field(b['connections'], 'name') },
  'sql-connections': { path: '/v1/connections/sql', names: (b) => field(b['connections'], 'name') },
  'ws-channels': { path: '/v1/ws-channels', names: (b) => field(b['channels'], 'name') },
  users: { path: '/v1/users', names: (b) => field(b['users'], 'name') },
  bridges: { path: '/v1/bridges', names: (b) => field(b['bridges'], 'name') },
};

/** Every kind of name the cache holds. */
export const NAME_KINDS = Object.keys(SOURCES) as NameKind[];

const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (list: unknown, key: string): unknown[] => arr(list).map((x) => (x && typeof x === 'object' ? (x as Record<string, unknown>)[key] : undefined));

/**
 * Who the names are for: `<user>@<url>` with every character but [A-Za-z0-9._@-] replaced by `_` —
 * the same expansion the bash function does (no hashing: bash would need a subprocess for it). An API
 * key is not written anywhere: its caches share the name `apikey`.
 */
export function cacheKey(env: Env): string {
  const { baseUrl } = clientEnv(env);
  const user = env['SB_API_KEY'] ? 'apikey' : env['SB_PASSWORD'] ? env['SB_USER'] || 'admin' : 'anonymous';
  return `${user}@${baseUrl}`.replace(/[^A-Za-z0-9._@-]/g, '_');
}

/** The cache directory of this environment's system and user. */
export function cacheDir(env: Env): string {
  const base = env['XDG_CACHE_HOME'] || join(env['HOME'] || homedir(), '.cache');
  return join(base, 'switchboard', cacheKey(env));
}

/** Whether `kind` is a kind of name. */
export function isNameKind(kind: string): kind is NameKind {
  return Object.hasOwn(SOURCES, kind);
}

/** Writes `text` to `file` atomically: a reader sees the old file or the new one, never half of one. */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/** Lists the names of `kind` over the REST API and replaces its cache file; resolves with the names. */
export async function refreshNames(env: Env, kind: NameKind, signal?: AbortSignal): Promise<string[]> {
  const source = SOURCES[kind];
  const body = (await new RestClient({ ...clientEnv(env), timeoutMs: 10_000 }).call('GET', source.path, undefined, signal ? { signal } : {})) as Record<string, unknown>;
  // One name per line: a name that cannot be one line (or is not a string) is left out.
  const names = [...new Set(source.names(body ?? {}).filter((n): n is string => typeof n === 'string' && n !== '' && !/[\r\n]/.test(n)))].sort();
  const dir = cacheDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await replaceFile(join(dir, kind), names.map((n) => `${n}\n`).join(''));
  // The bash function reads this (seconds since the epoch) with `read`, which needs no subprocess.
  await replaceFile(join(dir, `.${kind}.stamp`), `${Math.floor(Date.now() / 1000)}\n`);
  return names;
}
