/**
 * Pure helpers around stored user records: key names, input checks, the schema check applied to
 * whatever the config store holds, and the hash-free view.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { errors } from '../broker/errors.js';
import { validateTopicFilter } from '../broker/subjects.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from '../schemas/names.js';
import { ACL_PATTERNS_MAX, PASSWORD_MAX, StoredUser, USER_KEY_PREFIX, userKey } from '../schemas/user.js';

export { USER_KEY_PREFIX, userKey };
import type { UserView } from './types.js';


const nameRe = new RegExp(SIMPLE_NAME_PATTERN);
const storedUserCheck = TypeCompiler.Compile(StoredUser);


/** Throws SB_ERR_INVALID_NAME unless `name` is a valid user name. */
export function validateUserName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) throw errors.invalidName('user', String(name), 'empty');
  if (name.length > SIMPLE_NAME_MAX) throw errors.invalidName('user', name, `longer than ${SIMPLE_NAME_MAX} characters`);
  if (!nameRe.test(name)) throw errors.invalidName('user', name, 'use only [A-Za-z0-9_-]');
}

/** Throws SB_ERR_VALIDATION unless `password` is an acceptable new password (never echoes it). */
export function validateNewPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password.length === 0 || password.length > PASSWORD_MAX) {
    throw errors.validation(`password must be a string of 1 to ${PASSWORD_MAX} characters`);
  }
}

/** Checks role names; returns a copy. */
export function checkRoles(roles: unknown): string[] {
  if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string' || !nameRe.test(r) || r.length > SIMPLE_NAME_MAX)) {
    throw errors.validation('roles must be an array of names of [A-Za-z0-9_-]');
  }
  return [...(roles as string[])];
}

/** Checks ACL patterns (SB_ERR_INVALID_TOPIC_NAME for a bad one); returns a copy. */
export function checkPatterns(kind: 'publish' | 'subscribe' | 'jobs', patterns: unknown): string[] {
  if (!Array.isArray(patterns) || patterns.length > ACL_PATTERNS_MAX) {
    throw errors.validation(`acl.${kind} must be an array of at most ${ACL_PATTERNS_MAX} ${kind === 'jobs' ? 'job-type' : 'topic'} patterns`);
  }
  // Job types share the topic token grammar, so one validator serves both kinds of pattern.
  for (const p of patterns) validateTopicFilter(p as string);
  return [...(patterns as string[])];
}

// The config store hands out the same object until the key changes, so a check per object (not per
// request) keeps the schema check off the authentication hot path.
const checked = new WeakMap<object, boolean>();

/** The record if `value` is a valid stored user named `name`, else undefined (a hand-edited bucket must not crash auth). */
export function asStoredUser(value: unknown, name: string): StoredUser | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  let ok = checked.get(value);
  if (ok === undefined) {
    ok = storedUserCheck.Check(value);
    checked.set(value, ok);
  }
  return ok && (value as StoredUser).name === name ? (value as StoredUser) : undefined;
}

/** The admin view of a user: no password hash, no key hashes. */
export function toUserView(u: StoredUser): UserView {
  return {
    name: u.name,
    roles: [...u.roles],
    acl: { publish: [...u.acl.publish], subscribe: [...u.acl.subscribe], jobs: [...(u.acl.jobs ?? [])] },
    apiKeys: u.apiKeys.map((k) => (k.label === undefined ? { id: k.id, createdAt: k.createdAt } : { id: k.id, createdAt: k.createdAt, label: k.label })),
    createdAt: u.createdAt,
  };
}
