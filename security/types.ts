/** The security contract that gateways call at the edge. Implemented by `createSecurity()`. */

/** Who is calling. `admin` may do everything; others are limited by their ACL. */
export interface Principal {
  name: string;
  roles: string[];
  /** Topic patterns (`*`, `>` allowed) this principal may publish to / subscribe to; job-type patterns it may run. */
  acl: { publish: string[]; subscribe: string[]; jobs: string[] };
  /** How they proved it: `basic`, `apikey`, or `anonymous` when auth is off. */
  via: 'basic' | 'apikey' | 'anonymous';
}

/**
 * What a principal wants to do. `manage` covers topics, channels, users and the worker registry (admin
 * role only); `run` submits a job of a type (the resource) one of `acl.jobs` matches.
 */
export type Action = 'publish' | 'subscribe' | 'run' | 'manage';

/** A stored user as the admin API shows it (never a hash or a key). */
export interface UserView {
  name: string;
  roles: string[];
  acl: { publish: string[]; subscribe: string[]; jobs: string[] };
  apiKeys: Array<{ id: string; createdAt: string; label?: string }>;
  createdAt: string;
}

/** User administration over the config store. */
export interface UserAdmin {
  create(input: { name: string; password?: string; roles?: string[]; acl?: { publish?: string[]; subscribe?: string[]; jobs?: string[] } }): Promise<UserView>;
  update(name: string, patch: { password?: string; roles?: string[]; acl?: { publish?: string[]; subscribe?: string[]; jobs?: string[] } }): Promise<UserView>;
  get(name: string): UserView;
  list(): UserView[];
  delete(name: string): Promise<void>;
  /** Returns the key once, in clear; only its hash is stored. */
  createApiKey(name: string, label?: string): Promise<{ id: string; key: string }>;
  revokeApiKey(name: string, id: string): Promise<void>;
}

/**
 * A per-connection memo a gateway keeps (on the socket): a repeated, identical Authorization header on
 * the same connection reuses the principal while the user's stored record is the very same object, so
 * a password change, key revocation, ACL edit or deletion on any replica takes effect on the next
 * request. Opaque to gateways: they only create an empty one per connection and pass it in.
 */
export interface AuthSession {
  header?: string;
  principal?: Principal;
  record?: unknown;
  expiresAt?: number;
}

/** Authentication and authorization at the edge. */
export interface Security {
  /** Resolves the `Authorization` header to a principal; throws SB_ERR_UNAUTHENTICATED. `session`: see {@link AuthSession}. */
  authenticate(authorization: string | undefined, session?: AuthSession): Promise<Principal>;
  /** Whether `principal` may do `action` on `resource` (a topic name or filter; ignored for manage). */
  can(principal: Principal, action: Action, resource?: string): boolean;
  /** Like `can`, but throws SB_ERR_FORBIDDEN. */
  assert(principal: Principal, action: Action, resource?: string): void;
  readonly users: UserAdmin;
  readonly enabled: boolean;
}
