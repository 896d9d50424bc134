/**
 * Bash completion in a real bash (`bash --norc --noprofile`): source the generated script, set
 * COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT, call _switchboard, read COMPREPLY. Names come from a
 * real system (switchboard dev on a private nats-server) through the cache that `__names refresh` fills.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../../cli/commands.js';
import { completionScript } from '../../cli/completion.js';
import { NAME_KINDS, cacheDir } from '../../cli/names-cache.js';
import { RestClient } from '../../cli/index.js';
import { NatsServer } from '../support/nats-server.js';
import { CLI_MAIN, pollUntil, runCli, startDev, type DevChild } from './process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Completed {
  words: string[];
  /** Wall time of the _switchboard call inside bash, ms (what Tab costs in a running shell). */
  callMs: number;
}

/**
 * Completes `line` (the cursor at its end) in a fresh bash with the bash script sourced. Words are
 * split on spaces, as bash does for these lines; a trailing space starts an empty word. A "=" is a
 * word of its own, as COMP_WORDBREAKS makes it.
 */
async function complete(script: string, line: string, env: Record<string, string> = {}): Promise<Completed> {
  const words = line.split(' ').flatMap((w) => w.split(/(=)/)).filter((w, i, all) => w !== '' || i === all.length - 1);
  const program = `source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE=$SB_T_LINE; COMP_POINT=\${#COMP_LINE}
t0=$EPOCHREALTIME; _switchboard; t1=$EPOCHREALTIME
printf 'TIME %s %s\\n' "$t0" "$t1"; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const child = spawn('bash', ['--norc', '--noprofile', '-c', program, 'bash', script, ...words], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? tmpdir(), SB_T_LINE: line, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => void (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => void (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `bash failed on ${JSON.stringify(line)}: ${err}`);
  assert.equal(err, '', `bash wrote to stderr on ${JSON.stringify(line)}`);
  const [time, ...rest] = out.split('\n');
  const [, t0, t1] = time!.split(' ');
  return { words: rest.filter((w) => w !== '').sort(), callMs: (Number(t1) - Number(t0)) * 1000 };
}

describe('bash completion', function () {
  this.timeout(60_000);
  let dir: string;
  let script: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-completion-'));
    script = join(dir, 'switchboard.bash');
    await writeFile(script, completionScript(COMMANDS, 'bash'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the committed completion/ scripts are the generated ones (regenerate: npm run completion)', async () => {
    assert.equal(await readFile(join(ROOT, 'completion/switchboard.bash'), 'utf8'), completionScript(COMMANDS, 'bash'));
    assert.equal(await readFile(join(ROOT, 'completion/_switchboard'), 'utf8'), completionScript(COMMANDS, 'zsh'));
    const printed = await runCli(['completion', 'bash']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, completionScript(COMMANDS, 'bash'));
  });

  it('completes sub-commands at every level, and command paths after help', async () => {
    assert.deepEqual((await complete(script, 'switchboard st')).words, ['start', 'status', 'stop']);
    assert.deepEqual((await complete(script, 'switchboard sql ')).words, ['call', 'conn']);
    assert.deepEqual((await complete(script, 'switchboard sql conn p')).words, ['password']);
    assert.deepEqual((await complete(script, 'switchboard config ')).words, ['check', 'diff', 'export', 'import']);
    assert.deepEqual((await complete(script, 'switchboard help sq')).words, ['sql']);
    assert.deepEqual((await complete(script, 'switchboard help sql c')).words, ['call', 'conn']);
    // Hidden commands are not offered.
    assert.deepEqual((await complete(script, 'switchboard __')).words, []);
  });

  it('completes options, and fixed words as option values and arguments', async () => {
    assert.deepEqual((await complete(script, 'switchboard pub --c')).words, ['--content-type']);
    assert.deepEqual((await complete(script, 'switchboard sql call --r')).words, ['--routine']);
    assert.deepEqual((await complete(script, 'switchboard sql call c p --routine ')).words, ['auto', 'function', 'procedure']);
    assert.deepEqual((await complete(script, 'switchboard sql call c p --routine=f')).words, ['function']);
    assert.deepEqual((await complete(script, 'switchboard create ')).words, ['dev', 'gateway', 'worker']);
    assert.deepEqual((await complete(script, 'switchboard completion ')).words, ['bash', 'zsh']);
    // After an option's value, positionals count again: `--timeout 5 <Tab>` completes DIR, not --timeout's value.
    assert.deepEqual((await complete(script, 'switchboard sub --max ')).words, []);
  });

  it('completes directories where a command takes one, files where it takes a file', async () => {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'alpha'), { recursive: true });
    await mkdir(join(tree, 'beta gamma'), { recursive: true });
    await writeFile(join(tree, 'file.yaml'), 'x: 1\n');
    assert.deepEqual((await complete(script, `switchboard start ${tree}/`)).words, [join(tree, 'alpha'), join(tree, 'beta gamma')]);
    assert.deepEqual((await complete(script, `switchboard stop --timeout 5 ${tree}/a`)).words, [join(tree, 'alpha')]);
    assert.deepEqual((await complete(script, `switchboard create worker ${tree}/`)).words, [join(tree, 'alpha'), join(tree, 'beta gamma')]);
    assert.deepEqual((await complete(script, `switchboard worker --config ${tree}/`)).words, [join(tree, 'alpha'), join(tree, 'beta gamma'), join(tree, 'file.yaml')]);
    assert.deepEqual((await complete(script, `switchboard config check ${tree}/f`)).words, [join(tree, 'file.yaml')]);
  });

  describe('names of a running system', () => {
    let nats: NatsServer;
    let dev: DevChild;
    let bin: string;
    const tag = randomBytes(4).toString('hex');
    const topics = [`cmp.${tag}.orders`, `cmp.${tag}.invoices`];
    const subs = [`cmp${tag}a`, `cmp${tag}b`];

    before(async () => {
      nats = await NatsServer.start();
      dev = await startDev(nats.url);
      const admin = new RestClient({ baseUrl: dev.url, authorization: dev.authorization });
      for (const t of topics) await admin.createTopic({ name: t });
      for (const s of subs) await admin.createSubscription({ name: s, topic: topics[0]! });
      // The command the script starts in the background: `switchboard` on PATH, as once installed.
      bin = join(dir, 'bin');
      await mkdir(bin);
      await writeFile(join(bin, 'switchboard'), `#!/bin/sh\nexec '${process.execPath}' --import '${TSX}' '${CLI_MAIN}' "$@"\n`);
      await chmod(join(bin, 'switchboard'), 0o755);
    });
    after(async () => {
      await dev?.stop();
      await nats?.dispose();
    });

    const envOf = (cache: string): Record<string, string> => ({ SB_URL: dev.url, SB_PASSWORD: dev.password, XDG_CACHE_HOME: cache, PATH: `${bin}:${process.env['PATH'] ?? ''}` });

    it('__names refresh fills the cache (mode 0600, names only); Tab offers them, warm in < 200 ms', async () => {
      const env = envOf(join(dir, 'cache-warm'));
      // Every kind: each list endpoint answers an admin, and its names land in their file.
      const refreshed = await runCli(['__names', 'refresh'], env);
      assert.equal(refreshed.code, 0, refreshed.stderr);
      assert.deepEqual(refreshed.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0]), [...NAME_KINDS]);
      assert.ok((await readFile(join(cacheDir(env), 'users'), 'utf8')).split('\n').includes('admin'));
      // switchboard dev runs the built-in job types in its own registered worker.
      assert.ok((await readFile(join(cacheDir(env), 'job-types'), 'utf8')).split('\n').includes('winrm.exec'));
      const cached = join(cacheDir(env), 'topics');
      assert.equal((await stat(cached)).mode & 0o777, 0o600);
      const text = await readFile(cached, 'utf8');
      assert.ok(topics.every((t) => text.split('\n').includes(t)), text);
      assert.ok(!text.includes(dev.password), 'no secret in the cache');

      assert.deepEqual((await complete(script, `switchboard pub cmp.${tag}.`, env)).words, [...topics].sort());
      assert.deepEqual((await complete(script, `switchboard sub cmp${tag}`, env)).words, [...subs].sort());
      assert.deepEqual((await complete(script, `switchboard topics info cmp.${tag}.o`, env)).words, [topics[0]]);
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await complete(script, `switchboard sub cmp${tag}`, env);
        assert.deepEqual(r.words, [...subs].sort());
        times.push(r.callMs);
      }
      const worst = Math.max(...times);
      assert.ok(worst < 200, `a warm name completion took ${worst.toFixed(1)} ms`);
    });

    it('a cold cache answers at once, starts a refresh in the background, and the next Tab has the names', async () => {
      const env = envOf(join(dir, 'cache-cold'));
      const first = await complete(script, `switchboard pub cmp.${tag}.`, env);
      assert.deepEqual(first.words, []);
      assert.ok(first.callMs < 200, `a cold completion took ${first.callMs.toFixed(1)} ms: it must not wait for the refresh`);
      const file = join(cacheDir(env), 'topics');
      // The refresh runs detached; its stamp is written last.
      await pollUntil(async () => (await stat(join(cacheDir(env), '.topics.stamp'))).isFile(), 30_000, 'the background refresh');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.deepEqual((await complete(script, `switchboard pub cmp.${tag}.`, env)).words, [...topics].sort());
    });
  });
});
