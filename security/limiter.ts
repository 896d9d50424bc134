/**
 * A concurrency limit with a bounded FIFO queue. Password checks go through one, so a flood of wrong
 * passwords occupies at most `concurrency` thread-pool slots (the pool has 4 threads by default, shared
 * with fs and dns) and at most `maxQueued` waiting promises, instead of all the CPU and memory.
 */
import { availableParallelism } from 'node:os';
import { SbError } from '../broker/errors.js';

/**
 * Default concurrency: one core left for the event loop, and at most 3 of the 4 libuv pool threads,
 * so fs and dns still get one while a flood of logins is being rejected. 1 on a 2-core machine.
 */
export const DEFAULT_SCRYPT_CONCURRENCY = Math.max(1, Math.min(3, availableParallelism() - 1));

/** Options of {@link ConcurrencyLimiter}. */
export interface LimiterOptions {
  /** Tasks running at once. Default {@link DEFAULT_SCRYPT_CONCURRENCY}. */
  concurrency?: number;
  /**
   * Tasks waiting for a slot before new ones are refused with SB_ERR_RATE_LIMITED. Default 100: at
   * ~50 ms per scrypt run and one slot, the last one waits ~5 s, well inside a request timeout.
   */
  maxQueued?: number;
}

/** Runs async tasks at most `concurrency` at a time, in arrival order. */
export class ConcurrencyLimiter {
  readonly concurrency: number;
  readonly maxQueued: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(opts: LimiterOptions = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_SCRYPT_CONCURRENCY);
    this.maxQueued = opts.maxQueued ?? 100;
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a slot is free; throws SB_ERR_RATE_LIMITED when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) {
        throw new SbError('SB_ERR_RATE_LIMITED', 'too many authentication attempts are waiting; retry later');
      }
      // The slot is handed over by release(), so `running` is not decremented in between.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
