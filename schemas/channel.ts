import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN, TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from './names.js';

/** An HTTP path a channel may own: `/`-separated segments of URL-safe characters, no query, no `..`. */
export const CHANNEL_PATH_PATTERN = '^(/[A-Za-z0-9._~-]+)+$';

/** A REST channel: an HTTP path that publishes to a topic (Zato's "REST channel"). Stored under `channel.rest.<name>`. */
export const RestChannel = Type.Object(
  {
    name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }),
    path: Type.String({ pattern: CHANNEL_PATH_PATTERN, maxLength: 512, description: 'e.g. `/orders`; not under /v1/, /healthz, /readyz, /metrics.' }),
    topic: Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX }),
    methods: Type.Optional(Type.Array(Type.Union([Type.Literal('POST'), Type.Literal('PUT')]), { minItems: 1, uniqueItems: true, default: ['POST'], description: "Default ['POST']." })),
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Default true.' })),
  },
  { additionalProperties: false },
);
export type RestChannel = Static<typeof RestChannel>;

/** Config-store key prefix of REST channels. */
export const REST_CHANNEL_PREFIX = 'channel.rest.';
