/**
 * Shared pieces for bridge implementations: the status a bridge reports (state, since, counters,
 * last error) and the reconnect delay (capped exponential backoff with jitter). Adapters keep one
 * {@link BridgeStatusKeeper} and call `state()`, `count()` and `fail()`; the runner reads `status()`.
 */
import type { BridgeCounters, BridgeState, BridgeStatus } from '../../schemas/bridge.js';
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
