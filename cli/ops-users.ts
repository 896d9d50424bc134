/**
 * `switchboard users add|list|info|passwd|delete` and `users keys create|list|revoke` over
 * `/v1/users` (admin). Passwords come from stdin or a hidden prompt, never argv; a new API key is
 * printed once (only its hash is stored).
 */
import type { ApiKeyCreated, UserView } from '../schemas/index.js';
import type { CommandSpec, OptionSpec, ParsedArgs } from './command-spec.js';
import { JSON_OPTION, printRecord, printRows, type Column } from './output.js';
import { arg, clientOf, defined, deleteSpec, jsonOf, list, listSpec, pathOf, printDeleted, printView, readSecret, showSpec, str } from './ops-common.js';

const USER_ARG = { name: 'USER', description: 'user name', complete: { names: 'users' } } as const;
const joined = (xs: readonly string[]): string => xs.join(',');

const userColumns: ReadonlyArray<Column<UserView>> = [
  { header: 'name', get: (u) => u.name },
  { header: 'roles', get: (u) => joined(u.roles) },
  { header: 'publish', get: (u) => joined(u.acl.publish) },
  { header: 'subscribe', get: (u) => joined(u.acl.subscribe) },
  { header: 'jobs', get: (u) => joined(u.acl.jobs) },
  { header: 'keys', get: (u) => u.apiKeys.length, right: true },
  { header: 'created', get: (u) => u.createdAt },
];

const keyColumns: ReadonlyArray<Column<UserView['apiKeys'][number]>> = [
  { header: 'id', get: (k) => k.id },
  { header: 'label', get: (k) => k.label },
  { header: 'created', get: (k) => k.createdAt },
];

const aclOptions: readonly OptionSpec[] = [
  { name: 'role', type: 'string', multiple: true, value: 'ROLE', description: 'a role; repeat or separate with commas ("admin" may do everything)', default: 'none' },
  { name: 'publish', type: 'string', multiple: true, value: 'PATTERN', description: 'topic pattern the user may publish to (repeatable)', default: 'none', complete: { names: 'topics' } },
  { name: 'subscribe', type: 'string', multiple: true, value: 'PATTERN', description: 'topic pattern the user may subscribe to (repeatable)', default: 'none', complete: { names: 'topics' } },
  { name: 'jobs', type: 'string', multiple: true, value: 'PATTERN', description: 'job-type pattern the user may run (repeatable)', default: 'none', complete: { names: 'job-types' } },
];

function aclOf(args: ParsedArgs): Record<string, unknown> | undefined {
  const acl = defined({ publish: list(args, 'publish'), subscribe: list(args, 'subscribe'), jobs: list(args, 'jobs') });
  return Object.keys(acl).length > 0 ? acl : undefined;
}

function userRecord(u: UserView): Record<string, unknown> {
  return {
    name: u.name, roles: joined(u.roles), publish: joined(u.acl.publish), subscribe: joined(u.acl.subscribe), jobs: joined(u.acl.jobs),
    'api-keys': u.apiKeys.map((k) => (k.label ? `${k.id} (${k.label})` : k.id)).join(', '), created: u.createdAt,
  };
}

const keysCommand: CommandSpec = {
  name: 'keys',
  summary: 'create, list and revoke a user\'s API keys',
  description: 'API keys authenticate as `Authorization: Bearer KEY` (SB_API_KEY for this command). Only a key\'s hash is stored: the key is shown once, at creation.',
  subcommands: [
    {
      name: 'create',
      summary: 'create an API key (printed once)',
      description: 'Creates a key for USER and prints its id and the key. Store the key now: it cannot be shown again.',
      args: [USER_ARG],
      options: [{ name: 'label', type: 'string', value: 'TEXT', description: 'free text shown in listings', default: 'none' }, JSON_OPTION],
      async run(args, io) {
        const body = defined({ label: str(args, 'label') });
        const k = (await clientOf(io).call('POST', `${pathOf('users', arg(args, 0, 'USER'))}/keys`, body)) as ApiKeyCreated;
        printRecord(io, jsonOf(args), { id: k.id, key: k.key });
        if (!jsonOf(args)) io.err('the key is shown once; only its hash is stored');
      },
    },
    {
      name: 'list',
      summary: 'list a user\'s API keys (ids and labels, never the keys)',
      description: 'One row per key: id, label, creation time.',
      args: [USER_ARG],
      options: [JSON_OPTION],
      async run(args, io) {
        const u = (await clientOf(io).call('GET', pathOf('users', arg(args, 0, 'USER')))) as UserView;
        printRows(io, jsonOf(args), { keys: u.apiKeys }, u.apiKeys, keyColumns);
      },
    },
    {
      name: 'revoke',
      summary: 'revoke an API key',
      description: 'Deletes the key with id ID from USER; requests with it fail at once. SB_ERR_API_KEY_NOT_FOUND if USER has no such key.',
      args: [USER_ARG, { name: 'ID', description: 'key id (see users keys list)' }],
      options: [JSON_OPTION],
      async run(args, io) {
        const id = arg(args, 1, 'ID');
        await clientOf(io).call('DELETE', `${pathOf('users', arg(args, 0, 'USER'))}/keys/${encodeURIComponent(id)}`);
        printDeleted(io, jsonOf(args), 'api-key', id);
      },
    },
  ],
};

/** `switchboard users …`. */
export const usersCommand: CommandSpec = {
  name: 'users',
  summary: 'add, list, inspect, delete users; set passwords; manage API keys (admin)',
  description: 'Users authenticate with a password (Basic) or API keys, and may do what their roles and ACL allow (docs/security.md). '
    + 'Passwords are read from stdin, or from a hidden prompt on a terminal — never from the command line, where ps and the shell history would keep them.',
  subcommands: [
    {
      name: 'add',
      summary: 'add a user (password from stdin or a prompt)',
      description: 'Creates USER with the given roles and ACL and a password read from stdin (or a prompt, asked twice, on a terminal). '
        + 'With --no-password the user can only use API keys. SB_ERR_USER_EXISTS if USER exists.',
      args: [{ name: 'USER', description: 'new user name' }],
      options: [...aclOptions, { name: 'no-password', type: 'boolean', description: 'no password: the user authenticates with API keys only' }, JSON_OPTION],
      async run(args, io) {
        const password = args.values['no-password'] === true ? undefined : await readSecret(io, 'Password', { confirm: true });
        const body = defined({ name: arg(args, 0, 'USER'), password, roles: list(args, 'role'), acl: aclOf(args) });
        printView(io, args, (await clientOf(io).call('POST', '/v1/users', body)) as UserView, userRecord);
      },
    },
    listSpec({
      summary: 'list users with their roles, ACL and key count',
      description: 'One row per user: roles, publish/subscribe/jobs patterns, number of API keys, creation time.',
      fetch: (io) => clientOf(io).call('GET', '/v1/users'),
      rows: (r: { users: UserView[] }) => r.users,
      columns: userColumns,
    }),
    showSpec({
      name: 'info',
      summary: 'show one user',
      description: 'Prints USER\'s roles, ACL and API key ids. SB_ERR_USER_NOT_FOUND if it does not exist.',
      arg: USER_ARG,
      fetch: (io, name) => clientOf(io).call('GET', pathOf('users', name)),
      view: userRecord,
    }),
    {
      name: 'set',
      summary: 'change a user\'s roles or ACL',
      description: 'Replaces the lists given (roles, publish, subscribe, jobs) and leaves the others as they are. An empty value (--role "") clears a list.',
      args: [USER_ARG],
      options: [...aclOptions, JSON_OPTION],
      async run(args, io) {
        const body = defined({ roles: list(args, 'role'), acl: aclOf(args) });
        printView(io, args, (await clientOf(io).call('PATCH', pathOf('users', arg(args, 0, 'USER')), body)) as UserView, userRecord);
      },
    },
    {
      name: 'passwd',
      summary: 'set a user\'s password (from stdin or a prompt)',
      description: 'Sets USER\'s password to the one read from stdin (or a prompt, asked twice, on a terminal).',
      args: [USER_ARG],
      options: [JSON_OPTION],
      async run(args, io) {
        const name = arg(args, 0, 'USER');
        const client = clientOf(io);
        // An unknown USER fails before the prompt, not after the operator typed the password twice.
        await client.call('GET', pathOf('users', name));
        const password = await readSecret(io, 'New password', { confirm: true });
        await client.call('PATCH', pathOf('users', name), { password });
        io.out(jsonOf(args) ? JSON.stringify({ user: name, passwordSet: true }, null, 2) : `password set for ${name}`);
      },
    },
    deleteSpec({
      summary: 'delete a user and their API keys',
      description: 'Deletes USER; their password and API keys stop working at once. SB_ERR_USER_NOT_FOUND if it does not exist.',
      arg: USER_ARG,
      kind: 'user',
      remove: (io, name) => clientOf(io).call('DELETE', pathOf('users', name)),
    }),
    keysCommand,
  ],
};
