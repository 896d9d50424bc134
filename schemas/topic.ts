import { Type, type Static } from '@sinclair/typebox';
import { TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from './names.js';

/** Retention limits of a topic; an omitted limit is unlimited. */
export const TopicRetention = Type.Object(
  {
    maxAgeMs: Type.Optional(Type.Integer({ minimum: 0, description: 'Drop messages older than this; 0 = unlimited. Default 0.' })),
    maxMessages: Type.Optional(Type.Integer({ minimum: -1, description: 'Keep at most this many messages; -1 = unlimited. Default -1.' })),
    maxBytes: Type.Optional(Type.Integer({ minimum: -1, description: 'Keep at most this many bytes; -1 = unlimited. Default -1.' })),
  },
  { additionalProperties: false },
);
export type TopicRetention = Static<typeof TopicRetention>;

/** What a client sends to create a topic. */
export const TopicSpec = Type.Object(
  {
    name: Type.String({ pattern: TOPIC_NAME_PATTERN, maxLength: TOPIC_NAME_MAX }),
    retention: Type.Optional(TopicRetention),
    storage: Type.Optional(Type.Union([Type.Literal('file'), Type.Literal('memory')], { description: 'Default file.' })),
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 5, description: 'Default 1.' })),
    dedupWindowMs: Type.Optional(Type.Integer({ minimum: 0, description: 'Idempotency-Key dedup window. Default 120000 (2 min).' })),
  },
  { additionalProperties: false },
);
export type TopicSpec = Static<typeof TopicSpec>;

/** What may change on an existing topic. */
export const TopicUpdate = Type.Omit(TopicSpec, ['name', 'storage']);
export type TopicUpdate = Static<typeof TopicUpdate>;

/** A topic as reported by the backbone. */
export const TopicInfo = Type.Object({
  name: Type.String(),
  retention: Type.Object({ maxAgeMs: Type.Integer(), maxMessages: Type.Integer(), maxBytes: Type.Integer() }),
  storage: Type.Union([Type.Literal('file'), Type.Literal('memory')]),
  replicas: Type.Integer(),
  dedupWindowMs: Type.Integer(),
  messages: Type.Integer(),
  bytes: Type.Integer(),
  firstSeq: Type.Integer(),
  lastSeq: Type.Integer(),
  firstTime: Type.Union([Type.String(), Type.Null()]),
  lastTime: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});
export type TopicInfo = Static<typeof TopicInfo>;
