import assert from 'node:assert/strict';
import { isSbError } from '../../broker/index.js';
import { sharedBrokerSuite } from './helpers.js';

describe('broker topics', () => {
  const suite = sharedBrokerSuite('bt');
  const { root } = suite;

  it('creates a topic with retention, reports counts, updates and deletes it', async () => {
    const name = `${root}.orders.eu`;
    const created = await suite.tb.broker.topics.create({ name, retention: { maxMessages: 3, maxAgeMs: 60_000 }, storage: 'memory', dedupWindowMs: 30_000 });
    assert.equal(created.name, name);
    assert.deepEqual(created.retention, { maxAgeMs: 60_000, maxMessages: 3, maxBytes: -1 });
    assert.equal(created.storage, 'memory');
    assert.equal(created.dedupWindowMs, 30_000);
    assert.equal(created.messages, 0);
    assert.equal(created.firstTime, null);
    assert.ok(!Number.isNaN(Date.parse(created.createdAt)));

    for (let i = 0; i < 5; i++) await suite.tb.broker.publish({ topic: name, data: Buffer.from(`m${i}`) });
    const info = await suite.tb.broker.topics.info(name);
    assert.equal(info.messages, 3, 'maxMessages keeps the newest three');
    assert.equal(info.firstSeq, 3);
    assert.equal(info.lastSeq, 5);
    assert.ok(info.lastTime);

    const updated = await suite.tb.broker.topics.update(name, { retention: { maxMessages: 10 } });
    assert.equal(updated.retention.maxMessages, 10);
    assert.equal(updated.retention.maxAgeMs, 60_000, 'unset fields keep their value');
    assert.ok((await suite.tb.broker.topics.list()).some((t) => t.name === name));

    await suite.tb.broker.topics.delete(name);
    await assert.rejects(suite.tb.broker.topics.info(name), (e) => isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND'));
  });

  it('answers 409 for an existing topic and 404 for a missing one', async () => {
    const name = `${root}.dup`;
    await suite.tb.broker.topics.create({ name });
    await assert.rejects(suite.tb.broker.topics.create({ name }), (e) => isSbError(e, 'SB_ERR_TOPIC_EXISTS') && e.status === 409);
    await assert.rejects(suite.tb.broker.topics.create({ name, storage: 'memory' }), (e) => isSbError(e, 'SB_ERR_TOPIC_EXISTS'));
    const missing = `${root}.missing`;
    await assert.rejects(suite.tb.broker.topics.info(missing), (e) => isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND') && e.status === 404);
    await assert.rejects(suite.tb.broker.topics.update(missing, {}), (e) => isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND'));
    await assert.rejects(suite.tb.broker.topics.delete(missing), (e) => isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND'));
  });

  it('keeps topics whose names differ only by dot/underscore apart', async () => {
    const a = await suite.tb.broker.topics.create({ name: `${root}.a.b` });
    const b = await suite.tb.broker.topics.create({ name: `${root}.a_b` });
    assert.equal(a.name, `${root}.a.b`);
    assert.equal(b.name, `${root}.a_b`);
    const r = await suite.tb.broker.publish({ topic: `${root}.a_b`, data: Buffer.from('x') });
    assert.equal((await suite.tb.broker.topics.info(`${root}.a_b`)).messages, 1);
    assert.equal((await suite.tb.broker.topics.info(`${root}.a.b`)).messages, 0);
    assert.equal(r.seq, 1);
  });

  it('rejects invalid names with 400 SB_ERR_INVALID_TOPIC_NAME', async () => {
    for (const bad of ['a b', 'a..b', 'a.*', 'a.>', '', 'x'.repeat(201)]) {
      await assert.rejects(suite.tb.broker.topics.create({ name: bad }), (e) => isSbError(e, 'SB_ERR_INVALID_TOPIC_NAME') && e.status === 400, bad);
      await assert.rejects(suite.tb.broker.publish({ topic: bad, data: new Uint8Array(1) }), (e) => isSbError(e, 'SB_ERR_INVALID_TOPIC_NAME'), bad);
    }
  });
});
