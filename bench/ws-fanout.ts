/**
 * `npm run bench:ws`: the WebSocket gateway against bare baselines, in the production layout — a
 * private nats-server, `switchboard dev` (SB_DEV_JOBS=off, auth on) as the gateway process, and every
 * client in its own process:
 *  1. fan-out: BENCH_WS_CLIENTS (1000,5000,10000) clients of one channel (bench/ws-clients.ts, one
 *     process); BENCH_WS_ROUNDS (20) broadcasts of a 116-byte JSON value each, `POST
 *     /v1/ws-channels/{name}/broadcast`; against a bare `ws` server (bench/ws-bare-server.ts) sending the
 *     same frame bytes to the same number of clients. Fan-out time = trigger sent → last client got the
 *     frame (the fleet's clock), p50 and p99 over rounds; delivery latency p99 over every receipt.
 *  2. idle memory: VmRSS and V8 heap (after a forced GC, through the inspector) of the gateway and of
 *     the bare server before and after BENCH_WS_IDLE (5000) idle authenticated connections.
 *  3. durable delivery: BENCH_WS_MESSAGES (50 000) messages pre-filled on a topic, drained by one
 *     WebSocket client over a durable subscription (credit window BENCH_WS_WINDOW = 1000; the tokens of
 *     each read acked together, up to BENCH_WS_ACK_BATCH = 250 per `ack` frame, 1 = a frame per message;
 *     `batch: true` on the subscribe — a pull's messages in one frame, one per line — unless
 *     BENCH_WS_BATCH=off) and by a raw nats.js consumer (`consume({max_messages: window})` + `msg.ack()`).
 * Acceptance (issue 5): fan-out p50 at 5k ≤ 1.3× bare; ≤ 24 KiB per idle connection; durable ≥ 0.6× raw.
 * BENCH_PARTS (memory,fanout,durable) picks parts. Writes bench/results/ws-<time>.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from '../test/support/nats-server.js';
import { type CliProcess, startDev } from '../test/cli/process.js';
import { topicSubject } from '../broker/index.js';
import { drainRaw, prefill } from './delivery.js';
import { median } from './jobs-support.js';
import { printTable, ratio } from './load.js';
import { Cdp, FleetProcess, cpuMs, quantile, quiet, rssOf, startChild, type Target } from './ws-support.js';

const CLIENTS = (process.env['BENCH_WS_CLIENTS'] ?? '1000,5000,10000').split(',').map(Number);
const ROUNDS = Number(process.env['BENCH_WS_ROUNDS'] ?? '20');
const WARMUP_ROUNDS = 3;
const IDLE = Number(process.env['BENCH_WS_IDLE'] ?? '5000');
const MESSAGES = Number(process.env['BENCH_WS_MESSAGES'] ?? '50000');
const WINDOW = Number(process.env['BENCH_WS_WINDOW'] ?? '1000');
const ACK_BATCH = Number(process.env['BENCH_WS_ACK_BATCH'] ?? '250');
const BATCH = (process.env['BENCH_WS_BATCH'] ?? 'on') === 'on';
const DURABLE_ROUNDS = Number(process.env['BENCH_WS_DURABLE_ROUNDS'] ?? '3');
const PARTS = new Set((process.env['BENCH_PARTS'] ?? 'memory,fanout,durable').split(','));
const KIB = 1024;
const tag = randomBytes(3).toString('hex');
const channel = `benchws${tag}`;
/** The broadcast value: 116 bytes of JSON (the frame around it: 274 bytes). */
const VALUE = { kind: 'bench', at: '2026-01-01T00:00:00.000Z', text: 'x'.repeat(48), n: 12345 };
/** When set, CPU profiles of the gateway and the bare server during the measured phases are written there. */
const PROFILE_DIR = process.env['BENCH_WS_PROFILE_DIR'];
// Both servers run with the inspector (idle unless a session attaches): forced GC and heap figures, profiles.
const NODE_OPTIONS = '--inspect=127.0.0.1:0';

interface FanoutFigures { clients: number; target: string; fanoutMs: number[]; firstMs: number[]; latencyP99Ms: number; cpuMsPerRound: number }
interface MemoryFigures { target: string; connections: number; rssKiB: number; heapKiB: number; externalKiB: number }
interface DurableFigures { round: number; ws: number; raw: number }

const loadBefore = loadavg()[0] ?? 0;
const nats = await NatsServer.start();
const dev = await startDev(nats.url, { env: { SB_DEV_JOBS: 'off', NODE_OPTIONS } });
const bare = await startChild('ws-bare-server.ts', { BENCH_PORT: '0', NODE_OPTIONS });
const fleet = new FleetProcess();
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
const results: { memory: MemoryFigures[]; fanout: FanoutFigures[]; durable: DurableFigures[]; sample?: string } = { memory: [], fanout: [], durable: [] };
try {
  const bareUrl = `http://127.0.0.1:${(await bare.waitFor(/listening (\d+)/, 30_000))[1]}`;
  if ((await api('PUT', `/v1/ws-channels/${channel}`, { limits: { maxConnections: 20_000, maxConnectionsPerPrincipal: 20_000 } })).status !== 200) throw new Error('channel not created');
  const ours: Target = {
    name: 'ours', pid: dev.cli.proc.pid!, inspector: await inspectorOf(dev.cli),
    wsUrl: `${dev.url.replace(/^http/, 'ws')}/ws/${channel}`, headers: { authorization: dev.authorization }, hello: true,
    trigger: { url: `${dev.url}/v1/ws-channels/${channel}/broadcast`, headers: { authorization: dev.authorization }, body: JSON.stringify(VALUE) },
  };
  // The bare server sends exactly the frame the gateway sent (captured from one round).
  if (PARTS.has('fanout')) results.sample = await sampleFrame(ours);
  const baseline: Target = {
    name: 'bare', pid: bare.proc.pid!, inspector: await inspectorOf(bare),
    wsUrl: `${bareUrl.replace(/^http/, 'ws')}/`, headers: {}, hello: false,
    trigger: { url: `${bareUrl}/broadcast`, headers: {}, body: results.sample ?? '' },
  };
  if (PARTS.has('memory')) for (const t of [ours, baseline]) results.memory.push(await idleMemory(t));
  if (PARTS.has('fanout')) {
    for (const [i, n] of CLIENTS.entries()) {
      // Alternate which target goes first: the machine's speed drifts over minutes.
      for (const t of i % 2 === 0 ? [ours, baseline] : [baseline, ours]) {
        results.fanout.push(await fanout(t, n));
        await quiet(ours.pid); // leave events of ours' clients
      }
    }
  }
  if (PARTS.has('durable')) results.durable = await durable(ours);
  await report();
} finally {
  await fleet.stop();
  await nc.close();
  await bare.kill('SIGTERM');
  await dev.stop('SIGTERM');
  await nats.dispose();
}

async function inspectorOf(p: CliProcess): Promise<string> {
  const m = await p.waitFor(/Debugger listening on (ws:\/\/\S+)/, 10_000);
  return m[1]!;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  const res = await fetch(`${dev.url}${path}`, {
    method, headers: { authorization: dev.authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.text() };
}

/** One broadcast to one client of ours: the frame as the gateway sends it. */
async function sampleFrame(t: Target): Promise<string> {
  await fleet.connect(t, 1);
  try {
    const r = await fleet.round(t);
    if (r.status !== 202) throw new Error(`broadcast answered ${r.status}`);
    const f = JSON.parse(r.sample) as { type?: string; data?: unknown };
    if (f.type !== 'broadcast' || JSON.stringify(f.data) !== JSON.stringify(VALUE)) throw new Error(`unexpected broadcast frame ${r.sample}`);
    return r.sample;
  } finally {
    await fleet.close();
  }
}

/** Fan-out rounds of `t` to `n` clients, after WARMUP_ROUNDS unmeasured ones. */
async function fanout(t: Target, n: number): Promise<FanoutFigures> {
  await fleet.connect(t, n);
  try {
    // Connecting has background work (ours: presence events); measure without it, and without the other target's.
    await quiet(t.pid);
    for (let i = 0; i < WARMUP_ROUNDS; i++) await fleet.round(t);
    const fanoutMs: number[] = [];
    const firstMs: number[] = [];
    const latencies: number[] = [];
    const cpu0 = await cpuMs(t.pid);
    await profiled(t, `fanout-${n}`, async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const r = await fleet.round(t);
        if (r.status !== 202) throw new Error(`${t.name}: broadcast answered ${r.status}`);
        fanoutMs.push(r.fanoutMs);
        firstMs.push(r.firstMs);
        for (const l of r.latencies) latencies.push(l);
      }
    });
    const cpuMsPerRound = ((await cpuMs(t.pid)) - cpu0) / ROUNDS;
    const f = { clients: n, target: t.name, fanoutMs, firstMs, latencyP99Ms: quantile(latencies, 0.99), cpuMsPerRound };
    console.error(`bench: ${t.name} × ${n}: first receipt p50 ${quantile(firstMs, 0.5).toFixed(1)} ms, fan-out p50 ${quantile(fanoutMs, 0.5).toFixed(1)} ms, p99 ${quantile(fanoutMs, 0.99).toFixed(1)} ms; ${cpuMsPerRound.toFixed(1)} ms CPU per broadcast`);
    return f;
  } finally {
    await fleet.close();
  }
}

/** Runs `fn`; with BENCH_WS_PROFILE_DIR, under the V8 sampling profiler of `t` (written to <dir>/<target>-<label>.cpuprofile). */
async function profiled<T>(t: Target, label: string, fn: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return fn();
  const cdp = await Cdp.open(t.inspector);
  try {
    await cdp.call('Profiler.enable');
    await cdp.call('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.call('Profiler.start');
    const out = await fn();
    const { profile } = await cdp.call<{ profile: unknown }>('Profiler.stop');
    await mkdir(PROFILE_DIR, { recursive: true });
    await writeFile(`${PROFILE_DIR}/${t.name}-${label}.cpuprofile`, JSON.stringify(profile));
    return out;
  } finally {
    cdp.close();
  }
}

/** RSS and V8 heap growth of `t` for IDLE idle connections, each measured after a forced GC and a settle. */
async function idleMemory(t: Target): Promise<MemoryFigures> {
  const cdp = await Cdp.open(t.inspector);
  try {
    // Warm-up: the code paths of an upgrade are compiled and their lazy structures built before "before".
    await fleet.connect(t, 200);
    await fleet.close();
    const before = await settled(t.pid, cdp);
    await fleet.connect(t, IDLE);
    const after = await settled(t.pid, cdp);
    await fleet.close();
    const per = (a: number, b: number) => (a - b) / IDLE / KIB;
    const m = { target: t.name, connections: IDLE, rssKiB: per(after.rss, before.rss), heapKiB: per(after.heap, before.heap), externalKiB: per(after.external, before.external) };
    console.error(`bench: ${t.name}: ${m.rssKiB.toFixed(1)} KiB RSS, ${m.heapKiB.toFixed(1)} KiB heap per idle connection`);
    return m;
  } finally {
    cdp.close();
  }
}

/** Memory once RSS stopped moving (< 256 KiB over 1 s, at most 20 s), then a forced GC. */
async function settled(pid: number, cdp: Cdp): Promise<{ rss: number; heap: number; external: number }> {
  let last = await rssOf(pid);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await rssOf(pid);
    const still = Math.abs(now - last) < 256 * KIB;
    last = now;
    if (still) break;
  }
  const m = await cdp.gcMemory();
  return { rss: await rssOf(pid), heap: m.heapUsed, external: m.external };
}

/** Durable delivery: DURABLE_ROUNDS interleaved drains over WebSocket and raw, after one warm-up of each. */
async function durable(ours: Target): Promise<DurableFigures[]> {
  const topic = `benchws.d${tag}`;
  if ((await api('POST', '/v1/topics', { name: topic })).status !== 201) throw new Error('topic not created');
  try {
    await prefill(nc, topicSubject(topic), Buffer.from(JSON.stringify(VALUE)), MESSAGES);
    const out: DurableFigures[] = [];
    for (let r = 0; r <= DURABLE_ROUNDS; r++) {
      const wsFirst = r % 2 === 0;
      let ws = 0;
      let raw = 0;
      for (const which of wsFirst ? ['ws', 'raw'] : ['raw', 'ws']) {
        if (which === 'ws') ws = await profiled(ours, `durable-${r}`, () => drainWs(topic, r));
        else raw = (await drainRaw(nc, topic, MESSAGES, WINDOW)).msgsPerSec;
      }
      console.error(`bench: durable ${r === 0 ? 'warm-up' : `round ${r}`}: WebSocket ${ws.toFixed(0)} msgs/s, raw ${raw.toFixed(0)} msgs/s`);
      if (r > 0) out.push({ round: r, ws, raw });
    }
    return out;
  } finally {
    await api('DELETE', `/v1/topics/${topic}`);
  }
}

/**
 * One WebSocket client drains MESSAGES over a new durable subscription: credit WINDOW up front, then
 * more as acks are answered (so at most WINDOW messages are un-acked). Acks go as a good client sends
 * them: the tokens of what one read delivered, up to ACK_BATCH per `ack` frame (`ackTokens`; 1 = one
 * `ack` frame per message); the clock stops at the last ack's `ok`.
 */
async function drainWs(topic: string, round: number): Promise<number> {
  const name = `benchws${tag}r${round}`;
  const created = await api('POST', '/v1/subscriptions', { name, topic, deliver: 'all' });
  if (created.status !== 201) throw new Error(`subscription not created: ${created.status} ${created.body}`);
  const ws = new WebSocket(`${dev.url.replace(/^http/, 'ws')}/ws/${channel}`, { headers: { authorization: dev.authorization }, perMessageDeflate: false });
  try {
    return await new Promise<number>((resolve, reject) => {
      const half = Math.max(1, Math.floor(WINDOW / 2));
      let t0 = 0;
      let acked = 0;
      let sinceCredit = 0;
      let tokens: string[] = [];
      let flushing = false;
      const flush = (): void => {
        flushing = false;
        if (tokens.length === 0) return;
        ws.send(ACK_BATCH <= 1 ? `{"type":"ack","sub":"d","ackToken":${JSON.stringify(tokens[0])}}` : JSON.stringify({ type: 'ack', sub: 'd', ackTokens: tokens }));
        tokens = [];
      };
      const settled = (n: number): void => {
        acked += n;
        sinceCredit += n;
        if (acked === MESSAGES) return resolve(MESSAGES / ((performance.now() - t0) / 1000));
        if (sinceCredit >= half) {
          ws.send(`{"type":"credit","sub":"d","n":${sinceCredit}}`);
          sinceCredit = 0;
        }
      };
      ws.on('error', reject);
      ws.on('close', (code) => reject(new Error(`socket closed (${code}) after ${acked} acks`)));
      type F = { type: string; id?: string; sub?: string; ackToken?: string; credit?: number; settled?: number; code?: string; message?: string };
      const onFrame = (f: F): void => {
        if (f.type === 'hello') return ws.send(JSON.stringify({ type: 'subscribe', id: 'sub', sub: 'd', subscription: name, ...(BATCH ? { batch: true } : {}) }));
        if (f.type === 'error') return reject(new Error(`error frame ${f.code}: ${f.message}`));
        if (f.type === 'message') {
          tokens.push(f.ackToken!);
          if (tokens.length >= ACK_BATCH) flush();
          else if (!flushing) { flushing = true; setImmediate(flush); }
          return undefined;
        }
        if (f.type !== 'ok') return undefined;
        if (f.id === 'sub') {
          t0 = performance.now();
          return ws.send(JSON.stringify({ type: 'credit', sub: 'd', n: WINDOW }));
        }
        if (f.credit !== undefined) return undefined;
        return settled(f.settled ?? 1);
      };
      // With batch, a frame holds the messages of one pull, one JSON object per line.
      ws.on('message', (d) => {
        const text = d.toString();
        if (!BATCH) return onFrame(JSON.parse(text) as F);
        for (const line of text.split('\n')) onFrame(JSON.parse(line) as F);
        return undefined;
      });
    });
  } finally {
    ws.removeAllListeners('close');
    ws.on('error', () => undefined);
    ws.close();
    await api('DELETE', `/v1/subscriptions/${name}`);
  }
}

async function report(): Promise<void> {
  const load = `load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after`;
  console.log(`\nWebSocket: ${cpus().length} cores; ${load}`);
  if (results.memory.length > 0) {
    console.log(`\nIdle memory, ${IDLE} connections (after a forced GC), KiB per connection`);
    printTable(['target', 'RSS', 'V8 heap', 'external'], results.memory.map((m) => [m.target, m.rssKiB, m.heapKiB, m.externalKiB]));
  }
  const of = (n: number, t: string) => results.fanout.find((f) => f.clients === n && f.target === t);
  if (results.fanout.length > 0) {
    console.log(`\nFan-out, ${ROUNDS} broadcasts per row (after ${WARMUP_ROUNDS} warm-up), ms`);
    printTable(['clients', 'ours p50', 'ours p99', 'bare p50', 'bare p99', 'p50 ratio', 'p99 ratio', 'ours lat p99', 'bare lat p99', 'ours 1st p50', 'bare 1st p50', 'ours CPU/bcast', 'bare CPU/bcast'],
      CLIENTS.map((n) => {
        const o = of(n, 'ours')!;
        const b = of(n, 'bare')!;
        const [op50, op99, bp50, bp99] = [quantile(o.fanoutMs, 0.5), quantile(o.fanoutMs, 0.99), quantile(b.fanoutMs, 0.5), quantile(b.fanoutMs, 0.99)];
        return [n, op50, op99, bp50, bp99, ratio(op50, bp50), ratio(op99, bp99), o.latencyP99Ms, b.latencyP99Ms, quantile(o.firstMs, 0.5), quantile(b.firstMs, 0.5), o.cpuMsPerRound, b.cpuMsPerRound];
      }));
  }
  if (results.durable.length > 0) {
    console.log(`\nDurable delivery, ${MESSAGES} messages, window ${WINDOW}, msgs/s`);
    printTable(['round', 'WebSocket', 'raw JetStream', 'ratio'], results.durable.map((d) => [d.round, d.ws, d.raw, ratio(d.ws, d.raw)]));
  }
  console.log('');
  const o5 = of(5000, 'ours');
  const b5 = of(5000, 'bare');
  if (o5 && b5) {
    const r = quantile(o5.fanoutMs, 0.5) / quantile(b5.fanoutMs, 0.5);
    console.log(`fan-out at 5000: p50 ${r.toFixed(2)}× bare (accept ≤ 1.30: ${r <= 1.3 ? 'PASS' : 'FAIL'})`);
  }
  const mem = results.memory.find((m) => m.target === 'ours');
  if (mem) console.log(`idle memory: ${mem.rssKiB.toFixed(1)} KiB RSS per connection (accept ≤ 24: ${mem.rssKiB <= 24 ? 'PASS' : 'FAIL'})`);
  if (results.durable.length > 0) {
    const r = median(results.durable.map((d) => d.ws)) / median(results.durable.map((d) => d.raw));
    console.log(`durable: median WebSocket ${ratio(r, 1)}× raw (accept ≥ 0.60: ${r >= 0.6 ? 'PASS' : 'FAIL'})`);
  }
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const at = new Date().toISOString();
  const file = new URL(`./results/ws-${at.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, JSON.stringify({ at, cores: cpus().length, load, rounds: ROUNDS, idle: IDLE, messages: MESSAGES, window: WINDOW, ...results }, null, 2));
  console.error(`bench: results in ${file.pathname}`);
}
