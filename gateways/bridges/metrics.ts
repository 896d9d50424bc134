/**
 * Bridge metrics, filled at scrape time from the runners' statuses (bridges only keep counters):
 * `sb_bridge_messages_total{bridge,kind,outcome}` and `sb_bridge_state{bridge,kind,state}` (1 for the
 * current state, 0 for the others).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { BridgeState, type BridgeCounters, type BridgeStatus } from '../../schemas/bridge.js';

/** Counter name → `outcome` label. */
const OUTCOMES: ReadonlyArray<[keyof BridgeCounters, string]> = [
  ['received', 'received'], ['forwarded', 'forwarded'], ['duplicates', 'duplicate'],
  ['deadLettered', 'dead_lettered'], ['retried', 'retried'], ['reconnects', 'reconnect'],
];
const STATES = BridgeState.anyOf.map((s) => s.const as string);

/** Something that reports bridge statuses with counters that never go down (a runner). */
export type StatusSource = () => BridgeStatus[];

const perRegistry = new WeakMap<Registry, Set<StatusSource>>();

/** Adds `source` to the registry's bridge metrics (created on first use); returns the removal function. */
export function registerBridgeMetrics(registry: Registry, source: StatusSource): () => void {
  let sources = perRegistry.get(registry);
  if (!sources) {
    const all = new Set<StatusSource>();
    sources = all;
    perRegistry.set(registry, all);
    const statuses = (): BridgeStatus[] => [...all].flatMap((s) => s());
    new Counter({
      name: 'sb_bridge_messages_total', help: 'Bridge messages by outcome', labelNames: ['bridge', 'kind', 'outcome'], registers: [registry],
      collect() {
        this.reset();
        for (const st of statuses()) for (const [field, outcome] of OUTCOMES) this.inc({ bridge: st.name, kind: st.kind, outcome }, st.counters[field]);
      },
    });
    new Gauge({
      name: 'sb_bridge_state', help: 'Bridge state (1 = current)', labelNames: ['bridge', 'kind', 'state'], registers: [registry],
      collect() {
        this.reset();
        for (const st of statuses()) for (const s of STATES) this.set({ bridge: st.name, kind: st.kind, state: s }, st.state === s ? 1 : 0);
      },
    });
  }
  sources.add(source);
  const set = sources;
  return () => { set.delete(source); };
}
