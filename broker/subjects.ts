/**
 * Topic names, filters and their NATS subjects. Wildcards follow NATS: `*` matches one token,
 * `>` (last token only) matches one or more.
 */
import { TOPIC_FILTER_PATTERN, TOPIC_NAME_MAX, TOPIC_NAME_PATTERN } from '../schemas/names.js';
import { errors } from './errors.js';

/** Every Switchboard subject starts with this. */
export const SUBJECT_PREFIX = 'sb';
const topicRe = new RegExp(TOPIC_NAME_PATTERN);
const filterRe = new RegExp(TOPIC_FILTER_PATTERN);

/** The subject a topic's messages are published on. */
export function topicSubject(topic: string): string {
  return `${SUBJECT_PREFIX}.topic.${topic}`;
}

/** Throws SB_ERR_INVALID_TOPIC_NAME unless `name` is a concrete topic name. */
export function validateTopicName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw errors.invalidTopicName(String(name), 'empty');
  if (name.length > TOPIC_NAME_MAX) throw errors.invalidTopicName(name, `longer than ${TOPIC_NAME_MAX} characters`);
  if (/[*>]/.test(name)) throw errors.invalidTopicName(name, 'wildcards are allowed only in subscription filters');
  if (!topicRe.test(name)) throw errors.invalidTopicName(name, 'use dot-separated tokens of [A-Za-z0-9_-] with no empty token');
}

/** Throws SB_ERR_INVALID_TOPIC_NAME unless `filter` is a topic name or a wildcard pattern. */
export function validateTopicFilter(filter: string): void {
  if (typeof filter !== 'string' || filter.length === 0) throw errors.invalidTopicName(String(filter), 'empty');
  if (filter.length > TOPIC_NAME_MAX) throw errors.invalidTopicName(filter, `longer than ${TOPIC_NAME_MAX} characters`);
  if (!filterRe.test(filter)) throw errors.invalidTopicName(filter, 'use dot-separated tokens of [A-Za-z0-9_-], `*`, or a final `>`');
}

/** True when `filter` (a name or a wildcard pattern) matches the concrete topic `topic`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('.');
  const t = topic.split('.');
  for (let i = 0; i < f.length; i++) {
    const ft = f[i];
    if (ft === '>') return t.length > i;
    if (i >= t.length) return false;
    if (ft !== '*' && ft !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * True when every topic `filter` can match is also matched by `pattern` (used by ACLs: a user allowed
 * `orders.>` may subscribe to `orders.*`, but one allowed `orders.eu` may not subscribe to `orders.*`).
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('.');
  const f = filter.split('.');
  for (let i = 0; i < p.length; i++) {
    const pt = p[i];
    const ft = f[i];
    if (pt === '>') return f.length > i;
    if (ft === undefined) return false;
    if (ft === '>') return false; // `>` in the filter reaches past anything but a `>` in the pattern
    if (pt === '*') continue;
    if (ft === '*' || pt !== ft) return false;
  }
  return p.length === f.length;
}
