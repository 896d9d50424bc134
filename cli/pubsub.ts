/**
 * `switchboard pub` and `switchboard sub`: thin commands over the REST client. They write results to
 * `out` (one JSON value per line) and let errors propagate as SbError; main.ts turns those into a
 * stderr line and exit code 1.
 */
import { SbError, errors } from '../broker/errors.js';
import type { PublishResult } from '../schemas/index.js';
import { RestClient, type PublishOptions } from './client.js';
import type { ClientEnv } from './env-vars.js';

/** Reads a readable stream (stdin) to the end as bytes. */
export async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Publishes one message; `data` undefined or `-` means "read stdin". Writes the PublishResult as JSON. */
export async function runPub(
  env: ClientEnv,
  args: { topic: string | undefined; data: string | undefined; contentType?: string | undefined; key?: string | undefined },
  io: { stdin: AsyncIterable<Uint8Array | string>; out: (line: string) => void },
): Promise<PublishResult> {
  if (!args.topic) throw errors.validation('pub needs a TOPIC: switchboard pub TOPIC [DATA|-]');
  const body = args.data === undefined || args.data === '-' ? await readAll(io.stdin) : Buffer.from(args.data);
  const opts: PublishOptions = {};
  if (args.contentType) opts.contentType = args.contentType;
  if (args.key) opts.key = args.key;
  const client = new RestClient(env);
  const result = await client.publish(args.topic, body, opts);
  io.out(JSON.stringify(result));
  return result;
}

/** Options of `switchboard sub`. */
export interface SubArgs {
  subscription: string | undefined;
  /** Messages per pull; default 10. */
  max: number;
  /** Long-poll wait per pull, in ms; default 5000. */
  waitMs: number;
  /** Stop after this many messages; undefined = until aborted. */
  count: number | undefined;
}

/** Pulls, prints each message as a JSON line, acks it; loops until `count` messages or `signal` aborts. */
export async function runSub(env: ClientEnv, args: SubArgs, io: { out: (line: string) => void; signal?: AbortSignal }): Promise<number> {
  if (!args.subscription) throw errors.validation('sub needs a SUBSCRIPTION: switchboard sub SUBSCRIPTION');
  const client = new RestClient(env);
  let seen = 0;
  while (!io.signal?.aborted && (args.count === undefined || seen < args.count)) {
    // Never pull more than we will print: an unprinted message would sit un-acked until its ack wait.
    const max = args.count === undefined ? args.max : Math.min(args.max, args.count - seen);
    let messages;
    try {
      messages = await client.pull(args.subscription, { max, waitMs: args.waitMs, ...(io.signal ? { signal: io.signal } : {}) });
    } catch (e) {
      // Stopped mid-poll: whatever the server handed to that request is redelivered after its ack wait.
      if (io.signal?.aborted) break;
      throw e;
    }
    if (messages.length === 0) continue;
    for (const m of messages) io.out(JSON.stringify(m));
    // Ack after printing: at-least-once towards the reader of stdout.
    const acked = (await client.ack(args.subscription, messages.map((m) => m.ackToken))) as { results?: Array<{ ok: boolean; error?: { code: string; message: string } }> } | undefined;
    const failed = acked?.results?.find((r) => !r.ok);
    if (failed) throw SbError.fromWire({ code: failed.error?.code, message: `ack failed: ${failed.error?.message ?? 'unknown'}` });
    seen += messages.length;
  }
  return seen;
}

/** Parses a non-negative integer option, or throws SB_ERR_VALIDATION naming the option. */
export function intOption(name: string, raw: string | undefined, fallback: number | undefined): number | undefined {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw errors.validation(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}
