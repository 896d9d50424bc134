/**
 * HTTP for one run: one undici `Client` = one TCP/TLS connection, because NTLM authenticates the
 * connection, not the request. Handles Basic, NTLM (raw NTLMSSP in `Negotiate`, with channel bindings
 * on HTTPS), NTLM message encryption on HTTP, re-handshake after a 401 or a new socket, and maps every
 * failure to a typed error. SOAP faults are parsed here so that an encrypted fault is still a fault.
 */
import type { TLSSocket } from 'node:tls';
import { Client, buildConnector } from 'undici';
import { decryptMessage, encryptMessage, isEncryptedContentType } from './encryption.js';
import { WinRMAuthError, WinRMCancelledError, WinRMTimeoutError, WinRMTransportError, errnoOf, type WinRMPhase } from './errors.js';
import { NtlmInitiator, tlsServerEndPointBindings, type NtlmError, type NtlmSession } from './ntlm.js';
import { faultOf, newMessageId, parseEnvelope, type SoapResponse } from './soap.js';
import type { WinRMAuth, WinRMTls } from './types.js';

/** What the transport needs, resolved from WinRMOptions. */
export interface TransportOptions {
  endpoint: URL;
  auth: WinRMAuth;
  tls?: WinRMTls;
  /** Seal bodies with the NTLM session (NTLM only). */
  encrypt: boolean;
  /** Per-request wait for headers and between body chunks, ms. */
  readTimeoutMs: number;
}

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The NTLM session the request was sealed with: the response is unsealed with it even if the socket closed since. */
  session?: NtlmSession;
}

const SOAP_CONTENT_TYPE = 'application/soap+xml;charset=UTF-8';
const USER_AGENT = 'Switchboard WinRM client';
/** Errors that mean the connection was never made (safe to retry the whole run). */
const CONNECT_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED',
]);

/** One connection to one host, with its authentication state. Not safe for concurrent requests. */
export class WinRMTransport {
  private readonly client: Client;
  private readonly https: boolean;
  private session: NtlmSession | undefined;
  /** Bumped on every new socket; an NTLM session is valid only on the socket it was made on. */
  private generation = 0;
  private sessionGeneration = -1;
  private peerCertDer: Buffer | undefined;
  private closed = false;

  constructor(private readonly opts: TransportOptions) {
    this.https = opts.endpoint.protocol === 'https:';
    const tls = opts.tls ?? {};
    const base = buildConnector({
      ...(this.https ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized ?? true } : {}),
      ...(tls.servername ? { servername: tls.servername } : {}),
      maxCachedSessions: 0,
    });
    const connect: buildConnector.connector = (options, cb) => {
      base(options, (...args) => {
        const [err, socket] = args;
        if (!err && socket) {
          this.generation++;
          if (this.https) this.peerCertDer = (socket as TLSSocket).getPeerCertificate?.()?.raw;
        }
        cb(...args);
      });
    };
    this.client = new Client(opts.endpoint.origin, {
      connect,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      headersTimeout: opts.readTimeoutMs,
      bodyTimeout: opts.readTimeoutMs,
    });
    this.client.on('disconnect', () => {
      this.session = undefined;
    });
  }

  /**
   * Sends one SOAP envelope, built by `build` around a fresh MessageID (a resend after a 401 gets a new
   * one), and returns the parsed 2xx response, whose RelatesTo must equal that MessageID. Throws
   * WSManFaultError for a SOAP fault, WinRMAuthError, WinRMTransportError, WinRMTimeoutError, or
   * WinRMCancelledError when `signal` aborted.
   */
  async exchange(build: (messageId: string) => string, phase: WinRMPhase, signal?: AbortSignal): Promise<SoapResponse> {
    let messageId = '';
    const next = (): Buffer => {
      messageId = newMessageId();
      return Buffer.from(build(messageId), 'utf8');
    };
    const res = await this.authenticatedPost(next, phase, signal);
    return this.interpret(res, messageId, phase);
  }

  /** Closes the connection; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.session = undefined;
    await this.client.destroy().catch(() => undefined);
  }

  private async authenticatedPost(next: () => Buffer, phase: WinRMPhase, signal?: AbortSignal): Promise<HttpResult> {
    const auth = this.opts.auth;
    if (auth.type === 'basic') {
      const plain = next();
      const token = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64');
      const res = await this.post(plain, SOAP_CONTENT_TYPE, phase, signal, `Basic ${token}`);
      if (res.status === 401) {
        const offered = offeredSchemes(res.headers);
        const notOffered = !offered.some((s) => s.toLowerCase() === 'basic');
        throw new WinRMAuthError(
          notOffered
            ? `the host does not offer Basic authentication (offered: ${offered.join(', ') || 'none'}); enable Auth/Basic or use NTLM`
            : 'the host rejected the Basic credentials (HTTP 401); Basic works only for local accounts',
          { basicNotOffered: notOffered, offered, phase },
        );
      }
      return res;
    }
    // NTLM: an established context may be lost (401 after a server-side reset, or a new socket); a 401
    // means the request was not processed, so one re-handshake and resend is safe even for Create.
    for (let attempt = 0; ; attempt++) {
      const session = this.session && this.sessionGeneration === this.generation ? this.session : undefined;
      const plain = next();
      // handshake() itself throws WinRMAuthError when the AUTHENTICATE leg is refused (bad credentials).
      const res = session ? await this.postNtlm(plain, session, phase, signal) : await this.handshake(plain, phase, signal);
      if (res.status !== 401) return res;
      this.session = undefined;
      if (attempt > 0) {
        throw new WinRMAuthError('the host refused the request right after a successful NTLM handshake (HTTP 401)', {
          offered: offeredSchemes(res.headers),
          phase: 'auth',
        });
      }
    }
  }

  /** Type1 → 401 Type2 → Type3 (carrying the body when not encrypting), then the encrypted body. */
  private async handshake(plain: Buffer, phase: WinRMPhase, signal?: AbortSignal): Promise<HttpResult> {
    const auth = this.opts.auth;
    if (auth.type !== 'ntlm') throw new Error('unreachable');
    this.session = undefined;
    const init = new NtlmInitiator({ username: auth.username, password: auth.password, domain: auth.domain });
    const empty = Buffer.alloc(0);
    const r1 = await this.post(empty, SOAP_CONTENT_TYPE, phase, signal, `Negotiate ${init.negotiate().toString('base64')}`);
    const challenge = negotiateToken(r1.headers);
    if (r1.status !== 401 || !challenge) {
      if (r1.status === 401) {
        const offered = offeredSchemes(r1.headers);
        throw new WinRMAuthError(`the host does not offer Negotiate/NTLM authentication (offered: ${offered.join(', ') || 'none'})`, { offered, phase: 'auth' });
      }
      throw new WinRMTransportError(`NTLM negotiation: unexpected HTTP ${r1.status} to the NEGOTIATE message`, { httpStatus: r1.status, phase: 'auth' });
    }
    const generation = this.generation;
    let step: ReturnType<NtlmInitiator['authenticate']>;
    try {
      const cbt = this.https && this.peerCertDer ? tlsServerEndPointBindings(this.peerCertDer) : undefined;
      step = init.authenticate(challenge, { cbt });
    } catch (err) {
      throw new WinRMAuthError(`NTLM negotiation failed: ${(err as Error).message}`, { cause: err, phase: 'auth' });
    }
    const type3 = `Negotiate ${step.token.toString('base64')}`;
    // Without encryption the AUTHENTICATE leg carries the request; with it, pywinrm's "blank message to
    // initialise context" comes first, then the first sealed message.
    const r3 = await this.post(this.opts.encrypt ? empty : plain, SOAP_CONTENT_TYPE, phase, signal, type3);
    if (r3.status === 401) {
      throw new WinRMAuthError('the host rejected the NTLM credentials (HTTP 401)', { offered: offeredSchemes(r3.headers), phase: 'auth' });
    }
    this.establish(step.session, generation);
    return this.opts.encrypt ? this.postNtlm(plain, step.session, phase, signal) : r3;
  }

  private establish(session: NtlmSession, generation: number): void {
    this.session = session;
    this.sessionGeneration = generation;
  }

  /** A request on an established NTLM connection: sealed with `session` when encrypting. */
  private async postNtlm(plain: Buffer, session: NtlmSession, phase: WinRMPhase, signal?: AbortSignal): Promise<HttpResult> {
    if (!this.opts.encrypt) return this.post(plain, SOAP_CONTENT_TYPE, phase, signal);
    const { body, contentType } = encryptMessage(session, plain);
    return { ...(await this.post(body, contentType, phase, signal)), session };
  }

  private async post(body: Buffer, contentType: string, phase: WinRMPhase, signal?: AbortSignal, authorization?: string): Promise<HttpResult> {
    if (this.closed) throw new WinRMTransportError('the transport is closed', { phase });
    const headers: Record<string, string> = { 'content-type': contentType, 'user-agent': USER_AGENT };
    if (authorization) headers['authorization'] = authorization;
    try {
      const res = await this.client.request({
        path: this.opts.endpoint.pathname + this.opts.endpoint.search,
        method: 'POST',
        headers,
        body,
        signal,
        headersTimeout: this.opts.readTimeoutMs,
        bodyTimeout: this.opts.readTimeoutMs,
      });
      const buf = Buffer.from(await res.body.arrayBuffer());
      if (String(res.headers['connection'] ?? '').toLowerCase() === 'close') this.session = undefined;
      return { status: res.statusCode, headers: res.headers, body: buf };
    } catch (err) {
      // The socket state is unknown after any failure: never reuse an NTLM context across it.
      this.session = undefined;
      throw this.mapError(err, phase, signal);
    }
  }

  private mapError(err: unknown, phase: WinRMPhase, signal?: AbortSignal): Error {
    if (signal?.aborted) return new WinRMCancelledError(`the ${phase} request was aborted`, { cause: err, phase });
    const code = errnoOf(err);
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new WinRMTimeoutError(`no response to ${phase} within ${this.opts.readTimeoutMs} ms`, { cause: err, phase });
    }
    const connectFailure = code !== undefined && CONNECT_CODES.has(code);
    return new WinRMTransportError(`${phase} request failed: ${code ?? (err as Error).message ?? 'unknown error'}`, {
      cause: err,
      code,
      phase: connectFailure ? 'connect' : phase,
    });
  }

  private interpret(res: HttpResult, messageId: string, phase: WinRMPhase): SoapResponse {
    const ct = headerString(res.headers['content-type']);
    let xml: string;
    if (isEncryptedContentType(ct)) {
      if (!res.session) throw new WinRMTransportError('an encrypted response arrived to a request that was not encrypted', { httpStatus: res.status, phase });
      try {
        xml = decryptMessage(res.session, res.body, ct).toString('utf8');
      } catch (err) {
        this.session = undefined;
        throw new WinRMTransportError(`cannot decrypt the ${phase} response: ${(err as NtlmError).message}`, { cause: err, httpStatus: res.status, phase });
      }
    } else {
      const isXml = /xml/i.test(ct) && res.body.length > 0;
      if (!isXml) {
        throw new WinRMTransportError(`${phase}: unexpected HTTP ${res.status}${ct ? ` (${ct.split(';')[0]})` : ''} without a SOAP body`, { httpStatus: res.status, phase });
      }
      if (this.opts.encrypt && res.status < 400) {
        throw new WinRMTransportError(`${phase}: the host answered an encrypted request in plaintext`, { httpStatus: res.status, phase });
      }
      xml = res.body.toString('utf8');
    }
    const parsed = parseEnvelope(xml, phase);
    const fault = faultOf(parsed, res.status, xml, phase);
    if (fault) throw fault;
    if (res.status < 200 || res.status >= 300) {
      throw new WinRMTransportError(`${phase}: unexpected HTTP ${res.status}`, { httpStatus: res.status, phase });
    }
    if (parsed.relatesTo !== messageId) {
      throw new WinRMTransportError(`${phase}: the response's RelatesTo does not match the request's MessageID`, { httpStatus: res.status, phase });
    }
    return parsed;
  }
}

function headerString(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

/** Every scheme named in WWW-Authenticate (all header instances). */
export function offeredSchemes(headers: Record<string, string | string[] | undefined>): string[] {
  const raw = headers['www-authenticate'];
  const values = Array.isArray(raw) ? raw : raw ? [raw] : [];
  const out: string[] = [];
  for (const v of values) {
    for (const m of v.matchAll(/(?:^|,)\s*([A-Za-z][A-Za-z0-9-]*)(?=\s|,|$)(?!\s*=)/g)) {
      const scheme = m[1]!;
      if (!out.some((s) => s.toLowerCase() === scheme.toLowerCase())) out.push(scheme);
    }
  }
  return out;
}

/** The base64 token of a `Negotiate <token>` (or `NTLM <token>`) challenge, decoded. */
export function negotiateToken(headers: Record<string, string | string[] | undefined>): Buffer | undefined {
  const raw = headers['www-authenticate'];
  const values = Array.isArray(raw) ? raw : raw ? [raw] : [];
  for (const v of values) {
    const m = /(?:^|,)\s*(?:Negotiate|NTLM)\s+([A-Za-z0-9+/]+=*)/i.exec(v);
    if (m) return Buffer.from(m[1]!, 'base64');
  }
  return undefined;
}
