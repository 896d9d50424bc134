/**
 * Bridge definitions at rest: validated against their kind's schema (defaults filled), secret fields
 * sealed with the master keys (AAD `bridge.<name>/<field>`), opened again for the runner, and shown
 * without secrets. Shared by the admin API and the runner so both read a definition the same way.
 */
import { Value } from '@sinclair/typebox/value';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { SbError } from '../../broker/errors.js';
import { isSealedSecret, openSecret, sealSecret, secretAad, type Keyring } from '../../broker/secrets.js';
import { BRIDGE_PREFIX, type BridgeDefinition } from '../../schemas/bridge.js';
import type { BridgeKind } from './types.js';

/** A definition as stored: the kind's fields with defaults, secrets sealed, plus name and updatedAt. */
export type StoredBridge = BridgeDefinition & { updatedAt?: string };

/** What the admin API shows: no secret fields; `secretsSet` names the ones that are set. */
export type BridgeView = StoredBridge & { secretsSet: string[] };

const checks = new WeakMap<TSchema, TypeCheck<TSchema>>();
function checker(schema: TSchema): TypeCheck<TSchema> {
  let c = checks.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    checks.set(schema, c);
  }
  return c;
}

/** The config-store key of bridge `name`. */
export function bridgeKey(name: string): string {
  return `${BRIDGE_PREFIX}${name}`;
}

/** The kind named by `body.kind`, or SB_ERR_VALIDATION listing the known kinds. */
export function kindOf(kinds: ReadonlyMap<string, BridgeKind>, body: unknown): BridgeKind {
  const kind = body && typeof body === 'object' ? (body as { kind?: unknown }).kind : undefined;
  const k = typeof kind === 'string' ? kinds.get(kind) : undefined;
  if (!k) throw new SbError('SB_ERR_VALIDATION', `kind must be one of ${[...kinds.keys()].join(', ')}`, { data: { kind: typeof kind === 'string' ? kind.slice(0, 64) : null } });
  return k;
}

/** Validates `body` (without `name`) against its kind's schema and fills defaults; throws SB_ERR_VALIDATION. */
export function validateBody(kind: BridgeKind, body: unknown): Record<string, unknown> {
  const filled = Value.Default(kind.schema, Value.Clone(body)) as Record<string, unknown>;
  const first = checker(kind.schema).Errors(filled).First();
  if (first) throw new SbError('SB_ERR_VALIDATION', `${first.path || '/'}: ${first.message}`, { data: { path: first.path } });
  return filled;
}

/** The stored record: secrets sealed; a secret left out of `body` is kept from `old`. */
export function sealDefinition(kind: BridgeKind, name: string, body: Record<string, unknown>, old: StoredBridge | undefined, keyring: () => Keyring): StoredBridge {
  const out: Record<string, unknown> = { ...body, name, enabled: body['enabled'] !== false };
  for (const f of kind.secretFields) {
    const v = body[f];
    if (typeof v === 'string') out[f] = sealSecret(keyring(), v, secretAad(bridgeKey(name), f));
    else if (old && old.kind === kind.kind && isSealedSecret(old[f])) out[f] = old[f];
    else delete out[f];
  }
  out['updatedAt'] = new Date().toISOString();
  return out as StoredBridge;
}

/** Opens the sealed secrets of a stored definition and returns the definition without them (validated again). */
export function openDefinition(kind: BridgeKind, stored: StoredBridge, keyring: () => Keyring): { def: BridgeDefinition; secrets: Record<string, string> } {
  const secrets: Record<string, string> = {};
  const body: Record<string, unknown> = { ...stored };
  for (const f of kind.secretFields) {
    if (body[f] !== undefined) secrets[f] = openSecret(keyring(), body[f], secretAad(bridgeKey(stored.name), f));
    delete body[f];
  }
  const { name, updatedAt: _u, ...rest } = body as StoredBridge;
  // A definition written straight into the store (config import) gets the same checks as the API's.
  const def = validateBody(kind, rest);
  return { def: { ...def, name, enabled: def['enabled'] !== false } as BridgeDefinition, secrets };
}

/** The admin view of a stored definition. */
export function viewDefinition(kind: BridgeKind | undefined, stored: StoredBridge): BridgeView {
  const view: Record<string, unknown> = { ...stored };
  const set: string[] = [];
  for (const f of kind?.secretFields ?? []) {
    if (view[f] !== undefined) set.push(f);
    delete view[f];
  }
  // Unknown kind: hide anything sealed anyway.
  for (const [k, v] of Object.entries(view)) if (isSealedSecret(v)) { set.push(k); delete view[k]; }
  return { ...(view as StoredBridge), secretsSet: set };
}
