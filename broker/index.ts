export { ERROR_CODES, SbError, isSbError, toSbError, errors, type ErrorCode, type WireError, type SbErrorOptions } from './errors.js';
export { createLogger, REDACT_PATHS, type Logger } from './log.js';
export { createMetrics, type Metrics } from './metrics.js';
export { SUBJECT_PREFIX, topicSubject, validateTopicName, validateTopicFilter, topicMatches, filterCovers } from './subjects.js';
export type {
  Broker, BackboneStatus, PublishRequest, DeliveredMessage, SettleResult, TopicManager, SubscriptionManager, ConfigStore, ConfigChange,
} from './types.js';
