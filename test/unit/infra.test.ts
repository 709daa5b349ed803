import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { settingsSchema } from '../../shared/config/settings';

/**
 * The Bicep cannot be compiled on these machines; this checks what can be checked from its
 * text: the app settings it sets against the settings the code reads.
 */
const INFRA = join(__dirname, '..', '..', 'infra');
const read = (file: string) => readFileSync(join(INFRA, file), 'utf8');

/** The names of `var appSettings = { … }` in the function app module: one `NAME: value` per line. */
function bicepAppSettings(): string[] {
  const text = read('modules/functionapp.bicep');
  const block = /^var appSettings = \{\n([\s\S]*?)\n\}$/m.exec(text);
  if (!block) throw new Error('functionapp.bicep has no `var appSettings = {…}` block');
  return block[1]!.split('\n').map((line) => {
    const m = /^ {2}([A-Za-z_][A-Za-z0-9_]*): \S/.exec(line);
    if (!m) throw new Error(`not a "NAME: value" line in appSettings: ${line}`);
    return m[1]!;
  });
}

const schemaKeys = Object.keys(settingsSchema.shape);
const required = Object.entries(settingsSchema.shape)
  .filter(([, type]) => !type.safeParse(undefined).success)
  .map(([key]) => key);

test('the app settings are set in one place, and only there', () => {
  const modules = readdirSync(join(INFRA, 'modules')).map((f) => read(`modules/${f}`));
  const all = [read('main.bicep'), ...modules].join('\n');
  // The var, set once as the site's appsettings config; no `appSettings:` list elsewhere.
  expect(all.match(/^var appSettings = /gm)?.length).toBe(1);
  expect(all.match(/^\s+properties: appSettings$/gm)?.length).toBe(1);
  expect(all).not.toMatch(/appSettings:/);
});

test('every setting the schema requires is set by the Bicep', () => {
  expect(required.length).toBeGreaterThan(0);
  expect(bicepAppSettings()).toEqual(expect.arrayContaining(required));
});

test('storage is identity-based: the settings the code reads in production, and no connection string', () => {
  const names = bicepAppSettings();
  expect(names).toEqual(
    expect.arrayContaining([
      'AzureWebJobsStorage__accountName',
      'AzureWebJobsStorage__credential',
      'AzureWebJobsStorage__clientId',
    ]),
  );
  expect(names).not.toContain('AzureWebJobsStorage');
  expect(names).not.toContain('AZURE_CLIENT_SECRET');
  expect(names).toEqual(expect.arrayContaining(['GRAPH_CREDENTIAL', 'GRAPH_MANAGED_IDENTITY_CLIENT_ID']));
});

test('the Bicep sets no app setting the code does not read', () => {
  const names = bicepAppSettings();
  expect(names.filter((n) => !schemaKeys.includes(n))).toEqual([]);
  expect(new Set(names).size).toBe(names.length);
});

test('Flex Consumption on Node 22, always-ready HTTP instances, limits as parameters', () => {
  const app = read('modules/functionapp.bicep');
  expect(app).toMatch(/sku: \{ name: 'FC1', tier: 'FlexConsumption' \}/);
  expect(app).toMatch(/runtime: \{ name: 'node', version: '22' \}/);
  expect(app).toMatch(/alwaysReady: .*\{ name: 'http', instanceCount: alwaysReadyInstances \}/);
  const main = read('main.bicep');
  for (const p of ['alwaysReadyInstances', 'maximumInstanceCount', 'instanceMemoryMB'])
    expect(main).toMatch(new RegExp(`^param ${p} int`, 'm'));
  const params = JSON.parse(read('main.parameters.json')).parameters;
  for (const p of Object.keys(params)) expect(main).toMatch(new RegExp(`^param ${p} `, 'm'));
});

test('no shared keys, private recordings, Entra-only Application Insights, the calling webhook', () => {
  const storage = read('modules/storage.bicep');
  expect(storage).toMatch(/allowSharedKeyAccess: false/);
  expect(storage).toMatch(/name: 'recordings'\n\s+properties: \{ publicAccess: 'None' \}/);
  expect(read('modules/monitoring.bicep')).toMatch(/DisableLocalAuth: true/);
  expect(read('main.bicep')).toMatch(
    /callingWebhook: 'https:\/\/\$\{functionApp\.outputs\.defaultHostName\}\/api\/calls'/,
  );
  expect(read('modules/bot.bicep')).toMatch(/enableCalling: true/);
  expect(existsSync(join(INFRA, '..', 'azure.yaml'))).toBe(true);
});

test('Speech for transcripts: keys disabled, a custom subdomain, the identity a Cognitive Services User, its endpoint an app setting', () => {
  const speech = read('modules/speech.bicep');
  expect(speech).toMatch(/kind: 'SpeechServices'/);
  expect(speech).toMatch(/disableLocalAuth: true/);
  expect(speech).toMatch(/customSubDomainName: name/);
  expect(speech).toMatch(/'a97b65f3-24c7-4388-baec-2e87135dc908'/); // Cognitive Services User
  expect(bicepAppSettings()).toEqual(
    expect.arrayContaining(['IVR_MAIL_SENDER', 'IVR_SPEECH_ENDPOINT', 'IVR_SPEECH_CLIENT_ID']),
  );
});
