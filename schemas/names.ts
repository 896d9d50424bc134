/** Name rules shared by every schema and validator. */

/** One topic token: letters, digits, `_` and `-`. */
export const TOPIC_TOKEN = '[A-Za-z0-9_-]+';
/** A concrete topic: dot-separated tokens, no wildcards. */
export const TOPIC_NAME_PATTERN = `^${TOPIC_TOKEN}(\\.${TOPIC_TOKEN})*$`;
/** A subscription filter: tokens, `*` for one token, `>` for the rest (last token only). */
export const TOPIC_FILTER_PATTERN = `^(${TOPIC_TOKEN}|\\*)(\\.(${TOPIC_TOKEN}|\\*))*(\\.>)?$|^>$`;
/** Longest topic name, in characters. */
export const TOPIC_NAME_MAX = 200;
/** Subscription, channel and user names: one token. */
export const SIMPLE_NAME_PATTERN = '^[A-Za-z0-9_-]+$';
/** Longest subscription, channel or user name. */
export const SIMPLE_NAME_MAX = 64;
