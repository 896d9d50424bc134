/**
 * Pieces every SQL driver (postgres.ts, mysql.ts, mssql.ts) needs the same way: the OUT-argument
 * marker, racing a pooled-connection wait against the job's abort, the session of one checked-out
 * connection, and turning a batch generator into a {@link SqlStream} whose `summary` settles when the
 * iteration ends.
 */
import type { SqlCall, SqlCallResult, SqlCallSummary, SqlDriver, SqlDriverFactory, SqlKind, SqlRowBatch, SqlStream } from './types.js';

/** An argument marked `{ out: true }` (OUT) or `{ out: true, value }` (INOUT); `value` may be undefined. */
export function outMarker(v: unknown): { value: unknown } | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || (v as { out?: unknown }).out !== true) return undefined;
  return { value: (v as { value?: unknown }).value };
}

/** `p`, or the abort reason as soon as `signal` aborts (a connection that arrives later is handed to `discard`). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal, discard: (v: T) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      p.then(discard, () => undefined);
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        if (!signal.aborted) resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Rows per batch when a driver buffers a whole call through its own stream (fewer, larger batches). */
export const BUFFERED_CHUNK_ROWS = 10_000;

/** Reads a stream to its end and answers the buffered form: the first result set's rows, and all of them when there are several. */
export async function bufferStream(s: SqlStream): Promise<SqlCallResult> {
  const sets: Array<Array<Record<string, unknown>>> = [];
  for await (const b of s) {
    const set = (sets[b.resultSet] ??= []);
    for (const r of b.rows) set.push(r);
  }
  const summary = await s.summary;
  return { ...summary, rows: sets[0] ?? [], ...(sets.length > 1 ? { resultSets: sets } : {}) };
}

/**
 * One checked-out connection for one call, and how to let go of it: normally (back to the pool), or by
 * a stop — cancel the running statement on the server, then destroy the connection. A driver says how
 * to cancel and how to close its own kind of connection.
 */
export abstract class CallSession {
  private released = false;
  private stopping: Promise<void> | undefined;
  /** A statement is in flight: a stop then needs a server-side cancel. */
  busy = false;
  /** Called first when the session is stopped, so a waiting stream wakes up (a destroyed connection may say nothing). */
  onStop: (() => void) | undefined;

  /** Cancels the running statement on the server (pg_cancel_backend, KILL QUERY). */
  protected abstract cancelRunning(): Promise<void>;
  /** Returns the connection to its pool, or closes it for good (`destroy`). */
  protected abstract close(destroy: boolean): void;

  /** Runs one statement, marked as in flight. */
  async run<T>(p: () => Promise<T>): Promise<T> {
    this.busy = true;
    try {
      return await p();
    } finally {
      this.busy = false;
    }
  }

  /** Cancels whatever runs and destroys the connection; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.onStop?.();
      if (this.busy) await this.cancelRunning().catch(() => undefined);
      this.release(true);
    })();
    return this.stopping;
  }

  /** Lets go of the connection once: back to the pool, or closed (`destroy`). */
  release(destroy: boolean): void {
    if (this.released) return;
    this.released = true;
    this.close(destroy);
  }

  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** After its call: finished (`done`) → back to the pool; failed, aborted or left early → stop (cancel, destroy), in doubt. */
  async finish(done: boolean): Promise<void> {
    if (done && !this.stopped) this.release(false);
    else await this.stop();
  }
}

/**
 * The driver of a pooled kind (PostgreSQL, MySQL/MariaDB) around its batch generator: `stream` runs
 * `run`, the buffered `call` is one {@link bufferStream} over it, and `close` stops the sessions of
 * calls still running (`sessions`, kept by the driver) before it ends the pool.
 */
export function pooledDriver(
  kind: SqlKind,
  run: (call: SqlCall, chunkRows: number, signal: AbortSignal, sink: { summary?: SqlCallSummary }) => AsyncGenerator<SqlRowBatch>,
  sessions: ReadonlySet<CallSession>,
  endPool: () => Promise<void>,
): SqlDriver {
  const stream = (call: SqlCall, o: { chunkRows: number; signal: AbortSignal }): SqlStream => makeStream((sink) => run(call, o.chunkRows, o.signal, sink));
  return {
    kind,
    stream,
    call: (call, signal) => bufferStream(stream(call, { chunkRows: BUFFERED_CHUNK_ROWS, signal })),
    async close(): Promise<void> {
      await Promise.all([...sessions].map((s) => s.stop()));
      await endPool();
    },
  };
}

/**
 * Wraps a batch generator as a {@link SqlStream}: iterable once, `summary` settling when it ends
 * (rejected with the iteration's error, or when the consumer leaves early). The generator puts the
 * summary into `sink` once it has read the last row.
 */
export function makeStream(gen: (sink: { summary?: SqlCallSummary }) => AsyncGenerator<SqlRowBatch>): SqlStream {
  let settle!: { resolve: (s: SqlCallSummary) => void; reject: (e: unknown) => void };
  const summary = new Promise<SqlCallSummary>((resolve, reject) => (settle = { resolve, reject }));
  // Nobody has to await it; an unobserved rejection must not crash the process.
  summary.catch(() => undefined);
  let started = false;
  return {
    summary,
    [Symbol.asyncIterator](): AsyncIterator<SqlRowBatch> {
      if (started) throw new Error('a SQL stream can be iterated only once');
      started = true;
      return (async function* () {
        const sink: { summary?: SqlCallSummary } = {};
        let failed: unknown;
        try {
          yield* gen(sink);
        } catch (e) {
          failed = e;
          throw e;
        } finally {
          if (sink.summary) settle.resolve(sink.summary);
          else settle.reject(failed ?? new Error('the stream was left before its end'));
        }
      })();
    },
  };
}

/**
 * A factory that imports the real driver module on first use. The three driver stacks cost ~560 ms of
 * imports (mssql/tedious alone ~385 ms, measured): a worker or gateway that never calls a database
 * of that kind does not pay for it.
 */
export function lazyDriver(load: () => Promise<SqlDriverFactory>): SqlDriverFactory {
  return (opts) => {
    const real: Promise<SqlDriver> = load().then((factory) => factory(opts));
    // A failed import surfaces at the first call; it must not be an unhandled rejection before that.
    real.catch(() => undefined);
    return {
      kind: opts.kind,
      call: async (call, signal) => (await real).call(call, signal),
      stream: (call, o) => {
        const inner = real.then((d) => d.stream(call, o));
        inner.catch(() => undefined);
        return makeStream(async function* (sink) {
          const s = await inner;
          yield* s;
          sink.summary = await s.summary;
        });
      },
      close: async () => (await real).close(),
    };
  };
}
