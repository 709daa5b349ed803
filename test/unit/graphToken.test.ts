import type { AccessToken, TokenCredential } from '@azure/identity';
import * as identity from '@azure/identity';
import { createCredential, GRAPH_SCOPE, tokenGetter } from '../../shared/graph/graphClient';

/** The Graph token cache and the credential chosen from the settings. */

const MINUTE = 60_000;

/** A credential handing out tokens `t1`, `t2`… that expire `lifetimeMs` after the fake clock. */
function fakeCredential(clock: { now: number }, lifetimeMs: number, refreshAfterMs?: number) {
  const scopes: Array<string | string[]> = [];
  let issued = 0;
  const credential: TokenCredential = {
    getToken: async (scope) => {
      scopes.push(scope);
      issued++;
      const token: AccessToken = {
        token: `t${issued}`,
        expiresOnTimestamp: clock.now + lifetimeMs,
        ...(refreshAfterMs === undefined ? {} : { refreshAfterTimestamp: clock.now + refreshAfterMs }),
      };
      return token;
    },
  };
  return { credential, scopes, issued: () => issued };
}

describe('tokenGetter', () => {
  test('asks for the Graph scope once, and reuses the token until five minutes before it expires', async () => {
    const clock = { now: 1_000_000 };
    const fake = fakeCredential(clock, 60 * MINUTE);
    let made = 0;
    const get = tokenGetter(
      async () => (made++, fake.credential),
      () => clock.now,
    );
    expect(await get()).toBe('t1');
    clock.now += 55 * MINUTE - 1;
    expect(await get()).toBe('t1');
    clock.now += 1;
    expect(await get()).toBe('t2');
    expect(fake.scopes).toEqual([GRAPH_SCOPE, GRAPH_SCOPE]);
    expect(made).toBe(1);
  });

  test("refreshes at the token's refreshAfter when that comes first", async () => {
    const clock = { now: 1_000_000 };
    const fake = fakeCredential(clock, 60 * MINUTE, 30 * MINUTE);
    const get = tokenGetter(
      async () => fake.credential,
      () => clock.now,
    );
    expect(await get()).toBe('t1');
    clock.now += 30 * MINUTE - 1;
    expect(await get()).toBe('t1');
    clock.now += 1;
    expect(await get()).toBe('t2');
  });

  test('concurrent requests share one refresh', async () => {
    const clock = { now: 1_000_000 };
    const fake = fakeCredential(clock, 60 * MINUTE);
    const get = tokenGetter(
      async () => fake.credential,
      () => clock.now,
    );
    expect(await Promise.all([get(), get(), get()])).toEqual(['t1', 't1', 't1']);
    expect(fake.issued()).toBe(1);
    // Once it settled, a later expiry starts a new refresh rather than reusing the old one.
    clock.now += 60 * MINUTE;
    expect(await Promise.all([get(), get()])).toEqual(['t2', 't2']);
    expect(fake.issued()).toBe(2);
  });

  test('a credential that cannot be made is made again on the next request', async () => {
    const clock = { now: 1_000_000 };
    const fake = fakeCredential(clock, 60 * MINUTE);
    let attempts = 0;
    const get = tokenGetter(
      async () => {
        if (++attempts === 1) throw new Error('no identity endpoint');
        return fake.credential;
      },
      () => clock.now,
    );
    await expect(get()).rejects.toThrow('no identity endpoint');
    expect(await get()).toBe('t1');
    expect(attempts).toBe(2);
  });

  test('a credential that gives no token is an error, and the next request asks again', async () => {
    let calls = 0;
    const get = tokenGetter(async () => ({
      getToken: async () =>
        ++calls === 1 ? null : { token: 'late', expiresOnTimestamp: Date.now() + 3_600_000 },
    }));
    await expect(get()).rejects.toThrow('no token for https://graph.microsoft.com/.default');
    expect(await get()).toBe('late');
  });
});

describe('createCredential', () => {
  const base = {
    tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
    clientId: '11111111-2222-3333-4444-555555555555',
  };

  test('a client secret makes a ClientSecretCredential', async () => {
    expect(await createCredential({ ...base, clientSecret: 's' })).toBeInstanceOf(
      identity.ClientSecretCredential,
    );
  });

  test('a certificate path or PEM text makes a ClientCertificateCredential', async () => {
    expect(await createCredential({ ...base, certificatePath: '/x.pem' })).toBeInstanceOf(
      identity.ClientCertificateCredential,
    );
    expect(
      await createCredential({
        ...base,
        certificate: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----',
      }),
    ).toBeInstanceOf(identity.ClientCertificateCredential);
  });

  test('a secret is chosen over a certificate when the kind is not said', async () => {
    expect(await createCredential({ ...base, clientSecret: 's', certificatePath: '/x.pem' })).toBeInstanceOf(
      identity.ClientSecretCredential,
    );
  });

  test('an explicit kind wins over the material present', async () => {
    expect(
      await createCredential({ ...base, kind: 'certificate', clientSecret: 's', certificatePath: '/x.pem' }),
    ).toBeInstanceOf(identity.ClientCertificateCredential);
  });

  test('federated makes a ClientAssertionCredential, with no secret', async () => {
    expect(await createCredential({ ...base, kind: 'federated' })).toBeInstanceOf(
      identity.ClientAssertionCredential,
    );
    expect(
      await createCredential({ ...base, kind: 'federated', managedIdentityClientId: 'mi-client' }),
    ).toBeInstanceOf(identity.ClientAssertionCredential);
  });

  test('nothing to authenticate with is an error naming every way to set one', async () => {
    await expect(createCredential(base)).rejects.toThrow(
      'no Graph credential: set GRAPH_CREDENTIAL=federated, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_CERTIFICATE or AZURE_CLIENT_SECRET',
    );
    await expect(createCredential({ ...base, kind: 'secret' })).rejects.toThrow(/no Graph credential/);
  });
});
