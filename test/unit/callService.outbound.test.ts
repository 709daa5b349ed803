import {
  CallService,
  OutboundRefusal,
  OutboundRequestError,
  type CallServiceDeps,
  type LimitDecision,
  type NumberLimits,
  type OutcomeWebhooks,
} from '../../shared/ivr/callService';
import type { OutboundWebhookStatus } from '../../shared/ivr/outbound';
import { validateFlow, type FlowCatalog } from '../../shared/flows/loader';
import { GraphError, type GraphClient, type GraphResponse } from '../../shared/graph/graphClient';
import { parseNotifications } from '../../shared/graph/notifications';
import { ConflictError } from '../../shared/storage/callStore';
import type { RecordingMeta, RecordStore } from '../../shared/storage/recordStore';
import type { RecordingJob } from '../../shared/ivr/recordingArchiver';
import { MemoryCallStore } from '../support/memoryCallStore';
import { incomingCall } from '../support/notifications';
import { onFirstUse } from '../support/onFirstUse';

/**
 * The shell's outbound calls and status reads against in-memory adapters: what a request is
 * refused for, what a placed call returns, the limits' slot, and what GET shows.
 */

const TENANT = '11111111-2222-3333-4444-555555555555';
const NOW = new Date('2026-11-22T09:00:00.000Z');
const FROM = '+14255550100';
const APP_INSTANCE = '6f1c2a9e-0000-4000-8000-00000000a001';

function outboundFlow(number: string, outbound: Record<string, unknown> | undefined, appInstance = true) {
  return validateFlow(
    {
      number,
      ...(appInstance ? { applicationInstanceId: APP_INSTANCE } : {}),
      prompts: { hello: 'https://media.example.com/hello.wav' },
      default: { type: 'answer', start: 'hello' },
      ...(outbound ? { outbound: { start: 'hello', ...outbound } } : {}),
      nodes: { hello: { type: 'play', prompts: ['hello'], next: 'bye' }, bye: { type: 'hangup' } },
    },
    `${number}.json`,
  ).flow!;
}

const flows = onFirstUse(() => ({
  main: outboundFlow(FROM, {
    variables: { ticket: { required: true, pattern: 'T\\d+' }, note: { required: false } },
  }),
  plain: outboundFlow('+14255550101', {}),
  inbound: outboundFlow('+14255550102', undefined),
  noInstance: outboundFlow('+14255550103', {}, false),
  uk: outboundFlow('+14255550104', { allowedPrefixes: ['+44'] }),
  limited: outboundFlow('+14255550105', { limits: { maxConcurrentCalls: 2 } }),
}));
const catalog: FlowCatalog = onFirstUse(() => ({
  byIdentity: new Map(Object.values(flows).map((f) => [f.flow.number, f])),
  byId: new Map(Object.values(flows).map((f) => [f.id, f])),
  problems: [],
}));

interface Acquired {
  number: string;
  clientContext: string;
  limits: NumberLimits;
  inProgress: (key: string) => Promise<boolean>;
}

function setup(over: Partial<CallServiceDeps> = {}, options: { createAnswer?: unknown } = {}) {
  const sentHooks: Array<Parameters<OutcomeWebhooks['send']>[0]> = [];
  /** What the next send throws, if anything. */
  let hookFailure: Error | null = null;
  const webhooks: OutcomeWebhooks = {
    send: async (delivery) => {
      if (hookFailure) throw hookFailure;
      sentHooks.push(delivery);
      return null;
    },
  };
  const store = new MemoryCallStore(NOW.toISOString());
  const posts: Array<{ path: string; body: unknown }> = [];
  const actions: Array<{ callId: string; action: string }> = [];
  const deletes: string[] = [];
  /** keepAlive answers per call id: a status to fail with. */
  const keepAliveFails = new Map<string, number>();
  const ok = (body: unknown = null): GraphResponse => ({ status: 202, body, location: null });
  const graph = {
    callAction: async (callId: string, action: string) => {
      const status = action === 'keepAlive' ? keepAliveFails.get(callId) : undefined;
      if (status) throw new GraphError(status, 'Failed', `keepAlive ${status}`, 'POST', '/x');
      actions.push({ callId, action });
      return ok();
    },
    deleteCall: async (callId: string) => {
      deletes.push(callId);
      if (callId === 'gone') throw new GraphError(404, 'NotFound', 'gone', 'DELETE', '/x');
      return ok();
    },
    post: async (path: string, body: unknown) => {
      posts.push({ path, body });
      if (options.createAnswer instanceof Error) throw options.createAnswer;
      return ok(options.createAnswer === undefined ? { id: 'graph-call-1' } : options.createAnswer);
    },
  } as unknown as GraphClient;
  const recordings: RecordingMeta[] = [];
  const listed: string[] = [];
  const records = {
    listRecordings: async (callId: string) => {
      listed.push(callId);
      return recordings;
    },
  } as unknown as RecordStore;
  const lines: Array<{ level: string; message: string; props?: Record<string, unknown> }> = [];
  const log = {
    info: (message: string, props?: Record<string, unknown>) =>
      void lines.push({ level: 'info', message, props }),
    warn: (message: string, props?: Record<string, unknown>) =>
      void lines.push({ level: 'warn', message, props }),
    error: (message: string, props?: Record<string, unknown>) =>
      void lines.push({ level: 'error', message, props }),
  };
  const acquired: Acquired[] = [];
  const released: Array<{ number: string; clientContext: string }> = [];
  let decision: LimitDecision = { ok: true };
  const limits = {
    acquire: async (
      number: string,
      clientContext: string,
      l: NumberLimits,
      _now: Date,
      inProgress: (key: string) => Promise<boolean>,
    ) => {
      acquired.push({ number, clientContext, limits: l, inProgress });
      return decision;
    },
    release: async (number: string, clientContext: string) => void released.push({ number, clientContext }),
  };
  const service = new CallService({
    store,
    records,
    timers: { schedule: async () => undefined },
    recordingJobs: { enqueue: async () => undefined },
    graph,
    flows: () => catalog,
    callbackUri: 'https://bot.example.com/api/calls',
    unconfiguredRejectReason: 'busy',
    tenantId: TENANT,
    log,
    now: () => NOW,
    limits,
    webhooks,
    ...over,
  });
  return {
    service,
    store,
    posts,
    actions,
    deletes,
    keepAliveFails,
    recordings,
    listed,
    lines,
    acquired,
    released,
    refuse: (d: LimitDecision) => void (decision = d),
    sentHooks,
    failHooks: (err: Error | null) => void (hookFailure = err),
  };
}

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
}

describe('placeCall refuses a request it cannot place, placing nothing', () => {
  test.each<[string, Record<string, unknown>, string]>([
    ['a number without a flow', { from: '+14255559999' }, 'no flow configures +14255559999'],
    [
      'a flow without an outbound entry',
      { from: '+14255550102' },
      'the flow of +14255550102 has no outbound entry',
    ],
    [
      'a flow without an application instance',
      { from: '+14255550103' },
      'the flow of +14255550103 has no applicationInstanceId to call from',
    ],
    [
      'a variable the flow does not declare',
      { from: FROM, variables: { ticket: 'T1', other: 'x' } },
      `variables.other: not declared by the flow of ${FROM}`,
    ],
    [
      'a value not matching its pattern',
      { from: FROM, variables: { ticket: 'X1' } },
      'variables.ticket: does not match T\\d+',
    ],
    [
      'a value matching only part of its pattern',
      { from: FROM, variables: { ticket: 'T12x' } },
      'variables.ticket: does not match T\\d+',
    ],
    [
      'a value with the pattern inside it',
      { from: FROM, variables: { ticket: 'xT12' } },
      'variables.ticket: does not match T\\d+',
    ],
    [
      'a required variable missing',
      { from: FROM, variables: { note: 'hi' } },
      `variables.ticket: required by the flow of ${FROM}`,
    ],
  ])('%s', async (_name, request, message) => {
    const { service, store, posts, acquired } = setup();
    const err = await refusal(service.placeCall({ to: '+12065550100', ...request } as never));
    expect(err).toBeInstanceOf(OutboundRequestError);
    expect(err.name).toBe('OutboundRequestError');
    expect(err.message).toBe(message);
    expect([store.rows.size, posts.length, acquired.length]).toEqual([0, 0, 0]);
  });

  test('no tenant to place calls in', async () => {
    const { service, posts } = setup({ tenantId: undefined });
    const err = await refusal(
      service.placeCall({ from: FROM, to: '+12065550100', variables: { ticket: 'T1' } }),
    );
    expect(err).toBeInstanceOf(OutboundRequestError);
    expect(err.message).toBe('AZURE_TENANT_ID is not set');
    expect(posts).toEqual([]);
  });

  test('a number outside the allowed prefixes: 403 DestinationNotAllowed', async () => {
    const { service, posts } = setup();
    const err = (await refusal(
      service.placeCall({ from: '+14255550104', to: '+12065550100' }),
    )) as OutboundRefusal;
    expect(err).toBeInstanceOf(OutboundRefusal);
    expect([err.name, err.status, err.code, err.headers]).toEqual([
      'OutboundRefusal',
      403,
      'DestinationNotAllowed',
      {},
    ]);
    expect(err.message).toBe(
      'to: +12065550100 does not start with a prefix allowed by the flow of +14255550104 (outbound.allowedPrefixes)',
    );
    expect(posts).toEqual([]);
  });

  test('a limit refusing the call: 429 TooManyOutboundCalls with Retry-After', async () => {
    const { service, posts, store, refuse } = setup();
    refuse({ ok: false, rule: 'maxConcurrentCalls', retryAfterSeconds: 7, message: 'two calls in progress' });
    const err = (await refusal(
      service.placeCall({ from: '+14255550105', to: '+12065550100' }),
    )) as OutboundRefusal;
    expect([err.status, err.code, err.message, err.headers]).toEqual([
      429,
      'TooManyOutboundCalls',
      'two calls in progress',
      { 'retry-after': '7' },
    ]);
    expect([posts.length, store.rows.size]).toEqual([0, 0]);
  });
});

describe('placeCall places a call', () => {
  test('the call is created from the number, stored, linked to its Graph id; the slot is taken with the flow limits', async () => {
    const { service, store, posts, acquired, released } = setup();
    const placed = await service.placeCall({ from: '+14255550105', to: '+12065550100' });
    expect(placed).toEqual({
      clientContext: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      callId: 'graph-call-1',
    });
    expect(posts.map((p) => p.path)).toEqual(['/communications/calls']);
    expect(store.links.get('graph-call-1')).toBe(placed.clientContext);
    expect(store.rows.get(placed.clientContext)?.value).toMatchObject({
      callId: 'graph-call-1',
      phase: 'dialing',
      tenantId: TENANT,
      number: '+14255550105',
      party: '+12065550100',
    });
    // The flow's own cap, the default rate.
    expect(acquired.map((a) => [a.number, a.clientContext, a.limits])).toEqual([
      ['+14255550105', placed.clientContext, { maxConcurrentCalls: 2, maxCallsPerMinute: 30 }],
    ]);
    expect(released).toEqual([]);
  });

  test('the limits ask whether a slot holder is still in progress: a stored call not ended is, others are not', async () => {
    const { service, store, acquired } = setup();
    const first = await service.placeCall({ from: '+14255550101', to: '+12065550100' });
    await service.placeCall({ from: '+14255550101', to: '+12065550101' });
    const inProgress = acquired[1]!.inProgress;
    expect(await inProgress(first.clientContext)).toBe(true);
    expect(await inProgress('unknown-key')).toBe(false);
    const row = store.rows.get(first.clientContext)!;
    row.value.phase = 'ended';
    expect(await inProgress(first.clientContext)).toBe(false);
  });

  test('variables and the callback URL go into the call; GET shows them', async () => {
    const { service } = setup();
    const placed = await service.placeCall({
      from: FROM,
      to: '+12065550100',
      variables: { ticket: 'T42' },
      callbackUrl: 'https://hooks.example.com/ivr',
    });
    const status = await service.getOutboundCall(placed.clientContext);
    expect(status).toMatchObject({
      id: placed.clientContext,
      state: 'dialing',
      outcome: null,
      from: FROM,
      to: '+12065550100',
      callId: 'graph-call-1',
      variables: { ticket: 'T42' },
      webhook: null,
      redialAt: null,
      recordings: [],
    });
  });

  test('Graph refusing the create call: the failure is returned, the call is stored ended', async () => {
    const failure = new GraphError(403, 'Forbidden', 'no policy', 'POST', '/communications/calls');
    const { service, store } = setup({}, { createAnswer: failure });
    const placed = await service.placeCall({ from: '+14255550101', to: '+12065550100' });
    expect(placed).toEqual({ clientContext: expect.any(String), callId: null, failure: 'no policy' });
    expect(store.rows.get(placed.clientContext)?.value.phase).toBe('ended');
  });

  test('a create call answered without an id is a failure', async () => {
    const { service } = setup({}, { createAnswer: { state: 'establishing' } });
    const placed = await service.placeCall({ from: '+14255550101', to: '+12065550100' });
    expect(placed).toMatchObject({ callId: null, failure: 'create call answered without a call id' });
  });

  test('storage failing before the call is stored: the error goes up and the slot comes back', async () => {
    const { service, store, released, posts } = setup();
    store.failCreate = true;
    const err = await refusal(service.placeCall({ from: '+14255550101', to: '+12065550100' }));
    expect(err.message).toBe('storage unavailable');
    expect(posts).toEqual([]);
    expect(released).toEqual([{ number: '+14255550101', clientContext: expect.any(String) }]);
  });
});

describe('idempotency keys', () => {
  const key = { keyHash: 'h1', fingerprint: 'f1' };

  test('a repeated key returns the first call, placing nothing and taking no slot', async () => {
    const { service, posts, acquired } = setup();
    const first = await service.placeCall({ from: '+14255550101', to: '+12065550100', idempotency: key });
    const again = await service.placeCall({ from: '+14255550101', to: '+12065550100', idempotency: key });
    expect(again).toEqual({ clientContext: first.clientContext, callId: 'graph-call-1', replayed: true });
    expect([posts.length, acquired.length]).toEqual([1, 1]);
  });

  test('the same key with another request: 422 IdempotencyKeyReused', async () => {
    const { service, posts } = setup();
    await service.placeCall({ from: '+14255550101', to: '+12065550100', idempotency: key });
    const err = (await refusal(
      service.placeCall({
        from: '+14255550101',
        to: '+12065550199',
        idempotency: { keyHash: 'h1', fingerprint: 'f2' },
      }),
    )) as OutboundRefusal;
    expect([err.status, err.code, err.message]).toEqual([
      422,
      'IdempotencyKeyReused',
      'Idempotency-Key: already used within 24 h for a different request',
    ]);
    expect(posts).toHaveLength(1);
  });

  test('a key another request claimed first: that call is returned, this slot goes back', async () => {
    const { service, store, posts, released } = setup();
    store.lostClaim = { clientContext: 'other-call', fingerprint: 'f1', createdAt: NOW.toISOString() };
    const placed = await service.placeCall({ from: '+14255550101', to: '+12065550100', idempotency: key });
    expect(placed).toEqual({ clientContext: 'other-call', callId: null, replayed: true });
    expect(posts).toEqual([]);
    expect(released).toEqual([{ number: '+14255550101', clientContext: expect.any(String) }]);
    expect(released[0]!.clientContext).not.toBe('other-call');
  });
});

describe('outbound status and webhook outcomes', () => {
  async function endedWithWebhook(webhook: OutboundWebhookStatus) {
    const s = setup();
    const placed = await s.service.placeCall({
      from: '+14255550101',
      to: '+12065550100',
      callbackUrl: 'https://hooks.example.com/ivr',
    });
    const row = s.store.rows.get(placed.clientContext)!;
    row.value.phase = 'ended';
    row.value.outbound!.outcome = 'answered';
    row.value.outbound!.webhook = webhook;
    return { ...s, id: placed.clientContext };
  }
  const pending: OutboundWebhookStatus = {
    deliveryId: 'd1',
    event: 'outboundCall.completed',
    status: 'pending',
    queued: true,
    checkTimerId: 'webhookCheck-9',
    attempts: 0,
  };

  test("GET of an ended call lists its recordings and shows its webhook without the shell's bookkeeping", async () => {
    const { service, id, recordings, listed } = await endedWithWebhook(pending);
    recordings.push({ callId: 'graph-call-1', seq: 1 } as RecordingMeta);
    const status = await service.getOutboundCall(id);
    expect(listed).toEqual(['graph-call-1']);
    expect(status).toMatchObject({
      state: 'ended',
      outcome: 'answered',
      webhook: { deliveryId: 'd1', event: 'outboundCall.completed', status: 'pending', attempts: 0 },
      recordings: [{ callId: 'graph-call-1', seq: 1 }],
    });
    expect(status?.webhook).not.toHaveProperty('queued');
    expect(status?.webhook).not.toHaveProperty('checkTimerId');
  });

  test('GET of an unknown key, or of an incoming call, is null', async () => {
    const { service, store } = setup();
    expect(await service.getOutboundCall('nope')).toBeNull();
    await service.handleNotification(
      parseNotifications({
        value: [
          {
            changeType: 'created',
            resourceUrl: '/communications/calls/in-1',
            resourceData: {
              state: 'incoming',
              callRoutes: [{ original: { phone: { id: FROM } }, final: { phone: { id: FROM } } }],
              source: { identity: { phone: { id: '+12065550123' } } },
            },
          },
        ],
      })[0]!,
      { tenantId: TENANT },
    );
    expect(await service.getOutboundCall(await store.keyFor('in-1'))).toBeNull();
  });

  test('a delivery outcome is recorded with its status, attempts, time, HTTP status and reason', async () => {
    const { service, store, id } = await endedWithWebhook(pending);
    await service.recordWebhookOutcome(id, {
      deliveryId: 'd1',
      status: 'failed',
      attempts: 3,
      at: '2026-11-22T09:05:00.000Z',
      httpStatus: 500,
      reason: 'server error',
    });
    expect(store.rows.get(id)?.value.outbound?.webhook).toEqual({
      deliveryId: 'd1',
      event: 'outboundCall.completed',
      status: 'failed',
      attempts: 3,
      at: '2026-11-22T09:05:00.000Z',
      httpStatus: 500,
      reason: 'server error',
    });
  });

  test('an outcome without HTTP status or reason keeps neither key', async () => {
    const { service, store, id } = await endedWithWebhook(pending);
    await service.recordWebhookOutcome(id, {
      deliveryId: 'd1',
      status: 'delivered',
      attempts: 1,
      at: 'then',
    });
    expect(store.rows.get(id)?.value.outbound?.webhook).toEqual({
      deliveryId: 'd1',
      event: 'outboundCall.completed',
      status: 'delivered',
      attempts: 1,
      at: 'then',
    });
  });

  test('a delivered webhook stays delivered; an outcome of another delivery changes nothing', async () => {
    const delivered = { ...pending, status: 'delivered' as const, attempts: 1 };
    const { service, store, id, lines } = await endedWithWebhook(delivered);
    const before = store.rows.get(id)!.etag;
    await service.recordWebhookOutcome(id, { deliveryId: 'd1', status: 'failed', attempts: 2, at: 'x' });
    const other = await endedWithWebhook(pending);
    await other.service.recordWebhookOutcome(other.id, {
      deliveryId: 'd2',
      status: 'failed',
      attempts: 2,
      at: 'x',
    });
    expect(store.rows.get(id)!.etag).toBe(before);
    expect(other.store.rows.get(other.id)?.value.outbound?.webhook).toEqual(pending);
    expect(lines.filter((l) => l.message.startsWith('webhook outcome not recorded'))).toEqual([
      {
        level: 'info',
        message: 'webhook outcome not recorded (unknown, or already delivered)',
        props: { deliveryId: 'd1' },
      },
    ]);
  });
});

describe('call status by call id', () => {
  const incoming = (callId: string) => incomingCall(callId, FROM);

  test('a call in progress: where it is now', async () => {
    const { service } = setup();
    await service.handleNotification(incoming('s1'), { tenantId: TENANT });
    expect(await service.getCallStatus('s1')).toEqual({
      status: 'inProgress',
      callId: 's1',
      number: FROM,
      caller: '+12065550123',
      from: '+12065550123',
      to: FROM,
      phase: 'incoming',
      node: null,
      startedAt: NOW.toISOString(),
      answeredAt: null,
      nodesVisited: [],
      digits: [],
    });
  });

  test('an ended call: its record with the recordings; an unknown call: null', async () => {
    const { service, store, recordings, listed } = setup();
    await service.handleNotification(incoming('s2'), { tenantId: TENANT });
    const row = store.rows.get(await store.keyFor('s2'))!;
    row.value.phase = 'ended';
    recordings.push({ callId: 's2', seq: 1 } as RecordingMeta);
    expect(await service.getCallStatus('s2')).toMatchObject({
      status: 'ended',
      callId: 's2',
      recordings: [{ callId: 's2', seq: 1 }],
    });
    expect(listed).toEqual(['s2']);
    expect(await service.getCallStatus('nobody')).toBeNull();
  });

  test("a key whose context belongs to another call id is not that call's status", async () => {
    const { service, store } = setup();
    await service.handleNotification(incoming('s3'), { tenantId: TENANT });
    store.links.set('s4', await store.keyFor('s3'));
    expect(await service.getCallStatus('s4')).toBeNull();
  });
});

describe('housekeeping', () => {
  async function twoCalls() {
    const s = setup();
    const a = await s.service.placeCall({ from: '+14255550101', to: '+12065550100' });
    const b = await s.service.placeCall({ from: '+14255550101', to: '+12065550101' });
    return { ...s, a: a.clientContext, b: b.clientContext };
  }

  test('the sweep ends calls idle past the limit, on Graph too, and leaves recent ones', async () => {
    const { service, store, deletes, a, b } = await twoCalls();
    // a: idle 31 minutes; b: 29.
    store.rows.get(a)!.updatedAt = new Date(NOW.getTime() - 31 * 60_000).toISOString();
    store.rows.get(b)!.updatedAt = new Date(NOW.getTime() - 29 * 60_000).toISOString();
    expect(await service.sweepStale(30)).toEqual({ closed: 1 });
    expect(deletes).toEqual(['graph-call-1']);
    expect(store.rows.get(a)?.value).toMatchObject({
      phase: 'ended',
      result: { code: 0, message: 'closed by sweep after 30 idle minutes' },
    });
    expect(store.rows.get(b)?.value.phase).toBe('dialing');
  });

  test('a call idle exactly to the limit is closed', async () => {
    const { service, store, a, b } = await twoCalls();
    store.rows.get(a)!.updatedAt = new Date(NOW.getTime() - 30 * 60_000).toISOString();
    store.rows.delete(b);
    expect(await service.sweepStale(30)).toEqual({ closed: 1 });
  });

  test('keepAlive goes to established calls only; a failure other than 404 is logged, the call kept', async () => {
    const { service, store, actions, keepAliveFails, lines } = setup();
    const a = await service.placeCall({ from: '+14255550101', to: '+12065550100' });
    store.rows.get(a.clientContext)!.value.phase = 'established';
    keepAliveFails.set('graph-call-1', 503);
    expect(await service.keepAliveAll()).toEqual({ kept: 0, closed: 0 });
    expect(lines.filter((l) => l.message === 'keepAlive failed')).toEqual([
      {
        level: 'warn',
        message: 'keepAlive failed',
        props: { callId: 'graph-call-1', error: 'Graph POST /x failed: 503 Failed: keepAlive 503' },
      },
    ]);
    expect(store.rows.get(a.clientContext)?.value.phase).toBe('established');
    keepAliveFails.clear();
    // A dialing call (no answer yet) gets none.
    await service.placeCall({ from: '+14255550101', to: '+12065550101' });
    expect(await service.keepAliveAll()).toEqual({ kept: 1, closed: 0 });
    expect(actions.filter((x) => x.action === 'keepAlive')).toEqual([
      { callId: 'graph-call-1', action: 'keepAlive' },
    ]);
  });
});

describe('the outcome webhook', () => {
  const CALLBACK = 'https://hooks.example.com/ivr';
  const ended = (callId: string) =>
    parseNotifications({
      value: [
        {
          changeType: 'deleted',
          resourceUrl: `/communications/calls/${callId}`,
          resourceData: { state: 'terminated', resultInfo: { code: 487, subcode: 0, message: 'no answer' } },
        },
      ],
    })[0]!;

  async function endUnanswered(s: ReturnType<typeof setup>) {
    const placed = await s.service.placeCall({
      from: '+14255550101',
      to: '+12065550100',
      callbackUrl: CALLBACK,
    });
    await s.service.handleNotification(ended('graph-call-1'), {
      tenantId: TENANT,
      contextKey: placed.clientContext,
    });
    return placed.clientContext;
  }

  test('is queued once the ending is stored, with its id, event, URL, subject and body; then marked queued', async () => {
    const s = setup();
    const id = await endUnanswered(s);
    const stored = s.store.rows.get(id)!.value;
    expect(stored.phase).toBe('ended');
    expect(s.sentHooks).toEqual([
      {
        id: `outbound.${id}.completed`,
        event: 'outboundCall.completed',
        url: CALLBACK,
        subject: { kind: 'outboundCall', key: id },
        createdAt: NOW.toISOString(),
        data: expect.objectContaining({
          id,
          outcome: 'notAnswered',
          callId: 'graph-call-1',
          from: '+14255550101',
        }),
      },
    ]);
    expect(stored.outbound?.webhook).toMatchObject({ status: 'pending', queued: true });
  });

  test('without webhooks configured it is recorded as failed, with the reason', async () => {
    const s = setup({ webhooks: undefined });
    const id = await endUnanswered(s);
    expect(s.store.rows.get(id)!.value.outbound?.webhook).toMatchObject({
      status: 'failed',
      reason: 'webhooks are not configured (IVR_WEBHOOK_SECRET)',
    });
    expect(s.lines.filter((l) => l.message === 'outcome webhook not queued')).toEqual([
      {
        level: 'error',
        message: 'outcome webhook not queued',
        props: { callId: 'graph-call-1', reason: 'webhooks are not configured (IVR_WEBHOOK_SECRET)' },
      },
    ]);
  });

  test('a URL that can never be sent to is recorded as failed; the queue being away is left to the check timer', async () => {
    const never = setup();
    const refused = Object.assign(new Error('callbackUrl resolves to a private address'), {
      name: 'WebhookError',
    });
    never.failHooks(refused);
    const id = await endUnanswered(never);
    expect(never.store.rows.get(id)!.value.outbound?.webhook).toMatchObject({
      status: 'failed',
      reason: 'callbackUrl resolves to a private address',
    });

    const away = setup();
    away.failHooks(new Error('queue unavailable'));
    const other = await endUnanswered(away);
    const hook = away.store.rows.get(other)!.value.outbound?.webhook;
    expect(hook).toMatchObject({ status: 'pending' });
    expect(hook).not.toHaveProperty('queued');
    expect(away.lines.filter((l) => l.level === 'warn' && l.message.startsWith('outcome webhook'))).toEqual([
      {
        level: 'warn',
        message: 'outcome webhook not queued yet; its check timer will',
        props: { callId: 'graph-call-1', error: 'queue unavailable' },
      },
    ]);
  });
});

describe('the observer', () => {
  const incoming = incomingCall;

  function watched(over: Partial<CallServiceDeps> = {}) {
    const requests: Array<{ kind: string; name: string; ordered: boolean; failure?: unknown }> = [];
    const changes: Array<{ before: string | null; after: string }> = [];
    const s = setup({
      observer: {
        changed: (before, after) => void changes.push({ before: before?.phase ?? null, after: after.phase }),
        request: (kind, name, startedAt, endedAt, failure) =>
          void requests.push({
            kind,
            name,
            ordered: startedAt <= endedAt,
            ...(failure ? { failure } : {}),
          }),
      },
      ...over,
    });
    return { ...s, requests, changes };
  }

  test('hears each storage and Graph request of a call, and the change it made', async () => {
    const { service, requests, changes } = watched();
    await service.handleNotification(incoming('o1', FROM), { tenantId: TENANT });
    expect(requests).toEqual([
      { kind: 'storage', name: 'insert context', ordered: true },
      { kind: 'graph', name: 'answer', ordered: true },
    ]);
    expect(changes).toEqual([{ before: null, after: 'incoming' }]);
  });

  test("hears a failed request with Graph's status and code, or storage's status code", async () => {
    const refusing = {
      callAction: async () => {
        throw new GraphError(403, 'Forbidden', 'no', 'POST', '/communications/calls/o2/answer');
      },
    } as unknown as GraphClient;
    const graphFails = watched({ graph: refusing });
    await graphFails.service.handleNotification(incoming('o2', FROM), { tenantId: TENANT });
    expect(graphFails.requests.filter((r) => r.failure)).toEqual([
      { kind: 'graph', name: 'answer', ordered: true, failure: { status: 403, code: 'Forbidden' } },
    ]);

    const storageFails = watched();
    storageFails.store.create = async () => {
      throw Object.assign(new Error('throttled'), { statusCode: 503 });
    };
    await expect(
      storageFails.service.handleNotification(incoming('o3', FROM), { tenantId: TENANT }),
    ).rejects.toThrow('throttled');
    expect(storageFails.requests).toEqual([
      { kind: 'storage', name: 'insert context', ordered: true, failure: { status: 503, code: undefined } },
    ]);
  });
});

describe('notifications the shell does not act on', () => {
  const opNote = (callId: string, data: Record<string, unknown>) =>
    parseNotifications({
      value: [
        {
          changeType: 'deleted',
          resourceUrl: `/communications/calls/${callId}/operations/op-1`,
          resourceData: { '@odata.type': '#microsoft.graph.playPromptOperation', ...data },
        },
      ],
    })[0]!;
  const callNote = (callId: string, data: Record<string, unknown>) =>
    parseNotifications({
      value: [{ changeType: 'updated', resourceUrl: `/communications/calls/${callId}`, resourceData: data }],
    })[0]!;
  const KEY = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde';

  test('an operation still running is not even read', async () => {
    const { service, store, lines } = setup();
    await service.handleNotification(opNote('c1', { status: 'running', clientContext: `${KEY}.1` }), {
      tenantId: TENANT,
    });
    expect(store.reads).toBe(0);
    expect(lines).toEqual([]);
  });

  test('an operation without our clientContext is logged and not read', async () => {
    const { service, store, lines } = setup();
    await service.handleNotification(opNote('c1', { status: 'completed', clientContext: 'theirs' }), {
      tenantId: TENANT,
    });
    expect(store.reads).toBe(0);
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'operation notification without an IVR clientContext',
        props: { callId: 'c1', operationId: 'op-1' },
      },
    ]);
  });

  test('an operation, a timer and a call update for unknown calls are each logged as such', async () => {
    const { service, lines } = setup();
    await service.handleNotification(opNote('c1', { status: 'failed', clientContext: `${KEY}.1` }), {
      tenantId: TENANT,
    });
    await service.handleTimer({ clientContext: KEY, timerId: 'noInput-3' });
    await service.handleNotification(callNote('c2', { state: 'established' }), { tenantId: TENANT });
    expect(lines).toEqual([
      { level: 'warn', message: 'operation notification for an unknown call', props: { callId: 'c1' } },
      { level: 'warn', message: 'timer for an unknown call', props: { timerId: 'noInput-3' } },
      {
        level: 'warn',
        message: 'notification for an unknown call',
        props: { callId: 'c2', state: 'established' },
      },
    ]);
  });

  test('an update with neither a state nor a tone reads nothing', async () => {
    const { service, store } = setup();
    await service.handleNotification(callNote('c3', {}), { tenantId: TENANT });
    expect(store.reads).toBe(0);
  });

  test("a notification naming another call than the context's, or from another tenant, changes nothing", async () => {
    const { service, store, lines } = setup();
    const placed = await service.placeCall({ from: '+14255550101', to: '+12065550100' });
    const before = store.rows.get(placed.clientContext)!.etag;
    await service.handleNotification(callNote('someone-else', { state: 'established' }), {
      tenantId: TENANT,
      contextKey: placed.clientContext,
    });
    await service.handleNotification(callNote('graph-call-1', { state: 'established' }), {
      tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      contextKey: placed.clientContext,
    });
    expect(store.rows.get(placed.clientContext)!.etag).toBe(before);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'notification does not belong to this call',
        props: { callId: 'someone-else', contextCallId: 'graph-call-1' },
      },
      {
        level: 'warn',
        message: 'notification refused: its tenant is not the call tenant',
        props: { callId: 'graph-call-1', tokenTenant: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' },
      },
    ]);
  });
});

describe("apply's guards on an outbound call's notifications", () => {
  const note = (callId: string, data: Record<string, unknown>, changeType = 'updated') =>
    parseNotifications({
      value: [{ changeType, resourceUrl: `/communications/calls/${callId}`, resourceData: data }],
    })[0]!;
  const redialing = outboundFlow('+14255550106', { redial: { maxAttempts: 2, delaySeconds: 60 } });

  /**
   * A call of the redialing flow whose first attempt (graph-call-1) went unanswered. The
   * redial's create call answers graph-call-2, after `beforeRedialAnswer` has run.
   */
  async function waitingToRedial(beforeRedialAnswer: (key: string) => Promise<void> = async () => undefined) {
    const actions: Array<[string, string]> = [];
    let creates = 0;
    let key = '';
    const graph = {
      callAction: async (callId: string, action: string) => {
        actions.push([callId, action]);
        return { status: 202, body: null, location: null };
      },
      post: async () => {
        if (++creates === 2) await beforeRedialAnswer(key);
        return { status: 201, body: { id: `graph-call-${creates}` }, location: null };
      },
    } as unknown as GraphClient;
    const s = setup({
      graph,
      flows: () => ({
        ...catalog,
        byIdentity: new Map([...catalog.byIdentity, [redialing.flow.number, redialing]]),
        byId: new Map([...catalog.byId, [redialing.id, redialing]]),
      }),
    });
    const placed = await s.service.placeCall({ from: '+14255550106', to: '+12065550100' });
    key = placed.clientContext;
    await s.service.handleNotification(
      note('graph-call-1', { state: 'terminated', resultInfo: { code: 487, subcode: 0 } }, 'deleted'),
      { tenantId: TENANT, contextKey: key },
    );
    return { ...s, key, graphActions: actions };
  }

  test('a late notification of an attempt already over changes nothing while the next one waits', async () => {
    const s = await waitingToRedial();
    const waiting = s.store.rows.get(s.key)!;
    expect([waiting.value.phase, waiting.value.callId]).toEqual(['redialWait', null]);
    expect(waiting.value.outbound?.attempts.map((a) => [a.callId, a.endedAt !== null])).toEqual([
      ['graph-call-1', true],
    ]);
    await s.service.handleNotification(note('graph-call-1', { state: 'established' }), {
      tenantId: TENANT,
      contextKey: s.key,
    });
    expect(s.store.rows.get(s.key)).toEqual(waiting);
    expect(s.graphActions).toEqual([]);
  });

  test("the next attempt's first notification, before its create call is answered, takes its place", async () => {
    // The redial's notification overtakes its create call's answer: the context has no call id yet.
    let service: CallService | null = null;
    const s = await waitingToRedial(async (key) => {
      await service!.handleNotification(note('graph-call-2', { state: 'established' }), {
        tenantId: TENANT,
        contextKey: key,
      });
    });
    service = s.service;
    const timerId = s.store.rows.get(s.key)!.value.outbound!.redialTimerId!;
    await s.service.handleTimer({ clientContext: s.key, timerId });
    const after = s.store.rows.get(s.key)!.value;
    expect([after.callId, after.phase]).toEqual(['graph-call-2', 'established']);
    expect(s.graphActions).toEqual([
      ['graph-call-2', 'subscribeToTone'],
      ['graph-call-2', 'playPrompt'],
    ]);
  });

  test("an outbound call's first notification, before the create call's answer, links its call id", async () => {
    const actions: Array<[string, string]> = [];
    let service: CallService | null = null;
    let store: { rows: Map<string, unknown> } | null = null;
    // The notification overtakes the create call's answer: the context has no call id yet.
    const graph = {
      callAction: async (callId: string, action: string) => {
        actions.push([callId, action]);
        return { status: 202, body: null, location: null };
      },
      post: async () => {
        const key = [...store!.rows.keys()][0]!;
        await service!.handleNotification(note('graph-call-1', { state: 'established' }), {
          tenantId: TENANT,
          contextKey: key,
        });
        return { status: 201, body: { id: 'graph-call-1' }, location: null };
      },
    } as unknown as GraphClient;
    const s = setup({ graph });
    ({ service, store } = s);
    const placed = await s.service.placeCall({ from: '+14255550101', to: '+12065550100' });
    const ctx = s.store.rows.get(placed.clientContext)!.value;
    expect([ctx.callId, ctx.phase, ctx.node]).toEqual(['graph-call-1', 'established', 'hello']);
    expect(actions).toEqual([
      ['graph-call-1', 'subscribeToTone'],
      ['graph-call-1', 'playPrompt'],
    ]);
  });

  test('the same notification found through the link row (no callback key) does not link a call id', async () => {
    const s = setup();
    const placed = await s.service.placeCall({ from: '+14255550101', to: '+12065550100' });
    const row = s.store.rows.get(placed.clientContext)!;
    row.value.callId = null;
    const before = structuredClone(row);
    await s.service.handleNotification(note('graph-call-1', { state: 'established' }), { tenantId: TENANT });
    const after = s.store.rows.get(placed.clientContext)!;
    expect(after.value.callId).toBeNull();
    expect(after.etag).not.toBe(before.etag);
  });
});

describe("the outcome webhook's check timer and conflicting writes", () => {
  const ended = (callId: string) =>
    parseNotifications({
      value: [
        {
          changeType: 'deleted',
          resourceUrl: `/communications/calls/${callId}`,
          resourceData: { state: 'terminated', resultInfo: { code: 487, subcode: 0 } },
        },
      ],
    })[0]!;

  /** An unanswered call whose ending could not queue its webhook (the queue was away). */
  async function notQueued() {
    const s = setup();
    s.failHooks(new Error('queue unavailable'));
    const placed = await s.service.placeCall({
      from: '+14255550101',
      to: '+12065550100',
      callbackUrl: 'https://hooks.example.com/ivr',
    });
    await s.service.handleNotification(ended('graph-call-1'), {
      tenantId: TENANT,
      contextKey: placed.clientContext,
    });
    s.failHooks(null);
    return { ...s, key: placed.clientContext };
  }

  test('the check timer queues a webhook its ending could not, then marks it queued', async () => {
    const s = await notQueued();
    const hook = s.store.rows.get(s.key)!.value.outbound!.webhook!;
    expect(hook.checkTimerId).toMatch(/\S/);
    expect(s.sentHooks).toEqual([]);
    const reads = s.store.reads;
    await s.service.handleTimer({ clientContext: s.key, timerId: hook.checkTimerId! });
    // One read: the mark is written on the version the timer read.
    expect(s.store.reads - reads).toBe(1);
    expect(s.sentHooks.map((h) => [h.id, h.url])).toEqual([
      [`outbound.${s.key}.completed`, 'https://hooks.example.com/ivr'],
    ]);
    expect(s.store.rows.get(s.key)!.value.outbound!.webhook).toEqual({ ...hook, queued: true });
  });

  test('the check timer of a webhook already queued queues nothing more', async () => {
    const s = await notQueued();
    const hook = s.store.rows.get(s.key)!.value.outbound!.webhook!;
    await s.service.handleTimer({ clientContext: s.key, timerId: hook.checkTimerId! });
    const queued = s.store.rows.get(s.key)!;
    await s.service.handleTimer({ clientContext: s.key, timerId: hook.checkTimerId! });
    expect(s.sentHooks).toHaveLength(1);
    expect(s.store.rows.get(s.key)).toEqual(queued);
  });

  test('another timer of the ended call queues nothing', async () => {
    const s = await notQueued();
    const before = s.store.rows.get(s.key)!;
    await s.service.handleTimer({ clientContext: s.key, timerId: 'noInput-1' });
    expect(s.sentHooks).toEqual([]);
    expect(s.store.rows.get(s.key)).toEqual(before);
  });

  test('a delivery outcome that loses a write race is applied again on the fresh state; both changes kept', async () => {
    const s = await notQueued();
    const hook = s.store.rows.get(s.key)!.value.outbound!.webhook!;
    const replace = s.store.replace.bind(s.store);
    let raced = false;
    s.store.replace = async (ctx, etag) => {
      if (!raced) {
        raced = true;
        // Another instance stores a change first: this write's ETag is stale.
        const row = s.store.rows.get(ctx.clientContext)!;
        await replace({ ...row.value, digits: ['9'] }, row.etag);
      }
      return replace(ctx, etag);
    };
    await s.service.recordWebhookOutcome(s.key, {
      deliveryId: hook.deliveryId,
      status: 'delivered',
      attempts: 1,
      at: NOW.toISOString(),
      httpStatus: 204,
    });
    const stored = s.store.rows.get(s.key)!.value;
    expect(stored.digits).toEqual(['9']);
    expect(stored.outbound!.webhook).toEqual({
      deliveryId: hook.deliveryId,
      event: hook.event,
      status: 'delivered',
      attempts: 1,
      at: NOW.toISOString(),
      httpStatus: 204,
    });
  });

  test('a webhook status that keeps losing write races gives up with an error; other errors go up as they are', async () => {
    const s = await notQueued();
    const hook = s.store.rows.get(s.key)!.value.outbound!.webhook!;
    const outcome = {
      deliveryId: hook.deliveryId,
      status: 'failed' as const,
      attempts: 3,
      at: NOW.toISOString(),
    };
    let tries = 0;
    s.store.replace = async () => {
      tries++;
      throw new ConflictError();
    };
    await expect(s.service.recordWebhookOutcome(s.key, outcome)).rejects.toThrow(
      `outbound call ${s.key} kept changing; its webhook status was not stored`,
    );
    expect(tries).toBe(8);
    s.store.replace = async () => {
      throw new Error('storage unavailable');
    };
    await expect(s.service.recordWebhookOutcome(s.key, outcome)).rejects.toThrow('storage unavailable');
  });
});

describe('what Graph answers at once goes back into the engine', () => {
  const incoming = (callId: string) => incomingCall(callId, FROM);
  const established = (callId: string) =>
    parseNotifications({
      value: [
        {
          changeType: 'updated',
          resourceUrl: `/communications/calls/${callId}`,
          resourceData: { state: 'established' },
        },
      ],
    })[0]!;

  /** flows.main answered; its prompt gets `playAnswer`, its hang-up `deleteAnswer`. */
  async function answeredCall(callId: string, playAnswer: unknown, deleteFailure: Error | null = null) {
    const requests: Array<[string, string]> = [];
    const graph = {
      callAction: async (id: string, action: string) => {
        requests.push([id, action]);
        if (playAnswer instanceof Error && action === 'playPrompt') throw playAnswer;
        return { status: 200, body: action === 'playPrompt' ? playAnswer : null, location: null };
      },
      deleteCall: async (id: string) => {
        requests.push([id, 'delete']);
        if (deleteFailure) throw deleteFailure;
        return { status: 204, body: null, location: null };
      },
    } as unknown as GraphClient;
    const s = setup({ graph });
    await s.service.handleNotification(incoming(callId), { tenantId: TENANT });
    await s.service.handleNotification(established(callId), { tenantId: TENANT });
    const row = [...s.store.rows.values()][0]!;
    return { ...s, requests, ctx: row.value };
  }

  test('a prompt answered completed at once moves the flow on without a notification', async () => {
    const s = await answeredCall('p1', { status: 'completed' });
    expect(s.requests).toEqual([
      ['p1', 'answer'],
      ['p1', 'subscribeToTone'],
      ['p1', 'playPrompt'],
      ['p1', 'delete'],
    ]);
    expect([s.ctx.node, s.ctx.phase, s.ctx.visited]).toEqual(['bye', 'hangingUp', ['hello', 'bye']]);
  });

  test('a prompt answered failed at once is fed to the engine as failed', async () => {
    const s = await answeredCall('p2', {
      status: 'failed',
      resultInfo: { code: 400, subcode: 8508, message: 'bad prompt' },
    });
    expect(s.requests.map((r) => r[1])).toEqual(['answer', 'subscribeToTone', 'playPrompt', 'delete']);
    expect(s.ctx.visited).toEqual(['hello', 'bye']);
  });

  test('a prompt still running waits for its notification', async () => {
    const s = await answeredCall('p3', { status: 'running' });
    expect(s.requests.map((r) => r[1])).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
    expect([s.ctx.node, s.ctx.phase]).toEqual(['hello', 'established']);
  });

  test('a hang-up answered 404 ends the call as already gone', async () => {
    const gone = new GraphError(404, 'NotFound', 'gone', 'DELETE', '/communications/calls/p4');
    const s = await answeredCall('p4', { status: 'completed' }, gone);
    expect([s.ctx.phase, s.ctx.result]).toEqual(['ended', { code: 404, message: 'call already gone' }]);
    expect(s.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  test('a hang-up refused otherwise is logged as a failed command and kept as a failure', async () => {
    const refused = new GraphError(
      500,
      'InternalServerError',
      'try later',
      'DELETE',
      '/communications/calls/p5',
    );
    const s = await answeredCall('p5', { status: 'completed' }, refused);
    expect(s.ctx.phase).not.toBe('ended');
    expect(s.lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'command failed',
        props: {
          callId: 'p5',
          command: 'hangUp',
          status: 500,
          code: 'InternalServerError',
          error: 'try later',
        },
      },
    ]);
    expect(s.ctx.failures).toEqual([
      expect.objectContaining({
        what: 'hangUp',
        status: 500,
        code: 'InternalServerError',
        message: 'try later',
      }),
    ]);
  });

  test('a request failing without a Graph answer is logged with its message and no status', async () => {
    const s = await answeredCall('p6', new Error('socket hang up'));
    expect(s.lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'command failed',
        props: {
          callId: 'p6',
          command: 'playPrompt',
          status: undefined,
          code: undefined,
          error: 'socket hang up',
        },
      },
    ]);
    expect(s.ctx.failures).toEqual([
      expect.objectContaining({ what: 'playPrompt', message: 'socket hang up' }),
    ]);
  });

  test('a create call answered with an empty id is a failure, and nothing is linked', async () => {
    const { service, store } = setup({}, { createAnswer: { id: '' } });
    const placed = await service.placeCall({ from: '+14255550101', to: '+12065550100' });
    expect(placed).toEqual({
      clientContext: placed.clientContext,
      callId: null,
      failure: 'create call answered without a call id',
    });
    expect(store.links.size).toBe(0);
  });
});

describe('what the shell still owes a call that is over', () => {
  const note = (callId: string, data: Record<string, unknown>, changeType = 'updated') =>
    parseNotifications({
      value: [{ changeType, resourceUrl: `/communications/calls/${callId}`, resourceData: data }],
    })[0]!;
  const recorder = onFirstUse(
    () =>
      validateFlow(
        {
          number: '+14255550107',
          applicationInstanceId: APP_INSTANCE,
          prompts: { beep: 'https://media.example.com/beep.wav' },
          default: { type: 'answer', start: 'rec' },
          outbound: { start: 'rec' },
          nodes: {
            rec: {
              type: 'record',
              prompt: 'beep',
              next: { stopTone: 'bye', maxDuration: 'bye', silence: 'bye', failure: 'bye' },
            },
            bye: { type: 'hangup' },
          },
        },
        '+14255550107.json',
      ).flow!,
  );
  const withRecorder: FlowCatalog = onFirstUse(() => ({
    ...catalog,
    byIdentity: new Map([...catalog.byIdentity, [recorder.flow.number, recorder]]),
    byId: new Map([...catalog.byId, [recorder.id, recorder]]),
  }));

  test("an outbound call's recording completed after the hang-up is still archived", async () => {
    const jobs: RecordingJob[] = [];
    const bodies: Array<{ action: string; body: unknown }> = [];
    const graph = {
      callAction: async (_callId: string, action: string, body: unknown) => {
        bodies.push({ action, body });
        return { status: 200, body: null, location: null };
      },
      post: async () => ({ status: 201, body: { id: 'graph-call-1' }, location: null }),
    } as unknown as GraphClient;
    const s = setup({
      graph,
      flows: () => withRecorder,
      recordingJobs: { enqueue: async (job) => void jobs.push(job) },
    });
    const placed = await s.service.placeCall({ from: '+14255550107', to: '+12065550100' });
    const source = { tenantId: TENANT, contextKey: placed.clientContext };
    await s.service.handleNotification(note('graph-call-1', { state: 'established' }), source);
    const op = (bodies.find((b) => b.action === 'recordResponse')!.body as { clientContext: string })
      .clientContext;
    await s.service.handleNotification(note('graph-call-1', { state: 'terminated' }, 'deleted'), source);
    expect(s.store.rows.get(placed.clientContext)!.value.phase).toBe('ended');
    const completed = parseNotifications({
      value: [
        {
          changeType: 'deleted',
          resourceUrl: '/communications/calls/graph-call-1/operations/op-9',
          resourceData: {
            '@odata.type': '#microsoft.graph.recordOperation',
            clientContext: op,
            status: 'completed',
            resultInfo: { code: 200, subcode: 8514 },
            recordingLocation: 'https://media.platform.example/rec/9',
            recordingAccessToken: 'recording-token',
          },
        },
      ],
    })[0]!;
    await s.service.handleNotification(completed, { tenantId: TENANT });
    expect(jobs.map((j) => [j.callId, j.node, j.recording?.location])).toEqual([
      ['graph-call-1', 'rec', 'https://media.platform.example/rec/9'],
    ]);
  });

  test('a slot that cannot be given back is logged; the call is ended all the same', async () => {
    const s = setup({
      limits: {
        acquire: async () => ({ ok: true }),
        release: async () => {
          throw new Error('limits table unavailable');
        },
      },
    });
    const placed = await s.service.placeCall({ from: '+14255550101', to: '+12065550100' });
    await s.service.handleNotification(note('graph-call-1', { state: 'terminated' }, 'deleted'), {
      tenantId: TENANT,
      contextKey: placed.clientContext,
    });
    expect(s.store.rows.get(placed.clientContext)!.value.phase).toBe('ended');
    expect(s.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'outbound slot not released',
        props: { callId: 'graph-call-1', error: 'limits table unavailable' },
      },
    ]);
  });

  test('the sweep fires a redial long overdue (its timer lost) and leaves one still due', async () => {
    const redialing = outboundFlow('+14255550106', { redial: { maxAttempts: 2, delaySeconds: 60 } });
    let ids = 0;
    const s = setup({
      flows: () => ({
        ...catalog,
        byIdentity: new Map([...catalog.byIdentity, [redialing.flow.number, redialing]]),
        byId: new Map([...catalog.byId, [redialing.id, redialing]]),
      }),
      graph: {
        callAction: async () => ({ status: 202, body: null, location: null }),
        post: async () => ({ status: 201, body: { id: `graph-call-${++ids}` }, location: null }),
      } as unknown as GraphClient,
    });
    const placed = await s.service.placeCall({ from: '+14255550106', to: '+12065550100' });
    await s.service.handleNotification(
      note('graph-call-1', { state: 'terminated', resultInfo: { code: 487, subcode: 0 } }, 'deleted'),
      { tenantId: TENANT, contextKey: placed.clientContext },
    );
    const row = s.store.rows.get(placed.clientContext)!;
    expect(row.value.phase).toBe('redialWait');
    // Due 30 minutes ago, with a 30-minute idle limit: exactly at the cutoff, so fired.
    row.value.outbound!.redialAt = new Date(NOW.getTime() - 30 * 60_000).toISOString();
    row.updatedAt = new Date(NOW.getTime() - 60 * 60_000).toISOString();
    const due = structuredClone(row);
    due.value.outbound!.redialAt = new Date(NOW.getTime() - 29 * 60_000).toISOString();
    s.store.rows.set(placed.clientContext, due);
    expect(await s.service.sweepStale(30)).toEqual({ closed: 0 });
    expect(s.store.rows.get(placed.clientContext)!.value.phase).toBe('redialWait');
    s.store.rows.set(placed.clientContext, row);
    expect(await s.service.sweepStale(30)).toEqual({ closed: 0 });
    const after = s.store.rows.get(placed.clientContext)!.value;
    expect([after.phase, after.callId, ids]).toEqual(['dialing', 'graph-call-2', 2]);
  });

  test("the create call's id is stored even when another write lands first", async () => {
    const s = setup();
    const replace = s.store.replace.bind(s.store);
    let raced = false;
    s.store.replace = async (ctx, etag) => {
      if (!raced) {
        raced = true;
        const row = s.store.rows.get(ctx.clientContext)!;
        await replace({ ...row.value, digits: ['7'] }, row.etag);
      }
      return replace(ctx, etag);
    };
    const placed = await s.service.placeCall({ from: '+14255550101', to: '+12065550100' });
    const ctx = s.store.rows.get(placed.clientContext)!.value;
    expect([placed.callId, ctx.callId, ctx.digits]).toEqual(['graph-call-1', 'graph-call-1', ['7']]);
  });
});

describe('notifications and flows on the slow path', () => {
  test('a notification about something other than a call is logged, not read', async () => {
    const { service, store, lines } = setup();
    const long = `/communications/onlineMeetings/${'m'.repeat(300)}`;
    const [other] = parseNotifications({
      value: [{ changeType: 'updated', resourceUrl: long, resourceData: {} }],
    });
    await service.handleNotification(other!, { tenantId: TENANT });
    expect(store.reads).toBe(0);
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'notification not handled by the IVR',
        props: { resourceUrl: long.slice(0, 200), changeType: 'updated' },
      },
    ]);
  });

  test('flows not yet loaded (a promise) decide and run a call like cached ones', async () => {
    const { service, store, actions } = setup({ flows: () => Promise.resolve(catalog) });
    const call = (data: Record<string, unknown>, changeType = 'updated') =>
      parseNotifications({
        value: [{ changeType, resourceUrl: '/communications/calls/slow-1', resourceData: data }],
      })[0]!;
    await service.handleNotification(
      call(
        {
          state: 'incoming',
          callRoutes: [{ original: { phone: { id: FROM } }, final: { phone: { id: FROM } } }],
          source: { identity: { phone: { id: '+12065550123' } } },
        },
        'created',
      ),
      { tenantId: TENANT },
    );
    await service.handleNotification(call({ state: 'established' }), { tenantId: TENANT });
    const ctx = [...store.rows.values()][0]!.value;
    expect([ctx.flowId, ctx.phase, ctx.node]).toEqual([flows.main.id, 'established', 'hello']);
    expect(actions.map((a) => a.action)).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
  });
});
