/**
 * The object types config-as-code manages, in dependency order (topics before the subscriptions that
 * read them, connections before the channels and jobs that use them, users before their ACLs). Each
 * type says how to list its objects over the admin API in document form (defaults filled, runtime state
 * left out), and how to create, update and delete one. A new admin object type (bridges, outgoing
 * WebSocket connections) is one more entry here plus its section in schemas/config-doc.ts.
 */
import type { TSchema } from '@sinclair/typebox';
import type { RestClient } from './client.js';
import { transportKey } from './config-code-crypto.js';
import {
  DocBridge, DocSqlConnection, DocUser, DocWinrmHost, DocWsChannel, DocWsOutgoing,
} from '../schemas/config-doc.js';
import { BRIDGE_PREFIX } from '../schemas/bridge.js';
import { WS_OUTGOING_PREFIX } from '../schemas/ws-outgoing.js';
import { TopicSpec } from '../schemas/topic.js';
import { SubscriptionSpec } from '../schemas/subscription.js';
import { RestChannel } from '../schemas/channel.js';
import { SqlAcl, sqlConnKey } from '../schemas/sql.js';
import { WINRM_HOST_PREFIX, WinrmAcl } from '../schemas/winrm.js';

/** An object in document form. */
export type Obj = Record<string, unknown>;
/** Secret fields of one object in clear, by dotted path (`password`, `tls.key`). Never printed. */
export type Secrets = Record<string, string>;

/** One managed object type. */
export interface ObjectType {
  /** Where its list lives in the document (`['topics']`, `['acls', 'sql']`). */
  docPath: readonly string[];
  /** Singular noun for messages (`topic`, `SQL ACL`). */
  noun: string;
  /** The field that names an object. */
  idField: 'name' | 'principal';
  /** The schema of one item (also gives the written field order). */
  schema: TSchema;
  /** Every object, in document form, sorted by id. */
  list(c: RestClient): Promise<Obj[]>;
  /** Dotted paths of its secret fields; `headers.*` is every key of `headers`. */
  secretFields?: readonly string[];
  /** Setting any secret sends all of them (a PUT that replaces the whole set, e.g. headers). */
  secretsWhole?: boolean;
  /** Its secrets in clear, read sealed under a one-time transport key. */
  readSecrets?(c: RestClient, id: string): Promise<Secrets>;
  /** Secrets that only apply when the object is created (nothing to compare them with: user passwords are hashed). */
  createOnlySecrets?: boolean;
  /** Secrets a new object must have. */
  requiredOnCreate?: readonly string[];
  /** Fields that cannot change in place ('all': none can); a change is a conflict and nothing is applied. */
  immutable?: readonly string[] | 'all';
  /** Nested objects compared and replaced whole (maps of free keys), by dotted path. */
  exact?: readonly string[];
  /** An update sends the file's object as is (fields left out take defaults) instead of merging it over the current one. */
  replaceWhole?: boolean;
  create(c: RestClient, obj: Obj, secrets: Secrets): Promise<void>;
  /** Brings an existing object to `want` (complete), setting `secrets` (the ones to change). */
  update(c: RestClient, id: string, want: Obj, secrets: Secrets): Promise<void>;
  remove(c: RestClient, id: string): Promise<void>;
}

const enc = encodeURIComponent;
const byId = (field: string) => (a: Obj, b: Obj) => String(a[field]).localeCompare(String(b[field]), 'en');
const without = (o: Obj, ...keys: string[]): Obj => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
async function get<T>(c: RestClient, path: string, field: string): Promise<T[]> {
  return ((await c.call('GET', path)) as Record<string, T[]>)[field] ?? [];
}

/** Reads secrets through `POST {path}/secrets`: sealed under a fresh transport key, opened here. */
async function readSealed(c: RestClient, path: string, configKey: string): Promise<Secrets> {
  const t = transportKey();
  const r = (await c.call('POST', `${path}/secrets`, { transportKey: t.wire })) as { secrets: Record<string, unknown> };
  const out: Secrets = {};
  for (const [field, sealed] of Object.entries(r.secrets)) out[field] = t.open(sealed, `${configKey}/${field}`);
  return out;
}

const topics: ObjectType = {
  docPath: ['topics'], noun: 'topic', idField: 'name', schema: TopicSpec, immutable: ['storage'],
  async list(c) {
    const all = await get<Obj>(c, '/v1/topics', 'topics');
    return all.map((t) => ({ name: t['name'], retention: t['retention'], storage: t['storage'], replicas: t['replicas'], dedupWindowMs: t['dedupWindowMs'] })).sort(byId('name'));
  },
  async create(c, obj) { await c.call('POST', '/v1/topics', obj); },
  async update(c, id, want) {
    await c.call('PATCH', `/v1/topics/${enc(id)}`, { retention: want['retention'], replicas: want['replicas'], dedupWindowMs: want['dedupWindowMs'] });
  },
  async remove(c, id) { await c.call('DELETE', `/v1/topics/${enc(id)}`); },
};

const subscriptions: ObjectType = {
  // A subscription is a JetStream consumer: changing it would mean recreating it and losing its position.
  docPath: ['subscriptions'], noun: 'subscription', idField: 'name', schema: SubscriptionSpec, immutable: 'all',
  async list(c) {
    const all = await get<Obj>(c, '/v1/subscriptions', 'subscriptions');
    return all.map((s) => {
      const o: Obj = { name: s['name'], topic: s['topic'], deliver: s['deliver'], ackWaitMs: s['ackWaitMs'], maxDeliver: s['maxDeliver'], backoffMs: s['backoffMs'] };
      if (s['deadLetterTopic'] !== null && s['deadLetterTopic'] !== undefined) o['deadLetterTopic'] = s['deadLetterTopic'];
      return o;
    }).sort(byId('name'));
  },
  async create(c, obj) { await c.call('POST', '/v1/subscriptions', obj); },
  async update() { throw new Error('subscriptions are not updated in place'); },
  async remove(c, id) { await c.call('DELETE', `/v1/subscriptions/${enc(id)}`); },
};

const sqlConnections: ObjectType = {
  docPath: ['sqlConnections'], noun: 'SQL connection', idField: 'name', schema: DocSqlConnection, secretFields: ['password'],
  async list(c) {
    return (await get<Obj>(c, '/v1/connections/sql', 'connections')).map((o) => without(o, 'passwordSet', 'updatedAt')).sort(byId('name'));
  },
  readSecrets: (c, id) => readSealed(c, `/v1/connections/sql/${enc(id)}`, sqlConnKey(id)),
  async create(c, obj, secrets) {
    await c.call('POST', '/v1/connections/sql', without(obj, 'password'));
    if (secrets['password'] !== undefined) await c.call('PUT', `/v1/connections/sql/${enc(String(obj['name']))}/password`, { password: secrets['password'] });
  },
  async update(c, id, want, secrets) {
    await c.call('PATCH', `/v1/connections/sql/${enc(id)}`, without(want, 'name', 'password'));
    if (secrets['password'] !== undefined) await c.call('PUT', `/v1/connections/sql/${enc(id)}/password`, { password: secrets['password'] });
  },
  async remove(c, id) { await c.call('DELETE', `/v1/connections/sql/${enc(id)}`); },
};

/** The PUT body of a WinRM host: the definition plus whichever secrets are given (left out: kept). */
function winrmBody(obj: Obj, secrets: Secrets): Obj {
  const body = without(obj, 'password');
  if (secrets['password'] !== undefined) body['password'] = secrets['password'];
  const tls = obj['tls'] as Obj | undefined;
  if (tls) body['tls'] = secrets['tls.key'] !== undefined ? { ...without(tls, 'key'), key: secrets['tls.key'] } : without(tls, 'key');
  return body;
}

const winrmHosts: ObjectType = {
  docPath: ['winrmHosts'], noun: 'WinRM host', idField: 'name', schema: DocWinrmHost,
  secretFields: ['password', 'tls.key'], requiredOnCreate: ['password'],
  async list(c) {
    return (await get<Obj>(c, '/v1/connections/winrm', 'connections')).map((o) => {
      const out = without(o, 'passwordSet', 'updatedAt');
      if (o['tls']) out['tls'] = without(o['tls'] as Obj, 'keySet');
      return out;
    }).sort(byId('name'));
  },
  readSecrets: (c, id) => readSealed(c, `/v1/connections/winrm/${enc(id)}`, `${WINRM_HOST_PREFIX}${id}`),
  async create(c, obj, secrets) { await c.call('PUT', `/v1/connections/winrm/${enc(String(obj['name']))}`, winrmBody(obj, secrets)); },
  async update(c, id, want, secrets) { await c.call('PUT', `/v1/connections/winrm/${enc(id)}`, winrmBody(want, secrets)); },
  async remove(c, id) { await c.call('DELETE', `/v1/connections/winrm/${enc(id)}`); },
};

const restChannels: ObjectType = {
  // No PUT for REST channels: an update is delete + create, so the file's definition replaces the old one.
  docPath: ['restChannels'], noun: 'REST channel', idField: 'name', schema: RestChannel, exact: ['job.input'], replaceWhole: true,
  async list(c) { return (await get<Obj>(c, '/v1/channels', 'channels')).sort(byId('name')); },
  async create(c, obj) { await c.call('POST', '/v1/channels', obj); },
  async update(c, id, want) {
    await c.call('DELETE', `/v1/channels/${enc(id)}`);
    await c.call('POST', '/v1/channels', want);
  },
  async remove(c, id) { await c.call('DELETE', `/v1/channels/${enc(id)}`); },
};

const wsChannels: ObjectType = {
  docPath: ['wsChannels'], noun: 'WebSocket channel', idField: 'name', schema: DocWsChannel,
  async list(c) { return (await get<Obj>(c, '/v1/ws-channels', 'channels')).sort(byId('name')); },
  async create(c, obj) { await c.call('PUT', `/v1/ws-channels/${enc(String(obj['name']))}`, without(obj, 'name')); },
  async update(c, id, want) { await c.call('PUT', `/v1/ws-channels/${enc(id)}`, without(want, 'name')); },
  async remove(c, id) { await c.call('DELETE', `/v1/ws-channels/${enc(id)}`); },
};

const users: ObjectType = {
  docPath: ['users'], noun: 'user', idField: 'name', schema: DocUser, secretFields: ['password'], createOnlySecrets: true,
  async list(c) {
    return (await get<Obj>(c, '/v1/users', 'users')).map((u) => ({ name: u['name'], roles: u['roles'], acl: u['acl'] })).sort(byId('name'));
  },
  async create(c, obj, secrets) {
    await c.call('POST', '/v1/users', { ...without(obj, 'password'), ...(secrets['password'] !== undefined ? { password: secrets['password'] } : {}) });
  },
  async update(c, id, want) { await c.call('PATCH', `/v1/users/${enc(id)}`, { roles: want['roles'] ?? [], acl: want['acl'] ?? {} }); },
  async remove(c, id) { await c.call('DELETE', `/v1/users/${enc(id)}`); },
};

const wsOutgoing: ObjectType = {
  docPath: ['wsOutgoing'], noun: 'outgoing WebSocket connection', idField: 'name', schema: DocWsOutgoing,
  secretFields: ['headers.*'], secretsWhole: true,
  async list(c) {
    return (await get<Obj>(c, '/v1/ws-outgoing', 'connections')).map((o) => without(o, 'headerNames', 'updatedAt', 'status', 'replicas')).sort(byId('name'));
  },
  readSecrets: (c, id) => readSealed(c, `/v1/ws-outgoing/${enc(id)}`, `${WS_OUTGOING_PREFIX}${id}`),
  async create(c, obj, secrets) { await c.call('PUT', `/v1/ws-outgoing/${enc(String(obj['name']))}`, withHeaders(obj, secrets)); },
  async update(c, id, want, secrets) { await c.call('PUT', `/v1/ws-outgoing/${enc(id)}`, withHeaders(want, secrets)); },
  async remove(c, id) { await c.call('DELETE', `/v1/ws-outgoing/${enc(id)}`); },
};

/** The PUT body of an outgoing WebSocket connection: headers only when some are given (left out: kept). */
function withHeaders(obj: Obj, secrets: Secrets): Obj {
  const body = without(obj, 'headers');
  const headers = Object.entries(secrets).filter(([f]) => f.startsWith('headers.')).map(([f, v]) => [f.slice('headers.'.length), v]);
  if (headers.length > 0) body['headers'] = Object.fromEntries(headers);
  return body;
}

const bridges: ObjectType = {
  docPath: ['bridges'], noun: 'bridge', idField: 'name', schema: DocBridge, secretFields: ['password'],
  async list(c) {
    return (await get<Obj>(c, '/v1/bridges', 'bridges')).map((o) => without(o, 'secretsSet', 'status', 'updatedAt')).sort(byId('name'));
  },
  readSecrets: (c, id) => readSealed(c, `/v1/bridges/${enc(id)}`, `${BRIDGE_PREFIX}${id}`),
  async create(c, obj, secrets) { await c.call('PUT', `/v1/bridges/${enc(String(obj['name']))}`, { ...without(obj, 'password'), ...secrets }); },
  async update(c, id, want, secrets) { await c.call('PUT', `/v1/bridges/${enc(id)}`, { ...without(want, 'password'), ...secrets }); },
  async remove(c, id) { await c.call('DELETE', `/v1/bridges/${enc(id)}`); },
};

/** A per-principal ACL of a job family at `/v1/<family>/acl`. */
function aclType(family: 'sql' | 'winrm', noun: string, schema: TSchema): ObjectType {
  return {
    docPath: ['acls', family], noun, idField: 'principal', schema,
    async list(c) { return (await get<Obj>(c, `/v1/${family}/acl`, 'acls')).sort(byId('principal')); },
    async create(c, obj) { await c.call('PUT', `/v1/${family}/acl/${enc(String(obj['principal']))}`, { rules: obj['rules'] }); },
    async update(c, id, want) { await c.call('PUT', `/v1/${family}/acl/${enc(id)}`, { rules: want['rules'] }); },
    async remove(c, id) { await c.call('DELETE', `/v1/${family}/acl/${enc(id)}`); },
  };
}

/** Every managed type, in the order creates and updates are applied (deletes run in reverse). */
export const OBJECT_TYPES: readonly ObjectType[] = [
  topics, subscriptions, sqlConnections, winrmHosts, restChannels, wsChannels, wsOutgoing, bridges, users,
  aclType('sql', 'SQL ACL', SqlAcl), aclType('winrm', 'WinRM ACL', WinrmAcl),
];

/** The label of a type in output: `topics`, `acls.sql`. */
export function typeLabel(t: ObjectType): string {
  return t.docPath.join('.');
}

/** The value at a dotted path. */
export function getPath(o: unknown, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Obj)[k] : undefined;
  return v;
}

/** Sets (or, with undefined, deletes) the value at a dotted path, creating missing parents. */
export function setPath(o: Obj, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop() as string;
  let parent: Obj = o;
  for (const k of keys) {
    const next = parent[k];
    if (next && typeof next === 'object') parent = next as Obj;
    else if (value === undefined) return;
    else parent = parent[k] = {};
  }
  if (value === undefined) delete parent[last];
  else parent[last] = value;
}

/** The secret fields `t` has in `obj`, wildcards expanded (`headers.*` → `headers.authorization`). */
export function secretPaths(t: ObjectType, obj: Obj): string[] {
  return (t.secretFields ?? []).flatMap((f) => {
    if (!f.endsWith('.*')) return [f];
    const prefix = f.slice(0, -2);
    const inner = getPath(obj, prefix);
    return inner && typeof inner === 'object' ? Object.keys(inner).map((k) => `${prefix}.${k}`) : [];
  });
}
