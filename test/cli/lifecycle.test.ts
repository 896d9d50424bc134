import assert from 'node:assert/strict';
import { Lifecycle } from '../../cli/index.js';

describe('dev lifecycle', () => {
  it('stops in reverse start order, runs every step even after a failure, and is idempotent', async () => {
    const life = new Lifecycle();
    const ran: string[] = [];
    life.add('nats-server', async () => { ran.push('nats-server'); });
    life.add('broker', async () => { ran.push('broker'); throw new Error('drain failed'); });
    life.add('gateway', async () => { ran.push('gateway'); });
    const [first, second] = await Promise.all([life.stop(), life.stop()]);
    assert.deepEqual(ran, ['gateway', 'broker', 'nats-server']);
    assert.equal(first, second, 'a second stop gets the same outcome');
    assert.deepEqual(first.map((f) => [f.step, (f.error as Error).message]), [['broker', 'drain failed']]);
  });
});
