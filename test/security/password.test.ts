import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { ConcurrencyLimiter, PasswordVerifier, VerifyCache, hashPassword, verifyPasswordHash, SCRYPT_PARAMS } from '../../security/index.js';
import { isSbError } from '../../broker/index.js';

describe('security: passwords', function () {
  // scrypt N=16384 takes tens of ms per run; a busy shared 2-core box can make that several times longer.
  this.timeout(15_000);

  it('hashes with scrypt N=16384 r=8 p=1, a 16-byte salt, a 32-byte key, and verifies only the right password', async () => {
    const h = await hashPassword('correct horse');
    assert.deepEqual({ algo: h.algo, N: h.N, r: h.r, p: h.p }, { algo: 'scrypt', N: SCRYPT_PARAMS.N, r: 8, p: 1 });
    assert.equal(Buffer.from(h.salt, 'base64').length, 16);
    assert.equal(Buffer.from(h.hash, 'base64').length, 32);
    assert.equal(await verifyPasswordHash('correct horse', h), true);
    assert.equal(await verifyPasswordHash('correct horsf', h), false);
    assert.equal(await verifyPasswordHash('', h), false);
    const again = await hashPassword('correct horse');
    assert.notEqual(again.salt, h.salt, 'every hash gets a fresh salt');
  });

  it('caches a successful verification: the second is >20× faster; a password change invalidates it', async () => {
    const v = new PasswordVerifier();
    const stored = await v.hash('s3cret-pw');
    let t = performance.now();
    assert.equal(await v.verify('alice', 's3cret-pw', stored), true);
    const firstUs = (performance.now() - t) * 1000;
    const n = 2000;
    t = performance.now();
    for (let i = 0; i < n; i++) assert.equal(await v.verify('alice', 's3cret-pw', stored), true);
    const cachedUs = ((performance.now() - t) * 1000) / n;
    console.log(`      uncached verify ${firstUs.toFixed(0)} µs, cached verify ${cachedUs.toFixed(2)} µs (${(firstUs / cachedUs).toFixed(0)}×)`);
    assert.ok(cachedUs < firstUs / 20, `cached ${cachedUs} µs vs first ${firstUs} µs`);

    // A wrong password is never served from the cache, nor the right password for another user.
    assert.equal(await v.verify('alice', 's3cret-pwX', stored), false);
    assert.equal(await v.verify('bob', 's3cret-pw', stored), true, 'same hash, other name: verified by scrypt, not cache');
    // After a change the stored hash differs: the old password fails even though it was cached.
    const changed = await v.hash('new-pw');
    assert.equal(await v.verify('alice', 's3cret-pw', changed), false);
    assert.equal(await v.verify('alice', 'new-pw', changed), true);
  });

  it('does not cache failures and rejects an unknown user after a full scrypt run', async () => {
    const v = new PasswordVerifier();
    const stored = await v.hash('pw');
    assert.equal(await v.verify('alice', 'nope', stored), false);
    assert.equal(v.cache.size, 0);
    const t = performance.now();
    assert.equal(await v.verify('ghost', 'pw', undefined), false);
    // The dummy verification costs a real scrypt run (a lookup would be microseconds).
    assert.ok(performance.now() - t > 2, 'unknown user took as long as a real verification');
    assert.equal(v.cache.size, 0);
  });

  it('expires entries after the TTL and keeps at most maxEntries, dropping the oldest', () => {
    let now = 1000;
    const c = new VerifyCache({ ttlMs: 100, maxEntries: 3, now: () => now });
    const d = ['a', 'b', 'c', 'd'].map((x) => c.digest(x, 'pw', 'hash'));
    for (const x of d) c.add(x);
    assert.equal(c.size, 3);
    assert.equal(c.has(d[0]!), false, 'oldest evicted');
    assert.equal(c.has(d[3]!), true);
    now += 100;
    assert.equal(c.has(d[3]!), false, 'expired at TTL');
    assert.notEqual(c.digest('a', 'pw', 'h1'), c.digest('a', 'pw', 'h2'));
  });

  it('runs at most `concurrency` verifications at once and refuses beyond the queue bound', async () => {
    const lim = new ConcurrencyLimiter({ concurrency: 4, maxQueued: 6 });
    let running = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const task = () => new Promise<void>((resolve) => {
      running++;
      peak = Math.max(peak, running);
      gates.push(() => { running--; resolve(); });
    });
    const all = Array.from({ length: 10 }, () => lim.run(task));
    assert.equal(lim.active, 4);
    assert.equal(lim.queued, 6);
    await assert.rejects(lim.run(task), (e) => isSbError(e, 'SB_ERR_RATE_LIMITED'));
    // Release tasks one by one; each release lets exactly one queued task start.
    while (gates.length > 0) {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    assert.equal(peak, 4);
    assert.equal(lim.active, 0);
  });

  it('under a flood of wrong passwords: at most `concurrency` scrypt runs, overflow refused with 429, cached users still get in', async () => {
    const v = new PasswordVerifier({ limiter: { concurrency: 1, maxQueued: 3 } });
    const stored = await v.hash('right');
    assert.equal(await v.verify('alice', 'right', stored), true);
    const flood = Array.from({ length: 6 }, (_, i) => v.verify('alice', `wrong${i}`, stored).then((ok) => ok, (e: unknown) => e));
    assert.equal(v.limiter.active, 1);
    assert.equal(v.limiter.queued, 3);
    // The cache answers without waiting for the queue.
    assert.equal(await v.verify('alice', 'right', stored), true);
    assert.equal(v.limiter.queued, 3, 'the cached verification did not queue');
    const outcomes = await Promise.all(flood);
    assert.deepEqual(outcomes.slice(0, 4), [false, false, false, false]);
    for (const o of outcomes.slice(4)) assert.ok(isSbError(o, 'SB_ERR_RATE_LIMITED') && o.status === 429);
  });

  it('concurrent first logins with the same credentials share one scrypt run', async () => {
    const v = new PasswordVerifier({ limiter: { concurrency: 1, maxQueued: 3 } });
    const stored = await v.hash('right');
    // 20 cold connections at once: without sharing, 16 of them would overflow the queue with 429.
    const logins = Array.from({ length: 20 }, () => v.verify('bob', 'right', stored));
    assert.equal(v.limiter.active + v.limiter.queued, 1, 'one scrypt run for all twenty');
    assert.deepEqual(await Promise.all(logins), Array.from({ length: 20 }, () => true));
    // A wrong password during that is not swept along with the right one.
    const [ok, bad] = await Promise.all([v.verify('carol', 'x1', stored), v.verify('carol', 'x2', stored)]);
    assert.deepEqual([ok, bad], [false, false]);
  });
});
