/**
 * `switchboard topics create|list|info|delete` and `switchboard subscriptions create|list|info|delete`
 * over `/v1/topics` and `/v1/subscriptions` (docs/rest-api.md). Tables for humans, `--json` prints the
 * API's answer as it is.
 */
import type { SubscriptionInfo, SubscriptionSpec, TopicInfo, TopicSpec } from '../schemas/index.js';
import { errors } from '../broker/errors.js';
import type { CommandSpec, OptionSpec, ParsedArgs } from './command-spec.js';
import { JSON_OPTION, type Column } from './output.js';
import { arg, bytes, clientOf, defined, deleteSpec, duration, int, limit, list, listSpec, oneOf, pathOf, printView, showSpec, str } from './ops-common.js';

const TOPIC_ARG = { name: 'TOPIC', description: 'topic name (dot-separated tokens of A-Z a-z 0-9 _ -)', complete: { names: 'topics' } } as const;
const SUB_ARG = { name: 'SUBSCRIPTION', description: 'subscription name', complete: { names: 'subscriptions' } } as const;

const topicColumns: ReadonlyArray<Column<TopicInfo>> = [
  { header: 'name', get: (t) => t.name },
  { header: 'messages', get: (t) => t.messages, right: true },
  { header: 'size', get: (t) => bytes(t.bytes), right: true },
  { header: 'storage', get: (t) => t.storage },
  { header: 'replicas', get: (t) => t.replicas, right: true },
  { header: 'max-age', get: (t) => duration(t.retention.maxAgeMs) },
  { header: 'max-messages', get: (t) => limit(t.retention.maxMessages) },
  { header: 'max-size', get: (t) => bytes(t.retention.maxBytes) },
  { header: 'dedup', get: (t) => duration(t.dedupWindowMs) },
];

const topicOptions: readonly OptionSpec[] = [
  { name: 'max-age', type: 'string', value: 'MS', description: 'drop messages older than this, ms (0 = unlimited)', default: '0' },
  { name: 'max-messages', type: 'string', value: 'N', description: 'keep at most N messages (-1 = unlimited)', default: '-1' },
  { name: 'max-bytes', type: 'string', value: 'N', description: 'keep at most N bytes (-1 = unlimited)', default: '-1' },
  { name: 'storage', type: 'string', value: 'KIND', description: 'file or memory', default: 'file', complete: { words: ['file', 'memory'] } },
  { name: 'replicas', type: 'string', value: 'N', description: 'copies in a NATS cluster (1-5)', default: '1' },
  { name: 'dedup-window', type: 'string', value: 'MS', description: 'Idempotency-Key dedup window, ms', default: '120000' },
  JSON_OPTION,
];

function topicSpec(args: ParsedArgs): TopicSpec {
  const retention = defined({ maxAgeMs: int(args, 'max-age'), maxMessages: int(args, 'max-messages', -1), maxBytes: int(args, 'max-bytes', -1) });
  return defined({
    name: arg(args, 0, 'TOPIC'),
    retention: Object.keys(retention).length > 0 ? retention : undefined,
    storage: oneOf(args, 'storage', ['file', 'memory'] as const),
    replicas: int(args, 'replicas', 1),
    dedupWindowMs: int(args, 'dedup-window'),
  }) as TopicSpec;
}

/** The flat, human view of one topic for `topics info`. */
function topicRecord(t: TopicInfo): Record<string, unknown> {
  return {
    name: t.name, messages: t.messages, size: bytes(t.bytes), storage: t.storage, replicas: t.replicas,
    'max-age': duration(t.retention.maxAgeMs), 'max-messages': limit(t.retention.maxMessages), 'max-size': bytes(t.retention.maxBytes),
    'dedup-window': duration(t.dedupWindowMs), 'first-seq': t.firstSeq, 'last-seq': t.lastSeq,
    'first-time': t.firstTime, 'last-time': t.lastTime, created: t.createdAt,
  };
}

/** `switchboard topics …`. */
export const topicsCommand: CommandSpec = {
  name: 'topics',
  summary: 'create, list, inspect and delete topics (admin)',
  description: 'Topics are JetStream streams with their own retention. Every sub-command needs an admin (manage) principal.',
  subcommands: [
    {
      name: 'create',
      summary: 'create a topic with retention limits',
      description: 'Creates TOPIC and prints it. A limit left out is unlimited; SB_ERR_TOPIC_EXISTS if it exists.',
      args: [TOPIC_ARG],
      options: topicOptions,
      async run(args, io) {
        printView(io, args, (await clientOf(io).createTopic(topicSpec(args))) as TopicInfo, topicRecord);
      },
    },
    listSpec({
      summary: 'list topics with their size and limits',
      description: 'One row per topic: messages stored, size, storage, replicas, retention limits and dedup window.',
      fetch: (io) => clientOf(io).call('GET', '/v1/topics'),
      rows: (r: { topics: TopicInfo[] }) => r.topics,
      columns: topicColumns,
    }),
    showSpec({
      name: 'info',
      summary: 'show one topic',
      description: 'Prints the topic\'s limits and counters (first/last sequence and time). SB_ERR_TOPIC_NOT_FOUND if it does not exist.',
      arg: TOPIC_ARG,
      fetch: (io, name) => clientOf(io).call('GET', pathOf('topics', name)),
      view: topicRecord,
    }),
    deleteSpec({
      summary: 'delete a topic and its messages',
      description: 'Deletes TOPIC and every message in it; subscriptions reading it see no more messages. SB_ERR_TOPIC_NOT_FOUND if it does not exist.',
      arg: TOPIC_ARG,
      kind: 'topic',
      remove: (io, name) => clientOf(io).call('DELETE', pathOf('topics', name)),
    }),
  ],
};

const subColumns: ReadonlyArray<Column<SubscriptionInfo>> = [
  { header: 'name', get: (s) => s.name },
  { header: 'filter', get: (s) => s.topic },
  { header: 'pending', get: (s) => s.pending, right: true },
  { header: 'unacked', get: (s) => s.ackPending, right: true },
  { header: 'redelivered', get: (s) => s.redelivered, right: true },
  { header: 'ack-wait', get: (s) => duration(s.ackWaitMs) },
  { header: 'max-deliver', get: (s) => s.maxDeliver, right: true },
  { header: 'dead-letter', get: (s) => s.deadLetterTopic },
];

function deliverText(d: SubscriptionInfo['deliver']): string {
  if (typeof d === 'string') return d;
  return 'fromSequence' in d ? `from sequence ${d.fromSequence}` : `from ${d.fromTime}`;
}

/** The flat, human view of one subscription for `subscriptions info`. */
function subRecord(s: SubscriptionInfo): Record<string, unknown> {
  return {
    name: s.name, filter: s.topic, topics: s.topics.join(', '), deliver: deliverText(s.deliver),
    'ack-wait': duration(s.ackWaitMs), 'max-deliver': s.maxDeliver, backoff: s.backoffMs.map(duration).join(', '),
    'dead-letter': s.deadLetterTopic, pending: s.pending, unacked: s.ackPending, redelivered: s.redelivered, created: s.createdAt,
  };
}

function subscriptionSpec(args: ParsedArgs): SubscriptionSpec {
  const deliver = str(args, 'deliver');
  let policy: SubscriptionSpec['deliver'];
  if (deliver === undefined || deliver === 'new' || deliver === 'all') policy = deliver;
  else if (/^\d+$/.test(deliver)) policy = { fromSequence: Number(deliver) };
  else if (!Number.isNaN(Date.parse(deliver))) policy = { fromTime: new Date(deliver).toISOString() };
  else throw errors.validation(`--deliver must be new, all, a sequence number or an ISO time, got ${JSON.stringify(deliver)}`, { option: 'deliver' });
  const backoff = list(args, 'backoff');
  return defined({
    name: arg(args, 0, 'SUBSCRIPTION'),
    topic: arg(args, 1, 'FILTER'),
    deliver: policy,
    ackWaitMs: int(args, 'ack-wait', 100),
    maxDeliver: int(args, 'max-deliver', 1),
    backoffMs: backoff?.map((b) => {
      const n = Number(b);
      if (!Number.isInteger(n) || n < 0) throw errors.validation(`--backoff takes ms values separated by commas, got ${JSON.stringify(b)}`, { option: 'backoff' });
      return n;
    }),
    deadLetterTopic: str(args, 'dead-letter'),
  }) as SubscriptionSpec;
}

/** `switchboard subscriptions …`. */
export const subscriptionsCommand: CommandSpec = {
  name: 'subscriptions',
  summary: 'create, list, inspect and delete durable subscriptions',
  description: 'A durable subscription reads the topics matching its filter at least once; `switchboard sub NAME` pulls from it. '
    + 'Creating one needs subscribe on the filter; admins see every subscription, others those they may read.',
  subcommands: [
    {
      name: 'create',
      summary: 'create a durable subscription on a topic or a filter',
      description: 'FILTER is a topic name or a pattern (`*` one token, `>` the rest). Messages not acked within the ack wait are '
        + 'redelivered, up to --max-deliver times; then they go to the dead-letter topic (if any). SB_ERR_SUBSCRIPTION_EXISTS if NAME exists.',
      args: [{ name: 'NAME', description: 'subscription name', complete: 'none' }, { name: 'FILTER', description: 'topic or pattern to read', complete: { names: 'topics' } }],
      options: [
        { name: 'deliver', type: 'string', value: 'FROM', description: 'where to start: new, all, a sequence number, or an ISO time', default: 'new', complete: { words: ['new', 'all'] } },
        { name: 'ack-wait', type: 'string', value: 'MS', description: 'redeliver when not acked within this, ms', default: '30000' },
        { name: 'max-deliver', type: 'string', value: 'N', description: 'deliveries before dead-lettering', default: '5' },
        { name: 'backoff', type: 'string', value: 'MS,…', description: 'delay before the n-th redelivery, ms (the last repeats)', default: 'the ack wait' },
        { name: 'dead-letter', type: 'string', value: 'TOPIC', description: 'topic that receives exhausted messages', default: 'none', complete: { names: 'topics' } },
        JSON_OPTION,
      ],
      async run(args, io) {
        printView(io, args, (await clientOf(io).createSubscription(subscriptionSpec(args))) as SubscriptionInfo, subRecord);
      },
    },
    listSpec({
      summary: 'list subscriptions with their backlog',
      description: 'One row per subscription: filter, messages not yet delivered, delivered but not acked, redelivered, ack wait, max deliveries, dead-letter topic.',
      fetch: (io) => clientOf(io).call('GET', '/v1/subscriptions'),
      rows: (r: { subscriptions: SubscriptionInfo[] }) => r.subscriptions,
      columns: subColumns,
    }),
    showSpec({
      name: 'info',
      summary: 'show one subscription',
      description: 'Prints the subscription\'s settings, the topics it reads now, and its counters. SB_ERR_SUBSCRIPTION_NOT_FOUND if it does not exist.',
      arg: SUB_ARG,
      fetch: (io, name) => clientOf(io).call('GET', pathOf('subscriptions', name)),
      view: subRecord,
    }),
    deleteSpec({
      summary: 'delete a subscription',
      description: 'Deletes the subscription and its delivery state; the topic\'s messages stay. SB_ERR_SUBSCRIPTION_NOT_FOUND if it does not exist.',
      arg: SUB_ARG,
      kind: 'subscription',
      remove: (io, name) => clientOf(io).call('DELETE', pathOf('subscriptions', name)),
    }),
  ],
};
