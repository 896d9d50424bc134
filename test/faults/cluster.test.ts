import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { isSbError, topicStreamName, type SbError } from '../../broker/index.js';
import { NatsCluster } from '../support/nats-server.js';
import { startBroker, until, type TestBroker } from '../broker/helpers.js';

const TEMPORARY = new Set(['SB_ERR_BACKBONE_UNAVAILABLE', 'SB_ERR_PUBLISH_TIMEOUT']);

/**
 * DESIGN.md: in a 3-node cluster, SIGKILL of a stream leader stops publishing for seconds, and clients
 * see timeouts and "no responders" until a new leader is elected. Through the broker that must read as
 * a retryable 503 — never "topic not found", never an acknowledged publish that was not stored.
 */
describe('fault: SIGKILL of the stream leader in a 3-node JetStream cluster', function () {
  this.timeout(120_000);
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let tb: TestBroker | undefined;

  before(async () => {
    cluster = await NatsCluster.start(3);
    nc = await connect({ servers: cluster.urls.split(',') });
    jsm = await jetstreamManager(nc, { timeout: 2000, checkAPI: false });
    // JetStream answers only once the cluster elected its meta leader.
    await until(() => jsm.getAccountInfo().then(() => true, () => false), 30_000, 'JetStream cluster ready');
  });
  after(async () => {
    await tb?.broker.close({ deadlineMs: 2000 });
    await nc?.close();
    await cluster?.dispose();
  });

  it('answers publishes with retryable 503s during the election, then stores again; every acknowledged one is in the stream', async () => {
    const bucket = `sbtest_cfg_${randomBytes(4).toString('hex')}`;
    tb = await startBroker({ url: cluster.urls, bucket, publishTimeoutMs: 2000 });
    const topic = `faults.cluster${randomBytes(4).toString('hex')}`;
    await until(() => tb!.broker.topics.create({ name: topic, replicas: 3 }).then(() => true, () => false), 30_000, 'R3 topic created');
    const stream = topicStreamName(topic);
    await until(() => tb!.broker.publish({ topic, data: Buffer.from('warm-up') }).then(() => true, () => false), 30_000, 'first publish');
    const leader = (await jsm.streams.info(stream)).cluster?.leader;
    assert.ok(leader, 'the stream has a leader');

    const acked = new Map<number, string>();
    const failures: SbError[] = [];
    let n = 0;
    const publishOnce = async (): Promise<boolean> => {
      const body = `m-${n++}`;
      try {
        const r = await tb!.broker.publish({ topic, data: Buffer.from(body), idempotencyKey: body });
        acked.set(r.seq, body);
        return true;
      } catch (e) {
        assert.ok(isSbError(e), String(e));
        failures.push(e);
        // A client backs off before retrying a 503; a loop of instant retries would also starve the
        // event loop (rejections are microtasks) so that the connection could never fail over.
        await new Promise((r) => setTimeout(r, 50));
        return false;
      }
    };
    await cluster.kill(leader);
    // Publish until the new leader has stored ten in a row (bounded by the test timeout).
    for (let streak = 0; streak < 10;) streak = (await publishOnce()) ? streak + 1 : 0;

    assert.ok(failures.length > 0, "losing the leader interrupted publishing");
    console.log(`      ${acked.size} acknowledged, ${failures.length} failed: ${[...new Set(failures.map((e) => e.code))].join(", ")}`);
    const codes = new Set(failures.map((e) => e.code));
    for (const c of codes) assert.ok(TEMPORARY.has(c), `only retryable 503s while electing, got ${c}`);
    const newLeader = (await jsm.streams.info(stream)).cluster?.leader;
    assert.ok(newLeader && newLeader !== leader, 'a new leader took over');
    for (const [seq, body] of acked) {
      const m = await jsm.streams.getMessage(stream, { seq });
      assert.equal(m ? Buffer.from(m.data).toString() : null, body, `acknowledged seq ${seq} is stored`);
    }
  });
});
