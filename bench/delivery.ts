/**
 * Subscription delivery: pre-fill N messages on a topic, then drain them twice — through the REST API
 * (long-poll pulls of `batch`, each followed by an HTTP ack of that batch) and through a raw JetStream
 * pull consumer (`consume()` with the same batch, + `msg.ack()`) on the same stream — and report msgs/s.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createInbox, headers, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { HEADERS } from '../schemas/index.js';
import { topicSubject } from '../broker/index.js';

/** Figures of one drain. */
export interface DrainFigures {
  name: string;
  messages: number;
  seconds: number;
  msgsPerSec: number;
}

/**
 * Publishes `count` envelope-shaped messages (Sb-Msg-Id, Content-Type) with at most `window` PubAcks
 * outstanding, over one reply subscription — the fast path, so pre-filling does not dominate the run.
 */
export async function prefill(nc: NatsConnection, subject: string, body: Uint8Array, count: number, window = 2000): Promise<void> {
  const inbox = createInbox();
  let acked = 0;
  let sent = 0;
  let failed = 0;
  await new Promise<void>((resolve, reject) => {
    const sendMore = (): void => {
      while (sent < count && sent - acked < window) {
        const h = headers();
        h.set(HEADERS.msgId, `bench-${sent}`);
        h.set(HEADERS.contentType, 'application/json');
        nc.publish(subject, body, { reply: `${inbox}.${sent}`, headers: h });
        sent++;
      }
    };
    nc.subscribe(`${inbox}.*`, {
      callback: (_e, m) => {
        if (m.data.length === 0 || !('seq' in (JSON.parse(Buffer.from(m.data).toString('utf8')) as object))) failed++;
        if (++acked === count) return failed > 0 ? reject(new Error(`${failed} prefill publishes failed`)) : resolve();
        sendMore();
      },
    });
    sendMore();
  });
}

/** How the REST reader talks to the gateway. */
export interface RestTarget {
  baseUrl: string;
  authorization: string;
}

/**
 * Drains `count` messages of a REST subscription the way a throughput-minded HTTP consumer would:
 * `loops` concurrent pull loops (default 2, like the raw consumer's prefetch keeping the server busy
 * while it processes) over keep-alive `node:http` connections; each loop pulls `batch` messages (the
 * same batch the raw consumer is given), then acks that batch and waits for the answer. The clock
 * stops after the last ack was answered.
 */
export async function drainRest(target: RestTarget, subscription: string, count: number, batch: number, loops = 2): Promise<DrainFigures> {
  const url = new URL(target.baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: loops });
  const call = (method: string, path: string, body?: string): Promise<string> => new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: target.authorization };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`${method} ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  const base = `/v1/subscriptions/${encodeURIComponent(subscription)}`;
  const t0 = performance.now();
  let got = 0;
  try {
    await Promise.all(Array.from({ length: loops }, async () => {
      while (got < count) {
        const { messages } = JSON.parse(await call('GET', `${base}/messages?max=${batch}&waitMs=1000`)) as { messages: Array<{ ackToken: string }> };
        if (messages.length === 0) {
          if (got >= count) break; // the other loop took the last batch while this one waited
          throw new Error(`REST drain stalled at ${got}/${count}`);
        }
        got += messages.length;
        await call('POST', `${base}/ack`, JSON.stringify({ tokens: messages.map((m) => m.ackToken) }));
      }
    }));
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { name: `REST pull(max=${batch}) + ack, ${loops} loops`, messages: got, seconds, msgsPerSec: got / seconds };
}

/** Drains `count` messages with a raw durable JetStream pull consumer: consume({max_messages: batch}) + msg.ack(). */
export async function drainRaw(nc: NatsConnection, topic: string, count: number, batch: number): Promise<DrainFigures> {
  const subject = topicSubject(topic);
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.find(subject);
  const name = `benchraw${randomBytes(4).toString('hex')}`;
  await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: subject });
  try {
    const consumer = await jetstream(nc).consumers.get(stream, name);
    const t0 = performance.now();
    const iter = await consumer.consume({ max_messages: batch });
    let got = 0;
    for await (const m of iter) {
      m.ack();
      if (++got === count) break;
    }
    // Count the run as finished once the server has the acks, like the REST side whose ack call returns after it.
    await nc.flush();
    const seconds = (performance.now() - t0) / 1000;
    return { name: `raw JetStream consume(max_messages=${batch}) + ack`, messages: got, seconds, msgsPerSec: got / seconds };
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => undefined);
  }
}
