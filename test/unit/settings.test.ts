import { loadSettings, SettingsError } from '../../shared/config/settings';
import { storageConnectionOf } from '../../shared/storage/connection';

const base = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  BOT_APP_ID: 'app',
  BOT_CALLBACK_URL: 'https://bot.contoso.com',
};

test('defaults fill in what is not set', () => {
  const s = loadSettings(base);
  expect(s).toMatchObject({
    CALLBACK_OPENID_CONFIG_URL: 'https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration',
    GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0',
    GRAPH_RETRY_MAX_ATTEMPTS: 4,
    IVR_FLOWS_DIR: 'flows',
    IVR_UNCONFIGURED_REJECT_REASON: 'none',
    IVR_LOCAL_DEV_HTTP: false,
  });
});

test('every problem is named, with its setting', () => {
  try {
    loadSettings({
      ...base,
      BOT_APP_ID: '',
      GRAPH_RETRY_MAX_ATTEMPTS: '99',
      IVR_UNCONFIGURED_REJECT_REASON: 'later',
      IVR_CALLS_TABLE: 'x',
    });
    throw new Error('accepted');
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    const problems = (err as SettingsError).problems.join('\n');
    expect(problems).toMatch(/^BOT_APP_ID:/m);
    expect(problems).toMatch(/^GRAPH_RETRY_MAX_ATTEMPTS:/m);
    expect(problems).toMatch(/^IVR_UNCONFIGURED_REJECT_REASON:/m);
    expect(problems).toMatch(/^IVR_CALLS_TABLE:/m);
  }
});

test('http URLs are refused unless local development allows them on loopback', () => {
  expect(() => loadSettings({ ...base, BOT_CALLBACK_URL: 'http://bot.contoso.com' })).toThrow(
    /BOT_CALLBACK_URL: must be https/,
  );
  expect(() => loadSettings({ ...base, GRAPH_BASE_URL: 'http://127.0.0.1:9000/v1.0' })).toThrow(
    /GRAPH_BASE_URL/,
  );
  expect(
    loadSettings({ ...base, GRAPH_BASE_URL: 'http://127.0.0.1:9000/v1.0', IVR_LOCAL_DEV_HTTP: 'true' })
      .GRAPH_BASE_URL,
  ).toBe('http://127.0.0.1:9000/v1.0');
  expect(() =>
    loadSettings({ ...base, GRAPH_BASE_URL: 'http://10.0.0.5/v1.0', IVR_LOCAL_DEV_HTTP: 'true' }),
  ).toThrow(/GRAPH_BASE_URL/);
});

test('a secret and a certificate together are refused', () => {
  expect(() =>
    loadSettings({ ...base, AZURE_CLIENT_SECRET: 's', AZURE_CLIENT_CERTIFICATE_PATH: '/c.pem' }),
  ).toThrow(/not both/);
});

describe('storage connection', () => {
  const identity = {
    BOT_APP_ID: 'app',
    BOT_CALLBACK_URL: 'https://bot.contoso.com',
    AzureWebJobsStorage__accountName: 'contosoivr',
    AzureWebJobsStorage__credential: 'managedidentity',
    AzureWebJobsStorage__clientId: '8f0c3a52-61b6-4a4e-9d3c-0d1f5a7e2b91',
  };
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadSettings(env);
      return [];
    } catch (err) {
      return (err as SettingsError).problems;
    }
  };

  test('an account name with a user-assigned managed identity: the three service URIs follow', () => {
    expect(problemsOf(identity)).toEqual([]);
    expect(storageConnectionOf(loadSettings(identity))).toEqual({
      kind: 'identity',
      serviceUris: {
        table: 'https://contosoivr.table.core.windows.net',
        queue: 'https://contosoivr.queue.core.windows.net',
        blob: 'https://contosoivr.blob.core.windows.net',
      },
      credential: 'managedidentity',
      clientId: identity.AzureWebJobsStorage__clientId,
    });
  });

  test('neither a connection string nor an identity: the error names both ways', () => {
    const { AzureWebJobsStorage: _, ...none } = base;
    expect(problemsOf(none)).toEqual([
      expect.stringMatching(
        /^AzureWebJobsStorage: required: a connection string, or AzureWebJobsStorage__accountName/,
      ),
    ]);
  });

  test('both ways at once, partial URIs, http, an unknown credential: each named with its rule', () => {
    expect(problemsOf({ ...identity, AzureWebJobsStorage: 'UseDevelopmentStorage=true' })).toEqual([
      expect.stringMatching(/^AzureWebJobsStorage__accountName: set AzureWebJobsStorage .* not both$/),
    ]);
    const { AzureWebJobsStorage__accountName: _, ...noAccount } = identity;
    const problems = problemsOf({
      ...noAccount,
      AzureWebJobsStorage__tableServiceUri: 'http://contoso.table.core.windows.net',
      AzureWebJobsStorage__credential: 'connectionstring',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^AzureWebJobsStorage__tableServiceUri: must be https/),
        expect.stringMatching(
          /^AzureWebJobsStorage__queueServiceUri: required when AzureWebJobsStorage__accountName/,
        ),
        expect.stringMatching(/^AzureWebJobsStorage__blobServiceUri: required when/),
        expect.stringMatching(/^AzureWebJobsStorage__credential: must be "managedidentity"/),
      ]),
    );
    expect(problemsOf({ ...identity, AzureWebJobsStorage__accountName: 'Bad_Name' })).toEqual([
      expect.stringMatching(/^AzureWebJobsStorage__accountName: a storage account name is 3-24/),
    ]);
  });

  test('the local host reads the same rules from the environment, for any connection name', () => {
    expect(() => storageConnectionOf({ MyConn__queueServiceUri: 'https://q' }, 'MyConn')).toThrow(
      /MyConn__tableServiceUri: required/,
    );
    expect(storageConnectionOf({ MyConn: 'UseDevelopmentStorage=true' }, 'MyConn')).toEqual({
      kind: 'connectionString',
      connectionString: 'UseDevelopmentStorage=true',
    });
  });
});

describe('Graph credential', () => {
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadSettings({ ...base, ...env });
      return [];
    } catch (err) {
      return (err as SettingsError).problems;
    }
  };

  test('federated needs no secret; a chosen kind needs its material', () => {
    expect(
      problemsOf({ GRAPH_CREDENTIAL: 'federated', GRAPH_MANAGED_IDENTITY_CLIENT_ID: 'mi-client-id' }),
    ).toEqual([]);
    expect(problemsOf({ GRAPH_CREDENTIAL: 'secret' })).toEqual([
      'GRAPH_CREDENTIAL: GRAPH_CREDENTIAL=secret needs AZURE_CLIENT_SECRET',
    ]);
    expect(problemsOf({ GRAPH_CREDENTIAL: 'certificate' })).toEqual([
      expect.stringMatching(/^GRAPH_CREDENTIAL: GRAPH_CREDENTIAL=certificate needs/),
    ]);
    expect(problemsOf({ GRAPH_MANAGED_IDENTITY_CLIENT_ID: 'x' })).toEqual([
      'GRAPH_MANAGED_IDENTITY_CLIENT_ID: applies only with GRAPH_CREDENTIAL=federated',
    ]);
    expect(problemsOf({ APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD' })).toEqual([
      expect.stringMatching(/^APPLICATIONINSIGHTS_AUTHENTICATION_STRING: must be ClientId=/),
    ]);
  });
});
