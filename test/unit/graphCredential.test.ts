import { createCredential } from '../../shared/graph/graphClient';

/**
 * What createCredential hands @azure/identity, with the credential classes stubbed: each records
 * the arguments it was built with (a real credential only shows them to a token endpoint).
 */

interface Made {
  kind: string;
  args: unknown[];
}
const made: Made[] = [];
const miTokens: Array<{ token: string } | null> = [];
const miScopes: unknown[] = [];

jest.mock('@azure/identity', () => {
  const record = (kind: string) =>
    class {
      readonly args: unknown[];
      constructor(...args: unknown[]) {
        this.args = args;
        made.push({ kind, args });
      }
    };
  return {
    ClientSecretCredential: record('secret'),
    ClientCertificateCredential: record('certificate'),
    ClientAssertionCredential: record('assertion'),
    ManagedIdentityCredential: class {
      constructor(...args: unknown[]) {
        made.push({ kind: 'managedIdentity', args });
      }
      async getToken(scope: unknown) {
        miScopes.push(scope);
        return miTokens.shift() ?? null;
      }
    },
  };
});

const TENANT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const CLIENT = '11111111-2222-3333-4444-555555555555';
const base = { tenantId: TENANT, clientId: CLIENT };

beforeEach(() => {
  made.length = 0;
  miTokens.length = 0;
  miScopes.length = 0;
});

describe('the authority', () => {
  test('none given: no options at all (Entra public cloud, with instance discovery)', async () => {
    await createCredential({ ...base, clientSecret: 's' });
    expect(made).toEqual([{ kind: 'secret', args: [TENANT, CLIENT, 's', {}] }]);
  });

  test.each([
    'https://login.microsoftonline.com',
    'https://login.microsoftonline.us',
    'https://login.chinacloudapi.cn',
    'https://LOGIN.MicrosoftOnline.COM/',
  ])('an Entra authority (%s) is passed on, instance discovery kept', async (authorityHost) => {
    await createCredential({ ...base, clientSecret: 's', authorityHost });
    expect(made).toEqual([{ kind: 'secret', args: [TENANT, CLIENT, 's', { authorityHost }] }]);
  });

  test.each([
    'https://127.0.0.1:8443',
    'https://login.microsoftonline.com.example.org',
    'https://microsoftonline.com',
    'https://login.microsoftonline.net',
    'https://login.chinacloudapi.cn.local',
  ])(
    'any other authority (%s) turns instance discovery off: it could not answer it',
    async (authorityHost) => {
      await createCredential({ ...base, clientSecret: 's', authorityHost });
      expect(made).toEqual([
        { kind: 'secret', args: [TENANT, CLIENT, 's', { authorityHost, disableInstanceDiscovery: true }] },
      ]);
    },
  );

  test('the certificate credentials get the same options', async () => {
    const authorityHost = 'https://127.0.0.1:8443';
    const options = { authorityHost, disableInstanceDiscovery: true };
    await createCredential({ ...base, certificatePath: '/c.pem', authorityHost });
    await createCredential({ ...base, certificate: 'PEM', authorityHost });
    expect(made).toEqual([
      { kind: 'certificate', args: [TENANT, CLIENT, { certificatePath: '/c.pem' }, options] },
      { kind: 'certificate', args: [TENANT, CLIENT, { certificate: 'PEM' }, options] },
    ]);
  });
});

describe('a certificate', () => {
  test('by path, or as PEM text; an explicit kind without either is an empty PEM (the library refuses it)', async () => {
    await createCredential({ ...base, kind: 'certificate' });
    expect(made).toEqual([{ kind: 'certificate', args: [TENANT, CLIENT, { certificate: '' }, {}] }]);
  });
});

describe('federated', () => {
  test('the system-assigned managed identity when no client id is set', async () => {
    await createCredential({ ...base, kind: 'federated' });
    expect(made.map((m) => [m.kind, m.args.length])).toEqual([
      ['managedIdentity', 0],
      ['assertion', 4],
    ]);
  });

  test('the user-assigned managed identity named by its client id', async () => {
    await createCredential({ ...base, kind: 'federated', managedIdentityClientId: 'mi-client' });
    expect(made[0]).toEqual({ kind: 'managedIdentity', args: [{ clientId: 'mi-client' }] });
  });

  test("the assertion is the managed identity's token for the exchange audience", async () => {
    await createCredential({ ...base, kind: 'federated', authorityHost: 'https://127.0.0.1:8443' });
    const [tenant, client, assertion, options] = made[1]!.args as [
      string,
      string,
      () => Promise<string>,
      unknown,
    ];
    expect([tenant, client, options]).toEqual([
      TENANT,
      CLIENT,
      { authorityHost: 'https://127.0.0.1:8443', disableInstanceDiscovery: true },
    ]);
    miTokens.push({ token: 'mi-token' });
    expect(await assertion()).toBe('mi-token');
    expect(miScopes).toEqual(['api://AzureADTokenExchange/.default']);
    await expect(assertion()).rejects.toThrow(
      'the managed identity gave no token for the federated credential',
    );
  });
});
