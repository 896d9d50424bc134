/**
 * `switchboard connections winrm|sql list|get|create|delete|password`: outgoing connection
 * definitions (admin). WinRM hosts over `/v1/connections/winrm`; SQL connections over
 * `/v1/connections/sql`, the calls of `sql conn …` (cli/sql.ts builds the create body for both) with
 * tables and a password prompt around them. Passwords come from stdin
 * or a hidden prompt, never argv, and the API never returns them (`passwordSet` says whether one is set).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SqlConnView } from '../schemas/sql.js';
import type { WinrmHostPut, WinrmHostView } from '../schemas/winrm.js';
import { SbError, isSbError } from '../broker/errors.js';
import type { CommandIo, CommandSpec, OptionSpec, ParsedArgs } from './command-spec.js';
import { JSON_OPTION, type Column } from './output.js';
import { arg, clientOf, defined, deleteSpec, duration, bytes, int, jsonOf, listSpec, oneOf, pathOf, printView, readSecret, showSpec, str } from './ops-common.js';
import { sqlConnBody, sqlConnPath } from './sql.js';

// ---- WinRM hosts ---------------------------------------------------------------------------------

const HOST_ARG = { name: 'HOST', description: 'WinRM host definition name', complete: { names: 'winrm-hosts' } } as const;
const winrmPath = (name: string): string => pathOf('connections/winrm', name);

const hostColumns: ReadonlyArray<Column<WinrmHostView>> = [
  { header: 'name', get: (h) => h.name },
  { header: 'endpoint', get: (h) => h.endpoint },
  { header: 'auth', get: (h) => h.auth.type },
  { header: 'user', get: (h) => h.auth.username },
  { header: 'encryption', get: (h) => h.messageEncryption ?? 'auto' },
  { header: 'max-concurrent', get: (h) => h.maxConcurrent ?? 8, right: true },
  { header: 'password', get: (h) => (h.passwordSet ? 'set' : 'not set') },
  { header: 'updated', get: (h) => h.updatedAt },
];

function hostRecord(h: WinrmHostView): Record<string, unknown> {
  return {
    name: h.name, endpoint: h.endpoint, auth: h.auth.type, user: h.auth.username, domain: h.auth.domain,
    encryption: h.messageEncryption ?? 'auto', 'operation-timeout': duration((h.operationTimeoutSec ?? 20) * 1000),
    'max-concurrent': h.maxConcurrent ?? 8, 'max-output': bytes(h.maxOutputBytes ?? 262_144), codepage: h.codepage ?? 65001,
    password: h.passwordSet ? 'set' : 'not set',
    tls: h.tls ? defined({ ca: h.tls.ca ? 'set' : undefined, verify: h.tls.rejectUnauthorized !== false, servername: h.tls.servername, clientCert: h.tls.keySet }) : undefined,
    updated: h.updatedAt,
  };
}

const hostOptions: readonly OptionSpec[] = [
  { name: 'endpoint', type: 'string', value: 'URL', description: 'http(s)://host:5985|5986/wsman (required; no credentials in it)' },
  { name: 'user', type: 'string', value: 'USER', description: 'account name; DOMAIN\\user or user@domain for NTLM (required)' },
  { name: 'auth', type: 'string', value: 'TYPE', description: 'basic or ntlm', default: 'ntlm', complete: { words: ['basic', 'ntlm'] } },
  { name: 'domain', type: 'string', value: 'DOMAIN', description: 'NTLM domain ("." or empty: a local account)', default: 'none' },
  { name: 'encryption', type: 'string', value: 'WHEN', description: 'message encryption: auto (NTLM over http), always, never', default: 'auto', complete: { words: ['auto', 'always', 'never'] } },
  { name: 'operation-timeout', type: 'string', value: 'SEC', description: 'receive long-poll, seconds', default: '20' },
  { name: 'max-concurrent', type: 'string', value: 'N', description: 'commands at once on this host per worker process', default: '8' },
  { name: 'max-output', type: 'string', value: 'BYTES', description: 'stdout/stderr limit per stream; past it the command is stopped', default: '262144' },
  { name: 'ca', type: 'string', value: 'FILE', description: 'PEM file of the CA that signed the host\'s certificate (https)', complete: 'file' },
  { name: 'no-verify', type: 'boolean', description: 'do not verify the host\'s certificate (labs only)' },
  { name: 'servername', type: 'string', value: 'NAME', description: 'TLS server name to verify, when it differs from the endpoint\'s host' },
];

async function hostBody(args: ParsedArgs, io: CommandIo): Promise<Omit<WinrmHostPut, 'password'>> {
  const need = (name: string): string => {
    const v = str(args, name);
    if (v === undefined || v === '') throw new SbError('SB_ERR_VALIDATION', `--${name} is required`, { data: { option: name } });
    return v;
  };
  const caFile = str(args, 'ca');
  const tls = defined({
    ca: caFile === undefined ? undefined : await readFile(resolve(io.cwd, caFile), 'utf8'),
    rejectUnauthorized: args.values['no-verify'] === true ? false : undefined,
    servername: str(args, 'servername'),
  });
  return defined({
    name: arg(args, 0, 'HOST'),
    endpoint: need('endpoint'),
    auth: defined({ type: oneOf(args, 'auth', ['basic', 'ntlm'] as const) ?? 'ntlm', username: need('user'), domain: str(args, 'domain') }),
    messageEncryption: oneOf(args, 'encryption', ['auto', 'always', 'never'] as const),
    operationTimeoutSec: int(args, 'operation-timeout', 1),
    maxConcurrent: int(args, 'max-concurrent', 1),
    maxOutputBytes: int(args, 'max-output', 1024),
    tls: Object.keys(tls).length > 0 ? tls : undefined,
  }) as Omit<WinrmHostPut, 'password'>;
}

/** The PUT body that keeps a stored definition as it is (a view minus what only views have). */
function putOf(view: WinrmHostView): WinrmHostPut {
  const { passwordSet: _p, updatedAt: _u, tls, ...rest } = view;
  if (!tls) return rest;
  const { keySet: _k, ...tlsRest } = tls;
  return { ...rest, tls: tlsRest };
}

const winrmCommand: CommandSpec = {
  name: 'winrm',
  summary: 'WinRM host definitions: list, get, create, delete, set the password',
  description: 'A WinRM host definition is where winrm.exec jobs run commands (docs/winrm.md). The password is sealed with the master keys before it is stored.',
  subcommands: [
    listSpec({
      summary: 'list WinRM host definitions',
      description: 'One row per host: endpoint, authentication, account, message encryption, concurrency, whether a password is set.',
      fetch: (io) => clientOf(io).call('GET', '/v1/connections/winrm'),
      rows: (r: { connections: WinrmHostView[] }) => r.connections,
      columns: hostColumns,
    }),
    showSpec({
      name: 'get',
      summary: 'show one WinRM host definition',
      description: 'Prints the definition without its secrets. SB_ERR_CONNECTION_NOT_FOUND if it does not exist.',
      arg: HOST_ARG,
      fetch: (io, name) => clientOf(io).call('GET', winrmPath(name)),
      view: hostRecord,
    }),
    {
      name: 'create',
      summary: 'create a WinRM host definition (password from stdin or a prompt)',
      description: 'Creates HOST; the password is read from stdin, or from a prompt on a terminal. SB_ERR_CONNECTION_EXISTS if HOST exists '
        + '(change its password with connections winrm password).',
      args: [{ name: 'HOST', description: 'new host definition name' }],
      options: [...hostOptions, JSON_OPTION],
      async run(args, io) {
        const client = clientOf(io);
        const name = arg(args, 0, 'HOST');
        // PUT creates or replaces: ask first, so that "create" never overwrites (a race can still; the later PUT wins).
        const exists = await client.call('GET', winrmPath(name)).then(() => true, (e: unknown) => {
          if (isSbError(e, 'SB_ERR_CONNECTION_NOT_FOUND')) return false;
          throw e;
        });
        if (exists) throw new SbError('SB_ERR_CONNECTION_EXISTS', `a WinRM host named ${name} already exists`, { data: { name } });
        // Options are checked before the prompt: a typo must not cost the operator a typed password.
        const body = await hostBody(args, io);
        printView(io, args, (await client.call('PUT', winrmPath(name), { ...body, password: await readSecret(io, 'Password') })) as WinrmHostView, hostRecord);
      },
    },
    deleteSpec({
      summary: 'delete a WinRM host definition',
      description: 'Deletes HOST; jobs naming it fail with SB_ERR_CONNECTION_NOT_FOUND. SB_ERR_CONNECTION_NOT_FOUND if it does not exist.',
      arg: HOST_ARG,
      kind: 'winrm-host',
      remove: (io, name) => clientOf(io).call('DELETE', winrmPath(name)),
    }),
    {
      name: 'password',
      summary: 'set a WinRM host\'s password (from stdin or a prompt)',
      description: 'Replaces HOST\'s password with the one read from stdin (or a prompt on a terminal); the rest of the definition stays. '
        + 'Workers use it for the next command.',
      args: [HOST_ARG],
      options: [JSON_OPTION],
      async run(args, io) {
        const client = clientOf(io);
        const name = arg(args, 0, 'HOST');
        // Read first: an unknown HOST fails before the prompt, and the PUT must carry the rest unchanged.
        const view = (await client.call('GET', winrmPath(name))) as WinrmHostView;
        const password = await readSecret(io, 'Password');
        await client.call('PUT', winrmPath(name), { ...putOf(view), password });
        io.out(jsonOf(args) ? JSON.stringify({ connection: name, passwordSet: true }, null, 2) : `password set for WinRM host ${name}`);
      },
    },
  ],
};

// ---- SQL connections -----------------------------------------------------------------------------

const CONN_ARG = { name: 'CONN', description: 'SQL connection name', complete: { names: 'sql-connections' } } as const;

const connColumns: ReadonlyArray<Column<SqlConnView>> = [
  { header: 'name', get: (c) => c.name },
  { header: 'kind', get: (c) => c.kind },
  { header: 'host', get: (c) => c.host },
  { header: 'port', get: (c) => c.port, right: true },
  { header: 'database', get: (c) => c.database },
  { header: 'user', get: (c) => c.user },
  { header: 'pool', get: (c) => c.poolSize, right: true },
  { header: 'password', get: (c) => (c.passwordSet ? 'set' : 'not set') },
  { header: 'updated', get: (c) => c.updatedAt },
];

function connRecord(c: SqlConnView): Record<string, unknown> {
  return {
    name: c.name, kind: c.kind, host: c.host, port: c.port, database: c.database, user: c.user, pool: c.poolSize,
    'connect-timeout': duration(c.connectTimeoutMs), 'request-timeout': duration(c.requestTimeoutMs), tls: c.tls,
    password: c.passwordSet ? 'set' : 'not set', updated: c.updatedAt,
  };
}

/** Runs `switchboard sql conn ARGV…` and returns the JSON value it printed. */
const sqlCommand: CommandSpec = {
  name: 'sql',
  summary: 'SQL connection definitions: list, get, create, delete, set the password',
  description: 'The same calls as `switchboard sql conn …` (docs/sql.md), with tables and a password prompt. A new connection gets a random '
    + 'password nobody knows: jobs on it fail with SB_ERR_SQL_PASSWORD_NOT_SET until `connections sql password CONN` sets the real one.',
  subcommands: [
    listSpec({
      summary: 'list SQL connection definitions',
      description: 'One row per connection: kind, host, port, database, user, pool size, whether the password is set.',
      fetch: (io) => clientOf(io).call('GET', '/v1/connections/sql'),
      rows: (r: { connections: SqlConnView[] }) => r.connections,
      columns: connColumns,
    }),
    showSpec({
      name: 'get',
      summary: 'show one SQL connection definition',
      description: 'Prints the definition without its password. SB_ERR_CONNECTION_NOT_FOUND if it does not exist.',
      arg: CONN_ARG,
      fetch: (io, name) => clientOf(io).call('GET', sqlConnPath(name)),
      view: connRecord,
    }),
    {
      name: 'create',
      summary: 'create an SQL connection definition',
      description: 'Creates CONN (no password yet: set it with connections sql password). SB_ERR_CONNECTION_EXISTS if CONN exists.',
      args: [{ name: 'CONN', description: 'new connection name' }],
      options: [
        { name: 'kind', type: 'string', value: 'KIND', description: 'postgres, mysql, mariadb or mssql (required)', complete: { words: ['postgres', 'mysql', 'mariadb', 'mssql'] } },
        { name: 'host', type: 'string', value: 'HOST', description: 'database server host (required)' },
        { name: 'port', type: 'string', value: 'PORT', description: 'database server port (required)' },
        { name: 'database', type: 'string', value: 'DB', description: 'database name (required)' },
        { name: 'user', type: 'string', value: 'USER', description: 'database user (required)' },
        { name: 'pool', type: 'string', value: 'N', description: 'connections per worker process', default: '10' },
        JSON_OPTION,
      ],
      async run(args, io) {
        const body = sqlConnBody(arg(args, 0, 'CONN'), {
          kind: str(args, 'kind'), host: str(args, 'host'), port: str(args, 'port'), database: str(args, 'database'), user: str(args, 'user'), pool: str(args, 'pool'),
        });
        printView(io, args, (await clientOf(io).call('POST', '/v1/connections/sql', body)) as SqlConnView, connRecord);
      },
    },
    deleteSpec({
      summary: 'delete an SQL connection definition',
      description: 'Deletes CONN; workers close its pool. SB_ERR_CONNECTION_NOT_FOUND if it does not exist.',
      arg: CONN_ARG,
      kind: 'sql-connection',
      remove: (io, name) => clientOf(io).call('DELETE', sqlConnPath(name)),
    }),
    {
      name: 'password',
      summary: 'set an SQL connection\'s password (from stdin or a prompt)',
      description: 'Sets CONN\'s password to the one read from stdin (or a prompt on a terminal); workers rebuild the pool with it.',
      args: [CONN_ARG],
      options: [JSON_OPTION],
      async run(args, io) {
        const name = arg(args, 0, 'CONN');
        const client = clientOf(io);
        // An unknown CONN fails before the prompt, not after the operator typed the password.
        await client.call('GET', sqlConnPath(name));
        const password = await readSecret(io, 'Password');
        await client.call('PUT', `${sqlConnPath(name)}/password`, { password });
        io.out(jsonOf(args) ? JSON.stringify({ connection: name, passwordSet: true }, null, 2) : `password set for SQL connection ${name}`);
      },
    },
  ],
};

/** `switchboard connections …`. */
export const connectionsCommand: CommandSpec = {
  name: 'connections',
  summary: 'outgoing connections: WinRM hosts and SQL connections (admin)',
  description: 'Definitions of the systems jobs reach: WinRM hosts (winrm.exec) and SQL connections (sql.callproc). Admin (manage) only; '
    + 'secrets are sealed at rest and never printed.',
  subcommands: [winrmCommand, sqlCommand],
};
