/**
 * The gateway conformance suite (STYLE §14): every gateway kind (REST, WebSocket, AMQP, Kafka) runs
 * these cases through its own protocol. A harness hides the protocol; verification goes through a
 * broker on the same backbone, so what is asserted is what JetStream stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Broker, DeliveredMessage } from '../../broker/types.js';

/** The outcome of one publish through a gateway: stored, or refused with a code. */
export type PublishOutcome =
  | { ok: true; id: string; seq: number; duplicate: boolean }
  /** `code` is an SB_ERR_* code, or `connection_error` when the transport itself failed. */
  | { ok: false; code: string };

/** Per-message options every gateway can express. */
export interface PublishOpts {
  contentType?: string;
  idempotencyKey?: string;
}

/** One running gateway under test. */
export interface GatewayInstance {
  /** A broker on the same backbone, for set-up (topics) and verification (pull/ack). */
  readonly broker: Broker;
  /** The gateway's payload limit, in bytes. */
  readonly maxPayloadBytes: number;
  publish(topic: string, data: Uint8Array, opts?: PublishOpts): Promise<PublishOutcome>;
  publishBatch(topic: string, items: Array<{ data: Uint8Array } & PublishOpts>): Promise<PublishOutcome[]>;
  /** The gateway's own `stop({ deadlineMs })`. */
  stop(deadlineMs: number): Promise<void>;
  /** Stops the gateway and releases everything the harness made for it. */
  dispose(): Promise<void>;
}

/** What a gateway kind provides to run the suite. */
export interface ConformanceHarness {
  start(): Promise<GatewayInstance>;
}

const rand = () => randomBytes(4).toString('hex');

/** Reads `n` messages of `topic` from the start, through a throwaway subscription; acks them. */
export async function readBack(broker: Broker, topic: string, n: number, timeoutMs = 10_000): Promise<DeliveredMessage[]> {
  const name = `conf_${rand()}`;
  await broker.subscriptions.create({ name, topic, deliver: 'all', ackWaitMs: 30_000 });
  const out: DeliveredMessage[] = [];
  try {
    const until = Date.now() + timeoutMs;
    while (out.length < n && Date.now() < until) {
      const got = await broker.subscriptions.pull(name, { max: Math.min(256, n - out.length), waitMs: 500 });
      out.push(...got);
      if (got.length > 0) await broker.subscriptions.ack(name, got.map((m) => m.ackToken));
    }
  } finally {
    await broker.subscriptions.delete(name);
  }
  return out;
}

function stored(o: PublishOutcome): { id: string; seq: number; duplicate: boolean } {
  if (!o.ok) assert.fail(`expected the publish to be stored, got ${o.code}`);
  return o;
}

/** The cases of the suite, by id. */
export const CONFORMANCE_CASES = ['bytes', 'text', 'batch', 'parallel', 'dedup', 'bad-input', 'close'] as const;
export type ConformanceCase = (typeof CONFORMANCE_CASES)[number];

/** Options of {@link runGatewayConformance}. */
export interface ConformanceOptions {
  /**
   * The cases that map to this gateway (default: all). A bridge, for one, has its topic in its
   * definition (no per-message topic to get wrong) and no client to refuse after a stop.
   */
  cases?: readonly ConformanceCase[];
}

/** Registers the conformance cases for gateway `name` under one mocha `describe`. */
export function runGatewayConformance(name: string, harness: ConformanceHarness, opts: ConformanceOptions = {}): void {
  const selected = new Set<ConformanceCase>(opts.cases ?? CONFORMANCE_CASES);
  // Registers a case only when it is selected (an unselected case is not run, rather than skipped).
  const it = (id: ConformanceCase, title: string, fn: Mocha.Func): void => {
    if (selected.has(id)) globalThis.it(title, fn);
  };
  describe(`${name} gateway conformance`, function () {
    let gw: GatewayInstance;
    const topics: string[] = [];
    async function newTopic(): Promise<string> {
      const t = `conf.${name}.${rand()}`;
      await gw.broker.topics.create({ name: t, storage: 'memory' });
      topics.push(t);
      return t;
    }

    before(async function () { gw = await harness.start(); });
    after(async function () {
      for (const t of topics) await gw.broker.topics.delete(t).catch(() => undefined);
      await gw.dispose();
    });

    it('bytes', 'round-trips all 256 byte values exactly', async function () {
      const t = await newTopic();
      const bytes = new Uint8Array(512).map((_, i) => i % 256);
      const r = stored(await gw.publish(t, bytes, { contentType: 'application/octet-stream' }));
      const [m] = await readBack(gw.broker, t, 1);
      assert.ok(m);
      assert.equal(m.id, r.id);
      assert.deepEqual(Buffer.from(m.data), Buffer.from(bytes));
      assert.equal(m.contentType, 'application/octet-stream');
    });

    it('text', 'stores JSON and text byte for byte (no re-serialisation)', async function () {
      const t = await newTopic();
      const json = Buffer.from('{ "b":1,\n  "a" : [1.50, "\\u00e9"] }');
      const text = Buffer.from('héllo ✓ 日本 \u0000 end', 'utf8');
      stored(await gw.publish(t, json, { contentType: 'application/json' }));
      stored(await gw.publish(t, text, { contentType: 'text/plain; charset=utf-8' }));
      const [a, b] = await readBack(gw.broker, t, 2);
      assert.deepEqual(Buffer.from(a?.data ?? []), json);
      assert.equal(a?.contentType, 'application/json');
      assert.deepEqual(Buffer.from(b?.data ?? []), text);
      assert.equal(b?.contentType, 'text/plain; charset=utf-8');
    });

    it('batch', 'publishes a batch in order, one outcome per message', async function () {
      const t = await newTopic();
      const items = Array.from({ length: 50 }, (_, i) => ({ data: Buffer.from(`m${i}`), contentType: 'text/plain' }));
      const out = (await gw.publishBatch(t, items)).map(stored);
      assert.equal(out.length, 50);
      for (let i = 1; i < out.length; i++) assert.ok((out[i]?.seq ?? 0) > (out[i - 1]?.seq ?? 0), 'seqs follow the batch order');
      const back = await readBack(gw.broker, t, 50);
      assert.deepEqual(back.map((m) => Buffer.from(m.data).toString()), items.map((m) => m.data.toString()));
    });

    it('parallel', 'stores 1000 parallel publishes exactly once each', async function () {
      this.timeout(30_000);
      const t = await newTopic();
      const outs = await Promise.all(Array.from({ length: 1000 }, (_, i) => gw.publish(t, Buffer.from(`p${i}`))));
      const ok = outs.map(stored);
      assert.equal(new Set(ok.map((o) => o.seq)).size, 1000, 'distinct sequence numbers');
      assert.equal((await gw.broker.topics.info(t)).messages, 1000);
      const back = await readBack(gw.broker, t, 1000);
      assert.deepEqual(new Set(back.map((m) => m.id)), new Set(ok.map((o) => o.id)));
    });

    it('dedup', 'dedups by idempotency key', async function () {
      const t = await newTopic();
      const key = `k-${rand()}`;
      const first = stored(await gw.publish(t, Buffer.from('once'), { idempotencyKey: key }));
      const again = stored(await gw.publish(t, Buffer.from('once'), { idempotencyKey: key }));
      assert.equal(first.duplicate, false);
      assert.equal(again.duplicate, true);
      assert.equal(again.seq, first.seq);
      assert.equal((await gw.broker.topics.info(t)).messages, 1);
    });

    it('bad-input', 'refuses bad input with its code and keeps serving', async function () {
      const t = await newTopic();
      const bad = ['', 'has space', 'a..b', '.lead', 'trail.', 'x'.repeat(201), 'y'.repeat(5000), '*', '>', 'a.*', 'orders.>', 'a.b*'];
      for (const topic of bad) {
        const o = await gw.publish(topic, Buffer.from('x'));
        assert.deepEqual(o, { ok: false, code: 'SB_ERR_INVALID_TOPIC_NAME' }, `topic ${JSON.stringify(topic.slice(0, 20))}`);
      }
      assert.deepEqual(await gw.publish(`missing.${rand()}`, Buffer.from('x')), { ok: false, code: 'SB_ERR_TOPIC_NOT_FOUND' });
      const big = await gw.publish(t, Buffer.alloc(gw.maxPayloadBytes + 1, 1));
      assert.deepEqual(big, { ok: false, code: 'SB_ERR_PAYLOAD_TOO_LARGE' });
      const json = await gw.publish(t, Buffer.from('{"a":'), { contentType: 'application/json' });
      assert.deepEqual(json, { ok: false, code: 'SB_ERR_INVALID_JSON' });
      stored(await gw.publish(t, Buffer.alloc(gw.maxPayloadBytes, 2)));
      assert.equal((await gw.broker.topics.info(t)).messages, 1, 'only the good publish was stored');
    });

    it('close', 'closes under a deadline; every acknowledged publish is stored', async function () {
      this.timeout(20_000);
      const t = await newTopic();
      const g2 = await harness.start();
      try {
        const inflight = Array.from({ length: 100 }, (_, i) => g2.publish(t, Buffer.from(`c${i}`)));
        // Stop once the gateway is demonstrably busy (10 answered), so the rest are mid-flight.
        let answered = 0;
        await new Promise<void>((resolve) => {
          for (const p of inflight) void p.then(() => { if (++answered === 10) resolve(); });
        });
        const t0 = Date.now();
        await g2.stop(2000);
        const stopMs = Date.now() - t0;
        assert.ok(stopMs < 3000, `stop took ${stopMs} ms`);
        const outs = await Promise.all(inflight);
        const acked = outs.filter((o): o is Extract<PublishOutcome, { ok: true }> => o.ok);
        console.log(`      stop under load: ${stopMs} ms, ${acked.length}/100 acknowledged, the rest refused`);
        for (const o of outs) {
          if (!o.ok) assert.ok(['SB_ERR_SHUTTING_DOWN', 'connection_error'].includes(o.code), o.code);
        }
        const after = await g2.publish(t, Buffer.from('late'));
        assert.equal(after.ok, false, 'a stopped gateway refuses intake');
        const total = (await gw.broker.topics.info(t)).messages;
        assert.ok(total >= acked.length, `${total} stored, ${acked.length} acknowledged`);
        const back = await readBack(gw.broker, t, total);
        const ids = new Set(back.map((m) => m.id));
        for (const o of acked) assert.ok(ids.has(o.id), `acknowledged ${o.id} is stored`);
      } finally {
        await g2.dispose();
      }
    });
  });
}
