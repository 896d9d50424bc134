/**
 * Subscription delivery: pre-fill N messages on a topic, then drain them twice — through the REST API
 * (long-poll pull of max=100, then an HTTP ack of the batch) and through a raw JetStream pull consumer
 * (`consume()` + `msg.ack()`) on the same stream — and report msgs/s for both.
 */
import { randomBytes } from 'node:crypto';
import { createInbox, headers, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { HEADERS } from '../schemas/index.js';
import { topicSubject } from '../broker/index.js';
import type { RestClient } from '../cli/index.js';

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

/** Drains `count` messages of a REST subscription: pull max=100, ack each batch over HTTP. */
export async function drainRest(client: RestClient, subscription: string, count: number): Promise<DrainFigures> {
  const t0 = performance.now();
  let got = 0;
  // Like msg.ack() on the raw side, an ack is not awaited before the next pull (one ack in flight at
  // a time, so acks cannot pile up); the clock stops only once every ack was answered.
  let acking: Promise<unknown> = Promise.resolve();
  while (got < count) {
    const msgs = await client.pull(subscription, { max: 100, waitMs: 1000 });
    if (msgs.length === 0) throw new Error(`REST drain stalled at ${got}/${count}`);
    await acking;
    acking = client.ack(subscription, msgs.map((m) => m.ackToken));
    got += msgs.length;
  }
  await acking;
  const seconds = (performance.now() - t0) / 1000;
  return { name: 'REST pull(max=100) + ack (pipelined)', messages: got, seconds, msgsPerSec: got / seconds };
}

/** Drains `count` messages with a raw durable JetStream pull consumer: consume() + msg.ack(). */
export async function drainRaw(nc: NatsConnection, topic: string, count: number): Promise<DrainFigures> {
  const subject = topicSubject(topic);
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.find(subject);
  const name = `benchraw${randomBytes(4).toString('hex')}`;
  await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: subject });
  try {
    const consumer = await jetstream(nc).consumers.get(stream, name);
    const t0 = performance.now();
    const iter = await consumer.consume();
    let got = 0;
    for await (const m of iter) {
      m.ack();
      if (++got === count) break;
    }
    // Count the run as finished once the server has the acks, like the REST side whose ack call returns after it.
    await nc.flush();
    const seconds = (performance.now() - t0) / 1000;
    return { name: 'raw JetStream consume() + ack', messages: got, seconds, msgsPerSec: got / seconds };
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => undefined);
  }
}
