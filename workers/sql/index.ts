/** The SQL job family: the `sql.callproc` handler, its connection registry and ACL, and the `callproc` one-liner. */
export { SqlCallprocHandler, createSqlCallprocHandler, DEFAULT_MAX_RESULT_BYTES, type SqlCallprocHandlerOptions } from './handler.js';
export { SqlConnections, type SqlConnEntry } from './connections.js';
export { assertMayCall, mayCall, sqlAclAllows } from './acl.js';
export { callproc, type CallprocOptions } from './callproc.js';
