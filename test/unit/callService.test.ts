import { CallService, type CallServiceDeps } from '../../shared/ivr/callService';
import type { CallContext } from '../../shared/ivr/context';
import { ConflictError, type CallStore, type Versioned } from '../../shared/storage/callStore';
import type { RecordStore } from '../../shared/storage/recordStore';
import { GraphError, type GraphClient, type GraphResponse } from '../../shared/graph/graphClient';
import { validateFlow, type FlowCatalog } from '../../shared/flows/loader';
import { parseNotifications } from '../../shared/graph/notifications';

/**
 * The shell's concurrency rules, with in-memory adapters: a write that loses the ETag race is
 * re-read and re-decided, and only the winner's commands reach Graph.
 */

class MemoryStore implements CallStore {
  rows = new Map<string, Versioned<CallContext>>();
  index = new Map<string, string>();
  private n = 0;
  /** Called before a replace lands: lets a test slip in a competing write. */
  beforeReplace: ((ctx: CallContext) => Promise<void>) | null = null;

  async get(key: string) {
    const row = this.rows.get(key);
    return row ? structuredClone(row) : null;
  }
  async create(ctx: CallContext) {
    if (this.rows.has(ctx.clientContext)) throw new ConflictError();
    const etag = `e${++this.n}`;
    this.rows.set(ctx.clientContext, { value: structuredClone(ctx), etag });
    return etag;
  }
  async replace(ctx: CallContext, etag: string) {
    const hook = this.beforeReplace;
    this.beforeReplace = null;
    if (hook) await hook(ctx);
    const row = this.rows.get(ctx.clientContext);
    if (!row || row.etag !== etag) throw new ConflictError();
    const next = `e${++this.n}`;
    this.rows.set(ctx.clientContext, { value: structuredClone(ctx), etag: next });
    return next;
  }
  async claimCallId(callId: string, key: string) {
    if (this.index.has(callId)) return false;
    this.index.set(callId, key);
    return true;
  }
  async findByCallId(callId: string) {
    return this.index.get(callId) ?? null;
  }
  async *listOpen() {
    for (const row of this.rows.values())
      if (row.value.phase !== 'ended') yield { ...row, updatedAt: new Date(0).toISOString() };
  }
  async delete(key: string) {
    this.rows.delete(key);
  }
}

const flow = validateFlow(
  {
    number: '+14255550100',
    prompts: { hello: 'https://media.example.com/hello.wav', menu: 'https://media.example.com/menu.wav' },
    default: { type: 'answer', start: 'hello' },
    nodes: {
      hello: { type: 'play', prompts: ['hello'], next: 'menu' },
      menu: { type: 'menu', prompt: 'menu', options: { '1': 'bye' }, fallback: 'bye' },
      bye: { type: 'hangup' },
    },
  },
  'shop.json',
).flow!;
const catalog: FlowCatalog = {
  byIdentity: new Map([['+14255550100', flow]]),
  byId: new Map([['shop', flow]]),
  problems: [],
};

function setup(over: Partial<CallServiceDeps> = {}) {
  const store = new MemoryStore();
  const sent: Array<{ callId: string; action: string; body: unknown }> = [];
  /** Calls Graph no longer knows: their keepAlive answers 404. */
  const gone = new Set<string>();
  const ok = (body: unknown = null): GraphResponse => ({ status: 202, body, location: null });
  const graph = {
    callAction: async (callId: string, action: string, body?: unknown) => {
      if (action === 'keepAlive' && gone.has(callId)) {
        throw new GraphError(404, 'NotFound', 'gone', 'POST', `/communications/calls/${callId}/keepAlive`);
      }
      sent.push({ callId, action, body });
      return action === 'playPrompt' ? ok({ status: 'running' }) : ok();
    },
    deleteCall: async (callId: string) => {
      sent.push({ callId, action: 'delete', body: null });
      return ok();
    },
    post: async () => ok({ id: 'x' }),
  } as unknown as GraphClient;
  const records = { writeCallRecord: async () => undefined } as unknown as RecordStore;
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const service = new CallService({
    store,
    records,
    blobs: { upload: async () => 0, delete: async () => undefined },
    timers: { schedule: async () => undefined },
    graph,
    flows: () => catalog,
    callbackUri: 'https://bot.example.com/api/calls',
    unconfiguredRejectReason: 'busy',
    recordingMaxBytes: 1024,
    allowLocalHttp: false,
    log: quiet,
    sleep: async () => undefined,
    ...over,
  });
  return { store, sent, gone, service };
}

const incoming = (callId: string, to: string) =>
  parseNotifications({
    value: [
      {
        changeType: 'created',
        resourceUrl: `/communications/calls/${callId}`,
        resourceData: {
          state: 'incoming',
          callRoutes: [{ original: { phone: { id: to } }, final: { phone: { id: to } } }],
          source: { identity: { phone: { id: '+12065550123' } } },
        },
      },
    ],
  })[0]!;
const update = (callId: string, data: Record<string, unknown>) =>
  parseNotifications({
    value: [{ changeType: 'updated', resourceUrl: `/communications/calls/${callId}`, resourceData: data }],
  })[0]!;

test('an unconfigured number gets the configured reject reason', async () => {
  const { sent, service } = setup();
  await service.handleNotification(incoming('c1', '+14255559999'), 'tenant');
  expect(sent).toEqual([
    {
      callId: 'c1',
      action: 'reject',
      body: { reason: 'busy', callbackUri: 'https://bot.example.com/api/calls' },
    },
  ]);
});

test('IVR_DEFAULT_FLOW answers unconfigured numbers with that flow', async () => {
  const { sent, store, service } = setup({ defaultFlowId: 'shop' });
  await service.handleNotification(incoming('c2', '+14255559999'), 'tenant');
  expect(sent.map((s) => s.action)).toEqual(['answer']);
  const ctx = [...store.rows.values()][0]!.value;
  expect([ctx.flowId, ctx.number]).toEqual(['shop', '+14255559999']);
});

test('a write that loses the ETag race is decided again on the fresh state; Graph hears it once', async () => {
  const { sent, store, service } = setup();
  await service.handleNotification(incoming('c3', '+14255550100'), 'tenant');
  // While this instance handles "established", another instance handles the same notification first.
  store.beforeReplace = async () => {
    await service.handleNotification(update('c3', { state: 'established' }), 'tenant');
  };
  await service.handleNotification(update('c3', { state: 'established' }), 'tenant');
  expect(sent.map((s) => s.action)).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
  const ctx = [...store.rows.values()][0]!.value;
  expect([ctx.phase, ctx.node]).toEqual(['established', 'hello']);
});

test('a context that keeps changing gives up with an error rather than looping forever', async () => {
  const { store, service } = setup();
  await service.handleNotification(incoming('c4', '+14255550100'), 'tenant');
  const always = async (ctx: CallContext) => {
    const row = store.rows.get(ctx.clientContext)!;
    store.rows.set(ctx.clientContext, { ...row, etag: `${row.etag}x` });
    store.beforeReplace = always;
  };
  store.beforeReplace = always;
  await expect(service.handleNotification(update('c4', { state: 'established' }), 'tenant')).rejects.toThrow(
    /kept changing/,
  );
});

test('a keepAlive answered 404 closes the call; other calls are kept', async () => {
  const { store, service, sent, gone } = setup();
  for (const id of ['k1', 'k2']) {
    await service.handleNotification(incoming(id, '+14255550100'), 'tenant');
    await service.handleNotification(update(id, { state: 'established' }), 'tenant');
  }
  gone.add('k2');
  expect(await service.keepAliveAll()).toEqual({ kept: 1, closed: 1 });
  const phases = Object.fromEntries([...store.rows.values()].map((r) => [r.value.callId, r.value.phase]));
  expect(phases).toEqual({ k1: 'established', k2: 'ended' });
  expect(sent.filter((s) => s.action === 'keepAlive').map((s) => s.callId)).toEqual(['k1']);
});
