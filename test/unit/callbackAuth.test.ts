import { generateKeyPair, SignJWT, exportSPKI } from 'jose';
import { CallbackAuthenticator, CallbackAuthError } from '../../shared/auth/callbackAuth';
import { startTokenIssuer, TEST_APP_ID, type TokenIssuer } from '../support/tokenIssuer';

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
