/**
 * `switchboard ws …`: WebSocket channels over the REST API.
 *   ws broadcast CHANNEL [DATA|-] [--content-type TYPE]   send to every client of CHANNEL on every replica
 *   ws presence CHANNEL [--json]                          the clients connected to CHANNEL
 *   ws channels [--json]                                  the WebSocket channels
 * DATA (or stdin when it is "-" or absent) goes as JSON when it parses, else as text; --content-type
 * sends the bytes as they are with that type. Errors propagate as SbError; main.ts prints them, exit 1.
 */
import { parseArgs } from 'node:util';
import { SbError, errors } from '../broker/errors.js';
import type { WsChannel, WsPresence } from '../schemas/ws.js';
import { RestClient } from './client.js';
import type { ClientEnv } from './env-vars.js';
import { readAll } from './pubsub.js';

/** What the command reads and writes. */
export interface WsIo {
  stdin: AsyncIterable<Uint8Array | string>;
  out: (line: string) => void;
}

const USAGE = 'usage: switchboard ws broadcast CHANNEL [DATA|-] [--content-type TYPE] | ws presence CHANNEL [--json] | ws channels [--json]';

/** Runs `switchboard ws ARGV…`. */
export async function runWs(env: ClientEnv, argv: string[], io: WsIo): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { 'content-type': { type: 'string' }, json: { type: 'boolean' } },
  });
  const [action, channel, data] = positionals;
  const client = new RestClient(env);
  switch (action) {
    case 'broadcast': {
      const name = need(channel, 'CHANNEL');
      const raw = data === undefined || data === '-' ? Buffer.from(await readAll(io.stdin)) : Buffer.from(data, 'utf8');
      const body = bodyOf(raw, values['content-type']);
      io.out(JSON.stringify(await post(env, `/v1/ws-channels/${encodeURIComponent(name)}/broadcast`, body)));
      return;
    }
    case 'presence': {
      const name = need(channel, 'CHANNEL');
      const r = (await client.call('GET', `/v1/ws-channels/${encodeURIComponent(name)}/presence`)) as WsPresence;
      if (values.json) return io.out(JSON.stringify(r));
      table(io, ['CLIENT', 'PRINCIPAL', 'SINCE', 'REMOTE', 'GATEWAY'], r.clients.map((c) => [c.id, c.principal ?? '-', c.since, c.remoteAddress, c.gateway]));
      return;
    }
    case 'channels': {
      const r = (await client.call('GET', '/v1/ws-channels')) as { channels: WsChannel[] };
      if (values.json) return io.out(JSON.stringify(r));
      table(io, ['CHANNEL', 'AUTH', 'MAX-CONNECTIONS', 'PRESENCE-EVENTS'], r.channels.map((c) => [
        c.name, c.auth, String(c.limits.maxConnections), String(c.presenceEvents !== false),
      ]));
      return;
    }
    default:
      throw errors.validation(USAGE);
  }
}

/** JSON when the text parses (or the type says so), text otherwise; an explicit type sends the bytes as they are. */
function bodyOf(raw: Buffer, contentType: string | undefined): { data: Buffer; contentType: string } {
  if (contentType !== undefined) return { data: raw, contentType };
  // One trailing line break is the terminal's or echo's.
  const text = raw.toString('utf8').replace(/\r?\n$/, '');
  try {
    JSON.parse(text);
    return { data: Buffer.from(text, 'utf8'), contentType: 'application/json' };
  } catch {
    return { data: Buffer.from(text, 'utf8'), contentType: 'text/plain; charset=utf-8' };
  }
}

/** POSTs raw bytes with their content type (RestClient.call speaks JSON only). */
async function post(env: ClientEnv, path: string, body: { data: Buffer; contentType: string }): Promise<unknown> {
  const headers: Record<string, string> = { 'content-type': body.contentType };
  if (env.authorization) headers['authorization'] = env.authorization;
  let res: Response;
  try {
    res = await fetch(env.baseUrl + path, { method: 'POST', headers, body: body.data as unknown as BodyInit, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new SbError('SB_ERR_BACKBONE_UNAVAILABLE', `no answer from ${env.baseUrl}: ${(e as Error).message}`, { data: { unreachable: true } });
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.ok) return parsed;
  const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  throw SbError.fromWire({ code: err?.code, message: err?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}` });
}

function table(io: WsIo, head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  io.out(line(head));
  for (const r of rows) io.out(line(r));
}

function need(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw errors.validation(`missing ${what}; ${USAGE}`);
  return v;
}
