/**
 * SQL: outgoing database connection definitions (`conn.sql.<name>` in the config store, the password
 * sealed), the per-principal procedure ACL (`sql.acl.<principal>`), and the `sql.callproc` job input
 * and output. docs/sql.md is the user-facing description.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from './names.js';
import { SealedSecretSchema } from './winrm.js';

/** The job type of the stored-procedure handler. */
export const SQL_CALLPROC_TYPE = 'sql.callproc';
/** Config-store key prefix of SQL connection definitions: `conn.sql.<name>`. */
export const SQL_CONN_PREFIX = 'conn.sql.';
/** Config-store key prefix of SQL procedure ACLs: `sql.acl.<principal>`. */
export const SQL_ACL_PREFIX = 'sql.acl.';
/** Most rules in one principal's ACL, and most patterns in one list of a rule. */
export const SQL_ACL_RULES_MAX = 256;
/** Defaults of a connection definition (also what the worker uses when a field is left out). */
export const SQL_POOL_SIZE_DEFAULT = 10;
export const SQL_CONNECT_TIMEOUT_DEFAULT_MS = 10_000;
export const SQL_REQUEST_TIMEOUT_DEFAULT_MS = 60_000;
/** Default rows per streamed chunk. */
export const SQL_CHUNK_ROWS_DEFAULT = 500;

/** The config-store key of connection `name`. */
export function sqlConnKey(name: string): string {
  return `${SQL_CONN_PREFIX}${name}`;
}

/** The config-store key of `principal`'s SQL ACL. */
export function sqlAclKey(principal: string): string {
  return `${SQL_ACL_PREFIX}${principal}`;
}

const Name = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });

/** Database kinds; `mysql` and `mariadb` share one driver. */
export const SqlKindSchema = Type.Union([Type.Literal('mssql'), Type.Literal('postgres'), Type.Literal('mariadb'), Type.Literal('mysql')]);

const Tls = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Encrypt the connection (MS SQL `encrypt`, pg/mysql `ssl`).' }),
    rejectUnauthorized: Type.Optional(Type.Boolean({ description: "Check the server's certificate; default true." })),
    ca: Type.Optional(Type.String({ maxLength: 262_144, description: 'PEM CA bundle to trust.' })),
  },
  { additionalProperties: false },
);

const withDefault = (d: number | undefined) => (d === undefined ? {} : { default: d });
const PoolSize = (d?: number) => Type.Integer({ minimum: 1, maximum: 100, ...withDefault(d), description: 'Pooled connections per worker process; default 10.' });
const ConnectTimeout = (d?: number) => Type.Integer({ minimum: 100, maximum: 600_000, ...withDefault(d), description: 'Connect / login timeout, ms; default 10000.' });
const RequestTimeout = (d?: number) => Type.Integer({ minimum: 0, maximum: 86_400_000, ...withDefault(d), description: 'Per statement, ms; 0 = none (long streams). Default 60000.' });

// Everything but the name, all optional: the PATCH body, and (with the required ones) the POST body.
const Settable = {
  kind: SqlKindSchema,
  // No scheme, path or credentials: a host name or address is shown and logged.
  host: Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9_.:\\[\\]%-]+$', description: 'Host name or IP address.' }),
  port: Type.Integer({ minimum: 1, maximum: 65_535 }),
  database: Type.String({ minLength: 1, maxLength: 128 }),
  user: Type.String({ minLength: 1, maxLength: 128 }),
  // No `default` in these: the PATCH body reuses them, and a filled-in default would overwrite a stored value.
  poolSize: PoolSize(),
  connectTimeoutMs: ConnectTimeout(),
  requestTimeoutMs: RequestTimeout(),
  tls: Tls,
};

/** Body of `POST /v1/connections/sql`: a new definition. The password is generated, never submitted here. */
export const SqlConnCreate = Type.Object(
  {
    name: Name,
    kind: Settable.kind,
    host: Settable.host,
    port: Settable.port,
    database: Settable.database,
    user: Settable.user,
    poolSize: Type.Optional(PoolSize(SQL_POOL_SIZE_DEFAULT)),
    connectTimeoutMs: Type.Optional(ConnectTimeout(SQL_CONNECT_TIMEOUT_DEFAULT_MS)),
    requestTimeoutMs: Type.Optional(RequestTimeout(SQL_REQUEST_TIMEOUT_DEFAULT_MS)),
    tls: Type.Optional(Settable.tls),
  },
  { additionalProperties: false },
);
export type SqlConnCreate = Static<typeof SqlConnCreate>;

/** Body of `PATCH /v1/connections/sql/{name}`: the fields to change (the name and password stay). */
export const SqlConnPatch = Type.Partial(Type.Object(Settable, { additionalProperties: false }), { additionalProperties: false, minProperties: 1 });
export type SqlConnPatch = Static<typeof SqlConnPatch>;

/** A definition as stored under `conn.sql.<name>`: the password sealed (AAD `conn.sql.<name>/password`). */
export const SqlConnStored = Type.Object(
  {
    ...SqlConnCreate.properties,
    password: SealedSecretSchema,
    passwordSet: Type.Boolean({ description: 'False while the random password generated at creation is in place.' }),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);
export type SqlConnStored = Static<typeof SqlConnStored>;

/** A definition as the admin API shows it: no password, only whether one was set. */
export const SqlConnView = Type.Object(
  {
    ...SqlConnCreate.properties,
    passwordSet: Type.Boolean(),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);
export type SqlConnView = Static<typeof SqlConnView>;

/** Body of `PUT /v1/connections/sql/{name}/password`. */
export const SqlPasswordPut = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: 1024, description: 'Stored sealed; never returned or logged.' }) },
  { additionalProperties: false },
);
export type SqlPasswordPut = Static<typeof SqlPasswordPut>;

const Glob = (what: string) => Type.Array(
  Type.String({ pattern: '^[A-Za-z0-9_$.*-]+$', maxLength: 300 }),
  { minItems: 1, maxItems: SQL_ACL_RULES_MAX, description: what },
);

/** One rule: on connections matching one of `connections`, procedures matching one of `procedures` may be called. */
export const SqlAclRule = Type.Object(
  {
    connections: Glob('Connection name globs; `*` = any run of characters.'),
    procedures: Glob('Procedure name globs, matched case-sensitively against the name as the call writes it (`schema.name` or `name`); `*` = any run of characters.'),
  },
  { additionalProperties: false },
);
export type SqlAclRule = Static<typeof SqlAclRule>;

/** A principal's SQL ACL, stored under `sql.acl.<principal>`. No record: nothing allowed (admins excepted). */
export const SqlAcl = Type.Object(
  {
    principal: Name,
    rules: Type.Array(SqlAclRule, { maxItems: SQL_ACL_RULES_MAX }),
  },
  { additionalProperties: false },
);
export type SqlAcl = Static<typeof SqlAcl>;

/** Body of `PUT /v1/sql/acl/{principal}`. */
export const SqlAclPut = Type.Object(
  {
    principal: Type.Optional(Name),
    rules: Type.Array(SqlAclRule, { maxItems: SQL_ACL_RULES_MAX }),
  },
  { additionalProperties: false },
);
export type SqlAclPut = Static<typeof SqlAclPut>;

/** Input of `sql.callproc`. */
export const SqlCallprocInput = Type.Object(
  {
    connection: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX, description: 'Name of a connection definition (`conn.sql.<connection>`).' }),
    procedure: Type.String({ minLength: 1, maxLength: 300, description: '`name` or `schema.name`; each part an identifier.' }),
    // Optional with documented defaults: the worker runtime checks input without filling defaults.
    args: Type.Optional(Type.Union([Type.Array(Type.Unknown(), { maxItems: 2100 }), Type.Record(Type.String(), Type.Unknown())], {
      default: [],
      description: 'Positional list or named object (default []); `{"out": true}` (or `{"out": true, "value": v}`) marks an OUT (INOUT) parameter.',
    })),
    stream: Type.Optional(Type.Boolean({ description: 'Stream the rows (REST NDJSON, jobs.stream(), the callproc() helper) instead of answering them buffered.' })),
    chunkRows: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: SQL_CHUNK_ROWS_DEFAULT, description: 'Rows per streamed chunk; default 500.' })),
    routine: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('function'), Type.Literal('procedure')], {
      description: 'PostgreSQL: `function` (SELECT * FROM f(…)), `procedure` (CALL), or `auto` (default: asks pg_proc).',
    })),
  },
  { additionalProperties: false },
);
export type SqlCallprocInput = Static<typeof SqlCallprocInput>;

const Row = Type.Record(Type.String(), Type.Unknown());

/** The buffered answer. */
export const SqlCallprocBuffered = Type.Object(
  {
    rows: Type.Array(Row, { description: 'Rows of the first result set.' }),
    resultSets: Type.Optional(Type.Array(Type.Array(Row), { description: 'Every result set, only when there is more than one.' })),
    outputParams: Type.Record(Type.String(), Type.Unknown()),
    returnValue: Type.Unknown({ description: 'MS SQL: the RETURN status; others: null.' }),
    rowCounts: Type.Array(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type SqlCallprocBuffered = Static<typeof SqlCallprocBuffered>;

/** The final output of a streamed call (the rows went to the stream). */
export const SqlCallprocStreamed = Type.Object(
  {
    streamed: Type.Literal(true),
    rowCount: Type.Integer({ minimum: 0 }),
    rowCounts: Type.Array(Type.Integer({ minimum: 0 })),
    outputParams: Type.Record(Type.String(), Type.Unknown()),
    returnValue: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type SqlCallprocStreamed = Static<typeof SqlCallprocStreamed>;

/** Output of `sql.callproc`. */
export const SqlCallprocOutput = Type.Union([SqlCallprocBuffered, SqlCallprocStreamed]);
export type SqlCallprocOutput = Static<typeof SqlCallprocOutput>;

/** The stream item that precedes the rows of result set `$resultSet` ≥ 1. */
export interface SqlResultSetMarker {
  $resultSet: number;
  columns: string[];
}
