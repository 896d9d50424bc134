/**
 * The Kafka broker of a mocha run. `KAFKA_BROKERS` (comma-separated host:port) points the tests at a
 * real external broker; otherwise the first call to {@link kafkaBrokers} starts ONE single-node
 * Kafka 3.9 (KRaft) through scripts/kafka.sh in a temp state dir — installing the jars with Maven
 * first when they are missing — and a root `after` hook stops it. Callers give their `before` hook
 * {@link KAFKA_START_TIMEOUT_MS}.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/kafka.sh');
const LIBS = join(ROOT, 'test/kafka/target/kafka-libs');

/** Enough for a first `mvn` download plus a broker start on a loaded 2-core machine. */
export const KAFKA_START_TIMEOUT_MS = 240_000;

interface Owned {
  stateDir: string;
  brokers: string[];
  pid: number;
}

let starting: Promise<string[]> | undefined;
let owned: Owned | undefined;

/** The bootstrap brokers: KAFKA_BROKERS when set, else the run's own broker (started on first call). */
export function kafkaBrokers(): Promise<string[]> {
  const external = process.env['KAFKA_BROKERS'];
  if (external) return Promise.resolve(external.split(',').map((s) => s.trim()).filter(Boolean));
  starting ??= startOwn().catch((e: unknown) => {
    starting = undefined;
    throw e;
  });
  return starting;
}

/** True when this run started the broker (so it may restart it); false with KAFKA_BROKERS. */
export function ownsKafka(): boolean {
  return !process.env['KAFKA_BROKERS'];
}

/**
 * Restarts the run's broker on the same ports and data dir: SIGTERM (clean shutdown) or SIGKILL (a
 * crash), then start again and wait until it serves. Only for a broker this run owns.
 */
export async function restartKafka(opts: { kill?: boolean } = {}): Promise<void> {
  if (!owned) throw new Error('restartKafka: this run does not own a Kafka broker (KAFKA_BROKERS is set, or none started)');
  await script(owned.stateDir, opts.kill ? ['restart', '--kill'] : ['restart']);
  owned.pid = await readPid(owned.stateDir);
}

/**
 * Stops the broker only, keeping its data (for a test that holds Kafka down for a while); resume
 * with {@link restartKafka}, which starts it again on the same ports and data.
 */
export async function killKafka(): Promise<void> {
  if (!owned) throw new Error('killKafka: this run does not own a Kafka broker');
  const { pid } = owned;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
}

async function startOwn(): Promise<string[]> {
  const t0 = Date.now();
  const stateDir = await mkdtemp(join(tmpdir(), 'sb-kafka-'));
  const out = await script(stateDir, ['start']);
  const brokers = out.trim().split('\n').slice(-1)[0]!.split(',');
  owned = { stateDir, brokers, pid: await readPid(stateDir) };
  const { stderr } = await run('java', ['-version']);
  const jars = (await readdir(LIBS)).filter((f) => f.endsWith('.jar')).length;
  console.log(`      kafka: ${brokers.join(',')} — ${stderr.split('\n')[0]}, ${jars} jars, ready in ${Date.now() - t0} ms`);
  return brokers;
}

async function stopOwn(): Promise<void> {
  const o = owned;
  owned = undefined;
  starting = undefined;
  if (!o) return;
  await script(o.stateDir, ['stop']).catch((e: unknown) => console.error('kafka stop failed:', e));
  await rm(o.stateDir, { recursive: true, force: true });
}

async function script(stateDir: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('bash', [SCRIPT, ...args], {
      env: { ...process.env, KAFKA_STATE_DIR: stateDir },
      timeout: KAFKA_START_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`scripts/kafka.sh ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

async function readPid(stateDir: string): Promise<number> {
  return Number((await readFile(join(stateDir, 'kafka.pid'), 'utf8')).trim());
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// One root hook for the whole run (mocha defines `after` while it loads test files). An aborted run
// still takes the JVM down with it, instead of leaving it listening.
if (typeof after === 'function') after(async function stopKafka() {
  this.timeout(30_000);
  await stopOwn();
});
process.once('exit', () => {
  if (owned && alive(owned.pid)) process.kill(owned.pid, 'SIGKILL');
});
