/** Worker configuration: file and env forms, defaults, and the errors that stop a worker at start. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FRESH_DELIVERY_MS, jobRetryDelayMs, mustReadRecord } from '../../broker/index.js';
import { loadHandlerModules, loadWorkerConfigFile, mergeHandlers, resolveWorkerConfig } from '../../workers/index.js';
import { workerConfigFromEnv } from '../../cli/worker.js';
import { FIXTURES, tempLog } from './helpers.js';

describe('worker config', () => {
  it('fills defaults and resolves handler paths against the config file', async () => {
    const tmp = await tempLog();
    try {
      const file = join(tmp.dir, 'worker.yaml');
      await writeFile(file, 'types:\n  - type: a.b\n    concurrency: 3\nhandlers: [./h.ts, /abs/x.js]\n');
      const c = await loadWorkerConfigFile(file);
      assert.deepEqual(c.types, [{ type: 'a.b', concurrency: 3, ackWaitMs: 30_000, maxAttempts: 5, backoffBaseMs: 1000, backoffMaxMs: 60_000 }]);
      assert.deepEqual(c.handlers, [join(tmp.dir, 'h.ts'), '/abs/x.js']);
      assert.equal(c.drainMs, 10_000);
      assert.equal(c.heartbeatMs, 5000);
    } finally {
      await tmp.remove();
    }
  });

  it('refuses bad configs, naming the problem', () => {
    assert.throws(() => resolveWorkerConfig({ types: [] }, '/'), /types/);
    assert.throws(() => resolveWorkerConfig({ types: [{ type: 'bad type' }] }, '/'), /types\/0\/type/);
    assert.throws(() => resolveWorkerConfig({ types: [{ type: 'a' }, { type: 'a' }] }, '/'), /listed twice/);
    assert.throws(() => resolveWorkerConfig({ types: [{ type: 'a', concurrency: 0 }] }, '/'), /concurrency/);
    assert.throws(() => resolveWorkerConfig({ types: [{ type: 'a' }], extra: 1 }, '/'), /invalid worker config/);
  });

  it('env form: SB_WORKER_TYPES with optional concurrency, or every loaded type', () => {
    const c = workerConfigFromEnv({ SB_WORKER_TYPES: 'x.y:8, z', SB_WORKER_HANDLERS: 'h.ts', SB_WORKER_DRAIN_MS: '500', SB_WORKER_ACK_WAIT_MS: '2000' }, '/srv', () => []);
    assert.deepEqual(c.types.map((t) => [t.type, t.concurrency, t.ackWaitMs]), [['x.y', 8, 2000], ['z', 16, 2000]]);
    assert.deepEqual(c.handlers, ['/srv/h.ts']);
    assert.equal(c.drainMs, 500);
    assert.deepEqual(workerConfigFromEnv({}, '/', () => ['p.q']).types.map((t) => t.type), ['p.q']);
    assert.throws(() => workerConfigFromEnv({ SB_WORKER_TYPES: 'x:many' }, '/', () => []), /SB_WORKER_TYPES/);
  });

  it('loads plugin modules; a later handler of a type replaces an earlier one', async () => {
    const [greet] = await loadHandlerModules([FIXTURES.greet]);
    assert.match(greet?.type ?? '', /\.greet$/);
    const fixtures = await loadHandlerModules([FIXTURES.testHandlers]);
    assert.ok(fixtures.length >= 4);
    const replaced = mergeHandlers([{ ...greet!, handle: async () => 'old' }], [greet!]);
    assert.equal(replaced.length, 1);
    assert.equal(replaced[0], greet);
    await assert.rejects(loadHandlerModules([join(FIXTURES.greet, '..', 'missing.ts')]), /failed to load/);
  });

  it('retry delays grow exponentially and are capped', () => {
    const cfg = { backoffBaseMs: 1000, backoffMaxMs: 5000 };
    assert.deepEqual([1, 2, 3, 4, 5].map((a) => jobRetryDelayMs(cfg, a)), [1000, 2000, 4000, 5000, 5000]);
    assert.equal(jobRetryDelayMs({ backoffBaseMs: 10, backoffMaxMs: 10 }, 1), 100, 'never below 100 ms');
  });
});

describe('job record read before a run', () => {
  const connected = 1_000_000;
  const at = connected + 60_000;

  it('skips the read only for a first delivery of a fresh message stored after the trust point', () => {
    const fresh = 15_000;
    assert.equal(mustReadRecord({ deliveryCount: 1, storedAt: at - 10 }, connected, at, fresh), false, 'fresh first delivery');
    assert.equal(mustReadRecord({ deliveryCount: 1, storedAt: at - fresh + 1 }, connected, at, fresh), false, 'queued, but for less than half the ack wait');
    assert.equal(mustReadRecord({ deliveryCount: 2, storedAt: at - 10 }, connected, at, fresh), true, 'a redelivery');
    assert.equal(mustReadRecord({ deliveryCount: 1, storedAt: at - fresh }, connected, at, fresh), true, 'queued long enough to have been delivered before');
    assert.equal(mustReadRecord({ deliveryCount: 1, storedAt: at - FRESH_DELIVERY_MS }, connected, at, 0), true, 'never fresher than the skew margin');
    assert.equal(mustReadRecord({ deliveryCount: 1, storedAt: connected - 5 }, connected, connected + 100, fresh), true, 'stored before the trust point');
    assert.equal(mustReadRecord({ deliveryCount: 1, storedAt: connected + FRESH_DELIVERY_MS - 1 }, connected, connected + FRESH_DELIVERY_MS + 10, fresh), true, 'within the skew margin after it');
  });
});
