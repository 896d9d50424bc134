/**
 * Secrets in a config file (docs/config-as-code.md, "Secrets"): AES-256-GCM under a key derived with
 * scrypt from a key file the operator keeps. Each value is base64(iv ‖ ciphertext ‖ tag) with AAD
 * `<section>/<name>/<field>`, so a value moved to another object or field fails to decrypt. The file's
 * `encryption.check` lets import reject a wrong key before it changes anything.
 *
 * Secrets reach the CLI from the gateway sealed under a random one-time transport key (the admin API
 * never answers a secret in clear): see {@link transportKey}.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SbError } from '../broker/errors.js';
import { Keyring, openSecret } from '../broker/secrets.js';
import type { ConfigEncryption } from '../schemas/config-doc.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Shortest key file accepted, bytes: a key file is a random key or a long passphrase, not a PIN. */
const KEY_FILE_MIN = 16;
const CHECK_WORD = 'switchboard';
/** scrypt parameters written by export: ~32 MiB and ~0.1 s per derivation, once per command. */
const SCRYPT = { N: 32_768, r: 8, p: 1 } as const;

/** A derived file key; its bytes stay in this module. */
export class FileKey {
  private constructor(private readonly key: Buffer) {}

  /** Derives the key from `secret` with the header's scrypt parameters. */
  static async derive(secret: Buffer, e: Pick<ConfigEncryption, 'N' | 'r' | 'p' | 'salt'>): Promise<FileKey> {
    const key = await new Promise<Buffer>((resolve, reject) => {
      scrypt(secret, Buffer.from(e.salt, 'base64'), KEY_BYTES, { N: e.N, r: e.r, p: e.p, maxmem: 256 * e.N * e.r + 1024 * 1024 }, (err, k) => (err ? reject(err) : resolve(k)));
    });
    return new FileKey(key);
  }

  /** Encrypts `plaintext` for the field named by `aad`. */
  encrypt(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    c.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64');
  }

  /** Decrypts a value; SB_ERR_SECRETS_UNAVAILABLE (naming the field, never bytes) when it does not open. */
  decrypt(value: string, aad: string): string {
    const raw = Buffer.from(value, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw unopenable(aad);
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([d.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      throw unopenable(aad);
    }
  }
}

function unopenable(aad: string): SbError {
  return new SbError('SB_ERR_SECRETS_UNAVAILABLE', `${aad} cannot be decrypted: wrong key file, or the value was edited or moved`);
}

/** Reads a key file (raw bytes, at least 16). The path is named in errors; the content never is. */
export async function readKeyFile(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SbError('SB_ERR_VALIDATION', `key file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (bytes.length < KEY_FILE_MIN) throw new SbError('SB_ERR_VALIDATION', `key file ${path} is shorter than ${KEY_FILE_MIN} bytes`);
  return bytes;
}

/** A fresh encryption header (random salt) and its key, for an export. */
export async function newEncryption(secret: Buffer): Promise<{ header: ConfigEncryption; key: FileKey }> {
  const salt = randomBytes(16).toString('base64');
  const key = await FileKey.derive(secret, { ...SCRYPT, salt });
  return { header: { cipher: 'aes-256-gcm', kdf: 'scrypt', ...SCRYPT, salt, check: key.encrypt(CHECK_WORD, 'check') }, key };
}

/** The key of a file's header; SB_ERR_SECRETS_UNAVAILABLE when the key file is not the one it was written with. */
export async function openEncryption(secret: Buffer, header: ConfigEncryption): Promise<FileKey> {
  const key = await FileKey.derive(secret, header);
  let word: string | undefined;
  try {
    word = key.decrypt(header.check, 'check');
  } catch {
    word = undefined;
  }
  if (word !== CHECK_WORD) throw new SbError('SB_ERR_SECRETS_UNAVAILABLE', 'the key file is not the one this file was encrypted with (encryption.check does not open)');
  return key;
}

/**
 * A random one-time key for `POST /v1/connections/{kind}/{name}/secrets`: the gateway seals the secrets
 * under it (the broker's envelope format, key id `transport`) and `open` reads them back here.
 */
export function transportKey(): { wire: string; open(sealed: unknown, aad: string): string } {
  const wire = randomBytes(KEY_BYTES).toString('base64');
  const ring = Keyring.parse(JSON.stringify({ active: 'transport', keys: { transport: wire } }), 'transport key');
  return { wire, open: (sealed, aad) => openSecret(ring, sealed, aad) };
}
