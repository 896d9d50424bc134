/**
 * TDS test responder (a mock of the SQL Server wire, not an engine): start it with `startTdsServer()` and
 * point the real `mssql` client at 127.0.0.1:<port> with encrypt:false. See server.ts for what it answers.
 */
export { startTdsServer, type TdsServer, type TdsServerOptions, type TdsServerStats } from './server.js';
export { defaultProcedures, type ProcDef, type ProcSink } from './procedures.js';
