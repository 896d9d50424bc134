/**
 * `npm run bench`: the REST gateway against raw baselines, on a private nats-server.
 *  (a/b) publish: autocannon, 64 connections, 1 KiB JSON, BENCH_DURATION s (default 10) per run, against
 *        `POST /v1/topics/{t}/messages` of `switchboard dev` (auth on, Basic admin) and against
 *        bench/raw-server.ts (node:http + one JetStream publish per request); both answer after the PubAck.
 *  (c) delivery: BENCH_MESSAGES (default 50000) pre-filled messages drained by REST pull + ack vs a raw
 *        JetStream pull consumer.
 * The machine may be shared, so both sides run interleaved BENCH_ROUNDS times (default 3, alternating
 * which goes first) and the medians are compared. Prints tables and ratios; writes
 * bench/results/rest-publish-<time>.json. Never part of npm test.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsServer } from '../test/support/nats-server.js';
import { startDev } from '../test/cli/process.js';
import { topicSubject } from '../broker/index.js';
import { RestClient } from '../cli/index.js';
import { kibJson, printTable, ratio, runLoad, startRawServer, type LoadFigures } from './load.js';
import { drainRaw, drainRest, prefill, type DrainFigures } from './delivery.js';

const DURATION = Number(process.env['BENCH_DURATION'] ?? '10');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '3');
const CONNECTIONS = 64;
const MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? '50000');
// One batch size for both readers: the REST API's default cap on ?max= (config.http.maxPullMessages).
const BATCH = 256;
// File storage for every topic: what a user gets by default, for the gateway and the baseline alike.
const STORAGE = 'file' as const;
const body = kibJson();

const loadBefore = loadavg()[0] ?? 0;
const nats = await NatsServer.start();
const dev = await startDev(nats.url);
const nc = await connect({ servers: nats.url });
const admin = new RestClient({ baseUrl: dev.url, authorization: dev.authorization, timeoutMs: 60_000 });
try {
  const publish = await benchPublish();
  const delivery: DrainFigures[][] = [];
  // Warm-up, not counted: the pull/ack code paths get JIT-compiled, as the publish runs' warm-up does.
  await benchDelivery(false);
  for (let r = 0; r < ROUNDS; r++) delivery.push(await benchDelivery(r % 2 === 1));
  await report(publish, delivery);
} finally {
  await nc.close();
  await dev.stop('SIGTERM');
  await nats.dispose();
}

/** ROUNDS × (gateway, raw) publish runs, alternating the order; each run on a purged stream after a warm-up. */
async function benchPublish(): Promise<LoadFigures[][]> {
  const topic = `bench.publish${randomBytes(3).toString('hex')}`;
  await admin.createTopic({ name: topic, storage: STORAGE });
  const rawServer = await startRawServer(nats.url, topicSubject(topic));
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.find(topicSubject(topic));
  const json = { 'content-type': 'application/json' };
  const targets = [
    { name: 'switchboard REST', url: `${dev.url}/v1/topics/${topic}/messages`, headers: { ...json, authorization: dev.authorization } },
    { name: 'raw node:http + JetStream', url: rawServer.url, headers: json },
  ];
  const rounds: LoadFigures[][] = [];
  try {
    for (const t of targets) await runLoad({ ...t, body, connections: CONNECTIONS, duration: 2 }); // JIT warm-up
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      const round: LoadFigures[] = [];
      for (const t of order) {
        await jsm.streams.purge(stream);
        console.error(`bench: round ${r + 1}/${ROUNDS}: ${t.name} for ${DURATION} s …`);
        round.push(await runLoad({ ...t, body, connections: CONNECTIONS, duration: DURATION }));
      }
      rounds.push(targets.map((t) => round.find((f) => f.name === t.name) as LoadFigures));
    }
  } finally {
    await rawServer.proc.kill('SIGTERM');
  }
  return rounds;
}

/** One delivery round on a fresh topic: REST drain and raw drain of the same MESSAGES, in the given order. */
async function benchDelivery(rawFirst: boolean, messages = MESSAGES): Promise<DrainFigures[]> {
  const topic = `bench.delivery${randomBytes(3).toString('hex')}`;
  await admin.createTopic({ name: topic, storage: STORAGE });
  console.error(`bench: pre-filling ${messages} messages …`);
  await prefill(nc, topicSubject(topic), Buffer.from(body), messages);
  const sub = `benchsub${randomBytes(3).toString('hex')}`;
  await admin.createSubscription({ name: sub, topic, deliver: 'all' });
  const rest = async (): Promise<DrainFigures> => drainRest({ baseUrl: dev.url, authorization: dev.authorization }, sub, messages, BATCH);
  const raw = async (): Promise<DrainFigures> => drainRaw(nc, topic, messages, BATCH);
  console.error(`bench: draining ${rawFirst ? 'raw, then REST' : 'REST, then raw'} …`);
  if (rawFirst) {
    const r = await raw();
    return [await rest(), r];
  }
  const s = await rest();
  return [s, await raw()];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function report(publish: LoadFigures[][], delivery: DrainFigures[][]): Promise<void> {
  const load = `load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after`;
  console.log(`\nPublish: ${CONNECTIONS} connections, 1 KiB JSON, ${DURATION} s × ${ROUNDS} rounds, ${STORAGE} storage, ${cpus().length} cores; ${load}`);
  printTable(['round / target', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors'],
    publish.flatMap((round, r) => round.map((p) => [`${r + 1} ${p.name}`, p.reqPerSec, p.p50Ms, p.p99Ms, p.total, p.non2xx, p.errors])));
  const med = (i: number, k: 'reqPerSec' | 'p50Ms' | 'p99Ms'): number => median(publish.map((round) => round[i]?.[k] ?? 0));
  console.log('');
  printTable(['median', 'req/s', 'p50 ms', 'p99 ms'], [0, 1].map((i) => [publish[0]?.[i]?.name ?? '', med(i, 'reqPerSec'), med(i, 'p50Ms'), med(i, 'p99Ms')]));
  const thr = med(0, 'reqPerSec') / med(1, 'reqPerSec');
  const p99 = med(0, 'p99Ms') / med(1, 'p99Ms');
  console.log(`\nthroughput ratio ${ratio(med(0, 'reqPerSec'), med(1, 'reqPerSec'))} (accept ≥ 0.70: ${thr >= 0.7 ? 'PASS' : 'FAIL'})`);
  console.log(`p99 ratio        ${ratio(med(0, 'p99Ms'), med(1, 'p99Ms'))} (accept ≤ 1.50: ${p99 <= 1.5 ? 'PASS' : 'FAIL'})`);

  console.log(`\nDelivery: ${MESSAGES} pre-filled 1 KiB messages × ${ROUNDS} rounds`);
  printTable(['round / reader', 'messages', 'seconds', 'msgs/s'], delivery.flatMap((round, r) => round.map((d) => [`${r + 1} ${d.name}`, d.messages, d.seconds, d.msgsPerSec])));
  const restMed = median(delivery.map((d) => d[0]?.msgsPerSec ?? 0));
  const rawMed = median(delivery.map((d) => d[1]?.msgsPerSec ?? 0));
  const del = restMed / rawMed;
  console.log(`\nmedian msgs/s: REST ${restMed.toFixed(0)}, raw ${rawMed.toFixed(0)}; delivery ratio ${ratio(restMed, rawMed)} (accept ≥ 0.50: ${del >= 0.5 ? 'PASS' : 'FAIL'})`);
  await save({ publish, delivery, ratios: { throughput: thr, p99, delivery: del }, load });
}

async function save(results: object): Promise<void> {
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const at = new Date().toISOString();
  const file = new URL(`./results/rest-publish-${at.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, JSON.stringify({ at, cores: cpus().length, duration: DURATION, rounds: ROUNDS, connections: CONNECTIONS, messages: MESSAGES, ...results }, null, 2));
  console.error(`bench: results in ${file.pathname}`);
}
