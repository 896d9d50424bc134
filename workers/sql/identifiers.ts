/**
 * Procedure names and their quoting, shared by every SQL driver. A name reaches SQL text (arguments
 * never do), so it is checked against a plain-identifier grammar before any I/O and then quoted by
 * the database's own rules, which makes even a reserved word or a mixed-case name safe to send.
 */
import { JobFailure } from '../types.js';
import type { SqlKind } from './types.js';

/** One part of a name: letters, digits, `_` and `$`, not starting with a digit; 128 characters at most. */
const PART = /^[A-Za-z_][A-Za-z0-9_$]{0,127}$/;

/** A checked procedure name. */
export interface ProcedureName {
  schema?: string;
  name: string;
}

/** Splits `name` or `schema.name` and checks each part; anything else throws SB_ERR_SQL_INVALID_NAME. */
export function parseProcedureName(name: string): ProcedureName {
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => PART.test(p))) {
    throw new JobFailure('SB_ERR_SQL_INVALID_NAME', `not a procedure name: ${JSON.stringify(String(name).slice(0, 200))} (expected name or schema.name, each part [A-Za-z_][A-Za-z0-9_$]*)`, { retryable: false });
  }
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { name: parts[0]! };
}

/** Checks one identifier part (a parameter name) with the same grammar. */
export function checkIdentifierPart(part: string, what = 'parameter name'): string {
  if (typeof part !== 'string' || !PART.test(part)) {
    throw new JobFailure('SB_ERR_SQL_INVALID_NAME', `not a ${what}: ${JSON.stringify(String(part).slice(0, 200))}`, { retryable: false });
  }
  return part;
}

/**
 * Quotes one identifier part for `kind`: postgres `"x"`, mysql/mariadb `` `x` ``, mssql `[x]`, doubling
 * the closing quote inside. Also used for server-given names (PostgreSQL cursor names), which are not
 * checked against {@link PART}, so the doubling matters.
 */
export function quoteIdent(kind: SqlKind, part: string): string {
  switch (kind) {
    case 'postgres':
      return `"${part.replaceAll('"', '""')}"`;
    case 'mysql':
    case 'mariadb':
      return `\`${part.replaceAll('`', '``')}\``;
    case 'mssql':
      return `[${part.replaceAll(']', ']]')}]`;
  }
}

/** The quoted, possibly schema-qualified name. */
export function quoteName(kind: SqlKind, name: ProcedureName): string {
  return name.schema === undefined ? quoteIdent(kind, name.name) : `${quoteIdent(kind, name.schema)}.${quoteIdent(kind, name.name)}`;
}
