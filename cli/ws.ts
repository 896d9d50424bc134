/**
 * WebSocket channels over the REST API, for `switchboard ws broadcast|presence|channels` and
 * `switchboard broadcast` (cli/core-commands.ts, cli/ops-jobs.ts): broadcast DATA (stdin when it is "-"
 * or absent) as JSON when it parses, else as text — or, with an explicit content type, the bytes as they
 * are; a channel's presence and the channel list, with their table columns. Errors propagate as SbError.
 */
import { errors } from '../broker/errors.js';
import type { WsChannel, WsPresence, WsPresenceClient } from '../schemas/ws.js';
import { RestClient } from './client.js';
import type { ClientEnv } from './env-vars.js';
import type { Column } from './output.js';
import { readAll } from './pubsub.js';

/** Broadcasts `data` (or stdin when it is "-" or absent) to CHANNEL; answers `{id, channel}`. */
export async function wsBroadcast(
  env: ClientEnv, channel: string | undefined, data: string | undefined, contentType: string | undefined, stdin: AsyncIterable<Uint8Array | string>,
): Promise<{ id: string; channel: string }> {
  if (channel === undefined || channel === '') throw errors.validation('missing CHANNEL');
  const raw = data === undefined || data === '-' ? Buffer.from(await readAll(stdin)) : Buffer.from(data, 'utf8');
  const body = bodyOf(raw, contentType);
  return new RestClient(env).broadcast(channel, body.data, body.contentType);
}

/** The clients connected to CHANNEL on every replica. */
export async function wsPresence(env: ClientEnv, channel: string): Promise<WsPresence> {
  return (await new RestClient(env).call('GET', `/v1/ws-channels/${encodeURIComponent(channel)}/presence`)) as WsPresence;
}

/** Every WebSocket channel. */
export async function wsChannels(env: ClientEnv): Promise<{ channels: WsChannel[] }> {
  return (await new RestClient(env).call('GET', '/v1/ws-channels')) as { channels: WsChannel[] };
}

export const PRESENCE_COLUMNS: ReadonlyArray<Column<WsPresenceClient>> = [
  { header: 'client', get: (c) => c.id },
  { header: 'principal', get: (c) => c.principal },
  { header: 'since', get: (c) => c.since },
  { header: 'remote', get: (c) => c.remoteAddress },
  { header: 'gateway', get: (c) => c.gateway },
];

export const CHANNEL_COLUMNS: ReadonlyArray<Column<WsChannel>> = [
  { header: 'channel', get: (c) => c.name },
  { header: 'auth', get: (c) => c.auth },
  { header: 'max-connections', get: (c) => c.limits.maxConnections },
  { header: 'presence-events', get: (c) => c.presenceEvents !== false },
];

/** JSON when the text parses, text otherwise; an explicit type sends the bytes as they are. */
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
