/**
 * The client fleet of bench/ws-fanout.ts, run as its own process so the clients never share the
 * server's event loop. Each client is a plain TCP socket that speaks just enough WebSocket (RFC 6455)
 * to receive: the upgrade request, unmasked server frames, pong answers to pings, and close. It only
 * counts frames (no `ws` Receiver, no events, no Buffer per message), so that 10k clients in one
 * process on a 2-core machine cost as little as possible, the same for both targets.
 *
 * Commands are JSON lines on stdin, answers JSON lines on stdout:
 *   {"op":"connect","url":"ws://…/ws/x","n":5000,"headers":{…},"hello":true}  → {"op":"connected","n","ms"}
 *   {"op":"round","trigger":{"url","headers","body"},"timeoutMs"}              → {"op":"round","status","fanoutMs","latencies":[…],"sample"}
 *   {"op":"close"}                                                              → {"op":"closed"}
 * The trigger (an HTTP POST) is sent from this process, so trigger time and receipt times share one clock.
 */
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

/** Connection attempts in flight at once (keeps the server's accept backlog from overflowing). */
const CONNECT_WINDOW = 100;

class Client {
  frames = 0;
  /** performance.now() when `frames` reached the awaited count. */
  at = 0;
  last = '';
  open = false;
  private buf: Buffer | undefined;

  constructor(readonly sock: net.Socket, private readonly fleet: Fleet) {}

  onData(chunk: Buffer, now: number): void {
    let b = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = undefined;
    for (;;) {
      if (b.length < 2) break;
      const op = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) break;
      const payload = b.subarray(off, off + len);
      b = b.subarray(off + len);
      if (op === 0x9) this.sock.write(maskedFrame(0xa, payload));
      else if (op === 0x8) { this.sock.end(maskedFrame(0x8, payload.subarray(0, 2))); this.open = false; }
      else if (op === 0x1 || op === 0x2 || op === 0x0) {
        if (this.fleet.keepSample && this === this.fleet.clients[0]) this.last = payload.toString('utf8');
        if (++this.frames === this.fleet.awaited) { this.at = now; this.fleet.arrived(); }
      }
    }
    if (b.length > 0) this.buf = Buffer.from(b);
  }
}

/** A client frame: always masked (RFC 6455 §5.3); a zero mask key is valid and costs no XOR. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error('control frame too long');
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

class Fleet {
  clients: Client[] = [];
  /** The frame count every client must reach for the current round. */
  awaited = 0;
  keepSample = true;
  private reached = 0;
  private onAll: (() => void) | undefined;

  arrived(): void {
    if (++this.reached === this.clients.length) this.onAll?.();
  }

  /** Connects `n` clients; resolves once each finished the upgrade (and got its hello frame when `hello`). */
  async connect(url: URL, n: number, headers: Record<string, string>, hello: boolean): Promise<void> {
    this.awaited = hello ? 1 : 0;
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const one = (): Promise<void> => new Promise((resolve, reject) => {
      const sock = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
      const c = new Client(sock, this);
      let head: Buffer | undefined;
      const fail = (e: Error): void => reject(e);
      sock.once('error', fail);
      sock.once('connect', () => {
        sock.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
          + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
      });
      const onHead = (chunk: Buffer): void => {
        head = head ? Buffer.concat([head, chunk]) : chunk;
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!status.startsWith('HTTP/1.1 101')) return fail(new Error(`upgrade refused: ${head.subarray(0, 400).toString('utf8')}`));
        sock.off('data', onHead);
        sock.off('error', fail);
        sock.on('error', () => { c.open = false; });
        sock.on('close', () => { c.open = false; });
        c.open = true;
        this.clients.push(c);
        let done = false;
        const check = (): void => {
          if (!done && (!hello || c.frames >= 1)) { done = true; resolve(); }
        };
        sock.on('data', (d: Buffer) => { c.onData(d, performance.now()); check(); });
        const rest = head.subarray(end + 4);
        if (rest.length > 0) c.onData(rest, performance.now());
        check();
      };
      sock.on('data', onHead);
    });
    let started = 0;
    const worker = async (): Promise<void> => {
      while (started < n) {
        started++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNECT_WINDOW, n) }, worker));
  }

  /** Sends the trigger and resolves when every client received one more frame. */
  async round(trigger: { url: string; headers: Record<string, string>; body: string }, timeoutMs: number, agent: http.Agent) {
    this.awaited++;
    this.reached = 0;
    const all = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        const missing = this.clients.filter((c) => c.frames < this.awaited).length;
        reject(new Error(`round timed out: ${missing} of ${this.clients.length} clients got nothing`));
      }, timeoutMs);
      this.onAll = () => { clearTimeout(t); resolve(); };
    });
    const t0 = performance.now();
    const status = await post(trigger, agent);
    await all;
    const latencies = this.clients.map((c) => c.at - t0);
    let first = Infinity;
    let last = 0;
    for (const l of latencies) { if (l < first) first = l; if (l > last) last = l; }
    return { status, fanoutMs: last, firstMs: first, latencies, sample: this.clients[0]?.last ?? '' };
  }

  async close(): Promise<void> {
    const closed = this.clients.map((c) => new Promise<void>((r) => {
      if (c.sock.destroyed) return r();
      c.sock.once('close', () => r());
      c.sock.destroy();
    }));
    await Promise.all(closed);
    this.clients = [];
    this.awaited = 0;
  }
}

function post(t: { url: string; headers: Record<string, string>; body: string }, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(t.url, { method: 'POST', agent, headers: { ...t.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(t.body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(t.body);
  });
}

const fleet = new Fleet();
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const out = (o: unknown): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
const lines = createInterface({ input: process.stdin });
// One command at a time, in order.
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    const cmd = JSON.parse(line) as { op: string; url?: string; n?: number; headers?: Record<string, string>; hello?: boolean; trigger?: { url: string; headers: Record<string, string>; body: string }; timeoutMs?: number };
    try {
      if (cmd.op === 'connect') {
        const t = performance.now();
        await fleet.connect(new URL(cmd.url!), cmd.n!, cmd.headers ?? {}, cmd.hello ?? false);
        out({ op: 'connected', n: fleet.clients.length, ms: performance.now() - t });
      } else if (cmd.op === 'round') {
        out({ op: 'round', ...(await fleet.round(cmd.trigger!, cmd.timeoutMs ?? 30_000, agent)) });
      } else if (cmd.op === 'close') {
        await fleet.close();
        out({ op: 'closed' });
      }
    } catch (e) {
      out({ op: 'error', message: (e as Error).message });
    }
  });
});
lines.on('close', () => {
  void queue.then(() => fleet.close()).then(() => agent.destroy());
});
