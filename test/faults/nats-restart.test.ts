import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NatsServer } from '../support/nats-server.js';
import { RestClient } from '../../cli/index.js';
import { pollUntil, startDev, type DevChild } from '../cli/process.js';
import { attempt, makeMessage, readTopic, type Attempt, type Sent } from './support.js';

const ALLOWED_DOWN = new Set(['SB_ERR_BACKBONE_UNAVAILABLE', 'SB_ERR_PUBLISH_TIMEOUT']);
const PUBLISHERS = 3;

describe('fault: nats-server SIGKILL and restart under a publishing client', function () {
  this.timeout(90_000);
  let nats: NatsServer;
  let dev: DevChild | undefined;

  before(async () => {
    nats = await NatsServer.start();
  });
  after(async () => {
    await dev?.stop('SIGTERM');
    await nats?.dispose();
  });

  it('answers 503 while NATS is down, 201 again after it is back; every 201 is stored', async () => {
    dev = await startDev(nats.url);
    const topic = `faults.restart${randomBytes(4).toString('hex')}`;
    const client = new RestClient({ baseUrl: dev.url, authorization: dev.authorization, timeoutMs: 15_000 });
    // File storage: the stream must outlive the server process.
    await client.createTopic({ name: topic, storage: 'file' });

    const sent: Sent[] = [];
    const log: Array<{ phase: string; r: Attempt }> = [];
    let phase: 'up' | 'down' | 'back' = 'up';
    let stop = false;
    const publisher = async (c: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const m = makeMessage(topic, c, n);
        sent.push(m);
        const at = phase;
        log.push({ phase: at, r: await attempt(client, topic, m) });
      }
    };
    const publishers = Array.from({ length: PUBLISHERS }, (_, c) => publisher(c));
    const count = (p: string, ok: boolean): number => log.filter((e) => e.phase === p && e.r.ok === ok).length;

    await pollUntil(async () => count('up', true) >= 50, 15_000, '50 publishes before the kill');
    await nats.stop('SIGKILL');
    phase = 'down';
    await pollUntil(async () => (await client.status('/readyz')) === 503, 15_000, '/readyz 503 while NATS is down');
    await pollUntil(async () => count('down', false) >= PUBLISHERS, 30_000, 'failed publishes while NATS is down');

    await nats.restart();
    phase = 'back';
    await pollUntil(async () => (await client.status('/readyz')) === 200, 30_000, '/readyz 200 after NATS is back');
    await pollUntil(async () => count('back', true) >= 20, 30_000, '20 publishes after NATS is back');
    stop = true;
    await Promise.all(publishers);

    // Every failure, in any phase, is a retryable 503 with one of the two backbone codes.
    const failures = log.filter((e) => !e.r.ok).map((e) => e.r as Extract<Attempt, { ok: false }>);
    for (const f of failures) {
      assert.ok(ALLOWED_DOWN.has(f.code) && f.httpStatus === 503 && !f.unreachable, `unexpected failure ${JSON.stringify(f)}`);
    }
    // Ground truth from JetStream: every 201 is stored at its seq with its body.
    const stored = await readTopic(nats.url, topic);
    for (const m of sent) {
      for (const s of m.stored) assert.equal(stored.get(s.seq), m.body, `201'd ${m.key} is not at seq ${s.seq}`);
    }
    console.log(`      NATS restart: ${count('up', true)} × 201 before, ${failures.length} × 503 `
      + `(${[...new Set(failures.map((f) => f.code))].join(', ')}), ${count('back', true)} × 201 after; ${stored.size} stored`);
  });
});
