/**
 * WinRM hosts as one worker process sees them: host definitions read from the config store
 * (`conn.winrm.<name>`), credentials opened with the process keyring, one client per definition
 * (rebuilt when the definition changes: workers/definition-pool.ts), and a per-host limit of commands
 * running at once.
 */
import type { Logger } from '../../broker/log.js';
import type { ConfigStore } from '../../broker/types.js';
import { DefinitionPool, type PooledEntry } from '../definition-pool.js';
import { WINRM_HOST_PREFIX, type WinrmHostStored } from '../../schemas/winrm.js';
import { openSecret, secretAad, type Keyring } from '../../broker/secrets.js';
import { Semaphore } from '../../broker/semaphore.js';
import type { WinRMClient, WinRMOptions } from './client/types.js';

/** Default `maxConcurrent` of a host definition. */
export const DEFAULT_MAX_CONCURRENT = 8;
/** Default `maxOutputBytes` of a host definition (per stream; a job result must fit one NATS message). */
export const DEFAULT_MAX_OUTPUT_BYTES = 262_144;

/** The config-store key of host `name`. */
export function hostKey(name: string): string {
  return `${WINRM_HOST_PREFIX}${name}`;
}

/** Builds a client for one host definition (the real one is `createWinRMClient`). */
export type WinRMClientFactory = (opts: WinRMOptions) => WinRMClient;

/** One host definition with its client, slots, and the secrets to scrub from any message. */
export interface HostEntry extends PooledEntry<WinrmHostStored> {
  readonly client: WinRMClient;
  readonly slots: Semaphore;
  readonly maxOutputBytes: number;
  /** Strings that must never appear in a result or log (the password, the TLS key). */
  readonly secrets: readonly string[];
}

/**
 * The hosts of one worker process. `get(name)` is the entry (undefined when no such host); it throws
 * SB_ERR_SECRETS_UNAVAILABLE when the credentials cannot be opened.
 */
export class WinrmHosts extends DefinitionPool<WinrmHostStored, HostEntry> {
  constructor(config: ConfigStore, keyring: () => Keyring, factory: WinRMClientFactory, log: Logger) {
    super(config, {
      prefix: WINRM_HOST_PREFIX,
      what: 'winrm client',
      log,
      build: (name, def) => buildHost(name, def, keyring(), factory, log),
      dispose: (entry) => entry.client.close(),
    });
  }
}

function buildHost(name: string, def: WinrmHostStored, ring: Keyring, factory: WinRMClientFactory, log: Logger): HostEntry {
  const key = hostKey(name);
  const password = openSecret(ring, def.password, secretAad(key, 'password'));
  const tlsKey = def.tls?.key ? openSecret(ring, def.tls.key, secretAad(key, 'tls.key')) : undefined;
  const opts: WinRMOptions = {
    endpoint: def.endpoint,
    auth: def.auth.type === 'basic'
      ? { type: 'basic', username: def.auth.username, password }
      : { type: 'ntlm', username: def.auth.username, password, ...(def.auth.domain === undefined ? {} : { domain: def.auth.domain }) },
    ...(def.messageEncryption ? { messageEncryption: def.messageEncryption } : {}),
    ...(def.operationTimeoutSec ? { operationTimeoutSec: def.operationTimeoutSec } : {}),
    ...(def.codepage ? { codepage: def.codepage } : {}),
  };
  if (def.tls) {
    const { ca, cert, rejectUnauthorized, servername } = def.tls;
    opts.tls = {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(tlsKey === undefined ? {} : { key: tlsKey }),
      ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
      ...(servername === undefined ? {} : { servername }),
    };
  }
  log.debug({ host: name, endpoint: def.endpoint, auth: def.auth.type }, 'winrm client built');
  return {
    name,
    def,
    client: factory(opts),
    slots: new Semaphore(def.maxConcurrent ?? DEFAULT_MAX_CONCURRENT),
    maxOutputBytes: def.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    secrets: [password, ...(tlsKey ? [tlsKey] : [])].filter((s) => s.length >= 4),
    inFlight: 0,
    stale: false,
  };
}
