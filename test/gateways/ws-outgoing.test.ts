/**
 * Outgoing WebSocket connections (docs/ws-outgoing.md) on real NATS against a real `ws` server started
 * here as the "external server": frames in → topic, subscription → frames out across a server kill,
 * one runner per definition among replicas (lease), and the admin API. Each replica is a broker with
 * its own runner (no gateway, so nothing else runs the connections); the admin routes are mounted on a
 * Fastify app with the REST gateway's auth hook and error mapping.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createBroker, createLogger, createMetrics, type Broker, type DeliveredMessage, type Metrics } from '../../broker/index.js';
import { Keyring } from '../../broker/secrets.js';
import { createAuthHook } from '../../gateways/rest/auth.js';
import { errorHandler } from '../../gateways/rest/errors.js';
import { wsOutgoingRoutes } from '../../gateways/rest/routes/ws-outgoing.js';
import { startOutgoing, type OutgoingRunner } from '../../gateways/ws/outgoing.js';
import type { GatewayDeps } from '../../gateways/types.js';
import { resolveProcessConfig } from '../../schemas/config.js';
import { WS_OUTGOING_PREFIX, wsOutgoingOf } from '../../schemas/ws-outgoing.js';
import { createSecurity } from '../../security/index.js';
import { NatsServer, SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { ADMIN_PASSWORD, basic, rand } from './rest-harness.js';

// Longer than the leases suite's 1.5 s: these tests assert "no second connection", which a renew delayed by a loaded machine must not break.
const TTL_MS = 3000;
const r = rand();
const bucket = `sb_test_wsout_${r}`;
const leasesBucket = `sb_test_wsout_leases_${r}`;
const root = `wsout${r}`;

/** One replica: a broker, its deps, and (once started) its runner. */
interface Replica { broker: Broker; deps: GatewayDeps; metrics: Metrics; runner?: OutgoingRunner }

/** The external server: records every connection, frame and upgrade header. */
class External {
  readonly sockets = new Set<WebSocket>();
  readonly frames: string[] = [];
  readonly headers: Array<Record<string, string | string[] | undefined>> = [];
  connections = 0;
  private constructor(readonly wss: WebSocketServer, readonly port: number) {
    wss.on('connection', (ws, req) => {
      this.connections++;
      this.headers.push(req.headers);
      this.sockets.add(ws);
      ws.on('message', (d) => this.frames.push(d.toString()));
      ws.on('close', () => this.sockets.delete(ws));
    });
  }

  static async start(port = 0): Promise<External> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    await once(wss, 'listening');
    return new External(wss, (wss.address() as AddressInfo).port);
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/feed`;
  }

  /** The next connection (or the one already there). */
  async socket(): Promise<WebSocket> {
    const [ws] = this.sockets.size > 0 ? [...this.sockets] : await once(this.wss, 'connection') as [WebSocket];
    return ws!;
  }

  /** Kills it hard: every socket cut, the server closed. */
  async kill(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((res) => this.wss.close(() => res()));
  }
}

describe('outgoing WebSocket connections', function () {
  this.timeout(60_000);
  const replicas: Replica[] = [];
  const externals: External[] = [];
  let savedKeys: string | undefined;
  let admin: FastifyInstance;
  let a: Replica;
  let b: Replica;
  const user = { name: `wsout_user_${r}`, password: 'wsout-user-password-1' };

  async function replica(): Promise<Replica> {
    const logger = createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const metrics = createMetrics({ defaultMetrics: false });
    const config = resolveProcessConfig({ nats: { url: SHARED_NATS_URL, configBucket: bucket, leasesBucket, leaseTtlMs: TTL_MS, publishTimeoutMs: 3000 } });
    const broker = await createBroker({ config, logger, metrics });
    const { security } = await createSecurity({ config: broker.config, logger, enabled: true, adminPassword: ADMIN_PASSWORD });
    const rep: Replica = { broker, metrics, deps: { broker, security, logger, metrics, config } };
    replicas.push(rep);
    return rep;
  }
  const run = (rep: Replica): OutgoingRunner => (rep.runner = startOutgoing(rep.deps, { leaseRetryMs: 200, closeDeadlineMs: 2000 }));
  const external = async (port?: number) => {
    const e = await External.start(port);
    externals.push(e);
    return e;
  };
  const api = async (method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: unknown, auth = basic('admin', ADMIN_PASSWORD)) => {
    const res = await admin.inject({ method, url, headers: { authorization: auth }, ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, raw: res.body };
  };
  /** Pulls and acks `n` messages of `sub` in delivery order. */
  async function drain(broker: Broker, sub: string, n: number): Promise<DeliveredMessage[]> {
    const got: DeliveredMessage[] = [];
    while (got.length < n) {
      const batch = await broker.subscriptions.pull(sub, { max: 256, waitMs: 2000 });
      if (batch.length === 0) throw new Error(`only ${got.length} of ${n} messages arrived`);
      got.push(...batch);
      await broker.subscriptions.ack(sub, batch.map((m) => m.ackToken));
    }
    return got;
  }

  before(async () => {
    savedKeys = process.env['SB_MASTER_KEYS'];
    process.env['SB_MASTER_KEYS'] = JSON.stringify(Keyring.generate('wsout'));
    [a, b] = [await replica(), await replica()];
    await a.deps.security.users.create({ name: user.name, password: user.password, acl: { publish: ['>'], subscribe: ['>'] } });
    admin = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, useDefaults: true } } });
    admin.decorateRequest('principal', null);
    admin.setErrorHandler(errorHandler(a.deps.logger));
    admin.addHook('onRequest', createAuthHook(a.deps.security, () => false));
    await admin.register(wsOutgoingRoutes(a.deps));
    await admin.ready();
  });

  afterEach(async () => {
    for (const rep of replicas) {
      await rep.runner?.close();
      delete rep.runner;
    }
    for (const e of externals.splice(0)) await e.kill();
  });

  after(async () => {
    await admin?.close();
    for (const rep of replicas) await rep.broker.close({ deadlineMs: 2000 });
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const doomed = [`KV_${bucket}`, `KV_${leasesBucket}`];
      for await (const s of jsm.streams.names(`sb.topic.${root}.>`)) doomed.push(s);
      for (const s of doomed) await jsm.streams.delete(s).catch(() => undefined);
    } finally {
      await nc.close();
    }
    if (savedKeys === undefined) delete process.env['SB_MASTER_KEYS'];
    else process.env['SB_MASTER_KEYS'] = savedKeys;
  });

  it('publishes every frame from the server into the topic, in order, none lost (500 frames), with the sealed header sent', async () => {
    const name = `in${r}`;
    const topic = `${root}.in`;
    await a.broker.topics.create({ name: topic });
    await a.broker.subscriptions.create({ name: `${name}_check`, topic, deliver: 'all' });
    const ext = await external();
    const put = await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url, headers: { Authorization: 'Bearer s3cret-token' }, inbound: { topic } });
    assert.equal(put.status, 201);
    run(a);
    const ws = await ext.socket();
    assert.equal(ext.headers[0]!['authorization'], 'Bearer s3cret-token', 'the runner opened the sealed header for the upgrade');
    const N = 500;
    for (let i = 0; i < N; i++) {
      if (i % 50 === 49) ws.send(Buffer.from([i & 0xff, 0, 1]), { binary: true });
      else if (i % 10 === 9) ws.send(`plain ${i}`);
      else ws.send(JSON.stringify({ i }));
    }
    const got = await drain(a.broker, `${name}_check`, N);
    assert.equal(got.length, N);
    got.forEach((m, i) => {
      if (i % 50 === 49) assert.deepEqual([m.contentType, [...m.data]], ['application/octet-stream', [i & 0xff, 0, 1]]);
      else if (i % 10 === 9) assert.deepEqual([m.contentType, Buffer.from(m.data).toString()], ['text/plain', `plain ${i}`]);
      else assert.deepEqual([m.contentType, JSON.parse(Buffer.from(m.data).toString())], ['application/json', { i }]);
    });
    const view = await api('GET', `/v1/ws-outgoing/${name}`);
    assert.equal(view.status, 200);
    assert.deepEqual(view.body.headerNames, ['authorization']);
    assert.equal(view.raw.includes('s3cret'), false, 'no header value in the view');
    const st = view.body.status;
    assert.deepEqual([st.state, st.holder, st.received, st.published, st.lastError], ['open', a.broker.leases.id, N, N, undefined]);
    const metric = await a.metrics.registry.getSingleMetric('sb_wsout_frames_published_total')?.get();
    assert.equal(metric?.values.find((v) => v.labels['connection'] === name)?.value, N);
  });

  it('sends every message of the subscription to the server at least once across a server kill and restart', async () => {
    const name = `out${r}`;
    const topic = `${root}.out`;
    await a.broker.topics.create({ name: topic });
    await a.broker.subscriptions.create({ name, topic, deliver: 'all', ackWaitMs: 5000 });
    let ext = await external();
    const port = ext.port;
    await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url, outbound: { subscription: name, maxInFlight: 8 }, reconnect: { initialMs: 50, maxMs: 400 } });
    const runner = run(a);
    await ext.socket();
    const N = 300;
    const publishing = (async () => {
      for (let i = 0; i < N; i++) {
        const data = i % 3 === 0 ? Buffer.from(`t${i}`) : Buffer.from(JSON.stringify({ i }));
        await a.broker.publish({ topic, data, contentType: i % 3 === 0 ? 'text/plain' : 'application/json' });
        if (i % 20 === 0) await new Promise((res) => setImmediate(res));
      }
    })();
    await until(() => ext.frames.length >= 100, 20_000, 'the first 100 frames');
    const before = [...ext.frames];
    await ext.kill();
    await until(() => runner.status(name)?.state === 'backoff', 10_000, 'the runner to back off');
    ext = await external(port);
    await publishing;
    const ids = (frames: string[]) => new Set(frames.map((f) => (f.startsWith('t') ? Number(f.slice(1)) : (JSON.parse(f) as { i: number }).i)));
    await until(() => ids([...before, ...ext.frames]).size === N, 30_000, 'every message at the server');
    const seen = ids([...before, ...ext.frames]);
    for (let i = 0; i < N; i++) assert.ok(seen.has(i), `message ${i} arrived`);
    const st = runner.status(name)!;
    assert.ok(st.reconnects >= 1, 'it reconnected');
    await until(async () => (await a.broker.subscriptions.info(name)).ackPending === 0, 10_000, 'every message acked');
  });

  it('runs one definition on exactly one of two replicas; stopping the holder hands it to the other', async () => {
    const name = `ha${r}`;
    const ext = await external();
    await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url });
    const [ra, rb] = [run(a), run(b)];
    await ext.socket();
    const open = () => [ra, rb].filter((x) => x.status(name)?.state === 'open');
    const holder = await until(() => (open().length === 1 ? open()[0] : undefined), 10_000, 'one replica open');
    const other = holder === ra ? rb : ra;
    assert.equal(other.status(name)?.state, 'standby');
    // Standby replicas keep trying the lease (every 200 ms here); give them several tries, then check again.
    const t0 = Date.now();
    await until(() => Date.now() - t0 > 1000);
    assert.equal(ext.connections, 1, 'only one replica ever connected');
    assert.equal(ext.sockets.size, 1);
    const view = await api('GET', `/v1/ws-outgoing/${name}`);
    assert.deepEqual(view.body.replicas.map((x: { state: string }) => x.state).sort(), ['open', 'standby']);
    await holder.close();
    await until(() => other.status(name)?.state === 'open', 10_000, 'the other replica to take over');
    assert.equal(ext.connections, 2);
  });

  it('a holder that dies without releasing (its broker gone) is replaced within about the lease TTL', async () => {
    const name = `crash${r}`;
    const c = await replica();
    const ext = await external();
    await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url });
    const rc = run(c);
    const first = await ext.socket();
    await until(() => rc.status(name)?.state === 'open', 10_000, 'the first replica open');
    const ra = run(a);
    await until(() => ra.status(name)?.state === 'standby', 10_000, 'the second replica standing by');
    const t0 = Date.now();
    const firstClosed = once(first, 'close');
    await c.broker.close({ deadlineMs: 1000 });
    await firstClosed;
    await until(() => ra.status(name)?.state === 'open', TTL_MS * 4, 'takeover');
    const took = Date.now() - t0;
    assert.ok(took <= TTL_MS + 1500, `taken over after ${took} ms (lease TTL ${TTL_MS} ms, retry 200 ms)`);
    assert.equal(ext.connections, 2);
  });

  it('a replica whose lease is lost closes its connection; the lease comes back and it reconnects', async () => {
    const name = `lost${r}`;
    const ext = await external();
    await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url });
    const runner = run(a);
    const first = await ext.socket();
    const firstClosed = once(first, 'close');
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      const { Kvm } = await import('@nats-io/kv');
      await (await new Kvm(nc).open(leasesBucket)).delete(`${WS_OUTGOING_PREFIX}${name}`);
    } finally {
      await nc.close();
    }
    await firstClosed;
    await until(() => runner.status(name)?.state === 'open' && ext.connections === 2, 10_000, 'reconnect under a new lease');
  });

  it('admin API: create, list, get without secrets, replace, start/stop at runtime, delete closes the connection; 400, 403, 404', async () => {
    const name = `adm${r}`;
    const ext = await external();
    run(a);
    const created = await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url, headers: { 'X-Api-Key': 'k-123456' }, enabled: false });
    assert.equal(created.status, 201);
    assert.deepEqual(
      { ...created.body, updatedAt: undefined },
      { name, url: ext.url, headerNames: ['x-api-key'], reconnect: { initialMs: 500, maxMs: 30_000 }, maxFrameBytes: 1_048_576, handshakeTimeoutMs: 10_000, enabled: false, updatedAt: undefined },
    );
    const listed = await api('GET', '/v1/ws-outgoing');
    assert.ok(listed.body.connections.some((c: { name: string }) => c.name === name));
    assert.equal(listed.raw.includes('k-123456'), false);
    assert.equal((await api('GET', `/v1/ws-outgoing/${name}`)).body.status.state, 'stopped');
    // Enabling it at runtime connects; the header kept from the first PUT is sent.
    assert.equal((await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url, enabled: true })).status, 200);
    await ext.socket();
    assert.equal(ext.headers[0]!['x-api-key'], 'k-123456');
    const sockClosed = once([...ext.sockets][0]!, 'close');
    assert.equal((await api('DELETE', `/v1/ws-outgoing/${name}`)).status, 204);
    await sockClosed;
    const gone = await api('GET', `/v1/ws-outgoing/${name}`);
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'SB_ERR_CONNECTION_NOT_FOUND']);
    assert.equal((await api('DELETE', `/v1/ws-outgoing/${name}`)).status, 404);

    for (const url of ['http://x.example/', 'ws://user:pw@x.example/', 'not a url']) {
      const bad = await api('PUT', `/v1/ws-outgoing/${name}`, { url });
      assert.deepEqual([bad.status, bad.body.error.code], [400, 'SB_ERR_VALIDATION'], url);
    }
    assert.equal((await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url, extra: 1 })).status, 400);
    assert.equal((await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url, reconnect: { initialMs: 5000, maxMs: 100 } })).status, 400);
    assert.equal((await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url, headers: { 'Bad Name': 'x' } })).status, 400);
    assert.equal((await api('PUT', '/v1/ws-outgoing/bad.name', { url: ext.url })).status, 400);
    const asUser = basic(user.name, user.password);
    assert.equal((await api('GET', '/v1/ws-outgoing', undefined, asUser)).status, 403);
    assert.equal((await api('PUT', `/v1/ws-outgoing/${name}`, { url: ext.url }, asUser)).status, 403);
    assert.equal((await api('GET', '/v1/ws-outgoing', undefined, 'Basic bm9wZTpub3Bl')).status, 401);
  });
});

describe('outgoing WebSocket connections: inbound while the backbone is away', function () {
  this.timeout(90_000);
  let nats: NatsServer;
  let broker: Broker;
  let runner: OutgoingRunner | undefined;
  let ext: External | undefined;
  let deps: GatewayDeps;
  const topic = `wsoutdown${rand()}.in`;

  before(async () => {
    nats = await NatsServer.start();
    const logger = createLogger({ level: process.env['SB_TEST_LOG'] ?? 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const metrics = createMetrics({ defaultMetrics: false });
    const config = resolveProcessConfig({ nats: { url: nats.url, leaseTtlMs: TTL_MS, publishTimeoutMs: 1000 } });
    broker = await createBroker({ config, logger, metrics });
    const { security } = await createSecurity({ config: broker.config, logger, enabled: true, adminPassword: ADMIN_PASSWORD });
    deps = { broker, security, logger, metrics, config };
  });
  afterEach(async () => {
    await runner?.close();
    runner = undefined;
    await ext?.kill();
    ext = undefined;
  });
  after(async () => {
    await broker?.close({ deadlineMs: 1000 });
    await nats?.dispose();
  });

  /** Sends frame `i` = `{"i":i}` from every open server socket, one per ms, until `stop()`; returns how many it sent. */
  function feed(e: External): { stop(): Promise<number> } {
    let i = 0;
    let on = true;
    const loop = (async () => {
      while (on) {
        for (const ws of e.sockets) if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ i: i++ }));
        await new Promise((res) => setTimeout(res, 1));
      }
    })();
    return { async stop() { on = false; await loop; return i; } };
  }

  it('holds frames while the topic is missing, then stores them all in order once it exists', async () => {
    const name = `miss${rand()}`;
    runner = startOutgoing(deps, { leaseRetryMs: 200, closeDeadlineMs: 2000 });
    ext = await External.start();
    await broker.config.put(`${WS_OUTGOING_PREFIX}${name}`, { ...wsOutgoingOf(name, { url: ext.url, inbound: { topic } }), headers: {} });
    const ws = await ext.socket();
    for (let i = 0; i < 50; i++) ws.send(JSON.stringify({ i }));
    await until(() => runner!.status(name)?.lastError === 'SB_ERR_TOPIC_NOT_FOUND', 10_000, 'the missing topic to be reported');
    assert.equal(runner!.status(name)!.published, 0);
    await broker.topics.create({ name: topic, storage: 'file' });
    await broker.subscriptions.create({ name: `${name}_check`, topic, deliver: 'all' });
    await until(() => runner!.status(name)?.published === 50, 20_000, 'the held frames to be stored');
    const got = await broker.subscriptions.pull(`${name}_check`, { max: 100, waitMs: 2000 });
    assert.deepEqual(got.map((m) => (JSON.parse(Buffer.from(m.data).toString()) as { i: number }).i), [...Array(50).keys()]);
  });

  it('every frame received while NATS is killed and restarted is stored once, in order', async () => {
    const name = `down${rand()}`;
    runner = startOutgoing(deps, { leaseRetryMs: 200, closeDeadlineMs: 2000 });
    ext = await External.start();
    const topic2 = `${topic}2`;
    await broker.topics.create({ name: topic2, storage: 'file' });
    await broker.subscriptions.create({ name: `${name}_check`, topic: topic2, deliver: 'all' });
    await broker.config.put(`${WS_OUTGOING_PREFIX}${name}`, { ...wsOutgoingOf(name, { url: ext.url, inbound: { topic: topic2 } }), headers: {} });
    await ext.socket();
    const f = feed(ext);
    await until(() => (runner!.status(name)?.published ?? 0) >= 200, 20_000, '200 frames stored');
    await nats.stop('SIGKILL');
    const receivedAtKill = runner.status(name)!.received;
    // Down long enough for a publish to fail and for the lease to be lost (the socket closes, frames queued meanwhile wait).
    await until(() => runner!.status(name)!.lastError === 'SB_ERR_BACKBONE_UNAVAILABLE' && runner!.status(name)!.state === 'standby', 20_000, 'a failed publish and the lease lost');
    await nats.restart();
    await until(() => broker.ready(), 30_000, 'the broker to reconnect');
    await until(() => runner!.status(name)?.state === 'open' && runner!.status(name)!.published > receivedAtKill + 100, 30_000, 'frames stored after the restart');
    await f.stop();
    const st = await until(() => {
      const s = runner!.status(name)!;
      return s.published === s.received ? s : undefined;
    }, 20_000, 'every received frame stored');
    const ids: number[] = [];
    for (;;) {
      const batch = await broker.subscriptions.pull(`${name}_check`, { max: 256, waitMs: 1000 });
      if (batch.length === 0) break;
      ids.push(...batch.map((m) => (JSON.parse(Buffer.from(m.data).toString()) as { i: number }).i));
      await broker.subscriptions.ack(`${name}_check`, batch.map((m) => m.ackToken));
    }
    assert.ok(ext.connections >= 2, 'it connected again under a new lease once NATS was back');
    assert.equal(ids.length, st.received, 'one stored message per frame received');
    for (let k = 1; k < ids.length; k++) assert.ok(ids[k]! > ids[k - 1]!, `in order, no duplicate (at ${k}: ${ids[k - 1]} then ${ids[k]})`);
  });
});
