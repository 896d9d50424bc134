/**
 * Password hashing with node:crypto scrypt. Always the async `scrypt`: it runs on the libuv thread
 * pool, so a 16384-round hash (tens of ms) never blocks the event loop of a request path.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { PasswordHash } from '../schemas/user.js';

/** The parameters of every new hash (OWASP's scrypt minimum: N=2^14, r=8, p=1). */
export const SCRYPT_PARAMS = { N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

function derive(password: string, salt: Buffer, N: number, r: number, p: number, keyBytes: number): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; the default maxmem (32 MiB) would refuse the larger stored params we accept.
  const opts: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyBytes, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(password: string): Promise<PasswordHash> {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT_PARAMS;
  const salt = randomBytes(saltBytes);
  const key = await derive(password, salt, N, r, p, keyBytes);
  return { algo: 'scrypt', N, r, p, salt: salt.toString('base64'), hash: key.toString('base64') };
}

/** True when `password` matches `stored`; compares in constant time. */
export async function verifyPasswordHash(password: string, stored: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64');
  if (expected.length < 16) return false;
  const key = await derive(password, Buffer.from(stored.salt, 'base64'), stored.N, stored.r, stored.p, expected.length);
  return timingSafeEqual(key, expected);
}

/**
 * A hash of a password nobody knows. Verifying against it costs as much as a real verification, so an
 * unknown user name takes as long to reject as a wrong password (no user enumeration by timing).
 */
export const DUMMY_HASH: PasswordHash = {
  algo: 'scrypt', N: SCRYPT_PARAMS.N, r: SCRYPT_PARAMS.r, p: SCRYPT_PARAMS.p,
  salt: randomBytes(SCRYPT_PARAMS.saltBytes).toString('base64'),
  hash: randomBytes(SCRYPT_PARAMS.keyBytes).toString('base64'),
};
