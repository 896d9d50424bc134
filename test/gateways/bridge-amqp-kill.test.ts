/**
 * SIGKILL of a process running an amqp-in bridge mid-stream (`switchboard dev`, which runs the
 * bridges of its config store), then a restart: nothing lost, nothing stored twice (the AMQP message
 * id is the idempotency key, so what was stored but not acked before the kill is deduplicated).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NatsServer } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { startDev, type DevChild } from '../cli/process.js';
import { AmqpSide, AMQP_URL, startBridgeStack, topicBodies, type BridgeStack } from './bridge-harness.js';

const rand = (): string => randomBytes(4).toString('hex');

describe('fault: SIGKILL of a process running an amqp-in bridge', function () {
  this.timeout(180_000);
  let nats: NatsServer;
  let s: BridgeStack;
  let amqp: AmqpSide;
  const devs: DevChild[] = [];
  const queue = `sb-test-kill-${rand()}`;

  before(async function () {
    nats = await NatsServer.start();
    s = await startBridgeStack(`sb_test_bridgekill_${rand()}`, { natsUrl: nats.url, runner: false });
    amqp = await AmqpSide.open();
    await amqp.ch.assertQueue(queue, { durable: true });
  });
  after(async function () {
    for (const d of devs) await d.stop('SIGKILL');
    await amqp?.ch.deleteQueue(queue).catch(() => undefined);
    await amqp?.close();
    await s?.dispose();
    await nats?.dispose();
  });

  it('a restarted process finishes the queue: every message stored exactly once', async function () {
    const topic = `bridge.kill.${rand()}`;
    await s.broker.topics.create({ name: topic });
    const N = 20_000;
    await amqp.fill(queue, N, (i) => ({ body: Buffer.from(`k${i}`), props: { messageId: `k-${i}` } }));
    await s.put('killme', { kind: 'amqp-in', url: AMQP_URL, queue, topic });
    const env = { SB_CONFIG_BUCKET: s.bucket, SB_DEV_JOBS: 'off', SB_AUTH: 'off' };

    const first = await startDev(nats.url, { env });
    devs.push(first);
    await until(async () => (await s.broker.topics.info(topic)).messages >= 4000, 60_000, 'the first process is mid-stream');
    await first.stop('SIGKILL');
    const atKill = (await s.broker.topics.info(topic)).messages;
    assert.ok(atKill < N, `killed mid-stream (${atKill} of ${N} stored)`);

    const second = await startDev(nats.url, { env });
    devs.push(second);
    await until(async () => (await s.broker.topics.info(topic)).messages >= N && (await amqp.ready(queue)) === 0, 90_000, 'all stored after the restart');
    const stored = await topicBodies(nats.url, topic);
    const counts = new Map<string, number>();
    for (const m of stored) counts.set(m.body, (counts.get(m.body) ?? 0) + 1);
    for (let i = 0; i < N; i++) assert.equal(counts.get(`k${i}`), 1, `k${i} stored exactly once`);
    assert.equal(stored.length, N, 'nothing else in the topic');
    const exit = await second.stop('SIGTERM');
    assert.equal(exit.code, 0, 'a clean stop with the bridge running');
    console.log(`      bridge SIGKILL: ${atKill} stored before the kill, ${N} after the restart, each once`);
  });

  it('a NATS restart mid-stream: nothing acked unstored, nothing lost, nothing stored twice', async function () {
    const topic = `bridge.natsrestart.${rand()}`;
    await s.broker.topics.create({ name: topic });
    const q = `sb-test-natsrestart-${rand()}`;
    await amqp.ch.assertQueue(q, { durable: true });
    const N = 10_000;
    await amqp.fill(q, N, (i) => ({ body: Buffer.from(`n${i}`), props: { messageId: `n-${i}` } }));
    const local = await startBridgeStack(s.bucket, { natsUrl: nats.url, runner: { bridgeStopMs: 2000 } });
    try {
      await local.put('natsrestart', { kind: 'amqp-in', url: AMQP_URL, queue: q, topic, prefetch: 64, reconnect: { initialMs: 100, maxMs: 1000 } });
      await until(async () => (await s.broker.topics.info(topic)).messages >= 1000, 30_000, 'mid-stream');
      await nats.stop('SIGKILL');
      await until(() => local.status('natsrestart')?.state === 'reconnecting', 20_000, 'the bridge noticed');
      await nats.restart();
      await until(async () => (await s.broker.topics.info(topic).catch(() => ({ messages: 0 }))).messages >= N && (await amqp.ready(q)) === 0, 90_000, 'all stored after the restart');
      const stored = await topicBodies(nats.url, topic);
      const counts = new Map<string, number>();
      for (const m of stored) counts.set(m.body, (counts.get(m.body) ?? 0) + 1);
      for (let i = 0; i < N; i++) assert.equal(counts.get(`n${i}`), 1, `n${i} stored exactly once`);
      const c = local.status('natsrestart')?.counters;
      console.log(`      NATS SIGKILL + restart: ${c?.retried} deliveries requeued, ${c?.duplicates} duplicates deduped, ${c?.reconnects} reconnects`);
    } finally {
      await local.dispose();
      await amqp.ch.deleteQueue(q).catch(() => undefined);
    }
  });
});
