/**
 * `switchboard sql …`: SQL connection definitions and procedure calls over the REST API.
 *   sql conn create NAME --kind K --host H --port P --database D --user U [--pool N]
 *   sql conn list | sql conn get NAME | sql conn delete NAME
 *   sql conn password NAME          the new password is read from stdin, never from argv (ps, shell history)
 *   sql call CONN PROC [ARGS_JSON] [--stream] [--chunk-rows N]
 * Results go to `out` as JSON (one value per line; `--stream`: one row per line as they arrive, then
 * the `{"$result": …}` line). Errors propagate as SbError; main.ts prints them and exits 1.
 */
import { SbError, errors } from '../broker/errors.js';
import { RestClient } from './client.js';
import type { ClientEnv } from './env-vars.js';
import { readAll } from './pubsub.js';

/** What the command reads and writes. */
export interface SqlIo {
  stdin: AsyncIterable<Uint8Array | string>;
  out: (line: string) => void;
  signal?: AbortSignal;
}

const USAGE = 'usage: switchboard sql conn create|list|get|delete|password … | switchboard sql call CONN PROC [ARGS_JSON] [--stream]';

/** The options of `sql conn create` as typed (strings; checked by {@link sqlConnBody}). */
export interface SqlConnOptions {
  kind?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  database?: string | undefined;
  user?: string | undefined;
  pool?: string | undefined;
}

/** `/v1/connections/sql/<name>`, escaped. */
export function sqlConnPath(name: string): string {
  return `/v1/connections/sql/${encodeURIComponent(name)}`;
}

/** The POST body of a new connection; a missing required option is named in the error. */
export function sqlConnBody(name: string | undefined, o: SqlConnOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: need(name, 'NAME'), kind: need(o.kind, '--kind'), host: need(o.host, '--host'),
    port: int('port', need(o.port, '--port')), database: need(o.database, '--database'), user: need(o.user, '--user'),
  };
  if (o.pool !== undefined) body['poolSize'] = int('pool', o.pool);
  return body;
}

/** Runs `switchboard sql conn ACTION [NAME]`: one JSON line to `io.out`. */
export async function runSqlConn(env: ClientEnv, action: string | undefined, name: string | undefined, o: SqlConnOptions, io: SqlIo): Promise<void> {
  const client = new RestClient(env);
  switch (action) {
    case 'create':
      io.out(JSON.stringify(await client.call('POST', '/v1/connections/sql', sqlConnBody(name, o))));
      return;
    case 'list':
      io.out(JSON.stringify(await client.call('GET', '/v1/connections/sql')));
      return;
    case 'get':
      io.out(JSON.stringify(await client.call('GET', sqlConnPath(need(name, 'NAME')))));
      return;
    case 'delete':
      await client.call('DELETE', sqlConnPath(need(name, 'NAME')));
      io.out(JSON.stringify({ deleted: name }));
      return;
    case 'password': {
      const conn = need(name, 'NAME');
      // One trailing line break is the terminal's or echo's, not the password's.
      const password = Buffer.from(await readAll(io.stdin)).toString('utf8').replace(/\r?\n$/, '');
      if (password === '') throw errors.validation('sql conn password reads the new password from stdin; it was empty');
      await client.call('PUT', `${sqlConnPath(conn)}/password`, { password });
      io.out(JSON.stringify({ connection: conn, passwordSet: true }));
      return;
    }
    default:
      throw errors.validation(USAGE);
  }
}

/** What `sql call` was given. */
export interface SqlCallOptions {
  connection: string | undefined;
  procedure: string | undefined;
  /** A JSON list (positional) or object (named). */
  argsJson?: string | undefined;
  stream?: boolean;
  chunkRows?: string | undefined;
  routine?: string | undefined;
}

/** Runs `switchboard sql call CONN PROC [ARGS_JSON]`: the output as one JSON line, or streamed rows then `{"$result": …}`. */
export async function runSqlCall(env: ClientEnv, o: SqlCallOptions, io: SqlIo): Promise<void> {
  const input: Record<string, unknown> = { connection: need(o.connection, 'CONN'), procedure: need(o.procedure, 'PROC') };
  if (o.argsJson !== undefined) {
    try {
      input['args'] = JSON.parse(o.argsJson);
    } catch {
      throw errors.validation('ARGS_JSON must be a JSON list (positional) or object (named), e.g. \'[42, "x"]\'');
    }
  }
  if (o.chunkRows !== undefined) input['chunkRows'] = int('chunk-rows', o.chunkRows);
  if (o.routine !== undefined) input['routine'] = o.routine;
  if (!o.stream) {
    const record = (await new RestClient(env).call('POST', '/v1/jobs/sql.callproc', input)) as { output?: unknown };
    io.out(JSON.stringify(record.output ?? record));
    return;
  }
  input['stream'] = true;
  await streamCall(env, input, io);
}

/** POSTs a streamed call and prints each NDJSON line as it arrives; a `$error` line becomes the error. */
async function streamCall(env: ClientEnv, input: Record<string, unknown>, io: SqlIo): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/x-ndjson' };
  if (env.authorization) headers['authorization'] = env.authorization;
  let res: Response;
  try {
    res = await fetch(`${env.baseUrl}/v1/jobs/sql.callproc?mode=stream`, {
      method: 'POST', headers, body: JSON.stringify(input), ...(io.signal ? { signal: io.signal } : {}),
    });
  } catch (e) {
    throw new SbError('SB_ERR_BACKBONE_UNAVAILABLE', `no answer from ${env.baseUrl}: ${(e as Error).message}`, { data: { unreachable: true } });
  }
  if (!res.ok || !res.body) {
    const text = await res.text();
    const err = (safeJson(text) as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw SbError.fromWire({ code: err?.code, message: err?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}` });
  }
  const decoder = new TextDecoder();
  let buf = '';
  const line = (l: string): void => {
    if (l.trim() === '') return;
    const parsed = safeJson(l) as { $error?: { code?: string; message?: string } } | undefined;
    if (parsed && typeof parsed === 'object' && parsed.$error) throw SbError.fromWire({ code: parsed.$error.code, message: parsed.$error.message });
    io.out(l);
  };
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      line(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  line(buf + decoder.decode());
}

function need(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw errors.validation(`missing ${what}; ${USAGE}`);
  return v;
}

function int(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw errors.validation(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
