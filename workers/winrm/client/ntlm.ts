/**
 * NTLMv2 (MS-NLMP) for WinRM: the initiator (client) and the acceptor (the test server), both ends of
 * session security (seal/unseal, sign/verify), and TLS channel bindings. Pinned to the MS-NLMP §4.2.4
 * vectors in test/workers/winrm-ntlm.test.ts. No npm NTLM package exports the session key or seals,
 * and OpenSSL 3 dropped MD4 and RC4, hence js-md4 and ./rc4.ts.
 */
import { createHash, createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import md4 from 'js-md4';
import { Rc4, rc4 } from './rc4.js';

/** NEGOTIATE flags (MS-NLMP §2.2.2.5) we use. */
export const NTLM_FLAGS = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  NTLM: 0x00000200,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  NEGOTIATE_128: 0x20000000,
  KEY_EXCH: 0x40000000,
  NEGOTIATE_56: 0x80000000,
} as const;

/** What the client asks for in NEGOTIATE (0xE2888235, the MS-NLMP example set plus KEY_EXCH/56/128). */
export const CLIENT_FLAGS =
  (NTLM_FLAGS.UNICODE | NTLM_FLAGS.REQUEST_TARGET | NTLM_FLAGS.SIGN | NTLM_FLAGS.SEAL | NTLM_FLAGS.NTLM |
    NTLM_FLAGS.ALWAYS_SIGN | NTLM_FLAGS.EXTENDED_SESSIONSECURITY | NTLM_FLAGS.TARGET_INFO | NTLM_FLAGS.VERSION |
    NTLM_FLAGS.NEGOTIATE_128 | NTLM_FLAGS.KEY_EXCH | NTLM_FLAGS.NEGOTIATE_56) >>> 0;

/** AV_PAIR ids (MS-NLMP §2.2.2.1). */
export const AV = {
  EOL: 0,
  NbComputerName: 1,
  NbDomainName: 2,
  DnsComputerName: 3,
  DnsDomainName: 4,
  DnsTreeName: 5,
  Flags: 6,
  Timestamp: 7,
  SingleHost: 8,
  TargetName: 9,
  ChannelBindings: 10,
} as const;

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
/** Version field we send: Windows 10.0 build 17763, NTLM revision 15 (only informational). */
const VERSION = Buffer.from([10, 0, 0x63, 0x45, 0, 0, 0, 15]);
const MIC_OFFSET = 72;

/** A malformed token, a failed check, or a bad signature. Messages never contain secrets. */
export class NtlmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NtlmError';
  }
}

type RandomBytes = (n: number) => Buffer;

// ---------------------------------------------------------------------------------------------------
// Primitives (exported for the known-answer tests)

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');
const hmacMd5 = (key: Uint8Array, ...data: Uint8Array[]): Buffer => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};
const md5 = (...data: Uint8Array[]): Buffer => {
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return h.digest();
};

/** NTOWFv2 = HMAC_MD5(MD4(UTF16LE(password)), UTF16LE(UPPER(user) + domain)); the domain is NOT upper-cased. */
export function ntowfv2(password: string, user: string, domain: string): Buffer {
  const ntHash = Buffer.from(md4.arrayBuffer(utf16(password)));
  return hmacMd5(ntHash, utf16(user.toUpperCase() + domain));
}

/** The NTLMv2 client blob ("temp" in MS-NLMP §3.3.2): 0x0101, Z(6), time, client challenge, Z(4), AV pairs, Z(4). */
export function ntlmv2Blob(timestamp: Buffer, clientChallenge: Buffer, targetInfo: Buffer): Buffer {
  return Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), timestamp, clientChallenge, Buffer.alloc(4), targetInfo, Buffer.alloc(4)]);
}

/** NTProofStr, the NT response (NTProofStr ‖ blob), LMv2 response and SessionBaseKey (MS-NLMP §3.3.2). */
export function computeNtlmv2(ntowf: Buffer, serverChallenge: Buffer, clientChallenge: Buffer, blob: Buffer) {
  const ntProofStr = hmacMd5(ntowf, serverChallenge, blob);
  return {
    ntProofStr,
    ntResponse: Buffer.concat([ntProofStr, blob]),
    lmResponse: Buffer.concat([hmacMd5(ntowf, serverChallenge, clientChallenge), clientChallenge]),
    sessionBaseKey: hmacMd5(ntowf, ntProofStr),
  };
}

/** The four session-security keys derived from ExportedSessionKey (MS-NLMP §3.4.5.2–3). */
export function deriveKeys(exportedSessionKey: Buffer, flags: number) {
  const magic = (s: string): Buffer => Buffer.from(`session key to ${s} key magic constant\0`, 'latin1');
  let sealBase = exportedSessionKey;
  if (!(flags & NTLM_FLAGS.NEGOTIATE_128)) sealBase = exportedSessionKey.subarray(0, flags & NTLM_FLAGS.NEGOTIATE_56 ? 7 : 5);
  return {
    clientSign: md5(exportedSessionKey, magic('client-to-server signing')),
    serverSign: md5(exportedSessionKey, magic('server-to-client signing')),
    clientSeal: md5(sealBase, magic('client-to-server sealing')),
    serverSeal: md5(sealBase, magic('server-to-client sealing')),
  };
}

/**
 * The unhashed gss_channel_bindings_struct for HTTPS (RFC 5929 tls-server-end-point): four zero
 * address fields, then application data `"tls-server-end-point:" ‖ H(server cert DER)`, where H is the
 * certificate's signature hash, or SHA-256 when that is MD5/SHA-1. MD5 of this goes into MsvAvChannelBindings.
 */
export function tlsServerEndPointBindings(serverCertDer: Buffer): Buffer {
  const hash = createHash(certSignatureHash(serverCertDer)).update(serverCertDer).digest();
  const appData = Buffer.concat([Buffer.from('tls-server-end-point:', 'latin1'), hash]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(appData.length);
  return Buffer.concat([Buffer.alloc(16), len, appData]);
}

/** Hash of the certificate's signatureAlgorithm (outer Certificate.signatureAlgorithm OID); SHA-256 by default. */
function certSignatureHash(der: Buffer): 'sha256' | 'sha384' | 'sha512' {
  try {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, … }, … }
    const outer = derHeader(der, 0);
    const tbs = derHeader(der, outer.contentStart);
    const alg = derHeader(der, tbs.contentStart + tbs.length);
    const oid = derHeader(der, alg.contentStart);
    const hex = der.subarray(oid.contentStart, oid.contentStart + oid.length).toString('hex');
    // sha384WithRSA 1.2.840.113549.1.1.12, ecdsa-with-SHA384 1.2.840.10045.4.3.3; sha512 …1.13 / …4.3.4
    if (hex === '2a864886f70d01010c' || hex === '2a8648ce3d040303') return 'sha384';
    if (hex === '2a864886f70d01010d' || hex === '2a8648ce3d040304') return 'sha512';
  } catch {
    // Unparsable: fall through to the RFC 5929 default.
  }
  return 'sha256';
}

function derHeader(buf: Buffer, offset: number): { contentStart: number; length: number } {
  let p = offset + 1;
  const first = buf[p++];
  if (first === undefined) throw new NtlmError('DER: truncated');
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n < 1 || n > 4) throw new NtlmError('DER: bad length');
    length = 0;
    for (let k = 0; k < n; k++) length = length * 256 + (buf[p++] ?? 0);
  }
  if (p + length > buf.length) throw new NtlmError('DER: truncated');
  return { contentStart: p, length };
}

/** Windows FILETIME (100 ns ticks since 1601) of `ms` since the epoch, little-endian. */
export function fileTime(ms: number = Date.now()): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(ms) + 11644473600000n) * 10000n);
  return b;
}

// ---------------------------------------------------------------------------------------------------
// AV pairs and message fields

/** AV pairs as an ordered list (EOL excluded). */
export type AvPairs = Array<{ id: number; value: Buffer }>;

export function parseAvPairs(buf: Buffer): AvPairs {
  const out: AvPairs = [];
  let p = 0;
  while (p + 4 <= buf.length) {
    const id = buf.readUInt16LE(p);
    const len = buf.readUInt16LE(p + 2);
    if (id === AV.EOL) return out;
    if (p + 4 + len > buf.length) throw new NtlmError('NTLM: AV pair overruns target info');
    out.push({ id, value: buf.subarray(p + 4, p + 4 + len) });
    p += 4 + len;
  }
  throw new NtlmError('NTLM: target info has no MsvAvEOL');
}

export function encodeAvPairs(pairs: AvPairs): Buffer {
  const parts: Buffer[] = [];
  for (const { id, value } of pairs) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(id, 0);
    h.writeUInt16LE(value.length, 2);
    parts.push(h, value);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

function readField(msg: Buffer, at: number): Buffer {
  if (at + 8 > msg.length) throw new NtlmError('NTLM: message too short');
  const len = msg.readUInt16LE(at);
  const off = msg.readUInt32LE(at + 4);
  if (len === 0) return Buffer.alloc(0);
  if (off + len > msg.length) throw new NtlmError('NTLM: field overruns message');
  return msg.subarray(off, off + len);
}

/** Lays out a message: fixed header `head` with 8-byte field descriptors at `fieldAt[i]`, payloads appended. */
function layout(head: Buffer, fields: Array<{ at: number; value: Buffer }>): Buffer {
  let off = head.length;
  for (const f of fields) {
    head.writeUInt16LE(f.value.length, f.at);
    head.writeUInt16LE(f.value.length, f.at + 2);
    head.writeUInt32LE(off, f.at + 4);
    off += f.value.length;
  }
  return Buffer.concat([head, ...fields.map((f) => f.value)]);
}

function messageType(token: Buffer): number {
  if (token.length < 12 || !token.subarray(0, 8).equals(SIGNATURE)) throw new NtlmError('NTLM: not an NTLMSSP token');
  return token.readUInt32LE(8);
}

/** Finds the raw NTLMSSP token inside a possibly SPNEGO-wrapped one. */
export function unwrapNtlmToken(token: Buffer): Buffer {
  const at = token.indexOf(SIGNATURE);
  if (at < 0) throw new NtlmError('NTLM: no NTLMSSP token in the Negotiate header');
  return token.subarray(at);
}

/** A parsed CHALLENGE (Type 2) message. */
export interface ChallengeMessage {
  flags: number;
  serverChallenge: Buffer;
  targetName: Buffer;
  targetInfo: Buffer;
}

export function parseChallenge(token: Buffer): ChallengeMessage {
  if (messageType(token) !== 2) throw new NtlmError('NTLM: expected a CHALLENGE message');
  if (token.length < 48) throw new NtlmError('NTLM: CHALLENGE message too short');
  return {
    targetName: readField(token, 12),
    flags: token.readUInt32LE(20) >>> 0,
    serverChallenge: Buffer.from(token.subarray(24, 32)),
    targetInfo: readField(token, 40),
  };
}

// ---------------------------------------------------------------------------------------------------
// Session security

/**
 * One side's NTLM session security: sealing and signing with continuous RC4 per direction and a
 * sequence number per direction from 0. The client signs/seals with client-to-server keys and verifies
 * with server-to-client keys; the server the other way round.
 */
export class NtlmSession {
  /** Negotiated flags. */
  readonly flags: number;
  private readonly outSign: Buffer;
  private readonly inSign: Buffer;
  private readonly outSeal: Rc4;
  private readonly inSeal: Rc4;
  private outSeq = 0;
  private inSeq = 0;

  constructor(readonly side: 'client' | 'server', exportedSessionKey: Buffer, flags: number) {
    this.flags = flags >>> 0;
    const k = deriveKeys(exportedSessionKey, this.flags);
    const client = side === 'client';
    this.outSign = client ? k.clientSign : k.serverSign;
    this.inSign = client ? k.serverSign : k.clientSign;
    this.outSeal = new Rc4(client ? k.clientSeal : k.serverSeal);
    this.inSeal = new Rc4(client ? k.serverSeal : k.clientSeal);
  }

  /** GSS_WrapEx: seals `message` and returns the sealed bytes and the 16-byte signature. */
  seal(message: Buffer): { sealed: Buffer; signature: Buffer } {
    const sealed = this.outSeal.update(message);
    return { sealed, signature: this.makeSignature(message) };
  }

  /** GSS_UnwrapEx: unseals and verifies; throws NtlmError on a bad checksum or sequence number. */
  unseal(sealed: Buffer, signature: Buffer): Buffer {
    const message = this.inSeal.update(sealed);
    this.checkSignature(message, signature);
    return message;
  }

  /** GSS_GetMICEx: a signature over `message` (not sealed). */
  sign(message: Buffer): Buffer {
    return this.makeSignature(message);
  }

  /** GSS_VerifyMICEx: throws NtlmError unless `signature` is the peer's next valid signature over `message`. */
  verify(message: Buffer, signature: Buffer): void {
    this.checkSignature(message, signature);
  }

  private makeSignature(message: Buffer): Buffer {
    const seq = Buffer.alloc(4);
    seq.writeUInt32LE(this.outSeq++ >>> 0);
    let checksum = hmacMd5(this.outSign, seq, message).subarray(0, 8);
    if (this.flags & NTLM_FLAGS.KEY_EXCH) checksum = this.outSeal.update(checksum);
    return Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, seq]);
  }

  private checkSignature(message: Buffer, signature: Buffer): void {
    if (signature.length !== 16 || signature.readUInt32LE(0) !== 1) throw new NtlmError('NTLM: malformed message signature');
    const seq = Buffer.alloc(4);
    seq.writeUInt32LE(this.inSeq++ >>> 0);
    let expected = hmacMd5(this.inSign, seq, message).subarray(0, 8);
    if (this.flags & NTLM_FLAGS.KEY_EXCH) expected = this.inSeal.update(expected);
    const got = signature.subarray(4, 12);
    if (!signature.subarray(12, 16).equals(seq)) throw new NtlmError('NTLM: unexpected sequence number');
    if (!timingSafeEqual(expected, got)) throw new NtlmError('NTLM: bad message signature');
  }
}

// ---------------------------------------------------------------------------------------------------
// Initiator (client)

/** Client credentials. `username` may be `DOMAIN\user` (domain split off) or `user@domain` (sent as is, empty domain). */
export interface NtlmCredentials {
  username: string;
  password: string;
  /** '' or '.' = local account. */
  domain?: string;
  /** Default '' (Windows does not need it). */
  workstation?: string;
}

/** Test hooks: fixed randomness and time, for known-answer tests only. */
export interface NtlmTestHooks {
  randomBytes?: RandomBytes;
  /** FILETIME to use when the CHALLENGE carries no MsvAvTimestamp. */
  timestamp?: Buffer;
}

/** Splits `DOMAIN\user`; maps '.' to '' (local account). */
export function splitUser(username: string, domain?: string): { user: string; domain: string } {
  let user = username;
  let dom = domain ?? '';
  const bs = username.indexOf('\\');
  if (bs >= 0) {
    dom = username.slice(0, bs);
    user = username.slice(bs + 1);
  }
  if (dom === '.') dom = '';
  return { user, domain: dom };
}

/**
 * The client side of one NTLM handshake (one per connection): `negotiate()` → Type 1, then
 * `authenticate(type2)` → Type 3 plus the session. NTLMv2 only, with KEY_EXCH, MIC and optional CBT.
 */
export class NtlmInitiator {
  private negotiateMsg: Buffer | undefined;
  private readonly user: string;
  private readonly domain: string;
  private readonly random: RandomBytes;

  constructor(private readonly creds: NtlmCredentials, private readonly hooks: NtlmTestHooks = {}) {
    const { user, domain } = splitUser(creds.username, creds.domain);
    this.user = user;
    this.domain = domain;
    this.random = hooks.randomBytes ?? cryptoRandomBytes;
  }

  /** The NEGOTIATE (Type 1) token. Domain and workstation are not sent (Windows does not need them). */
  negotiate(): Buffer {
    const head = Buffer.alloc(40);
    SIGNATURE.copy(head, 0);
    head.writeUInt32LE(1, 8);
    head.writeUInt32LE(CLIENT_FLAGS, 12);
    head.writeUInt32LE(40, 20);
    head.writeUInt32LE(40, 28);
    VERSION.copy(head, 32);
    this.negotiateMsg = head;
    return head;
  }

  /**
   * Answers the CHALLENGE (raw or SPNEGO-wrapped). `cbt` is the unhashed gss_channel_bindings_struct
   * (see {@link tlsServerEndPointBindings}); without it MsvAvChannelBindings is Z(16).
   */
  authenticate(challengeToken: Buffer, opts: { cbt?: Buffer } = {}): { token: Buffer; session: NtlmSession } {
    if (!this.negotiateMsg) throw new NtlmError('NTLM: authenticate() before negotiate()');
    const challengeBytes = unwrapNtlmToken(challengeToken);
    const challenge = parseChallenge(challengeBytes);
    if (!(challenge.flags & NTLM_FLAGS.UNICODE)) throw new NtlmError('NTLM: server does not support Unicode');
    const flags = (CLIENT_FLAGS & challenge.flags) >>> 0;

    const pairs = parseAvPairs(challenge.targetInfo);
    const serverTime = pairs.find((p) => p.id === AV.Timestamp)?.value;
    const timestamp = serverTime ?? this.hooks.timestamp ?? fileTime();
    const out: AvPairs = pairs.filter((p) => p.id !== AV.Flags && p.id !== AV.ChannelBindings);
    const oldFlags = pairs.find((p) => p.id === AV.Flags)?.value;
    const avFlags = Buffer.alloc(4);
    avFlags.writeUInt32LE(((oldFlags && oldFlags.length >= 4 ? oldFlags.readUInt32LE(0) : 0) | 0x2) >>> 0); // MIC present
    out.push({ id: AV.Flags, value: avFlags });
    out.push({ id: AV.ChannelBindings, value: opts.cbt ? md5(opts.cbt) : Buffer.alloc(16) });

    const clientChallenge = this.random(8);
    const ntowf = ntowfv2(this.creds.password, this.user, this.domain);
    const blob = ntlmv2Blob(timestamp, clientChallenge, encodeAvPairs(out));
    const r = computeNtlmv2(ntowf, challenge.serverChallenge, clientChallenge, blob);
    // With MsvAvTimestamp the LMv2 response is Z(24) (MS-NLMP §3.1.5.1.2).
    const lmResponse = serverTime ? Buffer.alloc(24) : r.lmResponse;

    let exportedSessionKey = r.sessionBaseKey;
    let encryptedKey: Buffer = Buffer.alloc(0);
    if (flags & NTLM_FLAGS.KEY_EXCH) {
      exportedSessionKey = this.random(16);
      encryptedKey = rc4(r.sessionBaseKey, exportedSessionKey);
    }

    const head = Buffer.alloc(88);
    SIGNATURE.copy(head, 0);
    head.writeUInt32LE(3, 8);
    head.writeUInt32LE(flags, 60);
    VERSION.copy(head, 64);
    const token = layout(head, [
      { at: 28, value: utf16(this.domain) },
      { at: 36, value: utf16(this.user) },
      { at: 44, value: utf16(this.creds.workstation ?? '') },
      { at: 12, value: lmResponse },
      { at: 20, value: r.ntResponse },
      { at: 52, value: encryptedKey },
    ]);
    hmacMd5(exportedSessionKey, this.negotiateMsg, challengeBytes, token).copy(token, MIC_OFFSET);
    return { token, session: new NtlmSession('client', exportedSessionKey, flags) };
  }
}

// ---------------------------------------------------------------------------------------------------
// Acceptor (server)

/** Acceptor configuration (the test server's `auth.ntlm`). */
export interface NtlmAcceptorConfig {
  /** user name (case-insensitive) → password. */
  users: Record<string, string>;
  /** NetBIOS domain name, e.g. 'LAB'. */
  domain: string;
  /** NetBIOS computer name, e.g. 'WIN-FAKE01'. */
  computerName: string;
  /** Demand a matching MsvAvChannelBindings (CbtHardeningLevel=Strict); needs `serverCertDer`. */
  requireCbt?: boolean;
  /** DER of the TLS server certificate, to compute the expected channel bindings. */
  serverCertDer?: Buffer;
}

/** Result of one acceptor step. */
export type NtlmAcceptorStep =
  | { kind: 'challenge'; token: Buffer }
  | { kind: 'done'; user: string; domain: string; session: NtlmSession }
  | { kind: 'failed'; reason: string };

/** Flags the acceptor can grant. */
const SERVER_SUPPORTED = (CLIENT_FLAGS | NTLM_FLAGS.OEM) >>> 0;

/**
 * The server side of NTLM for one connection: `step(type1)` → CHALLENGE; `step(type3)` → the
 * authenticated user and session, or a failure (bad password, MIC, channel bindings, malformed).
 */
export class NtlmAcceptor {
  private negotiateMsg: Buffer | undefined;
  private challengeMsg: Buffer | undefined;
  private serverChallenge: Buffer | undefined;
  private flags = 0;
  private readonly random: RandomBytes;

  constructor(private readonly config: NtlmAcceptorConfig, private readonly hooks: NtlmTestHooks = {}) {
    this.random = hooks.randomBytes ?? cryptoRandomBytes;
  }

  /** Feeds a raw (or SPNEGO-wrapped) NTLMSSP token from the client. */
  step(token: Buffer): NtlmAcceptorStep {
    let raw: Buffer;
    let type: number;
    try {
      raw = unwrapNtlmToken(token);
      type = messageType(raw);
    } catch (err) {
      return { kind: 'failed', reason: (err as Error).message };
    }
    if (type === 1) return this.challenge(raw);
    if (type === 3) {
      try {
        return this.authenticate(raw);
      } catch (err) {
        return { kind: 'failed', reason: (err as Error).message };
      }
    }
    return { kind: 'failed', reason: `NTLM: unexpected message type ${type}` };
  }

  private challenge(negotiate: Buffer): NtlmAcceptorStep {
    if (negotiate.length < 16) return { kind: 'failed', reason: 'NTLM: NEGOTIATE message too short' };
    const requested = negotiate.readUInt32LE(12);
    if (!(requested & NTLM_FLAGS.UNICODE)) return { kind: 'failed', reason: 'NTLM: client does not offer Unicode' };
    this.flags =
      ((requested & SERVER_SUPPORTED & ~NTLM_FLAGS.OEM) | NTLM_FLAGS.TARGET_INFO | NTLM_FLAGS.TARGET_TYPE_DOMAIN | NTLM_FLAGS.UNICODE) >>> 0;
    this.negotiateMsg = Buffer.from(negotiate);
    this.serverChallenge = this.random(8);
    const dnsDomain = `${this.config.domain.toLowerCase()}.local`;
    const targetInfo = encodeAvPairs([
      { id: AV.NbDomainName, value: utf16(this.config.domain) },
      { id: AV.NbComputerName, value: utf16(this.config.computerName) },
      { id: AV.DnsDomainName, value: utf16(dnsDomain) },
      { id: AV.DnsComputerName, value: utf16(`${this.config.computerName.toLowerCase()}.${dnsDomain}`) },
      { id: AV.Timestamp, value: this.hooks.timestamp ?? fileTime() },
    ]);
    const head = Buffer.alloc(56);
    SIGNATURE.copy(head, 0);
    head.writeUInt32LE(2, 8);
    head.writeUInt32LE(this.flags, 20);
    this.serverChallenge.copy(head, 24);
    VERSION.copy(head, 48);
    this.challengeMsg = layout(head, [
      { at: 12, value: utf16(this.config.domain) },
      { at: 40, value: targetInfo },
    ]);
    return { kind: 'challenge', token: this.challengeMsg };
  }

  private authenticate(msg: Buffer): NtlmAcceptorStep {
    if (!this.negotiateMsg || !this.challengeMsg || !this.serverChallenge) {
      return { kind: 'failed', reason: 'NTLM: AUTHENTICATE without a prior NEGOTIATE on this connection' };
    }
    if (msg.length < 64) return { kind: 'failed', reason: 'NTLM: AUTHENTICATE message too short' };
    const ntResponse = readField(msg, 20);
    const domain = readField(msg, 28).toString('utf16le');
    const user = readField(msg, 36).toString('utf16le');
    const encryptedKey = readField(msg, 52);
    const flags = msg.readUInt32LE(60) >>> 0;
    if (ntResponse.length < 16 + 28 + 4) return { kind: 'failed', reason: 'NTLM: not an NTLMv2 response' };

    // `user@domain` (UPN, sent with an empty domain) is looked up by its user part.
    const lookup = (user.includes('@') ? user.slice(0, user.lastIndexOf('@')) : user).toLowerCase();
    const entry = Object.entries(this.config.users).find(([name]) => name.toLowerCase() === lookup);
    if (!entry) return { kind: 'failed', reason: 'NTLM: unknown user' };
    const ntProofStr = ntResponse.subarray(0, 16);
    const blob = ntResponse.subarray(16);
    const ntowf = ntowfv2(entry[1], user, domain);
    const expected = hmacMd5(ntowf, this.serverChallenge, blob);
    if (!timingSafeEqual(expected, ntProofStr)) return { kind: 'failed', reason: 'NTLM: wrong password' };

    const sessionBaseKey = hmacMd5(ntowf, ntProofStr);
    const keyExch = (flags & this.flags & NTLM_FLAGS.KEY_EXCH) !== 0;
    if (keyExch && encryptedKey.length !== 16) return { kind: 'failed', reason: 'NTLM: missing EncryptedRandomSessionKey' };
    const exportedSessionKey = keyExch ? rc4(sessionBaseKey, encryptedKey) : sessionBaseKey;

    const pairs = parseAvPairs(blob.subarray(28));
    const avFlags = pairs.find((p) => p.id === AV.Flags)?.value;
    if (avFlags && avFlags.length >= 4 && avFlags.readUInt32LE(0) & 0x2) {
      if (msg.length < MIC_OFFSET + 16) return { kind: 'failed', reason: 'NTLM: MIC missing' };
      const mic = Buffer.from(msg.subarray(MIC_OFFSET, MIC_OFFSET + 16));
      const zeroed = Buffer.from(msg);
      zeroed.fill(0, MIC_OFFSET, MIC_OFFSET + 16);
      const want = hmacMd5(exportedSessionKey, this.negotiateMsg, this.challengeMsg, zeroed);
      if (!timingSafeEqual(want, mic)) return { kind: 'failed', reason: 'NTLM: bad MIC' };
    }
    if (this.config.requireCbt) {
      if (!this.config.serverCertDer) return { kind: 'failed', reason: 'NTLM: requireCbt without serverCertDer' };
      const got = pairs.find((p) => p.id === AV.ChannelBindings)?.value;
      const want = md5(tlsServerEndPointBindings(this.config.serverCertDer));
      if (!got || got.length !== 16 || !timingSafeEqual(got, want)) return { kind: 'failed', reason: 'NTLM: channel bindings missing or wrong' };
    }
    this.negotiateMsg = undefined;
    this.challengeMsg = undefined;
    this.serverChallenge = undefined;
    return { kind: 'done', user: entry[0], domain, session: new NtlmSession('server', exportedSessionKey, (flags & this.flags) >>> 0) };
  }
}
