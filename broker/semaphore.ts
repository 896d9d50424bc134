/**
 * A counting semaphore with a FIFO queue: the one concurrency limit of the project (password checks
 * in security/, commands per WinRM host in workers/). A waiter whose signal aborts leaves the queue.
 */

/** A counting semaphore whose waiters give up when their signal aborts. */
export class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(private readonly max: number) {}

  /** Resolves with a release function once a slot is free; rejects with `signal.reason` on abort. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        resolve(this.releaser());
      };
      const onAbort = () => {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(grant);
    });
  }

  /** Commands running now. */
  get running(): number {
    return this.active;
  }

  /** Commands waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active--;
      this.queue.shift()?.();
    };
  }
}
