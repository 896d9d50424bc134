import assert from 'node:assert/strict';
import { isSbError, type Broker } from '../../broker/index.js';
import { createSecurity, userKey, type AuthSession } from '../../security/index.js';
import type { StoredUser } from '../../schemas/index.js';
import { captureLogger, dropBuckets, nextChange, startBroker, uniqueBucket } from './support.js';

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

describe('security: bootstrap and replicas', function () {
  this.timeout(20_000);
  const { logger, lines } = captureLogger();
  const brokers: Broker[] = [];
  const buckets: string[] = [];

  async function broker(bucket: string): Promise<Broker> {
    const b = await startBroker(bucket, logger);
    brokers.push(b);
    return b;
  }
  function freshBucket(): string {
    const b = uniqueBucket();
    buckets.push(b);
    return b;
  }

  afterEach(async () => {
    for (const b of brokers.splice(0)) await b.close();
    await dropBuckets(buckets.splice(0));
  });

  it('creates admin with SB_ADMIN_PASSWORD; a second start on the same bucket keeps it', async () => {
    const bucket = freshBucket();
    const a = await broker(bucket);
    const first = await createSecurity({ config: a.config, logger, enabled: true, adminPassword: 'from-env-pw' });
    assert.equal(first.generatedAdminPassword, undefined, 'nothing to print when the operator chose the password');
    const admin = await first.security.authenticate(basic('admin', 'from-env-pw'));
    assert.deepEqual({ roles: admin.roles, acl: admin.acl }, { roles: ['admin'], acl: { publish: ['>'], subscribe: ['>'], jobs: ['>'] } });
    assert.ok(first.security.can(admin, 'manage'));
    const record = a.config.get<StoredUser>(userKey('admin'));

    const b = await broker(bucket);
    const second = await createSecurity({ config: b.config, logger, enabled: true, adminPassword: 'another-pw' });
    assert.equal(second.generatedAdminPassword, undefined);
    assert.deepEqual(b.config.get<StoredUser>(userKey('admin')), record, 'the stored admin is untouched');
    await second.security.authenticate(basic('admin', 'from-env-pw'));
    assert.ok(isSbError(await second.security.authenticate(basic('admin', 'another-pw')).catch((e: unknown) => e), 'SB_ERR_UNAUTHENTICATED'));
    assert.deepEqual(second.security.users.list().map((u) => u.name), ['admin']);
  });

  it('generates a 24-character admin password once and never logs it', async () => {
    const bucket = freshBucket();
    const a = await broker(bucket);
    const first = await createSecurity({ config: a.config, logger, enabled: true });
    const pw = first.generatedAdminPassword;
    assert.ok(pw !== undefined);
    assert.equal(pw.length, 24);
    assert.equal((await first.security.authenticate(basic('admin', pw))).name, 'admin');
    assert.ok(!lines.join('\n').includes(pw), 'the generated password is not in the log');
    assert.ok(lines.some((l) => l.includes('bootstrap admin user created')));

    const again = await createSecurity({ config: (await broker(bucket)).config, logger, enabled: true });
    assert.equal(again.generatedAdminPassword, undefined, 'a restart does not make a new password');
    assert.equal((await again.security.authenticate(basic('admin', pw))).name, 'admin');
  });

  it('two replicas starting together on a fresh bucket create exactly one admin', async () => {
    const bucket = freshBucket();
    const [a, b] = await Promise.all([broker(bucket), broker(bucket)]);
    const results = await Promise.all([a, b].map((x) => createSecurity({ config: x.config, logger, enabled: true })));
    const generated = results.map((r) => r.generatedAdminPassword).filter((p): p is string => p !== undefined);
    assert.equal(generated.length, 1, 'one replica won the create and prints the password');
    const stored = await Promise.all([a, b].map(async (x) => {
      // The loser learns of the winner's record through its watch; the check and the subscription are
      // synchronous, so the change cannot slip in between.
      if (x.config.get(userKey('admin')) === undefined) await nextChange(x, userKey('admin'));
      return x.config.get<StoredUser>(userKey('admin'));
    }));
    assert.deepEqual(stored[0], stored[1], 'both replicas hold the same admin record');
    for (const r of results) assert.equal((await r.security.authenticate(basic('admin', generated[0]!))).name, 'admin');
  });

  it('a user created on one replica authenticates on another without restart, and a revoke there takes effect', async () => {
    const bucket = freshBucket();
    const [a, b] = await Promise.all([broker(bucket), broker(bucket)]);
    const secA = (await createSecurity({ config: a.config, logger, enabled: true, adminPassword: 'adm' })).security;
    const secB = (await createSecurity({ config: b.config, logger, enabled: true, adminPassword: 'adm' })).security;

    const created = nextChange(b, userKey('grace'));
    await secA.users.create({ name: 'grace', password: 'grace-pw', acl: { subscribe: ['news.>'] } });
    await created;
    const p = await secB.authenticate(basic('grace', 'grace-pw'));
    assert.deepEqual({ name: p.name, acl: p.acl }, { name: 'grace', acl: { publish: [], subscribe: ['news.>'], jobs: [] } });

    const keyAdded = nextChange(b, userKey('grace'), (c) => (c.value as StoredUser | null)?.apiKeys.length === 1);
    const { id, key } = await secA.users.createApiKey('grace');
    await keyAdded;
    assert.equal((await secB.authenticate(`Bearer ${key}`)).name, 'grace');

    const revoked = nextChange(b, userKey('grace'), (c) => (c.value as StoredUser | null)?.apiKeys.length === 0);
    await secA.users.revokeApiKey('grace', id);
    await revoked;
    assert.ok(isSbError(await secB.authenticate(`Bearer ${key}`).catch((e: unknown) => e), 'SB_ERR_UNAUTHENTICATED'));

    const changed = nextChange(b, userKey('grace'));
    await secA.users.update('grace', { password: 'grace-pw-2' });
    await changed;
    assert.ok(isSbError(await secB.authenticate(basic('grace', 'grace-pw')).catch((e: unknown) => e), 'SB_ERR_UNAUTHENTICATED'), 'B\'s cached verification no longer matches');
  });

  it('a connection\'s auth session skips re-verification, yet a change on another replica ends it at once', async () => {
    const bucket = freshBucket();
    const [a, b] = await Promise.all([broker(bucket), broker(bucket)]);
    const secA = (await createSecurity({ config: a.config, logger, enabled: true, adminPassword: 'adm' })).security;
    const secB = (await createSecurity({ config: b.config, logger, enabled: true, adminPassword: 'adm' })).security;
    const created = nextChange(b, userKey('heidi'));
    await secA.users.create({ name: 'heidi', password: 'heidi-pw', acl: { publish: ['a.>'] } });
    await created;

    const session: AuthSession = {};
    const first = await secB.authenticate(basic('heidi', 'heidi-pw'), session);
    assert.equal(await secB.authenticate(basic('heidi', 'heidi-pw'), session), first, 'the same principal object: no verification ran');
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.acl.publish));
    // Another header on the same connection is verified on its own.
    assert.ok(isSbError(await secB.authenticate(basic('heidi', 'wrong'), session).catch((e: unknown) => e), 'SB_ERR_UNAUTHENTICATED'));
    const again = await secB.authenticate(basic('heidi', 'heidi-pw'), session);

    const aclChanged = nextChange(b, userKey('heidi'));
    await secA.users.update('heidi', { acl: { publish: ['b.>'] } });
    await aclChanged;
    const afterAcl = await secB.authenticate(basic('heidi', 'heidi-pw'), session);
    assert.notEqual(afterAcl, again);
    assert.deepEqual(afterAcl.acl.publish, ['b.>'], 'the new ACL applies on the same connection');

    const changed = nextChange(b, userKey('heidi'));
    await secA.users.update('heidi', { password: 'heidi-pw-2' });
    await changed;
    assert.ok(isSbError(await secB.authenticate(basic('heidi', 'heidi-pw'), session).catch((e: unknown) => e), 'SB_ERR_UNAUTHENTICATED'));

    const keyAdded = nextChange(b, userKey('heidi'), (c) => (c.value as StoredUser | null)?.apiKeys.length === 1);
    const { key } = await secA.users.createApiKey('heidi');
    await keyAdded;
    const keySession: AuthSession = {};
    await secB.authenticate(`Bearer ${key}`, keySession);
    const deleted = nextChange(b, userKey('heidi'));
    await secA.users.delete('heidi');
    await deleted;
    assert.ok(isSbError(await secB.authenticate(`Bearer ${key}`, keySession).catch((e: unknown) => e), 'SB_ERR_UNAUTHENTICATED'));
  });
});
