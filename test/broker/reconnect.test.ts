import assert from 'node:assert/strict';
import { isSbError, type BackboneStatus } from '../../broker/index.js';
import { NatsServer } from '../support/nats-server.js';
import { startBroker, until, type TestBroker } from './helpers.js';

describe('broker while NATS goes down and comes back (private nats-server)', () => {
  let srv: NatsServer;
  let tb: TestBroker;

  before(async () => {
    srv = await NatsServer.start();
    tb = await startBroker({ url: srv.url, bucket: 'sb_config', publishTimeoutMs: 2000 });
  });
  after(async () => {
    await tb?.broker.close({ deadlineMs: 1000 });
    await srv?.dispose();
  });

  it('rejects publishes with SB_ERR_BACKBONE_UNAVAILABLE while down and works again after restart', async () => {
    const topic = 'orders.eu';
    await tb.broker.topics.create({ name: topic });
    const before = await tb.broker.publish({ topic, data: Buffer.from('before') });
    assert.equal(before.seq, 1);
    const seen: BackboneStatus['type'][] = [];
    tb.broker.onStatus((s) => seen.push(s.type));

    await srv.stop('SIGKILL');
    await until(() => !tb.broker.ready(), 5000, 'broker notices the loss');
    const t0 = Date.now();
    await assert.rejects(tb.broker.publish({ topic, data: Buffer.from('down'), idempotencyKey: 'k-down' }), (e) => isSbError(e, 'SB_ERR_BACKBONE_UNAVAILABLE') && e.status === 503);
    assert.ok(Date.now() - t0 < 500, 'rejected at once, not after a timeout');
    assert.notEqual(tb.broker.status().type, 'connected');

    await srv.restart();
    await until(() => tb.broker.ready(), 10_000, 'reconnect');
    assert.equal(tb.broker.status().type, 'connected');
    assert.ok(seen.includes('disconnected') && seen.includes('connected'), seen.join(','));
    const after = await tb.broker.publish({ topic, data: Buffer.from('after'), idempotencyKey: 'k-down' });
    assert.equal(after.duplicate, false, 'the rejected publish was never stored');
    assert.equal((await tb.broker.topics.info(topic)).messages, 2);
  });

  it('settles every in-flight publish when NATS dies: stored ones with a PubAck, the rest with a 503 error', async () => {
    const topic = 'inflight';
    await tb.broker.topics.create({ name: topic });
    const reqs = Array.from({ length: 3000 }, (_, i) => ({ topic, data: Buffer.alloc(512, i % 256), idempotencyKey: `k${i}` }));
    const batch = tb.broker.publishBatch(reqs);
    await srv.stop('SIGKILL'); // while the batch is on the wire
    const out = await batch;
    const ok = out.filter((o) => !isSbError(o));
    const failed = out.filter((o) => isSbError(o));
    console.log(`      in flight at the kill: ${ok.length} acknowledged, ${failed.length} failed`);
    assert.ok(failed.every((e) => isSbError(e, 'SB_ERR_BACKBONE_UNAVAILABLE') || isSbError(e, 'SB_ERR_PUBLISH_TIMEOUT')), 'only retryable 503s');
    await srv.restart();
    await until(() => tb.broker.ready(), 10_000, 'reconnect');
    const info = await tb.broker.topics.info(topic);
    // Every acknowledged publish is stored (file storage survives SIGKILL of a single node after the PubAck).
    assert.ok(info.messages >= ok.length, `${info.messages} stored, ${ok.length} acknowledged`);
    // Retrying the failed ones with the same key stores each message exactly once.
    const retry = await tb.broker.publishBatch(reqs.filter((_, i) => isSbError(out[i])));
    assert.ok(retry.every((r) => !isSbError(r)));
    assert.equal((await tb.broker.topics.info(topic)).messages, 3000);
  });

  it('createBroker rejects with SB_ERR_BACKBONE_UNAVAILABLE when NATS is unreachable', async () => {
    const down = await NatsServer.start();
    const url = down.url;
    await down.dispose();
    await assert.rejects(startBroker({ url, bucket: 'sb_config' }), (e) => isSbError(e, 'SB_ERR_BACKBONE_UNAVAILABLE'));
  });
});
