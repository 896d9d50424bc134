/**
 * A small REST client for the gateway's pub/sub API over fetch. Used by `switchboard pub|sub`, the
 * fault tests and the benchmark. Every non-2xx answer becomes an SbError rebuilt from the gateway's
 * `{error: {code, message}}` body, so callers branch on stable codes, never on status text.
 */
// errors.js, not the broker's index: pub/sub must not load NATS, fastify and the broker to start (~1 s).
import { SbError } from '../broker/errors.js';
import type { DeliveredMessageJson, PublishResult, SubscriptionSpec, TopicSpec } from '../schemas/index.js';

/** Options for {@link RestClient}. */
export interface RestClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Full `Authorization` header value (`Basic …` or `Bearer …`), or undefined. */
  authorization?: string | undefined;
  /** Per-request timeout in ms on top of any long-poll wait; default 30000. */
  timeoutMs?: number;
}

/** One publish. */
export interface PublishOptions {
  /** Content-Type of the body; default `application/octet-stream`. */
  contentType?: string;
  /** Idempotency-Key header: a retry with the same key is stored once. */
  key?: string;
}

/** A REST client for topics, publishing, subscriptions, pulling and acking. */
export class RestClient {
  private readonly baseUrl: string;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: RestClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.authorization = opts.authorization;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** Creates a topic (admin). */
  async createTopic(spec: TopicSpec): Promise<unknown> {
    return this.json('POST', '/v1/topics', spec);
  }

  /** Creates a durable subscription. */
  async createSubscription(spec: SubscriptionSpec): Promise<unknown> {
    return this.json('POST', '/v1/subscriptions', spec);
  }

  /** Publishes `data` to `topic`; resolves once JetStream stored it. */
  async publish(topic: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<PublishResult> {
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/octet-stream' };
    if (opts.key) headers['idempotency-key'] = opts.key;
    return (await this.request('POST', `/v1/topics/${encodeURIComponent(topic)}/messages`, data, headers)) as PublishResult;
  }

  /** Sends `data` to every client of WebSocket channel `channel` on every replica (202 `{id, channel}`). */
  async broadcast(channel: string, data: Uint8Array | string, contentType: string): Promise<{ id: string; channel: string }> {
    return (await this.request('POST', `/v1/ws-channels/${encodeURIComponent(channel)}/broadcast`, data, { 'content-type': contentType })) as { id: string; channel: string };
  }

  /** Long-polls up to `max` messages, waiting at most `waitMs` for the first. */
  async pull(subscription: string, opts: { max?: number; waitMs?: number; signal?: AbortSignal } = {}): Promise<DeliveredMessageJson[]> {
    const q = new URLSearchParams();
    if (opts.max !== undefined) q.set('max', String(opts.max));
    if (opts.waitMs !== undefined) q.set('waitMs', String(opts.waitMs));
    const qs = q.size > 0 ? `?${q.toString()}` : '';
    const body = (await this.json('GET', `/v1/subscriptions/${encodeURIComponent(subscription)}/messages${qs}`, undefined, opts.waitMs ?? 0, opts.signal)) as {
      messages?: DeliveredMessageJson[];
    };
    return body.messages ?? [];
  }

  /** Acks delivered messages by their tokens. */
  async ack(subscription: string, tokens: string[]): Promise<unknown> {
    return this.json('POST', `/v1/subscriptions/${encodeURIComponent(subscription)}/ack`, { tokens });
  }

  /** GET a path and return the status (for /healthz, /readyz), never throwing on non-2xx. */
  async status(path: string): Promise<number> {
    const res = await fetch(this.baseUrl + path, { signal: AbortSignal.timeout(this.timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  }

  /** Any JSON call of the management API (CLI commands of job families use it). */
  call(method: string, path: string, body?: unknown, opts: { extraWaitMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
    return this.json(method, path, body, opts.extraWaitMs ?? 0, opts.signal);
  }

  private async json(method: string, path: string, body?: unknown, extraWaitMs = 0, signal?: AbortSignal): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.request(method, path, body === undefined ? undefined : JSON.stringify(body), headers, extraWaitMs, signal);
  }

  private async request(
    method: string, path: string, body: Uint8Array | string | undefined, headers: Record<string, string>, extraWaitMs = 0, abort?: AbortSignal,
  ): Promise<unknown> {
    if (this.authorization) headers['authorization'] = this.authorization;
    const timeout = AbortSignal.timeout(this.timeoutMs + extraWaitMs);
    const signal = abort ? AbortSignal.any([timeout, abort]) : timeout;
    let res: Response;
    try {
      // A Uint8Array is a valid fetch body at runtime; the DOM lib types only name ArrayBuffer views loosely.
      res = await fetch(this.baseUrl + path, { method, headers, body: body as BodyInit | undefined, signal });
    } catch (e) {
      if (abort?.aborted) throw e; // the caller gave up: not a gateway failure
      throw unreachable(this.baseUrl, e);
    }
    const text = await res.text();
    const parsed = parseJson(text);
    if (res.ok) return parsed;
    throw errorFromBody(res.status, parsed, text);
  }
}

/**
 * No HTTP answer. A refused connection reached nobody, so nothing was stored; a reset or timeout may
 * have happened after the gateway stored the message, so it is reported as "may or may not be stored".
 * Both are retryable with the same Idempotency-Key. `data.unreachable` tells them from gateway answers.
 */
function unreachable(baseUrl: string, e: unknown): SbError {
  const cause = (e as { cause?: { code?: unknown } }).cause;
  const refused = cause?.code === 'ECONNREFUSED';
  const message = `no answer from ${baseUrl}: ${refused ? 'connection refused' : (e as Error).message}`;
  return new SbError(refused ? 'SB_ERR_BACKBONE_UNAVAILABLE' : 'SB_ERR_PUBLISH_TIMEOUT', message, { cause: e, data: { unreachable: true } });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Rebuilds the gateway's `{error: {code, message}}`; anything else keeps the HTTP status in data. */
function errorFromBody(status: number, parsed: unknown, text: string): SbError {
  const err = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (err && typeof err.code === 'string') {
    const e = SbError.fromWire({ code: err.code, message: err.message });
    return new SbError(e.code, e.message, { data: { ...e.data, httpStatus: status } });
  }
  return new SbError('SB_ERR_INTERNAL', `HTTP ${status}: ${text.slice(0, 200)}`, { data: { httpStatus: status } });
}
