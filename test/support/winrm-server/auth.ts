/**
 * HTTP authentication of the fake host (§3.2, §2.11): Basic for local-style names, and an NTLM acceptor bound to
 * the connection. The NTLM and sealing primitives are the client's own (workers/winrm/client/ntlm.ts), run on the
 * acceptor side; both sides are pinned to the MS-NLMP vectors by their unit tests.
 */
import { timingSafeEqual } from 'node:crypto';
import { NtlmAcceptor, type NtlmSession } from '../../../workers/winrm/client/ntlm.js';

/** Auth configuration of the fake host. */
export interface ServerAuthConfig {
  /** Basic for local accounts: user → password. Domain-style names (`\`, `@`) get 401, as on Windows. */
  basic?: { users: Record<string, string> };
  /** NTLM through the Negotiate scheme. */
  ntlm?: {
    users: Record<string, string>;
    /** NetBIOS domain; default 'WIN-FAKE01' (a workgroup host answers with its own name). */
    domain?: string;
    /** NetBIOS computer name; default the server's hostname. */
    computerName?: string;
    /** CbtHardeningLevel=Strict: demand channel bindings of the server certificate (HTTPS only). */
    requireCbt?: boolean;
  };
}

/** Per-connection auth state (NTLM binds to the TCP connection). */
export interface AuthCtx {
  acceptor?: NtlmAcceptor;
  /** Set once NTLM completed on this connection. */
  ntlm?: { user: string; session: NtlmSession };
}

/** What one request's Authorization header amounted to. */
export type AuthOutcome =
  | { ok: true; scheme: 'basic' | 'ntlm'; user: string; handshake?: false }
  /** NTLM Type3 accepted on this request; the body (possibly empty) still has to be served. */
  | { ok: true; scheme: 'ntlm'; user: string; handshake: true }
  /** Answer 401; `challenge` is the Type2 token for a Negotiate leg. */
  | { ok: false; scheme: 'basic' | 'ntlm' | null; challenge?: Buffer; reason: string };

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Authenticates one request against the config and the connection's context. */
export function authenticate(
  header: string | undefined,
  ctx: AuthCtx,
  cfg: ServerAuthConfig,
  hostname: string,
  serverCertDer: Buffer | undefined,
): AuthOutcome {
  if (!header) {
    if (ctx.ntlm) return { ok: true, scheme: 'ntlm', user: ctx.ntlm.user };
    return { ok: false, scheme: null, reason: 'no Authorization header' };
  }
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const token = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'basic') {
    if (!cfg.basic) return { ok: false, scheme: 'basic', reason: 'Basic is disabled' };
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    if (/[\\@]/.test(user)) return { ok: false, scheme: 'basic', reason: 'Basic accepts local accounts only' };
    const entry = Object.entries(cfg.basic.users).find(([name]) => name.toLowerCase() === user.toLowerCase());
    if (!entry || !safeEqual(entry[1], password)) return { ok: false, scheme: 'basic', reason: 'bad Basic credentials' };
    return { ok: true, scheme: 'basic', user: entry[0] };
  }
  if (scheme === 'negotiate' || scheme === 'ntlm') {
    const ntlm = cfg.ntlm;
    if (!ntlm) return { ok: false, scheme: 'ntlm', reason: 'Negotiate is disabled' };
    const raw = Buffer.from(token, 'base64');
    // A NEGOTIATE message starts a fresh handshake, even on an authenticated connection.
    if (raw.length >= 12 && raw.readUInt32LE(8) === 1) {
      ctx.ntlm = undefined;
      ctx.acceptor = new NtlmAcceptor({
        users: ntlm.users,
        domain: ntlm.domain ?? hostname,
        computerName: ntlm.computerName ?? hostname,
        ...(ntlm.requireCbt ? { requireCbt: true } : {}),
        ...(serverCertDer ? { serverCertDer } : {}),
      });
    }
    if (!ctx.acceptor) return { ok: false, scheme: 'ntlm', reason: 'AUTHENTICATE without NEGOTIATE on this connection' };
    const step = ctx.acceptor.step(raw);
    if (step.kind === 'challenge') return { ok: false, scheme: 'ntlm', challenge: step.token, reason: 'challenge' };
    ctx.acceptor = undefined;
    if (step.kind === 'failed') return { ok: false, scheme: 'ntlm', reason: step.reason };
    ctx.ntlm = { user: step.user, session: step.session };
    return { ok: true, scheme: 'ntlm', user: step.user, handshake: true };
  }
  return { ok: false, scheme: null, reason: `unsupported scheme ${scheme}` };
}
