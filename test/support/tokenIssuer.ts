import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * A stand-in for the calling platform's signing keys: real RS256 keys, served at an
 * OpenID configuration and a JWKS URL, and a signer for notification tokens.
 */

export interface TokenIssuer {
  openIdConfigUrl: string;
  jwksRequests: number;
  sign(claims?: Record<string, unknown>, options?: SignOptions): Promise<string>;
  /** Adds a new key to the JWKS (key rotation) and signs with it from then on. */
  rotate(): Promise<void>;
  publicJwk(): JWK;
  close(): Promise<void>;
}

export interface SignOptions {
  kid?: string;
  key?: CryptoKey;
  lifetimeSeconds?: number;
  notBeforeOffsetSeconds?: number;
  omit?: string[];
  header?: Record<string, unknown>;
}

export const TEST_APP_ID = '11111111-2222-3333-4444-555555555555';
export const TEST_TENANT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

export async function startTokenIssuer(options: { publishKey?: boolean } = {}): Promise<TokenIssuer> {
  const keys: Array<{ kid: string; privateKey: CryptoKey; jwk: JWK }> = [];
  const addKey = async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `key-${keys.length + 1}`;
    keys.push({ kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' } });
  };
  await addKey();
  let published = options.publishKey === false ? 0 : keys.length;
  const state = { jwksRequests: 0 };
  const server: Server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/v1/.well-known/OpenIdConfiguration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: 'https://api.botframework.com', jwks_uri: `${base}/v1/keys` }));
    } else if (req.url === '/v1/keys') {
      state.jwksRequests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: keys.slice(0, published).map((k) => k.jwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    openIdConfigUrl: `http://127.0.0.1:${port}/v1/.well-known/OpenIdConfiguration`,
    get jwksRequests() {
      return state.jwksRequests;
    },
    async sign(claims = {}, o = {}) {
      const current = keys[keys.length - 1]!;
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        iss: 'https://graph.microsoft.com',
        aud: TEST_APP_ID,
        tid: TEST_TENANT,
        iat: now,
        nbf: now + (o.notBeforeOffsetSeconds ?? 0),
        exp: now + (o.lifetimeSeconds ?? 300),
        ...claims,
      };
      for (const k of o.omit ?? []) delete payload[k];
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? current.kid, typ: 'JWT', ...(o.header ?? {}) })
        .sign(o.key ?? current.privateKey);
    },
    async rotate() {
      await addKey();
      published = keys.length;
    },
    publicJwk: () => keys[keys.length - 1]!.jwk,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
