/**
 * `createBroker()`: wires the connection, topics, publisher, subscriptions, dead letters and the
 * config store into one {@link Broker}. Start order: connect, config store, ack key, managers;
 * close runs in reverse and every step runs even if one fails (STYLE §8).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { PublishResult } from '../schemas/message.js';
import type { ProcessConfig } from '../schemas/config.js';
import { HEADERS } from '../schemas/message.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { BackboneStatus, Broker, ConfigStore, JobClient, Leases, PublishRequest, SignalBus } from './types.js';
import { KvLeases } from './leases.js';
import { NatsSignalBus } from './signals.js';
import type { SbError } from './errors.js';
import { openConnection, type Connection } from './connection.js';
import { KvConfigStore } from './config-store.js';
import { Publisher } from './publisher.js';
import { StreamTopicManager } from './topics.js';
import { ConsumerSet } from './consumers.js';
import { DeadLetters } from './dead-letter.js';
import { JsSubscriptionManager } from './subscriptions.js';
import { errors, isSbError } from './errors.js';
import { SUBSCRIPTION_KEY_PREFIX, type SubscriptionRecord } from './subscription-record.js';
import { JobStore } from './jobs-store.js';
import { JsJobClient } from './jobs.js';
import { JsJobPort, registerJobPort } from './jobs-port.js';

/** What {@link createBroker} needs. */
export interface BrokerOptions {
  config: ProcessConfig;
  logger: Logger;
  metrics: Metrics;
  /** Aborts a slow start. */
  signal?: AbortSignal;
}

const DEFAULT_CLOSE_DEADLINE_MS = 5000;

/** Connects to NATS JetStream and returns the backbone; rejects with SB_ERR_BACKBONE_UNAVAILABLE if NATS is unreachable. */
export async function createBroker(opts: BrokerOptions): Promise<Broker> {
  const log = opts.logger.child({ component: 'broker' });
  const conn = await openConnection(opts.config, log);
  try {
    opts.signal?.throwIfAborted();
    return await assemble(conn, opts, log);
  } catch (e) {
    await conn.nc.close().catch(() => undefined);
    throw isSbError(e) ? e : errors.backboneUnavailable(e);
  }
}

async function assemble(conn: Connection, opts: BrokerOptions, log: Logger): Promise<Broker> {
  const { nc } = conn;
  const timeoutMs = opts.config.nats.publishTimeoutMs;
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  const js = jetstream(nc, { timeout: timeoutMs });
  const config = await KvConfigStore.open(nc, js, jsm, opts.config.nats.configBucket, log, timeoutMs);
  opts.signal?.throwIfAborted();
  const storedId = async (stream: string, seq: number) => {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    return m?.header?.get(HEADERS.msgId) || undefined;
  };
  const topicExists = async (t: string): Promise<boolean> =>
    topics.info(t).then(() => true, (e: unknown) => (isSbError(e, 'SB_ERR_TOPIC_NOT_FOUND') ? false : Promise.reject(e)));
  const publisher = new Publisher(conn, timeoutMs, opts.metrics, storedId, topicExists);
  // A new topic may match wildcard subscriptions: give them their consumer now, not at the next pull.
  const topics = new StreamTopicManager(jsm, async (topic) => {
    for (const { value } of config.list<SubscriptionRecord>(SUBSCRIPTION_KEY_PREFIX)) {
      await consumers.onTopicCreated(value, topic).catch((err: unknown) => log.warn({ err, topic }, 'consumer for new topic failed; next pull retries'));
    }
  });
  const consumers = new ConsumerSet(jsm, topics, log);
  const deadLetters = new DeadLetters(nc, jsm, publisher, topics, opts.metrics, log.child({ part: 'dead-letter' }));
  const subs = new JsSubscriptionManager({
    conn, config, consumers, deadLetters, metrics: opts.metrics, logger: log,
    topicExists,
  });
  deadLetters.startBackstop(opts.config.nats.configBucket, (consumer, stream) => subs.lookupConsumer(consumer, stream));
  const jobStore = await JobStore.open(nc, jsm, publisher, topics, opts.config.jobs, log.child({ part: 'jobs' }), timeoutMs);
  const jobs = new JsJobClient(conn, jobStore, config, log.child({ part: 'jobs' }));
  const broker = new JsBroker(conn, topics, subs, jobs, jobStore, config, publisher, deadLetters, log, opts.config);
  registerJobPort(broker, new JsJobPort(broker, jobStore, config, log.child({ part: 'job-port' })));
  return broker;
}

class JsBroker implements Broker {
  private closing: Promise<void> | undefined;
  private readonly signalBus: SignalBus;
  private readonly leaseSet: KvLeases;

  constructor(
    private readonly conn: Connection,
    readonly topics: StreamTopicManager,
    readonly subscriptions: JsSubscriptionManager,
    private readonly jobClient: JsJobClient,
    private readonly jobStore: JobStore,
    private readonly store: KvConfigStore,
    private readonly publisher: Publisher,
    private readonly deadLetters: DeadLetters,
    private readonly log: Logger,
    config: ProcessConfig,
  ) {
    this.signalBus = new NatsSignalBus(conn);
    this.leaseSet = new KvLeases(conn.nc, config.nats.leasesBucket, config.nats.leaseTtlMs, config.nats.publishTimeoutMs, log.child({ part: 'leases' }));
  }

  get jobs(): JobClient {
    return this.jobClient;
  }

  get config(): ConfigStore {
    return this.store;
  }

  get signals(): SignalBus {
    return this.signalBus;
  }

  get leases(): Leases {
    return this.leaseSet;
  }

  publish(req: PublishRequest): Promise<PublishResult> {
    return this.publisher.publish(req);
  }

  publishBatch(reqs: PublishRequest[]): Promise<Array<PublishResult | SbError>> {
    return this.publisher.publishBatch(reqs);
  }

  status(): BackboneStatus {
    return this.conn.status();
  }

  onStatus(fn: (s: BackboneStatus) => void): () => void {
    return this.conn.onStatus(fn);
  }

  ready(): boolean {
    return this.conn.connected();
  }

  close(opts: { deadlineMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(opts.deadlineMs ?? DEFAULT_CLOSE_DEADLINE_MS);
    return this.closing;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    const steps: Array<[string, () => unknown]> = [
      ['leases', () => this.leaseSet.close()],
      ['jobs', () => this.jobClient.close()],
      ['job-store', () => this.jobStore.close()],
      ['publisher', () => this.publisher.close()],
      ['dead-letters', () => this.deadLetters.close()],
      ['subscriptions', () => this.subscriptions.close()],
      ['config', () => this.store.close()],
    ];
    for (const [name, step] of steps) {
      try {
        step();
      } catch (err) {
        this.log.warn({ err, step: name }, 'close step failed');
      }
    }
    await this.drain(deadlineMs);
  }

  // Drain flushes acks and naks still in the socket buffer; past the deadline, close hard.
  private async drain(deadlineMs: number): Promise<void> {
    const nc = this.conn.nc;
    if (nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), deadlineMs); });
    try {
      const r = await Promise.race([nc.drain().then(() => 'ok' as const), deadline]);
      if (r === 'late') this.log.warn({ deadlineMs }, 'drain did not finish in time; closing');
    } catch (err) {
      this.log.warn({ err }, 'drain failed; closing');
    } finally {
      clearTimeout(timer);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
  }
}
