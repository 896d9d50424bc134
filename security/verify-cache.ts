/**
 * Remembers successful password verifications so that scrypt (tens of ms) runs once per user and
 * password per TTL rather than on every request. Entries are keyed by
 * HMAC-SHA256(processKey, name \0 password \0 storedHash): the clear password is never kept and the
 * key is random per process, so the digests mean nothing outside it (a full heap dump holds the key
 * too, and would let guesses be tested at HMAC speed rather than scrypt's), and a password change
 * changes storedHash, so old entries simply stop matching. Failures are never cached.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** Options of {@link VerifyCache}. */
export interface VerifyCacheOptions {
  /** How long a successful verification is trusted, in ms. Default 300000 (5 min). */
  ttlMs?: number;
  /** Most entries; the oldest is dropped first. Default 10000. */
  maxEntries?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/** A bounded, expiring set of verified (name, password, storedHash) digests. */
export class VerifyCache {
  private readonly key = randomBytes(32);
  // A Map iterates in insertion order, so its first key is the oldest entry.
  private readonly entries = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: VerifyCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 300_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Entries held (expired ones included until touched or evicted). */
  get size(): number {
    return this.entries.size;
  }

  /** The cache key of one verification. */
  digest(name: string, password: string, storedHash: string): string {
    return createHmac('sha256', this.key).update(`${name}\0${password}\0${storedHash}`).digest('base64');
  }

  /** True when `digest` was added less than the TTL ago. */
  has(digest: string): boolean {
    const expires = this.entries.get(digest);
    if (expires === undefined) return false;
    if (expires > this.now()) return true;
    this.entries.delete(digest);
    return false;
  }

  /** Records a successful verification, evicting the oldest entry when full. */
  add(digest: string): void {
    this.entries.delete(digest);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(digest, this.now() + this.ttlMs);
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.clear();
  }
}
