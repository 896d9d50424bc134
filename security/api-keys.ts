/**
 * API keys: `sb_<id>_<secret>`, id = 12 hex chars (the lookup key, not secret), secret = 32 random
 * bytes in base64url. Only sha256(secret) is stored: a 256-bit random secret cannot be guessed, so
 * a slow hash would only cost CPU on every request without adding safety.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StoredApiKey, StoredUser } from '../schemas/user.js';
import type { ConfigChange } from '../broker/types.js';

const KEY_RE = /^sb_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** A parsed API key. */
export interface ParsedApiKey {
  id: string;
  secret: string;
}

/** Makes a new key; `key` is shown to the user once, `stored` goes to the config store. */
export function generateApiKey(label?: string, now = new Date()): { key: string; stored: StoredApiKey } {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const stored: StoredApiKey = { id, hash: hashApiKeySecret(secret), createdAt: now.toISOString() };
  if (label !== undefined) stored.label = label;
  return { key: `sb_${id}_${secret}`, stored };
}

/** Splits a key into id and secret, or returns undefined when it is not shaped like one. */
export function parseApiKey(key: string): ParsedApiKey | undefined {
  const m = KEY_RE.exec(key);
  if (!m?.[1] || !m[2]) return undefined;
  return { id: m[1], secret: m[2] };
}

/** sha256 of the secret part, hex. */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** True when `secret` hashes to `stored.hash`; compares in constant time. */
export function apiKeyMatches(secret: string, stored: StoredApiKey): boolean {
  const expected = Buffer.from(stored.hash, 'hex');
  const actual = createHash('sha256').update(secret).digest();
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

/**
 * id → user name for every API key in the config store, so a Bearer key is found in O(1). Kept in step
 * by the config store's watch; the key itself is always re-checked against the current user record,
 * so a stale entry can never authenticate a revoked key.
 */
export class ApiKeyIndex {
  private readonly owner = new Map<string, string>();
  private readonly idsOf = new Map<string, string[]>();

  /** Number of keys indexed. */
  get size(): number {
    return this.owner.size;
  }

  /** The user name that owns key `id`, if any. */
  ownerOf(id: string): string | undefined {
    return this.owner.get(id);
  }

  /** Replaces what is indexed for `user.name` with its current keys. */
  set(user: StoredUser): void {
    this.remove(user.name);
    const ids = user.apiKeys.map((k) => k.id);
    for (const id of ids) this.owner.set(id, user.name);
    this.idsOf.set(user.name, ids);
  }

  /** Drops every key of user `name`. */
  remove(name: string): void {
    for (const id of this.idsOf.get(name) ?? []) {
      if (this.owner.get(id) === name) this.owner.delete(id);
    }
    this.idsOf.delete(name);
  }

  /** Applies one config store change under `user.`; `valid` is the checked record or undefined. */
  apply(change: ConfigChange<unknown>, valid: StoredUser | undefined): void {
    const name = change.key.slice('user.'.length);
    if (change.op === 'delete' || !valid) this.remove(name);
    else this.set(valid);
  }
}
