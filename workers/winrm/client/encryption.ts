/**
 * WinRM message encryption over HTTP (MS-WSMV, pywinrm `encryption.py`): a SOAP body sealed with the
 * NTLM session and framed as multipart/encrypted. Used by both the client (transport.ts) and the test
 * server; the session's side decides which keys seal and which verify.
 */
import { NtlmError, type NtlmSession } from './ntlm.js';

/** The boundary Windows and pywinrm use. */
export const ENCRYPTED_BOUNDARY = 'Encrypted Boundary';
const PROTOCOL = 'application/HTTP-SPNEGO-session-encrypted';
/** Content-Type of an encrypted request or response. */
export const ENCRYPTED_CONTENT_TYPE = `multipart/encrypted;protocol="${PROTOCOL}";boundary="${ENCRYPTED_BOUNDARY}"`;
const SOAP_TYPE = 'application/soap+xml;charset=UTF-8';

/** True when a Content-Type header announces NTLM-encrypted multipart. */
export function isEncryptedContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const ct = contentType.toLowerCase();
  return ct.startsWith('multipart/encrypted') && ct.includes(PROTOCOL.toLowerCase());
}

/** Seals `soap` (the plaintext envelope bytes) and frames it. Advances the session's outgoing sequence. */
export function encryptMessage(session: NtlmSession, soap: Buffer): { body: Buffer; contentType: string } {
  const { sealed, signature } = session.seal(soap);
  const sigLen = Buffer.alloc(4);
  sigLen.writeUInt32LE(signature.length);
  const body = Buffer.concat([
    Buffer.from(
      `--${ENCRYPTED_BOUNDARY}\r\n` +
        `\tContent-Type: ${PROTOCOL}\r\n` +
        `\tOriginalContent: type=${SOAP_TYPE};Length=${soap.length}\r\n` +
        `--${ENCRYPTED_BOUNDARY}\r\n` +
        `\tContent-Type: application/octet-stream\r\n`,
      'latin1',
    ),
    sigLen,
    signature,
    sealed,
    Buffer.from(`--${ENCRYPTED_BOUNDARY}--\r\n`, 'latin1'),
  ]);
  return { body, contentType: ENCRYPTED_CONTENT_TYPE };
}

/**
 * Parses the framing, unseals and verifies the signature, and checks `Length=`. Throws NtlmError on
 * malformed framing, a bad signature or sequence number, or a length mismatch.
 */
export function decryptMessage(session: NtlmSession, body: Buffer, contentType: string): Buffer {
  if (!isEncryptedContentType(contentType)) throw new NtlmError('encryption: not a multipart/encrypted body');
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1] ?? ENCRYPTED_BOUNDARY;
  const head = body.subarray(0, Math.min(body.length, 1024)).toString('latin1');
  const length = /Length=(\d+)/i.exec(head)?.[1];
  if (length === undefined) throw new NtlmError('encryption: OriginalContent has no Length');
  const marker = 'application/octet-stream\r\n';
  const at = head.toLowerCase().indexOf(marker);
  if (at < 0) throw new NtlmError('encryption: no octet-stream part');
  const start = at + marker.length;
  const end = body.lastIndexOf(Buffer.from(`--${boundary}--`, 'latin1'));
  if (end < start + 4) throw new NtlmError('encryption: truncated encrypted part');
  const sigLen = body.readUInt32LE(start);
  if (sigLen !== 16 || start + 4 + sigLen > end) throw new NtlmError('encryption: bad signature length');
  const signature = body.subarray(start + 4, start + 4 + sigLen);
  const sealed = body.subarray(start + 4 + sigLen, end);
  const plain = session.unseal(sealed, signature);
  if (plain.length !== Number(length)) {
    throw new NtlmError(`encryption: decrypted length ${plain.length} does not match Length=${length}`);
  }
  return plain;
}
