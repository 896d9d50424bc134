/**
 * Shared pieces for bridge implementations: the status a bridge reports (state, since, counters,
 * last error) and the reconnect delay (capped exponential backoff with jitter). Adapters keep one
 * {@link BridgeStatusKeeper} and call `state()`, `count()` and `fail()`; the runner reads `status()`.
 */
import type { BridgeCounters, BridgeDefinition, BridgeState, BridgeStatus } from '../../schemas/bridge.js';
import type { Bridge } from './types.js';
import { isSbError } from '../../broker/errors.js';

/** Keeps one bridge's status; `status()` returns a copy. */
export class BridgeStatusKeeper {
  private current: BridgeState = 'stopped';
  private since = new Date().toISOString();
  private readonly counters: BridgeCounters = { received: 0, forwarded: 0, duplicates: 0, deadLettered: 0, retried: 0, reconnects: 0 };
  private lastError: BridgeStatus['lastError'];

  constructor(private readonly name: string, private readonly kind: string) {}

  /** The current state. */
  get state(): BridgeState {
    return this.current;
  }

  /** Moves to `state` (no-op when already there: `since` keeps the first time). */
  set(state: BridgeState): void {
    if (state === this.current) return;
    this.current = state;
    this.since = new Date().toISOString();
  }

  /** Adds `n` to one counter. */
  count(counter: keyof BridgeCounters, n = 1): void {
    this.counters[counter] += n;
  }

  /** Records an error (its code and message only: adapters build messages without secrets). */
  fail(e: unknown): void {
    const code = isSbError(e) ? e.code : typeof (e as { code?: unknown })?.code === 'string' || typeof (e as { code?: unknown })?.code === 'number' ? String((e as { code: unknown }).code) : 'error';
    const message = e instanceof Error ? e.message : String(e);
    this.lastError = { code, message: message.slice(0, 500), at: new Date().toISOString() };
  }

  status(): BridgeStatus {
    const s: BridgeStatus = { name: this.name, kind: this.kind, state: this.current, since: this.since, counters: { ...this.counters } };
    if (this.lastError) s.lastError = { ...this.lastError };
    return s;
  }
}

/** Reconnect delays: `initialMs · 2^(attempt-1)`, capped at `maxMs`, ±20 % jitter so replicas do not reconnect in step. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Waits for `p` (its rejection ignored) or `ms`, whichever comes first. */
export async function withDeadline(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}

/**
 * The shell every bridge shares: start once; stop once — state `stopping`, abort `signal`, let the
 * subclass settle what is in flight (`drain`), wait for its loop, all within the deadline, then
 * `stopped`; status from the keeper. A subclass writes `run()` (its connect/reconnect loop, which
 * ends once `signal` aborted) and, if it holds work a stop must settle, `drain(deadlineMs)`.
 */
export abstract class BridgeBase implements Bridge {
  readonly name: string;
  protected readonly keeper: BridgeStatusKeeper;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(def: Pick<BridgeDefinition, 'name' | 'kind'>) {
    this.name = def.name;
    this.keeper = new BridgeStatusKeeper(def.name, def.kind);
  }

  /** Aborted when the bridge is asked to stop. */
  protected get signal(): AbortSignal {
    return this.abort.signal;
  }

  start(): void {
    this.loop ??= this.run();
  }

  status(): BridgeStatus {
    return this.keeper.status();
  }

  stop(opts: { deadlineMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(opts.deadlineMs ?? 5000);
    return this.stopping;
  }

  /** The bridge's life: connect, move messages, reconnect with backoff; returns once `signal` aborted. */
  protected abstract run(): Promise<void>;

  /** Settles in-flight work at a stop (the default: nothing beyond what `run` does when aborted). */
  protected async drain(_deadlineMs: number): Promise<void> {
    // nothing
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.keeper.set('stopping');
    this.abort.abort();
    const t0 = Date.now();
    await this.drain(deadlineMs);
    // A connect in progress ends by itself; do not wait past the deadline for it.
    await withDeadline(this.loop, Math.max(0, deadlineMs - (Date.now() - t0)));
    this.keeper.set('stopped');
  }
}
