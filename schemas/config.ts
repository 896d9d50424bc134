import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Process configuration (env `SB_*`, see docs/configuration.md). Every field has a default. */
export const ProcessConfig = Type.Object(
  {
    nats: Type.Object(
      {
        url: Type.String({ default: 'nats://127.0.0.1:4222', description: 'SB_NATS_URL; comma-separated for a cluster.' }),
        name: Type.String({ default: 'switchboard' }),
        token: Type.Optional(Type.String({ description: 'SB_NATS_TOKEN (secret).' })),
        user: Type.Optional(Type.String()),
        pass: Type.Optional(Type.String({ description: 'SB_NATS_PASS (secret).' })),
        publishTimeoutMs: Type.Integer({ default: 5000, description: 'How long to wait for a PubAck before 503.' }),
        configBucket: Type.String({ default: 'sb_config' }),
        leasesBucket: Type.String({ default: 'sb_leases', description: 'SB_LEASES_BUCKET: KV bucket of single-owner leases (e.g. which replica runs an outgoing WebSocket connection).' }),
        leaseTtlMs: Type.Integer({ minimum: 500, default: 10_000, description: 'Lease TTL (ms), applied when the leases bucket is created: a dead holder is replaced after at most this long.' }),
      },
      { additionalProperties: false },
    ),
    http: Type.Object(
      {
        host: Type.String({ default: '0.0.0.0' }),
        port: Type.Integer({ default: 8080, description: 'SB_HTTP_PORT' }),
        bodyLimitBytes: Type.Integer({ default: 1_048_576, description: 'SB_HTTP_BODY_LIMIT; 413 above it.' }),
        requestTimeoutMs: Type.Integer({ default: 30_000 }),
        maxPullMessages: Type.Integer({ default: 256, description: 'Upper bound of ?max= on a pull.' }),
        maxPullWaitMs: Type.Integer({ default: 30_000, description: 'Upper bound of ?waitMs= on a pull.' }),
        batchMax: Type.Integer({ default: 1000, description: 'Most messages in one batch publish.' }),
      },
      { additionalProperties: false },
    ),
    auth: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'SB_AUTH=off turns auth off (local dev only).' }),
        adminPassword: Type.Optional(Type.String({ description: 'SB_ADMIN_PASSWORD (secret); used only at first start.' })),
        secretExport: Type.Boolean({ default: false, description: 'SB_SECRET_EXPORT=on lets admins read stored secrets re-sealed under a one-time key (config export --secrets encrypt).' }),
      },
      { additionalProperties: false },
    ),
    log: Type.Object({ level: Type.String({ default: 'info', description: 'SB_LOG_LEVEL' }) }, { additionalProperties: false }),
    /** The job pipeline (docs/jobs.md). Every process that submits or runs jobs must agree on these names. */
    jobs: Type.Object(
      {
        stream: Type.String({ default: 'SB_JOBS', description: 'SB_JOBS_STREAM: work-queue stream holding `sb.job.>`.' }),
        stateBucket: Type.String({ default: 'sb_jobstate', description: 'SB_JOBS_STATE_BUCKET: KV bucket of job records before they are final (queued, running).' }),
        resultTtlMs: Type.Integer({ minimum: 1000, default: 86_400_000, description: 'SB_JOBS_RESULT_TTL_MS: how long job records are kept (24 h).' }),
        workersBucket: Type.String({ default: 'sb_workers', description: 'SB_JOBS_WORKERS_BUCKET: KV bucket of the worker registry.' }),
        resultsTopic: Type.String({ default: 'jobs.results', description: 'Topic whose stream holds the final job records: one message per result, on sb.jobres.<id>.' }),
        deadTopic: Type.String({ default: 'jobs.dead', description: 'Dead-letter topic of jobs (poison input, retries used up).' }),
        defaultTimeoutMs: Type.Integer({ minimum: 1, default: 300_000, description: 'SB_JOBS_DEFAULT_TIMEOUT_MS: job deadline when the submit sets none (5 min).' }),
        dedupWindowMs: Type.Integer({ minimum: 0, default: 120_000, description: 'Idempotency window of the jobs stream (2 min), applied when the stream is created.' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type ProcessConfig = Static<typeof ProcessConfig>;

/** Deep partial, for overrides. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/**
 * Builds a complete, frozen ProcessConfig from defaults plus `overrides` (tests, the CLI's env reader).
 * Throws an Error listing the first schema violation.
 */
export function resolveProcessConfig(overrides: DeepPartial<ProcessConfig> = {}): Readonly<ProcessConfig> {
  const base = { nats: {}, http: {}, auth: {}, log: {}, jobs: {} } as Record<string, Record<string, unknown>>;
  for (const [section, values] of Object.entries(overrides)) {
    base[section] = { ...(values as Record<string, unknown>) };
  }
  const filled = Value.Default(ProcessConfig, Value.Clone(base));
  const first = Value.Errors(ProcessConfig, filled).First();
  if (first) throw new Error(`invalid configuration at ${first.path || '/'}: ${first.message}`);
  return deepFreeze(filled as ProcessConfig);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
