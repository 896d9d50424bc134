/** Every bridge kind and its implementation (STYLE §1): `kind → { schema, secretFields, create }`. */
import type { BridgeDefinition } from '../../schemas/bridge.js';
import type { BridgeKind } from './types.js';
import { amqpInKind, amqpOutKind } from '../amqp/index.js';
import { kafkaInKind, kafkaOutKind } from '../kafka/index.js';

/**
 * Widens a kind to the registry's type. Sound because the runner and the admin API validate every
 * definition against `kind.schema` before `create()` sees it.
 */
export function registered<D extends BridgeDefinition>(k: BridgeKind<D>): BridgeKind {
  return k as unknown as BridgeKind;
}

/** kind name → kind. */
export const bridgeKinds: ReadonlyMap<string, BridgeKind> = new Map<string, BridgeKind>([
  [amqpInKind.kind, registered(amqpInKind)],
  [amqpOutKind.kind, registered(amqpOutKind)],
  [kafkaInKind.kind, registered(kafkaInKind)],
  [kafkaOutKind.kind, registered(kafkaOutKind)],
]);
