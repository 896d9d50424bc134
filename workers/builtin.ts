/**
 * The job handlers that ship with Switchboard. `switchboard worker` and `switchboard dev` load these
 * before any plugin module; a plugin that serves the same type replaces the built-in one.
 * Job families add their handler here (`winrm.exec`, `sql.callproc`).
 */
import type { JobHandler } from './types.js';
import { createWinrmHandler } from './winrm/handler.js';
import { createSqlCallprocHandler } from './sql/handler.js';
import { createPostgresDriver } from './sql/postgres.js';
import { createMysqlDriver } from './sql/mysql.js';
import { createMssqlDriver } from './sql/mssql.js';

/** Every built-in handler, freshly made (handlers may hold state such as pools). */
export function builtinHandlers(): JobHandler[] {
  return [
    createWinrmHandler(),
    createSqlCallprocHandler({ drivers: { postgres: createPostgresDriver, mysql: createMysqlDriver, mariadb: createMysqlDriver, mssql: createMssqlDriver } }),
  ];
}
