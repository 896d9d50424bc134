/**
 * The HTTP face of the fake WinRM host (§3.2): path/method/content-type rules, authentication per connection,
 * NTLM message encryption, fault and chaos injection (§3.6), and the request record (§3.7).
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { decryptMessage, encryptMessage, isEncryptedContentType } from '../../../workers/winrm/client/encryption.js';
import type { NtlmSession } from '../../../workers/winrm/client/ntlm.js';
import { authenticate, type AuthCtx } from './auth.js';
import type { InjectRule, LintKind, Lint, RequestRecord, WinRMServerConfig } from './types.js';
import { cannedFault, faultEnvelope, envelope, type ActionName, type FaultName, type FaultSpec } from './envelope.js';
import { commandLine, receiveTarget, sendInput, signalCode, validateRequest, type WsmanRequest } from './request.js';
import { decodeText, type ScriptEntry } from './scripts.js';
import { ShellHost, type OpResult } from './shells.js';
import { fixtures } from './fixtures.js';

interface SockState {
  id: number;
  auth: AuthCtx;
}

const SERVER_HEADER = 'Microsoft-HTTPAPI/2.0';

/** `application/soap+xml`, case-insensitive; a charset parameter, when present, must be UTF-8. */
function isSoapUtf8(contentType: string): boolean {
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/soap+xml') return false;
  const charset = params.find((p) => p.startsWith('charset='));
  return charset === undefined || /^charset="?utf-8"?$/.test(charset);
}

/** The fake host; create it with `createWinRMServer`. */
export class FakeWinRMServer {
  readonly requests: RequestRecord[] = [];
  readonly lints: Lint[] = [];
  readonly host: ShellHost;
  private readonly entries: ScriptEntry[];
  private readonly rules: Array<{ rule: InjectRule; seen: number; fired: number }> = [];
  private readonly allowed: Set<LintKind>;
  private readonly socks = new WeakMap<Socket, SockState>();
  private readonly open = new Set<Socket>();
  private readonly messageIds = new Set<string>();
  private readonly closing = new AbortController();
  private readonly server: http.Server;
  private readonly tls: boolean;
  private readonly hostname: string;
  private readonly certDer: Buffer | undefined;
  private nextSocketId = 1;
  private closed = false;
  url = '';

  constructor(private readonly cfg: WinRMServerConfig) {
    this.hostname = cfg.hostname ?? 'WIN-FAKE01';
    this.entries = [...(cfg.script ?? [])];
    this.allowed = new Set(cfg.allowLints ?? []);
    this.tls = Boolean(cfg.https);
    this.host = new ShellHost({
      hostname: this.hostname,
      maxShellsPerUser: cfg.maxShellsPerUser ?? 30,
      idleTimeoutMs: cfg.idleTimeoutMs ?? 7_200_000,
      coalesceMs: cfg.coalesceMs ?? 20,
      maxChunkBytes: cfg.maxChunkBytes ?? 1024,
      splitUtf8: cfg.splitUtf8 ?? false,
      allowUnknown: cfg.allowUnknown ?? false,
      entries: () => this.entries,
      lint: (kind, message) => this.lint(kind as LintKind, message),
    });
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.plain(res, undefined, 500, String(err));
        else res.destroy();
      });
    };
    if (cfg.https) {
      const clientCert = typeof cfg.https === 'object' ? cfg.https.clientCert : undefined;
      this.certDer = new X509Certificate(fixtures.serverCert).raw;
      this.server = https.createServer(
        {
          cert: fixtures.serverCert,
          key: fixtures.serverKey,
          ca: fixtures.ca,
          requestCert: clientCert !== undefined,
          rejectUnauthorized: clientCert === 'require',
        },
        handler,
      );
      this.server.on('secureConnection', (s: TLSSocket) => this.track(s));
    } else {
      this.server = http.createServer(handler);
      this.server.on('connection', (s: Socket) => this.track(s));
    }
    this.server.keepAliveTimeout = 120_000;
  }

  private track(s: Socket): void {
    this.open.add(s);
    s.on('close', () => this.open.delete(s));
  }

  /** Binds 127.0.0.1 on a free port. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = this.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${port}/wsman`;
  }

  /** Appends script entries (first match wins). */
  script(entries: ScriptEntry[]): void {
    this.entries.push(...entries);
  }

  inject(rule: InjectRule): void {
    this.rules.push({ rule, seen: 0, fired: 0 });
  }

  allowLint(...kinds: LintKind[]): void {
    for (const k of kinds) this.allowed.add(k);
  }

  /** Number of TCP/TLS connections currently open. */
  get connections(): number {
    return this.open.size;
  }

  lint(kind: LintKind, message: string): void {
    this.lints.push({ kind, message });
  }

  private sock(s: Socket): SockState {
    let st = this.socks.get(s);
    if (!st) {
      st = { id: this.nextSocketId++, auth: {} };
      this.socks.set(s, st);
    }
    return st;
  }

  private matchRule(action: ActionName): InjectRule | undefined {
    for (const r of this.rules) {
      const a = r.rule.action ?? '*';
      if (a !== '*' && a !== action) continue;
      r.seen++;
      if (r.seen >= (r.rule.nth ?? 1) && r.fired < (r.rule.times ?? 1)) {
        r.fired++;
        return r.rule;
      }
    }
    return undefined;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const socket = req.socket;
    const st = this.sock(socket);
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const raw = Buffer.concat(parts);
    const rec: RequestRecord = { socketId: st.id, tls: this.tls, authScheme: null, encrypted: false, status: 0 };
    const peer = this.tls ? (socket as TLSSocket).getPeerCertificate?.() : undefined;
    if (peer && peer.subject) rec.clientCert = String(peer.subject.CN);
    this.requests.push(rec);

    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path.toLowerCase() !== '/wsman') return this.plain(res, rec, 404);
    if (req.method !== 'POST') return this.plain(res, rec, 405);

    const auth = authenticate(req.headers.authorization, st.auth, this.cfg.auth, this.hostname, this.certDer);
    rec.authScheme = auth.scheme;
    if (!auth.ok) {
      if (auth.reason === 'challenge') rec.authLeg = 'challenge';
      else rec.authFailure = auth.reason;
      return this.unauthorized(res, rec, auth.challenge);
    }
    if (auth.scheme === 'basic' && !this.tls && !this.cfg.allowUnencrypted) {
      rec.authFailure = 'Basic over HTTP needs AllowUnencrypted';
      return this.unauthorized(res, rec);
    }
    rec.user = auth.user;
    if (raw.length === 0) return this.plain(res, rec, auth.handshake ? 200 : 400);

    const ct = String(req.headers['content-type'] ?? '');
    let soap: Buffer;
    let session: NtlmSession | undefined;
    if (isEncryptedContentType(ct)) {
      session = st.auth.ntlm?.session;
      if (!session) return this.plain(res, rec, 400, undefined, true);
      try {
        soap = decryptMessage(session, raw, ct);
      } catch {
        return this.plain(res, rec, 400, undefined, true);
      }
      rec.encrypted = true;
    } else if (isSoapUtf8(ct)) {
      if (auth.scheme === 'ntlm' && !this.tls && !this.cfg.allowUnencrypted) {
        this.lint('plaintext-ntlm', 'an NTLM-authenticated plaintext SOAP body was sent over HTTP');
        rec.authFailure = 'plaintext body over HTTP while AllowUnencrypted=false';
        return this.unauthorized(res, rec);
      }
      soap = raw;
    } else {
      return this.plain(res, rec, 415);
    }

    const v = validateRequest(soap.toString('utf8'), this.cfg.maxTimeoutMs ?? 60_000);
    if ('badRequest' in v) return this.plain(res, rec, 400, undefined, false, session);
    if ('fault' in v) {
      if (v.action) rec.action = v.action;
      if (v.messageId) rec.messageId = v.messageId;
      return this.sendSoap(res, rec, 500, this.faultXml(rec, v.fault, v.arg, v.messageId), session);
    }
    const r = v.ok;
    Object.assign(rec, { action: r.action, messageId: r.messageId, options: r.options, operationTimeoutMs: r.operationTimeoutMs, maxEnvelope: r.maxEnvelope });
    if (r.shellId) rec.shellId = r.shellId;

    const rule = this.matchRule(r.action);
    if (rule) rec.injected = JSON.stringify(rule);
    if (rule?.auth401) {
      st.auth = {};
      return this.unauthorized(res, rec);
    }
    if (rule?.dropBeforeResponse) {
      socket.destroy();
      return;
    }
    // Only messages that reached the service count: resending one refused with 401 or lost before it was read is fine.
    if (this.messageIds.has(r.messageId.toLowerCase())) this.lint('duplicate-message-id', `MessageID ${r.messageId} was sent twice`);
    this.messageIds.add(r.messageId.toLowerCase());
    if (rule?.http) {
      if (rule.delayMs) await this.delay(rule.delayMs);
      const { status, body = '', contentType = 'text/html' } = rule.http;
      rec.status = status;
      res.writeHead(status, { Server: SERVER_HEADER, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const gone = new AbortController();
    res.on('close', () => { if (!res.writableFinished) gone.abort(); });
    let out: OpResult;
    if (rule?.fault) out = typeof rule.fault === 'string' ? { fault: rule.fault } : { fault: 'AccessDenied' };
    else out = await this.dispatch(r, rec, auth.user, socket.remoteAddress ?? '127.0.0.1', gone.signal);
    if ('gone' in out) return;
    let xml: string;
    let status = 200;
    if ('fault' in out) {
      status = 500;
      xml = typeof rule?.fault === 'object' ? this.faultSpecXml(rec, rule.fault, r.messageId) : this.faultXml(rec, out.fault, out.arg, r.messageId);
    } else {
      xml = envelope(out.action, r.messageId, out.body);
    }
    if (rule?.delayMs) await this.delay(rule.delayMs);
    if (socket.destroyed) return;
    if (rule?.dropResponse) {
      socket.destroy();
      return;
    }
    this.sendSoap(res, rec, status, xml, session, rule);
  }

  private async dispatch(r: WsmanRequest, rec: RequestRecord, user: string, clientIp: string, gone: AbortSignal): Promise<OpResult> {
    if (r.action === 'Create') {
      const cp = Number(r.options.WINRS_CODEPAGE ?? 437);
      const out = this.host.create(user, cp, /^true$/i.test(r.options.WINRS_NOPROFILE ?? 'false'), clientIp.replace(/^::ffff:/, ''));
      if ('body' in out) rec.shellId = /<rsp:ShellId>([^<]+)</.exec(out.body)?.[1];
      return out;
    }
    const shell = this.host.shell(r.shellId);
    if (!shell) return { fault: 'InvalidShell', arg: r.shellId ?? '' };
    switch (r.action) {
      case 'Command': {
        const cl = commandLine(r.body);
        if ('fault' in cl) return cl;
        rec.commandLine = cl.line;
        const { result, info } = this.host.command(shell, cl.line, /^true$/i.test(r.options.WINRS_SKIP_CMD_SHELL ?? 'false'));
        rec.commandId = info.id;
        if (info.psScript !== undefined) rec.psScript = info.psScript;
        return result;
      }
      case 'Receive': {
        const t = receiveTarget(r.body);
        if ('fault' in t) return t;
        rec.commandId = t.commandId;
        return await this.host.receive(shell, t.commandId, r.operationTimeoutMs, r.maxEnvelope, AbortSignal.any([gone, this.closing.signal]));
      }
      case 'Send': {
        const s = sendInput(r.body);
        if ('fault' in s) return s;
        rec.commandId = s.commandId;
        rec.stdin = decodeText(s.bytes, shell.codepage);
        return this.host.send(shell, s.commandId, s.bytes, s.end);
      }
      case 'Signal': {
        const s = signalCode(r.body);
        if ('fault' in s) return s;
        rec.commandId = s.commandId;
        rec.signal = s.code;
        return this.host.signal(shell, s.commandId, s.code);
      }
      case 'Delete':
        return this.host.delete(shell);
    }
  }

  private faultXml(rec: RequestRecord, name: FaultName, arg: string | undefined, relatesTo: string | undefined): string {
    return this.faultSpecXml(rec, cannedFault(name, arg), relatesTo);
  }

  private faultSpecXml(rec: RequestRecord, spec: FaultSpec, relatesTo: string | undefined): string {
    rec.fault = spec.subcode ?? spec.code;
    return faultEnvelope(spec, relatesTo, this.hostname.toLowerCase());
  }

  private async delay(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.closing.signal }).catch(() => undefined);
  }

  private sendSoap(res: http.ServerResponse, rec: RequestRecord, status: number, xml: string, session: NtlmSession | undefined, rule?: InjectRule): void {
    let body: Buffer = Buffer.from(xml, 'utf8');
    rec.responseBytes = body.length;
    let contentType = 'application/soap+xml;charset=UTF-8';
    if (session) ({ body, contentType } = encryptMessage(session, body));
    const headers: http.OutgoingHttpHeaders = { Server: SERVER_HEADER, 'Content-Type': contentType, 'Content-Length': body.length };
    if (rule?.closeAfterResponse) headers.Connection = 'close';
    if (rule?.dropMidBody) {
      res.writeHead(status, headers);
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      return;
    }
    rec.status = status;
    res.writeHead(status, headers);
    res.end(body);
  }

  private unauthorized(res: http.ServerResponse, rec: RequestRecord, challenge?: Buffer): void {
    const offers: string[] = [];
    if (challenge) offers.push(`Negotiate ${challenge.toString('base64')}`);
    else {
      if (this.cfg.auth.ntlm) offers.push('Negotiate');
      if (this.cfg.auth.basic) offers.push('Basic realm="WSMAN"');
    }
    rec.status = 401;
    res.writeHead(401, { Server: SERVER_HEADER, 'WWW-Authenticate': offers, 'Content-Length': 0 });
    res.end();
  }

  private plain(res: http.ServerResponse, rec: RequestRecord | undefined, status: number, body = '', closeSocket = false, _session?: NtlmSession): void {
    if (rec) rec.status = status;
    const headers: http.OutgoingHttpHeaders = { Server: SERVER_HEADER, 'Content-Length': Buffer.byteLength(body) };
    if (closeSocket) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  /** Stops everything; rejects with the lints that are not allowed (open shells, duplicate MessageIDs, …). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    const { openShells, uncleaned } = this.host.close();
    for (const s of openShells) this.lint('open-shell', `shell ${s.id} of ${s.user} was never deleted`);
    for (const c of uncleaned) this.lint('command-not-cleaned', `command ${c.id} (${JSON.stringify(c.line.slice(0, 80))}) was never signalled or deleted`);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const s of this.open) s.destroy();
    });
    const failing = this.lints.filter((l) => !this.allowed.has(l.kind));
    if (failing.length > 0) {
      throw new Error(`WinRM test server lints:\n${failing.map((l) => `  [${l.kind}] ${l.message}`).join('\n')}`);
    }
  }
}
