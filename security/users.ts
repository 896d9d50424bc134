/**
 * User administration over the config store. Every replica sees a change through the store's watch,
 * so a user created or a key revoked on one replica takes effect on all of them without a restart.
 */
import { SbError, errors, isSbError } from '../broker/errors.js';
import type { Logger } from '../broker/log.js';
import type { ConfigStore } from '../broker/types.js';
import { API_KEYS_MAX, type StoredUser } from '../schemas/user.js';
import { generateApiKey } from './api-keys.js';
import type { PasswordVerifier } from './password-verifier.js';
import type { UserAdmin, UserView } from './types.js';
import {
  USER_KEY_PREFIX, asStoredUser, checkPatterns, checkRoles, toUserView, userKey, validateNewPassword, validateUserName,
} from './user-records.js';

type UserInput = Parameters<UserAdmin['create']>[0];
type UserPatch = Parameters<UserAdmin['update']>[1];

/** Thrown for a name with no user record. */
export function userNotFound(name: string): SbError {
  return new SbError('SB_ERR_USER_NOT_FOUND', `user ${name} does not exist`, { data: { user: name } });
}

/** {@link UserAdmin} backed by `user.<name>` records in a {@link ConfigStore}. */
export class ConfigUserAdmin implements UserAdmin {
  constructor(
    private readonly config: ConfigStore,
    private readonly verifier: PasswordVerifier,
    private readonly log: Logger,
  ) {}

  /** The current stored record of `name` (from the store's cache), or undefined. */
  stored(name: string): StoredUser | undefined {
    return asStoredUser(this.config.get(userKey(name)), name);
  }

  async create(input: UserInput): Promise<UserView> {
    validateUserName(input.name);
    if (input.password !== undefined) validateNewPassword(input.password);
    const user: StoredUser = {
      name: input.name,
      roles: checkRoles(input.roles ?? []),
      acl: {
        publish: checkPatterns('publish', input.acl?.publish ?? []),
        subscribe: checkPatterns('subscribe', input.acl?.subscribe ?? []),
        jobs: checkPatterns('jobs', input.acl?.jobs ?? []),
      },
      apiKeys: [],
      createdAt: new Date().toISOString(),
    };
    if (this.config.get(userKey(user.name)) !== undefined) throw userExists(user.name);
    if (input.password !== undefined) user.password = await this.verifier.hash(input.password);
    await this.createRecord(user);
    this.log.info({ user: user.name, roles: user.roles }, 'user created');
    return toUserView(user);
  }

  /**
   * Writes a new record with the store's create-if-absent, so two replicas racing for the same name
   * agree on one winner. Throws SB_ERR_USER_EXISTS for the loser.
   */
  private async createRecord(user: StoredUser): Promise<void> {
    try {
      await this.config.create(userKey(user.name), user);
    } catch (e) {
      if (isSbError(e) && e.data?.['exists'] === true) throw userExists(user.name);
      await this.config.sync();
      if (this.config.get(userKey(user.name)) !== undefined) throw userExists(user.name);
      throw e;
    }
    await this.config.sync();
  }

  async update(name: string, patch: UserPatch): Promise<UserView> {
    const current = this.require(name);
    if (patch.password !== undefined) validateNewPassword(patch.password);
    const next: StoredUser = { ...current, acl: { ...current.acl } };
    if (patch.roles !== undefined) next.roles = checkRoles(patch.roles);
    if (patch.acl?.publish !== undefined) next.acl.publish = checkPatterns('publish', patch.acl.publish);
    if (patch.acl?.subscribe !== undefined) next.acl.subscribe = checkPatterns('subscribe', patch.acl.subscribe);
    if (patch.acl?.jobs !== undefined) next.acl.jobs = checkPatterns('jobs', patch.acl.jobs);
    // A new hash has a new salt, so cached verifications of the old password stop matching everywhere.
    if (patch.password !== undefined) next.password = await this.verifier.hash(patch.password);
    await this.write(next);
    this.log.info({ user: name, passwordChanged: patch.password !== undefined }, 'user updated');
    return toUserView(next);
  }

  get(name: string): UserView {
    return toUserView(this.require(name));
  }

  list(): UserView[] {
    return this.config
      .list<unknown>(USER_KEY_PREFIX)
      .map(({ key, value }) => asStoredUser(value, key.slice(USER_KEY_PREFIX.length)))
      .filter((u): u is StoredUser => u !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(toUserView);
  }

  async delete(name: string): Promise<void> {
    this.require(name);
    await this.config.delete(userKey(name));
    await this.config.sync();
    this.log.info({ user: name }, 'user deleted');
  }

  async createApiKey(name: string, label?: string): Promise<{ id: string; key: string }> {
    const current = this.require(name);
    if (current.apiKeys.length >= API_KEYS_MAX) throw errors.validation(`user ${name} already has ${API_KEYS_MAX} API keys; revoke one first`);
    if (label !== undefined && (typeof label !== 'string' || label.length > 200)) throw errors.validation('label must be a string of at most 200 characters');
    const { key, stored } = generateApiKey(label);
    await this.write({ ...current, apiKeys: [...current.apiKeys, stored] });
    this.log.info({ user: name, apiKeyId: stored.id }, 'api key created');
    return { id: stored.id, key };
  }

  async revokeApiKey(name: string, id: string): Promise<void> {
    const current = this.require(name);
    if (!current.apiKeys.some((k) => k.id === id)) {
      throw new SbError('SB_ERR_API_KEY_NOT_FOUND', `user ${name} has no API key ${String(id).slice(0, 64)}`, { data: { user: name } });
    }
    await this.write({ ...current, apiKeys: current.apiKeys.filter((k) => k.id !== id) });
    this.log.info({ user: name, apiKeyId: id }, 'api key revoked');
  }

  private require(name: string): StoredUser {
    validateUserName(name);
    const user = this.stored(name);
    if (!user) throw userNotFound(name);
    return user;
  }

  // Read-modify-write without compare-and-set: two admins editing one user at the same instant may
  // lose one edit (the ConfigStore contract has no revision check); last write wins.
  private async write(user: StoredUser): Promise<void> {
    await this.config.put(userKey(user.name), user);
    await this.config.sync();
  }
}

function userExists(name: string): SbError {
  return new SbError('SB_ERR_USER_EXISTS', `user ${name} already exists`, { data: { user: name } });
}
