import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NatsServer, freePort } from '../support/nats-server.js';
import { RestClient, answers } from '../../cli/index.js';
import { CliProcess, pollUntil, runCli, startDev, type DevChild } from './process.js';
import { waitingPulls } from '../faults/support.js';

/** The exact bytes of a pulled message, whatever JSON form the gateway chose for them. */
function messageBytes(m: { data: unknown; encoding?: string }): Buffer {
  if (m.encoding === 'base64') return Buffer.from(m.data as string, 'base64');
  if (typeof m.data === 'string') return Buffer.from(m.data, 'utf8');
  return Buffer.from(JSON.stringify(m.data), 'utf8');
}

describe('switchboard CLI', function () {
  this.timeout(60_000);

  it('--help and per-command help exit 0; an unknown command exits 2', async () => {
    const [top, pub, bad] = await Promise.all([runCli(['--help']), runCli(['pub', '--help']), runCli(['frobnicate'])]);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /switchboard pub TOPIC/);
    assert.equal(pub.code, 0);
    assert.match(pub.stdout, /--content-type/);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command/);
  });

  describe('against a private nats-server', () => {
    let nats: NatsServer;
    let dev: DevChild;

    before(async () => {
      nats = await NatsServer.start();
      // A short watchdog, so the last test can show it firing; an idle dev stops well within it.
      dev = await startDev(nats.url, { env: { SB_SHUTDOWN_TIMEOUT_MS: '1500' } });
    });
    after(async () => {
      await dev?.stop();
      await nats?.dispose();
    });

    it('dev serves /healthz and /readyz once it logged "listening"', async () => {
      const client = new RestClient({ baseUrl: dev.url });
      assert.equal(await client.status('/healthz'), 200);
      assert.equal(await client.status('/readyz'), 200);
    });

    it('pub then sub --count 1 round-trips a binary message byte for byte', async () => {
      const topic = `cli.rt${randomBytes(4).toString('hex')}`;
      const sub = `clirt${randomBytes(4).toString('hex')}`;
      const admin = new RestClient({ baseUrl: dev.url, authorization: dev.authorization });
      await admin.createTopic({ name: topic });
      await admin.createSubscription({ name: sub, topic });
      const env = { SB_URL: dev.url, SB_PASSWORD: dev.password };
      // Every byte value, including ones that are not UTF-8, sent through stdin.
      const payload = Buffer.concat([Buffer.from([0, 255, 254, 10, 13]), randomBytes(1000)]);
      const pub = await runCli(['pub', topic, '-', '--content-type', 'application/octet-stream', '--key', 'k1'], env, payload);
      assert.equal(pub.code, 0, pub.stderr);
      const published = JSON.parse(pub.stdout) as { seq: number; duplicate: boolean; id: string };
      assert.equal(published.duplicate, false);

      const got = await runCli(['sub', sub, '--count', '1', '--wait', '2000'], env);
      assert.equal(got.code, 0, got.stderr);
      const lines = got.stdout.trim().split('\n');
      assert.equal(lines.length, 1);
      const m = JSON.parse(lines[0] ?? '') as { data: unknown; encoding?: string; seq: number; id: string };
      assert.equal(m.seq, published.seq);
      assert.ok(messageBytes(m).equals(payload), 'payload bytes differ');
      // sub acked it: a second pull finds nothing.
      assert.deepEqual(await admin.pull(sub, { max: 10, waitMs: 300 }), []);
    });

    it('pub reports the gateway error code on stderr and exits 1', async () => {
      const [missing, wrong] = await Promise.all([
        runCli(['pub', `nope.${randomBytes(4).toString('hex')}`, 'x'], { SB_URL: dev.url, SB_PASSWORD: dev.password }),
        runCli(['pub', 'any', 'x'], { SB_URL: dev.url, SB_PASSWORD: 'wrong' }),
      ]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /error SB_ERR_TOPIC_NOT_FOUND/);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /error SB_ERR_UNAUTHENTICATED/);
    });

    it('sub stops promptly on SIGINT during a long-poll, exit 0', async () => {
      const topic = `cli.int${randomBytes(4).toString('hex')}`;
      const sub = `cliint${randomBytes(4).toString('hex')}`;
      const admin = new RestClient({ baseUrl: dev.url, authorization: dev.authorization });
      await admin.createTopic({ name: topic });
      await admin.createSubscription({ name: sub, topic });
      const cli = CliProcess.spawn(['sub', sub, '--wait', '20000'], { SB_URL: dev.url, SB_PASSWORD: dev.password });
      try {
        await pollUntil(async () => (await waitingPulls(nats.url, topic)) > 0, 10_000, 'the sub long-poll waiting in JetStream');
        const started = Date.now();
        const exit = await cli.kill('SIGINT');
        assert.equal(exit.code, 0, cli.stderr);
        assert.ok(Date.now() - started < 5000, 'did not wait for the 20 s long-poll');
      } finally {
        await cli.kill('SIGKILL');
      }
    });

    // Last in this block: it ends the shared dev process.
    it('SIGTERM while a long-poll outlasts SB_SHUTDOWN_TIMEOUT_MS: the watchdog exits 70', async () => {
      const topic = `cli.wd${randomBytes(4).toString('hex')}`;
      const sub = `cliwd${randomBytes(4).toString('hex')}`;
      const admin = new RestClient({ baseUrl: dev.url, authorization: dev.authorization });
      await admin.createTopic({ name: topic });
      await admin.createSubscription({ name: sub, topic });
      // The gateway's drain waits for in-flight requests (up to 10 s); this one waits 10 s for a message.
      const longPoll = admin.pull(sub, { max: 1, waitMs: 10_000 }).catch((e: unknown) => e);
      await pollUntil(async () => (await waitingPulls(nats.url, topic)) > 0, 10_000, 'the long-poll waiting in JetStream');
      const started = Date.now();
      const exit = await dev.stop('SIGTERM');
      assert.equal(exit.code, 70, dev.cli.stderr);
      assert.match(dev.cli.stderr, /shutdown did not finish within 1500 ms/);
      assert.ok(Date.now() - started < 8000, 'the watchdog, not the long-poll, ended it');
      await longPoll;
    });
  });

  it('dev starts a nats-server when none answers, prints a generated admin password once, stops both on SIGTERM', async () => {
    const natsPort = await freePort();
    // No SB_ADMIN_PASSWORD and a fresh store: security generates one.
    const dev = await startDev(`nats://127.0.0.1:${natsPort}`, { env: { SB_ADMIN_PASSWORD: '' } });
    try {
      assert.match(dev.cli.stderr, /started nats-server/);
      assert.ok(await answers('127.0.0.1', natsPort), 'nats-server should answer');
      assert.equal(await new RestClient({ baseUrl: dev.url }).status('/readyz'), 200);
      const generated = /generated admin password \(shown once\): (\S+)/.exec(dev.cli.stderr)?.[1];
      assert.ok(generated, 'the generated password is on stderr');
      assert.ok(!dev.cli.stdout.includes(generated), 'and never in the JSON log');
      const topic = `gen.${randomBytes(4).toString('hex')}`;
      const admin = new RestClient({ baseUrl: dev.url, authorization: `Basic ${Buffer.from(`admin:${generated}`).toString('base64')}` });
      await admin.createTopic({ name: topic });
      const exit = await dev.stop('SIGTERM');
      assert.equal(exit.code, 0, dev.cli.stderr);
      assert.equal(await answers('127.0.0.1', natsPort), false, 'nats-server should be stopped');
    } finally {
      await dev.stop('SIGKILL');
    }
  });
});
