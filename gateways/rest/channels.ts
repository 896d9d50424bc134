/**
 * The live table of REST channels (path → channel), loaded from the config store and kept fresh by
 * its watch, so a channel created on any replica serves on every replica without a restart.
 */
import type { ConfigStore } from '../../broker/types.js';
import type { Logger } from '../../broker/log.js';
import { SbError } from '../../broker/errors.js';
import { REST_CHANNEL_PREFIX, type RestChannel } from '../../schemas/channel.js';

/** Path prefixes the gateway keeps for itself; a channel may not live under them. */
export const RESERVED_PATHS = ['/v1', '/healthz', '/readyz', '/metrics'];

/** Throws SB_ERR_VALIDATION when `path` is reserved for the gateway's own routes. */
export function assertChannelPath(path: string): void {
  const lower = path.toLowerCase();
  for (const r of RESERVED_PATHS) {
    if (lower === r || lower.startsWith(`${r}/`)) throw new SbError('SB_ERR_VALIDATION', `channel path ${path} is reserved (${r})`);
  }
}

/** Fills a channel's defaults (methods ['POST'], enabled true). */
export function withChannelDefaults(c: RestChannel): Required<RestChannel> {
  return { name: c.name, path: c.path, topic: c.topic, methods: c.methods ?? ['POST'], enabled: c.enabled ?? true };
}

/** path → channel, mirrored from `channel.rest.*` in the config store. */
export class ChannelTable {
  private readonly byPath = new Map<string, Required<RestChannel>>();
  private readonly pathOf = new Map<string, string>();
  private unwatch: (() => void) | undefined;

  constructor(private readonly config: ConfigStore, private readonly logger: Logger) {}

  /** Loads the current channels and starts watching for changes. Idempotent. */
  start(): void {
    if (this.unwatch) return;
    // Watch first, then list: a change between the two is applied twice, never missed.
    this.unwatch = this.config.watch<RestChannel>(REST_CHANNEL_PREFIX, (ch) => {
      if (ch.op === 'delete' || ch.value === null) this.remove(ch.key);
      else this.set(ch.key, ch.value);
    });
    for (const { key, value } of this.config.list<RestChannel>(REST_CHANNEL_PREFIX)) this.set(key, value);
  }

  /** Stops watching. */
  stop(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** The enabled or disabled channel that owns `path`, if any. */
  lookup(path: string): Required<RestChannel> | undefined {
    return this.byPath.get(path);
  }

  private set(key: string, value: RestChannel): void {
    if (!value || typeof value.path !== 'string' || typeof value.topic !== 'string') {
      this.logger.warn({ key }, 'ignoring malformed REST channel');
      return;
    }
    this.remove(key);
    this.byPath.set(value.path, withChannelDefaults(value));
    this.pathOf.set(key, value.path);
  }

  private remove(key: string): void {
    const path = this.pathOf.get(key);
    if (path === undefined) return;
    this.pathOf.delete(key);
    this.byPath.delete(path);
  }
}
