import assert from 'node:assert/strict';
import { isSbError, type Signal, type TappedMessage } from '../../broker/index.js';
import { sharedBrokerSuite, startBroker, type TestBroker } from './helpers.js';

describe('broker signals (core NATS fan-out)', () => {
  const suite = sharedBrokerSuite('bs');
  const { root } = suite;
  let other: TestBroker;
  before(async () => { other = await startBroker({ bucket: suite.bucket }); });
  after(async () => { await other.broker.close(); });

  /** Resolves with the first `n` signals `fn` is handed. */
  function collect<T>(n: number): { fn: (x: T) => void; all: Promise<T[]> } {
    const got: T[] = [];
    let done!: (v: T[]) => void;
    const all = new Promise<T[]>((r) => { done = r; });
    return { fn: (x) => { got.push(x); if (got.length === n) done(got); }, all };
  }

  it('fans one emit out to every subscriber in every process, with its headers; a queue group shares them', async () => {
    const name = `${root}.fan`;
    const a = collect<Signal>(1);
    const b = collect<Signal>(1);
    const q: Signal[] = [];
    const subs = [
      suite.tb.broker.signals.on(`${root}.*`, a.fn),
      other.broker.signals.on(name, b.fn),
      suite.tb.broker.signals.on(name, (s) => q.push(s), { queue: 'g' }),
      other.broker.signals.on(name, (s) => q.push(s), { queue: 'g' }),
    ];
    await Promise.all([suite.tb.broker.signals.flush(), other.broker.signals.flush()]);
    other.broker.signals.emit(name, Buffer.from('hi'), { 'X-Test': '1' });
    const [[sa], [sb]] = await Promise.all([a.all, b.all]);
    for (const s of [sa!, sb!]) {
      assert.equal(s.name, name);
      assert.equal(Buffer.from(s.data).toString(), 'hi');
      assert.equal(s.headers['X-Test'], '1');
      assert.equal(s.reply, undefined);
    }
    await Promise.all([suite.tb.broker.signals.flush(), other.broker.signals.flush()]);
    assert.equal(q.length, 1, 'a queue group gets one copy');
    for (const s of subs) s.unsubscribe();
  });

  it('gathers one answer from every listener, and [] when nobody listens', async () => {
    const name = `${root}.ask`;
    const subs = [suite.tb, other].map((t, i) => t.broker.signals.on(name, (s) => s.reply?.(Buffer.from(`r${i}:${Buffer.from(s.data).toString()}`))));
    await Promise.all([suite.tb.broker.signals.flush(), other.broker.signals.flush()]);
    const got = await suite.tb.broker.signals.gather(name, Buffer.from('q'), { stallMs: 200 });
    assert.deepEqual(got.map((d) => Buffer.from(d).toString()).sort(), ['r0:q', 'r1:q']);
    for (const s of subs) s.unsubscribe();
    await Promise.all([suite.tb.broker.signals.flush(), other.broker.signals.flush()]);
    assert.deepEqual(await suite.tb.broker.signals.gather(`${root}.nobody`, Buffer.from('q'), { stallMs: 100 }), []);
  });

  it('taps topic messages as they are published, with id, topic and content type', async () => {
    const topic = `${root}.tapped`;
    await suite.tb.broker.topics.create({ name: topic });
    const c = collect<TappedMessage>(1);
    const h = other.broker.signals.tap(`${root}.>`, c.fn);
    await other.broker.signals.flush();
    const r = await suite.tb.broker.publish({ topic, data: Buffer.from('{"a":1}'), contentType: 'application/json' });
    const [m] = await c.all;
    assert.equal(m!.topic, topic);
    assert.equal(m!.id, r.id);
    assert.equal(m!.contentType, 'application/json');
    assert.equal(Buffer.from(m!.data).toString(), '{"a":1}');
    h.unsubscribe();
  });

  it('refuses bad names with SB_ERR_INVALID_TOPIC_NAME', () => {
    assert.throws(() => suite.tb.broker.signals.emit('a.*', Buffer.from('x')), (e) => isSbError(e, 'SB_ERR_INVALID_TOPIC_NAME'));
    assert.throws(() => suite.tb.broker.signals.on('a..b', () => undefined), (e) => isSbError(e, 'SB_ERR_INVALID_TOPIC_NAME'));
  });
});
