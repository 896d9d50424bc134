/**
 * The environment variables of the `switchboard` command, and the client side's reader. No heavy
 * imports here: `--help`, `pub` and `sub` load this without TypeBox, NATS or fastify (startup time).
 */

/** The environment variables `switchboard dev` reads, with what each sets (also used by `--help`). */
export const SERVER_ENV = {
  SB_NATS_URL: 'NATS URL(s), comma-separated for a cluster (default nats://127.0.0.1:4222)',
  SB_NATS_TOKEN: 'NATS auth token (secret)',
  SB_NATS_USER: 'NATS user name',
  SB_NATS_PASS: 'NATS password (secret)',
  SB_HTTP_HOST: 'REST gateway bind address (default 0.0.0.0)',
  SB_HTTP_PORT: 'REST gateway port (default 8080)',
  SB_HTTP_BODY_LIMIT: 'largest request body in bytes (default 1048576)',
  SB_AUTH: '"off" disables authentication (local development only; default on)',
  SB_SECRET_EXPORT: '"on" lets admins export stored secrets, re-sealed under a one-time key (default off)',
  SB_ADMIN_PASSWORD: 'admin password set at first start (secret); printed once if unset',
  SB_LOG_LEVEL: 'pino level: trace, debug, info, warn, error (default info)',
  SB_CONFIG_BUCKET: 'NATS KV bucket holding the config store (default sb_config)',
  SB_LEASES_BUCKET: 'NATS KV bucket of single-owner leases, e.g. outgoing WebSocket connections (default sb_leases)',
  SB_JOBS_STREAM: 'work-queue stream of jobs (default SB_JOBS)',
  SB_JOBS_STATE_BUCKET: 'KV bucket of job records before they are final: queued, running (default sb_jobstate)',
  SB_JOBS_RESULT_TTL_MS: 'how long job records are kept, ms (default 86400000)',
  SB_JOBS_WORKERS_BUCKET: 'KV bucket of the worker registry (default sb_workers)',
  SB_JOBS_DEFAULT_TIMEOUT_MS: 'job deadline when a submit sets none, ms (default 300000)',
  SB_MASTER_KEYS: 'master keys sealing stored secrets, JSON {"active":"k1","keys":{"k1":"<base64 32 bytes>"}} (secret)',
  SB_MASTER_KEYS_FILE: 'file holding SB_MASTER_KEYS (e.g. a secret mount); dev generates .data/master-keys.json when neither is set',
  SB_DEV_JOBS: '"off": the gateway runs no built-in job types itself (switchboard worker processes run them; default on)',
} as const;

/** The extra variables `switchboard worker` reads (docs/workers.md). */
export const WORKER_ENV = {
  SB_WORKER_TYPES: 'job types to run, "type[:concurrency],..." (default: every loaded handler)',
  SB_WORKER_HANDLERS: 'handler module paths, comma-separated (default export: JobHandler or an array)',
  SB_WORKER_ID: 'registry id (default <host>-<pid>-<random>)',
  SB_WORKER_DRAIN_MS: 'on SIGTERM, wait this long for in-flight jobs before handing them back (default 10000)',
  SB_WORKER_ACK_WAIT_MS: 'ack wait of every type, ms (default 30000; heartbeats at a third)',
  SB_WORKER_HEALTH_PORT: 'serve GET /healthz and /readyz on this port for probes (off when unset)',
  SB_WORKER_HEALTH_HOST: 'interface of the health port (default 0.0.0.0)',
  SB_FAULT_KILL_AFTER_RESULT: 'fault tests only: "1" SIGKILLs the worker right after it records its first result, before the ack',
} as const;

/** The environment variables `pub` and `sub` read. */
export const CLIENT_ENV = {
  SB_URL: 'REST API base URL (default http://127.0.0.1:8080)',
  SB_USER: 'Basic auth user (default admin when SB_PASSWORD is set)',
  SB_PASSWORD: 'Basic auth password (secret)',
  SB_API_KEY: 'API key sent as Authorization: Bearer (secret); wins over SB_USER/SB_PASSWORD',
} as const;

type Env = Record<string, string | undefined>;

/** Where the REST API is and how to authenticate to it. */
export interface ClientEnv {
  baseUrl: string;
  /** The full `Authorization` header value, or undefined for no auth. */
  authorization: string | undefined;
}

/** Reads SB_URL and the credentials for `pub`/`sub`: an API key wins over Basic. */
export function clientEnv(env: Env): ClientEnv {
  const baseUrl = (env['SB_URL'] || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const apiKey = env['SB_API_KEY'];
  if (apiKey) return { baseUrl, authorization: `Bearer ${apiKey}` };
  const password = env['SB_PASSWORD'];
  if (password === undefined || password === '') return { baseUrl, authorization: undefined };
  const user = env['SB_USER'] || 'admin';
  return { baseUrl, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
