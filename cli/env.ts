/**
 * Environment → ProcessConfig for `switchboard dev`: `SB_*` settings, validated against the schema and
 * frozen. The variables are listed in env-vars.ts and docs/configuration.md; keep the three in step.
 */
import { resolveProcessConfig, type DeepPartial, type ProcessConfig } from '../schemas/index.js';

type Env = Record<string, string | undefined>;

/** Reads an integer variable, or throws naming the variable (a typo must not silently become the default). */
export function intVar(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** Reads an on/off switch; anything but the usual words is an error naming the variable. */
function switchVar(env: Env, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return undefined;
  if (['off', 'false', '0', 'no', 'disabled'].includes(raw)) return false;
  if (['on', 'true', '1', 'yes', 'enabled'].includes(raw)) return true;
  throw new Error(`${name} must be "on" or "off", got ${JSON.stringify(raw)}`);
}

/** Puts `value` under `key` only when it is defined, so schema defaults fill the rest. */
function set(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined && value !== '') target[key] = value;
}

/** Builds the process configuration from `SB_*` variables; throws an Error naming the bad variable. */
export function processConfigFromEnv(env: Env): Readonly<ProcessConfig> {
  const nats: Record<string, unknown> = {};
  set(nats, 'url', env['SB_NATS_URL']);
  set(nats, 'token', env['SB_NATS_TOKEN']);
  set(nats, 'user', env['SB_NATS_USER']);
  set(nats, 'pass', env['SB_NATS_PASS']);
  set(nats, 'configBucket', env['SB_CONFIG_BUCKET']);
  set(nats, 'leasesBucket', env['SB_LEASES_BUCKET']);
  const http: Record<string, unknown> = {};
  set(http, 'host', env['SB_HTTP_HOST']);
  set(http, 'port', intVar(env, 'SB_HTTP_PORT'));
  set(http, 'bodyLimitBytes', intVar(env, 'SB_HTTP_BODY_LIMIT'));
  const auth: Record<string, unknown> = {};
  set(auth, 'enabled', switchVar(env, 'SB_AUTH'));
  set(auth, 'secretExport', switchVar(env, 'SB_SECRET_EXPORT'));
  set(auth, 'adminPassword', env['SB_ADMIN_PASSWORD']);
  const log: Record<string, unknown> = {};
  set(log, 'level', env['SB_LOG_LEVEL']);
  const jobs: Record<string, unknown> = {};
  set(jobs, 'stream', env['SB_JOBS_STREAM']);
  set(jobs, 'stateBucket', env['SB_JOBS_STATE_BUCKET']);
  set(jobs, 'resultTtlMs', intVar(env, 'SB_JOBS_RESULT_TTL_MS'));
  set(jobs, 'workersBucket', env['SB_JOBS_WORKERS_BUCKET']);
  set(jobs, 'defaultTimeoutMs', intVar(env, 'SB_JOBS_DEFAULT_TIMEOUT_MS'));
  return resolveProcessConfig({ nats, http, auth, log, jobs } as DeepPartial<ProcessConfig>);
}
