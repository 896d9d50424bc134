/**
 * Worker configuration: a YAML/JSON file (`switchboard worker --config worker.yaml`) or, for the simple
 * case, `SB_WORKER_TYPES=type:concurrency,...` and `SB_WORKER_HANDLERS=path,...`. Validated against the
 * WorkerConfig schema, defaults filled in, handler paths made absolute (docs/workers.md).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { WorkerConfig } from '../schemas/job.js';

type Env = Record<string, string | undefined>;

/** Validates `raw`, fills defaults and resolves handler paths against `baseDir`; throws an Error naming the first problem. */
export function resolveWorkerConfig(raw: unknown, baseDir: string): WorkerConfig {
  if (!raw || typeof raw !== 'object') throw new Error('worker config must be an object');
  const filled = Value.Default(WorkerConfig, Value.Clone(raw)) as WorkerConfig;
  if (Array.isArray(filled.types)) filled.types = filled.types.map((t) => Value.Default(WorkerConfig.properties.types.items, t) as WorkerConfig['types'][number]);
  const first = Value.Errors(WorkerConfig, filled).First();
  if (first) throw new Error(`invalid worker config at ${first.path || '/'}: ${first.message}`);
  const seen = new Set<string>();
  for (const t of filled.types) {
    if (seen.has(t.type)) throw new Error(`job type ${t.type} is listed twice`);
    seen.add(t.type);
    if (t.backoffMaxMs < t.backoffBaseMs) throw new Error(`${t.type}: backoffMaxMs must be >= backoffBaseMs`);
  }
  filled.handlers = filled.handlers.map((p) => (isAbsolute(p) ? p : resolve(baseDir, p)));
  return filled;
}

/** Reads a YAML or JSON file (JSON is YAML) and resolves it; relative handler paths are relative to the file. */
export async function loadWorkerConfigFile(path: string): Promise<WorkerConfig> {
  const text = await readFile(path, 'utf8');
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new Error(`${path}: not YAML or JSON: ${(e as Error).message}`);
  }
  return resolveWorkerConfig(raw, dirname(resolve(path)));
}

/**
 * The env form: `SB_WORKER_TYPES=winrm.exec:8,noop` (concurrency optional), `SB_WORKER_HANDLERS=a.ts,b.js`
 * (relative to `cwd`), `SB_WORKER_ID`, `SB_WORKER_DRAIN_MS`, `SB_WORKER_ACK_WAIT_MS`. With no
 * SB_WORKER_TYPES, `defaultTypes` (every loaded handler's type) are run at their default settings.
 */
export function workerConfigFromEnv(env: Env, cwd: string, defaultTypes: () => string[]): WorkerConfig {
  const ackWait = intVar(env, 'SB_WORKER_ACK_WAIT_MS');
  const types = (env['SB_WORKER_TYPES'] ? env['SB_WORKER_TYPES'].split(',') : defaultTypes())
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const [type, conc] = s.split(':');
      const t: Record<string, unknown> = { type };
      if (conc !== undefined) {
        const n = Number(conc);
        if (!Number.isInteger(n)) throw new Error(`SB_WORKER_TYPES: concurrency of ${type} must be an integer, got ${JSON.stringify(conc)}`);
        t['concurrency'] = n;
      }
      if (ackWait !== undefined) t['ackWaitMs'] = ackWait;
      return t;
    });
  const raw: Record<string, unknown> = {
    types,
    handlers: (env['SB_WORKER_HANDLERS'] ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0),
  };
  if (env['SB_WORKER_ID']) raw['id'] = env['SB_WORKER_ID'];
  const drain = intVar(env, 'SB_WORKER_DRAIN_MS');
  if (drain !== undefined) raw['drainMs'] = drain;
  return resolveWorkerConfig(raw, cwd);
}

/** Handler module paths from SB_WORKER_HANDLERS, absolute. */
export function handlerPathsFromEnv(env: Env, cwd: string): string[] {
  return (env['SB_WORKER_HANDLERS'] ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((p) => (isAbsolute(p) ? p : resolve(cwd, p)));
}

function intVar(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}
