/**
 * The SQL procedure ACL: which principal may call which procedures on which connections. Deny by
 * default; the `admin` role may call anything. Patterns are globs as in the WinRM host ACL (`*` = any
 * run of characters, everything else literal, case-sensitive). A procedure pattern is matched against
 * the name exactly as the call writes it: `crm.*` allows `crm.get_orders` but not a bare `get_orders`
 * (which the database would resolve through its search path, possibly to another schema).
 */
import type { ConfigStore } from '../../broker/types.js';
import { ADMIN_ROLE, userKey } from '../../schemas/user.js';
import { sqlAclKey, type SqlAcl } from '../../schemas/sql.js';
import { compileHostPattern } from '../winrm/acl.js';
import { JobFailure } from '../types.js';

interface CompiledRule {
  connections: RegExp[];
  procedures: RegExp[];
}

// The config store hands out the same object until the record changes: compile once per object.
const compiled = new WeakMap<SqlAcl, CompiledRule[]>();

function rulesOf(acl: SqlAcl): CompiledRule[] {
  let rules = compiled.get(acl);
  if (!rules) {
    // Same glob semantics as WinRM host names; `.` in a procedure name is literal there too.
    rules = acl.rules.map((r) => ({ connections: r.connections.map(compileHostPattern), procedures: r.procedures.map(compileHostPattern) }));
    compiled.set(acl, rules);
  }
  return rules;
}

/** Whether `acl` allows calling `procedure` on `connection`. No ACL: no. */
export function sqlAclAllows(acl: SqlAcl | undefined, connection: string, procedure: string): boolean {
  if (!acl || !Array.isArray(acl.rules)) return false;
  return rulesOf(acl).some((r) => r.connections.some((c) => c.test(connection)) && r.procedures.some((p) => p.test(procedure)));
}

/**
 * Whether `principal` may call `procedure` on `connection`, read from the config store at the time of
 * the call (an ACL or role change applies to the next job): the `admin` role may call anything; others
 * need a matching rule in `sql.acl.<principal>`. `anonymous` with no user record is the auth-off
 * gateway's principal, an admin there (as for WinRM, workers/winrm/acl.ts `mayRun`).
 */
export function mayCall(config: ConfigStore, principal: string, connection: string, procedure: string): boolean {
  const user = config.get<{ roles?: unknown }>(userKey(principal));
  if (user && Array.isArray(user.roles) && user.roles.includes(ADMIN_ROLE)) return true;
  if (!user && principal === 'anonymous') return true;
  return sqlAclAllows(config.get<SqlAcl>(sqlAclKey(principal)), connection, procedure);
}

/** Throws SB_ERR_SQL_DENIED unless {@link mayCall}; nothing has been sent to the database then. */
export function assertMayCall(config: ConfigStore, principal: string, connection: string, procedure: string): void {
  if (!mayCall(config, principal, connection, procedure)) {
    throw new JobFailure('SB_ERR_SQL_DENIED', `principal ${principal} may not call ${procedure} on connection ${connection} (${sqlAclKey(principal)})`);
  }
}
