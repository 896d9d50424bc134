/**
 * Secrets at rest (ref/security.md §7.1): envelope encryption with AES-256-GCM. Each value gets its
 * own random data key (DEK); the DEK is wrapped by the active key-encryption key (KEK) of the keyring
 * from `SB_MASTER_KEYS` / `SB_MASTER_KEYS_FILE`. The AAD names the record and field (`<config key>/<field>`),
 * so a ciphertext copied onto another record or field fails to open. Plaintext never leaves this
 * module except as the return value of {@link openSecret}; no error message carries key or value bytes.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SbError } from './errors.js';

const ALGO = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
// Always passed to createDecipheriv: without it Node accepts a tag truncated to 4 bytes (§7.1).
const TAG_BYTES = 16;
const KID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** A sealed value as stored in a config record: `{v:1, kid, wdek, iv, ct, tag}`, all binary fields base64. */
export interface SealedSecret {
  v: 1;
  /** Id of the KEK that wrapped the DEK. */
  kid: string;
  /** The wrapped DEK: base64(iv ‖ ct ‖ tag) under the KEK, AAD = `dek/<kid>/<aad>`. */
  wdek: string;
  iv: string;
  ct: string;
  tag: string;
}

/** The keyring's JSON form (`SB_MASTER_KEYS`): `{"active":"k1","keys":{"k1":"<base64 of 32 bytes>"}}`. */
export interface KeyringJson {
  active: string;
  keys: Record<string, string>;
}

// Key bytes live here, not on the object, so nothing outside this module can read them off a Keyring.
const keyBytes = new WeakMap<Keyring, ReadonlyMap<string, Buffer>>();

/** Master keys: one active KEK for sealing, all of them for opening (rotation keeps old ones readable). */
export class Keyring {
  private constructor(readonly active: string, keys: ReadonlyMap<string, Buffer>) {
    keyBytes.set(this, keys);
  }

  /** Parses and checks a keyring; `source` names where it came from in the error (never its content). */
  static parse(json: string, source: string): Keyring {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      throw unavailable(`${source} is not valid JSON`);
    }
    const o = raw as Partial<KeyringJson> | null;
    if (!o || typeof o !== 'object' || typeof o.active !== 'string' || !o.keys || typeof o.keys !== 'object') {
      throw unavailable(`${source} must be {"active":"<kid>","keys":{"<kid>":"<base64 of 32 bytes>"}}`);
    }
    const keys = new Map<string, Buffer>();
    for (const [kid, b64] of Object.entries(o.keys)) {
      if (!KID_RE.test(kid)) throw unavailable(`${source}: key id ${JSON.stringify(kid.slice(0, 64))} must match [A-Za-z0-9_.-]{1,64}`);
      const key = typeof b64 === 'string' ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
      if (key.length !== KEY_BYTES) throw unavailable(`${source}: key ${kid} must be base64 of exactly ${KEY_BYTES} bytes`);
      keys.set(kid, key);
    }
    if (!keys.has(o.active)) throw unavailable(`${source}: the active key id ${JSON.stringify(o.active.slice(0, 64))} is not in keys`);
    return new Keyring(o.active, keys);
  }

  /** A fresh keyring with one random key (development, tests). */
  static generate(kid = 'k1'): KeyringJson {
    return { active: kid, keys: { [kid]: randomBytes(KEY_BYTES).toString('base64') } };
  }

  /** Whether the keyring holds `kid`. */
  has(kid: string): boolean {
    return keyBytes.get(this)?.has(kid) ?? false;
  }

  /** The key ids it holds (never the keys). */
  kids(): string[] {
    return [...(keyBytes.get(this)?.keys() ?? [])];
  }

  /** Keeps key bytes out of JSON.stringify and util.inspect of a keyring. */
  toJSON(): { active: string; kids: string[] } {
    return { active: this.active, kids: this.kids() };
  }
}

function kek(ring: Keyring, kid: string): Buffer {
  const k = keyBytes.get(ring)?.get(kid);
  if (!k) throw unavailable(`this process has no master key ${JSON.stringify(kid.slice(0, 64))}; add it to SB_MASTER_KEYS`);
  return k;
}

type Env = Record<string, string | undefined>;

/**
 * The keyring named by the environment: `SB_MASTER_KEYS` (JSON) wins over `SB_MASTER_KEYS_FILE` (a
 * path, e.g. a Kubernetes secret mount). Undefined when neither is set. Throws SB_ERR_SECRETS_UNAVAILABLE
 * when one is set but unreadable or malformed.
 */
export function keyringFromEnv(env: Env): Keyring | undefined {
  const inline = env['SB_MASTER_KEYS'];
  if (inline !== undefined && inline.trim() !== '') return Keyring.parse(inline, 'SB_MASTER_KEYS');
  const file = env['SB_MASTER_KEYS_FILE'];
  if (file === undefined || file.trim() === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw unavailable(`SB_MASTER_KEYS_FILE ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return Keyring.parse(text, `SB_MASTER_KEYS_FILE ${file}`);
}

let cached: { sig: string; ring: Keyring | undefined } | undefined;

/**
 * The process keyring from `process.env`, parsed once per distinct setting (a changed variable, as in
 * tests or `switchboard dev` generating one, is picked up). Throws SB_ERR_SECRETS_UNAVAILABLE when none is set.
 */
export function processKeyring(): Keyring {
  const sig = `${process.env['SB_MASTER_KEYS'] ?? ''}\u0000${process.env['SB_MASTER_KEYS_FILE'] ?? ''}`;
  if (cached?.sig !== sig) cached = { sig, ring: keyringFromEnv(process.env) };
  if (!cached.ring) throw unavailable('no master keys: set SB_MASTER_KEYS or SB_MASTER_KEYS_FILE (docs/winrm.md, "Credentials at rest")');
  return cached.ring;
}

/** The AAD of a secret field: `<config key>/<field>`, e.g. `conn.winrm.dc1/password`. */
export function secretAad(configKey: string, field: string): string {
  return `${configKey}/${field}`;
}

/** Seals `plaintext` for the record field named by `aad` under the keyring's active key. */
export function sealSecret(ring: Keyring, plaintext: string, aad: string): SealedSecret {
  const dek = randomBytes(KEY_BYTES);
  try {
    const iv = randomBytes(IV_BYTES);
    const { ct, tag } = encrypt(dek, iv, Buffer.from(plaintext, 'utf8'), aad);
    const wiv = randomBytes(IV_BYTES);
    const wrapped = encrypt(kek(ring, ring.active), wiv, dek, wrapAad(ring.active, aad));
    return {
      v: 1,
      kid: ring.active,
      wdek: Buffer.concat([wiv, wrapped.ct, wrapped.tag]).toString('base64'),
      iv: iv.toString('base64'),
      ct: ct.toString('base64'),
      tag: tag.toString('base64'),
    };
  } finally {
    dek.fill(0);
  }
}

/**
 * Opens a sealed value. Throws SB_ERR_SECRETS_UNAVAILABLE when the keyring is missing or lacks the kid,
 * when the value is not a sealed secret, or when authentication fails (tampered, wrong key, or moved to
 * another record: wrong AAD). The message names the field, never bytes of the value or key.
 */
export function openSecret(ring: Keyring | undefined, sealed: unknown, aad: string): string {
  if (!isSealedSecret(sealed)) throw unavailable(`${aad} is not a sealed secret`);
  if (!ring) throw unavailable('no master keys: set SB_MASTER_KEYS or SB_MASTER_KEYS_FILE');
  const wrapKey = kek(ring, sealed.kid);
  const wdek = Buffer.from(sealed.wdek, 'base64');
  const iv = Buffer.from(sealed.iv, 'base64');
  const tag = Buffer.from(sealed.tag, 'base64');
  if (wdek.length !== IV_BYTES + KEY_BYTES + TAG_BYTES || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw unavailable(`${aad} is malformed`);
  }
  let dek: Buffer | undefined;
  try {
    dek = decrypt(wrapKey, wdek.subarray(0, IV_BYTES), wdek.subarray(IV_BYTES, IV_BYTES + KEY_BYTES), wdek.subarray(IV_BYTES + KEY_BYTES), wrapAad(sealed.kid, aad));
    return decrypt(dek, iv, Buffer.from(sealed.ct, 'base64'), tag, aad).toString('utf8');
  } catch {
    // The cause would only say "unable to authenticate data"; dropping it keeps nothing of the value around.
    throw unavailable(`${aad} cannot be decrypted: it was tampered with, sealed for another record, or sealed with another key ${sealed.kid}`);
  } finally {
    dek?.fill(0);
  }
}

/**
 * `text` with every known secret replaced by `***`: defence in depth for messages that leave a handler
 * (they are built from safe parts already). Empty secrets are skipped.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s !== '') out = out.split(s).join('***');
  return out;
}

/** Whether `v` has the shape of a {@link SealedSecret}. */
export function isSealedSecret(v: unknown): v is SealedSecret {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return o['v'] === 1 && typeof o['kid'] === 'string' && ['wdek', 'iv', 'ct', 'tag'].every((k) => typeof o[k] === 'string');
}

/**
 * For `switchboard dev`: reads the keyring file at `path`, creating it (mode 0600, one random key)
 * when missing. Returns whether it was created.
 */
export async function ensureKeyringFile(path: string): Promise<{ created: boolean }> {
  try {
    Keyring.parse(await readFile(path, 'utf8'), path);
    return { created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // `wx`: two dev processes starting together must not overwrite each other's key.
  await writeFile(path, `${JSON.stringify(Keyring.generate())}\n`, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return { created: true };
}

function wrapAad(kid: string, aad: string): string {
  return `dek/${kid}/${aad}`;
}

function encrypt(key: Buffer, iv: Buffer, plain: Buffer, aad: string): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv(ALGO, key, iv, { authTagLength: TAG_BYTES });
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

function decrypt(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer, aad: string): Buffer {
  const d = createDecipheriv(ALGO, key, iv, { authTagLength: TAG_BYTES });
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

function unavailable(message: string): SbError {
  return new SbError('SB_ERR_SECRETS_UNAVAILABLE', message);
}
