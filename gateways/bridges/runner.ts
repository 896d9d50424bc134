/**
 * The `bridges` gateway: runs every `bridge.*` definition of the config store in this process, and
 * follows the store — a new definition starts, a changed one restarts, `enabled: false` or a delete
 * stops. One bad bridge never takes the process down: it shows `failed` with its lastError. Every
 * runner answers the `bridges.status` signal, so the admin API can show status cluster-wide.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Gateway, GatewayDeps, GatewayHealth } from '../types.js';
import type { ConfigChange, SignalHandle } from '../../broker/types.js';
import { SbError, toSbError } from '../../broker/errors.js';
import { processKeyring, type Keyring } from '../../broker/secrets.js';
import { BRIDGE_PREFIX, type BridgeCounters, type BridgeStatus } from '../../schemas/bridge.js';
import type { Bridge, BridgeKind } from './types.js';
import { bridgeKinds } from './kinds.js';
import { openDefinition, type StoredBridge } from './definitions.js';
import { registerBridgeMetrics } from './metrics.js';
import { withDeadline } from './state.js';

/**
 * Signal every runner of a deployment answers with {@link RunnerReport}. Scoped by the config bucket:
 * deployments (and test suites) sharing one NATS must not see each other's bridges.
 */
export function bridgesStatusSignal(configBucket: string): string {
  return `bridges.status.${configBucket}`;
}
/** Signal every runner of a deployment obeys: `{name}` → stop and start that bridge again (runners that have it answer). */
export function bridgesRestartSignal(configBucket: string): string {
  return `bridges.restart.${configBucket}`;
}

/** One runner's answer to `bridges.status`. */
export interface RunnerReport {
  process: string;
  bridges: BridgeStatus[];
}

/** Options of {@link BridgeRunner}. */
export interface RunnerOptions {
  kinds?: ReadonlyMap<string, BridgeKind>;
  keyring?: () => Keyring;
  /** How this process is named in status answers; default `<hostname>/<random>`. */
  processId?: string;
  /** Deadline of one bridge's stop on a restart or a disable, ms; default 5000. */
  bridgeStopMs?: number;
}

interface Slot {
  /** The stored value it was started from (JSON), to tell a real change from a rewrite. */
  json: string;
  bridge?: Bridge;
  /** Status shown when the bridge could not be created (bad definition, unopenable secret). */
  failed?: BridgeStatus;
  /** Counters of earlier instances of this name in this process, so metrics never go down. */
  carried: BridgeCounters;
}

const ZERO: BridgeCounters = { received: 0, forwarded: 0, duplicates: 0, deadLettered: 0, retried: 0, reconnects: 0 };

/** Runs the bridges of the config store in this process. */
export class BridgeRunner implements Gateway {
  readonly kind = 'bridges';
  readonly processId: string;
  private readonly kinds: ReadonlyMap<string, BridgeKind>;
  private readonly keyring: () => Keyring;
  private readonly slots = new Map<string, Slot>();
  /** Per-name queue: changes to one bridge apply in order, one at a time. */
  private readonly queues = new Map<string, Promise<void>>();
  private unwatch: (() => void) | undefined;
  private signals: SignalHandle[] = [];
  private unmetrics: (() => void) | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly deps: GatewayDeps, opts: RunnerOptions = {}) {
    this.kinds = opts.kinds ?? bridgeKinds;
    this.keyring = opts.keyring ?? processKeyring;
    this.processId = opts.processId ?? `${hostname()}/${randomBytes(3).toString('hex')}`;
    this.bridgeStopMs = opts.bridgeStopMs ?? 5000;
  }

  private readonly bridgeStopMs: number;

  async start(signal?: AbortSignal): Promise<void> {
    if (this.stopping) throw new SbError('SB_ERR_SHUTTING_DOWN', 'the bridges gateway was stopped');
    signal?.throwIfAborted();
    const { config, signals } = this.deps.broker;
    this.unwatch = config.watch<StoredBridge>(BRIDGE_PREFIX, (c) => this.onChange(c));
    for (const { key, value } of config.list<StoredBridge>(BRIDGE_PREFIX)) this.enqueue(nameOf(key), () => this.apply(nameOf(key), value));
    const bucket = this.deps.config.nats.configBucket;
    this.signals.push(signals.on(bridgesStatusSignal(bucket), (s) => {
      const report: RunnerReport = { process: this.processId, bridges: this.statuses() };
      s.reply?.(Buffer.from(JSON.stringify(report)));
    }));
    this.signals.push(signals.on(bridgesRestartSignal(bucket), (s) => {
      let name: unknown;
      try {
        name = (JSON.parse(Buffer.from(s.data).toString('utf8')) as { name?: unknown }).name;
      } catch {
        return;
      }
      if (typeof name !== 'string' || !this.slots.has(name)) return;
      this.enqueue(name, () => this.restart(name as string));
      s.reply?.(Buffer.from(JSON.stringify({ process: this.processId })));
    }));
    this.unmetrics = registerBridgeMetrics(this.deps.metrics.registry, () => this.metricStatuses());
    this.started = true;
    this.deps.logger.info({ bridges: this.slots.size }, 'bridges gateway started');
  }

  /** Ready once started and until stopped; a failing bridge shows in its status, not here (it must not take the process out of rotation). */
  health(): GatewayHealth {
    const states: Record<string, number> = {};
    for (const s of this.statuses()) states[s.state] = (states[s.state] ?? 0) + 1;
    return { ready: this.started && !this.stopping, detail: { bridges: states } };
  }

  /** Status of every bridge this process knows (running, failed, or stopped by `enabled: false`). */
  statuses(): BridgeStatus[] {
    const out: BridgeStatus[] = [];
    for (const slot of this.slots.values()) {
      if (slot.bridge) out.push(slot.bridge.status());
      else if (slot.failed) out.push(slot.failed);
    }
    return out;
  }

  /** Stops watching, then every bridge at once within `deadlineMs`. Idempotent. */
  stop(opts: { deadlineMs?: number } = {}): Promise<void> {
    this.stopping ??= (async () => {
      const deadlineMs = opts.deadlineMs ?? 10_000;
      const t0 = Date.now();
      this.unwatch?.();
      for (const h of this.signals) h.unsubscribe();
      this.signals = [];
      // Queued changes finish first (they are bounded by bridgeStopMs), then everything stops.
      await withDeadline(Promise.all([...this.queues.values()]), deadlineMs / 2);
      const bridges = [...this.slots.values()].flatMap((s) => (s.bridge ? [s.bridge] : []));
      const left = Math.max(0, deadlineMs - (Date.now() - t0));
      await Promise.allSettled(bridges.map((b) => b.stop({ deadlineMs: left })));
      this.unmetrics?.();
      this.started = false;
    })();
    return this.stopping;
  }

  private metricStatuses(): BridgeStatus[] {
    return this.statuses().map((s) => {
      const carried = this.slots.get(s.name)?.carried ?? ZERO;
      const counters = { ...s.counters };
      for (const k of Object.keys(counters) as Array<keyof BridgeCounters>) counters[k] += carried[k];
      return { ...s, counters };
    });
  }

  private onChange(c: ConfigChange<StoredBridge>): void {
    if (this.stopping) return;
    const name = nameOf(c.key);
    this.enqueue(name, () => (c.op === 'delete' || c.value === null ? this.remove(name) : this.apply(name, c.value)));
  }

  private enqueue(name: string, fn: () => Promise<void>): void {
    const prev = this.queues.get(name) ?? Promise.resolve();
    const next = prev.then(fn).catch((err: unknown) => this.deps.logger.error({ err, bridge: name }, 'bridge change failed'));
    this.queues.set(name, next);
    void next.then(() => { if (this.queues.get(name) === next) this.queues.delete(name); });
  }

  /** Starts, restarts or stops `name` so that it matches `stored`. */
  private async apply(name: string, stored: StoredBridge): Promise<void> {
    if (this.stopping) return;
    const json = JSON.stringify(withoutStamp(stored));
    const slot = this.slots.get(name);
    if (slot && slot.json === json) return;
    await this.halt(name);
    const next: Slot = { json, carried: slot ? slot.carried : { ...ZERO } };
    this.slots.set(name, next);
    const kind = this.kinds.get(String(stored.kind));
    try {
      if (!kind) throw new SbError('SB_ERR_VALIDATION', `unknown bridge kind ${String(stored.kind).slice(0, 64)} (this process runs ${[...this.kinds.keys()].join(', ')})`);
      const { def, secrets } = openDefinition(kind, stored, this.keyring);
      if (!def.enabled) {
        next.failed = { ...blank(name, String(stored.kind)), state: 'stopped' };
        this.deps.logger.info({ bridge: name }, 'bridge disabled');
        return;
      }
      const logger = this.deps.logger.child({ bridge: name, bridgeKind: kind.kind });
      next.bridge = kind.create(def, { broker: this.deps.broker, logger, metrics: this.deps.metrics, secrets });
      next.bridge.start();
      logger.info('bridge started');
    } catch (e) {
      const err = toSbError(e);
      next.failed = { ...blank(name, String(stored.kind)), state: 'failed', lastError: { code: err.code, message: err.message, at: new Date().toISOString() } };
      this.deps.logger.error({ bridge: name, code: err.code, reason: err.message }, 'bridge could not start');
    }
  }

  private async remove(name: string): Promise<void> {
    await this.halt(name);
    this.slots.delete(name);
  }

  private async restart(name: string): Promise<void> {
    const slot = this.slots.get(name);
    const stored = this.deps.broker.config.get<StoredBridge>(`${BRIDGE_PREFIX}${name}`);
    if (!slot || !stored) return;
    slot.json = ''; // force apply() to rebuild it
    await this.apply(name, stored);
  }

  /** Stops the running instance of `name` (if any) and carries its counters over. */
  private async halt(name: string): Promise<void> {
    const slot = this.slots.get(name);
    if (!slot?.bridge) return;
    const b = slot.bridge;
    slot.bridge = undefined;
    await b.stop({ deadlineMs: this.bridgeStopMs }).catch((err: unknown) => this.deps.logger.error({ err, bridge: name }, 'bridge stop failed'));
    const c = b.status().counters;
    for (const k of Object.keys(c) as Array<keyof BridgeCounters>) slot.carried[k] += c[k];
  }
}

/** Creates the bridges gateway (not started). */
export function createBridgeRunner(deps: GatewayDeps, opts?: RunnerOptions): BridgeRunner {
  return new BridgeRunner(deps, opts);
}

function nameOf(key: string): string {
  return key.slice(BRIDGE_PREFIX.length);
}

function withoutStamp(s: StoredBridge): Omit<StoredBridge, 'updatedAt'> {
  const { updatedAt: _u, ...rest } = s;
  return rest;
}

function blank(name: string, kind: string): BridgeStatus {
  return { name, kind, state: 'stopped', since: new Date().toISOString(), counters: { ...ZERO } };
}
