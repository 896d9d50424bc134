/**
 * What an import changes, and applying it (docs/config-as-code.md, "Import"). The plan compares the
 * file with the running system: a field left out of the file is not compared (nor changed); nested
 * objects are compared field by field, lists whole. Conflicts (a field that cannot change in place, a
 * new object without a required secret) stop the import before anything is applied. Applying is
 * transactional per object type: on a failure the type's objects are brought back to what they were.
 */
import { isDeepStrictEqual } from 'node:util';
import { SbError, isSbError } from '../broker/errors.js';
import type { ConfigDoc } from '../schemas/config-doc.js';
import type { RestClient } from './client.js';
import type { FileKey } from './config-code-crypto.js';
import { OBJECT_TYPES, getPath, secretPaths, setPath, typeLabel, type Obj, type ObjectType, type Secrets } from './config-code-types.js';

/** One changed field; secrets carry no values. */
export interface FieldChange {
  path: string;
  from?: unknown;
  to?: unknown;
  secret?: boolean;
}

/** One object to create, update or delete. */
export interface Change {
  action: 'create' | 'update' | 'delete';
  type: ObjectType;
  id: string;
  fields: FieldChange[];
  /** The complete target (create, update). */
  want?: Obj;
  /** Secrets to set, in clear. */
  secrets: Secrets;
  /** The object as it was (update, delete), for the diff and for restoring. */
  old?: Obj;
  /** Its secrets as they were, read before applying when they would otherwise be lost. */
  oldSecrets?: Secrets;
}

/** Everything an import would do. */
export interface Plan {
  changes: Change[];
  /** Human sentences; any conflict stops the import before it applies anything. */
  conflicts: string[];
  /** Objects the system has and the file does not (deleted only with --prune). */
  notInFile: Array<{ type: ObjectType; id: string; protected?: boolean }>;
}

/** Options of {@link makePlan}. */
export interface PlanOptions {
  prune: boolean;
  /** Opens `{encrypted}` secrets; undefined when the file has none or no key was given. */
  key: FileKey | undefined;
  /** Objects never pruned (the user the CLI signs in as), as `<type label>/<id>`. */
  protect: ReadonlySet<string>;
}

const isPlain = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** Field-by-field differences of `want` from `cur` (fields `want` leaves out are not compared). */
function compare(want: Obj, cur: Obj | undefined, exact: readonly string[], prefix = ''): FieldChange[] {
  const out: FieldChange[] = [];
  for (const [k, v] of Object.entries(want)) {
    const path = `${prefix}${k}`;
    const c = cur?.[k];
    if (isPlain(v) && isPlain(c) && !exact.includes(path)) out.push(...compare(v, c, exact, `${path}.`));
    else if (!isDeepStrictEqual(v, c)) out.push({ path, from: c, to: v });
  }
  return out;
}

/** `want` laid over `cur`, with the same rule as {@link compare}. */
function merge(cur: Obj, want: Obj, exact: readonly string[], prefix = ''): Obj {
  const out: Obj = { ...cur };
  for (const [k, v] of Object.entries(want)) {
    const path = `${prefix}${k}`;
    const c = cur[k];
    out[k] = isPlain(v) && isPlain(c) && !exact.includes(path) ? merge(c, v, exact, `${path}.`) : v;
  }
  return out;
}

/** Splits an item of the file into its definition and its secrets (decrypted). */
function splitSecrets(t: ObjectType, item: Obj, key: FileKey | undefined): { obj: Obj; secrets: Secrets } {
  const obj = structuredClone(item);
  const secrets: Secrets = {};
  const id = String(obj[t.idField]);
  for (const path of secretPaths(t, obj)) {
    const v = getPath(obj, path);
    if (v === undefined) continue;
    setPath(obj, path, undefined);
    // Header names are case-insensitive and stored lower-case: compare them that way.
    const f = path.startsWith('headers.') ? path.toLowerCase() : path;
    if (typeof v === 'string') {
      secrets[f] = v;
      continue;
    }
    if (!key) throw new SbError('SB_ERR_VALIDATION', 'the file has encrypted secrets: pass --key-file with the key it was exported with');
    secrets[f] = key.decrypt((v as { encrypted: string }).encrypted, secretAad(t, id, path));
  }
  // A map that held only secrets (headers) is gone from the definition, not an empty one to compare.
  for (const f of t.secretFields ?? []) {
    const prefix = f.endsWith('.*') ? f.slice(0, -2) : undefined;
    const inner = prefix ? getPath(obj, prefix) : undefined;
    if (prefix && inner && typeof inner === 'object' && Object.keys(inner).length === 0) setPath(obj, prefix, undefined);
  }
  return { obj, secrets };
}

/** The AAD of an encrypted secret in a file: `<section>/<id>/<field>`. */
export function secretAad(t: ObjectType, id: string, field: string): string {
  return `${typeLabel(t)}/${id}/${field}`;
}

/** Compares the file with the system. Reads secrets (sealed in transit) only where the file has some to compare. */
export async function makePlan(c: RestClient, doc: ConfigDoc, opts: PlanOptions): Promise<Plan> {
  const plan: Plan = { changes: [], conflicts: [], notInFile: [] };
  for (const t of OBJECT_TYPES) {
    const items = getPath(doc, t.docPath.join('.')) as Obj[] | undefined;
    if (items === undefined) continue; // a section left out is not managed
    const current = new Map((await t.list(c)).map((o) => [String(o[t.idField]), o]));
    const wanted = new Set<string>();
    for (const item of items) {
      const id = String(item[t.idField]);
      wanted.add(id);
      const { obj, secrets } = splitSecrets(t, item, opts.key);
      const cur = current.get(id);
      const label = `${t.noun} ${id}`;
      if (!cur) {
        const missing = (t.requiredOnCreate ?? []).filter((f) => secrets[f] === undefined);
        if (missing.length > 0) plan.conflicts.push(`${label} is new and needs ${missing.join(', ')} (export with --secrets encrypt, or write it in the file)`);
        const fields = Object.keys(secrets).map((path) => ({ path, secret: true }));
        plan.changes.push({ action: 'create', type: t, id, fields, want: obj, secrets });
        continue;
      }
      const fields = compare(obj, cur, t.exact ?? []);
      const locked = t.immutable === 'all' ? fields : fields.filter((f) => t.immutable?.includes(f.path.split('.')[0] as string));
      if (locked.length > 0) {
        plan.conflicts.push(`${label}: ${locked.map((f) => f.path).join(', ')} cannot change in place (delete the ${t.noun} first, or keep the file's value)`);
        continue;
      }
      const toSet: Secrets = {};
      let oldSecrets: Secrets | undefined;
      if (!t.createOnlySecrets && t.readSecrets && Object.keys(secrets).length > 0) {
        oldSecrets = await t.readSecrets(c, id);
        for (const [f, v] of Object.entries(secrets)) {
          if (oldSecrets[f] !== v) {
            toSet[f] = v;
            fields.push({ path: f, secret: true });
          }
        }
      }
      if (fields.length === 0) continue;
      if (t.secretsWhole && Object.keys(toSet).length > 0) Object.assign(toSet, secrets);
      const want = t.replaceWhole ? obj : merge(cur, obj, t.exact ?? []);
      plan.changes.push({ action: 'update', type: t, id, fields, want, secrets: toSet, old: cur, ...(oldSecrets ? { oldSecrets } : {}) });
    }
    for (const [id, cur] of current) {
      if (wanted.has(id)) continue;
      const isProtected = opts.protect.has(`${typeLabel(t)}/${id}`);
      if (opts.prune && !isProtected) plan.changes.push({ action: 'delete', type: t, id, fields: [], secrets: {}, old: cur });
      else plan.notInFile.push({ type: t, id, ...(isProtected ? { protected: true } : {}) });
    }
  }
  return plan;
}

/** The order changes are applied in: creates and updates by type in dependency order, then deletes in reverse. */
export function steps(plan: Plan): Array<{ type: ObjectType; changes: Change[] }> {
  const out: Array<{ type: ObjectType; changes: Change[] }> = [];
  for (const t of OBJECT_TYPES) {
    const changes = plan.changes.filter((ch) => ch.type === t && ch.action !== 'delete');
    if (changes.length > 0) out.push({ type: t, changes });
  }
  for (const t of [...OBJECT_TYPES].reverse()) {
    const changes = plan.changes.filter((ch) => ch.type === t && ch.action === 'delete');
    if (changes.length > 0) out.push({ type: t, changes });
  }
  return out;
}

async function applyOne(c: RestClient, ch: Change): Promise<void> {
  const t = ch.type;
  if (ch.action === 'create') await t.create(c, ch.want as Obj, ch.secrets);
  else if (ch.action === 'update') await t.update(c, ch.id, ch.want as Obj, ch.secrets);
  else await t.remove(c, ch.id);
}

/** Brings each object of `changes` back to `old` (or away, when it did not exist); returns what could not be restored. */
async function restore(c: RestClient, t: ObjectType, changes: readonly Change[]): Promise<string[]> {
  const failures: string[] = [];
  let now: Set<string>;
  try {
    now = new Set((await t.list(c)).map((o) => String(o[t.idField])));
  } catch (e) {
    return [`cannot list ${typeLabel(t)}: ${describe(e)}`];
  }
  for (const ch of changes) {
    try {
      if (!ch.old) {
        if (now.has(ch.id)) await t.remove(c, ch.id);
      } else if (!now.has(ch.id)) {
        await t.create(c, ch.old, ch.oldSecrets ?? {});
      } else {
        // Secrets go back only where this import changed them; others were never touched.
        const secrets = t.secretsWhole && Object.keys(ch.secrets).length > 0
          ? { ...ch.oldSecrets }
          : Object.fromEntries(Object.entries(ch.oldSecrets ?? {}).filter(([f]) => ch.secrets[f] !== undefined));
        await t.update(c, ch.id, ch.old, secrets);
      }
    } catch (e) {
      failures.push(`${t.noun} ${ch.id}: ${describe(e)}`);
    }
  }
  return failures;
}

function describe(e: unknown): string {
  return isSbError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

/** Counts of what an import applied. */
export interface Applied {
  created: number;
  updated: number;
  deleted: number;
}

/**
 * Applies the plan step by step. Before a step, secrets that its updates and deletes would lose are read
 * (sealed in transit) so that a restore can put them back. A failure restores the step's objects and
 * throws SB_ERR_CONFIG_IMPORT_FAILED; steps applied before it stay applied.
 */
export async function applyPlan(c: RestClient, plan: Plan, tick: () => void): Promise<Applied> {
  const applied: Applied = { created: 0, updated: 0, deleted: 0 };
  for (const { type: t, changes } of steps(plan)) {
    for (const ch of changes) {
      const loses = ch.action === 'delete' || (ch.action === 'update' && Object.keys(ch.secrets).length > 0);
      if (loses && t.readSecrets && !t.createOnlySecrets && !ch.oldSecrets) ch.oldSecrets = await t.readSecrets(c, ch.id);
    }
    const done: Change[] = [];
    for (const ch of changes) {
      try {
        await applyOne(c, ch);
      } catch (e) {
        const failures = await restore(c, t, [ch, ...[...done].reverse()]);
        const restored = failures.length === 0
          ? `${typeLabel(t)} restored to its previous state (${done.length} change${done.length === 1 ? '' : 's'} undone)`
          : `restoring ${typeLabel(t)} failed too: ${failures.join('; ')}`;
        throw new SbError('SB_ERR_CONFIG_IMPORT_FAILED', `${ch.action} ${t.noun} ${ch.id} failed: ${describe(e)}; ${restored}`, {
          cause: e, data: { type: typeLabel(t), id: ch.id, action: ch.action, restored: failures.length === 0 },
        });
      }
      done.push(ch);
      applied[ch.action === 'create' ? 'created' : ch.action === 'update' ? 'updated' : 'deleted']++;
      tick();
    }
  }
  return applied;
}
