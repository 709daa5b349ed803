import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, SignJWT, exportSPKI } from 'jose';
import { CallbackAuthenticator, CallbackAuthError } from '../../shared/auth/callbackAuth';
import { startTokenIssuer, TEST_APP_ID, TEST_TENANT, type TokenIssuer } from '../support/tokenIssuer';

let issuer: TokenIssuer;
let auth: CallbackAuthenticator;

beforeAll(async () => {
  issuer = await startTokenIssuer();
});
afterAll(() => issuer.close());
beforeEach(() => {
  auth = new CallbackAuthenticator({
    openIdConfigUrl: issuer.openIdConfigUrl,
    audience: TEST_APP_ID,
    clockSkewSeconds: 60,
  });
});

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function rejection(header: string | undefined): Promise<string> {
  try {
    await auth.verify(header);
  } catch (err) {
    expect(err).toBeInstanceOf(CallbackAuthError);
    return (err as CallbackAuthError).reason;
  }
  throw new Error('the token was accepted');
}

test('accepts a valid platform token and returns its tenant', async () => {
  const id = await auth.verify(`Bearer ${await issuer.sign()}`);
  expect(id).toEqual({
    tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
    issuer: 'https://graph.microsoft.com',
  });
});

test('accepts the Bot Framework issuer and a cty: JWT header', async () => {
  const token = await issuer.sign({ iss: 'https://api.botframework.com' }, { header: { cty: 'JWT' } });
  expect((await auth.verify(`Bearer ${token}`)).issuer).toBe('https://api.botframework.com');
});

test('refuses a request with no Authorization header', async () => {
  expect(await rejection(undefined)).toBe('no bearer token');
  expect(await rejection('Basic dXNlcjpwYXNz')).toBe('malformed Authorization header');
});

test('refuses a token whose signature was tampered with', async () => {
  const token = await issuer.sign();
  const [h, , s] = token.split('.');
  const forged = `${h}.${b64({ iss: 'https://graph.microsoft.com', aud: TEST_APP_ID, tid: 'evil', nbf: 0, exp: 9999999999 })}.${s}`;
  expect(await rejection(`Bearer ${forged}`)).toBe('bad signature');
});

test('refuses a token signed by another key under a published kid', async () => {
  const { privateKey } = await generateKeyPair('RS256');
  const token = await issuer.sign({}, { key: privateKey });
  expect(await rejection(`Bearer ${token}`)).toBe('bad signature');
});

test('refuses alg: none', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: 'https://graph.microsoft.com', aud: TEST_APP_ID, tid: 't', nbf: now, exp: now + 300 })}.`;
  expect(await rejection(`Bearer ${token}`)).toBe('algorithm not allowed');
});

test('refuses HS256 signed with the public key (algorithm confusion)', async () => {
  const jwk = issuer.publicJwk();
  const { importJWK } = await import('jose');
  const pem = await exportSPKI(
    (await importJWK({ ...jwk, alg: 'RS256' }, 'RS256', { extractable: true })) as Parameters<
      typeof exportSPKI
    >[0],
  );
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    iss: 'https://graph.microsoft.com',
    aud: TEST_APP_ID,
    tid: 't',
    nbf: now,
    exp: now + 300,
  })
    .setProtectedHeader({ alg: 'HS256', kid: jwk.kid })
    .sign(new TextEncoder().encode(pem));
  expect(await rejection(`Bearer ${token}`)).toBe('algorithm not allowed');
});

test('refuses a wrong issuer', async () => {
  expect(
    await rejection(`Bearer ${await issuer.sign({ iss: 'https://login.microsoftonline.com/x/v2.0' })}`),
  ).toMatch(/claim iss/);
});

test('refuses a wrong audience', async () => {
  expect(await rejection(`Bearer ${await issuer.sign({ aud: 'another-bot' })}`)).toMatch(/claim aud/);
});

test('refuses an expired token beyond the clock skew', async () => {
  const token = await issuer.sign({}, { lifetimeSeconds: -120 });
  expect(await rejection(`Bearer ${token}`)).toBe('token expired');
});

test('accepts a token expired within the clock skew', async () => {
  const token = await issuer.sign({}, { lifetimeSeconds: -30 });
  await expect(auth.verify(`Bearer ${token}`)).resolves.toBeDefined();
});

test('refuses a token not yet valid', async () => {
  const token = await issuer.sign({}, { notBeforeOffsetSeconds: 600, lifetimeSeconds: 900 });
  expect(await rejection(`Bearer ${token}`)).toMatch(/claim nbf/);
});

test('refuses a token without exp or nbf', async () => {
  expect(await rejection(`Bearer ${await issuer.sign({}, { omit: ['exp'] })}`)).toMatch(/exp/);
  expect(await rejection(`Bearer ${await issuer.sign({}, { omit: ['nbf'] })}`)).toMatch(/nbf/);
});

test('refuses a token without tid', async () => {
  expect(await rejection(`Bearer ${await issuer.sign({}, { omit: ['tid'] })}`)).toBe('no tid claim');
});

test('refuses an unknown kid, and refetches the keys at most once per cooldown', async () => {
  const before = issuer.jwksRequests;
  expect(await rejection(`Bearer ${await issuer.sign({}, { kid: 'nobody' })}`)).toBe('unknown signing key');
  expect(await rejection(`Bearer ${await issuer.sign({}, { kid: 'nobody-else' })}`)).toBe(
    'unknown signing key',
  );
  // One initial fetch; the unknown kids within the cooldown do not hammer the key endpoint.
  expect(issuer.jwksRequests - before).toBeLessThanOrEqual(1);
});

test('picks up a rotated key on an unknown kid once the cooldown has passed', async () => {
  auth = new CallbackAuthenticator({
    openIdConfigUrl: issuer.openIdConfigUrl,
    audience: TEST_APP_ID,
    clockSkewSeconds: 60,
    keyRefetchCooldownMs: 0,
  });
  await auth.verify(`Bearer ${await issuer.sign()}`);
  await issuer.rotate();
  const id = await auth.verify(`Bearer ${await issuer.sign()}`);
  expect(id.tenantId).toBeTruthy();
});

test('refuses everything when the key endpoint is unreachable', async () => {
  auth = new CallbackAuthenticator({
    openIdConfigUrl: 'http://127.0.0.1:1/none',
    audience: TEST_APP_ID,
    clockSkewSeconds: 60,
  });
  expect(await rejection(`Bearer ${await issuer.sign()}`)).toMatch(/signing keys unavailable/);
});

describe('the Authorization header', () => {
  test('the scheme is case-insensitive, and extra spaces around the token are tolerated', async () => {
    const token = await issuer.sign();
    for (const header of [`bearer ${token}`, `Bearer   ${token}`, `Bearer ${token}  `]) {
      expect((await auth.verify(header)).tenantId).toBe(TEST_TENANT);
    }
  });

  test('anything before the scheme or after the token is refused', async () => {
    const token = await issuer.sign();
    expect(await rejection(`xBearer ${token}`)).toBe('malformed Authorization header');
    expect(await rejection(`Token Bearer ${token}`)).toBe('malformed Authorization header');
    expect(await rejection(`Bearer ${token} extra`)).toBe('malformed Authorization header');
    expect(await rejection(`Bearer ${token}!`)).toBe('malformed Authorization header');
  });

  test('the error names itself and its reason, for the 401 and the log', async () => {
    const err = await auth.verify('').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallbackAuthError);
    expect((err as Error).name).toBe('CallbackAuthError');
    expect((err as Error).message).toBe('callback token rejected: no bearer token');
  });
});

test('refuses an empty tid claim', async () => {
  expect(await rejection(`Bearer ${await issuer.sign({ tid: '' })}`)).toBe('no tid claim');
});

describe('the OpenID configuration', () => {
  /** An OpenID configuration endpoint answering `status` and `body`, recording each request's Accept. */
  async function configServer(status: number, body: unknown) {
    const accepts: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      accepts.push(req.headers.accept);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config`;
    const close = () => new Promise<void>((ok) => server.close(() => ok()));
    return { url, accepts, close };
  }
  const authFor = (openIdConfigUrl: string) =>
    new CallbackAuthenticator({ openIdConfigUrl, audience: TEST_APP_ID, clockSkewSeconds: 60 });
  const jwksUri = () => issuer.openIdConfigUrl.replace('/.well-known/OpenIdConfiguration', '/keys');

  test('is asked for as JSON, and its jwks_uri is where the keys come from', async () => {
    const config = await configServer(200, { jwks_uri: jwksUri() });
    try {
      auth = authFor(config.url);
      expect((await auth.verify(`Bearer ${await issuer.sign()}`)).tenantId).toBe(TEST_TENANT);
      expect(config.accepts).toEqual(['application/json']);
    } finally {
      await config.close();
    }
  });

  test('an error status refuses the token even when the body names keys', async () => {
    const config = await configServer(503, { jwks_uri: jwksUri() });
    try {
      auth = authFor(config.url);
      expect(await rejection(`Bearer ${await issuer.sign()}`)).toBe(
        'signing keys unavailable: OpenID configuration answered 503',
      );
    } finally {
      await config.close();
    }
  });

  test('a configuration without jwks_uri refuses the token, and is fetched again next time', async () => {
    const config = await configServer(200, { issuer: 'x' });
    try {
      auth = authFor(config.url);
      const token = `Bearer ${await issuer.sign()}`;
      expect(await rejection(token)).toBe('signing keys unavailable: OpenID configuration has no jwks_uri');
      expect(await rejection(token)).toBe('signing keys unavailable: OpenID configuration has no jwks_uri');
      expect(config.accepts).toHaveLength(2);
    } finally {
      await config.close();
    }
  });

  test('a key set that cannot be fetched refuses the token', async () => {
    const config = await configServer(200, { jwks_uri: 'http://127.0.0.1:1/keys' });
    try {
      auth = authFor(config.url);
      expect(await rejection(`Bearer ${await issuer.sign()}`)).toBe('invalid token');
    } finally {
      await config.close();
    }
  });

  describe('served over https', () => {
    // No https server here: fetch is stubbed for the https addresses only.
    const realFetch = global.fetch;
    afterEach(() => jest.restoreAllMocks());
    const serve = (jwks_uri: string) =>
      jest.spyOn(global, 'fetch').mockImplementation(async (input, init) => {
        if (String(input) === 'https://login.example/config') return Response.json({ jwks_uri });
        if (String(input) === 'https://login.example/keys') return realFetch(jwksUri(), init);
        return realFetch(input, init);
      });

    test('refuses a jwks_uri that is not https', async () => {
      serve(jwksUri());
      auth = authFor('https://login.example/config');
      expect(await rejection(`Bearer ${await issuer.sign()}`)).toBe(
        'signing keys unavailable: jwks_uri must be https',
      );
    });

    test('accepts an https jwks_uri', async () => {
      serve('https://login.example/keys');
      auth = authFor('https://login.example/config');
      expect((await auth.verify(`Bearer ${await issuer.sign()}`)).tenantId).toBe(TEST_TENANT);
    });
  });
});

describe('the cached key set (the clock set by the test)', () => {
  // Only Date is faked: timers, sockets and promises run as usual.
  let now = Date.now();
  const advance = (ms: number) => jest.setSystemTime((now += ms));
  beforeEach(() => {
    jest.useFakeTimers({
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    now = Date.now();
  });
  afterEach(() => jest.useRealTimers());
  const minutes = (m: number) => m * 60_000;

  test('prefetchKeys fetches the keys ahead, so the first token pays no fetch', async () => {
    const before = issuer.jwksRequests;
    await auth.prefetchKeys();
    expect(issuer.jwksRequests - before).toBe(1);
    await auth.verify(`Bearer ${await issuer.sign()}`);
    expect(issuer.jwksRequests - before).toBe(1);
  });

  test('an unknown kid refetches the keys no sooner than a minute after the last fetch', async () => {
    await auth.verify(`Bearer ${await issuer.sign()}`);
    await issuer.rotate();
    advance(45_000);
    expect(await rejection(`Bearer ${await issuer.sign()}`)).toBe('unknown signing key');
    advance(20_000);
    expect((await auth.verify(`Bearer ${await issuer.sign()}`)).tenantId).toBe(TEST_TENANT);
  });

  test('the keys are kept for two hours, then fetched again', async () => {
    await auth.verify(`Bearer ${await issuer.sign()}`);
    const before = issuer.jwksRequests;
    advance(minutes(119));
    await auth.verify(`Bearer ${await issuer.sign()}`);
    expect(issuer.jwksRequests).toBe(before);
    advance(minutes(2));
    await auth.verify(`Bearer ${await issuer.sign()}`);
    expect(issuer.jwksRequests).toBe(before + 1);
  });
});
