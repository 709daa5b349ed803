import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';

/**
 * Validates the bearer token the calling platform puts on every notification:
 * RS256 only, keys from the platform's OpenID configuration, issuer one of the
 * documented two, audience the bot's app id, a tenant id present.
 */

export const CALLBACK_ISSUERS = ['https://graph.microsoft.com', 'https://api.botframework.com'] as const;

export class CallbackAuthError extends Error {
  constructor(readonly reason: string) {
    super(`callback token rejected: ${reason}`);
    this.name = 'CallbackAuthError';
  }
}

export interface CallbackIdentity {
  tenantId: string;
  issuer: string;
}

export interface CallbackAuthOptions {
  openIdConfigUrl: string;
  audience: string;
  clockSkewSeconds: number;
  /** Refetch the keys on an unknown kid at most this often. */
  keyRefetchCooldownMs?: number;
  /** Keys are refetched at least this often (Microsoft's samples: every 2 hours). */
  keyMaxAgeMs?: number;
}

export class CallbackAuthenticator {
  private keys: Promise<JWTVerifyGetKey> | null = null;

  constructor(private readonly options: CallbackAuthOptions) {}

  /** The JWKS comes from the OpenID configuration, itself fetched once (again after a failure). */
  private keySet(): Promise<JWTVerifyGetKey> {
    this.keys ??= (async () => {
      const res = await fetch(this.options.openIdConfigUrl, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) throw new Error(`OpenID configuration answered ${res.status}`);
      const config = (await res.json()) as { jwks_uri?: unknown };
      if (typeof config.jwks_uri !== 'string') throw new Error('OpenID configuration has no jwks_uri');
      const jwksUrl = new URL(config.jwks_uri);
      if (jwksUrl.protocol !== 'https:' && new URL(this.options.openIdConfigUrl).protocol === 'https:') {
        throw new Error('jwks_uri must be https');
      }
      return createRemoteJWKSet(jwksUrl, {
        cooldownDuration: this.options.keyRefetchCooldownMs ?? 60_000,
        cacheMaxAge: this.options.keyMaxAgeMs ?? 2 * 60 * 60 * 1000,
      });
    })().catch((err) => {
      this.keys = null;
      throw err;
    });
    return this.keys;
  }

  /** Fetches the signing keys ahead of the first notification (app start), so it pays no fetch. */
  async prefetchKeys(): Promise<void> {
    const keys = (await this.keySet()) as JWTVerifyGetKey & { reload?: () => Promise<void> };
    await keys.reload?.();
  }

  async verify(authorization: string | null | undefined): Promise<CallbackIdentity> {
    const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i.exec(authorization ?? '');
    if (!match)
      throw new CallbackAuthError(authorization ? 'malformed Authorization header' : 'no bearer token');
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await this.keySet();
    } catch (err) {
      // Without keys nothing can be verified; the platform will retry the notification.
      throw new CallbackAuthError(`signing keys unavailable: ${(err as Error).message}`);
    }
    try {
      const { payload } = await jwtVerify(match[1]!, getKey, {
        algorithms: ['RS256'],
        issuer: [...CALLBACK_ISSUERS],
        audience: this.options.audience,
        clockTolerance: this.options.clockSkewSeconds,
        requiredClaims: ['exp', 'nbf'],
      });
      if (typeof payload.tid !== 'string' || payload.tid === '') throw new CallbackAuthError('no tid claim');
      return { tenantId: payload.tid, issuer: payload.iss! };
    } catch (err) {
      if (err instanceof CallbackAuthError) throw err;
      throw new CallbackAuthError(describeJoseError(err));
    }
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} invalid (${err.reason})`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown signing key';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JOSEError) return err.code;
  return 'invalid token';
}
