import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { createBroker, createLogger, createMetrics, type Broker } from '../../broker/index.js';
import { resolveProcessConfig } from '../../schemas/config.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { cleanup, uniq, until } from './helpers.js';

const TTL_MS = 1500;

describe('broker leases (single owner over a KV bucket with a TTL)', () => {
  const bucket = uniq('sbtest_cfg_');
  const leasesBucket = uniq('sbtest_leases_');
  const brokers: Broker[] = [];

  async function start(): Promise<Broker> {
    const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const config = resolveProcessConfig({ nats: { url: SHARED_NATS_URL, configBucket: bucket, leasesBucket, leaseTtlMs: TTL_MS, publishTimeoutMs: 3000 } });
    const b = await createBroker({ config, logger, metrics: createMetrics({ defaultMetrics: false }) });
    brokers.push(b);
    return b;
  }

  let a: Broker;
  let b: Broker;
  before(async () => { [a, b] = await Promise.all([start(), start()]); });
  after(async () => {
    for (const x of brokers) await x.close({ deadlineMs: 1000 });
    await cleanup({ bucket });
    await cleanup({ bucket: leasesBucket });
  });

  it('two replicas compete: exactly one wins; release lets the other take it', async () => {
    const name = uniq('l.');
    const [la, lb] = await Promise.all([a.leases.acquire(name), b.leases.acquire(name)]);
    assert.equal([la, lb].filter(Boolean).length, 1, 'exactly one replica holds the lease');
    const [winner, loser, wl] = la ? [a, b, la] : [b, a, lb!];
    assert.equal(await loser.leases.holder(name), winner.leases.id);
    assert.equal(await loser.leases.acquire(name), undefined, 'still held');
    await wl.release();
    assert.equal(wl.signal.aborted, true, 'a released lease aborts its own signal');
    const taken = await loser.leases.acquire(name);
    assert.ok(taken, 'free after release');
    assert.equal(await winner.leases.holder(name), loser.leases.id);
    await taken.release();
    assert.equal(await winner.leases.holder(name), undefined);
  });

  it('a holder keeps its lease past the TTL by renewing it', async () => {
    const name = uniq('l.');
    const held = await a.leases.acquire(name);
    assert.ok(held);
    const t0 = Date.now();
    // Renewals are what keep it: the other replica is refused for well over two TTLs.
    await until(async () => (await b.leases.acquire(name)) !== undefined || Date.now() - t0 > TTL_MS * 2.5, TTL_MS * 4);
    assert.equal(held.signal.aborted, false);
    assert.equal(await b.leases.holder(name), a.leases.id);
    await held.release();
  });

  it('a holder that stops renewing (its broker closed, no release) is taken over after the TTL', async () => {
    const name = uniq('l.');
    const c = await start();
    const held = await c.leases.acquire(name);
    assert.ok(held);
    await c.close({ deadlineMs: 1000 });
    assert.equal(held.signal.aborted, true, 'closing the broker aborts what it held');
    assert.equal(await b.leases.acquire(name), undefined, 'not free before the TTL');
    const t0 = Date.now();
    const taken = await until(() => b.leases.acquire(name), TTL_MS * 4, 'takeover');
    const waited = Date.now() - t0;
    assert.ok(waited <= TTL_MS + 1000, `taken over ${waited} ms after the holder stopped (ttl ${TTL_MS})`);
    await taken.release();
  });

  it('a holder whose entry was deleted under it sees its signal abort', async () => {
    const name = uniq('l.');
    const held = await a.leases.acquire(name);
    assert.ok(held);
    const nc = await connect({ servers: SHARED_NATS_URL });
    try {
      const kv = await new Kvm(nc).open(leasesBucket);
      await kv.delete(name);
      await once(held.signal, 'abort');
      assert.match(String((held.signal.reason as Error).message), /changed/);
    } finally {
      await nc.close();
    }
    const again = await b.leases.acquire(name);
    assert.ok(again, 'the deleted lease is free');
    await again.release();
  });

  it('refuses a name that is not a KV key', async () => {
    await assert.rejects(a.leases.acquire('bad name'), { code: 'SB_ERR_VALIDATION' });
  });
});
