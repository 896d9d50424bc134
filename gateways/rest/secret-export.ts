/**
 * Secret export for `switchboard config export --secrets encrypt` (docs/config-as-code.md): the
 * `POST …/{name}/secrets` routes re-seal a definition's stored secrets under a one-time transport key
 * the CLI sends, so they never travel in clear. Reading secrets back is a capability the admin API
 * otherwise never has; it is off unless the deployment turns it on (`SB_SECRET_EXPORT=on`).
 */
import { Type } from '@sinclair/typebox';
import { errors } from '../../broker/errors.js';
import { Keyring, openSecret, sealSecret, type SealedSecret } from '../../broker/secrets.js';
import type { ProcessConfig } from '../../schemas/config.js';
import { SealedSecretSchema } from '../../schemas/winrm.js';

/** Body of every `…/secrets` route. */
export const TransportBody = Type.Object(
  { transportKey: Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$', description: 'base64 of 32 random bytes, used once.' }) },
  { additionalProperties: false },
);

/** Answer of every `…/secrets` route: field → the secret sealed under the transport key (same AAD as at rest). */
export const SealedSecrets = Type.Object({ secrets: Type.Record(Type.String(), SealedSecretSchema) });

/** One stored secret to export: its field name in the answer, its sealed value and its AAD. */
export interface StoredSecret {
  field: string;
  sealed: SealedSecret;
  aad: string;
}

/**
 * Opens each stored secret with the process keyring and seals it again under `transportKey`. Throws
 * SB_ERR_FORBIDDEN when this deployment does not allow secret export.
 */
export function resealForExport(config: ProcessConfig, keyring: Keyring, transportKey: string, stored: readonly StoredSecret[]): { secrets: Record<string, SealedSecret> } {
  if (!config.auth.secretExport) {
    throw errors.forbidden('secret export is off on this deployment (SB_SECRET_EXPORT=on turns it on); export with --secrets omit');
  }
  const transport = Keyring.parse(JSON.stringify({ active: 'transport', keys: { transport: transportKey } }), 'transportKey');
  const secrets: Record<string, SealedSecret> = {};
  for (const s of stored) secrets[s.field] = sealSecret(transport, openSecret(keyring, s.sealed, s.aad), s.aad);
  return { secrets };
}
