/**
 * The WebSocket gateway on its own server (WsGateway), with short timers: the auth timeout, ping/pong
 * liveness, and a durable subscription that survives a gateway restart (a second instance on the same NATS).
 */
import assert from 'node:assert/strict';
import { createLogger } from '../../broker/log.js';
import { WsGateway, type WsOptions } from '../../gateways/ws/index.js';
import { WS_CHANNEL_PREFIX, wsChannelOf } from '../../schemas/ws.js';
import { until } from '../support/poll.js';
import { dropBucket, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';
import { WsClient } from './ws-client.js';

const bucket = testBucket('wsalone');

describe('WebSocket gateway, standalone', function () {
  this.timeout(60_000);
  let s: RestStack;
  const r = rand();
  const ch = `alone${r}`;
  const topics: string[] = [];
  const subs: string[] = [];
  const gateways: WsGateway[] = [];
  const clients: WsClient[] = [];

  async function gateway(opts: WsOptions = {}): Promise<{ gw: WsGateway; url: string }> {
    const gw = new WsGateway({ broker: s.broker, security: s.security, logger: createLogger({ level: 'silent' }), metrics: s.metrics, config: s.config }, { host: '127.0.0.1', port: 0, ...opts });
    await gw.start();
    gateways.push(gw);
    return { gw, url: `ws://127.0.0.1:${gw.address().port}/ws/${ch}` };
  }
  async function connect(url: string, headers: Record<string, string> = { authorization: s.admin }): Promise<WsClient> {
    const c = await WsClient.connect(url, headers);
    clients.push(c);
    return c;
  }

  before(async function () {
    s = await startRestStack({ bucket });
    await s.broker.config.put(`${WS_CHANNEL_PREFIX}${ch}`, wsChannelOf(ch, {}));
  });
  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(gateways.splice(0).map((g) => g.stop({ deadlineMs: 1000 })));
  });
  after(async function () {
    for (const n of subs) await s.broker.subscriptions.delete(n).catch(() => undefined);
    for (const t of topics) await s.broker.topics.delete(t).catch(() => undefined);
    await s.dispose();
    await dropBucket(bucket);
  });

  it('answers plain HTTP with 404 and serves WebSocket clients', async function () {
    const { gw, url } = await gateway();
    const res = await fetch(url.replace('ws:', 'http:'));
    assert.equal(res.status, 404);
    const c = await connect(url);
    assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    assert.equal(gw.health().ready, true);
  });

  it('closes with 4401 when no auth frame comes within the auth timeout', async function () {
    const { url } = await gateway({ authTimeoutMs: 300 });
    const silent = await connect(url, {});
    assert.equal((await silent.closed).code, 4401);
  });

  it('cuts a client that misses two pings', async function () {
    const { gw, url } = await gateway({ pingIntervalMs: 100 });
    const alive = await connect(url);
    const dead = await connect(url);
    // A paused socket reads no pings, so it answers none.
    const socket = (dead.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    await until(() => gw.stats()!.livenessCloses >= 1, 5000, 'the liveness close');
    socket.resume();
    assert.equal((await dead.closed).code, 1006, 'cut, not closed');
    assert.equal(gw.stats()!.livenessCloses, 1, 'the client that answers pings stays');
    assert.equal((await alive.request({ type: 'ping' })).type, 'pong');
  });

  it('loses nothing on a durable subscription across a gateway restart', async function () {
    const t = `wsalone${r}.${rand()}`;
    await s.broker.topics.create({ name: t, storage: 'memory' });
    topics.push(t);
    const sub = `wsalone_${rand()}`;
    await s.broker.subscriptions.create({ name: sub, topic: t, deliver: 'all', ackWaitMs: 30_000 });
    subs.push(sub);
    const first = await gateway();
    const c1 = await connect(first.url);
    for (let i = 0; i < 10; i++) assert.equal((await c1.request({ type: 'publish', topic: t, data: `m${i}` })).type, 'ok');
    await c1.request({ type: 'subscribe', sub: 'd', subscription: sub });
    await c1.request({ type: 'credit', sub: 'd', n: 10 });
    const got = await c1.messages('d', 10);
    for (const m of got.slice(0, 3)) await c1.request({ type: 'ack', sub: 'd', ackToken: m.ackToken });
    // The restart: clients hear 1012, un-acked messages are handed back, a second instance takes over.
    await first.gw.stop({ deadlineMs: 2000 });
    assert.equal((await c1.closed).code, 1012);
    const second = await gateway();
    const c2 = await connect(second.url);
    await c2.request({ type: 'subscribe', sub: 'd', subscription: sub });
    await c2.request({ type: 'credit', sub: 'd', n: 100 });
    const again = await c2.messages('d', 7);
    assert.deepEqual(again.map((m) => m.data).sort(), ['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    for (const m of again) await c2.request({ type: 'ack', sub: 'd', ackToken: m.ackToken });
    await until(async () => {
      const i = await s.broker.subscriptions.info(sub);
      return i.ackPending === 0 && i.pending === 0;
    }, 5000, 'all acked');
  });
});
