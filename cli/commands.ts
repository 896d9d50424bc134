/**
 * The registry: every `switchboard` command, in the order `--help` lists them. main.ts dispatches
 * through it, cli/help.ts renders help from it, cli/completion.ts generates the bash/zsh scripts
 * from it. A command module exports its spec(s) and adds one import and one entry here. Keep every
 * module imported here light (lazy-import the work in `run`): `--help` and Tab load all of them.
 */
import type { CommandSpec } from './command-spec.js';
import { completionCommands } from './completion-commands.js';
import { componentCommands } from './component.js';
import { configCommands } from './config-code.js';
import { coreCommands } from './core-commands.js';
import { opsCommands } from './ops-commands.js';

/** Every command, the hidden ones (`__names`) included. */
export const COMMANDS: readonly CommandSpec[] = [
  ...coreCommands,
  ...componentCommands,
  ...opsCommands,
  ...configCommands,
  ...completionCommands(() => COMMANDS),
];
