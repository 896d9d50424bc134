import assert from 'node:assert/strict';
import { isSbError, type ConfigChange } from '../../broker/index.js';
import { cleanup, startBroker, uniq, until, type TestBroker } from './helpers.js';

describe('broker across two replicas (config store, ack tokens, reconcile)', () => {
  const root = uniq('br');
  const bucket = uniq('sbtest_cfg_');
  let a: TestBroker;
  let b: TestBroker;

  before(async () => {
    a = await startBroker({ bucket });
    b = await startBroker({ bucket });
  });
  after(async () => {
    await a?.broker.close();
    await b?.broker.close();
    await cleanup({ root, bucket });
  });

  it('a put on one replica is seen and watched on the other without restart', async () => {
    const changes: Array<ConfigChange<{ v: number }>> = [];
    const stop = b.broker.config.watch<{ v: number }>('channel.', (c) => changes.push(c));
    const rev = await a.broker.config.put('channel.rest.orders', { v: 1 });
    await a.broker.config.sync();
    assert.deepEqual(a.broker.config.get('channel.rest.orders'), { v: 1 }, 'read-your-writes after sync');
    await until(() => changes.length >= 1, 3000, 'watch event on replica b');
    assert.deepEqual(changes[0], { key: 'channel.rest.orders', value: { v: 1 }, op: 'put', revision: rev });
    assert.deepEqual(b.broker.config.get('channel.rest.orders'), { v: 1 });
    await a.broker.config.put('channel.rest.orders', { v: 2 });
    await a.broker.config.delete('channel.rest.orders');
    await until(() => changes.length >= 3, 3000, 'update and delete on replica b');
    assert.deepEqual(changes.slice(1).map((c) => [c.op, c.value]), [['put', { v: 2 }], ['delete', null]]);
    assert.equal(b.broker.config.get('channel.rest.orders'), undefined);
    stop();
    await a.broker.config.put('channel.other', { v: 3 });
    await until(() => b.broker.config.get('channel.other') !== undefined, 3000, 'cache update');
    assert.equal(changes.length, 3, 'no events after unsubscribe');
    assert.deepEqual(b.broker.config.list('channel.'), [{ key: 'channel.other', value: { v: 3 } }]);
  });

  it('create refuses an existing key with exists:true', async () => {
    await a.broker.config.create('user.alice', { n: 1 });
    await assert.rejects(b.broker.config.create('user.alice', { n: 2 }), (e) => isSbError(e) && e.data?.['exists'] === true);
    await assert.rejects(a.broker.config.put('bad key', {}), (e) => isSbError(e, 'SB_ERR_VALIDATION'));
  });

  it('a message pulled on one replica is acked on the other', async () => {
    const topic = `${root}.xack`;
    const name = uniq('x-');
    await a.broker.topics.create({ name: topic });
    await a.broker.subscriptions.create({ name, topic, ackWaitMs: 400 });
    await b.broker.config.sync();
    await until(() => b.broker.subscriptions.info(name).then(() => true, () => false), 3000, 'subscription on b');
    await a.broker.publish({ topic, data: Buffer.from('cross') });
    const [m] = await a.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.ok(m);
    const [r] = await b.broker.subscriptions.ack(name, [m.ackToken]);
    assert.equal(r?.ok, true);
    assert.deepEqual(await b.broker.subscriptions.pull(name, { max: 1, waitMs: 900 }), [], 'acked on b: not redelivered');
  });

  it('a wildcard subscription picks up a topic created on another replica', async () => {
    const name = uniq('w-');
    await a.broker.topics.create({ name: `${root}.w.one` });
    await a.broker.subscriptions.create({ name, topic: `${root}.w.>`, deliver: 'new', ackWaitMs: 5000 });
    // b's cache may not have the subscription yet when it creates the topic: a's pull reconciles.
    await b.broker.topics.create({ name: `${root}.w.two.deep` });
    await b.broker.publish({ topic: `${root}.w.two.deep`, data: Buffer.from('deep') });
    const got = await until(async () => {
      const ms = await a.broker.subscriptions.pull(name, { max: 5, waitMs: 300 });
      return ms.length > 0 ? ms : undefined;
    }, 5000, 'message from the new topic');
    assert.equal(got[0]?.topic, `${root}.w.two.deep`);
    assert.equal(Buffer.from(got[0]?.data ?? []).toString(), 'deep');
  });
});

describe('broker dead letters across replicas', () => {
  const root = uniq('bx');
  const bucket = uniq('sbtest_cfg_');
  let a: TestBroker;
  let b: TestBroker;

  beforeEach(async () => {
    a = await startBroker({ bucket });
    b = await startBroker({ bucket });
  });
  afterEach(async () => {
    await a?.broker.close();
    await b?.broker.close();
  });
  after(() => cleanup({ root, bucket }));

  async function setup(suffix: string) {
    const topic = `${root}.${suffix}`;
    const dlq = `${topic}-dlq`;
    const name = uniq(`${suffix}-`);
    await a.broker.topics.create({ name: topic });
    await a.broker.topics.create({ name: dlq });
    await a.broker.subscriptions.create({ name, topic, ackWaitMs: 300, maxDeliver: 1, deadLetterTopic: dlq });
    await until(() => b.broker.subscriptions.info(name).then(() => true, () => false), 3000, 'subscription on b');
    await a.broker.publish({ topic, data: Buffer.from(suffix) });
    return { topic, dlq, name };
  }

  it('a last delivery handed out on one replica and acked on another is not dead-lettered', async () => {
    const { dlq, name } = await setup('ackedelsewhere');
    const [m] = await a.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.ok(m);
    assert.equal((await b.broker.subscriptions.ack(name, [m.ackToken]))[0]?.ok, true);
    // Past a's ack-wait timer (300 ms + margin): a checked the ack floor and kept quiet.
    assert.deepEqual(await a.broker.subscriptions.pull(name, { max: 1, waitMs: 900 }), []);
    assert.equal((await a.broker.topics.info(dlq)).messages, 0);
  });

  it('the MAX_DELIVERIES advisory dead-letters a last delivery whose replica died', async () => {
    const { dlq, name, topic } = await setup('crashed');
    const [m] = await a.broker.subscriptions.pull(name, { max: 1, waitMs: 2000 });
    assert.equal(m?.deliveryCount, 1);
    await a.broker.close({ deadlineMs: 500 }); // takes its ack-wait timer with it, like a crash would
    // On 2.9 the server gives up on the message (and sends the advisory) only when someone pulls.
    const d = await until(async () => {
      await b.broker.subscriptions.pull(name, { max: 1, waitMs: 200 });
      return (await b.broker.topics.info(dlq)).messages > 0;
    }, 8000, 'dead letter from the advisory');
    assert.ok(d);
    const reader = uniq('r-');
    await b.broker.subscriptions.create({ name: reader, topic: dlq, deliver: 'all' });
    const [copy] = await b.broker.subscriptions.pull(reader, { max: 1, waitMs: 2000 });
    assert.equal(copy?.headers['Sb-Dlq-Reason'], 'max_deliver');
    assert.equal(copy?.headers['Sb-Dlq-Topic'], topic);
    assert.equal(Buffer.from(copy?.data ?? []).toString(), 'crashed');
  });
});
