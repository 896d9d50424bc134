/**
 * The first commands, as specs for cli/commands.ts: `dev`, `worker`, `pub`, `sub`, `job`, `sql` and `ws`.
 * Their work stays in dev.ts, worker.ts, pubsub.ts, jobs.ts, sql.ts and ws.ts; `dev` and `worker`
 * import it when they start, so `--help` and completion do not load fastify, NATS or TypeBox.
 */
import type { CommandSpec, OptionSpec, ParsedArgs } from './command-spec.js';
import { CLIENT_ENV, SERVER_ENV, WORKER_ENV, clientEnv } from './env-vars.js';
import { envHelp } from './help.js';
import { runJobCommand } from './jobs.js';
import { str } from './ops-common.js';
import { intOption, runPub, runSub } from './pubsub.js';
import { runSqlCall, runSqlConn } from './sql.js';
import { formatTable } from './output.js';
import { CHANNEL_COLUMNS, PRESENCE_COLUMNS, wsBroadcast, wsChannels, wsPresence } from './ws.js';

const WATCHDOG = { SB_SHUTDOWN_TIMEOUT_MS: 'watchdog: exit 70 if shutdown takes longer, ms (default 20000)' };
const CLIENT = `Environment:\n${envHelp(CLIENT_ENV)}`;


const dev: CommandSpec = {
  name: 'dev',
  summary: 'run the REST gateway (and a nats-server if none answers)',
  description: `Starts the REST gateway against SB_NATS_URL in this process and logs pino JSON on stdout.
If nothing answers at SB_NATS_URL and nats-server is on PATH, starts one with JetStream
(store .data/nats) and stops it on exit. If no admin password is configured, a generated one
is printed once on stderr. SIGTERM/SIGINT drain and stop in reverse start order; a second
signal exits at once (130); SB_SHUTDOWN_TIMEOUT_MS bounds the shutdown (exit 70).

Environment:
${envHelp(SERVER_ENV)}
${envHelp(WATCHDOG)}`,
  async serve(_args, io) {
    // Lazy imports: `pub`, `sub`, `--help` and completion must not load TypeBox, fastify, NATS or security.
    const { processConfigFromEnv } = await import('./env.js');
    const config = processConfigFromEnv(io.env);
    const { startDev } = await import('./dev.js');
    return startDev({ config, say: (line) => io.err(`switchboard: ${line}`), jobs: io.env['SB_DEV_JOBS'] !== 'off' });
  },
};

const worker: CommandSpec = {
  name: 'worker',
  summary: 'run jobs: the worker runtime with built-in and plugin handlers',
  description: `Runs jobs. FILE (YAML or JSON) has the WorkerConfig shape: types (type, concurrency, ackWaitMs,
maxAttempts, backoffBaseMs, backoffMaxMs), handlers (module paths whose default export is a
JobHandler or an array of them, relative to FILE), drainMs, heartbeatMs, id. Without --config the
SB_WORKER_* variables below describe the worker. SIGTERM/SIGINT stop pulling, wait up to drainMs
for in-flight jobs, hand the rest back to other workers, and exit 0. Docs: docs/workers.md.

Environment:
${envHelp(SERVER_ENV)}
${envHelp(WORKER_ENV)}
${envHelp(WATCHDOG)}`,
  options: [{ name: 'config', short: 'c', type: 'string', value: 'FILE', description: 'the worker config file (YAML or JSON)', complete: 'file' }],
  async serve(args, io) {
    const { processConfigFromEnv } = await import('./env.js');
    const config = processConfigFromEnv(io.env);
    const { startWorkerProcess } = await import('./worker.js');
    // Fault tests only (docs/workers.md): die right after a result is recorded, before its ack.
    const afterResult = io.env['SB_FAULT_KILL_AFTER_RESULT'] === '1' ? () => process.kill(process.pid, 'SIGKILL') : undefined;
    const configPath = str(args, 'config');
    return startWorkerProcess({
      config, env: io.env, cwd: io.cwd,
      ...(configPath ? { configPath } : {}),
      ...(afterResult ? { afterResult } : {}),
    });
  },
};

const pub: CommandSpec = {
  name: 'pub',
  summary: 'publish DATA (or stdin) to TOPIC',
  description: `Publishes DATA, or stdin when DATA is "-" or absent, byte for byte. Prints {id, topic, seq,
duplicate} as JSON once JetStream stored the message.

${CLIENT}`,
  args: [
    { name: 'TOPIC', description: 'the topic to publish to', complete: { names: 'topics' } },
    { name: 'DATA', description: 'the message; "-" or absent reads stdin', optional: true, complete: 'none' },
  ],
  options: [
    { name: 'content-type', type: 'string', value: 'TYPE', description: 'Content-Type of the message', default: 'application/octet-stream', complete: { words: ['application/json', 'application/octet-stream', 'text/plain'] } },
    { name: 'key', type: 'string', value: 'KEY', description: 'Idempotency-Key: a retry with the same key is stored once' },
  ],
  async run(args, io) {
    await runPub(clientEnv(io.env), { topic: args.positionals[0], data: args.positionals[1], contentType: str(args, 'content-type'), key: str(args, 'key') }, io);
  },
};

const sub: CommandSpec = {
  name: 'sub',
  summary: 'pull, print and ack messages of a durable subscription',
  description: `Long-polls the subscription, prints each message as one JSON line on stdout, then acks it.
Runs until --count messages were printed, or until SIGINT/SIGTERM (a batch already received is
still printed and acked).

${CLIENT}`,
  args: [{ name: 'SUBSCRIPTION', description: 'the durable subscription to read', complete: { names: 'subscriptions' } }],
  options: [
    { name: 'max', type: 'string', value: 'N', description: 'messages per pull', default: '10' },
    { name: 'wait', type: 'string', value: 'MS', description: 'long-poll wait per pull, ms', default: '5000' },
    { name: 'count', type: 'string', value: 'N', description: 'stop after N messages (default: run until a signal)' },
  ],
  async run(args, io) {
    await runSub(clientEnv(io.env), {
      subscription: args.positionals[0],
      max: intOption('max', str(args, 'max'), 10) ?? 10,
      waitMs: intOption('wait', str(args, 'wait'), 5000) ?? 5000,
      count: intOption('count', str(args, 'count'), undefined),
    }, io);
  },
};

const job: CommandSpec = {
  name: 'job',
  summary: 'run a job via the gateway: sync, --async or --stream (NDJSON)',
  description: `Runs a job through POST /v1/jobs/TYPE. INPUT is JSON ("-" reads stdin; absent sends {}).
Sync prints the final record as JSON; a failed job exits 1 with "error CODE: message".
--async prints {id, status, duplicate} at once (GET /v1/jobs/ID reads the result). --stream prints
each streamed item as one JSON line as it arrives, then {"$result": record}; a failure mid-stream
exits 1; Ctrl-C closes the connection, and the gateway cancels the streamed job (a sync or async one
keeps running). See also: switchboard jobs run|get.

${CLIENT}`,
  args: [
    { name: 'TYPE', description: 'the job type', complete: { names: 'job-types' } },
    { name: 'INPUT', description: 'the job input as JSON; "-" reads stdin', optional: true, complete: 'none' },
  ],
  options: [
    { name: 'async', type: 'boolean', description: 'print the accepted job id at once' },
    { name: 'stream', type: 'boolean', description: 'print streamed items as JSON lines as they arrive' },
    { name: 'timeout', type: 'string', value: 'MS', description: "the job's deadline, ms; a sync call also waits this long", default: "the gateway's" },
  ],
  async run(args, io) {
    await runJobCommand(clientEnv(io.env), {
      type: args.positionals[0], input: args.positionals[1], async: args.values['async'] === true, stream: args.values['stream'] === true,
      timeoutMs: intOption('timeout', str(args, 'timeout'), undefined),
    }, {
      stdin: io.stdin,
      out: (line) => process.stdout.write(`${line}\n`),
      drain: () => new Promise<void>((resolve) => void process.stdout.once('drain', () => resolve())),
      signal: io.signal,
    });
  },
};

const SQL_CONN_ARG = { name: 'NAME', description: 'the SQL connection', complete: { names: 'sql-connections' } } as const;
const sqlConnRun = (action: string) => (args: ParsedArgs, io: Parameters<NonNullable<CommandSpec['run']>>[1]): Promise<void> =>
  runSqlConn(clientEnv(io.env), action, args.positionals[0], {
    kind: str(args, 'kind'), host: str(args, 'host'), port: str(args, 'port'), database: str(args, 'database'), user: str(args, 'user'), pool: str(args, 'pool'),
  }, io);
const SQL_CONN_OPTIONS: OptionSpec[] = [
  { name: 'kind', type: 'string', value: 'KIND', description: 'the database', complete: { words: ['mssql', 'postgres', 'mariadb'] } },
  { name: 'host', type: 'string', value: 'HOST', description: 'the database host' },
  { name: 'port', type: 'string', value: 'PORT', description: 'the database port' },
  { name: 'database', type: 'string', value: 'DB', description: 'the database name' },
  { name: 'user', type: 'string', value: 'USER', description: 'the database user' },
  { name: 'pool', type: 'string', value: 'N', description: 'connections in the pool', default: "the driver's" },
];

const sql: CommandSpec = {
  name: 'sql',
  summary: 'SQL connections (admin) and stored-procedure calls',
  description: `Defines SQL connections and calls stored procedures through the sql.callproc job. Results are
JSON, one value per line. Docs: docs/sql.md. See also: switchboard connections sql.

${CLIENT}`,
  subcommands: [
    {
      name: 'conn',
      summary: 'SQL connection definitions: create, list, get, delete, password',
      description: 'SQL connection definitions (admin). The password is never an argument: `sql conn password NAME` reads it from stdin.',
      subcommands: [
        {
          name: 'create', summary: 'define a SQL connection',
          description: 'Defines connection NAME (--kind, --host, --port, --database and --user are required) and prints it. Set its password with `sql conn password NAME`.',
          args: [{ ...SQL_CONN_ARG, complete: 'none' }], options: SQL_CONN_OPTIONS, run: sqlConnRun('create'),
        },
        { name: 'list', summary: 'list the SQL connections', description: 'Prints {connections: [...]} as one JSON line (no secrets).', run: sqlConnRun('list') },
        { name: 'get', summary: 'show one SQL connection', description: 'Prints the connection as one JSON line (no secrets).', args: [SQL_CONN_ARG], run: sqlConnRun('get') },
        { name: 'delete', summary: 'delete a SQL connection', description: 'Deletes the connection and prints {deleted: NAME}.', args: [SQL_CONN_ARG], run: sqlConnRun('delete') },
        {
          name: 'password', summary: 'set the password of a SQL connection (read from stdin)',
          description: 'Reads the new password from stdin (never argv: ps and shell history would keep it); one trailing line break is dropped. Prints {connection, passwordSet: true}.',
          args: [SQL_CONN_ARG], run: sqlConnRun('password'),
        },
      ],
    },
    {
      name: 'call',
      summary: 'call a stored procedure (or function), buffered or streamed',
      description: `Calls PROC on connection CONN with ARGS_JSON: a JSON list (positional) or object (named).
A buffered call prints the job output as one JSON line; --stream prints one row per line as it
arrives, then {"$result": record}.`,
      args: [
        { name: 'CONN', description: 'the SQL connection', complete: { names: 'sql-connections' } },
        { name: 'PROC', description: 'the procedure or function name', complete: 'none' },
        { name: 'ARGS_JSON', description: 'the arguments as JSON, e.g. \'[42, "x"]\'', optional: true, complete: 'none' },
      ],
      options: [
        { name: 'stream', type: 'boolean', description: 'print rows as they arrive' },
        { name: 'chunk-rows', type: 'string', value: 'N', description: 'rows per streamed chunk', default: "the worker's" },
        { name: 'routine', type: 'string', value: 'KIND', description: 'how to call PROC', default: 'auto', complete: { words: ['auto', 'function', 'procedure'] } },
      ],
      run: (args, io) => runSqlCall(clientEnv(io.env), {
        connection: args.positionals[0], procedure: args.positionals[1], argsJson: args.positionals[2],
        stream: args.values['stream'] === true, chunkRows: str(args, 'chunk-rows'), routine: str(args, 'routine'),
      }, io),
    },
  ],
};

const CHANNEL_ARG = { name: 'CHANNEL', description: 'the WebSocket channel', complete: { names: 'ws-channels' } } as const;
const WS_JSON: OptionSpec = { name: 'json', type: 'boolean', description: 'print the API answer as one JSON line' };

const ws: CommandSpec = {
  name: 'ws',
  summary: 'WebSocket broadcast to a channel, its presence, channels',
  description: `WebSocket channels over the REST API. Docs: docs/ws-protocol.md.

${CLIENT}`,
  subcommands: [
    {
      name: 'broadcast',
      summary: 'send DATA (or stdin) to every client of a channel',
      description: `Sends DATA (stdin when "-" or absent) to every client of CHANNEL on every gateway replica, at
most once, and prints {id, channel}. DATA goes as JSON when it parses, else as text; --content-type
sends the bytes as they are with that type. Needs admin, or publish on the ACL pseudo-topic
ws.broadcast.CHANNEL.`,
      args: [CHANNEL_ARG, { name: 'DATA', description: 'the message; "-" or absent reads stdin', optional: true, complete: 'none' }],
      options: [{ name: 'content-type', type: 'string', value: 'TYPE', description: 'send the bytes as they are with this Content-Type', default: 'JSON or text' }],
      async run(args, io) {
        const [channel, data] = args.positionals;
        const ct = args.values['content-type'];
        io.out(JSON.stringify(await wsBroadcast(clientEnv(io.env), channel, data, typeof ct === 'string' ? ct : undefined, io.stdin)));
      },
    },
    {
      name: 'presence',
      summary: 'the clients connected to a channel (admin)',
      description: 'Lists the connected clients of CHANNEL on every replica: client id, principal, since, remote address, gateway.',
      args: [CHANNEL_ARG], options: [WS_JSON],
      async run(args, io) {
        const r = await wsPresence(clientEnv(io.env), args.positionals[0]!);
        io.out(args.values['json'] === true ? JSON.stringify(r) : formatTable(r.clients, PRESENCE_COLUMNS));
      },
    },
    {
      name: 'channels',
      summary: 'list the WebSocket channels (admin)',
      description: 'Lists the WebSocket channels: name, auth, connection limit, presence events.',
      options: [WS_JSON],
      async run(args, io) {
        const r = await wsChannels(clientEnv(io.env));
        io.out(args.values['json'] === true ? JSON.stringify(r) : formatTable(r.channels, CHANNEL_COLUMNS));
      },
    },
  ],
};

/** The original commands, in the order `--help` lists them. */
export const coreCommands: CommandSpec[] = [dev, worker, pub, sub, job, sql, ws];
