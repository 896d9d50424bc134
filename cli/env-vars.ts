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
  SB_ADMIN_PASSWORD: 'admin password set at first start (secret); printed once if unset',
  SB_LOG_LEVEL: 'pino level: trace, debug, info, warn, error (default info)',
  SB_CONFIG_BUCKET: 'NATS KV bucket holding the config store (default sb_config)',
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
