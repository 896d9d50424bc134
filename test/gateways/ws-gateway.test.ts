/** The WebSocket gateway on the REST port: auth, publish after storage, live and durable subscriptions, slow consumers, bad frames. */
import assert from 'node:assert/strict';
import { WS_CHANNEL_PREFIX, wsChannelOf, type WsChannelInput } from '../../schemas/ws.js';
import { until } from '../support/poll.js';
import { basic, dropBucket, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';
import { WsClient, refusedStatus, type Frame } from './ws-client.js';

const bucket = testBucket('wsgw');

describe('WebSocket gateway', function () {
  this.timeout(60_000);
  let s: RestStack;
  let url: string;
  const r = rand();
  const prefix = `wsgw${r}`;
  const topics: string[] = [];
  const subs: string[] = [];
  const clients: WsClient[] = [];
  const alice = { name: `alice_${r}`, password: 'alice-password-1' };
  let aliceKey: string;

  async function channel(name: string, input: WsChannelInput = {}): Promise<string> {
    await s.broker.config.put(`${WS_CHANNEL_PREFIX}${name}`, wsChannelOf(name, input));
    return `${url}/ws/${name}`;
  }
  async function topic(): Promise<string> {
    const name = `${prefix}.${rand()}`;
    await s.broker.topics.create({ name, storage: 'memory' });
    topics.push(name);
    return name;
  }
  async function subscription(t: string, ackWaitMs = 30_000): Promise<string> {
    const name = `wsgw_${rand()}`;
    await s.broker.subscriptions.create({ name, topic: t, deliver: 'all', ackWaitMs });
    subs.push(name);
    return name;
  }
  async function connect(path: string, headers: Record<string, string> = { authorization: s.admin }): Promise<WsClient> {
    const c = await WsClient.connect(path, headers);
    clients.push(c);
    return c;
  }

  before(async function () {
    s = await startRestStack({ bucket });
    url = s.base.replace('http:', 'ws:');
    await s.security.users.create({ name: alice.name, password: alice.password, acl: { publish: [`${prefix}.>`], subscribe: [`${prefix}.>`] } });
    aliceKey = (await s.security.users.createApiKey(alice.name)).key;
  });
  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async function () {
    for (const n of subs) await s.broker.subscriptions.delete(n).catch(() => undefined);
    for (const t of topics) await s.broker.topics.delete(t).catch(() => undefined);
    await s.dispose();
    await dropBucket(bucket);
  });

  describe('authentication', function () {
    it('accepts the Authorization header (Basic and Bearer), a ?token= key, and an auth frame', async function () {
      const ch = await channel(`auth${r}`);
      const byBasic = await connect(ch, { authorization: basic(alice.name, alice.password) });
      const byBearer = await connect(ch, { authorization: `Bearer ${aliceKey}` });
      const byToken = await connect(`${ch}?token=${encodeURIComponent(aliceKey)}`, {});
      for (const c of [byBasic, byBearer, byToken]) assert.equal((await c.request({ type: 'ping' })).type, 'pong');
      const byFrame = await connect(ch, {});
      const ok = await byFrame.request({ type: 'auth', authorization: basic(alice.name, alice.password) });
      assert.deepEqual([ok.type, ok.principal], ['ok', alice.name]);
      assert.equal((await byFrame.request({ type: 'ping' })).type, 'pong');
    });

    it('refuses bad credentials: 401 on upgrade, 4401 for a bad auth frame, a missing one, or another frame first', async function () {
      const ch = await channel(`authbad${r}`);
      assert.equal(await refusedStatus(ch, { authorization: basic(alice.name, 'wrong') }), 401);
      assert.equal(await refusedStatus(`${ch}?token=nope`, {}), 401);
      const bad = await connect(ch, {});
      const err = await bad.request({ type: 'auth', authorization: basic(alice.name, 'wrong') });
      assert.deepEqual([err.type, err.code], ['error', 'SB_ERR_UNAUTHENTICATED']);
      assert.equal((await bad.closed).code, 4401);
      const early = await connect(ch, {});
      assert.equal((await early.request({ type: 'ping' })).code, 'SB_ERR_UNAUTHENTICATED');
      assert.equal((await early.closed).code, 4401);
    });

    it('lets anonymous clients into an auth: none channel with no topic rights', async function () {
      const ch = await channel(`anon${r}`, { auth: 'none' });
      const t = await topic();
      const c = await connect(ch, {});
      assert.equal((await c.request({ type: 'ping' })).type, 'pong');
      assert.equal((await c.request({ type: 'publish', topic: t, data: 'x' })).code, 'SB_ERR_FORBIDDEN');
    });
  });

  describe('upgrade checks', function () {
    it('answers 404 for an unknown channel and 403 for an Origin not allowed', async function () {
      const ch = await channel(`origin${r}`, { allowedOrigins: ['https://ok.example'] });
      assert.equal(await refusedStatus(`${url}/ws/nope${r}`), 404);
      assert.equal(await refusedStatus(`${url}/elsewhere`), 404);
      assert.equal(await refusedStatus(ch, { authorization: s.admin, origin: 'https://evil.example' }), 403);
      const c = await connect(ch, { authorization: s.admin, origin: 'https://ok.example' });
      assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    });

    it('limits connections per principal', async function () {
      const ch = await channel(`limit${r}`, { limits: { maxConnectionsPerPrincipal: 2 } });
      await connect(ch);
      await connect(ch);
      assert.equal(await refusedStatus(ch, { authorization: s.admin }), 429);
    });
  });

  describe('publish', function () {
    it('answers ok only after the message is stored, and it reads back from the topic', async function () {
      const ch = await channel(`pub${r}`);
      const t = await topic();
      const c = await connect(ch, { authorization: basic(alice.name, alice.password) });
      const a = await c.request({ type: 'publish', topic: t, data: { n: 1 } });
      const b = await c.request({ type: 'publish', topic: t, data: 'two' });
      assert.deepEqual([a.type, a.seq, b.seq], ['ok', 1, 2]);
      const info = await s.broker.topics.info(t);
      assert.equal(info.messages, 2);
      const sub = await subscription(t);
      const got = await s.broker.subscriptions.pull(sub, { max: 10, waitMs: 2000 });
      assert.deepEqual(got.map((m) => [m.contentType, Buffer.from(m.data).toString()]), [['application/json', '{"n":1}'], ['text/plain; charset=utf-8', 'two']]);
      assert.equal(got[0]!.headers['Sb-Publisher'], alice.name);
    });

    it('denies a topic outside the ACL with SB_ERR_FORBIDDEN and keeps the connection', async function () {
      const ch = await channel(`acl${r}`);
      const c = await connect(ch, { authorization: basic(alice.name, alice.password) });
      const denied = await c.request({ type: 'publish', topic: `other${r}.x`, data: 'x' });
      assert.deepEqual([denied.type, denied.code], ['error', 'SB_ERR_FORBIDDEN']);
      const sub = await c.request({ type: 'subscribe', topic: `other${r}.>` });
      assert.equal(sub.code, 'SB_ERR_FORBIDDEN');
      assert.equal((await c.request({ type: 'ping' })).type, 'pong');
    });
  });

  describe('live subscriptions', function () {
    it('receives messages published after the subscribe, from any publisher', async function () {
      const ch = await channel(`live${r}`);
      const t = await topic();
      const c = await connect(ch);
      const ok = await c.request({ type: 'subscribe', sub: 'l1', topic: `${prefix}.>` });
      assert.deepEqual([ok.type, ok.sub, ok.mode], ['ok', 'l1', 'live']);
      await s.broker.publish({ topic: t, data: Buffer.from('{"hello":1}'), contentType: 'application/json' });
      const [m] = await c.messages('l1', 1);
      assert.deepEqual([m!.topic, m!.data, m!.ackToken], [t, { hello: 1 }, undefined]);
      assert.equal((await c.request({ type: 'unsubscribe', sub: 'l1' })).type, 'ok');
    });
  });

  describe('durable subscriptions', function () {
    it('delivers only as much as the credit allows, and acks settle', async function () {
      const ch = await channel(`dur${r}`);
      const t = await topic();
      const sub = await subscription(t);
      for (let i = 0; i < 5; i++) await s.broker.publish({ topic: t, data: Buffer.from(`m${i}`), contentType: 'text/plain' });
      const c = await connect(ch, { authorization: basic(alice.name, alice.password) });
      assert.equal((await c.request({ type: 'subscribe', sub: 'd', subscription: sub })).mode, 'durable');
      await c.request({ type: 'credit', sub: 'd', n: 2 });
      const first = await c.messages('d', 2);
      assert.deepEqual(first.map((m) => m.data), ['m0', 'm1']);
      // The ping answer comes after any message the server would have sent with more credit.
      await c.request({ type: 'ping' });
      assert.equal(c.frames.filter((f) => f.type === 'message').length, 0, 'no more than the credit');
      for (const m of first) assert.equal((await c.request({ type: 'ack', sub: 'd', ackToken: m.ackToken })).type, 'ok');
      await c.request({ type: 'credit', sub: 'd', n: 10 });
      const rest = await c.messages('d', 3);
      assert.deepEqual(rest.map((m) => m.data), ['m2', 'm3', 'm4']);
      for (const m of rest) await c.request({ type: 'ack', sub: 'd', ackToken: m.ackToken });
      await until(async () => (await s.broker.subscriptions.info(sub)).ackPending === 0, 5000, 'acks');
      const bogus = await c.request({ type: 'ack', sub: 'd', ackToken: 'bogus' });
      assert.equal(bogus.code, 'SB_ERR_INVALID_ACK_TOKEN');
    });

    it('settles many tokens with one ack or nak frame and answers with counts and the tokens that failed', async function () {
      const ch = await channel(`many${r}`);
      const t = await topic();
      const sub = await subscription(t);
      for (let i = 0; i < 6; i++) await s.broker.publish({ topic: t, data: Buffer.from(`m${i}`), contentType: 'text/plain' });
      const c = await connect(ch);
      await c.request({ type: 'subscribe', sub: 'd', subscription: sub });
      await c.request({ type: 'credit', sub: 'd', n: 6 });
      const got = await c.messages('d', 6);
      const acked = await c.request({ type: 'ack', sub: 'd', ackTokens: [...got.slice(0, 4).map((m) => m.ackToken), 'bogus'] });
      assert.equal(acked.type, 'ok');
      assert.equal(acked.settled, 4);
      assert.deepEqual(acked.failed, [{ ackToken: 'bogus', code: 'SB_ERR_INVALID_ACK_TOKEN' }]);
      const naked = await c.request({ type: 'nak', sub: 'd', ackTokens: got.slice(4).map((m) => m.ackToken), delayMs: 0 });
      assert.deepEqual([naked.settled, naked.failed], [2, undefined]);
      await c.request({ type: 'credit', sub: 'd', n: 10 });
      const again = await c.messages('d', 2);
      assert.deepEqual(again.map((m) => m.data).sort(), ['m4', 'm5'], 'only the nak\'d ones come back');
      assert.equal((await c.request({ type: 'ack', sub: 'd', ackTokens: again.map((m) => m.ackToken) })).settled, 2);
      await until(async () => {
        const i = await s.broker.subscriptions.info(sub);
        return i.ackPending === 0 && i.pending === 0;
      }, 5000, 'all settled');
      // Both forms at once, or an empty list, are frame errors.
      assert.equal((await c.request({ type: 'ack', sub: 'd', ackToken: 'x', ackTokens: ['x'] })).code, 'SB_ERR_VALIDATION');
      assert.equal((await c.request({ type: 'ack', sub: 'd', ackTokens: [] })).code, 'SB_ERR_VALIDATION');
    });

    it('with batch: true sends the messages of one pull as one frame, one JSON object per line', async function () {
      const ch = await channel(`batch${r}`);
      const t = await topic();
      const sub = await subscription(t);
      for (let i = 0; i < 3; i++) await s.broker.publish({ topic: t, data: Buffer.from(`{"n":${i}}`), contentType: 'application/json' });
      const c = await connect(ch);
      assert.equal((await c.request({ type: 'subscribe', sub: 'd', subscription: sub, batch: true })).mode, 'durable');
      await c.request({ type: 'credit', sub: 'd', n: 3 });
      const got = await c.messages('d', 3);
      assert.deepEqual(got.map((m) => m.data), [{ n: 0 }, { n: 1 }, { n: 2 }]);
      const batched = c.raw.filter((f) => f.includes('"type":"message"'));
      assert.deepEqual(batched.map((f) => f.split('\n').length), [3], 'the three messages of the pull came in one frame');
      assert.equal((await c.request({ type: 'ack', sub: 'd', ackTokens: got.map((m) => m.ackToken) })).settled, 3);
      // batch is for durable subscriptions, and a boolean.
      assert.equal((await c.request({ type: 'subscribe', topic: t, batch: true })).code, 'SB_ERR_VALIDATION');
      assert.equal((await c.request({ type: 'subscribe', subscription: sub, sub: 'e', batch: 'yes' })).code, 'SB_ERR_VALIDATION');
    });

    it('loses nothing across a client reconnect: un-acked messages come back', async function () {
      const ch = await channel(`recon${r}`);
      const t = await topic();
      const sub = await subscription(t);
      for (let i = 0; i < 6; i++) await s.broker.publish({ topic: t, data: Buffer.from(`m${i}`), contentType: 'text/plain' });
      const c1 = await connect(ch);
      await c1.request({ type: 'subscribe', sub: 'd', subscription: sub });
      await c1.request({ type: 'credit', sub: 'd', n: 6 });
      const got = await c1.messages('d', 6);
      for (const m of got.slice(0, 2)) await c1.request({ type: 'ack', sub: 'd', ackToken: m.ackToken });
      await c1.close();
      const c2 = await connect(ch);
      await c2.request({ type: 'subscribe', sub: 'd', subscription: sub });
      await c2.request({ type: 'credit', sub: 'd', n: 100 });
      const again = await c2.messages('d', 4);
      assert.deepEqual(again.map((m) => m.data).sort(), ['m2', 'm3', 'm4', 'm5']);
      assert.ok(again.every((m) => m.deliveryCount === 2));
      for (const m of again) await c2.request({ type: 'ack', sub: 'd', ackToken: m.ackToken });
      await until(async () => {
        const i = await s.broker.subscriptions.info(sub);
        return i.ackPending === 0 && i.pending === 0;
      }, 5000, 'all acked');
    });
  });

  describe('slow consumers', function () {
    it('closes a client that does not read with 4408, and its messages are redelivered to a new connection', async function () {
      const ch = await channel(`slow${r}`, { limits: { maxBufferedBytes: 65_536, maxFrameBytes: 65_536 } });
      const t = await topic();
      const sub = await subscription(t);
      const payload = 'x'.repeat(60_000);
      const total = 300; // ~18 MB: more than loopback socket buffers hold
      await Promise.all(Array.from({ length: total }, (_, i) => s.broker.publish({ topic: t, data: Buffer.from(`${i}:${payload}`), contentType: 'text/plain' })));
      const slow = await connect(ch);
      await slow.request({ type: 'subscribe', sub: 'd', subscription: sub });
      // Stop reading: the server's buffer for this client grows until it passes maxBufferedBytes.
      (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      slow.send(JSON.stringify({ type: 'credit', sub: 'd', n: total }));
      await until(() => s.gateway.ws!.stats().slowConsumerCloses >= 1, 30_000, 'the slow consumer close');
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      assert.equal((await slow.closed).code, 4408);
      const c = await connect(ch);
      await c.request({ type: 'subscribe', sub: 'd', subscription: sub });
      const seen = new Set<number>();
      let credit = 0;
      while (seen.size < total) {
        if (credit === 0) { await c.request({ type: 'credit', sub: 'd', n: 50 }); credit = 50; }
        const [m] = await c.messages('d', 1, 20_000);
        credit--;
        seen.add(Number((m!.data as string).split(':')[0]));
        await c.request({ type: 'ack', sub: 'd', ackToken: m!.ackToken });
      }
      assert.equal(seen.size, total);
    });
  });

  describe('bad frames', function () {
    it('answers malformed JSON, unknown ops, wrong fields and binary frames with error frames; other clients keep working', async function () {
      const ch = await channel(`bad${r}`);
      const other = await connect(ch);
      const c = await connect(ch);
      c.send('{not json');
      assert.equal((await c.next((f) => f.type === 'error')).code, 'SB_ERR_INVALID_JSON');
      assert.equal((await c.request({ type: 'frobnicate' })).code, 'SB_ERR_VALIDATION');
      assert.equal((await c.request({ type: 'publish', topic: 5 })).code, 'SB_ERR_VALIDATION');
      assert.equal((await c.request({ type: 'credit', sub: 'x', n: -1 })).code, 'SB_ERR_VALIDATION');
      assert.equal((await c.request({ type: 'publish', topic: 'no such topic!', data: 1 })).code, 'SB_ERR_INVALID_TOPIC_NAME');
      c.send(Buffer.from([1, 2, 3]));
      assert.equal((await c.next((f) => f.type === 'error')).code, 'SB_ERR_VALIDATION');
      assert.equal((await c.request({ type: 'ping' })).type, 'pong');
      assert.equal((await other.request({ type: 'ping' })).type, 'pong');
    });

    it('closes with 4400 after too many invalid frames in a row', async function () {
      const ch = await channel(`many${r}`);
      const c = await connect(ch);
      for (let i = 0; i < 40; i++) c.send('[]');
      assert.equal((await c.closed).code, 4400);
    });

    it('closes with 1009 on a frame over maxFrameBytes; other clients keep working', async function () {
      const ch = await channel(`big${r}`, { limits: { maxFrameBytes: 1024 } });
      const other = await connect(ch);
      const c = await connect(ch);
      c.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(2000) }));
      assert.equal((await c.closed).code, 1009);
      assert.equal((await other.request({ type: 'ping' })).type, 'pong');
    });
  });

  it('tells clients to reconnect (1012) when the gateway stops', async function () {
    // Checked on a second gateway so this file's stack keeps serving.
    const { createRestGateway } = await import('../../gateways/index.js');
    const { createLogger } = await import('../../broker/log.js');
    const gw = createRestGateway({ broker: s.broker, security: s.security, logger: createLogger({ level: 'silent' }), metrics: s.metrics, config: { ...s.config, http: { ...s.config.http, port: 0 } } });
    await gw.start();
    const ch = `restart${r}`;
    await channel(ch);
    const c = await WsClient.connect(`ws://127.0.0.1:${gw.address().port}/ws/${ch}`, { authorization: s.admin });
    const closed = c.closed;
    await gw.stop({ deadlineMs: 2000 });
    assert.equal((await closed).code, 1012);
    const f: Frame | undefined = c.frames.find((x) => x.type === 'error');
    assert.equal(f, undefined);
  });
});
