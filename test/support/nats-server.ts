/**
 * Starts a private nats-server (JetStream on, temp store dir, free port) for tests that must kill,
 * restart or reconfigure the backbone. Tests that only need a backbone use the shared one at
 * SB_TEST_NATS_URL (default nats://127.0.0.1:4222) with unique names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { until } from './poll.js';

/** The shared backbone for tests that do not need their own. */
export const SHARED_NATS_URL = process.env['SB_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Resolves once something accepts TCP connections on `port`, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const accepts = (): Promise<boolean> => new Promise<boolean>((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  await until(accepts, timeoutMs, `something listening on 127.0.0.1:${port}`);
}

/** A private nats-server that can be stopped, killed and started again on the same port and store. */
export class NatsServer {
  readonly port: number;
  readonly storeDir: string;
  private proc: ChildProcess | undefined;

  private constructor(port: number, storeDir: string) {
    this.port = port;
    this.storeDir = storeDir;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The running process's pid (benches read its CPU time from /proc). */
  get pid(): number {
    const pid = this.proc?.pid;
    if (pid === undefined) throw new Error('nats-server is not running');
    return pid;
  }

  /** Starts a new server with JetStream on a free port. */
  static async start(): Promise<NatsServer> {
    const dir = await mkdtemp(join(tmpdir(), 'sb-nats-'));
    const srv = new NatsServer(await freePort(), dir);
    await srv.restart();
    return srv;
  }

  /** (Re)starts the process on the same port and store dir. */
  async restart(): Promise<void> {
    if (this.proc) throw new Error('nats-server is already running');
    const bin = process.env['SB_NATS_SERVER_BIN'] ?? 'nats-server';
    const proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    this.proc = proc;
    proc.once('exit', () => { if (this.proc === proc) this.proc = undefined; });
    await waitForPort(this.port);
  }

  /** Stops the process (SIGKILL by default: a crash) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p) return;
    const exited = once(p, 'exit');
    p.kill(signal);
    await exited;
    this.proc = undefined;
  }

  /** Stops the server and removes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

/** Several nats-servers in one JetStream cluster on loopback, for failover tests (DESIGN.md, "deploy-ha"). */
export class NatsCluster {
  private constructor(readonly nodes: Array<{ name: string; port: number; clusterPort: number; storeDir: string; proc?: ChildProcess }>) {}

  /** Client URLs of every node, for a connection that fails over. */
  get urls(): string {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
  }

  /** Starts `size` nodes (default 3) routed to each other; resolves when each accepts connections. */
  static async start(size = 3): Promise<NatsCluster> {
    const nodes = [];
    for (let i = 0; i < size; i++) {
      nodes.push({ name: `sbt-n${i}`, port: await freePort(), clusterPort: await freePort(), storeDir: await mkdtemp(join(tmpdir(), 'sb-natsc-')) });
    }
    const cluster = new NatsCluster(nodes);
    for (const n of nodes) cluster.spawn(n.name);
    for (const n of nodes) await waitForPort(n.port);
    return cluster;
  }

  /** (Re)starts node `name` with its port and store. */
  spawn(name: string): void {
    const n = this.node(name);
    const routes = this.nodes.filter((o) => o !== n).map((o) => `nats://127.0.0.1:${o.clusterPort}`).join(',');
    const bin = process.env['SB_NATS_SERVER_BIN'] ?? 'nats-server';
    n.proc = spawn(bin, ['-n', n.name, '-a', '127.0.0.1', '-p', String(n.port), '-js', '-sd', n.storeDir,
      '--cluster_name', 'sbtest', '--cluster', `nats://127.0.0.1:${n.clusterPort}`, '--routes', routes], { stdio: 'ignore' });
  }

  /** SIGKILLs node `name` and waits for it to exit. */
  async kill(name: string): Promise<void> {
    const p = this.node(name).proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill('SIGKILL');
    await exited;
  }

  /** Kills every node and removes the stores. */
  async dispose(): Promise<void> {
    for (const n of this.nodes) await this.kill(n.name);
    for (const n of this.nodes) await rm(n.storeDir, { recursive: true, force: true });
  }

  private node(name: string) {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }
}
