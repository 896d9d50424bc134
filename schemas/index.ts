export { TOPIC_NAME_PATTERN, TOPIC_FILTER_PATTERN, TOPIC_NAME_MAX, SIMPLE_NAME_PATTERN, SIMPLE_NAME_MAX, TOPIC_TOKEN } from './names.js';
export { TopicSpec, TopicUpdate, TopicInfo, TopicRetention } from './topic.js';
export { SubscriptionSpec, SubscriptionInfo, DeliverPolicy } from './subscription.js';
export { PublishResult, DeliveredMessageJson, HEADERS, type DeadLetterReason } from './message.js';
export { ProcessConfig, resolveProcessConfig, type DeepPartial } from './config.js';
export { RestChannel, REST_CHANNEL_PREFIX, CHANNEL_PATH_PATTERN } from './channel.js';
export {
  UserAcl, PasswordHash, StoredApiKey, StoredUser, UserCreate, UserUpdate, UserView, ApiKeyCreate, ApiKeyCreated,
  PASSWORD_MAX, API_KEYS_MAX, ACL_PATTERNS_MAX,
} from './user.js';
export {
  WINRM_EXEC_TYPE, WINRM_HOST_PREFIX, WINRM_ACL_PREFIX, WinrmExecInput, WinrmExecOutput, WinrmHostStored, WinrmHostPut, WinrmHostView,
  WinrmAcl, WinrmAclRule, WinrmAclPut,
} from './winrm.js';
