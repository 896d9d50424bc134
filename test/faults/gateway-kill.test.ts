import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NatsServer } from '../support/nats-server.js';
import { RestClient } from '../../cli/index.js';
import { startDev, type DevChild } from '../cli/process.js';
import { attempt, bodyCounts, deferred, makeMessage, readTopic, type Sent } from './support.js';

const CLIENTS = 10;
// Kill once this many publishes were acknowledged: enough in flight to catch some mid-request.
const KILL_AFTER_201S = 300;

describe('fault: SIGKILL of the gateway while 10 clients publish', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  const devs: DevChild[] = [];

  before(async () => {
    nats = await NatsServer.start();
  });
  after(async () => {
    for (const d of devs) await d.stop('SIGKILL');
    await nats?.dispose();
  });

  it('every 201 is in the stream; retries with the same key store each message exactly once', async () => {
    const first = await startDev(nats.url);
    devs.push(first);
    const topic = `faults.kill${randomBytes(4).toString('hex')}`;
    const auth = { authorization: first.authorization, timeoutMs: 10_000 };
    await new RestClient({ baseUrl: first.url, ...auth }).createTopic({ name: topic });

    const sent: Sent[] = [];
    const client = new RestClient({ baseUrl: first.url, ...auth });
    const enough = deferred();
    let oks = 0;
    let killed = false;
    const unexpected: string[] = [];
    const publisher = async (c: number): Promise<void> => {
      for (let n = 0; ; n++) {
        const m = makeMessage(topic, c, n);
        sent.push(m);
        const r = await attempt(client, topic, m);
        if (r.ok && ++oks === KILL_AFTER_201S) enough.resolve();
        if (!r.ok && !killed) unexpected.push(r.code);
        // After the kill, one failed answer per client ends its loop: that message is left for the retry.
        if (!r.ok && killed) return;
      }
    };
    const publishers = Array.from({ length: CLIENTS }, (_, c) => publisher(c));
    await enough.promise;
    killed = true;
    await first.stop('SIGKILL');
    await Promise.all(publishers);
    assert.deepEqual(unexpected, [], 'no failures before the kill');

    // Ground truth, read from JetStream directly: every acknowledged message is there at its seq.
    const afterKill = await readTopic(nats.url, topic);
    const acked = sent.filter((m) => m.stored.length > 0);
    for (const m of acked) assert.equal(afterKill.get(m.stored[0]?.seq ?? -1), m.body, `201'd ${m.key} missing at its seq`);
    const failed = sent.filter((m) => m.stored.length === 0);
    assert.ok(failed.length >= 1, 'the kill should fail at least one request');
    const storedUnacked = failed.filter((m) => [...afterKill.values()].includes(m.body)).length;

    // Restart the gateway; clients retry their failures with the same key and body.
    const second = await startDev(nats.url, { password: first.password });
    devs.push(second);
    const retryClient = new RestClient({ baseUrl: second.url, ...auth });
    const retries = await Promise.all(failed.map((m) => attempt(retryClient, topic, m)));
    assert.ok(retries.every((r) => r.ok), `every retry answers 201: ${JSON.stringify(retries.filter((r) => !r.ok))}`);
    const duplicates = retries.filter((r) => r.ok && r.duplicate).length;
    // A message the first gateway stored without answering comes back as a duplicate, never stored twice.
    assert.equal(duplicates, storedUnacked, 'retries of stored-but-unanswered messages are duplicates');

    const final = await readTopic(nats.url, topic);
    const counts = bodyCounts(final);
    for (const m of sent) assert.equal(counts.get(m.body), 1, `${m.key} stored exactly once`);
    assert.equal(final.size, sent.length, 'nothing else in the stream');
    for (const m of sent) assert.equal(final.get(m.stored.at(-1)?.seq ?? -1), m.body, `${m.key}: the answered seq holds its body`);

    console.log(`      gateway SIGKILL: ${acked.length} × 201 before the kill, ${failed.length} failed `
      + `(${storedUnacked} of them stored anyway → duplicate on retry), ${final.size} messages stored once each`);
  });
});
