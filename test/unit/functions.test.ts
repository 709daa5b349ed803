import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What each function file declares to the Functions host: its trigger, route, methods, auth
 * level, schedule or queue, and which endpoint handler it runs. The endpoint modules are
 * stubbed here: each stub answers its own name, so a handler wired to the wrong module or
 * export is caught without starting the app.
 */

type Registry = typeof import('../../shared/functions/registry');

const FUNCTIONS_DIR = join(__dirname, '..', '..', 'functions');

/** Each endpoint module's exports, every one a function answering `module.export`. */
function stubEndpoints(): void {
  const stub = (module: string, names: string[]) =>
    Object.fromEntries(names.map((n) => [n, async () => `${module}.${n}`]));
  const endpoints: Record<string, string[]> = {
    calls: ['callsHandler', 'warmUpOnStart'],
    callRecord: ['callRecordHandler'],
    numbers: ['numbersHandler', 'validateHandler'],
    outboundCalls: ['outboundCallsHandler'],
    recordings: ['recordingsHandler'],
    timers: ['ivrTimersHandler', 'keepAliveHandler', 'housekeepingHandler'],
    lookups: ['ivrLookupsHandler'],
    voicemail: ['voicemailHandler'],
    webhooks: ['webhooksHandler'],
  };
  for (const [module, names] of Object.entries(endpoints))
    jest.doMock(`../../shared/endpoints/${module}`, () => stub(module, names));
}

/**
 * Loads every function file into a fresh registry, in the test that asks (the imports are
 * literal so that tools following imports, such as Stryker's related-test search, see them).
 */
async function loadFunctions(): Promise<Registry> {
  let registry!: Registry;
  await jest.isolateModulesAsync(async () => {
    stubEndpoints();
    registry = await import('../../shared/functions/registry');
    await import('../../functions/callRecord');
    await import('../../functions/calls');
    await import('../../functions/flowsValidate');
    await import('../../functions/housekeeping');
    await import('../../functions/ivrLookups');
    await import('../../functions/ivrTimers');
    await import('../../functions/keepAlive');
    await import('../../functions/numbers');
    await import('../../functions/outboundCallStatus');
    await import('../../functions/outboundCalls');
    await import('../../functions/recordings');
    await import('../../functions/voicemail');
    await import('../../functions/webhooks');
  });
  return registry;
}

let registry: Registry;
beforeEach(async () => {
  registry = await loadFunctions();
});

/** A registration without its handler, and what its handler answers when run. */
async function described(name: string) {
  const reg = registry.registrations.find((r) => r.name === name);
  if (!reg) throw new Error(`no function ${name}`);
  const { handler, ...options } = reg.options as { handler: (...args: unknown[]) => Promise<unknown> };
  return { kind: reg.kind, options, runs: await handler() };
}

test('every function file is loaded here, and each registers one function', () => {
  const files = readdirSync(FUNCTIONS_DIR)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
  expect(registry.registrations.map((r) => r.name).sort()).toEqual(files);
  expect(registry.registrations.map((r) => r.name).sort()).toEqual([
    'callRecord',
    'calls',
    'flowsValidate',
    'housekeeping',
    'ivrLookups',
    'ivrTimers',
    'keepAlive',
    'numbers',
    'outboundCallStatus',
    'outboundCalls',
    'recordings',
    'voicemail',
    'webhooks',
  ]);
});

test('the platform posts notifications to /api/calls without a function key', async () => {
  expect(await described('calls')).toEqual({
    kind: 'http',
    options: { methods: ['POST'], authLevel: 'anonymous', route: 'calls' },
    runs: 'calls.callsHandler',
  });
});

test('a cold instance warms up when it starts, before the first call', async () => {
  expect(registry.startHooks).toHaveLength(1);
  expect(await registry.startHooks[0]!()).toBe('calls.warmUpOnStart');
});

test.each([
  ['callRecord', ['GET'], 'calls/{callId}', 'callRecord.callRecordHandler'],
  ['flowsValidate', ['POST'], 'flows/validate', 'numbers.validateHandler'],
  ['numbers', ['GET', 'PUT', 'DELETE', 'POST'], 'numbers/{*path}', 'numbers.numbersHandler'],
  ['outboundCalls', ['POST'], 'outbound-calls', 'outboundCalls.outboundCallsHandler'],
  ['outboundCallStatus', ['GET'], 'outbound-calls/{id}', 'outboundCalls.outboundCallsHandler'],
])('the admin endpoint %s needs a function key: %j %s', async (name, methods, route, runs) => {
  expect(await described(name)).toEqual({
    kind: 'http',
    options: { methods, authLevel: 'function', route },
    runs,
  });
});

test('timers: housekeeping every 5 minutes, keepAlive every 10 (Graph ends calls idle for 45)', async () => {
  expect(await described('housekeeping')).toEqual({
    kind: 'timer',
    options: { schedule: '0 */5 * * * *' },
    runs: 'timers.housekeepingHandler',
  });
  expect(await described('keepAlive')).toEqual({
    kind: 'timer',
    options: { schedule: '0 */10 * * * *' },
    runs: 'timers.keepAliveHandler',
  });
});

test('queues: per-call timers, http lookups, recording jobs, voicemail deliveries and webhooks, on the app storage connection', async () => {
  expect(await described('ivrTimers')).toEqual({
    kind: 'queue',
    options: { queueName: 'ivr-timers', connection: 'AzureWebJobsStorage' },
    runs: 'timers.ivrTimersHandler',
  });
  expect(await described('recordings')).toEqual({
    kind: 'queue',
    options: { queueName: 'ivr-recordings', connection: 'AzureWebJobsStorage' },
    runs: 'recordings.recordingsHandler',
  });
  expect(await described('ivrLookups')).toEqual({
    kind: 'queue',
    options: { queueName: 'ivr-lookups', connection: 'AzureWebJobsStorage' },
    runs: 'lookups.ivrLookupsHandler',
  });
  expect(await described('voicemail')).toEqual({
    kind: 'queue',
    options: { queueName: 'ivr-voicemail', connection: 'AzureWebJobsStorage' },
    runs: 'voicemail.voicemailHandler',
  });
  expect(await described('webhooks')).toEqual({
    kind: 'queue',
    options: { queueName: 'ivr-webhooks', connection: 'AzureWebJobsStorage' },
    runs: 'webhooks.webhooksHandler',
  });
});

test('a handler module that fails to load is loaded again on the next invocation', async () => {
  let attempts = 0;
  const handler = registry.lazy(async () => {
    if (++attempts === 1) throw new Error('cold start failed');
    return async (x: number) => x * 2;
  });
  await expect(handler(1)).rejects.toThrow('cold start failed');
  expect(await handler(2)).toBe(4);
  expect(await handler(3)).toBe(6);
  expect(attempts).toBe(2);
});
