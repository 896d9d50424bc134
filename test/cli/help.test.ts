/**
 * The help generated from the command specs: complete for every command and sub-command, parsed
 * usage errors (exit 2, one stderr line), and a `--help` that loads no server side.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CommandSpec } from '../../cli/command-spec.js';
import { COMMANDS } from '../../cli/commands.js';
import { commandHelp, topHelp } from '../../cli/help.js';
import { CLI_MAIN, runCli } from './process.js';

/** Every command path (top-level command first), hidden ones included. */
function paths(specs: readonly CommandSpec[], prefix: CommandSpec[] = []): CommandSpec[][] {
  return specs.flatMap((s) => [[...prefix, s], ...paths(s.subcommands ?? [], [...prefix, s])]);
}

describe('switchboard help', function () {
  this.timeout(60_000);

  it('every command and sub-command has a summary, a description and a way to run', () => {
    for (const path of paths(COMMANDS)) {
      const spec = path[path.length - 1]!;
      const name = path.map((s) => s.name).join(' ');
      assert.ok(spec.summary.trim().length > 0, `${name}: no summary`);
      assert.ok((spec.description ?? '').trim().length > 0, `${name}: no description`);
      assert.ok(!!spec.run || !!spec.serve || (spec.subcommands ?? []).length > 0, `${name}: neither run, serve nor sub-commands`);
      assert.equal(new Set((spec.subcommands ?? []).map((s) => s.name)).size, (spec.subcommands ?? []).length, `${name}: a sub-command name twice`);
    }
    assert.equal(new Set(COMMANDS.map((s) => s.name)).size, COMMANDS.length, 'a command name twice');
  });

  it('the help of each command shows its usage, arguments, options, defaults and sub-commands', () => {
    for (const path of paths(COMMANDS)) {
      const spec = path[path.length - 1]!;
      const name = path.map((s) => s.name).join(' ');
      const help = commandHelp(path);
      assert.ok(help.startsWith(`Usage: switchboard ${name}`), `${name}: ${help.split('\n')[0]}`);
      assert.ok(help.includes(spec.summary), `${name}: summary missing`);
      for (const a of spec.args ?? []) assert.ok(help.includes(a.name), `${name}: argument ${a.name} missing`);
      for (const o of spec.options ?? []) {
        const synopsis = `--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
        assert.ok(help.includes(synopsis), `${name}: option ${synopsis} missing`);
        if (o.short) assert.ok(help.includes(`-${o.short}, --${o.name}`), `${name}: -${o.short} missing`);
        if (o.default !== undefined) assert.ok(help.includes(`(default ${o.default})`), `${name}: default of --${o.name} missing`);
      }
      for (const s of spec.subcommands ?? []) if (!s.hidden) assert.ok(help.includes(`${name} ${s.name}`), `${name}: sub-command ${s.name} missing`);
    }
    const top = topHelp(COMMANDS);
    for (const c of COMMANDS) assert.equal(top.includes(`switchboard ${c.name}`), !c.hidden, `top-level help and ${c.name}`);
  });

  it('--help, -h and help COMMAND print the same help at every level, exit 0', async () => {
    const [a, b, c, top, group] = await Promise.all([
      runCli(['sql', 'call', '--help']), runCli(['sql', 'call', 'x', '-h']), runCli(['help', 'sql', 'call']), runCli([]), runCli(['topics']),
    ]);
    for (const r of [a, b, c, top, group]) assert.equal(r.code, 0, r.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.equal(a.stdout, c.stdout);
    assert.match(a.stdout, /^Usage: switchboard sql call CONN PROC \[ARGS_JSON\] \[OPTIONS\]/);
    assert.match(a.stdout, /--routine KIND .*\(default auto\)/);
    assert.match(top.stdout, /switchboard completion SHELL/);
    assert.match(group.stdout, /^Usage: switchboard topics COMMAND/);
  });

  it('usage errors exit 2 with one line on stderr and nothing on stdout', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['pub'], /missing TOPIC/],
      [['pub', 't', 'data', 'extra'], /unexpected argument "extra"/],
      [['pub', 't', '--bogus'], /Unknown option '--bogus'.*switchboard pub --help/],
      [['sql', 'frob'], /unknown command "sql frob"/],
      [['help', 'nothing'], /no command "nothing"/],
      [['completion', 'fish'], /bash or zsh/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      const [args, re] = cases[i]!;
      // `completion fish` is a bad value, not bad syntax: an error (exit 1), still one line.
      assert.equal(r.code, args[0] === 'completion' ? 1 : 2, `${args.join(' ')}: exit ${r.code}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  });

  it('--help and completion load no server side (fastify, NATS, TypeBox, pino)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-help-'));
    try {
      // A module hook that prints every module the process resolves.
      await writeFile(join(dir, 'hooks.mjs'), "export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug('LOADED ' + r.url); return r; }\n");
      await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
      for (const args of [['--help'], ['topics', 'create', '--help'], ['completion', 'bash']]) {
        const loaded = await new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, '--import', import.meta.resolve('tsx'), CLI_MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          child.stderr.on('data', (c: Buffer) => void (err += c.toString()));
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve(err) : reject(new Error(`exit ${code}: ${err}`))));
        });
        assert.match(loaded, /LOADED .*cli\/commands\.ts/);
        assert.doesNotMatch(loaded, /node_modules\/(fastify|nats|@nats-io|@sinclair|pino|ioredis|bullmq)\//, `switchboard ${args.join(' ')} loaded the server side`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
