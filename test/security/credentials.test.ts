import assert from 'node:assert/strict';
import { ApiKeyIndex, apiKeyMatches, generateApiKey, parseApiKey, parseAuthorization } from '../../security/index.js';
import { isSbError } from '../../broker/index.js';

const basic = (s: string) => `Basic ${Buffer.from(s, 'utf8').toString('base64')}`;

describe('security: credentials parsing', () => {
  it('parses Basic (scheme case-insensitive, colons allowed in the password, UTF-8) and Bearer', () => {
    assert.deepEqual(parseAuthorization(basic('alice:pw')), { scheme: 'basic', user: 'alice', password: 'pw' });
    assert.deepEqual(parseAuthorization(basic('alice:a:b:c')), { scheme: 'basic', user: 'alice', password: 'a:b:c' });
    assert.deepEqual(parseAuthorization(basic('alice:pässwörd')), { scheme: 'basic', user: 'alice', password: 'pässwörd' });
    assert.deepEqual(parseAuthorization(`basic ${Buffer.from('bob:x').toString('base64')}`), { scheme: 'basic', user: 'bob', password: 'x' });
    assert.deepEqual(parseAuthorization('Bearer sb_abc'), { scheme: 'bearer', token: 'sb_abc' });
  });

  it('refuses malformed headers with SB_ERR_UNAUTHENTICATED and never echoes them', () => {
    const bad = [
      undefined, '', '   ', 'Basic', 'Basic ', 'Bearer', 'Bearer  ', 'Basic !!!!', 'Basic c2VjcmV0', // no colon
      basic(':pw-only'), basic('user-only:'), 'Basic c2VjcmV0OnB3=', // bad padding
      'Digest username="x"', 'Token s3cr3t', 'Basic a b', `Basic ${'A'.repeat(5000)}`, 's3cr3t-no-scheme', 'Basic\tc2VjcmV0OnB3',
    ];
    for (const h of bad) {
      assert.throws(() => parseAuthorization(h), (e) => {
        assert.ok(isSbError(e, 'SB_ERR_UNAUTHENTICATED'), `${h}`);
        assert.equal(e.status, 401);
        for (const part of (h ?? '').split(/\s+/)) if (part.length > 6) assert.ok(!e.message.includes(part), `message leaks ${part}`);
        return true;
      }, String(h));
    }
  });

  it('generates sb_<12 hex>_<43 base64url> keys, stores only sha256 of the secret, and matches in constant time', () => {
    const { key, stored } = generateApiKey('ci');
    assert.match(key, /^sb_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(key);
    assert.ok(parsed);
    assert.equal(parsed.id, stored.id);
    assert.equal(stored.label, 'ci');
    assert.match(stored.hash, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(stored).includes(parsed.secret), 'the secret is not stored');
    assert.equal(apiKeyMatches(parsed.secret, stored), true);
    const flipped = (parsed.secret[0] === 'A' ? 'B' : 'A') + parsed.secret.slice(1);
    assert.equal(apiKeyMatches(flipped, stored), false);
    assert.notEqual(generateApiKey().key, generateApiKey().key);
    // Upper-case hex is not an id (an id of digits only would not change under toUpperCase, so force letters).
    const upper = `sb_ABCDEF${stored.id.slice(6)}_${parsed.secret}`;
    for (const k of ['sb_', 'sb_xyz_abc', `sb_${stored.id}_short`, `xx_${stored.id}_${parsed.secret}`, upper]) {
      assert.equal(parseApiKey(k), undefined, k);
    }
  });

  it('indexes key ids by owner and forgets them on revoke or delete', () => {
    const idx = new ApiKeyIndex();
    const a = generateApiKey().stored;
    const b = generateApiKey().stored;
    const user = { name: 'alice', roles: [], acl: { publish: [], subscribe: [] }, apiKeys: [a, b], createdAt: new Date().toISOString() };
    idx.set(user);
    assert.equal(idx.ownerOf(a.id), 'alice');
    idx.set({ ...user, apiKeys: [b] });
    assert.equal(idx.ownerOf(a.id), undefined);
    assert.equal(idx.ownerOf(b.id), 'alice');
    idx.apply({ key: 'user.alice', value: null, op: 'delete', revision: 9 }, undefined);
    assert.equal(idx.size, 0);
  });
});
