/**
 * WinRM hosts as one worker process sees them: host definitions read from the config store
 * (`conn.winrm.<name>`), credentials opened with the process keyring, one client per definition
 * (rebuilt when the definition changes), and a per-host limit of commands running at once.
 */
import type { Logger } from '../../broker/log.js';
import type { ConfigStore } from '../../broker/types.js';
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
export interface HostEntry {
  readonly name: string;
  readonly def: WinrmHostStored;
  readonly client: WinRMClient;
  readonly slots: Semaphore;
  readonly maxOutputBytes: number;
  /** Strings that must never appear in a result or log (the password, the TLS key). */
  readonly secrets: readonly string[];
  /** Runs in flight on this entry (a replaced entry's client is closed when it reaches 0). */
  inFlight: number;
  stale: boolean;
}

/** The hosts of one worker process. */
export class WinrmHosts {
  private readonly entries = new Map<string, HostEntry>();
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly config: ConfigStore,
    private readonly keyring: () => Keyring,
    private readonly factory: WinRMClientFactory,
    private readonly log: Logger,
  ) {
    // A changed or deleted definition retires its entry at once, so no later job uses old credentials.
    this.unwatch = config.watch<WinrmHostStored>(WINRM_HOST_PREFIX, (change) => {
      const name = change.key.slice(WINRM_HOST_PREFIX.length);
      const entry = this.entries.get(name);
      if (entry && entry.def !== this.config.get(change.key)) this.retire(entry);
    });
  }

  /** The stored definition of `name`, or undefined. */
  definition(name: string): WinrmHostStored | undefined {
    return this.config.get<WinrmHostStored>(hostKey(name));
  }

  /** The current entry of `name` without building one. */
  peek(name: string): HostEntry | undefined {
    return this.entries.get(name);
  }

  /**
   * The entry for `name`, built on first use and rebuilt when the stored definition is a different
   * object (the config store replaces the object on every change). Undefined when no such host.
   * Throws SB_ERR_SECRETS_UNAVAILABLE when its credentials cannot be opened.
   */
  get(name: string): HostEntry | undefined {
    const def = this.definition(name);
    const current = this.entries.get(name);
    if (!def) {
      if (current) this.retire(current);
      return undefined;
    }
    if (current && current.def === def) return current;
    if (current) this.retire(current);
    const entry = this.build(name, def);
    this.entries.set(name, entry);
    return entry;
  }

  /** Marks a run started/ended on `entry`; closes a retired entry's client after its last run. */
  begin(entry: HostEntry): void {
    entry.inFlight++;
  }

  end(entry: HostEntry): void {
    entry.inFlight--;
    if (entry.stale && entry.inFlight === 0) this.closeClient(entry);
  }

  /** Closes every client; idempotent. */
  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.client.close().catch(() => undefined)));
  }

  private build(name: string, def: WinrmHostStored): HostEntry {
    const key = hostKey(name);
    const ring = this.keyring();
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
    this.log.debug({ host: name, endpoint: def.endpoint, auth: def.auth.type }, 'winrm client built');
    return {
      name,
      def,
      client: this.factory(opts),
      slots: new Semaphore(def.maxConcurrent ?? DEFAULT_MAX_CONCURRENT),
      maxOutputBytes: def.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      secrets: [password, ...(tlsKey ? [tlsKey] : [])].filter((s) => s.length >= 4),
      inFlight: 0,
      stale: false,
    };
  }

  private retire(entry: HostEntry): void {
    if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
    entry.stale = true;
    if (entry.inFlight === 0) this.closeClient(entry);
  }

  private closeClient(entry: HostEntry): void {
    entry.client.close().catch((err: unknown) => this.log.warn({ host: entry.name, err: errName(err) }, 'closing a winrm client failed'));
  }
}

function errName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
