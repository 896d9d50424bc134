/** Help texts for `switchboard --help` and `switchboard <command> --help`. */
import { CLIENT_ENV, SERVER_ENV, WORKER_ENV } from './env-vars.js';

function envList(vars: Record<string, string>): string {
  return Object.entries(vars).map(([k, v]) => `  ${k.padEnd(20)} ${v}`).join('\n');
}

/** The top-level help. */
export const HELP = `switchboard — pub/sub and integration middleware on NATS JetStream

Usage:
  switchboard dev                      run the REST gateway (and a nats-server if none answers)
  switchboard worker [--config FILE]   run jobs: the worker runtime with built-in and plugin handlers
  switchboard pub TOPIC [DATA|-]       publish DATA (or stdin) to TOPIC
  switchboard sub SUBSCRIPTION         pull, print and ack messages of a durable subscription
  switchboard job TYPE [INPUT|-]       run a job via the gateway: sync, --async or --stream (NDJSON)
  switchboard sql conn|call …          SQL connections (admin) and stored-procedure calls
  switchboard help COMMAND             help for one command

Run "switchboard COMMAND --help" for options. Docs: docs/configuration.md, docs/operations.md.
Errors are printed on stderr as "error SB_ERR_…: message" with exit code 1; usage errors exit 2.`;

const COMMANDS: Record<string, string> = {
  dev: `Usage: switchboard dev

Starts the REST gateway against SB_NATS_URL in this process and logs pino JSON on stdout.
If nothing answers at SB_NATS_URL and nats-server is on PATH, starts one with JetStream
(store .data/nats) and stops it on exit. If no admin password is configured, a generated one
is printed once on stderr. SIGTERM/SIGINT drain and stop in reverse start order; a second
signal exits at once; SB_SHUTDOWN_TIMEOUT_MS (default 20000) bounds the shutdown.

Environment:
${envList(SERVER_ENV)}
  SB_SHUTDOWN_TIMEOUT_MS  watchdog: exit 70 if shutdown takes longer (default 20000)`,
  worker: `Usage: switchboard worker [--config FILE]

Runs jobs. FILE (YAML or JSON) has the WorkerConfig shape: types (type, concurrency, ackWaitMs,
maxAttempts, backoffBaseMs, backoffMaxMs), handlers (module paths whose default export is a
JobHandler or an array of them, relative to FILE), drainMs, heartbeatMs, id. Without --config the
SB_WORKER_* variables below describe the worker. SIGTERM/SIGINT stop pulling, wait up to drainMs
for in-flight jobs, hand the rest back to other workers, and exit 0. Docs: docs/workers.md.

Environment:
${envList(SERVER_ENV)}
${envList(WORKER_ENV)}
  SB_SHUTDOWN_TIMEOUT_MS  watchdog: exit 70 if shutdown takes longer (default 20000)`,
  pub: `Usage: switchboard pub TOPIC [DATA|-] [--content-type TYPE] [--key KEY]

Publishes DATA, or stdin when DATA is "-" or absent, byte for byte. Prints {id, topic, seq,
duplicate} as JSON once JetStream stored the message.

Options:
  --content-type TYPE  Content-Type of the message (default application/octet-stream)
  --key KEY            Idempotency-Key: a retry with the same key is stored once

Environment:
${envList(CLIENT_ENV)}`,
  job: `Usage: switchboard job TYPE [INPUT|-] [--async] [--stream] [--timeout MS]

Runs a job through POST /v1/jobs/TYPE. INPUT is JSON ("-" reads stdin; absent sends {}).
Sync prints the final record as JSON; a failed job exits 1 with "error CODE: message".

Options:
  --async       print {id, status, duplicate} at once; GET /v1/jobs/ID reads the result
  --stream      print each streamed item as one JSON line as it arrives, then {"$result": record};
                a failure mid-stream exits 1 with "error CODE: message"; Ctrl-C cancels the job
  --timeout MS  the job's deadline in ms; a sync call also waits this long (default: gateway's)

Environment:
${envList(CLIENT_ENV)}`,
  sql: `Usage: switchboard sql conn create NAME --kind K --host H --port P --database D --user U [--pool N]
       switchboard sql conn list | get NAME | delete NAME
       switchboard sql conn password NAME      (new password read from stdin, never argv)
       switchboard sql call CONN PROC [ARGS_JSON] [--stream] [--chunk-rows N] [--routine auto|function|procedure]

A buffered call prints the job output as one JSON line; --stream prints one row per line as it
arrives, then {"$result": record}. Docs: docs/sql.md.

Environment:
${envList(CLIENT_ENV)}`,
  sub: `Usage: switchboard sub SUBSCRIPTION [--max N] [--wait MS] [--count N]

Long-polls the subscription, prints each message as one JSON line on stdout, then acks it.
Runs until --count messages were printed, or until SIGINT/SIGTERM.

Options:
  --max N      messages per pull (default 10)
  --wait MS    long-poll wait per pull in ms (default 5000)
  --count N    stop after N messages

Environment:
${envList(CLIENT_ENV)}`,
};

/** Help for one command, or the top-level help for an unknown one. */
export function commandHelp(command: string): string {
  return COMMANDS[command] ?? HELP;
}
