/**
 * The config store: JSON values in a NATS KV bucket, cached in memory and kept current by one watch,
 * so every replica sees a change without a restart. Reads are local; writes go to the bucket.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { headers as natsHeaders, type NatsConnection, type QueuedIterator } from '@nats-io/nats-core';
import type { JetStreamClient, JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { Logger } from './log.js';
import type { ConfigChange, ConfigStore } from './types.js';
import { errors, SbError } from './errors.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';

const HISTORY = 5;
const KEY_RE = /^[-/_=.a-zA-Z0-9]+$/;

interface Waiter {
  revision: number;
  resolve: () => void;
}

/** A ConfigStore over one KV bucket; call {@link KvConfigStore.open} to create it. */
export class KvConfigStore implements ConfigStore {
  private readonly cache = new Map<string, unknown>();
  private readonly watchers = new Set<{ prefix: string; fn: (c: ConfigChange<unknown>) => void }>();
  private waiters: Waiter[] = [];
  private seen = 0;
  private lastWrite = 0;
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private closed = false;
  // nats.js keeps a request in flight until its timeout even after the connection closed; close() ends ours now.
  private readonly aborts = new Set<(e: SbError) => void>();

  private constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly bucket: string,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Opens (creating if missing) the bucket, loads every key, and starts the watch. */
  static async open(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, bucket: string, log: Logger, timeoutMs: number): Promise<KvConfigStore> {
    const kvm = new Kvm(nc);
    let kv: KV;
    try {
      kv = await kvm.create(bucket, { history: HISTORY });
    } catch (e) {
      // Another replica may have created it with other settings; use it as it is.
      try {
        kv = await kvm.open(bucket);
      } catch {
        throw toBackboneError(e);
      }
    }
    const store = new KvConfigStore(kv, js, bucket, log.child({ part: 'config' }), timeoutMs);
    // Everything written before the watch started is at or below the stream's last sequence.
    const last = (await streamInfoOnceElected(jsm, `KV_${bucket}`)).state.last_seq;
    await store.start(last);
    return store;
  }

  get<T>(key: string): T | undefined {
    return this.cache.get(key) as T | undefined;
  }

  list<T>(prefix: string): Array<{ key: string; value: T }> {
    const out: Array<{ key: string; value: T }> = [];
    for (const [key, value] of this.cache) if (key.startsWith(prefix)) out.push({ key, value: value as T });
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async put<T>(key: string, value: T): Promise<number> {
    checkKey(key);
    const rev = await this.guard(() => this.kv.put(key, JSON.stringify(value))).catch((e: unknown) => { throw toBackboneError(e); });
    return this.wrote(rev);
  }

  async create<T>(key: string, value: T): Promise<number> {
    checkKey(key);
    try {
      return this.wrote(await this.guard(() => this.kv.create(key, JSON.stringify(value))));
    } catch (e) {
      if (jsErrCode(e) === JS_ERR.wrongLastSequence) throw new SbError('SB_ERR_VALIDATION', `${key} exists`, { cause: e, data: { exists: true, key } });
      throw toBackboneError(e);
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    // What kv.delete() does, but through js.publish so we learn the revision for sync().
    const h = natsHeaders();
    h.set('KV-Operation', 'DEL');
    const ack = await this.guard(() => this.js.publish(`$KV.${this.bucket}.${key}`, new Uint8Array(0), { headers: h })).catch((e: unknown) => {
      throw toBackboneError(e);
    });
    await this.wrote(ack.seq);
  }

  watch<T>(prefix: string, fn: (change: ConfigChange<T>) => void): () => void {
    const w = { prefix, fn: fn as (c: ConfigChange<unknown>) => void };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  async sync(): Promise<void> {
    await this.until(this.lastWrite);
  }

  /** Stops the watch. */
  close(): void {
    this.closed = true;
    const shutdown = new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing');
    for (const abort of [...this.aborts]) abort(shutdown);
    this.iter?.stop();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  /** Runs a write, failing it with SB_ERR_SHUTTING_DOWN as soon as close() is called. */
  private guard<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SbError('SB_ERR_SHUTTING_DOWN', 'the broker is closing'));
    return new Promise<T>((resolve, reject) => {
      const abort = (e: SbError) => reject(e);
      this.aborts.add(abort);
      op().then(resolve, reject).finally(() => this.aborts.delete(abort));
    });
  }

  private async start(initialRevision: number): Promise<void> {
    this.iter = await this.kv.watch({ key: '>' });
    void this.consume(this.iter);
    await this.until(initialRevision);
  }

  private async consume(iter: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const e of iter) this.apply(e);
    } catch (err) {
      this.log.error({ err }, 'config watch ended');
    }
  }

  private apply(e: KvWatchEntry): void {
    const op = e.operation === 'PUT' ? 'put' : 'delete';
    let value: unknown = null;
    if (op === 'put') {
      try {
        value = e.json();
      } catch {
        this.log.warn({ key: e.key, revision: e.revision }, 'config value is not JSON; ignored');
      }
    }
    if (op === 'put' && value !== null) this.cache.set(e.key, value);
    else this.cache.delete(e.key);
    this.seen = Math.max(this.seen, e.revision);
    // Entries from the initial load are not changes; `isUpdate` marks the live ones.
    if (e.isUpdate) this.notify({ key: e.key, value, op, revision: e.revision });
    this.waiters = this.waiters.filter((w) => (w.revision <= this.seen ? (w.resolve(), false) : true));
  }

  private notify(change: ConfigChange<unknown>): void {
    for (const w of this.watchers) {
      if (!change.key.startsWith(w.prefix)) continue;
      try {
        w.fn(change);
      } catch (err) {
        this.log.error({ err, key: change.key }, 'config watcher failed');
      }
    }
  }

  // Read-your-writes by construction: a write resolves once this replica's cache shows it, so no
  // caller can forget a sync() and then read its own stale entry (a delete followed by a get).
  private async wrote(revision: number): Promise<number> {
    this.lastWrite = Math.max(this.lastWrite, revision);
    await this.until(revision);
    return revision;
  }

  /** Resolves once the watch has applied `revision`; bounded so a dead watch cannot hang a request. */
  private until(revision: number): Promise<void> {
    if (revision <= this.seen) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(errors.backboneUnavailable(new Error(`config watch did not reach revision ${revision}`)));
      }, this.timeoutMs);
      const waiter: Waiter = { revision, resolve: () => { clearTimeout(timer); resolve(); } };
      this.waiters.push(waiter);
    });
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || !KEY_RE.test(key) || key.startsWith('.') || key.endsWith('.') || key.includes('..')) {
    throw errors.validation(`invalid config key ${JSON.stringify(String(key).slice(0, 100))}`);
  }
}

/**
 * Stream info of a stream just created. In a cluster the create can answer before the stream's group
 * has a leader, and an info right then says "stream not found" (seen in test/faults/cluster.test.ts):
 * ask again for a few seconds before believing it.
 */
async function streamInfoOnceElected(jsm: JetStreamManager, stream: string): Promise<StreamInfo> {
  for (let i = 0; ; i++) {
    try {
      return await jsm.streams.info(stream);
    } catch (e) {
      if (jsErrCode(e) !== JS_ERR.streamNotFound || i >= 30) throw toBackboneError(e);
      await delay(100);
    }
  }
}
