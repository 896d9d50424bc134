import assert from 'node:assert/strict';
import { nakDelayMs, MIN_NAK_DELAY_MS, type SubscriptionRecord } from '../../broker/index.js';
import { decodeAckToken, encodeAckToken, parseAckSubject } from '../../broker/ack-token.js';
import { consumerConfig } from '../../broker/subscription-record.js';

const base: SubscriptionRecord = {
  name: 's', topic: 't', deliver: 'new', ackWaitMs: 30_000, maxDeliver: 5, backoffMs: [], deadLetterTopic: null, createdAt: '2026-01-01T00:00:00.000Z',
};

describe('retry policy and ack tokens (pure)', () => {
  it('nak without a delay follows the backoff list, last entry repeating', () => {
    const rec = { ...base, backoffMs: [200, 1000, 5000] };
    assert.deepEqual([1, 2, 3, 4, 9].map((n) => nakDelayMs(rec, n)), [200, 1000, 5000, 5000, 5000]);
    assert.equal(nakDelayMs(rec, 1, 750), 750, 'an explicit delay wins');
  });

  it('nak without backoff doubles from min(ackWait, 1 s), capped at ackWait, never below the floor', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 60].map((n) => nakDelayMs(base, n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    const short = { ...base, ackWaitMs: 300 };
    assert.deepEqual([1, 2].map((n) => nakDelayMs(short, n)), [300, 300]);
    assert.equal(nakDelayMs(base, 1, 0), MIN_NAK_DELAY_MS, 'no bare nak, even when asked for 0 ms');
  });

  it('passes backoff to the consumer only when 2.9 accepts it (max_deliver > its length)', () => {
    assert.deepEqual(consumerConfig({ ...base, backoffMs: [100, 200] }, true).backoff, [100e6, 200e6]);
    assert.equal(consumerConfig({ ...base, maxDeliver: 2, backoffMs: [100, 200] }, true).backoff, undefined);
    assert.equal(consumerConfig(base, true).deliver_policy, 'new');
    const later = consumerConfig(base, false);
    assert.equal(later.deliver_policy, 'by_start_time', 'a consumer added later starts at the subscription createdAt');
    assert.equal(later.opt_start_time, base.createdAt);
  });

  it('parses both ack subject forms', () => {
    const v29 = parseAckSubject('$JS.ACK.SBT_a_1.SBS_x.3.17.9.1795940264315571279.4');
    assert.deepEqual(v29 && [v29.stream, v29.consumer, v29.deliveryCount, v29.streamSeq, v29.consumerSeq, v29.pending], ['SBT_a_1', 'SBS_x', 3, 17, 9, 4]);
    const v2 = parseAckSubject('$JS.ACK.hub.ACCHASH.SBT_a_1.SBS_x.2.5.6.1795940264315571279.0.rnd');
    assert.deepEqual(v2 && [v2.stream, v2.consumer, v2.deliveryCount, v2.streamSeq], ['SBT_a_1', 'SBS_x', 2, 5]);
    assert.equal(parseAckSubject('$JS.ACK.a.b.c'), undefined);
    assert.equal(parseAckSubject('foo.bar'), undefined);
  });

  it('a token round-trips its ack subject and names only its own consumer', () => {
    const subject = '$JS.ACK.SBT_a_1.SBS_x.1.1.1.1795940264315571279.0';
    const t = encodeAckToken(subject);
    assert.equal(t, 'SBT_a_1.SBS_x.1.1.1.1795940264315571279.0');
    assert.equal(decodeAckToken(t, 'SBS_x').streamSeq, 1);
    assert.throws(() => decodeAckToken(t, 'SBS_y'), /another subscription/);
    for (const bad of ['', 'x'.repeat(513), 'foo.bar', encodeAckToken('$JS.ACK.S.SBS_x.1.-2.1.1.0'), `${t}.extra`]) {
      assert.throws(() => decodeAckToken(bad, 'SBS_x'), /malformed/);
    }
  });
});
