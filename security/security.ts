/**
 * `createSecurity()`: authentication (Basic and API keys) and ACL checks at the edge, user admin, and
 * the first-start bootstrap of the `admin` user.
 */
import { randomBytes } from 'node:crypto';
import { isSbError } from '../broker/errors.js';
import type { Logger } from '../broker/log.js';
import type { ConfigChange, ConfigStore } from '../broker/types.js';
import type { StoredUser } from '../schemas/user.js';
import { anonymousPrincipal, assertCan, canPerform, ADMIN_ROLE } from './acl.js';
import { ApiKeyIndex, apiKeyMatches, parseApiKey } from './api-keys.js';
import { invalidCredentials, parseAuthorization } from './auth-header.js';
import { PasswordVerifier, type PasswordVerifierOptions } from './password-verifier.js';
import type { Action, AuthSession, Principal, Security } from './types.js';
import { USER_KEY_PREFIX, asStoredUser, userKey } from './user-records.js';
import { ConfigUserAdmin } from './users.js';

// A connection's memo is re-verified at least this often even when nothing changed (1 min).
const SESSION_TTL_MS = 60_000;

/** Options of {@link createSecurity}. */
export interface SecurityOptions {
  config: ConfigStore;
  logger: Logger;
  /** False turns auth off: every request is the anonymous admin (local development only). */
  enabled: boolean;
  /** Password of the `admin` user created at first start (SB_ADMIN_PASSWORD). Default: a generated one. */
  adminPassword?: string;
  /** Limits and cache of password verification (defaults: cores − 1 capped at 3 concurrent, 100 queued, 5 min, 10000 entries). */
  verifier?: PasswordVerifierOptions;
}

/** What {@link createSecurity} returns; `generatedAdminPassword` is set only on the start that created `admin` with a generated password. */
export interface SecuritySetup {
  security: Security;
  generatedAdminPassword?: string;
}

/** Name of the user created at first start. */
export const BOOTSTRAP_ADMIN = 'admin';

class EdgeSecurity implements Security {
  readonly users: ConfigUserAdmin;
  readonly enabled: boolean;
  readonly apiKeys = new ApiKeyIndex();

  constructor(private readonly verifier: PasswordVerifier, users: ConfigUserAdmin, enabled: boolean) {
    this.users = users;
    this.enabled = enabled;
  }

  async authenticate(authorization: string | undefined, session?: AuthSession): Promise<Principal> {
    if (!this.enabled) return anonymousPrincipal();
    // Same connection, same header, same stored record: nothing to verify again (see AuthSession).
    if (session?.principal && authorization !== undefined && session.header === authorization
      && (session.expiresAt ?? 0) > Date.now() && this.users.stored(session.principal.name) === session.record) {
      return session.principal;
    }
    const cred = parseAuthorization(authorization);
    const user = cred.scheme === 'bearer' ? this.byApiKey(cred.token) : await this.byPassword(cred.user, cred.password);
    const principal = principalOf(user, cred.scheme === 'bearer' ? 'apikey' : 'basic');
    if (session) {
      // Frozen: the session hands this same object to every request of its connection.
      deepFreeze(principal);
      Object.assign(session, { header: authorization, principal, record: user, expiresAt: Date.now() + SESSION_TTL_MS });
    }
    return principal;
  }

  can(principal: Principal, action: Action, resource?: string): boolean {
    return canPerform(principal, action, resource);
  }

  assert(principal: Principal, action: Action, resource?: string): void {
    assertCan(principal, action, resource);
  }

  private async byPassword(name: string, password: string): Promise<StoredUser> {
    // An unknown or password-less user still costs one scrypt run, so timing does not tell who exists.
    const user = this.users.stored(name);
    const ok = await this.verifier.verify(name, password, user?.password);
    if (!ok || !user) throw invalidCredentials();
    return user;
  }

  private byApiKey(token: string): StoredUser {
    const parsed = parseApiKey(token);
    const owner = parsed && this.apiKeys.ownerOf(parsed.id);
    const user = owner === undefined ? undefined : this.users.stored(owner);
    const stored = user?.apiKeys.find((k) => k.id === parsed?.id);
    if (!parsed || !user || !stored || !apiKeyMatches(parsed.secret, stored)) throw invalidCredentials();
    return user;
  }
}

function principalOf(user: StoredUser, via: Principal['via']): Principal {
  // Copies, so a gateway that mutates a principal cannot touch the cached record.
  const acl = { publish: [...user.acl.publish], subscribe: [...user.acl.subscribe], jobs: [...(user.acl.jobs ?? [])] };
  return { name: user.name, roles: [...user.roles], acl, via };
}

/** Builds the edge security on a config store, creating the `admin` user at first start. */
export async function createSecurity(opts: SecurityOptions): Promise<SecuritySetup> {
  // The CLI may already hand us a component child; binding `component` twice would duplicate the key.
  const log = 'component' in opts.logger.bindings() ? opts.logger : opts.logger.child({ component: 'security' });
  const verifier = new PasswordVerifier(opts.verifier);
  const users = new ConfigUserAdmin(opts.config, verifier, log);
  const security = new EdgeSecurity(verifier, users, opts.enabled);
  watchApiKeys(opts.config, security.apiKeys, log);
  if (!opts.enabled) {
    // Bootstrapping here would print a password nobody needs; the first start with auth on does it.
    log.warn('authentication is off: every request acts as admin');
    return { security };
  }
  const generated = await bootstrapAdmin(users, opts.config, opts.adminPassword, log);
  return generated === undefined ? { security } : { security, generatedAdminPassword: generated };
}

/** Loads the API key index and keeps it in step with the config store. */
function watchApiKeys(config: ConfigStore, index: ApiKeyIndex, log: Logger): void {
  // Subscribing first and listing second, both synchronous: no change can slip between them.
  config.watch<unknown>(USER_KEY_PREFIX, (change: ConfigChange<unknown>) => {
    const name = change.key.slice(USER_KEY_PREFIX.length);
    const valid = change.op === 'put' ? asStoredUser(change.value, name) : undefined;
    if (change.op === 'put' && !valid) log.warn({ key: change.key }, 'ignoring an invalid user record');
    index.apply(change, valid);
  });
  for (const { key, value } of config.list<unknown>(USER_KEY_PREFIX)) {
    const user = asStoredUser(value, key.slice(USER_KEY_PREFIX.length));
    if (user) index.set(user);
    else log.warn({ key }, 'ignoring an invalid user record');
  }
}

/**
 * Creates `admin` if missing. Uses create-if-absent so that of two replicas starting together exactly
 * one writes it; the other returns no password. Returns the password only when it was generated here.
 */
async function bootstrapAdmin(users: ConfigUserAdmin, config: ConfigStore, adminPassword: string | undefined, log: Logger): Promise<string | undefined> {
  await config.sync();
  if (config.get(userKey(BOOTSTRAP_ADMIN)) !== undefined) return undefined;
  // 18 random bytes are exactly 24 base64url characters (144 bits).
  const generated = adminPassword === undefined ? randomBytes(18).toString('base64url') : undefined;
  try {
    await users.create({ name: BOOTSTRAP_ADMIN, password: adminPassword ?? generated, roles: [ADMIN_ROLE], acl: { publish: ['>'], subscribe: ['>'], jobs: ['>'] } });
  } catch (e) {
    if (isSbError(e, 'SB_ERR_USER_EXISTS')) return undefined;
    throw e;
  }
  log.info({ user: BOOTSTRAP_ADMIN, generated: generated !== undefined }, 'bootstrap admin user created');
  return generated;
}

function deepFreeze(p: Principal): void {
  Object.freeze(p.roles);
  Object.freeze(p.acl.publish);
  Object.freeze(p.acl.subscribe);
  Object.freeze(p.acl.jobs);
  Object.freeze(p.acl);
  Object.freeze(p);
}
