import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { functionFiles, loadLocalSettings } from '../../host/localHost';
import { settingsSchema } from '../../shared/config/settings';
import { flowJsonSchema } from '../../shared/flows/jsonSchema';
import { loadFlowDirectory } from '../../shared/flows/loader';
import { flowTestJsonSchema } from '../../sim/flowTest';

/** What Core Tools and the Functions host read, checked here because Core Tools cannot run on our machines. */
const ROOT = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

test('host.json is a v2 host file with the v4 extension bundle', () => {
  const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8'));
  expect(host.version).toBe('2.0');
  expect(host.extensionBundle).toEqual({
    id: 'Microsoft.Azure.Functions.ExtensionBundle',
    version: '[4.*, 5.0.0)',
  });
});

test('the main glob names every compiled function file and nothing else', () => {
  expect(pkg.main).toBe('dist/functions/*.js');
  const sources = readdirSync(join(ROOT, 'functions'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, '.js'))
    .sort();
  expect(sources.length).toBeGreaterThanOrEqual(5);
  // tsc emits functions/x.ts to dist/functions/x.js (rootDir "."), which the glob must match one to one.
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'));
  expect(tsconfig.compilerOptions.outDir).toBe('dist');
  expect(tsconfig.compilerOptions.rootDir).toBe('.');
  if (existsSync(join(ROOT, 'dist', 'functions'))) {
    const compiled = functionFiles(ROOT)
      .map((f) => f.split(/[\\/]/).pop())
      .sort();
    expect(compiled).toEqual(sources);
  }
});

test('every function file registers exactly one function through the registry', () => {
  for (const file of readdirSync(join(ROOT, 'functions'))) {
    const text = readFileSync(join(ROOT, 'functions', file), 'utf8');
    const calls = text.match(/^(httpFunction|timerFunction|queueFunction)\(/gm) ?? [];
    expect([file, calls.length]).toEqual([file, 1]);
  }
});

test('npm start runs Core Tools after a build, and the scripts the README names exist', () => {
  expect(pkg.scripts.start).toBe('func start');
  expect(pkg.scripts.prestart).toMatch(/build/);
  for (const s of ['test', 'host', 'flows:check', 'bench', 'lint', 'demo', 'sim'])
    expect(Object.keys(pkg.scripts)).toContain(s);
});

test('local.settings.json.example lists every setting the code reads', () => {
  const example = JSON.parse(readFileSync(join(ROOT, 'local.settings.json.example'), 'utf8'));
  expect(Object.keys(example.Values)).toEqual(expect.arrayContaining(Object.keys(settingsSchema.shape)));
  expect(example.Values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
});

test('the README settings table documents every setting', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const key of Object.keys(settingsSchema.shape))
    expect([key, readme.includes(`| \`${key}\``)]).toEqual([key, true]);
});

test('.funcignore keeps tests and sources out of the deployment', () => {
  const ignore = readFileSync(join(ROOT, '.funcignore'), 'utf8').split('\n');
  expect(ignore).toEqual(expect.arrayContaining(['test', 'sim', '*.ts', 'local.settings.json']));
});

test('flows/flow.schema.json is exactly what the zod schema generates (npm run flows:schema)', () => {
  expect(readFileSync(join(ROOT, 'flows', 'flow.schema.json'), 'utf8')).toBe(flowJsonSchema());
  expect(readFileSync(join(ROOT, 'flows', 'flow-test.schema.json'), 'utf8')).toBe(flowTestJsonSchema());
});

test('every example flow validates and references the JSON Schema', () => {
  for (const dir of [join(ROOT, 'flows'), join(ROOT, 'sim', 'demo', 'flows')]) {
    const catalog = loadFlowDirectory(dir);
    expect(catalog.problems).toEqual([]);
    for (const flow of catalog.byId.values()) {
      const raw = JSON.parse(readFileSync(flow.file, 'utf8'));
      expect(raw.$schema).toMatch(/flow\.schema\.json$/);
      expect(existsSync(join(dir, raw.$schema))).toBe(true);
    }
  }
});

test('the local host reads local.settings.json Values like Core Tools, without overriding the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ivr-settings-'));
  writeFileSync(
    join(dir, 'local.settings.json'),
    JSON.stringify({ IsEncrypted: false, Values: { A: '1', B: '2' } }),
  );
  const env: NodeJS.ProcessEnv = { B: 'kept' };
  expect(loadLocalSettings(dir, env)).toBe(join(dir, 'local.settings.json'));
  expect(env).toEqual({ A: '1', B: 'kept' });
  expect(loadLocalSettings(join(dir, 'missing'), env)).toBeNull();
});
