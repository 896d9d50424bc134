import assert from 'node:assert/strict';
import { clientEnv, natsHostPort, processConfigFromEnv } from '../../cli/index.js';

describe('switchboard environment', () => {
  it('maps every SB_* server variable onto ProcessConfig, defaults for the rest, frozen', () => {
    const c = processConfigFromEnv({
      SB_NATS_URL: 'nats://a:1,nats://b:2', SB_NATS_TOKEN: 't', SB_NATS_USER: 'u', SB_NATS_PASS: 'p', SB_HTTP_HOST: '127.0.0.1',
      SB_HTTP_PORT: '9090', SB_HTTP_BODY_LIMIT: '2048', SB_AUTH: 'off', SB_ADMIN_PASSWORD: 'pw', SB_LOG_LEVEL: 'debug', SB_CONFIG_BUCKET: 'cfg',
    });
    assert.deepEqual(
      [c.nats.url, c.nats.token, c.nats.user, c.nats.pass, c.nats.configBucket, c.http.host, c.http.port, c.http.bodyLimitBytes, c.auth.enabled, c.auth.adminPassword, c.log.level],
      ['nats://a:1,nats://b:2', 't', 'u', 'p', 'cfg', '127.0.0.1', 9090, 2048, false, 'pw', 'debug'],
    );
    assert.ok(Object.isFrozen(c.http));
    const d = processConfigFromEnv({});
    assert.deepEqual([d.nats.url, d.http.port, d.auth.enabled, d.log.level], ['nats://127.0.0.1:4222', 8080, true, 'info']);
  });

  it('refuses malformed values, naming the variable', () => {
    assert.throws(() => processConfigFromEnv({ SB_HTTP_PORT: '80a' }), /SB_HTTP_PORT/);
    assert.throws(() => processConfigFromEnv({ SB_AUTH: 'maybe' }), /SB_AUTH/);
  });

  it('client credentials: an API key wins over Basic; no secret means no header', () => {
    assert.deepEqual(clientEnv({ SB_API_KEY: 'k', SB_PASSWORD: 'p' }), { baseUrl: 'http://127.0.0.1:8080', authorization: 'Bearer k' });
    assert.equal(clientEnv({ SB_URL: 'http://h:1/', SB_PASSWORD: 'p' }).authorization, `Basic ${Buffer.from('admin:p').toString('base64')}`);
    assert.equal(clientEnv({ SB_URL: 'http://h:1/' }).baseUrl, 'http://h:1');
    assert.equal(clientEnv({}).authorization, undefined);
  });

  it('probes the first URL of a NATS cluster list', () => {
    assert.deepEqual(natsHostPort('nats://10.0.0.1:4333,nats://10.0.0.2:4333'), { host: '10.0.0.1', port: 4333 });
    assert.deepEqual(natsHostPort('127.0.0.1'), { host: '127.0.0.1', port: 4222 });
  });
});
