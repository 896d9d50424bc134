/**
 * Users as stored in the config store (`user.<name>`) and as the admin API shows them. The stored
 * form holds only hashes: an scrypt hash for the password, sha256 of each API key's secret.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN, TOPIC_FILTER_PATTERN, TOPIC_NAME_MAX } from './names.js';

/** Longest password accepted, in characters (scrypt pre-hashes, so this only bounds request size). */
export const PASSWORD_MAX = 1024;
/** The role that may do everything. */
export const ADMIN_ROLE = 'admin';
/** Config-store key prefix of user records: `user.<name>`. */
export const USER_KEY_PREFIX = 'user.';
/** The config-store key of a user record. */
export function userKey(name: string): string {
  return `${USER_KEY_PREFIX}${name}`;
}
/** Most API keys one user may hold. */
export const API_KEYS_MAX = 100;
/** Most patterns in one ACL list. */
export const ACL_PATTERNS_MAX = 256;

const AclPattern = Type.String({ pattern: TOPIC_FILTER_PATTERN, maxLength: TOPIC_NAME_MAX });
const RoleName = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });

/**
 * Topic patterns (`*`, `>` allowed) a user may publish to and subscribe to, and job-type patterns
 * (same syntax: `winrm.*`, `reports.>`) a user may run. `jobs` is optional in the stored form so that
 * records written before jobs existed stay valid; absent means none.
 */
export const UserAcl = Type.Object(
  {
    publish: Type.Array(AclPattern, { maxItems: ACL_PATTERNS_MAX, default: [], description: 'A publish is allowed when one pattern matches the topic.' }),
    subscribe: Type.Array(AclPattern, { maxItems: ACL_PATTERNS_MAX, default: [], description: 'A subscription is allowed when one pattern covers its filter.' }),
    jobs: Type.Optional(Type.Array(AclPattern, { maxItems: ACL_PATTERNS_MAX, default: [], description: 'A job may be submitted when one pattern matches its type. Default [].' })),
  },
  { additionalProperties: false },
);
export type UserAcl = Static<typeof UserAcl>;

/** An scrypt password hash; salt and hash are base64. */
export const PasswordHash = Type.Object(
  {
    algo: Type.Literal('scrypt'),
    // Bounded so that a hand-edited config cannot make one verification cost gigabytes.
    N: Type.Integer({ minimum: 1024, maximum: 1_048_576 }),
    r: Type.Integer({ minimum: 1, maximum: 32 }),
    p: Type.Integer({ minimum: 1, maximum: 16 }),
    salt: Type.String({ minLength: 1, maxLength: 256 }),
    hash: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);
export type PasswordHash = Static<typeof PasswordHash>;

/** One stored API key: only sha256(secret), hex. */
export const StoredApiKey = Type.Object(
  {
    id: Type.String({ pattern: '^[0-9a-f]{12}$' }),
    hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    createdAt: Type.String(),
    label: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type StoredApiKey = Static<typeof StoredApiKey>;

/** A user record in the config store under `user.<name>`. */
export const StoredUser = Type.Object(
  {
    name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }),
    roles: Type.Array(RoleName, { default: [] }),
    acl: UserAcl,
    password: Type.Optional(PasswordHash),
    apiKeys: Type.Array(StoredApiKey, { maxItems: API_KEYS_MAX, default: [] }),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);
export type StoredUser = Static<typeof StoredUser>;

// No schema defaults in the input: Fastify's Ajv fills them in, and a PATCH naming one list must leave
// the others as they are. Create fills the missing lists with [] in code.
const AclInput = Type.Object(
  {
    publish: Type.Optional(Type.Array(AclPattern, { maxItems: ACL_PATTERNS_MAX, description: 'Topic patterns. Default [] on create; unchanged on update.' })),
    subscribe: Type.Optional(Type.Array(AclPattern, { maxItems: ACL_PATTERNS_MAX, description: 'Topic filter patterns. Default [] on create; unchanged on update.' })),
    jobs: Type.Optional(Type.Array(AclPattern, { maxItems: ACL_PATTERNS_MAX, description: 'Job-type patterns. Default [] on create; unchanged on update.' })),
  },
  { additionalProperties: false, description: 'Default: nothing allowed.' },
);
const PasswordInput = Type.String({ minLength: 1, maxLength: PASSWORD_MAX });

/** What the admin API accepts to create a user. */
export const UserCreate = Type.Object(
  {
    name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: PASSWORD_MAX, description: 'Default: none (the user can only use API keys).' })),
    roles: Type.Optional(Type.Array(RoleName, { default: [], description: '`admin` may do everything. Default [].' })),
    acl: Type.Optional(AclInput),
  },
  { additionalProperties: false },
);
export type UserCreate = Static<typeof UserCreate>;

/** What the admin API accepts to change a user; an omitted field is left as it is. */
export const UserUpdate = Type.Object(
  {
    password: Type.Optional(PasswordInput),
    roles: Type.Optional(Type.Array(RoleName)),
    acl: Type.Optional(AclInput),
  },
  { additionalProperties: false },
);
export type UserUpdate = Static<typeof UserUpdate>;

/** A user as the admin API shows it: never a hash or a key. */
export const UserView = Type.Object({
  name: Type.String(),
  roles: Type.Array(Type.String()),
  acl: Type.Object({ publish: Type.Array(Type.String()), subscribe: Type.Array(Type.String()), jobs: Type.Array(Type.String()) }),
  apiKeys: Type.Array(Type.Object({ id: Type.String(), createdAt: Type.String(), label: Type.Optional(Type.String()) })),
  createdAt: Type.String(),
});
export type UserView = Static<typeof UserView>;

/** What the admin API accepts to create an API key. */
export const ApiKeyCreate = Type.Object(
  { label: Type.Optional(Type.String({ maxLength: 200, description: 'Free text shown in listings. Default: none.' })) },
  { additionalProperties: false },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;

/** A new API key, returned once in clear. */
export const ApiKeyCreated = Type.Object({ id: Type.String(), key: Type.String({ description: 'Shown once; only its hash is stored.' }) });
export type ApiKeyCreated = Static<typeof ApiKeyCreated>;
