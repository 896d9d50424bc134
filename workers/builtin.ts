/**
 * The job handlers that ship with Switchboard. `switchboard worker` and `switchboard dev` load these
 * before any plugin module; a plugin that serves the same type replaces the built-in one.
 * Job families add their handler here (`winrm.exec`, `sql.callproc`).
 */
import type { JobHandler } from './types.js';
import { createWinrmHandler } from './winrm/handler.js';
import { createSqlCallprocHandler } from './sql/handler.js';
import { lazyDriver } from './sql/driver-kit.js';

/** Every built-in handler, freshly made (handlers may hold state such as pools). */
export function builtinHandlers(): JobHandler[] {
  return [
    createWinrmHandler(),
    createSqlCallprocHandler({ drivers: sqlDrivers() }),
  ];
}

/** The SQL drivers, each imported when a connection of its kind is first used. */
function sqlDrivers(): Parameters<typeof createSqlCallprocHandler>[0]['drivers'] {
  const mysql = lazyDriver(async () => (await import('./sql/mysql.js')).createMysqlDriver);
  return {
    postgres: lazyDriver(async () => (await import('./sql/postgres.js')).createPostgresDriver),
    mysql,
    mariadb: mysql,
    mssql: lazyDriver(async () => (await import('./sql/mssql.js')).createMssqlDriver),
  };
}
