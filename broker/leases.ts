/**
 * Leases: at most one holder per name among every replica on the same NATS, over a KV bucket whose
 * entries age out after a TTL (the bucket's max age). Acquire is a KV `create` (refused while the key
 * holds a live entry; allowed once the holder deleted it or it aged out), the holder renews every
 * ttl/3 with `update(key, value, revision)`, and release deletes with the revision. Whatever moves the
 * revision under a holder (another replica took an aged-out entry, an operator deleted it) makes its
 * next renew fail, and the lease's `signal` aborts: the holder must stop what the lease guarded.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from './log.js';
import type { Lease, Leases } from './types.js';
import { errors, SbError } from './errors.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';

/** Default lease TTL (ms): a dead holder's lease is free again after at most this long. */
export const DEFAULT_LEASE_TTL_MS = 10_000;
const KEY_RE = /^[-_=.a-zA-Z0-9]+$/;

interface Held {
  lease: KvLease;
  timer: NodeJS.Timeout | undefined;
}

/** Leases over one KV bucket; the bucket is opened (created if missing) on the first acquire. */
export class KvLeases implements Leases {
  /** This replica's holder id (`<hostname>/<random>`), the value written into every lease it holds. */
  readonly id = `${hostname()}/${randomUUID().slice(0, 8)}`;
  private kv: Promise<{ kv: KV; ttlMs: number }> | undefined;
  private readonly held = new Set<Held>();
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    private readonly ttlMs: number,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  async acquire(name: string): Promise<Lease | undefined> {
    checkName(name);
    if (this.closed) throw new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing');
    const { kv, ttlMs } = await this.open();
    const value = JSON.stringify({ holder: this.id, since: new Date().toISOString() });
    let revision: number;
    try {
      revision = await kv.create(name, value);
    } catch (e) {
      if (isWrongLast(e)) return undefined;
      throw toBackboneError(e);
    }
    if (this.closed) {
      await kv.delete(name, { previousSeq: revision }).catch(() => undefined);
      throw new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing');
    }
    const held: Held = { lease: new KvLease(name, revision), timer: undefined };
    held.lease.onRelease = () => this.release(held, kv);
    this.held.add(held);
    this.schedule(held, kv, ttlMs, Date.now(), ttlMs / 3);
    return held.lease;
  }

  /** The holder id written in the lease `name`, or undefined when nobody holds it. */
  async holder(name: string): Promise<string | undefined> {
    checkName(name);
    const { kv } = await this.open();
    try {
      const e = await kv.get(name);
      if (!e || e.operation !== 'PUT') return undefined;
      return (e.json() as { holder?: string }).holder;
    } catch (e) {
      throw toBackboneError(e);
    }
  }

  /** Stops renewing and aborts every held lease (without deleting: they age out, see docs/ws-outgoing.md). */
  close(): void {
    this.closed = true;
    for (const h of [...this.held]) this.lose(h, 'the broker is closing');
  }

  private open(): Promise<{ kv: KV; ttlMs: number }> {
    this.kv ??= (async () => {
      // A short request timeout: a renew that hangs past the TTL is worth nothing.
      const js = jetstream(this.nc, { timeout: Math.max(250, Math.min(this.timeoutMs, Math.floor(this.ttlMs / 3))) });
      const kvm = new Kvm(js);
      let kv: KV;
      try {
        kv = await kvm.create(this.bucket, { history: 1, ttl: this.ttlMs });
      } catch (e) {
        // Created by another replica (maybe with another TTL): use it as it is.
        try {
          kv = await kvm.open(this.bucket);
        } catch {
          throw toBackboneError(e);
        }
      }
      // Renew on the bucket's real TTL: that is what ages an entry out, whatever this process was told.
      const ttlMs = (await kv.status()).ttl || this.ttlMs;
      if (ttlMs !== this.ttlMs) this.log.warn({ bucket: this.bucket, ttlMs, configured: this.ttlMs }, 'lease bucket has another TTL; using it');
      return { kv, ttlMs };
    })().catch((e: unknown) => {
      this.kv = undefined;
      throw toBackboneError(e);
    });
    return this.kv;
  }

  /**
   * Renews after `inMs`. `okAt` is when the last successful write was sent: the entry cannot age out
   * before okAt + ttl, so a transient failure is retried until 0.8·ttl has passed, then the lease is given up.
   */
  private schedule(h: Held, kv: KV, ttlMs: number, okAt: number, inMs: number): void {
    h.timer = setTimeout(() => {
      h.timer = undefined;
      const sentAt = Date.now();
      kv.update(h.lease.name, JSON.stringify({ holder: this.id, since: h.lease.since }), h.lease.revision).then(
        (rev) => {
          if (!this.held.has(h)) return;
          h.lease.revision = rev;
          this.schedule(h, kv, ttlMs, sentAt, ttlMs / 3);
        },
        (e: unknown) => {
          if (!this.held.has(h)) return;
          if (isWrongLast(e)) return this.lose(h, 'the lease entry changed under its holder');
          if (Date.now() - okAt >= ttlMs * 0.8) return this.lose(h, 'the lease could not be renewed in time');
          this.schedule(h, kv, ttlMs, okAt, ttlMs / 10);
        },
      );
    }, inMs);
  }

  private lose(h: Held, reason: string): void {
    if (!this.held.delete(h)) return;
    clearTimeout(h.timer);
    this.log.warn({ lease: h.lease.name, reason }, 'lease lost');
    h.lease.abort(reason);
  }

  private async release(h: Held, kv: KV): Promise<void> {
    if (!this.held.delete(h)) return;
    clearTimeout(h.timer);
    h.lease.abort('released');
    // Only our own revision: if it moved, the entry is someone else's now.
    await kv.delete(h.lease.name, { previousSeq: h.lease.revision }).catch((e: unknown) => {
      if (!isWrongLast(e)) this.log.warn({ lease: h.lease.name, err: e }, 'lease release failed; it ages out');
    });
  }
}

/** One held lease. */
class KvLease implements Lease {
  readonly since = new Date().toISOString();
  private readonly ctl = new AbortController();
  onRelease: () => Promise<void> = async () => undefined;

  constructor(readonly name: string, public revision: number) {}

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  abort(reason: string): void {
    if (!this.ctl.signal.aborted) this.ctl.abort(new Error(reason));
  }

  release(): Promise<void> {
    return this.onRelease();
  }
}

function isWrongLast(e: unknown): boolean {
  return jsErrCode(e) === JS_ERR.wrongLastSequence || /wrong last sequence/i.test(String((e as Error)?.message));
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !KEY_RE.test(name) || name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
    throw errors.validation(`invalid lease name ${JSON.stringify(String(name).slice(0, 100))}`);
  }
}
