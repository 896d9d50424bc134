/**
 * Authorization: the `admin` role may do everything; anyone else may publish to a topic one of their
 * publish patterns matches, subscribe with a filter one of their subscribe patterns covers, run a job
 * whose type one of their job patterns matches, and never manage topics, channels, users or workers.
 */
import { errors } from '../broker/errors.js';
import { filterCovers, topicMatches } from '../broker/subjects.js';
import type { Action, Principal } from './types.js';
import { ADMIN_ROLE } from '../schemas/user.js';

export { ADMIN_ROLE };

/** The principal every request gets when auth is off (local development only). */
export function anonymousPrincipal(): Principal {
  return { name: 'anonymous', roles: [ADMIN_ROLE], acl: { publish: ['>'], subscribe: ['>'], jobs: ['>'] }, via: 'anonymous' };
}

/** Whether `p` may do `action` on `resource` (a topic for publish, a filter for subscribe, a job type for run). */
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
    case 'run':
      // Job types share the topic grammar: `winrm.*` matches `winrm.exec`, `>` matches every type.
      if (!resource || /[*>]/.test(resource)) return false;
      return p.acl.jobs.some((pattern) => topicMatches(pattern, resource));
    default:
      return false;
  }
}

/** Throws SB_ERR_FORBIDDEN ("user alice may not publish to orders.eu") unless `canPerform`. */
export function assertCan(p: Principal, action: Action, resource?: string): void {
  if (canPerform(p, action, resource)) return;
  const what = action === 'manage' ? 'manage topics, channels, users or workers'
    : action === 'run' ? `run jobs of type ${(resource ?? '(no type)').slice(0, 200)}`
      : `${action} to ${(resource ?? '(no topic)').slice(0, 200)}`;
  throw errors.forbidden(`user ${p.name} may not ${what}`);
}
