export { ERROR_CODES, SbError, isSbError, toSbError, errors, type ErrorCode, type WireError, type SbErrorOptions } from './errors.js';
export { createLogger, REDACT_PATHS, type Logger } from './log.js';
export { createMetrics, type Metrics } from './metrics.js';
export { SUBJECT_PREFIX, topicSubject, validateTopicName, validateTopicFilter, topicMatches, filterCovers } from './subjects.js';
export { createBroker, type BrokerOptions } from './broker.js';
export { DEFAULT_LEASE_TTL_MS } from './leases.js';
export { topicStreamName, TOPIC_STREAM_PREFIX } from './topics.js';
export { SUBSCRIPTION_DEFAULTS, MIN_NAK_DELAY_MS, nakDelayMs, type SubscriptionRecord } from './subscription-record.js';
export type {
  Broker, BackboneStatus, Signal, SignalBus, SignalHandle, TappedMessage, PublishRequest, DeliveredMessage, SettleResult, TopicManager, SubscriptionManager, ConfigStore, ConfigChange,
  Leases, Lease,
} from './types.js';
export { jobPort, jobRetryDelayMs, mustReadRecord, FRESH_DELIVERY_MS, EPOCH_KEY_PREFIX, HANDBACK_DELAY_MS, type JobPort, type JobFeedHandle, type JobDelivery, type JobOutcome, type JobDeadLetterReason } from './jobs-port.js';
export { JOB_HEADERS, RESULT_SUBJECT_PREFIX, jobSubject, jobConsumerName, idempotentJobId, validateJobType } from './jobs-names.js';
export type { JobClient, JobSubmit, JobAccepted, JobStreamOptions, JobStreamReader } from './types.js';
export { broadcast, broadcastBytes, type BroadcastOptions } from './ws-broadcast.js';
