/**
 * Password verification as the edge needs it: cached when it succeeded, throttled when it must run
 * scrypt, and as slow for an unknown user as for a wrong password.
 */
import type { PasswordHash } from '../schemas/user.js';
import { ConcurrencyLimiter, type LimiterOptions } from './limiter.js';
import { DUMMY_HASH, hashPassword, verifyPasswordHash } from './scrypt.js';
import { VerifyCache, type VerifyCacheOptions } from './verify-cache.js';

/** Options of {@link PasswordVerifier}. */
export interface PasswordVerifierOptions {
  /** Concurrency and queue limit of scrypt runs (defaults: cores − 1 capped at 3, and 100 queued). */
  limiter?: LimiterOptions;
  /** TTL and size of the success cache (defaults 5 min and 10000). */
  cache?: VerifyCacheOptions;
}

/** Hashes and verifies passwords through one concurrency limit and one success cache. */
export class PasswordVerifier {
  readonly limiter: ConcurrencyLimiter;
  readonly cache: VerifyCache;
  private readonly inflight = new Map<string, Promise<boolean>>();

  constructor(opts: PasswordVerifierOptions = {}) {
    this.limiter = new ConcurrencyLimiter(opts.limiter);
    this.cache = new VerifyCache(opts.cache);
  }

  /** Hashes a new password (admin path; shares the limit so it cannot be used to bypass it). */
  hash(password: string): Promise<PasswordHash> {
    return this.limiter.run(() => hashPassword(password));
  }

  /**
   * True when `password` is right for user `name` whose stored hash is `stored`. With no stored hash
   * (unknown user, or a user with API keys only) it burns one dummy verification and returns false.
   * May throw SB_ERR_RATE_LIMITED when too many verifications are queued.
   */
  async verify(name: string, password: string, stored: PasswordHash | undefined): Promise<boolean> {
    const target = stored ?? DUMMY_HASH;
    const digest = this.cache.digest(name, password, `${target.salt}$${target.hash}`);
    if (stored && this.cache.has(digest)) return true;
    // Many connections opening at once with the same credentials share one scrypt run instead of
    // queueing one each (64 cold keep-alive connections would otherwise wait 64 × ~60 ms).
    let run = this.inflight.get(digest);
    if (!run) {
      run = this.limiter.run(() => verifyPasswordHash(password, target).catch(() => false))
        .finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, run);
    }
    const ok = await run;
    if (ok && stored) this.cache.add(digest);
    return ok && stored !== undefined;
  }
}
