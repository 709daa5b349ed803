import { loadSettings, SettingsError } from '../../shared/config/settings';

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
