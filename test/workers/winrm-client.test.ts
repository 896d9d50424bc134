/**
 * WinRM client conformance (../../../shared/ref/winrm.md §3.8). Runs the client against the protocol-faithful test
 * server (test/support/winrm-server), or — when WINRM_TEST_URL is set — the cases that need no scripting or injection
 * against a real Windows host (WINRM_TEST_USER, WINRM_TEST_PASSWORD, WINRM_TEST_AUTH=ntlm|basic, WINRM_TEST_CA).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createWinRMClient, WinRMAuthError, WinRMCancelledError, WinRMError, WinRMTimeoutError, WinRMTransportError, WSManFaultError,
  type RunResult, type WinRMClient, type WinRMOptions,
} from '../../workers/winrm/client/index.js';
import { until } from '../support/poll.js';
import { createWinRMServer, fixtures, type WinRMServerConfig, type WinRMTestServer } from '../support/winrm-server/index.js';

const REAL_URL = process.env.WINRM_TEST_URL;
const USER = 'deploy';
const PASSWORD = 'S3cret!pw';

/** 1 MiB of deterministic text, the same bytes a real host produces for LONG_PS. */
const LONG_TEXT = '0123456789abcdef'.repeat(65536);
const LONG_PS = "[Console]::Out.Write('0123456789abcdef' * 65536)";

interface Target {
  client(over?: Partial<WinRMOptions>): WinRMClient;
  badPasswordClient(): WinRMClient;
}

const closers: Array<() => Promise<void>> = [];

/** Closes every client, then every server; the first error (a server lint) is rethrown. */
async function closeAll(): Promise<void> {
  const list = closers.splice(0);
  const errors: unknown[] = [];
  for (const close of list) await close().catch((e: unknown) => errors.push(e));
  if (errors.length > 0) throw errors[0];
}

/**
 * A conformance case: its clients and servers are closed when it ends, and the server's lints (open shells,
 * duplicate MessageIDs, …) fail this case rather than a hook, so one lint never skips the rest of the suite.
 */
function conformance(title: string, fn: () => Promise<void>): void {
  it(title, async () => {
    try {
      await fn();
    } catch (err) {
      await closeAll().catch(() => undefined);
      throw err;
    }
    await closeAll();
  });
}

function track(c: WinRMClient): WinRMClient {
  closers.unshift(() => c.close()); // clients close before the server checks its lints
  return c;
}

/** The cases that run against the test server and a real host alike. */
function sharedCases(target: () => Promise<Target>, fake: () => WinRMTestServer | undefined): void {
  conformance('hostname: Create → Command → Receive → Signal → Delete, no shell left', async () => {
    const t = await target();
    const r = await t.client().runCmd('hostname');
    assert.equal(r.exitCode, 0);
    assert.match(r.stdout, /^\S+\r\n$/);
    assert.equal(r.timedOut, false);
    const s = fake();
    if (s) {
      assert.equal(r.stdout, 'WIN-FAKE01\r\n');
      assert.match(s.actions().join(','), /^Create,Command,(Receive,)+Signal,Delete$/);
      assert.equal(s.shells.size, 0);
      assert.deepEqual(s.commands[0]?.signals, ['terminate']);
    }
  });

  conformance('dir c: → status 0 and a directory listing (Zato example 1)', async () => {
    const r = await (await target()).client().runCmd('dir c:');
    assert.equal(r.exitCode, 0);
    assert.match(r.stdout, /Directory of C:\\/);
    assert.match(r.stdout, /bytes free\r\n$/);
  });

  conformance('dir z: → status 1 and the exact stderr (Zato example 2)', async () => {
    const r = await (await target()).client().runCmd('dir z:');
    assert.equal(r.exitCode, 1);
    assert.equal(r.stderr, 'The system cannot find the path specified.\r\n');
    assert.equal(r.stdout, '');
  });

  conformance('exit codes: exit /b 7 → 7, arguments joined', async () => {
    const c = (await target()).client();
    assert.equal((await c.runCmd('exit', ['/b', '7'])).exitCode, 7);
    const echo = await c.runCmd('echo', ['a', 'b']);
    assert.equal(echo.stdout, 'a b\r\n');
  });

  conformance('runPs: output and exit code 5', async () => {
    const r = await (await target()).client().runPs('Write-Output "ps ok ü"; exit 5');
    assert.equal(r.stdout, 'ps ok ü\r\n');
    assert.equal(r.exitCode, 5);
    assert.equal(r.stderr, '');
  });

  conformance('long output over many Receive rounds is byte-exact (1 MiB)', async () => {
    const t = await target();
    const s = fake();
    const r = await t.client().runPs(LONG_PS);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdoutBytes.length, LONG_TEXT.length);
    assert.ok(r.stdoutBytes.equals(Buffer.from(LONG_TEXT)), 'stdout bytes differ');
    if (s) assert.ok(s.actions().filter((a) => a === 'Receive').length >= 5, 'expected several Receive rounds');
  });

  conformance('a wrong password → WinRMAuthError, nothing run', async () => {
    const t = await target();
    await assert.rejects(t.badPasswordClient().runCmd('hostname'), WinRMAuthError);
    const s = fake();
    if (s) assert.equal(s.actions().length, 0);
  });
}

if (REAL_URL) {
  describe('WinRM client against a real host', function () {
    this.timeout(60_000);
    const auth = (password: string): WinRMOptions['auth'] => ({
      type: process.env.WINRM_TEST_AUTH === 'basic' ? 'basic' : 'ntlm',
      username: process.env.WINRM_TEST_USER ?? '',
      password,
    });
    const tls = process.env.WINRM_TEST_CA ? { tls: { ca: readFileSync(process.env.WINRM_TEST_CA) } } : {};
    const target = async (): Promise<Target> => ({
      client: (over = {}) => track(createWinRMClient({ endpoint: REAL_URL, auth: auth(process.env.WINRM_TEST_PASSWORD ?? ''), ...tls, ...over })),
      badPasswordClient: () => track(createWinRMClient({ endpoint: REAL_URL, auth: auth('definitely-not-the-password'), ...tls })),
    });
    sharedCases(target, () => undefined);
  });
} else {
  describe('WinRM client against the test server', function () {
    this.timeout(15_000);
    let server: WinRMTestServer | undefined;

    /** Starts a server (Basic over HTTP, AllowUnencrypted, by default) and registers its close. */
    async function start(cfg: Partial<WinRMServerConfig> = {}): Promise<WinRMTestServer> {
      const s = await createWinRMServer({
        auth: { basic: { users: { [USER]: PASSWORD } }, ntlm: { users: { [USER]: PASSWORD } } },
        allowUnencrypted: true,
        ...cfg,
      });
      server = s;
      closers.push(() => s.close());
      return s;
    }

    function clientFor(s: WinRMTestServer, over: Partial<WinRMOptions> = {}): WinRMClient {
      return track(createWinRMClient({ endpoint: s.url, auth: { type: 'basic', username: USER, password: PASSWORD }, operationTimeoutSec: 1, ...over }));
    }

    const ntlm = (password = PASSWORD): WinRMOptions['auth'] => ({ type: 'ntlm', username: USER, password });

    describe('shared cases (Basic over HTTP)', () => {
      sharedCases(async () => {
        const s = await start({
          script: [
            { ps: 'Write-Output "ps ok ü"; exit 5', steps: [{ stdout: 'ps ok ü\r\n' }], exitCode: 5 },
            { ps: LONG_PS, steps: [{ stdout: LONG_TEXT }] },
          ],
        });
        return {
          client: (over = {}) => clientFor(s, over),
          badPasswordClient: () => clientFor(s, { auth: { type: 'basic', username: USER, password: 'wrong' } }),
        };
      }, () => server);
    });

    describe('output and exit codes', () => {
      conformance('output over ≥3 Receives, stdout/stderr interleaved, UTF-8 split mid-character, byte-exact', async () => {
        const s = await start({ splitUtf8: true });
        s.script([{
          cmd: 'build.cmd',
          steps: [
            { stdout: 'step 1 ✓\r\n' }, { sleepMs: 120 }, { stderr: 'warn: ü\r\n' }, { sleepMs: 120 },
            { stdout: 'step 2 😀\r\n' }, { sleepMs: 120 }, { stderr: 'done é\r\n' },
          ],
        }]);
        const order: string[] = [];
        const r = await clientFor(s).runCmd('build.cmd', [], { onOutput: (stream) => { if (order.at(-1) !== stream) order.push(stream); } });
        assert.equal(r.stdout, 'step 1 ✓\r\nstep 2 😀\r\n');
        assert.equal(r.stderr, 'warn: ü\r\ndone é\r\n');
        assert.ok(r.stdoutBytes.equals(Buffer.from('step 1 ✓\r\nstep 2 😀\r\n')));
        assert.deepEqual(order, ['stdout', 'stderr', 'stdout', 'stderr']);
        assert.ok(s.requests.filter((q) => q.action === 'Receive' && q.status === 200).length >= 3);
      });

      conformance('non-zero exit with stderr: both returned, nothing trimmed', async () => {
        const s = await start();
        s.script([{ cmd: /^deploy\.bat --fail$/, steps: [{ stdout: '  partial output  \r\n' }, { stderr: '\r\n  ERROR: disk full \r\n\r\n' }], exitCode: 112 }]);
        const r = await clientFor(s).runCmd('deploy.bat', ['--fail']);
        assert.equal(r.exitCode, 112);
        assert.equal(r.stdout, '  partial output  \r\n');
        assert.equal(r.stderr, '\r\n  ERROR: disk full \r\n\r\n');
      });

      conformance('a command sleeping 3× OperationTimeout: TimedOut faults retried silently', async () => {
        const s = await start();
        s.script([{ cmd: 'slow', steps: [{ stdout: 'start\r\n' }, { sleepMs: 3100 }, { stdout: 'end\r\n' }] }]);
        const r = await clientFor(s, { operationTimeoutSec: 1 }).runCmd('slow');
        assert.equal(r.stdout, 'start\r\nend\r\n');
        assert.equal(r.exitCode, 0);
        assert.ok(s.requests.filter((q) => q.fault === 'w:TimedOut').length >= 2, 'expected TimedOut long-polls');
      });

      conformance('an OperationTimeout above the host cap (MaxTimeoutms) is capped', async () => {
        const s = await start({ maxTimeoutMs: 400 });
        s.script([{ cmd: 'slow', steps: [{ sleepMs: 1000 }, { stdout: 'late\r\n' }] }]);
        const r = await clientFor(s, { operationTimeoutSec: 20 }).runCmd('slow');
        assert.equal(r.stdout, 'late\r\n');
        const receives = s.requests.filter((q) => q.action === 'Receive');
        assert.ok(receives.every((q) => q.operationTimeoutMs === 400));
        assert.ok(receives.some((q) => q.fault === 'w:TimedOut'));
      });

      conformance('overall timeoutMs on a hanging command → timedOut after Signal terminate + Delete', async () => {
        const s = await start();
        s.script([{ cmd: 'hang', steps: [{ stdout: 'working\r\n' }, { hang: true }] }]);
        const t0 = Date.now();
        const r = await clientFor(s).runCmd('hang', [], { timeoutMs: 1500 });
        const elapsed = Date.now() - t0;
        assert.equal(r.timedOut, true);
        assert.equal(r.exitCode, null);
        assert.equal(r.stdout, 'working\r\n');
        assert.ok(elapsed < 2500, `took ${elapsed} ms`);
        const acts = s.actions();
        assert.ok(acts.indexOf('Signal') > 0 && acts.lastIndexOf('Delete') > acts.indexOf('Signal'), acts.join(','));
        assert.equal(s.shells.size, 0);
        assert.equal(s.commands[0]?.state, 'terminated');
      });

      conformance('cancellation (AbortSignal) mid-command → WinRMCancelledError, no shell left', async () => {
        const s = await start();
        s.script([{ cmd: 'hang', steps: [{ stdout: 'started\r\n' }, { hang: true }] }]);
        const ac = new AbortController();
        const run = clientFor(s).runCmd('hang', [], { signal: ac.signal, onOutput: () => ac.abort() });
        await assert.rejects(run, WinRMCancelledError);
        assert.equal(s.shells.size, 0);
        assert.deepEqual(s.commands[0]?.signals, ['terminate']);
      });

      conformance('codepage 437 is decoded through CP437', async () => {
        const s = await start();
        s.script([{ cmd: 'type menu.txt', steps: [{ stdout: 'café ü ½ ░\r\n' }] }]);
        const r = await clientFor(s, { codepage: 437 }).runCmd('type menu.txt');
        assert.equal(r.stdout, 'café ü ½ ░\r\n');
        assert.equal(s.requests.find((q) => q.action === 'Create')?.options?.WINRS_CODEPAGE, '437');
      });

      conformance('an unknown command → 9009 and cmd.exe text', async () => {
        const s = await start({ allowUnknown: true });
        const r = await clientFor(s).runCmd('frobnicate', ['--now']);
        assert.equal(r.exitCode, 9009);
        assert.match(r.stderr, /^'frobnicate' is not recognized as an internal or external command,\r\n/);
      });

      conformance('more than MaxEnvelopeSize of output → several Receives, each within the envelope, all intact', async () => {
        const s = await start({ maxChunkBytes: 4096 });
        const text = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)} ü\r\n`).join('');
        s.script([{ cmd: 'big', steps: [{ stdout: text }] }]);
        const r = await clientFor(s, { maxEnvelopeSize: 8192 }).runCmd('big');
        assert.equal(r.stdout, text);
        const receives = s.requests.filter((q) => q.action === 'Receive');
        assert.ok(receives.length > Buffer.byteLength(text) / 8192, `only ${receives.length} Receives`);
        for (const q of receives) assert.ok((q.responseBytes ?? 0) <= 8192, `response of ${q.responseBytes} bytes`);
      });
    });

    describe('PowerShell', () => {
      conformance('the script round-trips exactly, tricky characters included', async () => {
        const s = await start();
        const script = `$a = "quote \\" ' $env:X & | < > % ^ ü 😀"\r\nWrite-Output $a\nif ($a -like '*%*') { exit 0 }`;
        s.script([{ ps: /^\$a = "quote/, steps: [{ stdout: 'ok\r\n' }] }]);
        const r = await clientFor(s).runPs(script);
        assert.equal(r.stdout, 'ok\r\n');
        const decoded = s.commands[0]?.psScript ?? '';
        assert.ok(decoded.endsWith(script), `decoded script differs: ${JSON.stringify(decoded)}`);
        assert.match(s.commands[0]?.line ?? '', /^powershell(\.exe)? .*-EncodedCommand [A-Za-z0-9+/=]+$/i);
      });

      conformance('CLIXML errors are cleaned to text; exit 1', async () => {
        const s = await start();
        s.script([{ ps: 'Write-Error "disk full"', steps: [], psErrors: ['Write-Error "disk full" : disk full'], exitCode: 1 }]);
        const r = await clientFor(s).runPs('Write-Error "disk full"');
        assert.equal(r.exitCode, 1);
        assert.match(r.stderr, /disk full/);
        assert.doesNotMatch(r.stderr, /CLIXML|<Objs|_x000D_/);
        assert.ok(r.rawStderr?.startsWith('#< CLIXML\r\n'));
      });

      conformance('Test-Connection → stdout, status 0, progress-only CLIXML is not an error (Zato example 3)', async () => {
        const s = await start();
        const r = await clientFor(s).runPs('Test-Connection');
        assert.equal(r.exitCode, 0);
        assert.match(r.stdout, /WIN-FAKE01\s+localhost\s+127\.0\.0\.1/);
        assert.equal(r.stderr, '');
        assert.match(r.rawStderr ?? '', /^#< CLIXML\r\n<Objs .*S="progress"/);
      });

      conformance('a script over the command-line limit takes the stdin path', async () => {
        const s = await start();
        const script = `# long script\r\n${Array.from({ length: 300 }, (_, i) => `Write-Output "line ${i} é"`).join('\r\n')}`;
        s.script([{ ps: /^# long script/, steps: [{ stdout: 'long ok\r\n' }] }]);
        const r = await clientFor(s).runPs(script);
        assert.equal(r.stdout, 'long ok\r\n');
        assert.ok((s.commands[0]?.line.length ?? 0) <= 8191);
        assert.ok(s.commands[0]?.psScript?.endsWith(script), 'the script read from stdin differs');
        assert.ok(s.actions().includes('Send'));
      });
    });

    describe('authentication', () => {
      conformance('Basic not offered by the host → WinRMAuthError.basicNotOffered', async () => {
        const s = await start({ auth: { ntlm: { users: { [USER]: PASSWORD } } } });
        const err = await clientFor(s).runCmd('hostname').then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof WinRMAuthError, String(err));
        assert.equal(err.basicNotOffered, true);
      });

      conformance('Basic over HTTPS with AllowUnencrypted=false', async () => {
        const s = await start({ https: true, allowUnencrypted: false });
        const r = await clientFor(s, { tls: { ca: fixtures.ca } }).runCmd('hostname');
        assert.equal(r.stdout, 'WIN-FAKE01\r\n');
        assert.ok(s.requests.every((q) => q.tls));
      });

      conformance('NTLM over HTTP with message encryption (the Windows default)', async () => {
        const s = await start({ allowUnencrypted: false });
        const r = await clientFor(s, { auth: ntlm() }).runCmd('dir c:');
        assert.equal(r.exitCode, 0);
        const soap = s.requests.filter((q) => q.action !== undefined);
        assert.ok(soap.length >= 5 && soap.every((q) => q.encrypted && q.authScheme === 'ntlm'));
        assert.equal(s.requests.filter((q) => q.authLeg === 'challenge').length, 1, 'one handshake per run');
      });

      for (const requireCbt of [false, true]) {
        conformance(`NTLM over HTTPS, requireCbt ${requireCbt}`, async () => {
          const s = await start({ https: true, allowUnencrypted: false, auth: { ntlm: { users: { [USER]: PASSWORD }, requireCbt } } });
          const r = await clientFor(s, { auth: ntlm(), tls: { ca: fixtures.ca } }).runCmd('hostname');
          assert.equal(r.stdout, 'WIN-FAKE01\r\n');
          assert.ok(s.requests.every((q) => q.authFailure === undefined));
        });
      }

      conformance('NTLM with a domain-style user name; whoami', async () => {
        const s = await start({ allowUnencrypted: false });
        const r = await clientFor(s, { auth: { type: 'ntlm', username: `WIN-FAKE01\\${USER}`, password: PASSWORD } }).runCmd('whoami');
        assert.equal(r.stdout, `win-fake01\\${USER}\r\n`);
        assert.equal(s.requests.find((q) => q.action === 'Create')?.user, USER);
      });

      conformance('NTLM with a plaintext body over HTTP → 401 and the plaintext lint', async () => {
        const s = await start({ allowUnencrypted: false, allowLints: ['plaintext-ntlm'] });
        await assert.rejects(clientFor(s, { auth: ntlm(), messageEncryption: 'never' }).runCmd('hostname'), WinRMAuthError);
        assert.ok(s.lints.some((l) => l.kind === 'plaintext-ntlm'));
        assert.equal(s.shells.size, 0);
      });

      conformance('a bad NTLM password → WinRMAuthError', async () => {
        const s = await start({ allowUnencrypted: false });
        await assert.rejects(clientFor(s, { auth: ntlm('wrong') }).runCmd('hostname'), WinRMAuthError);
        assert.equal(s.actions().length, 0);
      });

      conformance('auth401 mid-run → transparent NTLM re-handshake', async () => {
        const s = await start({ allowUnencrypted: false });
        s.script([{ cmd: 'two', steps: [{ stdout: 'a\r\n' }, { sleepMs: 100 }, { stdout: 'b\r\n' }] }]);
        s.inject({ action: 'Receive', auth401: true });
        const r = await clientFor(s, { auth: ntlm() }).runCmd('two');
        assert.equal(r.stdout, 'a\r\nb\r\n');
        assert.equal(s.requests.filter((q) => q.authLeg === 'challenge').length, 2);
      });

      conformance('closeAfterResponse mid-run → reconnect and re-handshake', async () => {
        const s = await start({ allowUnencrypted: false });
        s.inject({ action: 'Command', closeAfterResponse: true });
        const r = await clientFor(s, { auth: ntlm() }).runCmd('hostname');
        assert.equal(r.stdout, 'WIN-FAKE01\r\n');
        const sockets = new Set(s.requests.filter((q) => q.action).map((q) => q.socketId));
        assert.equal(sockets.size, 2);
        assert.equal(s.requests.filter((q) => q.authLeg === 'challenge').length, 2);
      });
    });

    describe('faults', () => {
      async function faultOf(p: Promise<RunResult>): Promise<WSManFaultError> {
        const err = await p.then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof WSManFaultError, `expected WSManFaultError, got ${String(err)}`);
        return err;
      }

      conformance('InvalidSelectors on Receive → WSManFaultError; the shell is still deleted', async () => {
        const s = await start();
        s.inject({ action: 'Receive', fault: 'InvalidSelectors' });
        const err = await faultOf(clientFor(s).runCmd('hostname'));
        assert.equal(err.code, 's:Sender');
        assert.equal(err.subcode, 'w:InvalidSelectors');
        assert.equal(err.wsmanCode, '2150858843');
        assert.equal(err.httpStatus, 500);
        assert.equal(s.shells.size, 0);
      });

      conformance('QuotaLimit on Create → WSManFaultError with the MSFT_WmiError code', async () => {
        const s = await start();
        s.inject({ action: 'Create', fault: 'QuotaLimit' });
        const err = await faultOf(clientFor(s).runCmd('hostname'));
        assert.equal(err.subcode, 'w:QuotaLimit');
        assert.equal(err.wsmanCode, '2150859173');
      });

      conformance('AccessDenied → WSManFaultError code 5', async () => {
        const s = await start();
        s.inject({ action: 'Create', fault: 'AccessDenied' });
        const err = await faultOf(clientFor(s).runCmd('hostname'));
        assert.equal(err.subcode, 'w:AccessDenied');
        assert.equal(err.wsmanCode, '5');
      });

      conformance('a non-XML 500 → WinRMTransportError; the shell is still deleted', async () => {
        const s = await start();
        s.inject({ action: 'Command', http: { status: 500, body: '<html><body>Internal Server Error</body></html>' } });
        await assert.rejects(clientFor(s).runCmd('hostname'), WinRMTransportError);
        assert.equal(s.shells.size, 0);
      });

      conformance('503 → WinRMTransportError', async () => {
        const s = await start();
        s.inject({ action: 'Create', http: { status: 503, body: 'Service Unavailable' } });
        const err = await clientFor(s).runCmd('hostname').then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof WinRMTransportError, String(err));
        assert.equal(err.httpStatus, 503);
      });

      conformance('delayMs beyond the read timeout → WinRMTimeoutError, shell deleted', async () => {
        const s = await start();
        s.inject({ action: 'Command', delayMs: 2500 });
        const t0 = Date.now();
        await assert.rejects(clientFor(s, { operationTimeoutSec: 1, readTimeoutMs: 1500 }).runCmd('hostname'), WinRMTimeoutError);
        assert.ok(Date.now() - t0 < 4000);
        assert.equal(s.shells.size, 0);
      });
    });

    describe('dropped connections', () => {
      const count = (s: WinRMTestServer, a: string): number => s.actions().filter((x) => x === a).length;

      conformance('Create dropped before the response → typed error, Create not replayed', async () => {
        const s = await start();
        s.inject({ action: 'Create', dropBeforeResponse: true });
        await assert.rejects(clientFor(s).runCmd('hostname'), WinRMError);
        assert.equal(count(s, 'Create'), 1);
      });

      conformance('Create response lost after the shell was made → typed error, not replayed (the shell leaks, as on Windows)', async () => {
        const s = await start();
        s.allowLint('open-shell');
        s.inject({ action: 'Create', dropResponse: true });
        await assert.rejects(clientFor(s).runCmd('hostname'), WinRMError);
        assert.equal(count(s, 'Create'), 1);
        assert.equal(s.shells.size, 1);
      });

      for (const effect of ['dropBeforeResponse', 'dropResponse', 'dropMidBody'] as const) {
        conformance(`Command ${effect} → typed error, Command not replayed, shell deleted`, async () => {
          const s = await start();
          s.inject({ action: 'Command', [effect]: true });
          const err = await clientFor(s).runCmd('hostname').then(() => undefined, (e: unknown) => e);
          assert.ok(err instanceof WinRMError, String(err));
          assert.equal(err.commandStarted, true);
          assert.equal(count(s, 'Command'), 1);
          assert.equal(s.shells.size, 0);
        });

        conformance(`Receive ${effect} → typed error or marked result, never a hang; shell deleted`, async () => {
          const s = await start();
          s.inject({ action: 'Receive', [effect]: true });
          const out = await clientFor(s).runCmd('hostname').then((r) => r, (e: unknown) => e);
          assert.ok(out instanceof WinRMError || (out as RunResult).exitCode === null, String(out));
          assert.equal(s.shells.size, 0);
        });
      }

      for (const effect of ['dropBeforeResponse', 'dropResponse'] as const) {
        conformance(`Signal ${effect} → retried once, run succeeds`, async () => {
          const s = await start();
          s.inject({ action: 'Signal', [effect]: true });
          const r = await clientFor(s).runCmd('hostname');
          assert.equal(r.stdout, 'WIN-FAKE01\r\n');
          assert.equal(count(s, 'Signal'), 2);
          assert.equal(s.shells.size, 0);
        });

        conformance(`Delete ${effect} → retried once, no shell left`, async () => {
          const s = await start();
          s.inject({ action: 'Delete', [effect]: true });
          const r = await clientFor(s).runCmd('hostname');
          assert.equal(r.exitCode, 0);
          assert.equal(count(s, 'Delete'), 2);
          assert.equal(s.shells.size, 0);
        });
      }
    });

    describe('test server fidelity (raw SOAP)', () => {
      const NSD =
        'xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"';
      const SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';
      const ACT = {
        Create: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create', Delete: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete',
        Command: `${SHELL}/Command`, Receive: `${SHELL}/Receive`, Send: `${SHELL}/Send`, Signal: `${SHELL}/Signal`,
      };
      const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

      interface Soap { action: string; body?: string; shellId?: string; timeout?: string; header?: string; options?: string; messageId?: string; resource?: string }
      function envelopeOf(o: Soap): string {
        const sel = o.shellId ? `<w:SelectorSet><w:Selector Name="ShellId">${o.shellId}</w:Selector></w:SelectorSet>` : '';
        return `<env:Envelope ${NSD}><env:Header><a:To>http://anything:5985/wsman</a:To>` +
          `<a:ReplyTo><a:Address mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>` +
          `<w:MaxEnvelopeSize mustUnderstand="true">153600</w:MaxEnvelopeSize><a:MessageID>${o.messageId ?? `uuid:${randomUUID()}`}</a:MessageID>` +
          `<w:OperationTimeout>${o.timeout ?? 'PT1S'}</w:OperationTimeout>` +
          `<w:ResourceURI mustUnderstand="true">${o.resource ?? `${SHELL}/cmd`}</w:ResourceURI><a:Action mustUnderstand="true">${o.action}</a:Action>` +
          `${sel}${o.options ?? ''}${o.header ?? ''}</env:Header><env:Body>${o.body ?? ''}</env:Body></env:Envelope>`;
      }
      async function post(s: WinRMTestServer, o: Soap | string, headers: Record<string, string> = {}, method = 'POST', url = s.url) {
        const res = await fetch(url, {
          method,
          headers: { authorization: basic, 'content-type': 'application/soap+xml;charset=UTF-8', ...headers },
          ...(method === 'POST' ? { body: typeof o === 'string' ? o : envelopeOf(o) } : {}),
        });
        return { status: res.status, headers: res.headers, text: await res.text() };
      }
      const tag = (xml: string, name: string): string => new RegExp(`<[\\w]+:${name}[^>]*>([^<]*)<`).exec(xml)?.[1] ?? '';
      async function shellOf(s: WinRMTestServer, options = ''): Promise<string> {
        return tag((await post(s, { action: ACT.Create, body: '<rsp:Shell/>', options })).text, 'ShellId');
      }
      async function commandOf(s: WinRMTestServer, shellId: string, line: string): Promise<string> {
        const r = await post(s, { action: ACT.Command, shellId, body: `<rsp:CommandLine><rsp:Command>${line}</rsp:Command></rsp:CommandLine>` });
        return tag(r.text, 'CommandId');
      }
      const receive = (s: WinRMTestServer, shellId: string, id: string, timeout = 'PT1S') =>
        post(s, { action: ACT.Receive, shellId, timeout, body: `<rsp:Receive><rsp:DesiredStream CommandId="${id}">stdout stderr</rsp:DesiredStream></rsp:Receive>` });
      async function untilDone(s: WinRMTestServer, shellId: string, id: string): Promise<{ stdout: string; stderr: string; exit: string }> {
        let stdout = '';
        let stderr = '';
        for (;;) {
          const r = await receive(s, shellId, id);
          for (const m of r.text.matchAll(/<rsp:Stream Name="(std\w+)"[^>]*>([^<]*)</g)) {
            const text = Buffer.from(m[2] ?? '', 'base64').toString('utf8');
            if (m[1] === 'stdout') stdout += text;
            else stderr += text;
          }
          if (r.text.includes('CommandState/Done')) return { stdout, stderr, exit: tag(r.text, 'ExitCode') };
        }
      }
      const subcodeOf = (xml: string): string => /<s:Subcode><s:Value>([^<]+)/.exec(xml)?.[1] ?? /<s:Code><s:Value>([^<]+)/.exec(xml)?.[1] ?? '';

      conformance('HTTP rules: 404, 405, 415, and a 401 that lists Negotiate and Basic', async () => {
        const s = await start();
        assert.equal((await post(s, { action: ACT.Create }, {}, 'POST', s.url.replace('/wsman', '/other'))).status, 404);
        assert.equal((await post(s, { action: ACT.Create }, {}, 'GET')).status, 405);
        assert.equal((await post(s, { action: ACT.Create }, { 'content-type': 'text/xml' })).status, 415);
        const r = await post(s, { action: ACT.Create }, { authorization: '' });
        assert.equal(r.status, 401);
        assert.equal(r.text, '');
        assert.equal(r.headers.get('server'), 'Microsoft-HTTPAPI/2.0');
        assert.equal(r.headers.get('www-authenticate'), 'Negotiate, Basic realm="WSMAN"');
        const domainStyle = `Basic ${Buffer.from(`WIN-FAKE01\\${USER}:${PASSWORD}`).toString('base64')}`;
        assert.equal((await post(s, { action: ACT.Create }, { authorization: domainStyle })).status, 401);
      });

      conformance('SOAP validation faults', async () => {
        const s = await start();
        const cases: Array<[Soap | string, number, string]> = [
          [{ action: ACT.Create, body: '<rsp:Shell/>', timeout: 'PT-1S' }, 500, 'a:InvalidMessageInformationHeader'],
          [{ action: ACT.Create, body: '<rsp:Shell/>', header: '<w:Frobnicate mustUnderstand="true">1</w:Frobnicate>' }, 500, 's:MustUnderstand'],
          [{ action: 'http://example.com/Launch', body: '<rsp:Shell/>' }, 500, 'a:ActionNotSupported'],
          [{ action: ACT.Create, body: '<rsp:Shell/>', resource: 'http://schemas.microsoft.com/powershell/Microsoft.PowerShell' }, 500, 'w:DestinationUnreachable'],
          [{ action: ACT.Create, body: '<rsp:Shell/>', messageId: 'not-a-uuid' }, 500, 'a:InvalidMessageInformationHeader'],
          [{ action: ACT.Create, body: '<rsp:Shell/>', options: '<w:OptionSet><w:Option Name="WINRS_CODEPAGE">850</w:Option></w:OptionSet>' }, 500, 'w:InvalidParameter'],
          [{ action: ACT.Delete, shellId: '00000000-0000-0000-0000-000000000000' }, 500, 'w:InvalidSelectors'],
          ['<env:Envelope><unclosed>', 400, ''],
        ];
        for (const [req, status, sub] of cases) {
          const r = await post(s, req);
          assert.equal(r.status, status, `${JSON.stringify(req).slice(0, 120)} → ${r.status}`);
          if (sub) assert.equal(subcodeOf(r.text), sub);
        }
        const shellId = await shellOf(s);
        const noId = await post(s, { action: ACT.Receive, shellId, body: '<rsp:Receive><rsp:DesiredStream>stdout stderr</rsp:DesiredStream></rsp:Receive>' });
        assert.match(noId.text, /w:InvalidParameter.*Code="87"/s);
        const schema = await post(s, { action: ACT.Command, shellId, body: '<rsp:CommandLine><rsp:Command>echo</rsp:Command><rsp:Argument>x</rsp:Argument></rsp:CommandLine>' });
        assert.match(schema.text, /w:SchemaValidationError.*Code="2150858817"/s);
        assert.match((await receive(s, shellId, 'D0D0D0D0-0000-0000-0000-000000000000')).text, /command identifier that does not exist/);
        assert.equal((await post(s, { action: ACT.Delete, shellId })).status, 200);
      });

      conformance('the TimedOut fault has the captured shape, and a second Receive times out the first', async () => {
        const s = await start();
        s.script([{ cmd: 'wait', steps: [{ hang: true }] }]);
        const shellId = await shellOf(s);
        const id = await commandOf(s, shellId, 'wait');
        const r = await receive(s, shellId, id, 'PT0.3S');
        assert.equal(r.status, 500);
        const masked = r.text.replace(/uuid:[0-9A-Fa-f-]+/g, 'uuid:X');
        assert.equal(
          masked.slice(masked.indexOf('<s:Body>')),
          '<s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>' +
            '<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </s:Text></s:Reason>' +
            '<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="win-fake01">' +
            '<f:Message>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </f:Message>' +
            '</f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>',
        );
        assert.match(masked, /<a:Action>http:\/\/schemas\.dmtf\.org\/wbem\/wsman\/1\/wsman\/fault<\/a:Action>.*<a:RelatesTo>uuid:X<\/a:RelatesTo>/s);
        const first = receive(s, shellId, id, 'PT5S');
        await new Promise((resolve) => setImmediate(resolve));
        const t0 = Date.now();
        const [a] = await Promise.all([first, receive(s, shellId, id, 'PT0.2S')]);
        assert.equal(subcodeOf(a.text), 'w:TimedOut');
        assert.ok(Date.now() - t0 < 2000);
        await post(s, { action: ACT.Signal, shellId, body: `<rsp:Signal CommandId="${id}"><rsp:Code>${SHELL}/signal/Terminate</rsp:Code></rsp:Signal>` });
        await post(s, { action: ACT.Delete, shellId });
      });

      conformance('stdin, ctrl_c, the 8191 rule, a broken -EncodedCommand, idle expiry', async () => {
        const s = await start({ idleTimeoutMs: 400 });
        s.script([
          { cmd: 'sort', steps: [{ readStdin: true }, { stdout: 'sorted\r\n' }] },
          { cmd: 'ping -t host', steps: [{ stdout: 'Reply\r\n' }, { hang: true }] },
        ]);
        const shellId = await shellOf(s, '<w:OptionSet><w:Option Name="WINRS_CODEPAGE">65001</w:Option></w:OptionSet>');
        const sort = await commandOf(s, shellId, 'sort');
        const send = (data: string, end: boolean) => post(s, {
          action: ACT.Send, shellId,
          body: `<rsp:Send><rsp:Stream Name="stdin" CommandId="${sort}"${end ? ' End="true"' : ''}>${Buffer.from(data).toString('base64')}</rsp:Stream></rsp:Send>`,
        });
        await send('b\r\n', false);
        await send('a ü\r\n', true);
        assert.deepEqual(await untilDone(s, shellId, sort), { stdout: 'sorted\r\n', stderr: '', exit: '0' });
        assert.equal(s.commands[0]?.stdin, 'b\r\na ü\r\n');

        const ping = await commandOf(s, shellId, 'ping -t host');
        await post(s, { action: ACT.Signal, shellId, body: `<rsp:Signal CommandId="${ping}"><rsp:Code>${SHELL}/signal/ctrl_c</rsp:Code></rsp:Signal>` });
        assert.deepEqual(await untilDone(s, shellId, ping), { stdout: 'Reply\r\n', stderr: '', exit: '3221225786' });

        const long = await commandOf(s, shellId, `echo ${'x'.repeat(8200)}`);
        assert.deepEqual(await untilDone(s, shellId, long), { stdout: '', stderr: 'The command line is too long.\r\n', exit: '1' });
        const broken = await commandOf(s, shellId, 'powershell.exe -NoProfile -EncodedCommand QQ=');
        const out = await untilDone(s, shellId, broken);
        assert.equal(out.exit, '1');
        assert.match(out.stderr, /-EncodedCommand is not properly encoded/);

        for (const id of [sort, ping, long, broken]) {
          await post(s, { action: ACT.Signal, shellId, body: `<rsp:Signal CommandId="${id}"><rsp:Code>${SHELL}/signal/terminate</rsp:Code></rsp:Signal>` });
        }
        await until(() => s.shells.size === 0, 3000, 'idle expiry');
        assert.match((await post(s, { action: ACT.Delete, shellId })).text, /because the shell was not found on the server/);
      });

      conformance('lints: a Receive after Done, a hot loop, an unknown command, a duplicate MessageID, an unclosed shell', async () => {
        const s = await start();
        s.script([{ cmd: 'wait', steps: [{ hang: true }] }]);
        const shellId = await shellOf(s);
        const id = await commandOf(s, shellId, 'hostname');
        await untilDone(s, shellId, id);
        assert.equal(subcodeOf((await receive(s, shellId, id)).text), 'w:InvalidSelectors');
        const wait = await commandOf(s, shellId, 'wait');
        for (let i = 0; i < 21; i++) assert.equal(subcodeOf((await receive(s, shellId, wait, 'PT0S')).text), 'w:TimedOut');
        await untilDone(s, shellId, await commandOf(s, shellId, 'frobnicate'));
        const dup = `uuid:${randomUUID()}`;
        await post(s, { action: ACT.Create, body: '<rsp:Shell/>', messageId: dup });
        await post(s, { action: ACT.Create, body: '<rsp:Shell/>', messageId: dup });
        const kinds = new Set(s.lints.map((l) => l.kind));
        for (const k of ['receive-after-done', 'hot-loop', 'unknown-command', 'duplicate-message-id']) assert.ok(kinds.has(k as never), k);
        await assert.rejects(s.close(), /open-shell[\s\S]*command-not-cleaned/);
      });
    });

    describe('concurrency and TLS', () => {
      conformance('N parallel runs → N shells on N connections', async () => {
        const s = await start();
        s.script([{ cmd: /^work \d$/, steps: [{ sleepMs: 300 }, { stdout: 'done\r\n' }] }]);
        const c = clientFor(s);
        const results = await Promise.all([1, 2, 3, 4].map((i) => c.runCmd(`work ${i}`)));
        assert.ok(results.every((r) => r.stdout === 'done\r\n'));
        const creates = s.requests.filter((q) => q.action === 'Create');
        assert.equal(new Set(creates.map((q) => q.socketId)).size, 4);
        assert.equal(s.peakShells(), 4);
      });

      conformance('maxShellsPerUser < N → QuotaLimit faults reported (or runs queued), never more shells than the quota', async () => {
        const s = await start({ maxShellsPerUser: 2 });
        s.script([{ cmd: /^work \d$/, steps: [{ sleepMs: 300 }, { stdout: 'done\r\n' }] }]);
        const c = clientFor(s);
        const outcomes = await Promise.allSettled([1, 2, 3, 4].map((i) => c.runCmd(`work ${i}`)));
        const ok = outcomes.filter((o) => o.status === 'fulfilled');
        assert.ok(ok.length >= 2);
        for (const o of outcomes) {
          if (o.status === 'rejected') {
            assert.ok(o.reason instanceof WSManFaultError && o.reason.subcode === 'w:QuotaLimit', String(o.reason));
          }
        }
        assert.ok(s.peakShells() <= 2);
      });

      conformance('HTTPS: custom CA ok, wrong CA fails, rejectUnauthorized:false ok, client certificate presented', async () => {
        const s = await start({ https: { clientCert: 'request' } });
        const good = await clientFor(s, { tls: { ca: fixtures.ca, cert: fixtures.clientCert, key: fixtures.clientKey } }).runCmd('hostname');
        assert.equal(good.exitCode, 0);
        assert.equal(s.requests[0]?.clientCert, 'deploy');
        await assert.rejects(clientFor(s, { tls: { ca: fixtures.wrongCa } }).runCmd('hostname'), WinRMTransportError);
        const insecure = await clientFor(s, { tls: { rejectUnauthorized: false } }).runCmd('hostname');
        assert.equal(insecure.exitCode, 0);
      });
    });
  });
}
