/** Secrets at rest: envelope AES-256-GCM with a DEK per value, AAD binding, key ids, keyring loading. */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { isSbError } from '../../broker/errors.js';
import {
  Keyring, ensureKeyringFile, isSealedSecret, keyringFromEnv, openSecret, processKeyring, sealSecret, secretAad, type SealedSecret,
} from '../../broker/secrets.js';

const PLAIN = 'NZaIhMezvK00Y-ünïcødé';
const AAD = secretAad('conn.winrm.dc1', 'password');

function ring(json = Keyring.generate()): Keyring {
  return Keyring.parse(JSON.stringify(json), 'test');
}

function assertUnavailable(fn: () => unknown, mustNotContain: string[] = []): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isSbError(e, 'SB_ERR_SECRETS_UNAVAILABLE'), `expected SB_ERR_SECRETS_UNAVAILABLE, got ${String(e)}`);
    for (const s of mustNotContain) assert.ok(!e.message.includes(s), `message leaks ${s}`);
    return true;
  });
}

function flip(b64: string, index = 0): string {
  const b = Buffer.from(b64, 'base64');
  b[index] = (b[index] as number) ^ 0x01;
  return b.toString('base64');
}

describe('secrets at rest (broker/secrets.ts)', () => {
  it('round-trips a value, and every seal uses a fresh DEK and IVs', () => {
    const k = ring();
    const a = sealSecret(k, PLAIN, AAD);
    const b = sealSecret(k, PLAIN, AAD);
    assert.equal(openSecret(k, a, AAD), PLAIN);
    assert.equal(openSecret(k, b, AAD), PLAIN);
    assert.equal(a.v, 1);
    assert.equal(a.kid, k.active);
    assert.notEqual(a.ct, b.ct);
    assert.notEqual(a.wdek, b.wdek);
    assert.notEqual(a.iv, b.iv);
    assert.equal(Buffer.from(a.iv, 'base64').length, 12);
    assert.equal(Buffer.from(a.tag, 'base64').length, 16);
    assert.ok(isSealedSecret(a));
    assert.ok(!JSON.stringify(a).includes(PLAIN));
    // The empty string is a value too.
    assert.equal(openSecret(k, sealSecret(k, '', AAD), AAD), '');
  });

  it('refuses a ciphertext moved to another record or field (AAD)', () => {
    const k = ring();
    const s = sealSecret(k, PLAIN, AAD);
    assertUnavailable(() => openSecret(k, s, secretAad('conn.winrm.dc2', 'password')), [PLAIN]);
    assertUnavailable(() => openSecret(k, s, secretAad('conn.winrm.dc1', 'tls.key')), [PLAIN]);
  });

  it('refuses tampered ciphertext, tag, IV or wrapped key, and a truncated tag', () => {
    const k = ring();
    const s = sealSecret(k, PLAIN, AAD);
    const variants: SealedSecret[] = [
      { ...s, ct: flip(s.ct) },
      { ...s, tag: flip(s.tag, 15) },
      { ...s, iv: flip(s.iv) },
      { ...s, wdek: flip(s.wdek, 20) },
      { ...s, wdek: flip(s.wdek, 0) },
      // Node accepts a 4-byte tag unless authTagLength is passed (ref/security.md §7.1).
      { ...s, tag: Buffer.from(s.tag, 'base64').subarray(0, 4).toString('base64') },
    ];
    for (const v of variants) assertUnavailable(() => openSecret(k, v, AAD), [PLAIN]);
  });

  it('fails closed on an unknown kid, another keyring, or no keyring', () => {
    const k1 = ring();
    const s = sealSecret(k1, PLAIN, AAD);
    assertUnavailable(() => openSecret(k1, { ...s, kid: 'nope' }, AAD));
    // Same kid, different key material: authentication fails.
    assertUnavailable(() => openSecret(ring(), s, AAD), [PLAIN]);
    assertUnavailable(() => openSecret(undefined, s, AAD));
    assertUnavailable(() => openSecret(k1, { password: PLAIN }, AAD), [PLAIN]);
  });

  it('keeps old keys readable after a rotation and seals with the active one', () => {
    const old = Keyring.generate('k1');
    const s1 = sealSecret(ring(old), PLAIN, AAD);
    const rotated = ring({ active: 'k2', keys: { ...old.keys, ...Keyring.generate('k2').keys } });
    assert.equal(openSecret(rotated, s1, AAD), PLAIN);
    const s2 = sealSecret(rotated, PLAIN, AAD);
    assert.equal(s2.kid, 'k2');
    // A process that still has only k1 cannot open what k2 sealed.
    assertUnavailable(() => openSecret(ring(old), s2, AAD));
  });

  it('rejects malformed keyrings without echoing key material', () => {
    const good = Keyring.generate('k1');
    const keyB64 = good.keys['k1'] as string;
    const bad = [
      'not json',
      JSON.stringify({ active: 'k1' }),
      JSON.stringify({ active: 'k2', keys: good.keys }),
      JSON.stringify({ active: 'k1', keys: { k1: Buffer.alloc(16).toString('base64') } }),
      JSON.stringify({ active: 'k 1', keys: { 'k 1': keyB64 } }),
    ];
    for (const b of bad) assertUnavailable(() => Keyring.parse(b, 'SB_MASTER_KEYS'), [keyB64]);
    const k = ring(good);
    assert.deepEqual(k.kids(), ['k1']);
    assert.ok(!JSON.stringify(k).includes(keyB64));
    assert.ok(!inspect(k, { showHidden: true, depth: 5 }).includes(keyB64));
  });

  it('loads the keyring from SB_MASTER_KEYS or SB_MASTER_KEYS_FILE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-keys-'));
    try {
      const json = Keyring.generate('fk');
      const file = join(dir, 'keys.json');
      await writeFile(file, JSON.stringify(json));
      assert.equal(keyringFromEnv({}), undefined);
      assert.equal(keyringFromEnv({ SB_MASTER_KEYS_FILE: file })?.active, 'fk');
      assert.equal(keyringFromEnv({ SB_MASTER_KEYS: JSON.stringify(Keyring.generate('ik')), SB_MASTER_KEYS_FILE: file })?.active, 'ik');
      assertUnavailable(() => keyringFromEnv({ SB_MASTER_KEYS_FILE: join(dir, 'missing.json') }));

      const saved = { keys: process.env['SB_MASTER_KEYS'], file: process.env['SB_MASTER_KEYS_FILE'] };
      try {
        delete process.env['SB_MASTER_KEYS'];
        delete process.env['SB_MASTER_KEYS_FILE'];
        assertUnavailable(() => processKeyring());
        process.env['SB_MASTER_KEYS_FILE'] = file;
        assert.equal(processKeyring().active, 'fk');
      } finally {
        restore('SB_MASTER_KEYS', saved.keys);
        restore('SB_MASTER_KEYS_FILE', saved.file);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('creates a dev keyring file with mode 0600 once, and keeps it afterwards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-keys-'));
    try {
      const file = join(dir, 'sub', 'master-keys.json');
      assert.deepEqual(await ensureKeyringFile(file), { created: true });
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const first = await readFile(file, 'utf8');
      assert.deepEqual(await ensureKeyringFile(file), { created: false });
      assert.equal(await readFile(file, 'utf8'), first);
      assert.equal(keyringFromEnv({ SB_MASTER_KEYS_FILE: file })?.active, 'k1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
