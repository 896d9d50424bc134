/**
 * WinRM: the `winrm.exec` job input and output (the original Zato service's shape), WinRM host
 * definitions (connection definitions in the config store, credentials sealed), and the per-principal
 * command ACL. docs/winrm.md is the user-facing description.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from './names.js';

/** The job type of the WinRM handler. */
export const WINRM_EXEC_TYPE = 'winrm.exec';
/** Config-store key prefix of WinRM host definitions: `conn.winrm.<name>`. */
export const WINRM_HOST_PREFIX = 'conn.winrm.';
/** Config-store key prefix of WinRM command ACLs: `winrm.acl.<principal>`. */
export const WINRM_ACL_PREFIX = 'winrm.acl.';
/** Longest command line or script in one job, in characters. */
export const WINRM_DATA_MAX = 1_000_000;
/** Most rules in one principal's ACL, and most patterns in one list of a rule. */
export const WINRM_ACL_RULES_MAX = 256;

const Name = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });

/** Input of `winrm.exec`. `type` is a plain string on purpose: an invalid one is answered like Zato did. */
export const WinrmExecInput = Type.Object(
  {
    host: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX, description: 'Name of a WinRM host definition (`conn.winrm.<host>`).' }),
    type: Type.String({ maxLength: 64, description: '`cmd` (a cmd.exe command line) or `ps` (a PowerShell script); anything else answers exec_code "error", details "Invalid type".' }),
    data: Type.String({ maxLength: WINRM_DATA_MAX, description: 'The command line or script.' }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'Stop the command after this long (terminate + delete the shell); default: until the job deadline.' })),
  },
  { additionalProperties: false },
);
export type WinrmExecInput = Static<typeof WinrmExecInput>;

/**
 * Output of `winrm.exec`, as the Zato service answered (`skip_empty_keys`: empty strings are left out).
 * A command that ran: exec_code "ok", status_code = its exit code, stdout/stderr. Anything else: exec_code "error" and details.
 */
export const WinrmExecOutput = Type.Object(
  {
    exec_code: Type.Union([Type.Literal('ok'), Type.Literal('error')]),
    status_code: Type.Optional(Type.Integer()),
    stdout: Type.Optional(Type.String()),
    stderr: Type.Optional(Type.String()),
    details: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type WinrmExecOutput = Static<typeof WinrmExecOutput>;

/** A sealed secret as stored (broker/secrets.ts): AES-256-GCM envelope, binary fields base64. */
export const SealedSecretSchema = Type.Object(
  {
    v: Type.Literal(1),
    kid: Type.String({ maxLength: 64 }),
    wdek: Type.String({ maxLength: 256 }),
    iv: Type.String({ maxLength: 64 }),
    ct: Type.String({ maxLength: 1_000_000 }),
    tag: Type.String({ maxLength: 64 }),
  },
  { additionalProperties: false },
);

const AuthSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('basic'), Type.Literal('ntlm')], { description: 'basic (HTTPS, or HTTP in labs) or ntlm (message encryption over HTTP).' }),
    username: Type.String({ minLength: 1, maxLength: 256, description: 'May be `DOMAIN\\user` or `user@domain` for NTLM.' }),
    domain: Type.Optional(Type.String({ maxLength: 256, description: 'NTLM domain; empty or `.` = local account.' })),
  },
  { additionalProperties: false },
);

const Pem = Type.String({ maxLength: 262_144 });
const HostCommon = {
  name: Name,
  // No `user:pass@` in the URL: credentials live in `auth` and the sealed `password` only (an endpoint is shown and logged).
  endpoint: Type.String({ pattern: '^https?://[^\\s/?#@]+(/[^\\s?#]*)?$', maxLength: 2048, description: '`http(s)://host:5985|5986/wsman`, no credentials in it.' }),
  auth: AuthSchema,
  messageEncryption: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('always'), Type.Literal('never')], { default: 'auto', description: 'auto (default): encrypt when NTLM over http.' })),
  operationTimeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: 20, description: 'Receive long-poll, seconds; default 20.' })),
  maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 8, description: 'Commands run on this host at once by one worker process; the rest wait. Default 8.' })),
  maxOutputBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 393_216, default: 262_144, description: 'Per stream; past it the command is stopped (a result must fit a NATS message). Default 256 KiB.' })),
  codepage: Type.Optional(Type.Union([Type.Literal(65001), Type.Literal(437)], { default: 65001 })),
};

/** A host definition as stored under `conn.winrm.<name>`: the password (and TLS key) sealed. */
export const WinrmHostStored = Type.Object(
  {
    ...HostCommon,
    password: SealedSecretSchema,
    tls: Type.Optional(Type.Object(
      {
        ca: Type.Optional(Pem),
        rejectUnauthorized: Type.Optional(Type.Boolean({ default: true })),
        servername: Type.Optional(Type.String({ maxLength: 255 })),
        cert: Type.Optional(Pem),
        key: Type.Optional(SealedSecretSchema),
      },
      { additionalProperties: false },
    )),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);
export type WinrmHostStored = Static<typeof WinrmHostStored>;

/** Body of `PUT /v1/connections/winrm/{name}`: secrets in clear (sealed before storing); `password` may be left out on an update to keep it. */
export const WinrmHostPut = Type.Object(
  {
    ...HostCommon,
    name: Type.Optional(Name),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Stored sealed; never returned.' })),
    tls: Type.Optional(Type.Object(
      {
        ca: Type.Optional(Pem),
        rejectUnauthorized: Type.Optional(Type.Boolean({ default: true })),
        servername: Type.Optional(Type.String({ maxLength: 255 })),
        cert: Type.Optional(Pem),
        key: Type.Optional(Type.String({ maxLength: 262_144, description: 'Client key (PEM); stored sealed; never returned. Left out on an update: kept.' })),
      },
      { additionalProperties: false },
    )),
  },
  { additionalProperties: false },
);
export type WinrmHostPut = Static<typeof WinrmHostPut>;

/** A host definition as the admin API shows it: no secret, only whether it is set. */
export const WinrmHostView = Type.Object(
  {
    ...HostCommon,
    passwordSet: Type.Boolean(),
    tls: Type.Optional(Type.Object(
      {
        ca: Type.Optional(Pem),
        rejectUnauthorized: Type.Optional(Type.Boolean()),
        servername: Type.Optional(Type.String()),
        cert: Type.Optional(Pem),
        keySet: Type.Boolean(),
      },
      { additionalProperties: false },
    )),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);
export type WinrmHostView = Static<typeof WinrmHostView>;

const Patterns = (what: string) => Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: WINRM_ACL_RULES_MAX, default: [], description: what });

/** One ACL rule: on hosts matching one of `hosts`, cmd lines matching one of `cmd` and scripts matching one of `ps` may run. */
export const WinrmAclRule = Type.Object(
  {
    hosts: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_*-]+$', maxLength: SIMPLE_NAME_MAX }), { minItems: 1, maxItems: WINRM_ACL_RULES_MAX, description: 'Host name globs; `*` = any run of characters.' }),
    cmd: Type.Optional(Patterns('cmd patterns: `*` = any run of characters except & | < > ^ % and line breaks; `**` = anything.')),
    ps: Type.Optional(Patterns('PowerShell patterns: `*` = any run of characters except ; | & ` ( ) { } < > and line breaks; `**` = anything.')),
  },
  { additionalProperties: false },
);
export type WinrmAclRule = Static<typeof WinrmAclRule>;

/** A principal's WinRM command ACL, stored under `winrm.acl.<principal>`. No record: nothing allowed (admins excepted). */
export const WinrmAcl = Type.Object(
  {
    principal: Name,
    rules: Type.Array(WinrmAclRule, { maxItems: WINRM_ACL_RULES_MAX }),
  },
  { additionalProperties: false },
);
export type WinrmAcl = Static<typeof WinrmAcl>;

/** Body of `PUT /v1/winrm/acl/{principal}`. */
export const WinrmAclPut = Type.Object(
  {
    principal: Type.Optional(Name),
    rules: Type.Array(WinrmAclRule, { maxItems: WINRM_ACL_RULES_MAX }),
  },
  { additionalProperties: false },
);
export type WinrmAclPut = Static<typeof WinrmAclPut>;
