/**
 * The publish path shared by `POST /v1/topics/{name}/messages` and REST channels. It is the hot path:
 * the body stays the Buffer Fastify read, only JSON bodies are parsed (to reject bad JSON), and the
 * answer goes out only after broker.publish resolved, i.e. after JetStream stored the message.
 */
import type { FastifyRequest } from 'fastify';
import type { Broker, PublishRequest } from '../../broker/types.js';
import { SbError } from '../../broker/errors.js';
import { validateTopicName } from '../../broker/subjects.js';
import type { PublishResult } from '../../schemas/message.js';
import type { Security } from '../../security/types.js';
import { assertJson, isJsonContentType } from './payload.js';
import { principalOf } from './auth.js';

const EMPTY = Buffer.alloc(0);
const PRIORITY = /^[0-9]$/;
/** Longest Idempotency-Key / X-Correlation-Id we accept, in characters. */
export const MAX_KEY_LENGTH = 256;

/** Checks the name and the ACL, maps HTTP headers to the envelope, and publishes the raw body to `topic`. */
export async function publishFromHttp(broker: Broker, security: Security, topic: string, req: FastifyRequest): Promise<PublishResult> {
  validateTopicName(topic);
  const principal = principalOf(req);
  security.assert(principal, 'publish', topic);
  const body = Buffer.isBuffer(req.body) ? req.body : EMPTY;
  const h = req.headers;
  const contentType = h['content-type'] ?? 'application/octet-stream';
  if (isJsonContentType(contentType)) assertJson(body);
  const pr: PublishRequest = { topic, data: body, contentType, publisher: principal.name };
  const key = h['idempotency-key'];
  if (key !== undefined) pr.idempotencyKey = headerText('Idempotency-Key', key);
  const corr = h['x-correlation-id'];
  if (corr !== undefined) pr.correlationId = headerText('X-Correlation-Id', corr);
  const tp = h['traceparent'];
  if (typeof tp === 'string') pr.traceparent = tp;
  const prio = h['x-priority'];
  if (prio !== undefined) pr.priority = priorityOf(prio);
  const exp = h['x-expires-at'];
  if (exp !== undefined) pr.expiresAt = expiryOf(exp);
  return broker.publish(pr);
}

function headerText(name: string, v: string | string[]): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_KEY_LENGTH) {
    throw new SbError('SB_ERR_VALIDATION', `${name} must be one value of 1–${MAX_KEY_LENGTH} characters`);
  }
  return v;
}

function priorityOf(v: string | string[]): number {
  if (typeof v !== 'string' || !PRIORITY.test(v)) throw new SbError('SB_ERR_VALIDATION', 'X-Priority must be an integer 0–9');
  return Number(v);
}

function expiryOf(v: string | string[]): string {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw new SbError('SB_ERR_VALIDATION', 'X-Expires-At must be an ISO 8601 date-time');
  return new Date(ms).toISOString();
}
