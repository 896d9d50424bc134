/**
 * The HTTP mapping of errors: every failure leaves as `{ error: { code, message } }` with the status
 * from ERROR_CODES. Fastify's own errors (body limit, schema validation, bad JSON, unknown media type)
 * are translated here so clients only ever see SB_ERR_* codes.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { Type } from '@sinclair/typebox';
import { SbError, isSbError, type ErrorCode } from '../../broker/errors.js';
import type { Logger } from '../../broker/log.js';

/** The error body schema (for OpenAPI). */
export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

// Fastify error codes that are client mistakes, and the SB code each becomes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'SB_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'SB_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'SB_ERR_INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'SB_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'SB_ERR_VALIDATION',
  FST_ERR_VALIDATION: 'SB_ERR_VALIDATION',
  FST_ERR_NOT_FOUND: 'SB_ERR_NOT_FOUND',
};

/**
 * A PUT body may repeat the name its path gives (`name`, `principal`), but not say another one:
 * SB_ERR_VALIDATION, with at most 64 characters of the body's value (names are no longer).
 */
export function mustMatchPath(field: string, inBody: unknown, inPath: string): void {
  if (inBody !== undefined && inBody !== inPath) {
    throw new SbError('SB_ERR_VALIDATION', `body ${field} ${String(inBody).slice(0, 64)} differs from the path's ${inPath}`);
  }
}

/** Turns anything thrown in a request into an SbError; unknown failures become SB_ERR_INTERNAL. */
export function toHttpError(err: unknown): SbError {
  if (isSbError(err)) return err;
  const fe = err as Partial<FastifyError> | undefined;
  if (fe && Array.isArray(fe.validation)) {
    return new SbError('SB_ERR_VALIDATION', fe.message ?? 'invalid request', { data: { context: fe.validationContext } });
  }
  const mapped = fe?.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return new SbError(mapped, fe?.message ?? mapped);
  // Body parse errors from other parsers carry a 4xx statusCode; anything else is our bug.
  if (err instanceof SyntaxError && fe?.statusCode === 400) return new SbError('SB_ERR_INVALID_JSON', 'the body is not valid JSON');
  return new SbError('SB_ERR_INTERNAL', 'internal error', { cause: err });
}

/** Writes an SbError as the HTTP answer; 5xx causes are logged, never sent. */
export function sendError(reply: FastifyReply, err: SbError): FastifyReply {
  if (err.status === 401) reply.header('www-authenticate', 'Basic realm="switchboard"');
  // Retryable 503/429s tell well-behaved clients when to come back.
  if (err.status === 503 || err.status === 429) reply.header('retry-after', '1');
  return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
}

/** Builds the Fastify error handler: maps, logs what the client must not see, answers. */
export function errorHandler(logger: Logger) {
  return function handle(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const sb = toHttpError(err);
    if (sb.status >= 500 && sb.code !== 'SB_ERR_SHUTTING_DOWN') {
      // Retryable 503s (backbone down) come in floods during an outage and are expected: warn, not error.
      const level = sb.retryable ? 'warn' : 'error';
      logger[level]({ err: sb.cause ?? sb, code: sb.code, method: req.method, route: req.routeOptions.url }, 'request failed');
    }
    return sendError(reply, sb);
  };
}

/** Answers protocol-level failures (request timeout, malformed HTTP) on the raw socket in our error shape. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
  const e = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? new SbError('SB_ERR_REQUEST_TIMEOUT', 'the request was not received in time')
    : new SbError('SB_ERR_VALIDATION', 'malformed HTTP request');
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  socket.end(`HTTP/1.1 ${e.status} ${e.status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n`
    + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The (empty) body of a 204 answer, for OpenAPI. */
export const NoContent = Type.Null({ description: 'No content' });
