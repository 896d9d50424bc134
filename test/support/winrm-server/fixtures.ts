/**
 * TLS fixtures committed under ./fixtures (generated once with the openssl CLI, valid for 100 years; see
 * fixtures/README.md): a test CA, a server certificate for localhost/127.0.0.1 signed by it, a client
 * certificate (CN=deploy) for mutual TLS, and an unrelated "wrong" CA.
 */
import { readFileSync } from 'node:fs';

const read = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** PEM strings of the committed test certificates and keys. */
export const fixtures = {
  ca: read('ca.pem'),
  wrongCa: read('wrong-ca.pem'),
  serverCert: read('server.pem'),
  serverKey: read('server.key'),
  clientCert: read('client.pem'),
  clientKey: read('client.key'),
} as const;
