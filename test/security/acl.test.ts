import assert from 'node:assert/strict';
import { anonymousPrincipal, assertCan, canPerform, type Principal } from '../../security/index.js';
import { isSbError } from '../../broker/index.js';

const user = (publish: string[], subscribe: string[], roles: string[] = []): Principal => ({ name: 'alice', roles, acl: { publish, subscribe, jobs: [] }, via: 'basic' });

describe('security: ACL', () => {
  it('publish: a pattern must match the concrete topic (exact, `*`, `>`)', () => {
    const cases: Array<[string[], string, boolean]> = [
      [['orders.eu'], 'orders.eu', true],
      [['orders.eu'], 'orders.us', false],
      [['orders.eu'], 'orders.eu.x', false],
      [['orders.*'], 'orders.eu', true],
      [['orders.*'], 'orders', false],
      [['orders.*'], 'orders.eu.x', false],
      [['orders.>'], 'orders.eu.x', true],
      [['orders.>'], 'orders', false],
      [['*.eu'], 'orders.eu', true],
      [['*.eu'], 'orders.us', false],
      [['>'], 'anything.at.all', true],
      [['billing', 'orders.*'], 'orders.us', true],
      [[], 'orders.eu', false],
      // A publish to a wildcard is never granted, even by `>`.
      [['>'], 'orders.*', false],
      [['orders.>'], 'orders.>', false],
    ];
    for (const [acl, topic, want] of cases) assert.equal(canPerform(user(acl, []), 'publish', topic), want, `${acl.join(',')} publish ${topic}`);
  });

  it('subscribe: a pattern must cover every topic the filter can match', () => {
    const cases: Array<[string[], string, boolean]> = [
      [['orders.eu'], 'orders.eu', true],
      [['orders.eu'], 'orders.*', false],
      [['orders.*'], 'orders.eu', true],
      [['orders.*'], 'orders.*', true],
      [['orders.*'], 'orders.>', false],
      [['orders.>'], 'orders.*', true],
      [['orders.>'], 'orders.eu.>', true],
      [['orders.>'], 'orders', false],
      [['orders.>'], '>', false],
      [['*.eu'], 'orders.eu', true],
      [['*.eu'], '*.eu', true],
      [['*.eu'], '*.*', false],
      [['>'], '>', true],
      [['orders.*', 'billing.>'], 'billing.x.y', true],
    ];
    for (const [acl, filter, want] of cases) assert.equal(canPerform(user([], acl), 'subscribe', filter), want, `${acl.join(',')} subscribe ${filter}`);
  });

  it('publish and subscribe rights are separate', () => {
    const p = user(['orders.>'], ['billing.>']);
    assert.equal(canPerform(p, 'publish', 'orders.eu'), true);
    assert.equal(canPerform(p, 'subscribe', 'orders.eu'), false);
    assert.equal(canPerform(p, 'subscribe', 'billing.x'), true);
    assert.equal(canPerform(p, 'publish', 'billing.x'), false);
  });

  it('manage is for admins only; admins may do everything whatever their ACL', () => {
    assert.equal(canPerform(user(['>'], ['>']), 'manage'), false);
    const admin = user([], [], ['admin']);
    for (const [a, r] of [['publish', 'x.y'], ['subscribe', '>'], ['manage', undefined]] as const) assert.equal(canPerform(admin, a, r), true);
    const anon = anonymousPrincipal();
    assert.deepEqual(anon, { name: 'anonymous', roles: ['admin'], acl: { publish: ['>'], subscribe: ['>'], jobs: ['>'] }, via: 'anonymous' });
    assert.equal(canPerform(anon, 'manage'), true);
  });

  it('assert throws SB_ERR_FORBIDDEN (403) naming user, action and topic', () => {
    const p = user(['orders.us'], []);
    assert.doesNotThrow(() => assertCan(p, 'publish', 'orders.us'));
    assert.throws(() => assertCan(p, 'publish', 'orders.eu'), (e) => isSbError(e, 'SB_ERR_FORBIDDEN') && e.status === 403 && e.message === 'user alice may not publish to orders.eu');
    assert.throws(() => assertCan(p, 'subscribe', 'orders.*'), (e) => isSbError(e, 'SB_ERR_FORBIDDEN') && e.message === 'user alice may not subscribe to orders.*');
    assert.throws(() => assertCan(p, 'manage'), (e) => isSbError(e, 'SB_ERR_FORBIDDEN') && /may not manage/.test(e.message));
  });
});
