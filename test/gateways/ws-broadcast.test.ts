/**
 * WebSocket broadcast and presence across replicas: two real `switchboard dev` processes on one NATS
 * and one config bucket, clients on both. A broadcast sent through one replica (REST, a job handler's
 * `ctx.broadcast`, the CLI) reaches every client of the channel on both, exactly once; presence lists
 * the clients of both; join/leave events land on the topic `ws.presence`.
 */
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import WebSocket from 'ws';
import { createBroker } from '../../broker/index.js';
import { createLogger } from '../../broker/log.js';
import { createMetrics } from '../../broker/metrics.js';
import type { Broker } from '../../broker/types.js';
import { resolveProcessConfig } from '../../schemas/config.js';
import { WS_CHANNEL_PREFIX, WS_PRESENCE_TOPIC, wsChannelOf, type WsPresenceEvent } from '../../schemas/ws.js';
import { broadcast } from '../../broker/ws-broadcast.js';
import { createWorker, type JobHandler } from '../../workers/index.js';
import { runCli, startDev, type DevChild } from '../cli/process.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { basic, dropBucket, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';
import { WsClient, type Frame } from './ws-client.js';

const r = rand();
const bucket = testBucket('wsbcast');
const password = `pw-${r}`;
const chan = `bc${r}`;
const other = `bo${r}`;
const jobType = `wsb${r}.notify`;

/** A job handler that broadcasts its input to a channel: the `ctx.broadcast` entry point. */
const notify: JobHandler<{ channel: string; data: unknown }, { id: string }> = {
  type: jobType,
  inputSchema: Type.Object({ channel: Type.String(), data: Type.Unknown() }),
  outputSchema: Type.Object({ id: Type.String() }),
  async handle(ctx, input) {
    return ctx.broadcast(input.channel, input.data);
  },
};

describe('WebSocket broadcast and presence across two gateway processes', function () {
  this.timeout(90_000);
  let a: DevChild;
  let b: DevChild;
  let workerBroker: Broker;
  let worker: { stop(): Promise<void> };
  const clients: WsClient[] = [];
  const sub = `wsp${r}`;

  const call = async (dev: DevChild, method: string, path: string, body?: unknown, opts: { auth?: string; contentType?: string } = {}) => {
    const headers: Record<string, string> = { authorization: opts.auth ?? dev.authorization };
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      payload = typeof body === 'string' && opts.contentType !== undefined ? body : JSON.stringify(body);
    }
    const res = await fetch(dev.url + path, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const wsUrl = (dev: DevChild, ch: string) => `${dev.url.replace('http:', 'ws:')}/ws/${ch}`;
  const broadcasts = (c: WsClient): Frame[] => c.frames.filter((f) => f['type'] === 'broadcast');

  before(async function () {
    const env = { SB_CONFIG_BUCKET: bucket, SB_DEV_JOBS: 'off' };
    a = await startDev(SHARED_NATS_URL, { password, env });
    b = await startDev(SHARED_NATS_URL, { password, env });
    // The handler runs in a worker on its own connection, as a worker pod would.
    const config = resolveProcessConfig({ nats: { url: SHARED_NATS_URL, configBucket: bucket } });
    const logger = createLogger({ level: 'silent' });
    workerBroker = await createBroker({ config, logger, metrics: createMetrics({ defaultMetrics: false }) });
    const w = await createWorker({
      broker: workerBroker, logger, handlers: [notify as JobHandler],
      config: { types: [{ type: jobType, concurrency: 2, ackWaitMs: 30_000, maxAttempts: 1, backoffBaseMs: 100, backoffMaxMs: 1000 }], handlers: [], drainMs: 1000, heartbeatMs: 1000 },
    });
    worker = { stop: () => w.stop() };
    assert.equal((await call(a, 'PUT', `/v1/ws-channels/${chan}`, { auth: 'none' })).status, 200);
    assert.equal((await call(a, 'PUT', `/v1/ws-channels/${other}`, { presenceEvents: false })).status, 200);
    // The join/leave events are read through a durable subscription made before any client connects;
    // the topic is created by the gateways on start (in the background).
    await until(async () => (await call(a, 'POST', '/v1/subscriptions', { name: sub, topic: WS_PRESENCE_TOPIC, deliver: 'new' })).status === 201, 10_000, 'the presence topic');
  });

  after(async function () {
    for (const c of clients) await c.close();
    await worker?.stop();
    await workerBroker?.close({ deadlineMs: 2000 });
    if (a) await call(a, 'DELETE', `/v1/subscriptions/${sub}`).catch(() => undefined);
    await Promise.all([a?.stop(), b?.stop()]);
    await dropBucket(bucket);
  });

  const idOf = new Map<WsClient, string>();
  /** WsClient.connect, keeping the hello frame's clientId (connect consumes the hello). */
  const open = async (url: string, headers: Record<string, string>): Promise<WsClient> => {
    const ws = new WebSocket(url, { headers });
    const c = new (WsClient as unknown as new (w: WebSocket) => WsClient)(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => { ws.terminate(); reject(new Error(`HTTP ${res.statusCode}`)); });
      ws.once('error', reject);
    });
    idOf.set(c, (await c.next((f) => f['type'] === 'hello'))['clientId'] as string);
    return c;
  };
  /** Connects to `dev`, waiting until that replica's config watch has the channel. */
  const connect = async (dev: DevChild, ch: string, headers: Record<string, string> = {}): Promise<WsClient> => {
    const c = await until(() => open(wsUrl(dev, ch), headers).catch(() => undefined), 10_000, `channel ${ch} on ${dev.url}`);
    clients.push(c);
    return c;
  };

  let onA: WsClient[];
  let onB: WsClient[];
  let stranger: WsClient;

  it('a REST broadcast to one replica reaches every client of the channel on both, exactly once; other channels get nothing', async function () {
    onA = [await connect(a, chan, { authorization: a.authorization }), await connect(a, chan)];
    onB = [await connect(b, chan), await connect(b, chan, { authorization: a.authorization })];
    stranger = await connect(b, other, { authorization: a.authorization });
    const sent = await call(a, 'POST', `/v1/ws-channels/${chan}/broadcast`, { hello: 'all', n: 1 });
    assert.equal(sent.status, 202);
    assert.deepEqual(Object.keys(sent.body).sort(), ['channel', 'id']);
    assert.equal(sent.body.channel, chan);
    for (const c of [...onA, ...onB]) {
      const f = await c.next((x) => x['type'] === 'broadcast' && x['id'] === sent.body.id);
      assert.equal(f['channel'], chan);
      assert.deepEqual(f['data'], { hello: 'all', n: 1 });
      assert.equal(f['contentType'], 'application/json');
      assert.ok(!Number.isNaN(Date.parse(f['publishedAt'] as string)));
    }
    // Text and bytes travel as message frames do.
    const text = await call(a, 'POST', `/v1/ws-channels/${chan}/broadcast`, 'plain words', { contentType: 'text/plain' });
    const bin = await call(b, 'POST', `/v1/ws-channels/${chan}/broadcast`, 'AAEC', { contentType: 'application/octet-stream' });
    for (const c of [...onA, ...onB]) {
      assert.equal((await c.next((x) => x['id'] === text.body.id))['data'], 'plain words');
      const f = await c.next((x) => x['id'] === bin.body.id);
      assert.deepEqual([f['data'], f['encoding']], [Buffer.from('AAEC').toString('base64'), 'base64']);
    }
    // A marker sent after them through the same replica arrives after them: nothing else came before it.
    const marker = await call(a, 'POST', `/v1/ws-channels/${other}/broadcast`, { marker: true });
    assert.equal((await stranger.next((x) => x['type'] === 'broadcast'))['id'], marker.body.id);
    assert.equal(broadcasts(stranger).length, 0);
    const end = await call(a, 'POST', `/v1/ws-channels/${chan}/broadcast`, { end: true });
    for (const c of [...onA, ...onB]) {
      await c.next((x) => x['id'] === end.body.id);
      assert.equal(broadcasts(c).length, 0, 'no duplicate broadcast frames');
    }
  });

  it('a job handler\'s ctx.broadcast reaches the clients on both replicas', async function () {
    const res = await call(a, 'POST', `/v1/jobs/${jobType}`, { channel: chan, data: { from: 'job' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const id = res.body.output.id as string;
    for (const c of [...onA, ...onB]) assert.deepEqual((await c.next((x) => x['type'] === 'broadcast' && x['id'] === id))['data'], { from: 'job' });
  });

  it('presence lists the clients of both replicas; join and leave events arrive on the topic', async function () {
    const p = await call(b, 'GET', `/v1/ws-channels/${chan}/presence`);
    assert.equal(p.status, 200);
    assert.equal(p.body.channel, chan);
    const ids = (cs: WsClient[]) => cs.map((c) => idOf.get(c)!).sort();
    assert.deepEqual(p.body.clients.map((c: { id: string }) => c.id).sort(), ids([...onA, ...onB]));
    assert.equal(new Set(p.body.clients.map((c: { gateway: string }) => c.gateway)).size, 2);
    const anon = p.body.clients.find((c: { id: string }) => c.id === idOf.get(onA[1]!));
    assert.equal(anon.principal, 'anonymous');
    assert.match(anon.remoteAddress, /127\.0\.0\.1/);

    const leaving = onB[0]!;
    await leaving.close();
    const events: WsPresenceEvent[] = [];
    const want = (e: WsPresenceEvent) => e.channel === chan || e.channel === other;
    await until(async () => {
      const got = await call(a, 'GET', `/v1/subscriptions/${sub}/messages?max=100&waitMs=500`);
      const msgs = got.body.messages as Array<{ data: WsPresenceEvent; ackToken: string }>;
      if (msgs.length > 0) await call(a, 'POST', `/v1/subscriptions/${sub}/ack`, { tokens: msgs.map((m) => m.ackToken) });
      events.push(...msgs.map((m) => m.data).filter(want));
      return events.some((e) => e.event === 'leave' && e.clientId === idOf.get(leaving));
    }, 20_000, 'the leave event');
    const joins = events.filter((e) => e.event === 'join').map((e) => e.clientId).sort();
    assert.deepEqual(joins, ids([...onA, ...onB]), 'one join per client of the channel; none for presenceEvents: false');
    const leave = events.find((e) => e.event === 'leave')!;
    assert.equal(leave.code, 1000);
    assert.equal(leave.principal, 'anonymous');
    assert.deepEqual(Object.keys(leave).sort(), ['at', 'channel', 'clientId', 'code', 'event', 'gateway', 'principal', 'remoteAddress', 'since']);
  });

  it('refuses a principal without the right (403) and an unknown channel (404); publish on ws.broadcast.<channel> grants it', async function () {
    const mk = async (name: string, publish: string[]) => {
      assert.equal((await call(a, 'POST', '/v1/users', { name, password: 'user-password-1', acl: { publish, subscribe: [] } })).status, 201);
      return basic(name, 'user-password-1');
    };
    const nope = await mk(`nope${r}`, ['orders.>', `ws.broadcast.${other}`]);
    const yes = await mk(`yes${r}`, [`ws.broadcast.${chan}`]);
    const denied = await call(a, 'POST', `/v1/ws-channels/${chan}/broadcast`, { x: 1 }, { auth: nope });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'SB_ERR_FORBIDDEN');
    assert.equal((await call(a, 'GET', `/v1/ws-channels/${chan}/presence`, undefined, { auth: yes })).status, 403);
    const ok = await call(b, 'POST', `/v1/ws-channels/${chan}/broadcast`, { x: 2 }, { auth: yes });
    assert.equal(ok.status, 202);
    assert.deepEqual((await onA[0]!.next((x) => x['id'] === ok.body.id))['data'], { x: 2 });
    const missing = await call(a, 'POST', `/v1/ws-channels/nochan${r}/broadcast`, { x: 1 });
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'SB_ERR_CHANNEL_NOT_FOUND']);
    assert.equal((await call(a, 'GET', `/v1/ws-channels/nochan${r}/presence`)).status, 404);
    assert.equal((await call(a, 'POST', `/v1/ws-channels/${chan}/broadcast`, '{bad', { contentType: 'application/json' })).status, 400);
  });

  it('the CLI broadcasts, shows presence and lists channels', async function () {
    const env = { SB_URL: b.url, SB_PASSWORD: password };
    const sent = await runCli(['ws', 'broadcast', chan, '{"cli":true}'], env);
    assert.equal(sent.code, 0, sent.stderr);
    const { id } = JSON.parse(sent.stdout) as { id: string };
    for (const c of [onA[0]!, onB[1]!]) assert.deepEqual((await c.next((x) => x['id'] === id))['data'], { cli: true });
    const piped = await runCli(['ws', 'broadcast', chan, '-'], env, 'just text\n');
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal((await onA[1]!.next((x) => x['id'] === JSON.parse(piped.stdout).id))['data'], 'just text');
    const presence = await runCli(['ws', 'presence', chan, '--json'], env);
    assert.equal(presence.code, 0, presence.stderr);
    assert.equal(JSON.parse(presence.stdout).clients.length, 3);
    const table = await runCli(['ws', 'presence', chan], env);
    assert.match(table.stdout, /^CLIENT\s+PRINCIPAL\s+SINCE\s+REMOTE\s+GATEWAY/);
    assert.ok(table.stdout.includes(idOf.get(onB[1]!)!));
    const list = await runCli(['ws', 'channels'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${other}\\s+required\\s+10000\\s+false$`, 'm'));
    const missing = await runCli(['ws', 'broadcast', `nochan${r}`, 'x'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /SB_ERR_CHANNEL_NOT_FOUND/);
  });
});

describe('WebSocket presence events and the broadcast sender, in process', function () {
  this.timeout(30_000);
  const bucket2 = testBucket('wspres');
  const ch = `pr${rand()}`;
  const sub = `wspr${rand()}`;
  let s: RestStack;

  before(async function () {
    s = await startRestStack({ bucket: bucket2 });
    await s.broker.config.put(`${WS_CHANNEL_PREFIX}${ch}`, wsChannelOf(ch, {}));
    await until(() => s.broker.subscriptions.create({ name: sub, topic: WS_PRESENCE_TOPIC, deliver: 'new' }).then(() => true, () => false), 10_000, 'the presence topic');
  });
  after(async function () {
    await s.broker.subscriptions.delete(sub).catch(() => undefined);
    await s.dispose();
    await dropBucket(bucket2);
  });

  /** Pulls and acks presence events of `ch` until `done` holds for what was read. */
  const readEvents = async (done: (evs: WsPresenceEvent[]) => boolean): Promise<WsPresenceEvent[]> => {
    const evs: WsPresenceEvent[] = [];
    await until(async () => {
      const msgs = await s.broker.subscriptions.pull(sub, { max: 100, waitMs: 500 });
      if (msgs.length > 0) await s.broker.subscriptions.ack(sub, msgs.map((m) => m.ackToken));
      evs.push(...msgs.map((m) => JSON.parse(Buffer.from(m.data).toString('utf8')) as WsPresenceEvent).filter((e) => e.channel === ch));
      return done(evs);
    }, 15_000, 'presence events');
    return evs;
  };

  it('joins a client at its auth frame, never one that did not authenticate; broadcasts reach it only once authenticated', async function () {
    const url = `${s.base.replace('http:', 'ws:')}/ws/${ch}`;
    const late = await WsClient.connect(url);
    const never = await WsClient.connect(url);
    assert.equal((await late.request({ type: 'auth', authorization: s.admin })).type, 'ok');
    const sent = broadcast(s.broker.signals, ch, Buffer.from('"later"'), { contentType: 'application/json', publisher: 'admin' });
    const got = await late.next((f) => f['type'] === 'broadcast');
    assert.deepEqual([got['id'], got['data']], [sent.id, 'later']);
    // A failed auth frame is answered after anything the server sent the client before it: no broadcast.
    never.send(JSON.stringify({ type: 'auth', id: 'bad', authorization: basic('admin', 'wrong-password') }));
    assert.equal((await never.next((f) => f['id'] === 'bad'))['code'], 'SB_ERR_UNAUTHENTICATED');
    assert.equal(never.frames.filter((f) => f['type'] === 'broadcast').length, 0);
    assert.equal((await never.closed).code, 4401);
    await late.close();
    const evs = await readEvents((e) => e.some((x) => x.event === 'leave'));
    assert.deepEqual(evs.map((e) => [e.event, e.principal, e.code]), [['join', 'admin', undefined], ['leave', 'admin', 1000]]);
    assert.equal(evs[0]!.clientId, evs[1]!.clientId);
  });

  it('the sender refuses a bad channel name, and fails with SB_ERR_BACKBONE_UNAVAILABLE once disconnected', async function () {
    assert.throws(() => broadcast(s.broker.signals, 'a.b', Buffer.alloc(0), { contentType: 'text/plain', publisher: 'x' }), { code: 'SB_ERR_VALIDATION' });
    const config = resolveProcessConfig({ nats: { url: SHARED_NATS_URL, configBucket: bucket2 } });
    const b = await createBroker({ config, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
    await b.close({ deadlineMs: 1000 });
    assert.throws(() => broadcast(b.signals, ch, Buffer.from('x'), { contentType: 'text/plain', publisher: 'x' }), { code: 'SB_ERR_BACKBONE_UNAVAILABLE' });
  });
});
