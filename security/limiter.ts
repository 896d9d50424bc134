/**
 * A concurrency limit with a bounded FIFO queue. Password checks go through one, so a flood of wrong
 * passwords occupies at most `concurrency` thread-pool slots (the pool has 4 threads by default, shared
 * with fs and dns) and at most `maxQueued` waiting promises, instead of all the CPU and memory.
 */
import { availableParallelism } from 'node:os';
import { SbError } from '../broker/errors.js';
import { Semaphore } from '../broker/semaphore.js';

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

/** Runs async tasks at most `concurrency` at a time, in arrival order, with a bounded queue. */
export class ConcurrencyLimiter {
  readonly concurrency: number;
  readonly maxQueued: number;
  private readonly slots: Semaphore;

  constructor(opts: LimiterOptions = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_SCRYPT_CONCURRENCY);
    this.maxQueued = opts.maxQueued ?? 100;
    this.slots = new Semaphore(this.concurrency);
  }

  /** Tasks running now. */
  get active(): number {
    return this.slots.running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.slots.waiting;
  }

  /** Runs `task` when a slot is free; throws SB_ERR_RATE_LIMITED when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.slots.running >= this.concurrency && this.slots.waiting >= this.maxQueued) {
      throw new SbError('SB_ERR_RATE_LIMITED', 'too many authentication attempts are waiting; retry later');
    }
    const release = await this.slots.acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }
}
