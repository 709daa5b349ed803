import {
  readStorageConnection,
  StorageClients,
  storageConnectionOf,
  type StorageConnectionConfig,
} from '../../shared/storage/connection';

/**
 * Storage connection settings the Functions way, each rule with the setting it names, and the
 * SDK clients made from them (no request sent: the clients are only constructed).
 */

const problemsOf = (values: Record<string, unknown>, name?: string, allowLocalHttp?: boolean) =>
  readStorageConnection(values, name, allowLocalHttp).problems;

describe('readStorageConnection', () => {
  test('a connection string, trimmed; blank and non-text values count as unset', () => {
    expect(
      readStorageConnection({
        AzureWebJobsStorage: '  UseDevelopmentStorage=true ',
        AzureWebJobsStorage__accountName: '   ',
        AzureWebJobsStorage__clientId: 42,
      }),
    ).toEqual({
      config: { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' },
      problems: [],
    });
  });

  test('a connection string with identity settings too: refused, naming the first identity setting', () => {
    expect(
      readStorageConnection(
        { Conn: 'UseDevelopmentStorage=true', Conn__queueServiceUri: 'https://q', Conn__credential: 'x' },
        'Conn',
      ),
    ).toEqual({
      config: null,
      problems: [
        {
          setting: 'Conn__queueServiceUri',
          message: 'set Conn (a connection string) or the identity-based Conn__* settings, not both',
        },
      ],
    });
  });

  test('nothing set: one problem that names both ways', () => {
    expect(readStorageConnection({ Other: 'UseDevelopmentStorage=true' })).toEqual({
      config: null,
      problems: [
        {
          setting: 'AzureWebJobsStorage',
          message:
            'required: a connection string, or AzureWebJobsStorage__accountName (or AzureWebJobsStorage__tableServiceUri, __queueServiceUri and __blobServiceUri) for an identity-based connection',
        },
      ],
    });
  });

  test('an account name: 3 to 24 lowercase letters or digits', () => {
    const problem = {
      setting: 'S__accountName',
      message: 'a storage account name is 3-24 lowercase letters or digits',
    };
    for (const ok of ['abc', 'a1b2c3', 'x'.repeat(24)])
      expect(problemsOf({ S__accountName: ok }, 'S')).toEqual([]);
    for (const bad of ['ab', 'x'.repeat(25), 'Abc', 'ab-c', 'abc.'])
      expect(problemsOf({ S__accountName: bad }, 'S')).toEqual([problem]);
  });

  test('an account name alone gives the three public service URIs; a given URI replaces its own', () => {
    expect(
      readStorageConnection(
        { S__accountName: 'acct', S__queueServiceUri: ' https://q.example/acct/// ' },
        'S',
      ),
    ).toEqual({
      config: {
        kind: 'identity',
        serviceUris: {
          table: 'https://acct.table.core.windows.net',
          queue: 'https://q.example/acct',
          blob: 'https://acct.blob.core.windows.net',
        },
        credential: undefined,
        clientId: undefined,
      },
      problems: [],
    });
  });

  test('without an account name each service URI is required, and each must be a URL', () => {
    expect(problemsOf({ S__tableServiceUri: 'not a url' }, 'S')).toEqual([
      { setting: 'S__tableServiceUri', message: 'must be a URL' },
      { setting: 'S__queueServiceUri', message: 'required when S__accountName is not set' },
      { setting: 'S__blobServiceUri', message: 'required when S__accountName is not set' },
    ]);
  });

  test('https only; http only to a loopback host, and only when local development allows it', () => {
    const https = 'must be https (http is allowed only for loopback hosts with IVR_LOCAL_DEV_HTTP=true)';
    const uris = (table: string) => ({
      S__tableServiceUri: table,
      S__queueServiceUri: 'https://q',
      S__blobServiceUri: 'https://b',
    });
    for (const local of [
      'http://localhost:10002/a',
      'http://127.0.0.1:10002/a',
      'http://127.9.8.7/a',
      'http://[::1]:1/a',
    ]) {
      expect(problemsOf(uris(local), 'S', true)).toEqual([]);
      expect(problemsOf(uris(local), 'S')).toEqual([{ setting: 'S__tableServiceUri', message: https }]);
    }
    for (const remote of [
      'http://10.0.0.1/a',
      'http://localhost.example/a',
      'http://127.0.0.1.example/a',
      'http://127.0.0.1x/a',
      'ftp://localhost/a',
    ])
      expect(problemsOf(uris(remote), 'S', true)).toEqual([
        { setting: 'S__tableServiceUri', message: https },
      ]);
    expect(readStorageConnection(uris('http://127.0.0.1:10002/a/'), 'S', true).config).toMatchObject({
      serviceUris: { table: 'http://127.0.0.1:10002/a', queue: 'https://q', blob: 'https://b' },
    });
  });

  test('the credential is managedidentity (any case) or unset; a client id needs it', () => {
    expect(
      readStorageConnection(
        { S__accountName: 'acct', S__credential: 'ManagedIdentity', S__clientId: 'id-1' },
        'S',
      ).config,
    ).toMatchObject({ kind: 'identity', credential: 'managedidentity', clientId: 'id-1' });
    expect(problemsOf({ S__accountName: 'acct', S__credential: 'clientsecret' }, 'S')).toEqual([
      {
        setting: 'S__credential',
        message: 'must be "managedidentity" (or unset to use your own sign-in locally)',
      },
    ]);
    expect(problemsOf({ S__accountName: 'acct', S__clientId: 'id-1' }, 'S')).toEqual([
      { setting: 'S__clientId', message: 'applies only with S__credential=managedidentity' },
    ]);
  });

  test('storageConnectionOf throws one error naming every bad setting', () => {
    expect(() => storageConnectionOf({ S__accountName: 'A', S__credential: 'x' }, 'S')).toThrow(
      new Error(
        'storage connection S: S__accountName: a storage account name is 3-24 lowercase letters or digits; ' +
          'S__credential: must be "managedidentity" (or unset to use your own sign-in locally)',
      ),
    );
    expect(() => storageConnectionOf({ AzureWebJobsStorage__tableServiceUri: 'http://localhost/a' })).toThrow(
      /^storage connection AzureWebJobsStorage: AzureWebJobsStorage__tableServiceUri: must be https/,
    );
    expect(
      storageConnectionOf(
        {
          S__tableServiceUri: 'http://localhost/t',
          S__queueServiceUri: 'http://localhost/q',
          S__blobServiceUri: 'http://localhost/b',
        },
        'S',
        true,
      ),
    ).toEqual({
      kind: 'identity',
      serviceUris: { table: 'http://localhost/t', queue: 'http://localhost/q', blob: 'http://localhost/b' },
      credential: undefined,
      clientId: undefined,
    });
  });
});

/** The Tables SDK keeps whether it may send over http in this (private) field. */
const insecure = (client: object) =>
  (client as { allowInsecureConnection?: boolean }).allowInsecureConnection;

describe('StorageClients', () => {
  const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
  const identity = (over: Partial<Extract<StorageConnectionConfig, { kind: 'identity' }>> = {}) =>
    new StorageClients({
      kind: 'identity',
      serviceUris: {
        table: 'https://t.example/acct',
        queue: 'https://q.example/acct',
        blob: 'https://b.example/acct',
      },
      credential: 'managedidentity',
      clientId: 'client-1',
      ...over,
    });

  test('a connection string: clients at its endpoints; http allowed only where it says http', async () => {
    const local = new StorageClients({
      kind: 'connectionString',
      connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};TableEndpoint=http://127.0.0.1:1/devstoreaccount1;QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1`,
    });
    const table = await local.table('calls');
    expect([table.url, table.tableName, insecure(table)]).toEqual([
      'http://127.0.0.1:1/devstoreaccount1',
      'calls',
      true,
    ]);
    expect((await local.queue('timers')).url).toBe('http://127.0.0.1:1/devstoreaccount1/timers');
    expect((await local.container('recordings')).url).toBe('http://127.0.0.1:1/devstoreaccount1/recordings');
    const dev = await new StorageClients({
      kind: 'connectionString',
      connectionString: 'UseDevelopmentStorage=true',
    }).table('t');
    expect(insecure(dev)).toBe(true);
    const cloud = await new StorageClients({
      kind: 'connectionString',
      connectionString: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net`,
    }).table('t');
    expect([cloud.url, insecure(cloud)]).toEqual(['https://acct.table.core.windows.net', false]);
  });

  test('an identity: clients at the service URIs, sharing one managed identity credential with its client id', async () => {
    const clients = identity();
    const table = await clients.table('calls');
    const queue = await clients.queue('timers');
    const container = await clients.container('recordings');
    expect([table.url, table.tableName, insecure(table)]).toEqual(['https://t.example/acct', 'calls', false]);
    expect(queue.url).toBe('https://q.example/acct/timers');
    expect(container.url).toBe('https://b.example/acct/recordings');
    const credential = (
      queue as unknown as { credential: { constructor: { name: string }; clientId?: string } }
    ).credential;
    expect(credential.constructor.name).toBe('ManagedIdentityCredential');
    expect(credential.clientId).toBe('client-1');
    expect((container as unknown as { credential: unknown }).credential).toBe(credential);
  });

  test('a system-assigned identity has no client id; no credential setting is your own sign-in', async () => {
    const system = (await identity({ clientId: undefined }).queue('q')) as unknown as {
      credential: { constructor: { name: string }; clientId?: string };
    };
    expect(system.credential.constructor.name).toBe('ManagedIdentityCredential');
    expect(system.credential.clientId).toBeUndefined();
    const own = (await identity({ credential: undefined, clientId: undefined }).queue('q')) as unknown as {
      credential: { constructor: { name: string } };
    };
    expect(own.credential.constructor.name).toBe('DefaultAzureCredential');
  });

  test('an identity table client over http (local development) allows the insecure connection', async () => {
    const table = await identity({
      serviceUris: { table: 'http://127.0.0.1:10002/acct', queue: 'https://q', blob: 'https://b' },
    }).table('t');
    expect(insecure(table)).toBe(true);
  });
});
