/**
 * Fault-test helpers: publishers that record every answer, and a direct JetStream reader that checks
 * what the stream really holds — the ground truth the gateway's 201s are judged against.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { isSbError, topicSubject } from '../../broker/index.js';
import type { RestClient } from '../../cli/index.js';

/** One message a fault test publishes: unique key and body. */
export interface Sent {
  key: string;
  body: string;
  /** 201 answers (a retry may add a second, duplicate one). */
  stored: Array<{ seq: number; duplicate: boolean }>;
  /** Every failure answer, as `SB_ERR_*` code (with `unreachable` when no HTTP answer came). */
  failures: string[];
}

/** Outcome of one publish attempt. */
export type Attempt = { ok: true; seq: number; duplicate: boolean } | { ok: false; code: string; unreachable: boolean; httpStatus?: number };

/** Publishes `m` once and records the answer on it. */
export async function attempt(client: RestClient, topic: string, m: Sent): Promise<Attempt> {
  try {
    const r = await client.publish(topic, m.body, { contentType: 'application/json', key: m.key });
    m.stored.push({ seq: r.seq, duplicate: r.duplicate });
    return { ok: true, seq: r.seq, duplicate: r.duplicate };
  } catch (e) {
    if (!isSbError(e)) throw e;
    const unreachable = e.data?.['unreachable'] === true;
    const httpStatus = typeof e.data?.['httpStatus'] === 'number' ? e.data['httpStatus'] : undefined;
    m.failures.push(unreachable ? `${e.code}(unreachable)` : e.code);
    return { ok: false, code: e.code, unreachable, ...(httpStatus === undefined ? {} : { httpStatus }) };
  }
}

/** Makes a message with a key and body unique to this run. */
export function makeMessage(run: string, client: number, n: number): Sent {
  return { key: `${run}-${client}-${n}`, body: JSON.stringify({ run, client, n, pad: 'x'.repeat(64) }), stored: [], failures: [] };
}

/** Every message JetStream holds for `topic`, by sequence, read directly (not through Switchboard). */
export async function readTopic(natsUrl: string, topic: string): Promise<Map<number, string>> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const subject = topicSubject(topic);
    // Ask the server which stream captures the subject: the test does not assume the broker's naming.
    const stream = await jsm.streams.find(subject);
    const info = await jsm.streams.info(stream);
    const out = new Map<number, string>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m && m.subject === subject) out.set(seq, Buffer.from(m.data).toString('utf8'));
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** Pull requests JetStream holds waiting on the consumers of `topic`'s stream (a long-poll in flight). */
export async function waitingPulls(natsUrl: string, topic: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = await jsm.streams.find(topicSubject(topic));
    let waiting = 0;
    for (const c of await jsm.consumers.list(stream).next()) waiting += c.num_waiting;
    return waiting;
  } finally {
    await nc.close();
  }
}

/** How many times each body occurs in the stream. */
export function bodyCounts(stream: Map<number, string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const body of stream.values()) counts.set(body, (counts.get(body) ?? 0) + 1);
  return counts;
}

/** A promise with its resolve, for "wake me when the Nth event happened". */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}
