/**
 * A component directory (docs/components.md): `switchboard.yaml`, `data/`, `logs/`, `run/`. The file
 * is the component's environment written down: `kind` plus `settings`, whose keys are the same `SB_*`
 * variables `dev`, `worker` and `gateway` read (cli/env-vars.ts, docs/configuration.md) — one mapping,
 * not a second config system. `create` writes every setting the kind reads, commented, with its
 * default; `start` validates the file and reports a bad setting with its file and line.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isScalar, type Document } from 'yaml';
import { SbError } from '../broker/errors.js';
import { SERVER_ENV, WORKER_ENV } from './env-vars.js';

/** What a component directory runs. */
export type ComponentKind = 'gateway' | 'worker' | 'dev';
/** Every kind, in help order. */
export const COMPONENT_KINDS: readonly ComponentKind[] = ['gateway', 'worker', 'dev'];

/** The config file's name inside a component directory. */
export const CONFIG_FILE = 'switchboard.yaml';

/** Paths inside a component directory. */
export interface ComponentPaths {
  dir: string;
  config: string;
  data: string;
  logs: string;
  log: string;
  run: string;
  /** Plain pid (one line), the convention of init scripts and `start-stop-daemon --pidfile`. */
  pid: string;
  /** JSON {@link ComponentState} next to the pid file. */
  state: string;
}

/** The layout of `dir` (made absolute against `cwd`). */
export function componentPaths(dir: string, cwd: string): ComponentPaths {
  const abs = resolve(cwd, dir);
  return {
    dir: abs,
    config: join(abs, CONFIG_FILE),
    data: join(abs, 'data'),
    logs: join(abs, 'logs'),
    log: join(abs, 'logs', 'switchboard.log'),
    run: join(abs, 'run'),
    pid: join(abs, 'run', 'switchboard.pid'),
    state: join(abs, 'run', 'switchboard.json'),
  };
}

/** Read by main.ts, not by env.ts, but a component may set it like the others. */
const SHUTDOWN_ENV = { SB_SHUTDOWN_TIMEOUT_MS: 'watchdog: exit 70 if the shutdown takes longer, ms (default 20000)' } as const;

/** Settings that make no sense for a kind: HTTP for a worker; the dev-only switch for a gateway; fault hooks for all. */
const EXCLUDED: Record<ComponentKind, readonly string[]> = {
  gateway: ['SB_DEV_JOBS'],
  worker: ['SB_HTTP_HOST', 'SB_HTTP_PORT', 'SB_HTTP_BODY_LIMIT', 'SB_AUTH', 'SB_ADMIN_PASSWORD', 'SB_DEV_JOBS', 'SB_FAULT_KILL_AFTER_RESULT'],
  dev: [],
};

/** The settings a kind reads, with their one-line descriptions (from cli/env-vars.ts: the tables stay the one source). */
export function kindSettings(kind: ComponentKind): Record<string, string> {
  const all: Record<string, string> = { ...SERVER_ENV, ...(kind === 'worker' ? WORKER_ENV : {}), ...SHUTDOWN_ENV };
  return Object.fromEntries(Object.entries(all).filter(([k]) => !EXCLUDED[kind].includes(k)));
}

/** The default shown in a description, e.g. "(default 8080)" → "8080"; undefined when there is none. */
function describedDefault(description: string): string | undefined {
  const m = /[(;] ?default:? ([^;)]+)\)/.exec(description);
  const v = m?.[1]?.trim();
  // "(default: every loaded handler)" is prose, not a value.
  return v && !/\s/.test(v) ? v : undefined;
}

/** The commented config file `create` writes: every setting the kind reads, commented out, with its default. */
export function configTemplate(kind: ComponentKind): string {
  const lines = [
    `# Switchboard ${kind} component (docs/components.md).`,
    '# start: switchboard start DIR    stop: switchboard stop DIR    status: switchboard status DIR',
    '#',
    '# Each setting is the environment variable of the same name (docs/configuration.md). A setting here',
    '# wins over the environment of `switchboard start`; a variable the file leaves unset is taken from',
    '# that environment — the place for secrets (SB_NATS_PASS, SB_MASTER_KEYS), which should not be in a file.',
    '# Relative paths are relative to this directory. Uncomment a line to change it.',
    `kind: ${kind}`,
    'settings:',
  ];
  for (const [name, description] of Object.entries(kindSettings(kind))) {
    lines.push(`  # ${description}`);
    lines.push(`  # ${name}: ${describedDefault(description) ?? '""'}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes a new component directory; refuses one that exists and is not empty unless `force`. */
export async function createComponent(kind: ComponentKind, paths: ComponentPaths, force: boolean): Promise<void> {
  const entries = await readdir(paths.dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  if (entries.length > 0 && !force) {
    throw new SbError('SB_ERR_COMPONENT_EXISTS', `${paths.dir} exists and is not empty; choose a new directory or pass --force (rewrites ${CONFIG_FILE}, keeps data/ and logs/)`, { data: { dir: paths.dir } });
  }
  for (const d of [paths.dir, paths.data, paths.logs, paths.run]) await mkdir(d, { recursive: true });
  await writeFile(paths.config, configTemplate(kind), { mode: 0o600 });
}

/** A validated config file. */
export interface ComponentConfig {
  kind: ComponentKind;
  /** `SB_*` name → value, as strings (as the environment would hold them). */
  settings: Record<string, string>;
}

/** An invalid config file: `file:line: message`. */
function invalid(file: string, line: number | undefined, message: string): SbError {
  return new SbError('SB_ERR_CONFIG_INVALID', `${file}${line ? `:${line}` : ''}: ${message}`, { data: { file, ...(line ? { line } : {}) } });
}

/** 1-based line of a node's start, or undefined. */
function lineOf(counter: LineCounter, node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] | null } | null | undefined)?.range;
  return range ? counter.linePos(range[0]).line : undefined;
}

/**
 * Reads and validates a component directory's config file: kind, known settings, scalar values, and
 * (unless `values: false`, for `status`, which only needs the kind) each value through its reader.
 */
export async function readComponentConfig(paths: ComponentPaths, opts: { values?: boolean } = {}): Promise<ComponentConfig> {
  const text = await readFile(paths.config, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') {
      throw new SbError('SB_ERR_COMPONENT_NOT_FOUND', `${paths.dir} is not a component directory (no ${CONFIG_FILE}); create one with: switchboard create gateway|worker|dev DIR`, { data: { dir: paths.dir } });
    }
    throw e;
  });
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  const syntax = doc.errors[0];
  // The message's first line, without the " at line L, column C:" that file:line already says.
  if (syntax) throw invalid(paths.config, syntax.linePos?.[0]?.line, `not valid YAML: ${syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
  return validateDocument(doc, counter, paths.config, opts.values ?? true);
}

async function validateDocument(doc: Document, counter: LineCounter, file: string, values: boolean): Promise<ComponentConfig> {
  const root = doc.contents;
  if (!isMap(root)) throw invalid(file, lineOf(counter, root), 'expected a mapping with "kind" and "settings"');
  let kind: ComponentKind | undefined;
  const settings: Record<string, string> = {};
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    const line = lineOf(counter, pair.key);
    if (key === 'kind') {
      const v = isScalar(pair.value) ? pair.value.value : undefined;
      if (typeof v !== 'string' || !(COMPONENT_KINDS as readonly string[]).includes(v)) {
        throw invalid(file, line, `kind must be one of ${COMPONENT_KINDS.join(', ')}, got ${JSON.stringify(v ?? null)}`);
      }
      kind = v as ComponentKind;
    } else if (key !== 'settings') {
      throw invalid(file, line, `unknown key ${JSON.stringify(key)} (expected "kind" and "settings")`);
    }
  }
  if (!kind) throw invalid(file, undefined, 'missing "kind" (gateway, worker or dev)');
  const node = root.get('settings', true);
  // `settings:` followed only by comments is null: every setting at its default.
  if (node === undefined || node === null || (isScalar(node) && node.value === null)) return { kind, settings };
  if (!isMap(node)) throw invalid(file, lineOf(counter, node), 'settings must be a mapping of SB_* names to values');
  const known = kindSettings(kind);
  for (const pair of node.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    const line = lineOf(counter, pair.key);
    if (!(name in known)) {
      const hint = name.startsWith('SB_') ? '' : ' (settings are SB_* variable names)';
      throw invalid(file, line, `unknown setting ${JSON.stringify(name)} for a ${kind}${hint}; see docs/components.md`);
    }
    const v = isScalar(pair.value) ? pair.value.value : undefined;
    if (v === null) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw invalid(file, lineOf(counter, (pair.value ?? pair.key)) ?? line, `${name} must be a single value (string, number or boolean)`);
    }
    settings[name] = String(v);
  }
  if (values) await checkValues(kind, settings, file, (name) => lineOf(counter, node.items.find((p) => isScalar(p.key) && p.key.value === name)?.key));
  return { kind, settings };
}

/**
 * Checks every value with the readers the process itself uses at start (cli/env.ts processConfigFromEnv,
 * and the worker's env form in cli/worker.ts), one setting at a time so that a failure points at its
 * line. Loaded lazily: they pull in the schemas (and, for a worker, the handlers).
 */
async function checkValues(kind: ComponentKind, settings: Record<string, string>, file: string, lineOfSetting: (name: string) => number | undefined): Promise<void> {
  const { processConfigFromEnv, intVar } = await import('./env.js');
  const worker = kind === 'worker' ? await import('./worker.js') : undefined;
  const check = (env: Record<string, string>): string | undefined => {
    try {
      processConfigFromEnv(env);
      // Read by main.ts and cli/worker.ts with the same integer reader, but outside processConfigFromEnv.
      intVar(env, 'SB_SHUTDOWN_TIMEOUT_MS');
      intVar(env, 'SB_WORKER_HEALTH_PORT');
      worker?.workerConfigFromEnv(env, '/', () => ['component.check']);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };
  for (const [name, value] of Object.entries(settings)) {
    const problem = check({ [name]: value });
    if (problem) throw invalid(file, lineOfSetting(name), problem);
  }
  const problem = check(settings);
  if (problem) throw invalid(file, undefined, problem);
}

/** The environment of the component: the caller's, with the file's settings on top. */
export function componentEnv(base: NodeJS.ProcessEnv, config: ComponentConfig): NodeJS.ProcessEnv {
  return { ...base, ...config.settings };
}
