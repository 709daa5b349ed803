import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  key: string;
  cert: string;
  /** PEM file a child process can trust with NODE_EXTRA_CA_CERTS. */
  caCertPath: string;
  /** The private key as a file, for servers that take paths (Azurite's --key). */
  keyPath: string;
  dispose(): Promise<void>;
}

/**
 * A fresh self-signed certificate for localhost / 127.0.0.1 / ::1. MSAL insists on https,
 * so the token and OpenID endpoints need TLS; the PEM goes to a temp file for child processes.
 */
export async function createTlsMaterial(commonName = 'localhost'): Promise<TlsMaterial> {
  // Trust stores find a certificate's issuer by subject: two of ours in one NODE_EXTRA_CA_CERTS
  // file need different names.
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      // A self-signed leaf that is also its own CA, so NODE_EXTRA_CA_CERTS can anchor it.
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const dir = await mkdtemp(join(tmpdir(), 'graph-sim-'));
  const caCertPath = join(dir, 'sim-ca.pem');
  const keyPath = join(dir, 'sim-key.pem');
  await writeFile(caCertPath, pems.cert);
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  return {
    key: pems.private,
    cert: pems.cert,
    caCertPath,
    keyPath,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}
