/**
 * Outgoing WebSocket connections (Zato 3.1 "outgoing WebSocket connections", docs/ws-outgoing.md):
 * Switchboard dials an external WebSocket server, publishes every frame it receives into a topic, and
 * sends the messages of a durable subscription as frames. Stored under `wsout.<name>` in the config
 * store; header values (credentials) are sealed there and never shown back.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN, TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from './names.js';
import { SealedSecretSchema } from './winrm.js';

/** Config-store key prefix of outgoing WebSocket connections: `wsout.<name>`; also their lease name. */
export const WS_OUTGOING_PREFIX = 'wsout.';
/** Signal name prefix a replica answers with its status of one connection: `wsout.status.<name>`. */
export const WS_OUTGOING_STATUS_SIGNAL = 'wsout.status.';
/** Most headers on one connection. */
export const WS_OUTGOING_HEADERS_MAX = 32;

/** Defaults of every optional field. */
export const WS_OUTGOING_DEFAULTS = {
  reconnect: { initialMs: 500, maxMs: 30_000 },
  maxInFlight: 16,
  maxFrameBytes: 1_048_576,
  handshakeTimeoutMs: 10_000,
  enabled: true,
} as const;

const Name = Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX });
// No credentials in the URL (it is shown and logged): they go in `headers`, which are sealed.
const Url = Type.String({ pattern: '^wss?://[^\\s/?#@]+(/[^\\s#]*)?$', maxLength: 2048, description: '`ws://` or `wss://` URL, no `user:pass@`.' });
const HeaderName = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,128}$';

const Inbound = Type.Object(
  { topic: Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX, description: 'Every frame received is published here.' }) },
  { additionalProperties: false },
);
const Outbound = Type.Object(
  {
    subscription: Name,
    maxInFlight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, default: WS_OUTGOING_DEFAULTS.maxInFlight, description: 'Messages sent and not yet acked; default 16.' })),
  },
  { additionalProperties: false },
);
const Reconnect = Type.Object(
  {
    initialMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000, default: 500, description: 'First backoff delay, ms; default 500.' })),
    maxMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000, default: 30_000, description: 'Backoff cap, ms; default 30000.' })),
  },
  { additionalProperties: false },
);

const Common = {
  url: Url,
  inbound: Type.Optional(Inbound),
  outbound: Type.Optional(Outbound),
  reconnect: Type.Optional(Reconnect),
  maxFrameBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 8_388_608, default: WS_OUTGOING_DEFAULTS.maxFrameBytes, description: 'Largest frame accepted from the server; larger closes with 1009. Default 1 MiB.' })),
  handshakeTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000, default: WS_OUTGOING_DEFAULTS.handshakeTimeoutMs, description: 'Default 10000.' })),
  enabled: Type.Optional(Type.Boolean({ default: true, description: 'false: defined but not connected. Default true.' })),
};

/** Body of `PUT /v1/ws-outgoing/{name}`: header values in clear (sealed before storing); `headers` left out on an update keeps the stored ones. */
export const WsOutgoingPut = Type.Object(
  {
    ...Common,
    name: Type.Optional(Name),
    headers: Type.Optional(Type.Record(Type.String({ pattern: HeaderName }), Type.String({ pattern: '^[^\\r\\n\\u0000]*$', maxLength: 8192 }), {
      maxProperties: WS_OUTGOING_HEADERS_MAX, additionalProperties: false, description: 'Sent with the upgrade request (e.g. Authorization); stored sealed, never returned.',
    })),
  },
  { additionalProperties: false },
);
export type WsOutgoingPut = Static<typeof WsOutgoingPut>;

/** As stored under `wsout.<name>`: every default filled in, header values sealed (AAD `wsout.<name>/headers.<lower-case name>`). */
export const WsOutgoingStored = Type.Object(
  {
    name: Name,
    url: Url,
    headers: Type.Record(Type.String(), SealedSecretSchema),
    inbound: Type.Optional(Inbound),
    outbound: Type.Optional(Type.Object({ subscription: Name, maxInFlight: Type.Integer() }, { additionalProperties: false })),
    reconnect: Type.Object({ initialMs: Type.Integer(), maxMs: Type.Integer() }, { additionalProperties: false }),
    maxFrameBytes: Type.Integer(),
    handshakeTimeoutMs: Type.Integer(),
    enabled: Type.Boolean(),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);
export type WsOutgoingStored = Static<typeof WsOutgoingStored>;

/** Connection state of the replica reporting it. */
export const WsOutgoingState = Type.Union(['connecting', 'open', 'backoff', 'stopped', 'standby'].map((s) => Type.Literal(s)));
export type WsOutgoingState = 'connecting' | 'open' | 'backoff' | 'stopped' | 'standby';

/** Live status and counters of one connection on one replica (counters since that replica started it). */
export const WsOutgoingStatus = Type.Object(
  {
    replica: Type.String({ description: 'Lease holder id of the replica reporting.' }),
    state: WsOutgoingState,
    holder: Type.Optional(Type.String({ description: 'The replica holding the lease (running the connection).' })),
    received: Type.Integer({ description: 'Frames received from the server.' }),
    published: Type.Integer({ description: 'Of those, stored in the inbound topic.' }),
    sent: Type.Integer({ description: 'Subscription messages written to the socket.' }),
    acked: Type.Integer({ description: 'Of those, acked on the subscription.' }),
    reconnects: Type.Integer(),
    lastError: Type.Optional(Type.String({ description: 'Code of the last failure (SB_ERR_*, an errno like ECONNREFUSED, `HTTP_401`, `CLOSE_1006`).' })),
  },
  { additionalProperties: false },
);
export type WsOutgoingStatus = Static<typeof WsOutgoingStatus>;

/** The admin view: the definition without secrets (header names only), plus live status when asked for one. */
export const WsOutgoingView = Type.Object(
  {
    ...Type.Omit(WsOutgoingStored, ['headers']).properties,
    headerNames: Type.Array(Type.String()),
    status: Type.Optional(WsOutgoingStatus),
    replicas: Type.Optional(Type.Array(WsOutgoingStatus)),
  },
  { additionalProperties: false },
);
export type WsOutgoingView = Static<typeof WsOutgoingView>;

/** The stored form of `body` without its headers (the route seals them). */
export function wsOutgoingOf(name: string, body: WsOutgoingPut): Omit<WsOutgoingStored, 'headers'> {
  const out: Omit<WsOutgoingStored, 'headers'> = {
    name,
    url: body.url,
    reconnect: { ...WS_OUTGOING_DEFAULTS.reconnect, ...body.reconnect },
    maxFrameBytes: body.maxFrameBytes ?? WS_OUTGOING_DEFAULTS.maxFrameBytes,
    handshakeTimeoutMs: body.handshakeTimeoutMs ?? WS_OUTGOING_DEFAULTS.handshakeTimeoutMs,
    enabled: body.enabled ?? WS_OUTGOING_DEFAULTS.enabled,
    updatedAt: new Date().toISOString(),
  };
  if (body.inbound) out.inbound = { topic: body.inbound.topic };
  if (body.outbound) out.outbound = { subscription: body.outbound.subscription, maxInFlight: body.outbound.maxInFlight ?? WS_OUTGOING_DEFAULTS.maxInFlight };
  return out;
}
