/**
 * Topics are JetStream streams, one per topic, each capturing exactly one subject (`sb.topic.<name>`,
 * no `>`), so retention is per topic and a publish to a missing topic gets "no responders" at once.
 */
import { createHash } from 'node:crypto';
import type { JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import type { TopicInfo, TopicSpec, TopicUpdate } from '../schemas/topic.js';
import type { TopicManager } from './types.js';
import { errors } from './errors.js';
import { SUBJECT_PREFIX, topicMatches, topicSubject, validateTopicFilter, validateTopicName } from './subjects.js';
import { JS_ERR, jsErrCode, toBackboneError } from './js-errors.js';

/** Every topic stream's name starts with this. */
export const TOPIC_STREAM_PREFIX = 'SBT_';
const DEFAULT_DEDUP_MS = 120_000;
const MS = 1_000_000; // nanoseconds per millisecond
const TOPIC_SUBJECT_PREFIX = `${SUBJECT_PREFIX}.topic.`;

/** The stream of topic `name`: deterministic, unique (hash), and legal (no dots). */
export function topicStreamName(name: string): string {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${TOPIC_STREAM_PREFIX}${name.replace(/\./g, '_')}_${hash}`;
}

/** The topic a stream holds, read back from its one subject; undefined for streams that are not topics. */
export function topicOfStream(si: { config: { name: string; subjects?: string[] } }): string | undefined {
  const subject = si.config.subjects?.[0];
  if (!si.config.name.startsWith(TOPIC_STREAM_PREFIX) || !subject?.startsWith(TOPIC_SUBJECT_PREFIX)) return undefined;
  return subject.slice(TOPIC_SUBJECT_PREFIX.length);
}

function retentionConfig(spec: TopicUpdate): Partial<StreamConfig> {
  const r = spec.retention ?? {};
  const cfg: Partial<StreamConfig> = {
    max_age: (r.maxAgeMs ?? 0) * MS,
    max_msgs: r.maxMessages ?? -1,
    max_bytes: r.maxBytes ?? -1,
    duplicate_window: (spec.dedupWindowMs ?? DEFAULT_DEDUP_MS) * MS,
  };
  if (spec.replicas !== undefined) cfg.num_replicas = spec.replicas;
  return cfg;
}

function time(ts: string | undefined): string | null {
  // An empty stream reports the zero time for first/last message.
  return ts && !ts.startsWith('0001-') ? ts : null;
}

/** Converts stream info to the public TopicInfo. */
export function toTopicInfo(si: StreamInfo): TopicInfo {
  const c = si.config;
  return {
    name: topicOfStream(si) ?? c.name,
    retention: { maxAgeMs: Math.round(c.max_age / MS), maxMessages: c.max_msgs, maxBytes: c.max_bytes },
    storage: c.storage === 'memory' ? 'memory' : 'file',
    replicas: c.num_replicas,
    dedupWindowMs: Math.round((c.duplicate_window ?? 0) / MS),
    messages: si.state.messages,
    bytes: si.state.bytes,
    firstSeq: si.state.first_seq,
    lastSeq: si.state.last_seq,
    firstTime: time(si.state.first_ts),
    lastTime: time(si.state.last_ts),
    createdAt: si.created,
  };
}

/** Topic lifecycle over the JetStream manager; `onCreated` lets subscriptions add consumers for new topics. */
export class StreamTopicManager implements TopicManager {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly onCreated: (topic: string) => Promise<void> = async () => {},
  ) {}

  async create(spec: TopicSpec): Promise<TopicInfo> {
    validateTopicName(spec.name);
    const name = topicStreamName(spec.name);
    // JetStream answers an identical re-create with success, so "exists" must be checked first.
    if (await this.find(name)) throw errors.topicExists(spec.name);
    const cfg: Partial<StreamConfig> & { name: string } = {
      name,
      subjects: [topicSubject(spec.name)],
      storage: spec.storage === 'memory' ? 'memory' as never : 'file' as never,
      num_replicas: spec.replicas ?? 1,
      ...retentionConfig(spec),
    };
    let si: StreamInfo;
    try {
      si = await this.jsm.streams.add(cfg);
    } catch (e) {
      const code = jsErrCode(e);
      if (code === JS_ERR.streamNameInUse || code === JS_ERR.subjectsOverlap) throw errors.topicExists(spec.name);
      throw toBackboneError(e);
    }
    await this.onCreated(spec.name);
    return toTopicInfo(si);
  }

  async update(name: string, patch: TopicUpdate): Promise<TopicInfo> {
    const si = await this.infoRaw(name);
    // Unset fields keep their current value: merge the patch over what the stream has now.
    const cur = toTopicInfo(si);
    const merged: TopicUpdate = {
      retention: { ...cur.retention, ...(patch.retention ?? {}) },
      dedupWindowMs: patch.dedupWindowMs ?? cur.dedupWindowMs,
      replicas: patch.replicas ?? cur.replicas,
    };
    try {
      return toTopicInfo(await this.jsm.streams.update(si.config.name, { ...si.config, ...retentionConfig(merged) }));
    } catch (e) {
      throw toBackboneError(e);
    }
  }

  async delete(name: string): Promise<void> {
    validateTopicName(name);
    try {
      await this.jsm.streams.delete(topicStreamName(name));
    } catch (e) {
      if (jsErrCode(e) === JS_ERR.streamNotFound) throw errors.topicNotFound(name);
      throw toBackboneError(e);
    }
  }

  async list(): Promise<TopicInfo[]> {
    const out: TopicInfo[] = [];
    for await (const si of this.jsm.streams.list(`${TOPIC_SUBJECT_PREFIX}>`)) {
      if (topicOfStream(si) !== undefined) out.push(toTopicInfo(si));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async info(name: string): Promise<TopicInfo> {
    return toTopicInfo(await this.infoRaw(name));
  }

  /** Names of the existing topics a filter matches (JetStream filters streams by subject server-side). */
  async matching(filter: string): Promise<Array<{ topic: string; stream: string }>> {
    validateTopicFilter(filter);
    const out: Array<{ topic: string; stream: string }> = [];
    for await (const si of this.jsm.streams.list(topicSubject(filter))) {
      const topic = topicOfStream(si);
      // The server's subject filter is an overlap test; keep exactly what the filter matches.
      if (topic !== undefined && topicMatches(filter, topic)) out.push({ topic, stream: si.config.name });
    }
    return out;
  }

  private async infoRaw(name: string): Promise<StreamInfo> {
    validateTopicName(name);
    const si = await this.find(topicStreamName(name));
    if (!si) throw errors.topicNotFound(name);
    return si;
  }

  private async find(stream: string): Promise<StreamInfo | undefined> {
    try {
      return await this.jsm.streams.info(stream);
    } catch (e) {
      if (jsErrCode(e) === JS_ERR.streamNotFound) return undefined;
      throw toBackboneError(e);
    }
  }
}

