/**
 * Worker configuration: a YAML/JSON file (`switchboard worker --config worker.yaml`), or the env form
 * that cli/env.ts reads (`SB_WORKER_TYPES=type:concurrency,...`, `SB_WORKER_HANDLERS=path,...`). Validated against the
 * WorkerConfig schema, defaults filled in, handler paths made absolute (docs/workers.md).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { WorkerConfig } from '../schemas/job.js';

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
