/**
 * Live objects built from connection definitions in the config store (a WinRM client per host, an SQL
 * pool per connection), as one worker process holds them: built on first use, rebuilt when the stored
 * definition changes (the config store hands out a new object on every change), dropped when it is
 * deleted. A replaced or deleted entry stops being handed out at once, so no later job uses old
 * credentials, and is disposed of after the last run that holds it ends.
 */
import type { Logger } from '../broker/log.js';
import type { ConfigStore } from '../broker/types.js';

/** What every pooled entry carries; the pool sets `inFlight` and `stale`. */
export interface PooledEntry<D> {
  readonly name: string;
  readonly def: D;
  /** Runs in flight on this entry (a replaced entry is disposed of when it reaches 0). */
  inFlight: number;
  stale: boolean;
}

/** How a pool makes and ends its entries. */
export interface DefinitionPoolOptions<D, E extends PooledEntry<D>> {
  /** Config-store key prefix of the definitions: the rest of the key is the name. */
  prefix: string;
  /** Builds the entry of a definition (may throw: nothing is kept then). */
  build(name: string, def: D): E;
  /** Releases what an entry holds (client, pool). */
  dispose(entry: E): Promise<void>;
  /** What the log calls an entry when disposing of it fails, e.g. `winrm client`. */
  what: string;
  log: Logger;
}

/** The entries of one kind of definition in one worker process. */
export class DefinitionPool<D extends object, E extends PooledEntry<D>> {
  private readonly entries = new Map<string, E>();
  private unwatch: (() => void) | undefined;

  constructor(private readonly config: ConfigStore, private readonly opts: DefinitionPoolOptions<D, E>) {
    // A changed or deleted definition retires its entry at once.
    this.unwatch = config.watch<D>(opts.prefix, (change) => {
      const entry = this.entries.get(change.key.slice(opts.prefix.length));
      if (entry && entry.def !== this.config.get(change.key)) this.retire(entry);
    });
  }

  /** The stored definition of `name`, or undefined. */
  definition(name: string): D | undefined {
    return this.config.get<D>(`${this.opts.prefix}${name}`);
  }

  /** The current entry of `name` without building one. */
  peek(name: string): E | undefined {
    return this.entries.get(name);
  }

  /**
   * The entry for `name`, built on first use and rebuilt when the stored definition is a different
   * object; undefined when there is no definition. `admit` may refuse a definition (throw) before an
   * entry is built from it.
   */
  get(name: string, admit?: (def: D) => void): E | undefined {
    const def = this.definition(name);
    const current = this.entries.get(name);
    if (!def) {
      if (current) this.retire(current);
      return undefined;
    }
    if (current && current.def === def) return current;
    if (current) this.retire(current);
    admit?.(def);
    const entry = this.opts.build(name, def);
    this.entries.set(name, entry);
    return entry;
  }

  /** Marks a run started on `entry`. */
  begin(entry: E): void {
    entry.inFlight++;
  }

  /** Marks a run ended on `entry`; disposes of a retired entry after its last run. */
  end(entry: E): void {
    entry.inFlight--;
    if (entry.stale && entry.inFlight === 0) this.dispose(entry);
  }

  /** Disposes of every entry and stops watching; idempotent. */
  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => this.opts.dispose(e).catch(() => undefined)));
  }

  private retire(entry: E): void {
    if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
    entry.stale = true;
    if (entry.inFlight === 0) this.dispose(entry);
  }

  private dispose(entry: E): void {
    this.opts.dispose(entry).catch((err: unknown) => this.opts.log.warn({ name: entry.name, err: err instanceof Error ? err.name : typeof err }, `closing a ${this.opts.what} failed`));
  }
}
