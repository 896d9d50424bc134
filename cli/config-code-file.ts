/**
 * Reading, checking and writing config files (docs/config-as-code.md). YAML or JSON by extension; both
 * are parsed with `yaml` (JSON is YAML 1.2) so every error points at a line and column of the file.
 * The schema is schemas/config-doc.ts; the order of its properties is the order fields are written in,
 * so an export is stable byte for byte.
 */
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Document, LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Node } from 'yaml';
import { SbError } from '../broker/errors.js';
import { CONFIG_DOC_VERSION, ConfigDoc, DOC_BRIDGE_KINDS } from '../schemas/config-doc.js';

/** File formats, chosen by extension. */
export type ConfigFormat = 'yaml' | 'json';

/** One problem in a file: `file:line:col: path: message`. */
export interface ConfigProblem {
  line: number;
  col: number;
  /** `topics[2].retention.maxAgeMs`; empty for the whole document. */
  path: string;
  message: string;
}

/** Most problems reported for one file: past these the first ones are what matters. */
const MAX_PROBLEMS = 50;

// TypeBox checks `format` only for registered formats; the subscription schema uses date-time.
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v)));

/** The format of `file` by its extension; SB_ERR_VALIDATION for anything but .yaml, .yml and .json. */
export function formatOf(file: string): ConfigFormat {
  if (/\.ya?ml$/i.test(file)) return 'yaml';
  if (/\.json$/i.test(file)) return 'json';
  throw new SbError('SB_ERR_VALIDATION', `${file}: the file name must end in .yaml, .yml or .json`);
}

/** One problem as a line of output. */
export function formatProblem(file: string, p: ConfigProblem): string {
  return `${file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** The result of checking a file: the document when there is no problem. */
export type Checked = { ok: true; doc: ConfigDoc } | { ok: false; problems: ConfigProblem[] };

/** Parses and validates `text` against the schema and the rules a schema cannot say (unique names). */
export function checkConfigText(text: string, format: ConfigFormat): Checked {
  const lc = new LineCounter();
  const ydoc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => lc.linePos(offset);
  if (format === 'json') {
    const problem = jsonSyntax(text, at);
    if (problem) return { ok: false, problems: [problem] };
  }
  if (ydoc.errors.length > 0) {
    return {
      ok: false,
      problems: ydoc.errors.slice(0, MAX_PROBLEMS).map((e) => {
        const pos = e.linePos?.[0] ?? at(e.pos[0]);
        return { line: pos.line, col: pos.col, path: '', message: `syntax: ${e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}` };
      }),
    };
  }
  const value: unknown = ydoc.toJS({ maxAliasCount: 100 });
  const problems = schemaProblems(value, ydoc, at);
  if (problems.length === 0) problems.push(...ruleProblems(value as ConfigDoc, ydoc, at));
  return problems.length > 0 ? { ok: false, problems } : { ok: true, doc: value as ConfigDoc };
}

/** Node's own JSON parser is stricter than YAML (trailing commas, comments): its first error, placed. */
function jsonSyntax(text: string, at: (o: number) => { line: number; col: number }): ConfigProblem | undefined {
  const error = (t: string): string | undefined => {
    try {
      JSON.parse(t);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };
  const msg = error(text);
  if (msg === undefined) return undefined;
  const m = /position (\d+)/.exec(msg);
  const pos = at(m ? Number(m[1]) : badOffset(text, error));
  const what = /^Unexpected token '?(.)'?/.exec(msg)?.[1];
  return { line: pos.line, col: pos.col, path: '', message: `syntax: ${what ? `unexpected ${JSON.stringify(what)}` : msg.split(/ in JSON| at position/)[0]}` };
}

/**
 * Where JSON.parse failed when its message has no position (V8 ≥ 11): the shortest prefix that fails
 * for another reason than ending early. Prefixes before the fault only "end early", so a binary search finds it.
 */
function badOffset(text: string, error: (t: string) => string | undefined): number {
  const early = (n: number): boolean => /end of JSON input|Unterminated|Expected/.test(error(text.slice(0, n)) ?? 'end of JSON input');
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (early(mid + 1)) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(lo, Math.max(0, text.length - 1));
}

type Seg = string | number;

function pointerSegs(pointer: string): Seg[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** `topics[2].retention.maxAgeMs` */
export function displayPath(segs: readonly Seg[]): string {
  return segs.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Where `segs` is in the file: the key of a map entry, the item of a list, or the deepest ancestor found. */
function locate(ydoc: Document, segs: readonly Seg[], at: (o: number) => { line: number; col: number }): { line: number; col: number } {
  let node: unknown = ydoc.contents;
  let offset = (ydoc.contents as Node | null)?.range?.[0] ?? 0;
  for (const seg of segs) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return at(offset);
}

function plainMessage(message: string): string {
  return message
    .replace(/^Expected required property$/, 'is required')
    .replace(/^Unexpected property$/, 'is not a known field')
    .replace(/^Expected union value$/, 'matches none of the allowed forms')
    .replace(/^Expected (integer|string|number|boolean|array|object)$/, 'must be $1')
    .replace(/^Expected (\w+) to match '(.*)'$/, 'must match $2')
    .replace(/^Expected (\w+) to be /, 'must be ')
    .replace(/^Expected /, 'expected ')
    .replace(/greater or equal to/, '>=')
    .replace(/less or equal to/, '<=')
    .replace(/greater than/, '>')
    .replace(/less than/, '<');
}

function schemaProblems(value: unknown, ydoc: Document, at: (o: number) => { line: number; col: number }): ConfigProblem[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    const pos = at(0);
    return [{ line: pos.line, col: pos.col, path: '', message: 'the document must be a mapping with version, topics, subscriptions…' }];
  }
  const version = (value as { version?: unknown }).version;
  if (version !== CONFIG_DOC_VERSION) {
    const pos = locate(ydoc, ['version'], at);
    return [{ line: pos.line, col: pos.col, path: 'version', message: version === undefined ? `is required (${CONFIG_DOC_VERSION})` : `unsupported version ${JSON.stringify(version)}; this switchboard reads version ${CONFIG_DOC_VERSION}` }];
  }
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  const add = (segs: Seg[], message: string) => {
    const key = segs.join('/');
    // One problem per place: a union reports every variant's miss, the first says enough.
    if (seen.has(key) || out.length >= MAX_PROBLEMS) return;
    seen.add(key);
    const pos = locate(ydoc, segs, at);
    out.push({ line: pos.line, col: pos.col, path: displayPath(segs), message });
  };
  for (const e of Value.Errors(ConfigDoc, value)) {
    // A bridge is checked against its own kind's schema below: "matches none of the allowed forms" helps nobody.
    if (/^\/bridges\/\d+/.test(e.path)) continue;
    add(pointerSegs(e.path), plainMessage(e.message));
  }
  const bridges = (value as { bridges?: unknown }).bridges;
  if (Array.isArray(bridges)) {
    bridges.forEach((item: unknown, i) => {
      const kind = (item as { kind?: unknown } | null)?.kind;
      const schema = typeof kind === 'string' ? (DOC_BRIDGE_KINDS as Record<string, TSchema>)[kind] : undefined;
      if (!schema) return add(['bridges', i, 'kind'], `must be one of ${Object.keys(DOC_BRIDGE_KINDS).join(', ')}`);
      for (const e of Value.Errors(schema, item)) add(['bridges', i, ...pointerSegs(e.path)], plainMessage(e.message));
    });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

/** Rules beyond the schema: one object per name, one REST channel per path, encrypted values need the header. */
function ruleProblems(doc: ConfigDoc, ydoc: Document, at: (o: number) => { line: number; col: number }): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (segs: Seg[], message: string) => {
    const pos = locate(ydoc, segs, at);
    out.push({ line: pos.line, col: pos.col, path: displayPath(segs), message });
  };
  const unique = (section: Seg[], items: ReadonlyArray<Record<string, unknown>> | undefined, field: string, what: string) => {
    const first = new Map<unknown, number>();
    items?.forEach((it, i) => {
      const v = it[field];
      const prev = first.get(v);
      if (prev !== undefined) add([...section, i, field], `${what} ${String(v)} is already defined at ${displayPath([...section, prev])}`);
      else first.set(v, i);
    });
  };
  for (const section of ['topics', 'subscriptions', 'sqlConnections', 'winrmHosts', 'restChannels', 'wsChannels', 'wsOutgoing', 'bridges', 'users'] as const) {
    unique([section], doc[section], 'name', 'name');
  }
  unique(['restChannels'], doc.restChannels, 'path', 'path');
  unique(['acls', 'sql'], doc.acls?.sql, 'principal', 'principal');
  unique(['acls', 'winrm'], doc.acls?.winrm, 'principal', 'principal');
  doc.restChannels?.forEach((c, i) => {
    if ((c.topic === undefined) === (c.job === undefined)) add(['restChannels', i], 'needs exactly one of topic and job');
  });
  if (!doc.encryption) {
    walkEncrypted(doc, [], (segs) => add(segs, 'is encrypted but the file has no encryption header'));
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

function walkEncrypted(v: unknown, segs: Seg[], found: (segs: Seg[]) => void): void {
  if (Array.isArray(v)) v.forEach((x, i) => walkEncrypted(x, [...segs, i], found));
  else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o['encrypted'] === 'string') found(segs);
    else for (const [k, x] of Object.entries(o)) walkEncrypted(x, [...segs, k], found);
  }
}

/** SB_ERR_CONFIG_INVALID whose message is the first problem (`file:line:col: …`); every one is in `data.problems`. */
export function invalid(file: string, problems: readonly ConfigProblem[]): SbError {
  const all = problems.map((p) => formatProblem(file, p));
  const more = all.length > 1 ? ` (and ${all.length - 1} more)` : '';
  return new SbError('SB_ERR_CONFIG_INVALID', `${all[0] ?? file}${more}`, { data: { problems: all } });
}

/** `value` with object keys in schema order (unknown keys after, sorted), recursively. */
export function canonical(schema: TSchema | undefined, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((x) => canonical(schema?.['items'] as TSchema | undefined, x));
  if (!value || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  const variants = schema?.['anyOf'] as TSchema[] | undefined;
  if (variants) {
    const objects = variants.filter((s) => s['type'] === 'object');
    return canonical(objects.find((s) => Value.Check(s, value)) ?? objects[0], value);
  }
  const props = schema?.['properties'] as Record<string, TSchema> | undefined;
  const out: Record<string, unknown> = {};
  const known = props ? Object.keys(props) : [];
  const rest = Object.keys(o).filter((k) => !known.includes(k)).sort();
  const child = (k: string): TSchema | undefined => props?.[k] ?? (Object.values((schema?.['patternProperties'] ?? {}) as Record<string, TSchema>)[0]);
  for (const k of [...known, ...rest]) if (o[k] !== undefined) out[k] = canonical(child(k), o[k]);
  return out;
}

/** The file text of `doc`: keys in schema order, two-space indent, no line folding, lists of plain values in flow style. */
export function formatConfig(doc: ConfigDoc, format: ConfigFormat): string {
  const value = canonical(ConfigDoc, doc);
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  const ydoc = new Document(value, { aliasDuplicateObjects: false });
  // Lists of plain values on one line (`methods: [POST]`, `backoffMs: [100, 200]`): shorter, and diffs stay readable.
  visit(ydoc, { Seq: (_k, node) => { if (node.items.length > 0 && node.items.every((i) => isScalar(i) && !String(i.value).includes('\n'))) node.flow = true; } });
  return ydoc.toString({ lineWidth: 0, indent: 2, flowCollectionPadding: false });
}
