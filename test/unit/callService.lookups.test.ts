import { validateFlow, type FlowCatalog } from '../../shared/flows/loader';
import { CallService, type LookupMessage } from '../../shared/ivr/callService';
import { decideIncomingCall, step } from '../../shared/ivr/engine';
import type { GraphClient } from '../../shared/graph/graphClient';
import type { RecordStore } from '../../shared/storage/recordStore';
import { MemoryCallStore } from '../support/memoryCallStore';
import { onFirstUse } from '../support/onFirstUse';

/**
 * The shell's side of http nodes: the request is queued before the context is stored, and a
 * result that comes before that write has landed waits for it (the interleaving is set here).
 */

const CALLBACK = 'https://bot.example.com/api/calls';
const KEY = 'lookupcall_0123456789abcdef0123456789abcdef'.slice(0, 43);
const flow = onFirstUse(
  () =>
    validateFlow(
      {
        number: '+14255550100',
        prompts: {},
        default: { type: 'answer', start: 'lookup' },
        http: { allowedHosts: ['crm.contoso.example'] },
        nodes: {
          lookup: {
            type: 'http',
            url: 'https://crm.contoso.example/callers/{caller}',
            headers: [{ header: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' }],
            map: { tier: { field: 'tier' } },
            next: { success: 'ok', failure: 'bye' },
          },
          ok: { type: 'hangup' },
          bye: { type: 'hangup' },
        },
      },
      'crm.json',
    ).flow!,
);
const catalog: FlowCatalog = onFirstUse(() => ({
  byIdentity: new Map([[flow.flow.number, flow]]),
  byId: new Map([['crm', flow]]),
  problems: [],
}));

function setup() {
  const store = new MemoryCallStore();
  const sleeps: number[] = [];
  let onSleep: () => void = () => undefined;
  const queued: LookupMessage[] = [];
  const service = new CallService({
    store,
    records: {} as RecordStore,
    timers: { schedule: async () => undefined },
    recordingJobs: { enqueue: async () => undefined },
    lookups: { enqueue: async (m) => void queued.push(m) },
    graph: {
      callAction: async () => ({ status: 202, body: null, location: null }),
      deleteCall: async () => ({ status: 204, body: null, location: null }),
    } as unknown as GraphClient,
    flows: () => catalog,
    callbackUri: CALLBACK,
    unconfiguredRejectReason: 'busy',
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    sleep: async (ms) => {
      sleeps.push(ms);
      onSleep();
    },
  });
  const decided = decideIncomingCall(
    {
      clientContext: KEY,
      callId: 'call-1',
      tenantId: 't',
      number: '+14255550100',
      caller: '+12065550100',
      at: new Date().toISOString(),
    },
    { callbackUri: CALLBACK, flow },
    'busy',
  ).ctx;
  const waiting = step(
    decided,
    { kind: 'callState', at: new Date().toISOString(), state: 'established' },
    { callbackUri: CALLBACK, flow },
  );
  const lookup = waiting.commands.find((c) => c.kind === 'lookup')!;
  return {
    store,
    service,
    sleeps,
    queued,
    decided,
    waiting,
    seq: (lookup as { seq: number }).seq,
    setOnSleep: (f: () => void) => (onSleep = f),
  };
}

test('a result that comes before the write that queued its request waits for that write, then moves the call on once', async () => {
  const { store, service, sleeps, decided, waiting, seq, setOnSleep } = setup();
  store.put(decided); // the notification's write has not landed yet
  setOnSleep(() => {
    if (sleeps.length === 2) store.put(waiting.ctx); // ... and lands while the worker waits
  });
  const applied = await service.handleLookupResult(
    { clientContext: KEY, seq },
    { status: 200, answer: { tier: 'gold' } },
  );
  expect(applied).toBe('applied');
  expect(sleeps).toEqual([50, 100]);
  const after = (await store.get(KEY))!.value;
  expect(after.vars).toEqual({ tier: 'gold' });
  expect(after.visited).toEqual(['lookup', 'ok']);
  expect(after.lookups).toEqual([expect.objectContaining({ seq, outcome: 'success' })]);
  // The same result again (a redelivered message) changes nothing.
  const etag = (await store.get(KEY))!.etag;
  await service.handleLookupResult({ clientContext: KEY, seq }, { status: 404 });
  expect((await store.get(KEY))!.etag).toBe(etag);
});

test('a result whose request was never stored gives up after the last check', async () => {
  const { store, service, sleeps, decided, seq } = setup();
  store.put(decided);
  expect(
    await service.handleLookupResult({ clientContext: KEY, seq }, { status: 200, answer: { tier: 'x' } }),
  ).toBe('notYetStored');
  expect(sleeps).toEqual([50, 100, 200, 400, 800, 1600]);
  expect((await store.get(KEY))!.value).toEqual(decided);
  expect(
    await service.handleLookupResult({ clientContext: 'nosuchcall_0123456789abcdef', seq }, { status: 200 }),
  ).toBe('unknown');
});

test('the queued request names the secret setting, never its value, and is queued before the context is stored', async () => {
  const { waiting } = setup();
  const lookup = waiting.commands.find((c) => c.kind === 'lookup')!;
  expect(lookup).toMatchObject({
    request: {
      method: 'GET',
      url: 'https://crm.contoso.example/callers/%2B12065550100',
      headers: [{ name: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' }],
    },
  });
  const { runsBeforeCommit } = await import('../../shared/ivr/engine');
  expect(runsBeforeCommit(lookup)).toBe(true);
});
