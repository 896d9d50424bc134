/**
 * The live table of REST channels (path → channel), loaded from the config store and kept fresh by
 * its watch, so a channel created on any replica serves on every replica without a restart.
 */
import type { ConfigStore } from '../../broker/types.js';
import type { Logger } from '../../broker/log.js';
import { SbError } from '../../broker/errors.js';
import { JOB_WAIT_DEFAULT_MS, REST_CHANNEL_PREFIX, type RestChannel } from '../../schemas/channel.js';

/** A job channel's target with its defaults filled. */
export interface ServedJob {
  type: string;
  input: Record<string, unknown>;
  mode: 'sync' | 'async';
  timeoutMs: number;
  jobTimeoutMs?: number;
}

/** A channel with its defaults filled: it targets a topic or a job, never both. */
export type ServedChannel = {
  name: string;
  path: string;
  methods: Array<'POST' | 'PUT'>;
  enabled: boolean;
} & ({ topic: string; job?: undefined } | { job: ServedJob; topic?: undefined });

/** Path prefixes the gateway keeps for itself; a channel may not live under them. */
export const RESERVED_PATHS = ['/v1', '/healthz', '/readyz', '/metrics', '/ws'];

/** Throws SB_ERR_VALIDATION when `path` is reserved for the gateway's own routes. */
export function assertChannelPath(path: string): void {
  const lower = path.toLowerCase();
  for (const r of RESERVED_PATHS) {
    if (lower === r || lower.startsWith(`${r}/`)) throw new SbError('SB_ERR_VALIDATION', `channel path ${path} is reserved (${r})`);
  }
}

/**
 * Fills a channel's defaults (methods ['POST'], enabled true; for a job: input {}, mode sync,
 * timeoutMs 30000). Throws SB_ERR_VALIDATION unless exactly one of `topic` and `job` is set.
 */
export function withChannelDefaults(c: RestChannel): ServedChannel {
  const base = { name: c.name, path: c.path, methods: c.methods ?? ['POST' as const], enabled: c.enabled ?? true };
  if ((c.topic === undefined) === (c.job === undefined)) {
    throw new SbError('SB_ERR_VALIDATION', `channel ${c.name} must have exactly one of topic and job`);
  }
  if (c.topic !== undefined) return { name: base.name, path: base.path, topic: c.topic, methods: base.methods, enabled: base.enabled };
  const j = c.job as NonNullable<RestChannel['job']>;
  const job: ServedJob = { type: j.type, input: j.input ?? {}, mode: j.mode ?? 'sync', timeoutMs: j.timeoutMs ?? JOB_WAIT_DEFAULT_MS };
  if (j.jobTimeoutMs !== undefined) job.jobTimeoutMs = j.jobTimeoutMs;
  return { name: base.name, path: base.path, job, methods: base.methods, enabled: base.enabled };
}

/** path → channel, mirrored from `channel.rest.*` in the config store. */
export class ChannelTable {
  private readonly byPath = new Map<string, ServedChannel>();
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
  lookup(path: string): ServedChannel | undefined {
    return this.byPath.get(path);
  }

  private set(key: string, value: RestChannel): void {
    const served = servable(value);
    if (!served) {
      this.logger.warn({ key }, 'ignoring malformed REST channel');
      return;
    }
    this.remove(key);
    this.byPath.set(served.path, served);
    this.pathOf.set(key, served.path);
  }

  private remove(key: string): void {
    const path = this.pathOf.get(key);
    if (path === undefined) return;
    this.pathOf.delete(key);
    this.byPath.delete(path);
  }
}

/** The served form of a stored value, or undefined when a hand-edited record cannot be served. */
function servable(value: RestChannel | null | undefined): ServedChannel | undefined {
  if (!value || typeof value.path !== 'string') return undefined;
  const hasTopic = typeof value.topic === 'string';
  const hasJob = typeof value.job === 'object' && value.job !== null && typeof value.job.type === 'string';
  if (hasTopic === hasJob) return undefined;
  return withChannelDefaults(value);
}
