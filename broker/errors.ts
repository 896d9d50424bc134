/**
 * The one errors module. Every failure that leaves Switchboard carries a stable `SB_ERR_*` code, an
 * HTTP status, and whether retrying the same request may succeed. Protocol gateways map codes through
 * their own table (HTTP uses `status` here); errors that cross NATS travel as {@link WireError}.
 * `docs/errors.md` lists every code; a test keeps the two in step.
 */

/** Every code, its HTTP status, whether it is retryable, and a one-line meaning (used by docs). */
export const ERROR_CODES = {
  SB_ERR_VALIDATION: { status: 400, retryable: false, meaning: 'The request body, query or parameters do not match the schema.' },
  SB_ERR_INVALID_TOPIC_NAME: { status: 400, retryable: false, meaning: 'A topic name is empty, too long, has an empty token, a space, or a wildcard where none is allowed.' },
  SB_ERR_INVALID_NAME: { status: 400, retryable: false, meaning: 'A subscription, channel or user name has characters outside [A-Za-z0-9_-] or is too long.' },
  SB_ERR_INVALID_ACK_TOKEN: { status: 400, retryable: false, meaning: 'An ack token is malformed, forged, or belongs to another subscription.' },
  SB_ERR_INVALID_JSON: { status: 400, retryable: false, meaning: 'A body declared as JSON does not parse.' },
  SB_ERR_UNAUTHENTICATED: { status: 401, retryable: false, meaning: 'No credentials, or wrong credentials.' },
  SB_ERR_FORBIDDEN: { status: 403, retryable: false, meaning: 'The principal is authenticated but its ACL does not allow this action.' },
  SB_ERR_NOT_FOUND: { status: 404, retryable: false, meaning: 'No such route.' },
  SB_ERR_TOPIC_NOT_FOUND: { status: 404, retryable: false, meaning: 'The topic does not exist.' },
  SB_ERR_SUBSCRIPTION_NOT_FOUND: { status: 404, retryable: false, meaning: 'The subscription does not exist.' },
  SB_ERR_CHANNEL_NOT_FOUND: { status: 404, retryable: false, meaning: 'The channel does not exist.' },
  SB_ERR_USER_NOT_FOUND: { status: 404, retryable: false, meaning: 'The user does not exist.' },
  SB_ERR_API_KEY_NOT_FOUND: { status: 404, retryable: false, meaning: 'The user has no API key with that id.' },
  SB_ERR_METHOD_NOT_ALLOWED: { status: 405, retryable: false, meaning: 'The route exists but not for this HTTP method.' },
  SB_ERR_REQUEST_TIMEOUT: { status: 408, retryable: true, meaning: 'The client did not send the request within the request timeout.' },
  SB_ERR_TOPIC_EXISTS: { status: 409, retryable: false, meaning: 'A topic with that name already exists.' },
  SB_ERR_SUBSCRIPTION_EXISTS: { status: 409, retryable: false, meaning: 'A subscription with that name already exists with a different definition.' },
  SB_ERR_CHANNEL_EXISTS: { status: 409, retryable: false, meaning: 'A channel with that name or path already exists.' },
  SB_ERR_USER_EXISTS: { status: 409, retryable: false, meaning: 'A user with that name already exists.' },
  SB_ERR_PAYLOAD_TOO_LARGE: { status: 413, retryable: false, meaning: 'The body is larger than the configured limit (1 MiB by default).' },
  SB_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, meaning: 'This endpoint needs a different Content-Type (JSON for the management API).' },
  SB_ERR_RATE_LIMITED: { status: 429, retryable: true, meaning: 'Too many requests: a rate limit was hit or too many password checks are queued; retry after a pause.' },
  SB_ERR_INTERNAL: { status: 500, retryable: false, meaning: 'A bug or an unexpected failure; the log has the details.' },
  SB_ERR_BACKBONE_UNAVAILABLE: { status: 503, retryable: true, meaning: 'NATS JetStream is not reachable or has no leader; nothing was stored. Retry with the same Idempotency-Key.' },
  SB_ERR_PUBLISH_TIMEOUT: { status: 503, retryable: true, meaning: 'JetStream did not confirm the publish in time; it may or may not be stored. Retry with the same Idempotency-Key.' },
  SB_ERR_SHUTTING_DOWN: { status: 503, retryable: true, meaning: 'This process is draining; send the request to another replica.' },
  SB_ERR_JOB_NOT_FOUND: { status: 404, retryable: false, meaning: 'No job with that id (never submitted, or its record expired).' },
  SB_ERR_JOB_TYPE_NOT_FOUND: { status: 404, retryable: false, meaning: 'No worker has ever declared this job type, so nothing would run it.' },
  SB_ERR_JOB_INVALID_INPUT: { status: 422, retryable: false, meaning: "The job input does not match the handler's input schema, or names something that does not exist; the job is not retried." },
  SB_ERR_JOB_FAILED: { status: 502, retryable: false, meaning: 'The job ran and failed (a non-retryable handler error, or retries used up); the record has the details.' },
  SB_ERR_JOB_TIMED_OUT: { status: 504, retryable: false, meaning: 'The job passed its deadline before it could finish; it was stopped.' },
  SB_ERR_JOB_CANCELLED: { status: 409, retryable: false, meaning: 'The job was cancelled (DELETE /v1/jobs/{id}) before it finished.' },
  SB_ERR_JOB_PENDING: { status: 504, retryable: true, meaning: 'A synchronous call waited timeoutMs and the job is still queued or running; poll GET /v1/jobs/{id} with the id in the body.' },
  SB_ERR_SECRETS_UNAVAILABLE: { status: 500, retryable: false, meaning: 'A stored secret cannot be decrypted: SB_MASTER_KEYS is missing, or lacks the key id the secret was sealed with.' },
  SB_ERR_CONNECTION_NOT_FOUND: { status: 404, retryable: false, meaning: 'No outgoing connection definition (e.g. a WinRM host) with that name.' },
  SB_ERR_CONNECTION_EXISTS: { status: 409, retryable: false, meaning: 'An outgoing connection definition with that name already exists; change it with PATCH, or delete it first.' },
  SB_ERR_WINRM_UNREACHABLE: { status: 502, retryable: true, meaning: 'The WinRM host could not be reached before any shell was opened (connection refused, DNS, TLS, 503); nothing ran, so the job is retried.' },
  SB_ERR_STREAM_BROKEN: { status: 502, retryable: false, meaning: 'A streamed job result broke off: a chunk was lost (e.g. across a NATS reconnect), the worker stopped sending, or the reader went away. Streams are not resumed; submit again.' },
  SB_ERR_SQL_FAILED: { status: 502, retryable: false, meaning: 'The database refused or failed the call (its own error code and message are in `data`); nothing is retried.' },
  SB_ERR_SQL_UNREACHABLE: { status: 502, retryable: true, meaning: 'The database could not be reached or refused the login; the call did not run, so the job is retried.' },
  SB_ERR_SQL_INVALID_NAME: { status: 422, retryable: false, meaning: 'A procedure name is not a plain (optionally schema-qualified) identifier; nothing was sent to the database.' },
  SB_ERR_SQL_DENIED: { status: 403, retryable: false, meaning: 'The SQL ACL does not let this principal call this procedure on this connection; nothing was sent to the database.' },
  SB_ERR_SQL_PASSWORD_NOT_SET: { status: 409, retryable: false, meaning: 'The SQL connection still has the random password it was created with; set its password first (admin API or CLI).' },
  SB_ERR_CONFIG_CONFLICT: { status: 409, retryable: false, meaning: 'A config import would change something that cannot change in place (a subscription, a topic\'s storage) or create an object without a required secret; nothing was applied.' },
  SB_ERR_CONFIG_IMPORT_FAILED: { status: 409, retryable: false, meaning: 'A config import failed while applying one object type; that type was restored to its previous state (types applied before it stay applied). The message names the object and the cause.' },
  SB_ERR_CONFIG_INVALID: { status: 400, retryable: false, meaning: 'A configuration file is not valid YAML/JSON or breaks its schema; the message starts with `file:line:`.' },
  SB_ERR_COMPONENT_NOT_FOUND: { status: 404, retryable: false, meaning: 'The component directory does not exist, or has no switchboard.yaml (`switchboard create` makes one).' },
  SB_ERR_COMPONENT_EXISTS: { status: 409, retryable: false, meaning: '`switchboard create` was given a directory that exists and is not empty (pass --force to rewrite its switchboard.yaml).' },
  SB_ERR_COMPONENT_RUNNING: { status: 409, retryable: false, meaning: 'The component in that directory is already running; the message names its pid.' },
  SB_ERR_COMPONENT_START_FAILED: { status: 500, retryable: false, meaning: 'A started component exited, or was not up within the start timeout; the message ends with the last lines of its log.' },
} as const satisfies Record<string, { status: number; retryable: boolean; meaning: string }>;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The shape in which an error crosses NATS or any other wire. */
export interface WireError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  data?: Record<string, unknown>;
}

/** Options for {@link SbError}. */
export interface SbErrorOptions {
  cause?: unknown;
  data?: Record<string, unknown>;
}

/** An error with a stable code. Messages never contain secrets. */
export class SbError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: SbErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SbError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
    this.data = opts.data;
  }

  /** The wire form; `cause` stays local. */
  toWire(): WireError {
    const w: WireError = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.data) w.data = this.data;
    return w;
  }

  /** Rebuilds an error that arrived over a wire; an unknown code becomes SB_ERR_INTERNAL. */
  static fromWire(w: { code?: unknown; message?: unknown; data?: unknown }): SbError {
    const code = typeof w.code === 'string' && w.code in ERROR_CODES ? (w.code as ErrorCode) : 'SB_ERR_INTERNAL';
    const data = w.data && typeof w.data === 'object' ? (w.data as Record<string, unknown>) : undefined;
    return new SbError(code, typeof w.message === 'string' ? w.message : code, data ? { data } : {});
  }
}

/** True when `e` is an {@link SbError}, optionally with the given code. */
export function isSbError(e: unknown, code?: ErrorCode): e is SbError {
  return e instanceof SbError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into an SbError; unknown failures become SB_ERR_INTERNAL with the original as `cause`. */
export function toSbError(e: unknown): SbError {
  if (e instanceof SbError) return e;
  return new SbError('SB_ERR_INTERNAL', 'internal error', { cause: e });
}

// One constructor per common code, so call sites read as sentences.
export const errors = {
  validation: (message: string, data?: Record<string, unknown>) => new SbError('SB_ERR_VALIDATION', message, data ? { data } : {}),
  invalidTopicName: (name: string, why: string) => new SbError('SB_ERR_INVALID_TOPIC_NAME', `invalid topic name ${JSON.stringify(name.slice(0, 300))}: ${why}`),
  invalidName: (kind: string, name: string, why: string) => new SbError('SB_ERR_INVALID_NAME', `invalid ${kind} name ${JSON.stringify(name.slice(0, 300))}: ${why}`),
  invalidAckToken: (why: string) => new SbError('SB_ERR_INVALID_ACK_TOKEN', `invalid ack token: ${why}`),
  topicNotFound: (name: string) => new SbError('SB_ERR_TOPIC_NOT_FOUND', `topic ${name} does not exist`, { data: { topic: name } }),
  topicExists: (name: string) => new SbError('SB_ERR_TOPIC_EXISTS', `topic ${name} already exists`, { data: { topic: name } }),
  subscriptionNotFound: (name: string) => new SbError('SB_ERR_SUBSCRIPTION_NOT_FOUND', `subscription ${name} does not exist`, { data: { subscription: name } }),
  subscriptionExists: (name: string) => new SbError('SB_ERR_SUBSCRIPTION_EXISTS', `subscription ${name} already exists`, { data: { subscription: name } }),
  backboneUnavailable: (cause?: unknown) => new SbError('SB_ERR_BACKBONE_UNAVAILABLE', 'the message backbone is unavailable; nothing was stored', { cause }),
  publishTimeout: (cause?: unknown) => new SbError('SB_ERR_PUBLISH_TIMEOUT', 'the message backbone did not confirm the publish in time', { cause }),
  unauthenticated: (message = 'authentication required') => new SbError('SB_ERR_UNAUTHENTICATED', message),
  forbidden: (message: string) => new SbError('SB_ERR_FORBIDDEN', message),
  internal: (cause: unknown) => new SbError('SB_ERR_INTERNAL', 'internal error', { cause }),
  jobNotFound: (id: string) => new SbError('SB_ERR_JOB_NOT_FOUND', `job ${id.slice(0, 80)} does not exist`, { data: { id: id.slice(0, 80) } }),
  jobTypeNotFound: (type: string) => new SbError('SB_ERR_JOB_TYPE_NOT_FOUND', `no worker runs jobs of type ${type.slice(0, 130)}`, { data: { type: type.slice(0, 130) } }),
  jobInvalidInput: (message: string) => new SbError('SB_ERR_JOB_INVALID_INPUT', message),
};
