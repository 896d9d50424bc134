/**
 * The `switchboard config` command: configuration as code (docs/config-as-code.md). Only the specs
 * live here; the work is in config-code-run.ts, imported when a subcommand runs, so that `--help` and
 * Tab completion stay free of TypeBox, yaml and the REST client.
 */
import type { CommandIo, CommandSpec, OptionSpec, ParsedArgs } from './command-spec.js';
import { JSON_OPTION } from './output.js';

type Runner = 'runExport' | 'runImport' | 'runCheck' | 'runDiff';
const lazy = (name: Runner) => async (args: ParsedArgs, io: CommandIo): Promise<void> => (await import('./config-code-run.js'))[name](args, io);

const FILE_ARG = { name: 'FILE', description: 'a .yaml, .yml or .json file', complete: 'file' } as const;
const KEY_FILE: OptionSpec = {
  name: 'key-file', type: 'string', value: 'FILE', complete: 'file',
  description: 'the key file that encrypts/decrypts secrets (its bytes, through scrypt; at least 16 bytes, e.g. head -c 32 /dev/urandom)',
};
const PRUNE: OptionSpec = {
  name: 'prune', type: 'boolean', default: 'off',
  description: 'also delete objects the system has and the file does not, in the sections the file has (never the user the CLI signs in as)',
};
const ENV_NOTE = 'Environment: SB_URL (default http://127.0.0.1:8080), SB_USER/SB_PASSWORD or SB_API_KEY (an admin).';

/** `config export|import|check|diff`. */
export const configCommands: CommandSpec[] = [{
  name: 'config',
  summary: 'configuration as code: export, import, check and diff a YAML or JSON file',
  description: [
    'Moves the configuration of a running system (topics, subscriptions, SQL connections, WinRM hosts, REST and',
    'WebSocket channels, users and ACLs) to and from one versioned YAML or JSON file. export -> import into an',
    'empty system -> export gives the same file byte for byte. Import is idempotent and transactional per object type.',
    'Secrets are left out by default, or encrypted with a key file (--secrets encrypt --key-file F); never printed.',
    ENV_NOTE,
    'Exit codes: 0 ok; 1 error (stderr "error SB_ERR_…: message"; file problems as FILE:LINE:COL: path: message); 2 usage.',
    'Docs: docs/config-as-code.md.',
  ].join('\n'),
  subcommands: [
    {
      name: 'export',
      summary: 'write the running system\'s configuration to FILE (YAML or JSON by extension)',
      description: [
        'Reads every object over the admin API and writes FILE: sorted by name, defaults filled in, no timestamps or counters.',
        'Secrets: --secrets omit (default) leaves them out; --secrets encrypt writes them encrypted with --key-file',
        '(AES-256-GCM, key derived with scrypt). User passwords are never exported (only hashes are stored).',
        ENV_NOTE,
      ].join('\n'),
      args: [FILE_ARG],
      options: [
        { name: 'secrets', type: 'string', value: 'MODE', default: 'omit', complete: { words: ['omit', 'encrypt'] }, description: 'omit: leave secrets out; encrypt: write them encrypted with --key-file' },
        KEY_FILE,
      ],
      run: lazy('runExport'),
    },
    {
      name: 'import',
      summary: 'make the running system match FILE (idempotent; transactional per object type)',
      description: [
        'Checks FILE, compares it with the system, and applies the changes type by type in dependency order (topics,',
        'subscriptions, connections, channels, users, ACLs; deletes in reverse). A failure restores that type\'s objects',
        'and stops; conflicts (e.g. a changed subscription) stop it before anything is applied. A field left out of',
        'the file is left as it is; a section left out is not touched. A second import reports "no changes".',
        ENV_NOTE,
      ].join('\n'),
      args: [FILE_ARG],
      options: [
        PRUNE,
        { name: 'dry-run', type: 'boolean', description: 'show what would change and apply nothing (same as diff)' },
        KEY_FILE,
        JSON_OPTION,
      ],
      run: lazy('runImport'),
    },
    {
      name: 'check',
      summary: 'validate FILE against the schema, offline; problems as FILE:LINE:COL',
      description: 'Parses FILE and checks it against schemas/config-doc.ts and the rules a schema cannot say (unique names, unique REST paths). Needs no running system. Exit 1 on any problem.',
      args: [FILE_ARG],
      run: lazy('runCheck'),
    },
    {
      name: 'diff',
      summary: 'show what importing FILE would create, update and delete',
      description: [
        'Lines: "+ create", "~ update" with the changed fields (secrets only named), "- delete" (with --prune),',
        '"! conflict", "=" objects not in the file. Changes nothing; exit 0 whatever it finds.',
        ENV_NOTE,
      ].join('\n'),
      args: [FILE_ARG],
      options: [PRUNE, KEY_FILE, JSON_OPTION],
      run: lazy('runDiff'),
    },
  ],
}];
