import { Type, type Static } from '@sinclair/typebox';
import { JobType } from './job.js';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN, TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from './names.js';

/** An HTTP path a channel may own: `/`-separated segments of URL-safe characters, no query, no `..`. */
export const CHANNEL_PATH_PATTERN = '^(/[A-Za-z0-9._~-]+)+$';

/** Longest synchronous wait of a job call, ms (5 min): `?timeoutMs=` and a job channel's `timeoutMs`. */
export const JOB_WAIT_MAX_MS = 300_000;
/** Default synchronous wait of a job call, ms. */
export const JOB_WAIT_DEFAULT_MS = 30_000;
/** Longest job deadline a caller may ask for (`jobTimeoutMs`), ms (24 h). */
export const JOB_TIMEOUT_MAX_MS = 86_400_000;

/** What a job channel runs: the job type, default input fields, and how the caller waits. */
export const ChannelJob = Type.Object(
  {
    type: JobType,
    input: Type.Optional(Type.Record(Type.String(), Type.Unknown(), {
      default: {}, description: 'Default input fields; the request body (a JSON object) is merged over them. Default {}.',
    })),
    mode: Type.Optional(Type.Union([Type.Literal('sync'), Type.Literal('async')], {
      default: 'sync', description: "sync: 200 with the job's output; async: 202 with the job id. Default sync.",
    })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: JOB_WAIT_MAX_MS, default: JOB_WAIT_DEFAULT_MS, description: 'How long a sync call waits, ms. Default 30000.' })),
    jobTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: JOB_TIMEOUT_MAX_MS, description: "The job's deadline, ms. Default: the broker's jobs.defaultTimeoutMs (5 min)." })),
  },
  { additionalProperties: false },
);
export type ChannelJob = Static<typeof ChannelJob>;

/**
 * A REST channel: an HTTP path that publishes to a topic or runs a job (Zato's "REST channel").
 * Exactly one of `topic` and `job`. Stored under `channel.rest.<name>`.
 */
export const RestChannel = Type.Object(
  {
    name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }),
    path: Type.String({ pattern: CHANNEL_PATH_PATTERN, maxLength: 512, description: 'e.g. `/orders`; not under /v1/, /healthz, /readyz, /metrics.' }),
    topic: Type.Optional(Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX, description: 'Publish the body to this topic. Exactly one of topic and job.' })),
    job: Type.Optional(ChannelJob),
    methods: Type.Optional(Type.Array(Type.Union([Type.Literal('POST'), Type.Literal('PUT')]), { minItems: 1, uniqueItems: true, default: ['POST'], description: "Default ['POST']." })),
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Default true.' })),
  },
  { additionalProperties: false },
);
export type RestChannel = Static<typeof RestChannel>;

/** A channel as the admin API shows it: defaults filled, and exactly one of `topic` and `job`. */
export const RestChannelView = Type.Object({
  name: Type.String(),
  path: Type.String(),
  topic: Type.Optional(Type.String()),
  job: Type.Optional(Type.Object({
    type: Type.String(),
    input: Type.Record(Type.String(), Type.Unknown()),
    mode: Type.Union([Type.Literal('sync'), Type.Literal('async')]),
    timeoutMs: Type.Integer(),
    jobTimeoutMs: Type.Optional(Type.Integer()),
  })),
  methods: Type.Array(Type.String()),
  enabled: Type.Boolean(),
});
export type RestChannelView = Static<typeof RestChannelView>;

/** Config-store key prefix of REST channels. */
export const REST_CHANNEL_PREFIX = 'channel.rest.';
