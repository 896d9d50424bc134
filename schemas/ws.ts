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
});
export type WsChannel = Static<typeof WsChannel>;

/** The stored form of `input` under `name`, every default filled. */
export function wsChannelOf(name: string, input: WsChannelInput): WsChannel {
  return {
    name,
    auth: input.auth ?? 'required',
    allowedOrigins: input.allowedOrigins ?? [],
    limits: { ...WS_LIMIT_DEFAULTS, ...input.limits },
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
