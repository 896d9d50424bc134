import assert from 'node:assert/strict';
import { filterCovers, topicMatches, validateTopicFilter, validateTopicName, isSbError } from '../../broker/index.js';

describe('topic names and filters', () => {
  it('matches filters against topics like NATS subjects', () => {
    assert.ok(topicMatches('orders', 'orders'));
    assert.ok(topicMatches('orders.*', 'orders.eu'));
    assert.ok(!topicMatches('orders.*', 'orders'));
    assert.ok(!topicMatches('orders.*', 'orders.eu.x'));
    assert.ok(topicMatches('orders.>', 'orders.eu.x'));
    assert.ok(!topicMatches('orders.>', 'orders'));
    assert.ok(topicMatches('>', 'a'));
    assert.ok(topicMatches('*.eu', 'orders.eu'));
    assert.ok(!topicMatches('orders.eu', 'orders.us'));
  });

  it('decides whether an ACL pattern covers a subscription filter', () => {
    assert.ok(filterCovers('>', 'orders.*'));
    assert.ok(filterCovers('orders.>', 'orders.*'));
    assert.ok(filterCovers('orders.>', 'orders.eu.>'));
    assert.ok(filterCovers('orders.*', 'orders.eu'));
    assert.ok(!filterCovers('orders.eu', 'orders.*'));
    assert.ok(!filterCovers('orders.*', 'orders.>'));
    assert.ok(!filterCovers('orders.*', 'orders.eu.x'));
    assert.ok(!filterCovers('orders.>', 'orders'));
  });

  it('rejects bad topic names with SB_ERR_INVALID_TOPIC_NAME', () => {
    for (const bad of ['', 'a b', 'a..b', '.a', 'a.', 'a.*', 'a.>', 'x'.repeat(201), 'ü']) {
      assert.throws(() => validateTopicName(bad), (e) => isSbError(e, 'SB_ERR_INVALID_TOPIC_NAME'), bad);
    }
    for (const good of ['a', 'orders.eu', 'A-b_c.9']) validateTopicName(good);
  });

  it('accepts wildcard filters only where NATS would', () => {
    for (const good of ['a', 'a.*', '*.b', 'a.>', '>', '*']) validateTopicFilter(good);
    for (const bad of ['a.>.b', 'a*', '', 'a..b', '>.a']) {
      assert.throws(() => validateTopicFilter(bad), (e) => isSbError(e, 'SB_ERR_INVALID_TOPIC_NAME'), bad);
    }
  });
});
