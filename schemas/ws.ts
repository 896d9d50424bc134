/**
 * WebSocket channels (docs/ws-protocol.md): a named endpoint `/ws/{name}` with its security, allowed
 * origins and limits. Stored in the config store under `wschan.<name>`, hot-reloaded on every replica.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SIMPLE_NAME_MAX, SIMPLE_NAME_PATTERN } from './names.js';

/** Config-store key prefix of WebSocket channels. */
export const WS_CHANNEL_PREFIX = 'wschan.';

/** Default limits of a WebSocket channel. */
export const WS_LIMIT_DEFAULTS = {
  maxFrameBytes: 65_536,
  maxConnections: 10_000,
  maxConnectionsPerPrincipal: 100,
  maxBufferedBytes: 1_048_576,
} as const;

/** Per-channel limits; every field has a default (WS_LIMIT_DEFAULTS). */
export const WsChannelLimits = Type.Object(
  {
    maxFrameBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16_777_216, description: 'Largest client frame; a larger one closes the socket with 1009. Default 65536.' })),
    maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Connections to this channel on one gateway. Default 10000.' })),
    maxConnectionsPerPrincipal: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Connections of one principal to this channel on one gateway. Default 100.' })),
    maxBufferedBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1_073_741_824, description: 'Unsent bytes a client may lag behind before it is closed with 4408. Default 1048576.' })),
  },
  { additionalProperties: false },
);
export type WsChannelLimits = Static<typeof WsChannelLimits>;

/** The body of `PUT /v1/ws-channels/{name}` (the name comes from the path). */
export const WsChannelInput = Type.Object(
  {
    auth: Type.Optional(Type.Union([Type.Literal('required'), Type.Literal('none')], {
      description: "required: a client must authenticate (header, ?token= or an auth frame); none: it may stay anonymous with no topic rights. Default required.",
    })),
    allowedOrigins: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 512 }), {
      maxItems: 100, description: 'Origin header values allowed; empty means any. Default [].',
    })),
    limits: Type.Optional(WsChannelLimits),
    presenceEvents: Type.Optional(Type.Boolean({
      description: 'Publish join/leave events of this channel\'s clients to the topic ws.presence. Default true.',
    })),
  },
  { additionalProperties: false },
);
export type WsChannelInput = Static<typeof WsChannelInput>;

/** A stored WebSocket channel, defaults filled (also what the admin API shows). */
export const WsChannel = Type.Object({
  name: Type.String({ pattern: SIMPLE_NAME_PATTERN, maxLength: SIMPLE_NAME_MAX }),
  auth: Type.Union([Type.Literal('required'), Type.Literal('none')]),
  allowedOrigins: Type.Array(Type.String()),
  limits: Type.Object({
    maxFrameBytes: Type.Integer(),
    maxConnections: Type.Integer(),
    maxConnectionsPerPrincipal: Type.Integer(),
    maxBufferedBytes: Type.Integer(),
  }),
  presenceEvents: Type.Boolean({ description: 'Join/leave events on the topic ws.presence.' }),
});
export type WsChannel = Static<typeof WsChannel>;

/** The stored form of `input` under `name`, every default filled. */
export function wsChannelOf(name: string, input: WsChannelInput): WsChannel {
  return {
    name,
    auth: input.auth ?? 'required',
    allowedOrigins: input.allowedOrigins ?? [],
    limits: { ...WS_LIMIT_DEFAULTS, ...input.limits },
    presenceEvents: input.presenceEvents ?? true,
  };
}

/** The frame protocol version this server speaks (the `protocol` field of `hello`). */
export const WS_PROTOCOL_VERSION = 1;

/** Close codes of the protocol (docs/ws-protocol.md). */
export const WS_CLOSE = {
  /** Graceful shutdown: reconnect, possibly to another replica. */
  restart: 1012,
  /** A frame larger than the channel's maxFrameBytes (set by `ws` itself). */
  tooLarge: 1009,
  /** A connection limit of the channel was reached after an auth frame. */
  tryAgainLater: 1013,
  protocolError: 4400,
  authFailed: 4401,
  /** The client missed pings, or lagged (see slowConsumer). */
  slowConsumer: 4408,
} as const;

/** Signal prefix of broadcasts: `ws.bcast.<channel>` carries the payload bytes to every gateway replica. */
export const WS_BROADCAST_SIGNAL = 'ws.bcast';
/** Signal prefix of presence queries: every gateway answers `ws.presence.<channel>` with its clients of it. */
export const WS_PRESENCE_SIGNAL = 'ws.presence';
/** Signal header with the broadcast's send time (ISO 8601): the `publishedAt` of the frame on every replica. */
export const WS_PUBLISHED_AT_HEADER = 'Sb-Published-At';
/** Topic of join/leave events (created by a gateway on attach when missing). */
export const WS_PRESENCE_TOPIC = 'ws.presence';
/** Retention of WS_PRESENCE_TOPIC when a gateway creates it: one day (ms). */
export const WS_PRESENCE_MAX_AGE_MS = 86_400_000;
/** ACL pseudo-topic whose `publish` right lets a principal broadcast to channel `name`. */
export const wsBroadcastResource = (name: string): string => `ws.broadcast.${name}`;

/** One connected client as presence reports it. */
export const WsPresenceClient = Type.Object({
  id: Type.String(),
  principal: Type.Union([Type.String(), Type.Null()], { description: 'null while an auth-required client has not authenticated yet.' }),
  since: Type.String({ description: 'ISO 8601 connect time.' }),
  remoteAddress: Type.String(),
  gateway: Type.String({ description: 'The gateway replica the client is connected to.' }),
});
export type WsPresenceClient = Static<typeof WsPresenceClient>;

/** The answer of `GET /v1/ws-channels/{name}/presence`. */
export const WsPresence = Type.Object({ channel: Type.String(), clients: Type.Array(WsPresenceClient) });
export type WsPresence = Static<typeof WsPresence>;

/** The answer of `POST /v1/ws-channels/{name}/broadcast` (202: sent, delivery is at most once). */
export const WsBroadcastAccepted = Type.Object({ id: Type.String(), channel: Type.String() });
export type WsBroadcastAccepted = Static<typeof WsBroadcastAccepted>;

/** A join/leave event on WS_PRESENCE_TOPIC (JSON). `code`: the close code, on leave only. */
export interface WsPresenceEvent {
  event: 'join' | 'leave';
  channel: string;
  clientId: string;
  principal: string;
  since: string;
  remoteAddress: string;
  gateway: string;
  at: string;
  code?: number;
}
