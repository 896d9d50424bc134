/**
 * The bridges admin API and the runner together: definitions through REST (secrets sealed, never
 * shown), validation, admin only, runtime start/stop/restart without restarting the process, status
 * gathered from the runner, counters and /metrics.
 */
import assert from 'node:assert/strict';
import { Keyring } from '../../broker/secrets.js';
import { createLogger } from '../../broker/log.js';
import { BridgeRunner } from '../../gateways/bridges/runner.js';
import { bridgeKey } from '../../gateways/bridges/definitions.js';
import { until } from '../support/poll.js';
import { basic, dropBucket, http, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';
import { AmqpSide } from './bridge-harness.js';

const bucket = testBucket('bridgeadmin');
const AMQP_USER_URL = 'amqp://guest@127.0.0.1:5672';

describe('bridges: admin API and runner', function () {
  this.timeout(60_000);
  let s: RestStack;
  let runner: BridgeRunner;
  let amqp: AmqpSide;
  let savedKeys: string | undefined;
  const queue = `sb-test-admin-${rand()}`;
  const topic = `bridge.admin.${rand()}`;
  const name = `adm_${rand()}`;

  before(async function () {
    savedKeys = process.env['SB_MASTER_KEYS'];
    process.env['SB_MASTER_KEYS'] = JSON.stringify(Keyring.generate('bridges'));
    s = await startRestStack({ bucket });
    runner = new BridgeRunner({ broker: s.broker, security: s.security, logger: createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent' }), metrics: s.metrics, config: s.config });
    await runner.start();
    amqp = await AmqpSide.open();
    await amqp.ch.assertQueue(queue, { durable: false });
    await s.broker.topics.create({ name: topic, storage: 'memory' });
  });
  after(async function () {
    await runner?.stop({ deadlineMs: 3000 });
    await s?.broker.topics.delete(topic).catch(() => undefined);
    await amqp?.ch.deleteQueue(queue).catch(() => undefined);
    await amqp?.close();
    await s?.dispose();
    await dropBucket(bucket);
    if (savedKeys === undefined) delete process.env['SB_MASTER_KEYS'];
    else process.env['SB_MASTER_KEYS'] = savedKeys;
  });

  const def = (extra: Record<string, unknown> = {}) => ({ kind: 'amqp-in', url: AMQP_USER_URL, password: 'guest', queue, topic, ...extra });
  const statusOf = async (n: string) => (await http(s, 'GET', `/v1/bridges/${n}`)).body?.status?.[0];

  it('creates a bridge (password sealed, never shown) that starts running in the process', async function () {
    const created = await http(s, 'PUT', `/v1/bridges/${name}`, def());
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.password, undefined);
    assert.deepEqual(created.body.secretsSet, ['password']);
    assert.equal(created.body.prefetch, 256, 'defaults are filled');
    const raw = s.broker.config.get<Record<string, unknown>>(bridgeKey(name));
    assert.ok(raw && typeof raw['password'] === 'object' && !JSON.stringify(raw).includes('"guest"'), 'stored sealed');
    await until(async () => (await statusOf(name))?.state === 'running', 10_000, 'running');
    const one = await http(s, 'GET', `/v1/bridges/${name}`);
    assert.equal(one.body.password, undefined);
    assert.equal(one.body.status[0].process, runner.processId);
    const list = await http(s, 'GET', '/v1/bridges');
    assert.equal(list.status, 200);
    const mine = list.body.bridges.find((b: { name: string }) => b.name === name);
    assert.equal(mine.status[0].state, 'running');
    assert.ok(!JSON.stringify(list.body).includes('guest"'), 'no secret in the listing');
  });

  it('counts messages in its status and in /metrics', async function () {
    await amqp.fill(queue, 5, (i) => ({ body: Buffer.from(`s${i}`), props: { messageId: `s-${i}` } }));
    await until(async () => (await statusOf(name))?.counters.forwarded === 5, 10_000, 'forwarded 5');
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    assert.match(metrics, new RegExp(`sb_bridge_messages_total\\{bridge="${name}",kind="amqp-in",outcome="forwarded"\\} 5`));
    assert.match(metrics, new RegExp(`sb_bridge_state\\{bridge="${name}",kind="amqp-in",state="running"\\} 1`));
  });

  it('disables and enables at runtime; a left-out password is kept', async function () {
    const { password: _p, ...noPassword } = def({ enabled: false });
    assert.equal((await http(s, 'PUT', `/v1/bridges/${name}`, noPassword)).status, 200);
    await until(async () => (await statusOf(name))?.state === 'stopped', 10_000, 'stopped');
    await amqp.fill(queue, 3, (i) => ({ body: Buffer.from(`t${i}`), props: { messageId: `t-${i}` } }));
    assert.equal((await s.broker.topics.info(topic)).messages, 5, 'a disabled bridge takes nothing');
    const { password: _q, ...enabled } = def();
    const on = await http(s, 'PUT', `/v1/bridges/${name}`, enabled);
    assert.deepEqual(on.body.secretsSet, ['password']);
    await until(async () => (await s.broker.topics.info(topic)).messages === 8, 10_000, 'the queued 3 arrive once enabled');
    assert.equal((await statusOf(name))?.state, 'running');
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    assert.match(metrics, new RegExp(`sb_bridge_messages_total\\{bridge="${name}",kind="amqp-in",outcome="forwarded"\\} 8`), 'metrics carry over a restart');
  });

  it('restarts on request', async function () {
    const r = await http(s, 'POST', `/v1/bridges/${name}/restart`);
    assert.equal(r.status, 202);
    assert.deepEqual(r.body.processes, [runner.processId]);
    await until(async () => (await statusOf(name))?.state === 'running', 10_000, 'running again');
  });

  it('shows a bridge that cannot work as failed with lastError; the process carries on', async function () {
    const broken = `broken_${rand()}`;
    assert.equal((await http(s, 'PUT', `/v1/bridges/${broken}`, def({ queue: `missing-${rand()}`, reconnect: { initialMs: 100, maxMs: 500 } }))).status, 201);
    const st = await until(async () => { const x = await statusOf(broken); return x?.lastError ? x : undefined; }, 10_000, 'lastError');
    assert.equal(st.state, 'failed', 'a missing queue is a definition problem');
    assert.match(st.lastError.message, /NOT_FOUND|no queue/i);
    assert.equal((await statusOf(name))?.state, 'running', 'the other bridge is untouched');
    assert.equal((await http(s, 'DELETE', `/v1/bridges/${broken}`)).status, 204);
  });

  it('answers 400 with SB_ERR_VALIDATION on a bad body', async function () {
    const bad: unknown[] = [
      { kind: 'nope', url: AMQP_USER_URL, queue, topic },
      { kind: 'amqp-in', url: AMQP_USER_URL, topic },
      { ...def(), extra: 1 },
      { ...def(), url: 'amqp://guest:secret@127.0.0.1:5672' },
      { ...def(), topic: 'bad topic' },
      { ...def(), prefetch: 0 },
      { kind: 'amqp-out', url: AMQP_USER_URL, exchange: 'x' },
    ];
    for (const body of bad) {
      const r = await http(s, 'PUT', `/v1/bridges/v_${rand()}`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'SB_ERR_VALIDATION');
      assert.ok(!JSON.stringify(r.body).includes('secret'), 'no secret in the error');
    }
  });

  it('is admin only (403 for other users)', async function () {
    const user = `u_${rand()}`;
    assert.equal((await http(s, 'POST', '/v1/users', { name: user, password: 'pw-pw-pw-pw', acl: { publish: ['>'], subscribe: ['>'] } })).status, 201);
    const auth = basic(user, 'pw-pw-pw-pw');
    for (const [method, path, body] of [['GET', '/v1/bridges'], ['GET', `/v1/bridges/${name}`], ['PUT', `/v1/bridges/${name}`, def()], ['DELETE', `/v1/bridges/${name}`]] as const) {
      const r = await http(s, method, path, body, auth);
      assert.equal(r.status, 403, `${method} ${path}`);
    }
  });

  it('deletes: the process stops it, GET answers 404', async function () {
    assert.equal((await http(s, 'DELETE', `/v1/bridges/${name}`)).status, 204);
    await until(() => !runner.statuses().some((x) => x.name === name), 10_000, 'stopped and gone');
    const gone = await http(s, 'GET', `/v1/bridges/${name}`);
    assert.equal(gone.status, 404);
  });
});
