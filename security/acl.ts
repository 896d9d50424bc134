/**
 * Authorization: the `admin` role may do everything; anyone else may publish to a topic one of their
 * publish patterns matches, subscribe with a filter one of their subscribe patterns covers, and
 * never manage topics, channels or users.
 */
import { errors } from '../broker/errors.js';
import { filterCovers, topicMatches } from '../broker/subjects.js';
import type { Action, Principal } from './types.js';

/** The role that may do everything. */
export const ADMIN_ROLE = 'admin';

/** The principal every request gets when auth is off (local development only). */
export function anonymousPrincipal(): Principal {
  return { name: 'anonymous', roles: [ADMIN_ROLE], acl: { publish: ['>'], subscribe: ['>'] }, via: 'anonymous' };
}

/** Whether `p` may do `action` on `resource` (a topic for publish, a filter for subscribe). */
export function canPerform(p: Principal, action: Action, resource?: string): boolean {
  if (p.roles.includes(ADMIN_ROLE)) return true;
  switch (action) {
    case 'manage':
      return false;
    case 'publish':
      // A publish names one concrete topic; a wildcard here is a bad request, never a grant.
      if (!resource || /[*>]/.test(resource)) return false;
      return p.acl.publish.some((pattern) => topicMatches(pattern, resource));
    case 'subscribe':
      if (!resource) return false;
      return p.acl.subscribe.some((pattern) => filterCovers(pattern, resource));
    default:
      return false;
  }
}

/** Throws SB_ERR_FORBIDDEN ("user alice may not publish to orders.eu") unless `canPerform`. */
export function assertCan(p: Principal, action: Action, resource?: string): void {
  if (canPerform(p, action, resource)) return;
  const what = action === 'manage' ? 'manage topics, channels or users' : `${action} to ${(resource ?? '(no topic)').slice(0, 200)}`;
  throw errors.forbidden(`user ${p.name} may not ${what}`);
}
