/**
 * The gateway conformance suite through an amqp-in bridge: "publish" sends the message to a RabbitMQ
 * queue and resolves once the bridge stored it in the topic (seen on the topic's stream), or once the
 * bridge counted it as a duplicate. One bridge (and queue) per topic, on the harness's own bucket.
 * Cases that do not map: `bad-input` (a bridge's topic is fixed in its definition, validated by the
 * admin API) and `close` (stopping a bridge leaves messages in the queue rather than refusing them —
 * bridge-amqp.test.ts checks that a stop under load loses nothing).
 */
import { randomBytes } from 'node:crypto';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { topicSubject } from '../../broker/index.js';
import { SHARED_NATS_URL } from '../support/nats-server.js';
import { until } from '../support/poll.js';
import { runGatewayConformance, type ConformanceHarness, type GatewayInstance, type PublishOpts, type PublishOutcome } from './conformance.js';
import { AmqpSide, AMQP_URL, dropBucketOn, startBridgeStack } from './bridge-harness.js';

const rand = (): string => randomBytes(6).toString('hex');
const MAX_PAYLOAD = 64 * 1024;

interface Seen { id: string; seq: number }

/** One topic's bridge, queue, and what its stream holds (by the correlation id the harness sets). */
interface Lane {
  queue: string;
  bridge: string;
  seen: Map<string, Seen>;
  /** idempotency key → the first stored message with it. */
  keys: Map<string, Seen>;
  sent: number;
  stop: () => void;
}

function harness(): ConformanceHarness {
  return {
    async start(): Promise<GatewayInstance> {
      const bucket = `sb_test_bridgeconf_${rand()}`;
      const s = await startBridgeStack(bucket);
      const amqp = await AmqpSide.open();
      const nc: NatsConnection = await natsConnect({ servers: SHARED_NATS_URL });
      const lanes = new Map<string, Promise<Lane>>();

      async function open(topic: string): Promise<Lane> {
        const queue = `sb-test-conf-${rand()}`;
        await amqp.ch.assertQueue(queue, { durable: false });
        const bridge = `conf_${rand()}`;
        const lane: Lane = { queue, bridge, seen: new Map(), keys: new Map(), sent: 0, stop: () => undefined };
        // Watch the stream from the start with an ordered consumer: the ground truth of what was stored.
        const jsm = await jetstreamManager(nc);
        const stream = await jsm.streams.find(topicSubject(topic));
        const consumer = await jetstream(nc).consumers.get(stream);
        const msgs = await consumer.consume({
          callback: (m) => {
            const cid = m.headers?.get('Sb-Correlation-Id') ?? '';
            lane.seen.set(cid, { id: m.headers?.get('Sb-Msg-Id') ?? '', seq: m.seq });
          },
        });
        lane.stop = () => { void msgs.close(); };
        await s.put(bridge, { kind: 'amqp-in', url: AMQP_URL, queue, topic, maxPayloadBytes: MAX_PAYLOAD, prefetch: 1000 });
        await until(() => s.status(bridge)?.state === 'running', 10_000, 'bridge running');
        return lane;
      }

      const lane = (topic: string): Promise<Lane> => {
        let l = lanes.get(topic);
        if (!l) {
          l = open(topic);
          lanes.set(topic, l);
        }
        return l;
      };

      function send(l: Lane, data: Uint8Array, opts: PublishOpts): string {
        const cid = rand();
        l.sent++;
        amqp.ch.sendToQueue(l.queue, Buffer.from(data), {
          correlationId: cid, messageId: opts.idempotencyKey ?? cid, ...(opts.contentType ? { contentType: opts.contentType } : {}),
        });
        return cid;
      }

      async function outcome(l: Lane, cid: string, key: string | undefined): Promise<PublishOutcome> {
        // Stored: its correlation id shows up on the stream. Otherwise settled as a duplicate.
        const settled = () => { const c = s.status(l.bridge)?.counters; return c !== undefined && c.forwarded + c.duplicates + c.deadLettered >= l.sent; };
        const found = await until(() => l.seen.get(cid) ?? (settled() && key !== undefined && l.keys.has(key) ? 'duplicate' : undefined), 30_000, `message ${cid}`);
        if (found === 'duplicate') {
          const first = l.keys.get(key as string) as Seen;
          return { ok: true, id: first.id, seq: first.seq, duplicate: true };
        }
        if (key !== undefined && !l.keys.has(key)) l.keys.set(key, found);
        return { ok: true, id: found.id, seq: found.seq, duplicate: false };
      }

      const stop = (deadlineMs: number) => s.runner.stop({ deadlineMs });
      return {
        broker: s.broker,
        maxPayloadBytes: MAX_PAYLOAD,
        async publish(topic, data, opts = {}) {
          const l = await lane(topic);
          return outcome(l, send(l, data, opts), opts.idempotencyKey);
        },
        async publishBatch(topic, items) {
          const l = await lane(topic);
          const cids = items.map((m) => send(l, m.data, m));
          return Promise.all(cids.map((cid, i) => outcome(l, cid, items[i]?.idempotencyKey)));
        },
        stop,
        async dispose() {
          await stop(3000);
          for (const p of lanes.values()) {
            const l = await p.catch(() => undefined);
            l?.stop();
            if (l) await amqp.ch.deleteQueue(l.queue).catch(() => undefined);
          }
          await amqp.close();
          await nc.close();
          await s.dispose();
          await dropBucketOn(SHARED_NATS_URL, bucket);
        },
      };
    },
  };
}

runGatewayConformance('amqp-in', harness(), { cases: ['bytes', 'text', 'batch', 'parallel', 'dedup'] });
