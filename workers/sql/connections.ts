/**
 * SQL connections as one worker process sees them: definitions read from the config store
 * (`conn.sql.<name>`), the password opened with the process keyring, one driver (one pool) per
 * definition, rebuilt when the definition changes and closed when it is deleted. A driver replaced
 * while calls run on it is closed after its last call ends (workers/definition-pool.ts).
 */
import type { Logger } from '../../broker/log.js';
import type { ConfigStore } from '../../broker/types.js';
import { openSecret, secretAad, type Keyring } from '../../broker/secrets.js';
import {
  SQL_CONNECT_TIMEOUT_DEFAULT_MS, SQL_CONN_PREFIX, SQL_POOL_SIZE_DEFAULT, SQL_REQUEST_TIMEOUT_DEFAULT_MS, sqlConnKey, type SqlConnStored,
} from '../../schemas/sql.js';
import { JobFailure } from '../types.js';
import { DefinitionPool, type PooledEntry } from '../definition-pool.js';
import type { SqlConnectionOptions, SqlDriver, SqlDriverFactory, SqlKind } from './types.js';

/** One definition with its driver and the secret to scrub from any message. */
export interface SqlConnEntry extends PooledEntry<SqlConnStored> {
  readonly driver: SqlDriver;
  /** Strings that must never appear in a result, error or log (the password). */
  readonly secrets: readonly string[];
}

/** The SQL connections of one worker process. */
export class SqlConnections extends DefinitionPool<SqlConnStored, SqlConnEntry> {
  constructor(config: ConfigStore, keyring: () => Keyring, drivers: Record<SqlKind, SqlDriverFactory>, log: Logger) {
    super(config, {
      prefix: SQL_CONN_PREFIX,
      what: 'sql pool',
      log,
      build: (name, def) => buildConnection(name, def, keyring, drivers, log),
      dispose: (entry) => entry.driver.close(),
    });
  }

  /**
   * The entry for `name` (see DefinitionPool.get). Throws a JobFailure: SB_ERR_JOB_INVALID_INPUT when
   * there is no such connection, SB_ERR_SQL_PASSWORD_NOT_SET while it still has its generated password,
   * SB_ERR_SECRETS_UNAVAILABLE when the password cannot be opened.
   */
  override get(name: string): SqlConnEntry {
    const entry = super.get(name, (def) => {
      if (def.passwordSet !== true) {
        throw new JobFailure('SB_ERR_SQL_PASSWORD_NOT_SET', `SQL connection ${name} still has the random password it was created with; set it with PUT /v1/connections/sql/${name}/password or "switchboard sql conn password ${name}"`);
      }
    });
    if (!entry) throw new JobFailure('SB_ERR_JOB_INVALID_INPUT', `no SQL connection named ${name}`);
    return entry;
  }
}

function buildConnection(name: string, def: SqlConnStored, keyring: () => Keyring, drivers: Record<SqlKind, SqlDriverFactory>, log: Logger): SqlConnEntry {
  const factory = drivers[def.kind];
  if (!factory) throw new JobFailure('SB_ERR_JOB_FAILED', `SQL connection ${name}: no driver for kind ${String(def.kind)} in this worker`);
  let password: string;
  try {
    password = openSecret(keyring(), def.password, secretAad(sqlConnKey(name), 'password'));
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
  log.debug({ connection: name, kind: def.kind, host: def.host, port: def.port, database: def.database, poolSize: opts.poolSize }, 'sql pool built');
  return { name, def, driver, secrets: password.length >= 4 ? [password] : [], inFlight: 0, stale: false };
}
