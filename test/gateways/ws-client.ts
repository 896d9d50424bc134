/**
 * Test support for the WebSocket gateway: a small protocol client that queues every server frame, so
 * a test awaits frames (by id or by predicate) and the close code instead of sleeping.
 */
import WebSocket from 'ws';

/** A server frame as parsed JSON. */
export type Frame = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** One client connection. */
export class WsClient {
  readonly frames: Frame[] = [];
  /** Every WebSocket message as received (a batch subscription's frame holds several lines). */
  readonly raw: string[] = [];
  /** Resolves with the close code and reason (1006 when the socket was cut). */
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const text = d.toString();
      this.raw.push(text);
      // One JSON object per line: a durable subscription with `batch: true` sends a pull's messages in one frame.
      for (const line of text.split('\n')) this.frames.push(JSON.parse(line) as Frame);
      this.wake();
    });
    this.closed = new Promise((r) => ws.on('close', (code, reason) => { r({ code, reason: reason.toString() }); this.wake(); }));
    ws.on('error', () => undefined);
  }

  /** Connects and waits for the hello frame. Rejects with the HTTP status on a refused upgrade. */
  static async connect(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
    const ws = new WebSocket(url, { headers });
    // Listen before the open event: the hello may arrive in the same read as the upgrade answer.
    const c = new WsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
    await c.next((f) => f['type'] === 'hello');
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Removes and returns the first queued frame matching `pred`, waiting for it up to `timeoutMs`. */
  async next(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame');
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; queued: ${JSON.stringify(this.frames.slice(0, 5))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  /** Waits (woken by each frame) until `cond()` holds: true, or false once the socket is closed. */
  async waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (cond()) return true;
      if (this.ws.readyState === WebSocket.CLOSED) return false;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  /** Sends `frame` with a fresh id and returns the server's answer to it. */
  async request(frame: Frame, timeoutMs = 10_000): Promise<Frame> {
    const id = `r${this.nextId++}`;
    this.ws.send(JSON.stringify({ ...frame, id }));
    return this.next((f) => f['id'] === id && f['type'] !== 'message', timeoutMs);
  }

  /** Waits for `n` message frames of subscription `sub`. */
  async messages(sub: string, n: number, timeoutMs = 10_000): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next((f) => f['type'] === 'message' && f['sub'] === sub, timeoutMs));
    return out;
  }

  send(raw: string | Buffer): void {
    this.ws.send(raw);
  }

  /** Closes normally and waits for the close. */
  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close(1000);
    await this.closed;
  }
}

/** Connects, expecting the upgrade to be refused; returns the HTTP status. */
export async function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const c = await WsClient.connect(url, headers);
    await c.close();
    return 101;
  } catch (e) {
    return (e as { status?: number }).status ?? 0;
  }
}
