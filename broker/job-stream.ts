/**
 * Streaming job results (docs/jobs.md, "Streaming results"): the worker's sending end and the
 * caller's reader. Chunks travel as core messages `<stream inbox>.<id>` numbered 1, 2, … in
 * `Sb-Stream-Seq`, each body NDJSON (one JSON item per line), so a pass-through reader such as the
 * REST gateway forwards the bytes without parsing a single row; the reader grants credit on `sb.jobctl.credit.<id>` as it consumes them, and the
 * sender never has more than `window` chunks un-credited — so a reader that stops pulling stops the
 * handler, and neither side buffers more than `window` chunks. After the final record is stored the
 * worker sends an end message (`Sb-Stream-End: 1`, body = the record). Core messages can be lost (a
 * reconnect): a gap, or silence past the idle timeout, breaks the stream (SB_ERR_STREAM_BROKEN) and
 * cancels the job; streams are never resumed.
 */
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { JobRecord, JobResult } from '../schemas/job.js';
import { isFinal } from '../schemas/job.js';
import type { JobAccepted, JobStreamOptions, JobStreamReader } from './types.js';
import { ERROR_CODES, SbError, toSbError, type ErrorCode } from './errors.js';
import { CREDIT_SUBJECT_PREFIX, JOB_HEADERS } from './jobs-names.js';

/** Default credit window, chunks. */
export const DEFAULT_STREAM_WINDOW = 8;
/** Largest window a caller may ask for (a worker clamps to it). */
export const MAX_STREAM_WINDOW = 1024;
/** Default idle timeout of a reader, ms. */
export const DEFAULT_STREAM_IDLE_MS = 30_000;

const enc = new TextEncoder();

/** The window a delivery asked for (`Sb-Stream-Window`), clamped to 1..MAX_STREAM_WINDOW. */
export function streamWindowOf(raw: string | undefined): number {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, MAX_STREAM_WINDOW) : DEFAULT_STREAM_WINDOW;
}

/** The error a final, unsuccessful record stands for: its own code when it is one of ours, else by status. */
export function jobResultError(r: JobResult): SbError {
  const own = r.error?.code;
  const code: ErrorCode = own !== undefined && Object.hasOwn(ERROR_CODES, own) ? (own as ErrorCode)
    : r.status === 'timed_out' ? 'SB_ERR_JOB_TIMED_OUT'
      : r.status === 'cancelled' ? 'SB_ERR_JOB_CANCELLED' : 'SB_ERR_JOB_FAILED';
  return new SbError(code, r.error?.message ?? `job ${r.id} ended ${r.status}`, { data: { id: r.id, job: r } });
}

function broken(message: string, id?: string): SbError {
  return new SbError('SB_ERR_STREAM_BROKEN', message, id ? { data: { id } } : {});
}

// ---------------------------------------------------------------- worker side

/** The sending end of one streaming delivery (the runtime wraps it as `ctx.stream`). */
export class JobStreamSender {
  private seq = 0;
  private credited = 0;
  private failure: SbError | undefined;
  private waiting: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  // Writes run one after another, so a handler that does not await each one still sends in order.
  private tail: Promise<void> = Promise.resolve();
  private readonly sub: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    readonly id: string,
    private readonly to: string,
    readonly window: number,
  ) {
    // Subscribed before the first chunk goes out on the same connection: the server has it before any credit.
    this.sub = nc.subscribe(`${CREDIT_SUBJECT_PREFIX}${id}`, { callback: (_e, m) => this.onCredit(m) });
  }

  /** Sends one chunk; resolves while fewer than `window` chunks are un-credited, else once credit comes. */
  write(items: unknown[]): Promise<void> {
    if (!Array.isArray(items)) return Promise.reject(new TypeError('ctx.stream.write takes an array of items'));
    const next = this.tail.then(() => this.send(items));
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Stops the stream: a pending or later write rejects with SB_ERR_STREAM_BROKEN. */
  abort(why: string): void {
    if (this.failure) return;
    this.failure = broken(`the stream of job ${this.id} stopped: ${why}`, this.id);
    this.waiting?.reject(this.failure);
    this.waiting = undefined;
    this.unsubscribe();
  }

  /** Sends the end message (after the final record is stored) and closes the stream. */
  end(record: Uint8Array): void {
    this.abort('the job ended');
    publishEnd(this.nc, this.to, this.seq + 1, record);
  }

  private async send(items: unknown[]): Promise<void> {
    if (this.failure) throw this.failure;
    const h = natsHeaders();
    h.set(JOB_HEADERS.streamSeq, String(++this.seq));
    let body = '';
    for (const item of items) body += `${JSON.stringify(item ?? null)}\n`;
    this.nc.publish(this.to, enc.encode(body), { headers: h });
    if (this.seq - this.credited < this.window) return;
    await new Promise<void>((resolve, reject) => { this.waiting = { resolve, reject }; });
  }

  private onCredit(m: Msg): void {
    let upTo: unknown;
    try {
      upTo = (m.json<{ upTo?: unknown }>()).upTo;
    } catch {
      return;
    }
    if (typeof upTo !== 'number' || !Number.isInteger(upTo) || upTo <= this.credited) return;
    this.credited = Math.min(upTo, this.seq);
    if (this.waiting && this.seq - this.credited < this.window) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve();
    }
  }

  private unsubscribe(): void {
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }
}

const dec = new TextDecoder();

/** The items of one NDJSON chunk body. */
function parseNdjson(bytes: Uint8Array): unknown[] {
  const text = dec.decode(bytes);
  const out: unknown[] = [];
  let start = 0;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
    if (nl > start) out.push(JSON.parse(text.slice(start, nl)));
    start = nl + 1;
  }
  if (start < text.length) out.push(JSON.parse(text.slice(start)));
  return out;
}

/** The end message of a stream: `Sb-Stream-Seq: seq`, `Sb-Stream-End: 1`, body = the final record. */
export function publishEnd(nc: NatsConnection, to: string, seq: number, record: Uint8Array): void {
  const h = natsHeaders();
  h.set(JOB_HEADERS.streamSeq, String(seq));
  h.set(JOB_HEADERS.streamEnd, '1');
  h.set('Content-Type', 'application/json');
  if (!nc.isClosed()) nc.publish(to, record, { headers: h });
}

// ---------------------------------------------------------------- caller side

/** What a reader needs from its job client. */
export interface StreamReaderHost {
  /** Core-publishes `{"upTo": n}` on the job's credit subject. */
  credit(id: string, upTo: number): void;
  /** Cancels the job (JobClient.cancel); errors are ignored by the reader. */
  cancel(id: string): Promise<unknown>;
  /** Reads the job's record once. */
  read(id: string): Promise<JobRecord | undefined>;
  /** The reader is done: drop its routes (stream inbox entry, result waiter). */
  closed(id: string): void;
}

type Terminal = { kind: 'end'; record: JobResult } | { kind: 'error'; error: SbError };

/**
 * {@link JobStreamReader} over core messages. Holds at most `window` chunks (the worker sends no more
 * than that ahead of the credit), whatever the stream's length.
 */
export class NatsJobStreamReader implements JobStreamReader {
  readonly accepted: Promise<JobAccepted>;
  readonly result: Promise<JobResult>;
  readonly window: number;
  private readonly idleMs: number;
  private id: string | undefined;
  /** NDJSON bodies of chunks not consumed yet (parsed only by the item iterator). */
  private readonly chunks: Uint8Array[] = [];
  private expected = 1;
  private consumed = 0;
  private credited = 0;
  /** How the stream ends, once known; handed out after the chunks still buffered. */
  private terminal: Terminal | undefined;
  private finished = false;
  /** A succeeded record that came as the waiter's reply before the end message did. */
  private recordSeen = false;
  private wake: (() => void) | undefined;
  private idle: NodeJS.Timeout | undefined;
  private settle!: { resolve: (r: JobResult) => void; reject: (e: unknown) => void };

  /** `submit` stores the job; it calls {@link bind} with the id before publishing. */
  constructor(opts: JobStreamOptions, private readonly host: StreamReaderHost, submit: (r: NatsJobStreamReader) => Promise<JobAccepted>) {
    this.window = Math.min(MAX_STREAM_WINDOW, Math.max(1, Math.floor(opts.windowChunks ?? DEFAULT_STREAM_WINDOW)));
    this.idleMs = Math.max(1, opts.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_MS);
    this.result = new Promise<JobResult>((resolve, reject) => { this.settle = { resolve, reject }; });
    // Nobody may be listening to these: the iteration reports the same outcome.
    this.result.catch(() => undefined);
    this.accepted = submit(this);
    this.accepted.catch((e: unknown) => this.end({ kind: 'error', error: toSbError(e) }));
  }

  /** The job's id, known before its publish (the client routes messages by it). */
  bind(id: string): void {
    this.id = id;
    if (this.wake) this.armIdle();
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown[]> {
    return {
      next: async () => {
        const r = await this.next();
        if (r.done) return r;
        try {
          return { done: false, value: parseNdjson(r.value) };
        } catch {
          this.breakOff('a chunk is not NDJSON');
          return this.next().then(() => ({ done: true, value: undefined }));
        }
      },
      // Leaving a for-await loop early (break, throw) lands here: the job is cancelled.
      return: async () => {
        await this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  async cancel(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.chunks.length = 0;
    this.stopIdle();
    this.settle.reject(new SbError('SB_ERR_JOB_CANCELLED', 'the reader cancelled the stream', this.id ? { data: { id: this.id } } : {}));
    this.wake?.();
    // The submit may still be on its way: cancel once it is stored.
    const accepted = await this.accepted.catch(() => undefined);
    if (!accepted) return;
    this.host.closed(accepted.id);
    await this.host.cancel(accepted.id).catch(() => undefined);
  }

  /** A chunk or the end message on our stream inbox. */
  onMessage(msg: Msg): void {
    if (this.finished || this.terminal) return;
    this.touch();
    const seq = Number(msg.headers?.get(JOB_HEADERS.streamSeq));
    if (seq !== this.expected) return this.breakOff(`chunk ${this.expected} was lost (got ${String(seq)})`);
    this.expected++;
    if (msg.headers?.get(JOB_HEADERS.streamEnd) === '1') {
      let rec: JobResult;
      try {
        rec = msg.json<JobResult>();
      } catch {
        return this.breakOff(`the end message is not JSON`);
      }
      this.end(rec.status === 'succeeded' ? { kind: 'end', record: rec } : { kind: 'error', error: jobResultError(rec) });
    } else {
      // nats.js hands out views into its read buffer: keep a copy.
      this.chunks.push(new Uint8Array(msg.data));
      this.wake?.();
    }
  }

  /** The final record, from the result waiter (the reply, a read after a reconnect, or a cancel here). */
  onRecord(rec: JobResult): void {
    if (this.finished || this.terminal) return;
    // A success needs its end message (it says every chunk arrived); it comes before the reply.
    if (rec.status === 'succeeded') this.recordSeen = true;
    else this.end({ kind: 'error', error: jobResultError(rec) });
  }

  /** The client is closing. */
  fail(error: SbError): void {
    this.end({ kind: 'error', error });
  }

  ndjson(): AsyncIterable<Uint8Array> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => this.next(),
        return: async () => {
          await this.cancel();
          return { done: true, value: undefined };
        },
      }),
    };
  }

  private async next(): Promise<IteratorResult<Uint8Array, undefined>> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.consumed++;
        this.grant();
        return { value: chunk, done: false };
      }
      if (this.finished) return { done: true, value: undefined };
      const t = this.terminal;
      if (t) {
        this.close(t);
        if (t.kind === 'error') throw t.error;
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.armIdle();
      });
      this.wake = undefined;
      this.stopIdle();
    }
  }

  // Credit every half window: fewer messages than one per chunk, and the worker never waits long.
  private grant(): void {
    if (this.id === undefined || this.consumed - this.credited < Math.max(1, Math.floor(this.window / 2))) return;
    this.credited = this.consumed;
    this.host.credit(this.id, this.consumed);
  }

  private end(t: Terminal): void {
    if (this.finished || this.terminal) return;
    this.terminal = t;
    this.wake?.();
  }

  // The stream cannot be trusted any more: fail the reader and stop the job.
  private breakOff(why: string): void {
    if (this.finished || this.terminal) return;
    this.end({ kind: 'error', error: broken(`the result stream of job ${this.id ?? '?'} broke off: ${why}`, this.id) });
    if (this.id !== undefined) void this.host.cancel(this.id).catch(() => undefined);
  }

  private close(t: Terminal): void {
    this.finished = true;
    this.stopIdle();
    if (this.id !== undefined) this.host.closed(this.id);
    if (t.kind === 'end') this.settle.resolve(t.record);
    else this.settle.reject(t.error);
  }

  private armIdle(): void {
    if (this.idle || this.id === undefined) return;
    this.idle = setTimeout(() => void this.onIdle(), this.idleMs);
  }

  private touch(): void {
    if (!this.idle) return;
    this.stopIdle();
    this.armIdle();
  }

  private stopIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
  }

  // Nothing for idleMs: a failed job says why; anything else (running, or succeeded without its end) is broken.
  private async onIdle(): Promise<void> {
    this.idle = undefined;
    const id = this.id;
    if (id === undefined || this.finished || this.terminal) return;
    const rec = await this.host.read(id).catch(() => undefined);
    if (this.finished || this.terminal) return;
    if (rec && isFinal(rec) && rec.status !== 'succeeded') return this.end({ kind: 'error', error: jobResultError(rec) });
    const why = this.recordSeen || (rec && isFinal(rec)) ? 'the job finished but its last chunks never arrived' : `nothing arrived for ${this.idleMs} ms`;
    this.breakOff(why);
  }
}
