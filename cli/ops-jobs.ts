/**
 * `switchboard jobs run|get|cancel|workers` and `switchboard broadcast`. `jobs run` is cli/jobs.ts's
 * runJobCommand (the same call as the older `switchboard job`) with tables, `--json` and a progress
 * counter around it; `broadcast` is cli/ws.ts's `ws broadcast` under a shorter name.
 */
import type { JobRecord, WorkerInfo } from '../schemas/job.js';
import type { CommandIo, CommandSpec } from './command-spec.js';
import { clientEnv } from './env-vars.js';
import { runJobCommand } from './jobs.js';
import { JSON_OPTION, Progress, printRecord, printRows, type Column } from './output.js';
import { arg, clientOf, duration, int, jsonOf, printView, str } from './ops-common.js';
import { wsBroadcast } from './ws.js';

const JOB_ID_ARG = { name: 'ID', description: 'job id (printed by jobs run --async)' } as const;

/** A job's run time: "0ms" for an instant one (duration() shows 0 as "-", unlimited). */
function elapsed(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : ms < 1 ? '0ms' : duration(Math.round(ms));
}

/** The flat, human view of a job record. */
function jobRecord(r: JobRecord): Record<string, unknown> {
  return {
    id: r.id, type: r.type, status: r.status, duration: elapsed(r.durationMs),
    attempt: r.attempt, worker: r.worker, principal: r.principal, submitted: r.submittedAt, started: r.startedAt, finished: r.finishedAt,
    ...(r.error ? { error: `${r.error.code}: ${r.error.message}` } : {}),
    output: r.output,
  };
}

/**
 * Stdout with backpressure when the entrypoint offers it: an `out` that returns false on a full pipe
 * and a `drain()` to await (proposed for CommandIo; until main.ts provides them, rows are written
 * without waiting). runJobCommand then reads the next rows only once stdout took the previous ones.
 */
function stdoutOf(io: CommandIo): { out: (line: string) => boolean | void; drain?: () => Promise<void> } {
  const drain = io.drain;
  return { out: (line) => io.out(line), ...(drain ? { drain: () => drain.call(io) } : {}) };
}

/** `jobs run --stream`: rows as they come on stdout; the final record, in human mode, as a note on stderr. */
async function runStream(io: CommandIo, json: boolean, call: Parameters<typeof runJobCommand>[1]): Promise<void> {
  // A counter on stderr only when stdout goes elsewhere (a file, a pipe): on one screen the rows show the progress.
  const progress = io.stderrIsTTY && !io.stdoutIsTTY ? new Progress(io, 'rows') : undefined;
  const stdout = stdoutOf(io);
  let result: JobRecord | undefined;
  let rows = 0;
  const out = (line: string): boolean | void => {
    if (line.startsWith('{"$result"')) {
      result = (JSON.parse(line) as { $result: JobRecord }).$result;
      return json ? stdout.out(line) : undefined;
    }
    rows += 1;
    progress?.tick();
    return stdout.out(line);
  };
  try {
    await runJobCommand(clientEnv(io.env), call, { stdin: io.stdin, out, signal: io.signal, ...(stdout.drain ? { drain: stdout.drain } : {}) });
  } finally {
    progress?.finish();
  }
  if (!json && result) io.err(`job ${result.id} ${result.status}: ${rows} rows in ${elapsed(result.durationMs) ?? '?'}`);
}

const runCommand: CommandSpec = {
  name: 'run',
  summary: 'run a job: wait for its result, --async, or --stream its rows',
  description: 'Runs a job of TYPE through POST /v1/jobs/TYPE with the JSON of --input ("-" reads stdin; none sends {}). '
    + 'Sync (default) waits for the final record and prints it; a failed job exits 1 with its error code. --async prints the id at once '
    + '(read it later with jobs get ID). --stream prints each item (a row of sql.callproc) as one JSON line as it arrives — with --json '
    + 'the final {"$result": record} line too, else a summary on stderr — and, when stderr is a terminal and stdout is not, a row counter '
    + 'on stderr. Ctrl-C closes the connection, which cancels a streamed job. `switchboard job TYPE [INPUT]` is the older form (JSON only).',
  args: [{ name: 'TYPE', description: 'job type, e.g. sql.callproc or winrm.exec', complete: { names: 'job-types' } }],
  options: [
    { name: 'input', type: 'string', value: 'JSON', description: 'the job input as JSON; "-" reads it from stdin', default: '{}', complete: { words: ['-'] } },
    { name: 'async', type: 'boolean', description: 'print {id, status} at once instead of waiting' },
    { name: 'stream', type: 'boolean', description: 'print streamed items as JSON lines as they arrive' },
    { name: 'timeout', type: 'string', value: 'MS', description: 'the job\'s deadline, ms; a sync call also waits this long', default: 'the gateway\'s (30 s wait, 5 min deadline)' },
    JSON_OPTION,
  ],
  async run(args, io) {
    const json = jsonOf(args);
    const call = {
      type: arg(args, 0, 'TYPE'), input: str(args, 'input'),
      async: args.values['async'] === true, stream: args.values['stream'] === true, timeoutMs: int(args, 'timeout', 1),
    };
    if (call.stream) return runStream(io, json, call);
    let answer: unknown;
    await runJobCommand(clientEnv(io.env), call, { stdin: io.stdin, out: (line) => void (answer = JSON.parse(line)), signal: io.signal });
    const record = answer as Record<string, unknown>;
    printRecord(io, json, json || call.async ? record : jobRecord(record as unknown as JobRecord));
  },
};

const workerColumns: ReadonlyArray<Column<{ w: WorkerInfo; t: WorkerInfo['types'][number] }>> = [
  { header: 'worker', get: (r) => r.w.id },
  { header: 'state', get: (r) => r.w.state },
  { header: 'type', get: (r) => r.t.type },
  { header: 'concurrency', get: (r) => r.t.concurrency, right: true },
  { header: 'in-flight', get: (r) => r.t.inFlight, right: true },
  { header: 'succeeded', get: (r) => r.t.succeeded, right: true },
  { header: 'failed', get: (r) => r.t.failed, right: true },
  { header: 'seen', get: (r) => r.w.seenAt },
];

/** `switchboard jobs …`. */
export const jobsCommand: CommandSpec = {
  name: 'jobs',
  summary: 'run jobs, read and cancel them, list the workers',
  description: 'Jobs run on worker processes (docs/jobs.md). A caller sees the jobs it submitted; an admin sees every job.',
  subcommands: [
    runCommand,
    {
      name: 'get',
      summary: 'read a job\'s state or result',
      description: 'Prints the job record (status, output or error, worker, timings). --wait long-polls for the final state. '
        + 'SB_ERR_JOB_NOT_FOUND for an unknown id or another principal\'s job.',
      args: [JOB_ID_ARG],
      options: [{ name: 'wait', type: 'string', value: 'MS', description: 'wait up to MS for the job to finish', default: '0' }, JSON_OPTION],
      async run(args, io) {
        const wait = int(args, 'wait');
        const q = wait ? `?waitMs=${wait}` : '';
        const r = (await clientOf(io).call('GET', `/v1/jobs/${encodeURIComponent(arg(args, 0, 'ID'))}${q}`, undefined, { extraWaitMs: wait ?? 0, signal: io.signal })) as JobRecord;
        printView(io, args, r, jobRecord);
      },
    },
    {
      name: 'cancel',
      summary: 'cancel a job',
      description: 'A queued job will not start; a running one is told to stop (its handler decides how fast). Prints the record. SB_ERR_JOB_NOT_FOUND for an unknown id.',
      args: [JOB_ID_ARG],
      options: [JSON_OPTION],
      async run(args, io) {
        printView(io, args, (await clientOf(io).call('DELETE', `/v1/jobs/${encodeURIComponent(arg(args, 0, 'ID'))}`)) as JobRecord, jobRecord);
      },
    },
    {
      name: 'workers',
      summary: 'list the live worker processes and the job types they run (admin)',
      description: 'One row per worker and job type: state (running, draining), concurrency, jobs in flight, succeeded and failed counts, last heartbeat.',
      options: [JSON_OPTION],
      async run(args, io) {
        const r = (await clientOf(io).call('GET', '/v1/workers')) as { workers: WorkerInfo[] };
        printRows(io, jsonOf(args), r, r.workers.flatMap((w) => w.types.map((t) => ({ w, t }))), workerColumns);
      },
    },
  ],
};

/** `switchboard broadcast` = `switchboard ws broadcast`, with a table or --json. */
export const broadcastCommand: CommandSpec = {
  name: 'broadcast',
  summary: 'send a message to every client of a WebSocket channel',
  description: 'Sends DATA (stdin when "-" or absent) to every client of CHANNEL on every gateway replica, at most once, and prints {id, channel}. '
    + 'DATA goes as JSON when it parses, else as text; --content-type sends the bytes as they are with that type. '
    + 'Needs admin, or publish on the ACL pseudo-topic ws.broadcast.CHANNEL. The same as `switchboard ws broadcast`.',
  args: [
    { name: 'CHANNEL', description: 'WebSocket channel name', complete: { names: 'ws-channels' } },
    { name: 'DATA', description: 'the message; "-" or absent reads stdin', optional: true },
  ],
  options: [{ name: 'content-type', type: 'string', value: 'TYPE', description: 'send DATA as is with this Content-Type', default: 'JSON or text, guessed' }, JSON_OPTION],
  async run(args, io) {
    const [channel, data] = args.positionals;
    printRecord(io, jsonOf(args), await wsBroadcast(clientEnv(io.env), channel, data, str(args, 'content-type'), io.stdin));
  },
};
