import {
  createHash,
  createPublicKey,
  generateKeyPair,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';

/**
 * The simulator's RS256 signing key: it signs the callback tokens on notifications (as the
 * calling platform does) and the access tokens its token endpoint issues. Built on
 * node:crypto rather than jose because jose 6 is ESM-only and Jest (CommonJS) on Node 20
 * cannot load it; the tokens are standard compact JWS, which jose verifies.
 */
export interface Jwk extends JsonWebKey {
  kid: string;
  use: 'sig';
  alg: 'RS256';
}

/** Callback tokens live five minutes, like the platform's (real time, not scaled). */
const CALLBACK_TOKEN_SECONDS = 5 * 60;

export class Signer {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicJwk: Jwk,
  ) {}

  static async create(): Promise<Signer> {
    const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    return new Signer(privateKey, {
      kty: jwk.kty,
      n: jwk.n,
      e: jwk.e,
      kid: thumbprint(jwk),
      use: 'sig',
      alg: 'RS256',
    });
  }

  get kid(): string {
    return this.publicJwk.kid;
  }

  jwks(): { keys: Jwk[] } {
    return { keys: [this.publicJwk] };
  }

  /** A compact RS256 JWT with header {alg, kid, typ: 'JWT'}. */
  sign(claims: Record<string, unknown>): string {
    const header = b64url(JSON.stringify({ alg: 'RS256', kid: this.kid, typ: 'JWT' }));
    const payload = b64url(JSON.stringify(claims));
    const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), this.privateKey);
    return `${header}.${payload}.${b64url(signature)}`;
  }

  /** The claims of a compact RS256 JWT this signer signed, or null (bad signature, not a JWT). */
  verify(token: string): Record<string, unknown> | null {
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || !signature) return null;
    const key = createPublicKey({ key: this.publicJwk, format: 'jwk' });
    const ok = verify(
      'RSA-SHA256',
      Buffer.from(`${header}.${payload}`),
      key,
      Buffer.from(signature, 'base64url'),
    );
    if (!ok) return null;
    try {
      return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  }

  /** The token the platform puts on every notification it POSTs to the bot. */
  callbackToken(audience: string, tenantId: string): string {
    const now = Math.floor(Date.now() / 1000);
    return this.sign({
      iss: 'https://graph.microsoft.com',
      aud: audience,
      tid: tenantId,
      iat: now,
      nbf: now,
      exp: now + CALLBACK_TOKEN_SECONDS,
    });
  }
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** RFC 7638 JWK thumbprint: a stable, content-derived key id. */
function thumbprint(jwk: JsonWebKey): string {
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return createHash('sha256').update(canonical).digest('base64url');
}
