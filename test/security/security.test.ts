import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { isSbError, type Broker, type SbError } from '../../broker/index.js';
import { createSecurity, type Security } from '../../security/index.js';
import { captureLogger, dropBuckets, startBroker, uniqueBucket } from './support.js';

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const uniq = (p: string) => `${p}-${randomBytes(3).toString('hex')}`;

/** Awaits `p` and returns its SbError, failing the test if it resolves or throws anything else. */
async function failure(p: Promise<unknown>): Promise<SbError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isSbError(e), `expected an SbError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('security: createSecurity on a real broker', function () {
  this.timeout(20_000);
  const bucket = uniqueBucket();
  const { logger, lines } = captureLogger();
  let broker: Broker;
  let security: Security;

  before(async () => {
    broker = await startBroker(bucket, logger);
    ({ security } = await createSecurity({ config: broker.config, logger, enabled: true, adminPassword: 'boot-admin-pw' }));
  });
  after(async () => {
    await broker?.close();
    await dropBuckets([bucket]);
  });

  it('Basic: the right password gives the user\'s principal; wrong password, unknown user and key-only user get the same 401', async () => {
    const name = uniq('alice');
    const view = await security.users.create({ name, password: 'pw-alice-1', acl: { publish: ['orders.>'], subscribe: ['orders.*'] } });
    assert.deepEqual(view.acl, { publish: ['orders.>'], subscribe: ['orders.*'], jobs: [] });
    const p = await security.authenticate(basic(name, 'pw-alice-1'));
    assert.deepEqual(p, { name, roles: [], acl: { publish: ['orders.>'], subscribe: ['orders.*'], jobs: [] }, via: 'basic' });
    assert.ok(security.can(p, 'publish', 'orders.eu'));
    assert.throws(() => security.assert(p, 'publish', 'billing.eu'), (e) => isSbError(e, 'SB_ERR_FORBIDDEN'));

    const keyOnly = uniq('svc');
    await security.users.create({ name: keyOnly });
    const msgs = new Set<string>();
    for (const h of [basic(name, 'pw-alice-2'), basic(uniq('ghost'), 'pw-alice-1'), basic(keyOnly, 'anything')]) {
      const e = await failure(security.authenticate(h));
      assert.equal(e.code, 'SB_ERR_UNAUTHENTICATED');
      msgs.add(e.message);
    }
    assert.equal(msgs.size, 1, 'one message for every failure: it does not tell whether the user exists');
  });

  it('a cached authenticate is >20× faster than the first; a password change stops the old one at once', async () => {
    const name = uniq('carol');
    await security.users.create({ name, password: 'first-pw' });
    let t = performance.now();
    await security.authenticate(basic(name, 'first-pw'));
    const firstUs = (performance.now() - t) * 1000;
    const n = 2000;
    const header = basic(name, 'first-pw');
    t = performance.now();
    for (let i = 0; i < n; i++) await security.authenticate(header);
    const cachedUs = ((performance.now() - t) * 1000) / n;
    console.log(`      authenticate(Basic): first ${firstUs.toFixed(0)} µs, cached ${cachedUs.toFixed(2)} µs`);
    assert.ok(cachedUs < firstUs / 20, `cached ${cachedUs} µs vs first ${firstUs} µs`);

    await security.users.update(name, { password: 'second-pw' });
    assert.equal((await failure(security.authenticate(header))).code, 'SB_ERR_UNAUTHENTICATED');
    assert.equal((await security.authenticate(basic(name, 'second-pw'))).name, name);
  });

  it('API key: create → authenticate with Bearer → revoke → 401; views never show a hash', async () => {
    const name = uniq('bot');
    await security.users.create({ name, acl: { publish: ['jobs.>'] } });
    const { id, key } = await security.users.createApiKey(name, 'ci runner');
    assert.match(key, new RegExp(`^sb_${id}_[A-Za-z0-9_-]{43}$`));
    const p = await security.authenticate(`Bearer ${key}`);
    assert.deepEqual({ name: p.name, via: p.via }, { name, via: 'apikey' });

    const view = security.users.get(name);
    assert.deepEqual(view.apiKeys.map((k) => ({ id: k.id, label: k.label })), [{ id, label: 'ci runner' }]);
    const listed = JSON.stringify(security.users.list());
    assert.ok(!/"hash"|"salt"/.test(listed) && !listed.includes(key.slice(16)), 'no hashes or secrets in views');

    // A key with the right id but a wrong secret.
    const forged = `sb_${id}_${'A'.repeat(43)}`;
    assert.equal((await failure(security.authenticate(`Bearer ${forged}`))).code, 'SB_ERR_UNAUTHENTICATED');
    await security.users.revokeApiKey(name, id);
    assert.equal((await failure(security.authenticate(`Bearer ${key}`))).code, 'SB_ERR_UNAUTHENTICATED');
    assert.equal((await failure(security.users.revokeApiKey(name, id))).code, 'SB_ERR_API_KEY_NOT_FOUND');
  });

  it('malformed Authorization headers of several kinds → SB_ERR_UNAUTHENTICATED (401)', async () => {
    const headers = [
      undefined, '', 'Basic', 'Basic not-base64!', `Basic ${Buffer.from('no-colon').toString('base64')}`, 'Bearer', 'Bearer sb_short',
      'Bearer not-a-key', `Bearer sb_${'z'.repeat(12)}_${'A'.repeat(43)}`, 'Digest username="admin"', 'admin:boot-admin-pw', `Basic ${'QUFB'.repeat(2000)}`,
    ];
    for (const h of headers) {
      const e = await failure(security.authenticate(h));
      assert.equal(e.code, 'SB_ERR_UNAUTHENTICATED', String(h));
      assert.equal(e.status, 401);
    }
  });

  it('user admin errors: bad name, duplicate, missing user, bad ACL pattern, bad password', async () => {
    const name = uniq('dave');
    await security.users.create({ name, password: 'pw' });
    const cases: Array<[Promise<unknown>, string]> = [
      [security.users.create({ name: 'no.dots' }), 'SB_ERR_INVALID_NAME'],
      [security.users.create({ name: 'x'.repeat(65) }), 'SB_ERR_INVALID_NAME'],
      [security.users.create({ name }), 'SB_ERR_USER_EXISTS'],
      [security.users.update(uniq('nobody'), { roles: [] }), 'SB_ERR_USER_NOT_FOUND'],
      [security.users.delete(uniq('nobody')), 'SB_ERR_USER_NOT_FOUND'],
      [security.users.createApiKey(uniq('nobody')), 'SB_ERR_USER_NOT_FOUND'],
      [security.users.create({ name: uniq('erin'), acl: { publish: ['orders.>.x'] } }), 'SB_ERR_INVALID_TOPIC_NAME'],
      [security.users.update(name, { password: '' }), 'SB_ERR_VALIDATION'],
    ];
    for (const [p, code] of cases) assert.equal((await failure(p)).code, code);
    assert.throws(() => security.users.get(uniq('nobody')), (e) => isSbError(e, 'SB_ERR_USER_NOT_FOUND'));
    await security.users.delete(name);
    assert.equal((await failure(security.authenticate(basic(name, 'pw')))).code, 'SB_ERR_UNAUTHENTICATED');
  });

  it('no password or API key ever appears in an error or a log line', async () => {
    const name = uniq('frank');
    const password = `Pw-${randomBytes(8).toString('hex')}`;
    await security.users.create({ name, password });
    const { key } = await security.users.createApiKey(name);
    await security.authenticate(basic(name, password));
    await security.authenticate(`Bearer ${key}`);
    const errs = [
      await failure(security.authenticate(basic(name, `${password}x`))),
      await failure(security.authenticate(basic(`${name}x`, password))),
      await failure(security.authenticate(`Bearer ${key}x`)),
      await failure(security.authenticate(`Basic ${password}`)),
      await failure(security.authenticate(`${password}`)),
      await failure(security.users.update(name, { password: 'x'.repeat(2000) })),
    ];
    const secrets = [password, key, key.slice(16), 'boot-admin-pw'];
    const text = [...errs.map((e) => `${e.message} ${JSON.stringify(e.toWire())} ${String(e.cause ?? '')}`), ...lines].join('\n');
    for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked: ${s.slice(0, 4)}…`);
    assert.ok(lines.some((l) => l.includes('user created')), 'the logger was in use');
  });

  it('a hand-edited invalid user record is ignored, not trusted and not fatal', async () => {
    const name = uniq('mallory');
    // Roles as a string and an extra field: fails the StoredUser schema.
    await broker.config.put(`user.${name}`, { name, roles: 'admin', acl: { publish: ['>'], subscribe: ['>'] }, apiKeys: [], createdAt: 'now', extra: 1 });
    await broker.config.sync();
    assert.equal((await failure(security.authenticate(basic(name, 'anything')))).code, 'SB_ERR_UNAUTHENTICATED');
    assert.ok(!security.users.list().some((u) => u.name === name));
    assert.throws(() => security.users.get(name), (e) => isSbError(e, 'SB_ERR_USER_NOT_FOUND'));
    assert.ok(lines.some((l) => l.includes('ignoring an invalid user record') && l.includes(name)));
  });

  it('with auth off every request is the anonymous admin and no admin user is bootstrapped', async () => {
    const b2 = uniqueBucket();
    const other = await startBroker(b2, logger);
    try {
      const off = await createSecurity({ config: other.config, logger, enabled: false });
      assert.equal(off.generatedAdminPassword, undefined);
      assert.equal(off.security.enabled, false);
      const p = await off.security.authenticate(undefined);
      assert.deepEqual(p, { name: 'anonymous', roles: ['admin'], acl: { publish: ['>'], subscribe: ['>'], jobs: ['>'] }, via: 'anonymous' });
      assert.deepEqual(off.security.users.list(), []);
    } finally {
      await other.close();
      await dropBuckets([b2]);
    }
  });
});
