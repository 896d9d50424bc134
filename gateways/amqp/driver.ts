/**
 * The one file that imports amqplib (STYLE §6). It opens a connection from our definition fields and
 * re-exports the few driver types the bridges use. No recovery here: the bridges run their own
 * reconnect loop, because after a reconnect they must also declare topology and resume consuming.
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type MessagePropertyHeaders, type Options } from 'amqplib';

export type { Channel as AmqpChannel, ChannelModel as AmqpConnection, ConfirmChannel as AmqpConfirmChannel, ConsumeMessage as AmqpMessage, MessagePropertyHeaders as AmqpHeaders };
/** AMQP publish options (properties). */
export type AmqpPublishOptions = Options.Publish;

/** Where and how to connect; `password` is the opened secret (never logged). */
export interface AmqpTarget {
  url: string;
  password?: string | undefined;
  heartbeatSec: number;
  /** Name shown in the RabbitMQ management UI. */
  connectionName: string;
}

/** Opens one AMQP connection. Errors carry no password (the URL we log has none). */
export async function openAmqp(t: AmqpTarget): Promise<ChannelModel> {
  const u = new URL(t.url);
  if (t.password !== undefined) {
    if (u.username === '') u.username = 'guest';
    u.password = encodeURIComponent(t.password);
  }
  u.searchParams.set('heartbeat', String(t.heartbeatSec));
  try {
    return await connect(u.toString(), { clientProperties: { connection_name: t.connectionName }, timeout: 10_000 });
  } catch (e) {
    // amqplib messages can quote the URL: rebuild the error from its code and a safe text.
    const code = (e as { code?: unknown }).code;
    const err = new Error(`AMQP connect to ${redactUrl(t.url)} failed: ${safeMessage(e, t.password)}`);
    if (code !== undefined) Object.assign(err, { code });
    throw err;
  }
}

/** The URL as shown in logs and errors: no credentials at all. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return 'amqp://?';
  }
}

function safeMessage(e: unknown, password: string | undefined): string {
  const m = e instanceof Error ? e.message : String(e);
  return password ? m.split(password).join('***').split(encodeURIComponent(password)).join('***') : m;
}
