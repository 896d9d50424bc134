/**
 * `switchboard config export|import|check|diff FILE` (docs/config-as-code.md). Loaded lazily by the
 * specs in config-code.ts, so `--help` and completion never load TypeBox or yaml. Secrets are never
 * printed: a changed secret shows as `password (secret)`.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SbError } from '../broker/errors.js';
import { CONFIG_DOC_VERSION, type ConfigDoc } from '../schemas/config-doc.js';
import type { CommandIo, ParsedArgs } from './command-spec.js';
import { RestClient } from './client.js';
import { newEncryption, openEncryption, readKeyFile, type FileKey } from './config-code-crypto.js';
import { checkConfigText, formatConfig, formatOf, formatProblem, invalid } from './config-code-file.js';
import { applyPlan, makePlan, secretAad, type Change, type Plan } from './config-code-plan.js';
import { OBJECT_TYPES, getPath, setPath, typeLabel, type Obj } from './config-code-types.js';
import { clientEnv } from './env-vars.js';
import { str } from './ops-common.js';
import { Progress } from './output.js';

function fileArg(args: ParsedArgs, io: CommandIo): { path: string; shown: string } {
  const shown = args.positionals[0];
  if (!shown) throw new SbError('SB_ERR_VALIDATION', 'FILE is required (a .yaml, .yml or .json path)');
  return { path: resolve(io.cwd, shown), shown };
}


function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

function client(io: CommandIo): RestClient {
  return new RestClient(clientEnv(io.env));
}

/** Reads and checks FILE; prints every problem (`file:line:col: path: message`) to stderr and throws on any. */
async function readChecked(args: ParsedArgs, io: CommandIo): Promise<{ doc: ConfigDoc; shown: string }> {
  const { path, shown } = fileArg(args, io);
  const format = formatOf(shown);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SbError('SB_ERR_VALIDATION', `${shown} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const r = checkConfigText(text, format);
  if (!r.ok) {
    for (const p of r.problems) io.err(formatProblem(shown, p));
    throw invalid(shown, r.problems);
  }
  return { doc: r.doc, shown };
}

/** The file's key, when it has an encryption header and a key file was given. */
async function fileKey(doc: ConfigDoc, args: ParsedArgs, io: CommandIo): Promise<FileKey | undefined> {
  const keyFile = str(args, 'key-file');
  if (!keyFile || !doc.encryption) return undefined;
  return openEncryption(await readKeyFile(resolve(io.cwd, keyFile)), doc.encryption);
}

/** `config export FILE [--secrets omit|encrypt] [--key-file F]` */
export async function runExport(args: ParsedArgs, io: CommandIo): Promise<void> {
  const { path, shown } = fileArg(args, io);
  const format = formatOf(shown);
  const mode = str(args, 'secrets') ?? 'omit';
  if (mode !== 'omit' && mode !== 'encrypt') throw new SbError('SB_ERR_VALIDATION', `--secrets must be omit or encrypt, got ${JSON.stringify(mode.slice(0, 40))}`);
  const keyFile = str(args, 'key-file');
  if (mode === 'encrypt' && !keyFile) throw new SbError('SB_ERR_VALIDATION', '--secrets encrypt needs --key-file FILE');
  const c = client(io);
  const doc: Obj = { version: CONFIG_DOC_VERSION };
  let key: FileKey | undefined;
  if (mode === 'encrypt') {
    const enc = await newEncryption(await readKeyFile(resolve(io.cwd, keyFile as string)));
    doc['encryption'] = enc.header;
    key = enc.key;
  }
  const progress = new Progress(io, 'exporting', OBJECT_TYPES.length);
  let count = 0;
  for (const t of OBJECT_TYPES) {
    const objs = await t.list(c);
    if (key && t.readSecrets && !t.createOnlySecrets) {
      for (const o of objs) {
        const id = String(o[t.idField]);
        for (const [f, v] of Object.entries(await t.readSecrets(c, id))) setPath(o, f, { encrypted: key.encrypt(v, secretAad(t, id, f)) });
      }
    }
    const [section, sub] = t.docPath as [string, string?];
    if (sub === undefined) doc[section] = objs;
    else doc[section] = { ...(doc[section] as Obj | undefined), [sub]: objs };
    count += objs.length;
    progress.tick();
  }
  progress.finish();
  const text = formatConfig(doc as ConfigDoc, format);
  // The system may hold records older than today's schema: say so now rather than at the import.
  const checked = checkConfigText(text, format);
  if (!checked.ok) for (const p of checked.problems) io.err(`warning: ${formatProblem(shown, p)}`);
  // Written next to the target and renamed: a failed export never leaves half a file behind.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
  io.out(`exported ${count} objects to ${shown}${key ? ' (secrets encrypted)' : ' (secrets omitted)'}`);
}

/** `config check FILE`: the schema and the file's own rules, offline. */
export async function runCheck(args: ParsedArgs, io: CommandIo): Promise<void> {
  const { doc, shown } = await readChecked(args, io);
  const n = OBJECT_TYPES.reduce((sum, t) => sum + ((getPath(doc, t.docPath.join('.')) as unknown[] | undefined)?.length ?? 0), 0);
  io.out(`${shown}: ok (${n} objects)`);
}

/** Who the CLI signs in as: never pruned, or the import would lock itself out. */
function protectedSet(io: CommandIo): Set<string> {
  const env = io.env;
  if (env['SB_API_KEY'] || !env['SB_PASSWORD']) return new Set();
  return new Set([`users/${env['SB_USER'] || 'admin'}`]);
}

async function planFor(args: ParsedArgs, io: CommandIo): Promise<{ plan: Plan; shown: string; c: RestClient }> {
  const { doc, shown } = await readChecked(args, io);
  const key = await fileKey(doc, args, io);
  const c = client(io);
  const plan = await makePlan(c, doc, { prune: flag(args, 'prune'), key, protect: protectedSet(io) });
  return { plan, shown, c };
}

const SIGN = { create: '+', update: '~', delete: '-' } as const;

function shortValue(v: unknown): string {
  if (v === undefined) return '(unset)';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function changeLine(ch: Change): string {
  const head = `${SIGN[ch.action]} ${ch.action} ${ch.type.noun} ${ch.id}`;
  if (ch.action === 'delete' || ch.fields.length === 0) return head;
  const fields = ch.fields.map((f) => (f.secret ? `${f.path} (secret)` : ch.action === 'create' ? f.path : `${f.path} ${shortValue(f.from)} -> ${shortValue(f.to)}`));
  return `${head}: ${fields.join(', ')}`;
}

function printPlan(io: CommandIo, plan: Plan, prune: boolean): void {
  for (const ch of plan.changes) io.out(changeLine(ch));
  for (const c of plan.conflicts) io.out(`! conflict: ${c}`);
  const kept = plan.notInFile.filter((n) => !n.protected);
  if (kept.length > 0 && !prune) {
    io.out(`= not in the file, kept (--prune deletes them): ${kept.map((n) => `${n.type.noun} ${n.id}`).join(', ')}`);
  }
  for (const n of plan.notInFile.filter((x) => x.protected)) io.out(`= not in the file, kept: ${n.type.noun} ${n.id} (the user this CLI signs in as)`);
}

/** The plan as JSON (`--json`): no secret value, only which secret fields change. */
function planJson(plan: Plan): unknown {
  const ch = (c: Change) => ({ type: typeLabel(c.type), id: c.id, fields: c.fields.map((f) => (f.secret ? { path: f.path, secret: true } : { path: f.path, from: f.from, to: f.to })) });
  return {
    create: plan.changes.filter((c) => c.action === 'create').map(ch),
    update: plan.changes.filter((c) => c.action === 'update').map(ch),
    delete: plan.changes.filter((c) => c.action === 'delete').map((c) => ({ type: typeLabel(c.type), id: c.id })),
    conflicts: plan.conflicts,
    notInFile: plan.notInFile.map((n) => ({ type: typeLabel(n.type), id: n.id })),
  };
}

function counts(plan: Plan): string {
  const n = (a: Change['action']) => plan.changes.filter((c) => c.action === a).length;
  return `${n('create')} to create, ${n('update')} to update, ${n('delete')} to delete`;
}

/** `config diff FILE [--prune] [--key-file F] [--json]`: what an import would change; changes nothing. */
export async function runDiff(args: ParsedArgs, io: CommandIo): Promise<void> {
  const { plan, shown } = await planFor(args, io);
  if (flag(args, 'json')) return void io.out(JSON.stringify(planJson(plan), null, 2));
  printPlan(io, plan, flag(args, 'prune'));
  io.out(plan.changes.length === 0 && plan.conflicts.length === 0 ? `no changes: the system matches ${shown}` : counts(plan));
}

/** `config import FILE [--prune] [--dry-run] [--key-file F] [--json]` */
export async function runImport(args: ParsedArgs, io: CommandIo): Promise<void> {
  const { plan, shown, c } = await planFor(args, io);
  const json = flag(args, 'json');
  if (plan.conflicts.length > 0) {
    for (const x of plan.conflicts) io.err(`conflict: ${x}`);
    throw new SbError('SB_ERR_CONFIG_CONFLICT', `${plan.conflicts.length} conflict${plan.conflicts.length === 1 ? '' : 's'} in ${shown}; nothing was applied`, { data: { conflicts: plan.conflicts } });
  }
  if (plan.changes.length === 0) {
    if (json) return void io.out(JSON.stringify({ ...(planJson(plan) as Obj), applied: { created: 0, updated: 0, deleted: 0 } }, null, 2));
    return void io.out(`no changes: the system already matches ${shown}`);
  }
  if (flag(args, 'dry-run')) {
    if (json) return void io.out(JSON.stringify({ ...(planJson(plan) as Obj), dryRun: true }, null, 2));
    printPlan(io, plan, flag(args, 'prune'));
    return void io.out(`dry run: ${counts(plan)}; nothing was applied`);
  }
  const progress = new Progress(io, 'importing', plan.changes.length);
  let applied;
  try {
    applied = await applyPlan(c, plan, () => progress.tick());
  } finally {
    progress.finish();
  }
  if (json) return void io.out(JSON.stringify({ ...(planJson(plan) as Obj), applied }, null, 2));
  printPlan(io, plan, flag(args, 'prune'));
  io.out(`applied: ${applied.created} created, ${applied.updated} updated, ${applied.deleted} deleted`);
}
