/**
 * The operations commands (issue 7, item 3), for cli/commands.ts: topics, subscriptions, jobs,
 * broadcast, users, connections. Each reaches a running system over the REST API (SB_URL and
 * SB_API_KEY or SB_USER/SB_PASSWORD) and prints a table, or `--json` for scripts (docs/cli.md).
 */
import type { CommandSpec } from './command-spec.js';
import { connectionsCommand } from './ops-connections.js';
import { broadcastCommand, jobsCommand } from './ops-jobs.js';
import { subscriptionsCommand, topicsCommand } from './ops-topics.js';
import { usersCommand } from './ops-users.js';

/** Every operations command, in the order `--help` lists them. */
export const opsCommands: CommandSpec[] = [topicsCommand, subscriptionsCommand, jobsCommand, broadcastCommand, usersCommand, connectionsCommand];
