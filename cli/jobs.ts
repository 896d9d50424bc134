/**
 * `switchboard job TYPE [INPUT|-] [--async] [--stream] [--timeout MS]`: runs a job through the
 * gateway's `POST /v1/jobs/{type}`. Sync prints the final record, `--async` the accepted id,
 * `--stream` every NDJSON line as it arrives (items, then `{"$result": record}`). Errors propagate as
 * SbError (main.ts prints "error CODE: message", exit 1); a `$error` line mid-stream is one too.
 */
import { SbError, errors } from '../broker/errors.js';
import { RestClient } from './client.js';
import type { ClientEnv } from './env-vars.js';
import { readAll } from './pubsub.js';

/** Arguments of `switchboard job`. */
export interface JobArgs {
  type: string | undefined;
  /** JSON text; `-` reads stdin; undefined sends `{}`. */
  input: string | undefined;
  async?: boolean | undefined;
  stream?: boolean | undefined;
  /** The job's deadline, ms; a sync call also waits this long for the result. Default: the gateway's. */
  timeoutMs?: number | undefined;
}

/** Where the command writes. `out` may return false (a full pipe): then `drain` is awaited before reading on. */
export interface JobIo {
  stdin: AsyncIterable<Uint8Array | string>;
  out: (line: string) => boolean | void;
  drain?: () => Promise<void>;
  /** Aborting stops the call; a stream's job is cancelled by the gateway when the connection closes. */
  signal?: AbortSignal;
}

/** Runs one job as asked and prints its outcome. */
export async function runJobCommand(env: ClientEnv, args: JobArgs, io: JobIo): Promise<void> {
  if (!args.type) throw errors.validation('job needs a TYPE: switchboard job TYPE [INPUT|-]');
  if (args.async && args.stream) throw errors.validation('--async and --stream exclude each other');
  const input = await inputOf(args.input, io.stdin);
  const q = new URLSearchParams();
  if (args.async) q.set('mode', 'async');
  if (args.stream) q.set('mode', 'stream');
  if (args.timeoutMs !== undefined) {
    q.set('jobTimeoutMs', String(args.timeoutMs));
    if (!args.async && !args.stream) q.set('timeoutMs', String(args.timeoutMs));
  }
  const path = `/v1/jobs/${encodeURIComponent(args.type)}${q.size > 0 ? `?${q.toString()}` : ''}`;
  if (args.stream) return streamJob(env, path, input, io);
  const client = new RestClient(env);
  // A sync call may wait up to the timeout (default 30 s at the gateway) on top of the client's own.
  const res = await client.call('POST', path, input, { extraWaitMs: args.async ? 0 : args.timeoutMs ?? 30_000, ...(io.signal ? { signal: io.signal } : {}) });
  io.out(JSON.stringify(res));
}

async function inputOf(raw: string | undefined, stdin: AsyncIterable<Uint8Array | string>): Promise<unknown> {
  if (raw === undefined) return {};
  const text = raw === '-' ? Buffer.from(await readAll(stdin)).toString('utf8') : raw;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SbError('SB_ERR_INVALID_JSON', 'the job input must be JSON');
  }
}

// The stream is read line by line and printed as it comes; the next bytes are read only after stdout
// took the previous ones, so a slow reader of stdout slows the worker (backpressure end to end).
async function streamJob(env: ClientEnv, path: string, input: unknown, io: JobIo): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (env.authorization) headers['authorization'] = env.authorization;
  let res: Response;
  try {
    res = await fetch(env.baseUrl + path, { method: 'POST', headers, body: JSON.stringify(input), ...(io.signal ? { signal: io.signal } : {}) });
  } catch (e) {
    if (io.signal?.aborted) return;
    throw new SbError('SB_ERR_BACKBONE_UNAVAILABLE', `no answer from ${env.baseUrl}: ${(e as Error).message}`, { cause: e, data: { unreachable: true } });
  }
  if (!res.ok || !res.body) throw errorOf(res.status, await res.text());
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const bytes of res.body) {
      buf += dec.decode(bytes, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.length > 0) await printLine(line, io);
      }
    }
  } catch (e) {
    if (io.signal?.aborted) return;
    throw e;
  }
  if (buf.trim().length > 0) await printLine(buf, io);
}

async function printLine(line: string, io: JobIo): Promise<void> {
  if (line.startsWith('{"$error"')) {
    const err = (JSON.parse(line) as { $error: { code?: unknown; message?: unknown } }).$error;
    throw SbError.fromWire({ code: err.code, message: err.message });
  }
  if (io.out(line) === false && io.drain) await io.drain();
}

/** The gateway's `{error: {code, message}}`, or the HTTP status. */
function errorOf(status: number, text: string): SbError {
  try {
    const err = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (err && typeof err.code === 'string') return SbError.fromWire({ code: err.code, message: err.message });
  } catch {
    // not JSON: fall through
  }
  return new SbError('SB_ERR_INTERNAL', `HTTP ${status}: ${text.slice(0, 200)}`, { data: { httpStatus: status } });
}
