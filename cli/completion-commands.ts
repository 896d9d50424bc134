/**
 * `switchboard completion bash|zsh` (prints the completion script) and the hidden
 * `switchboard __names refresh [KIND...]` the script starts in the background to fill the name cache
 * (docs/completion.md). The registry is handed in by cli/commands.ts (which lists these commands
 * too), so the two modules do not import each other.
 */
import { errors } from '../broker/errors.js';
import type { CommandSpec, NameKind } from './command-spec.js';
import { SHELLS, completionScript, type Shell } from './completion.js';
import { NAME_KINDS as KINDS, isNameKind, refreshNames } from './names-cache.js';

/** `completion bash|zsh` over the commands `registry()` returns. */
const completionOf = (registry: () => readonly CommandSpec[]): CommandSpec => ({
  name: 'completion',
  summary: 'print the bash or zsh completion script',
  description: `Prints a completion script generated from the commands of this switchboard. It completes
sub-commands, options, paths where a command takes a file or directory, fixed words, and names of a
running system (topics, subscriptions, job types, WinRM hosts, SQL connections, WebSocket channels,
users, bridges) from a cache it refreshes in the background, so Tab never waits for the network.

  bash:  source <(switchboard completion bash)     (or copy completion/switchboard.bash to
         /etc/bash_completion.d/switchboard)
  zsh:   source <(switchboard completion zsh)      after compinit (bash completion via bashcompinit)

The cache lives in \${XDG_CACHE_HOME:-~/.cache}/switchboard/, one directory per SB_URL and user.
Docs: docs/completion.md.`,
  args: [{ name: 'SHELL', description: 'bash or zsh', complete: { words: SHELLS } }],
  async run(args, io) {
    const shell = args.positionals[0];
    if (!SHELLS.includes(shell as Shell)) throw errors.validation(`SHELL must be bash or zsh, got ${JSON.stringify(shell)}`);
    io.write(completionScript(registry(), shell as Shell));
  },
});

const names: CommandSpec = {
  name: '__names',
  summary: 'the name cache of Tab completion (internal)',
  description: 'Used by the completion script; see docs/completion.md.',
  hidden: true,
  subcommands: [{
    name: 'refresh',
    summary: 'list names over the REST API into the completion cache',
    description: `Lists the names of each KIND (default: every kind) over the REST API (SB_URL, SB_API_KEY or
SB_USER/SB_PASSWORD) and replaces its cache file atomically, mode 0600; prints "KIND N" per kind.
A kind the API refuses (not found, not allowed) is reported and the others are still refreshed.`,
    args: [{ name: 'KIND', description: KINDS.join(', '), optional: true, variadic: true, complete: { words: KINDS } }],
    async run(args, io) {
      const kinds = args.positionals.length > 0 ? args.positionals : KINDS;
      const unknown = kinds.filter((k) => !isNameKind(k));
      if (unknown.length > 0) throw errors.validation(`unknown KIND ${unknown.join(', ')}; one of ${KINDS.join(', ')}`);
      let failed: unknown;
      for (const kind of kinds as NameKind[]) {
        try {
          io.out(`${kind} ${(await refreshNames(io.env, kind, io.signal)).length}`);
        } catch (e) {
          failed ??= e;
          io.err(`switchboard: ${kind}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (failed) throw failed;
    },
  }],
};

/** The completion commands, for cli/commands.ts: `registry` returns every command (these included). */
export function completionCommands(registry: () => readonly CommandSpec[]): CommandSpec[] {
  return [completionOf(registry), names];
}
