/**
 * Parses the `Authorization` header. Every failure is the same SB_ERR_UNAUTHENTICATED with a fixed
 * message: the header's content (a password or a key) never reaches an error or a log line.
 */
import { errors, type SbError } from '../broker/errors.js';

/** Longest header considered, in characters; a longer one is refused before any decoding. */
export const AUTH_HEADER_MAX = 4096;

/** What an `Authorization` header carries. */
export type Credentials =
  | { scheme: 'basic'; user: string; password: string }
  | { scheme: 'bearer'; token: string };

const HEADER_RE = /^([A-Za-z]+) +([^\s]+) *$/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** The one error for wrong or unusable credentials (the same whether or not the user exists). */
export function invalidCredentials(): SbError {
  return errors.unauthenticated('invalid credentials');
}

/** Parses `Basic base64(user:password)` or `Bearer <token>`; throws SB_ERR_UNAUTHENTICATED otherwise. */
export function parseAuthorization(header: string | undefined): Credentials {
  if (header === undefined || header.trim() === '') throw errors.unauthenticated('authentication required');
  if (header.length > AUTH_HEADER_MAX) throw invalidCredentials();
  const m = HEADER_RE.exec(header);
  if (!m?.[1] || !m[2]) throw invalidCredentials();
  // RFC 9110 §11.1: the scheme is case-insensitive.
  const scheme = m[1].toLowerCase();
  if (scheme === 'bearer') return { scheme: 'bearer', token: m[2] };
  if (scheme !== 'basic') throw errors.unauthenticated('unsupported authorization scheme; use Basic or Bearer');
  return parseBasic(m[2]);
}

function parseBasic(encoded: string): Credentials {
  if (encoded.length % 4 !== 0 || !BASE64_RE.test(encoded)) throw invalidCredentials();
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  // RFC 7617: the user id cannot contain a colon, the password may.
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) throw invalidCredentials();
  return { scheme: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
