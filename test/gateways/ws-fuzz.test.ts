/**
 * Fuzzes the frame protocol: 10 000 random frames (random text and bytes, random JSON, ops with wrong
 * or random fields) against one gateway. Every frame must be answered (ok, pong or error) unless the
 * socket is closed with a documented code first; the process must not crash, and a control client
 * connected throughout must still get its pong.
 */
import assert from 'node:assert/strict';
import { WS_CHANNEL_PREFIX, wsChannelOf } from '../../schemas/ws.js';
import { dropBucket, rand, startRestStack, testBucket, type RestStack } from './rest-harness.js';
import { WsClient } from './ws-client.js';

const bucket = testBucket('wsfuzz');
const FRAMES = 10_000;
const BATCH = 50;
/** Close codes docs/ws-protocol.md lists for a client's own misbehaviour. */
const DOCUMENTED = new Set([1009, 4400, 4401, 4408, 1013]);

/** A small seeded PRNG (mulberry32) so a failure can be replayed with the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('WebSocket gateway: frame fuzzing', function () {
  this.timeout(120_000);
  let s: RestStack;
  const ch = `fuzz${rand()}`;

  before(async function () {
    s = await startRestStack({ bucket });
    await s.broker.config.put(`${WS_CHANNEL_PREFIX}${ch}`, wsChannelOf(ch, { limits: { maxFrameBytes: 4096 } }));
  });
  after(async function () {
    await s.dispose();
    await dropBucket(bucket);
  });

  it(`answers or closes with a documented code for ${FRAMES} random frames, and keeps serving`, async function () {
    const seed = Number(process.env['SB_FUZZ_SEED'] ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const int = (n: number) => Math.floor(rnd() * n);
    const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
    const str = (max: number) => Array.from({ length: int(max) }, () => String.fromCharCode(int(0x2000))).join('');
    const token = () => pick(['a', 'b.c', '*', '>', 'x.>', '', '..', 'ü', str(8)]);
    const value = (depth = 0): unknown => {
      switch (int(depth > 2 ? 5 : 7)) {
        case 0: return null;
        case 1: return rnd() < 0.5;
        case 2: return pick([0, -1, 1.5, 1e300, 10_001, int(100)]);
        case 3: return str(20);
        case 4: return token();
        case 5: return Array.from({ length: int(4) }, () => value(depth + 1));
        default: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['type', 'id', 'sub', 'n', 'topic', str(5)]), value(depth + 1)]));
      }
    };
    const ops = ['ping', 'publish', 'subscribe', 'unsubscribe', 'credit', 'ack', 'nak', 'auth', 'bogus'];
    const frame = (): string | Buffer => {
      const k = int(200);
      if (k < 20) return Buffer.from(Array.from({ length: int(64) }, () => int(256)));
      if (k < 40) return str(64);
      if (k < 80) return JSON.stringify(value());
      if (k === 80) return 'x'.repeat(5000); // over maxFrameBytes: closes with 1009
      const f: Record<string, unknown> = { type: pick(ops) };
      for (const field of ['id', 'sub', 'topic', 'subscription', 'data', 'n', 'ackToken', 'delayMs', 'authorization', 'contentType']) {
        if (rnd() < 0.4) f[field] = rnd() < 0.5 ? value() : pick([token(), `s${int(3)}`, 'Basic Zm9vOmJhcg==', int(50)]);
      }
      if (f['type'] === 'subscribe' && 'topic' in f && 'subscription' in f) delete f['subscription'];
      return JSON.stringify(f);
    };

    const url = `${s.base.replace('http:', 'ws:')}/ws/${ch}`;
    const headers = { authorization: s.admin };
    const control = await WsClient.connect(url, headers);
    let c = await WsClient.connect(url, headers);
    let answered = 0;
    let closes = 0;
    for (let sent = 0; sent < FRAMES; sent += BATCH) {
      for (let i = 0; i < BATCH; i++) c.send(frame());
      const seen = () => c.frames.filter((f) => f['type'] !== 'message').length;
      if (!await c.waitFor(() => seen() >= BATCH)) {
        const { code } = await c.closed;
        assert.ok(DOCUMENTED.has(code), `seed ${seed}: closed with undocumented code ${code}`);
        closes++;
        c = await WsClient.connect(url, headers);
        continue;
      }
      assert.equal(seen(), BATCH, `seed ${seed}: one answer per frame`);
      answered += BATCH;
      c.frames.length = 0;
    }
    if (process.env['SB_FUZZ_VERBOSE']) console.log({ seed, answered, closes });
    assert.ok(answered > FRAMES / 4 && closes > 0, `seed ${seed}: both paths taken (answered ${answered}, closes ${closes})`);
    assert.equal((await control.request({ type: 'ping' })).type, 'pong');
    await c.close();
    await control.close();
  });
});
