/** The REST gateway at the edge: 401/403, API keys, the users admin API, ACL-filtered listings. */
import assert from 'node:assert/strict';
import { basic, dropBucket, http, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';

const bucket = testBucket('restauth');

describe('REST gateway: authentication, ACL and users', function () {
  let s: RestStack;
  const topics: string[] = [];
  let base: string;
  let user: string;
  const password = 'pw-of-the-orders-app';
  before(async function () {
    s = await startRestStack({ bucket });
    base = `auth.${rand()}`;
    for (const t of [`${base}.orders.eu`, `${base}.billing`]) {
      await s.broker.topics.create({ name: t, storage: 'memory' });
      topics.push(t);
    }
    user = `app_${rand()}`;
    const created = await http(s, 'POST', '/v1/users', {
      name: user, password, acl: { publish: [`${base}.orders.>`], subscribe: [`${base}.orders.*`] },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.password, undefined, 'no secret is echoed');
  });
  after(async function () {
    for (const t of topics) await s.broker.topics.delete(t).catch(() => undefined);
    await s.dispose();
    await dropBucket(bucket);
  });
  const publishAs = (auth: string | null, topic: string) => fetch(`${s.base}/v1/topics/${topic}/messages`, {
    method: 'POST', headers: auth === null ? {} : { authorization: auth }, body: 'x',
  });

  it('answers 401 with WWW-Authenticate without or with wrong credentials', async function () {
    for (const auth of [null, basic(user, 'wrong-password'), basic(`ghost_${rand()}`, password), 'Bearer sb_nope', 'Digest abc']) {
      const res = await publishAs(auth, `${base}.orders.eu`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="switchboard"');
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'SB_ERR_UNAUTHENTICATED');
    }
    assert.equal((await http(s, 'GET', '/v1/topics', undefined, null)).status, 401, 'management needs credentials too');
  });

  it('enforces the publish ACL with 403', async function () {
    assert.equal((await publishAs(basic(user, password), `${base}.orders.eu`)).status, 201);
    const denied = await publishAs(basic(user, password), `${base}.billing`);
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'SB_ERR_FORBIDDEN');
    const batch = await http(s, 'POST', `/v1/topics/${base}.billing/batch`, { messages: [{ data: 1 }] }, basic(user, password));
    assert.equal(batch.status, 403);
  });

  it('enforces the subscribe ACL and filters listings', async function () {
    const auth = basic(user, password);
    const own = `own_${rand()}`;
    assert.equal((await http(s, 'POST', '/v1/subscriptions', { name: own, topic: `${base}.orders.*` }, auth)).status, 201);
    const wide = await http(s, 'POST', '/v1/subscriptions', { name: `wide_${rand()}`, topic: `${base}.>` }, auth);
    assert.deepEqual([wide.status, wide.body.error.code], [403, 'SB_ERR_FORBIDDEN']);
    const other = `other_${rand()}`;
    assert.equal((await http(s, 'POST', '/v1/subscriptions', { name: other, topic: `${base}.billing` })).status, 201);
    const seen = (await http(s, 'GET', '/v1/subscriptions', undefined, auth)).body.subscriptions.map((x: { name: string }) => x.name);
    assert.ok(seen.includes(own) && !seen.includes(other), 'only subscriptions the user may read');
    assert.equal((await http(s, 'GET', `/v1/subscriptions/${other}/messages`, undefined, auth)).status, 403);
    assert.equal((await http(s, 'DELETE', `/v1/subscriptions/${other}`, undefined, auth)).status, 403);
    assert.equal((await http(s, 'GET', `/v1/subscriptions/${own}/messages`, undefined, auth)).status, 200);
    await http(s, 'DELETE', `/v1/subscriptions/${own}`);
    await http(s, 'DELETE', `/v1/subscriptions/${other}`);
  });

  it('keeps management for admins', async function () {
    const auth = basic(user, password);
    assert.equal((await http(s, 'POST', '/v1/topics', { name: `${base}.new` }, auth)).status, 403);
    assert.equal((await http(s, 'GET', '/v1/users', undefined, auth)).status, 403);
    assert.equal((await http(s, 'POST', '/v1/channels', { name: `c${rand()}`, path: `/x${rand()}`, topic: `${base}.billing` }, auth)).status, 403);
  });

  it('authenticates with an API key until it is revoked', async function () {
    const key = await http(s, 'POST', `/v1/users/${user}/keys`, { label: 'ci' });
    assert.equal(key.status, 201);
    const bearer = `Bearer ${key.body.key}`;
    assert.equal((await publishAs(bearer, `${base}.orders.eu`)).status, 201);
    assert.equal((await publishAs(bearer, `${base}.billing`)).status, 403, 'the key carries the user ACL');
    const view = await http(s, 'GET', `/v1/users/${user}`);
    assert.deepEqual(view.body.apiKeys.map((k: { id: string; label: string }) => [k.id, k.label]), [[key.body.id, 'ci']]);
    assert.ok(!JSON.stringify(view.body).includes(key.body.key), 'the key is shown once');
    assert.equal((await http(s, 'DELETE', `/v1/users/${user}/keys/${key.body.id}`)).status, 204);
    assert.equal((await publishAs(bearer, `${base}.orders.eu`)).status, 401);
  });

  it('manages users: create, list, patch, delete, with their error codes', async function () {
    const name = `u_${rand()}`;
    assert.equal((await http(s, 'POST', '/v1/users', { name, password: 'first-password' })).status, 201);
    assert.equal((await http(s, 'POST', '/v1/users', { name })).body.error.code, 'SB_ERR_USER_EXISTS');
    assert.ok((await http(s, 'GET', '/v1/users')).body.users.some((u: { name: string }) => u.name === name));
    const patched = await http(s, 'PATCH', `/v1/users/${name}`, { password: 'second-password', acl: { publish: [`${base}.billing`] } });
    assert.deepEqual(patched.body.acl.publish, [`${base}.billing`]);
    assert.equal((await publishAs(basic(name, 'first-password'), `${base}.billing`)).status, 401);
    assert.equal((await publishAs(basic(name, 'second-password'), `${base}.billing`)).status, 201);
    assert.equal((await http(s, 'DELETE', `/v1/users/${name}`)).status, 204);
    const gone = await http(s, 'GET', `/v1/users/${name}`);
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'SB_ERR_USER_NOT_FOUND']);
    assert.equal((await http(s, 'POST', '/v1/users', { name: 'bad name' })).status, 400);
  });
});
