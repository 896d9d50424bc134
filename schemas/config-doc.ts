/**
 * The configuration-as-code document (docs/config-as-code.md): what `switchboard config export` writes
 * and `config import` / `check` / `diff` read, as YAML or JSON. Each section reuses the admin API's own
 * input schema, so the file accepts exactly what the API accepts; secret fields take either a clear
 * value (hand-written files) or `{encrypted: …}` (exported with `--secrets encrypt`). The order of the
 * properties here is the order an export writes them in.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from './names.js';
import { TopicSpec } from './topic.js';
import { SubscriptionSpec } from './subscription.js';
import { RestChannel } from './channel.js';
import { WsChannelInput } from './ws.js';
import { SqlAcl, SqlConnCreate } from './sql.js';
import { WinrmAcl, WinrmHostPut } from './winrm.js';
import { UserCreate } from './user.js';
import { WsOutgoingPut } from './ws-outgoing.js';
import { AmqpInDefinition, AmqpOutDefinition } from './bridge-amqp.js';
import { KafkaInDefinition, KafkaOutDefinition } from './bridge-kafka.js';

/** The only document version so far; a future format bumps it and import refuses what it does not know. */
export const CONFIG_DOC_VERSION = 1;

const Name = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });
const B64 = '^[A-Za-z0-9+/]+={0,2}$';

/** A secret encrypted with the file's key: base64(iv ‖ ciphertext ‖ tag), AES-256-GCM, AAD `<section>/<name>/<field>`. */
export const EncryptedSecret = Type.Object(
  { encrypted: Type.String({ pattern: B64, minLength: 40, maxLength: 400_000 }) },
  { additionalProperties: false },
);
export type EncryptedSecret = Static<typeof EncryptedSecret>;

/** A secret field: clear text (hand-written files) or encrypted (`export --secrets encrypt`). */
const Secret = (max: number, what: string) => Type.Union([Type.String({ minLength: 1, maxLength: max }), EncryptedSecret], { description: what });

/** How the file's secrets were encrypted: scrypt parameters of the key derived from the key file, and a check value. */
export const ConfigEncryption = Type.Object(
  {
    cipher: Type.Literal('aes-256-gcm'),
    kdf: Type.Literal('scrypt'),
    N: Type.Integer({ minimum: 1024, maximum: 1_048_576, description: 'scrypt cost; export writes 32768.' }),
    r: Type.Integer({ minimum: 1, maximum: 32 }),
    p: Type.Integer({ minimum: 1, maximum: 16 }),
    salt: Type.String({ pattern: B64, minLength: 16, maxLength: 256 }),
    check: Type.String({ pattern: B64, minLength: 40, maxLength: 256, description: 'The word "switchboard" encrypted with AAD "check": a wrong key fails before anything is applied.' }),
  },
  { additionalProperties: false },
);
export type ConfigEncryption = Static<typeof ConfigEncryption>;

/** An SQL connection definition with its optional password. */
export const DocSqlConnection = Type.Object(
  { ...SqlConnCreate.properties, password: Type.Optional(Secret(1024, 'Left out: a new connection keeps its random password, an existing one its password.')) },
  { additionalProperties: false },
);
export type DocSqlConnection = Static<typeof DocSqlConnection>;

const { name: _wn, password: _wp, tls: winrmTls, ...winrmFields } = WinrmHostPut.properties;
/** A WinRM host definition with its secrets (password, TLS client key). */
export const DocWinrmHost = Type.Object(
  {
    name: Name,
    ...winrmFields,
    password: Type.Optional(Secret(1024, 'Required for a new host; left out: an existing host keeps its password.')),
    tls: Type.Optional(Type.Object(
      { ...Type.Omit(winrmTls, ['key']).properties, key: Type.Optional(Secret(262_144, 'Client key (PEM).')) },
      { additionalProperties: false },
    )),
  },
  { additionalProperties: false },
);
export type DocWinrmHost = Static<typeof DocWinrmHost>;

/** A WebSocket channel: its name and the body of `PUT /v1/ws-channels/{name}`. */
export const DocWsChannel = Type.Object({ name: Name, ...WsChannelInput.properties }, { additionalProperties: false });
export type DocWsChannel = Static<typeof DocWsChannel>;

const { name: _on, headers: _oh, ...wsOutFields } = WsOutgoingPut.properties;
/** An outgoing WebSocket connection; its header values are secrets (names compared case-insensitively). */
export const DocWsOutgoing = Type.Object(
  {
    name: Name,
    ...wsOutFields,
    headers: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,128}$' }), Secret(8192, 'Sent with the upgrade request; left out: kept.'))),
  },
  { additionalProperties: false },
);
export type DocWsOutgoing = Static<typeof DocWsOutgoing>;

const bridgeDoc = <T extends TSchema & { properties: Record<string, TSchema> }>(def: T) => {
  const { password: _bp, ...fields } = def.properties;
  return Type.Object({ name: Name, ...fields, password: Type.Optional(Secret(1024, 'Left out: an existing bridge keeps its password.')) }, { additionalProperties: false });
};
/** Bridge definitions by kind (schemas/bridge-*.ts), each with its name and its secret `password`. */
export const DOC_BRIDGE_KINDS = {
  'amqp-in': bridgeDoc(AmqpInDefinition),
  'amqp-out': bridgeDoc(AmqpOutDefinition),
  'kafka-in': bridgeDoc(KafkaInDefinition),
  'kafka-out': bridgeDoc(KafkaOutDefinition),
} as const;
/** A bridge of any kind (`kind` picks the schema; `config check` reports against that kind's). */
export const DocBridge = Type.Union(Object.values(DOC_BRIDGE_KINDS));

const { password: _up, ...userFields } = UserCreate.properties;
/** A user: roles and ACL; a password only sets the password of a user the import creates. */
export const DocUser = Type.Object(
  { ...userFields, password: Type.Optional(Secret(1024, 'Only used when the import creates the user; never exported (only a hash is stored).')) },
  { additionalProperties: false },
);
export type DocUser = Static<typeof DocUser>;

/** Per-principal ACLs of the job families (`/v1/sql/acl`, `/v1/winrm/acl`). */
export const DocAcls = Type.Object(
  {
    sql: Type.Optional(Type.Array(SqlAcl)),
    winrm: Type.Optional(Type.Array(WinrmAcl)),
  },
  { additionalProperties: false },
);
export type DocAcls = Static<typeof DocAcls>;

const list = <T extends TSchema>(item: T) => Type.Optional(Type.Array(item));

/**
 * The whole document. A section left out is not managed (import neither creates nor deletes in it);
 * an empty list is managed and empty. A new admin object type gets a section here and an entry in
 * cli/config-code-types.ts.
 */
export const ConfigDoc = Type.Object(
  {
    version: Type.Literal(CONFIG_DOC_VERSION),
    encryption: Type.Optional(ConfigEncryption),
    topics: list(TopicSpec),
    subscriptions: list(SubscriptionSpec),
    sqlConnections: list(DocSqlConnection),
    winrmHosts: list(DocWinrmHost),
    restChannels: list(RestChannel),
    wsChannels: list(DocWsChannel),
    wsOutgoing: list(DocWsOutgoing),
    bridges: list(DocBridge),
    users: list(DocUser),
    acls: Type.Optional(DocAcls),
  },
  { additionalProperties: false },
);
export type ConfigDoc = Static<typeof ConfigDoc>;
