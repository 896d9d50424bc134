/**
 * SQL connections as one worker process sees them: definitions read from the config store
 * (`conn.sql.<name>`), the password opened with the process keyring, one driver (one pool) per
 * definition, rebuilt when the definition changes and closed when it is deleted. A driver replaced
 * while calls run on it is closed after its last call ends.
 */
import type { Logger } from '../../broker/log.js';
import type { ConfigStore } from '../../broker/types.js';
import { openSecret, secretAad, type Keyring } from '../../broker/secrets.js';
import {
  SQL_CONNECT_TIMEOUT_DEFAULT_MS, SQL_CONN_PREFIX, SQL_POOL_SIZE_DEFAULT, SQL_REQUEST_TIMEOUT_DEFAULT_MS, sqlConnKey, type SqlConnStored,
} from '../../schemas/sql.js';
import { JobFailure } from '../types.js';
import type { SqlConnectionOptions, SqlDriver, SqlDriverFactory, SqlKind } from './types.js';

/** One definition with its driver and the secret to scrub from any message. */
export interface SqlConnEntry {
  readonly name: string;
  readonly def: SqlConnStored;
  readonly driver: SqlDriver;
  /** Strings that must never appear in a result, error or log (the password). */
  readonly secrets: readonly string[];
  /** Calls in flight on this entry (a replaced entry's driver is closed when it reaches 0). */
  inFlight: number;
  stale: boolean;
}

/** The SQL connections of one worker process. */
export class SqlConnections {
  private readonly entries = new Map<string, SqlConnEntry>();
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly config: ConfigStore,
    private readonly keyring: () => Keyring,
    private readonly drivers: Record<SqlKind, SqlDriverFactory>,
    private readonly log: Logger,
  ) {
    // A changed or deleted definition retires its entry at once: no later call uses the old password or pool.
    this.unwatch = config.watch<SqlConnStored>(SQL_CONN_PREFIX, (change) => {
      const name = change.key.slice(SQL_CONN_PREFIX.length);
      const entry = this.entries.get(name);
      if (entry && entry.def !== this.config.get(change.key)) this.retire(entry);
    });
  }

  /** The current entry of `name` without building one. */
  peek(name: string): SqlConnEntry | undefined {
    return this.entries.get(name);
  }

  /**
   * The entry for `name`, built on first use and rebuilt when the stored definition is a different
   * object (the config store replaces the object on every change). Throws a JobFailure:
   * SB_ERR_JOB_INVALID_INPUT when there is no such connection, SB_ERR_SQL_PASSWORD_NOT_SET while it
   * still has its generated password, SB_ERR_SECRETS_UNAVAILABLE when the password cannot be opened.
   */
  get(name: string): SqlConnEntry {
    const def = this.config.get<SqlConnStored>(sqlConnKey(name));
    const current = this.entries.get(name);
    if (!def) {
      if (current) this.retire(current);
      throw new JobFailure('SB_ERR_JOB_INVALID_INPUT', `no SQL connection named ${name}`);
    }
    if (current && current.def === def) return current;
    if (current) this.retire(current);
    if (def.passwordSet !== true) {
      throw new JobFailure('SB_ERR_SQL_PASSWORD_NOT_SET', `SQL connection ${name} still has the random password it was created with; set it with PUT /v1/connections/sql/${name}/password or "switchboard sql conn password ${name}"`);
    }
    const entry = this.build(name, def);
    this.entries.set(name, entry);
    return entry;
  }

  /** Marks a call started/ended on `entry`; closes a retired entry's driver after its last call. */
  begin(entry: SqlConnEntry): void {
    entry.inFlight++;
  }

  end(entry: SqlConnEntry): void {
    entry.inFlight--;
    if (entry.stale && entry.inFlight === 0) this.closeDriver(entry);
  }

  /** Closes every driver; idempotent. */
  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.driver.close().catch(() => undefined)));
  }

  private build(name: string, def: SqlConnStored): SqlConnEntry {
    const factory = this.drivers[def.kind];
    if (!factory) throw new JobFailure('SB_ERR_JOB_FAILED', `SQL connection ${name}: no driver for kind ${String(def.kind)} in this worker`);
    let password: string;
    try {
      password = openSecret(this.keyring(), def.password, secretAad(sqlConnKey(name), 'password'));
    } catch (e) {
      // openSecret's messages name the field, never bytes of the value or key.
      throw new JobFailure('SB_ERR_SECRETS_UNAVAILABLE', `SQL connection ${name}: ${e instanceof Error ? e.message : 'the password cannot be opened'}`);
    }
    const opts: SqlConnectionOptions = {
      kind: def.kind,
      host: def.host,
      port: def.port,
      database: def.database,
      user: def.user,
      password,
      poolSize: def.poolSize ?? SQL_POOL_SIZE_DEFAULT,
      connectTimeoutMs: def.connectTimeoutMs ?? SQL_CONNECT_TIMEOUT_DEFAULT_MS,
      requestTimeoutMs: def.requestTimeoutMs ?? SQL_REQUEST_TIMEOUT_DEFAULT_MS,
      ...(def.tls ? { tls: { ...def.tls } } : {}),
    };
    let driver: SqlDriver;
    try {
      driver = factory(opts);
    } catch (e) {
      // Not the message: a driver constructor's error could quote the options it was given.
      throw new JobFailure('SB_ERR_JOB_FAILED', `SQL connection ${name}: the definition cannot be used (${e instanceof Error ? e.name : 'error'})`);
    }
    this.log.debug({ connection: name, kind: def.kind, host: def.host, port: def.port, database: def.database, poolSize: opts.poolSize }, 'sql pool built');
    return { name, def, driver, secrets: password.length >= 4 ? [password] : [], inFlight: 0, stale: false };
  }

  private retire(entry: SqlConnEntry): void {
    if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
    entry.stale = true;
    if (entry.inFlight === 0) this.closeDriver(entry);
  }

  private closeDriver(entry: SqlConnEntry): void {
    entry.driver.close().catch((err: unknown) => this.log.warn({ connection: entry.name, err: err instanceof Error ? err.name : typeof err }, 'closing a sql pool failed'));
  }
}
