import { CallService, type CallServiceDeps } from '../../shared/ivr/callService';
import type { CallContext } from '../../shared/ivr/context';
import type { RecordStore } from '../../shared/storage/recordStore';
import { GraphError, type GraphClient, type GraphResponse } from '../../shared/graph/graphClient';
import { validateFlow, type FlowCatalog } from '../../shared/flows/loader';
import { parseNotifications } from '../../shared/graph/notifications';
import type { RecordingJob } from '../../shared/ivr/recordingArchiver';
import type { TimerMessage } from '../../shared/storage/timerQueue';
import { MemoryCallStore } from '../support/memoryCallStore';
import { incomingCall } from '../support/notifications';
import { onFirstUse } from '../support/onFirstUse';

const TENANT = '11111111-2222-3333-4444-555555555555';
const FROM_TENANT = { tenantId: TENANT };

/**
 * The shell's concurrency rules, with in-memory adapters: a write that loses the ETag race is
 * re-read and re-decided, and only the winner's commands reach Graph.
 */

const flow = onFirstUse(
  () =>
    validateFlow(
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
    ).flow!,
);
const voicemailSource = {
  number: '+14255550101',
  prompts: { beep: 'https://media.example.com/beep.wav', bye: 'https://media.example.com/bye.wav' },
  default: { type: 'answer', start: 'vm' },
  nodes: {
    vm: {
      type: 'record',
      prompt: 'beep',
      next: { stopTone: 'bye', maxDuration: 'bye', silence: 'bye', failure: 'bye' },
    },
    bye: { type: 'hangup', prompt: 'bye' },
  },
};
const voicemail = onFirstUse(() => validateFlow(voicemailSource, 'vm.json').flow!);
const catalog: FlowCatalog = {
  byIdentity: new Map([
    ['+14255550100', flow],
    ['+14255550101', voicemail],
  ]),
  byId: new Map([
    ['shop', flow],
    ['vm', voicemail],
  ]),
  problems: [],
};

function setup(over: Partial<CallServiceDeps> = {}) {
  const store = new MemoryCallStore();
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
  const records = { listRecordings: async () => [] } as unknown as RecordStore;
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const timers: TimerMessage[] = [];
  const jobs: RecordingJob[] = [];
  const service = new CallService({
    store,
    records,
    timers: { schedule: async (m) => void timers.push(m) },
    recordingJobs: { enqueue: async (job) => void jobs.push(job) },
    graph,
    flows: () => catalog,
    callbackUri: 'https://bot.example.com/api/calls',
    unconfiguredRejectReason: 'busy',
    tenantId: TENANT,
    log: quiet,
    ...over,
  });
  return { store, sent, gone, service, timers, jobs };
}

const incoming = incomingCall;
const update = (callId: string, data: Record<string, unknown>) =>
  parseNotifications({
    value: [{ changeType: 'updated', resourceUrl: `/communications/calls/${callId}`, resourceData: data }],
  })[0]!;

test('an unconfigured number gets the configured reject reason', async () => {
  const { sent, service } = setup();
  await service.handleNotification(incoming('c1', '+14255559999'), FROM_TENANT);
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
  await service.handleNotification(incoming('c2', '+14255559999'), FROM_TENANT);
  expect(sent.map((s) => s.action)).toEqual(['answer']);
  const ctx = [...store.rows.values()][0]!.value;
  expect([ctx.flowId, ctx.number]).toEqual(['shop', '+14255559999']);
});

test('a write that loses the ETag race is decided again on the fresh state; Graph hears it once', async () => {
  const { sent, store, service } = setup();
  await service.handleNotification(incoming('c3', '+14255550100'), FROM_TENANT);
  // While this instance handles "established", another instance handles the same notification first.
  store.beforeReplace = async () => {
    await service.handleNotification(update('c3', { state: 'established' }), FROM_TENANT);
  };
  await service.handleNotification(update('c3', { state: 'established' }), FROM_TENANT);
  expect(sent.map((s) => s.action)).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
  const ctx = [...store.rows.values()][0]!.value;
  expect([ctx.phase, ctx.node]).toEqual(['established', 'hello']);
});

test('a context that keeps changing gives up with an error rather than looping forever', async () => {
  const { store, service } = setup();
  await service.handleNotification(incoming('c4', '+14255550100'), FROM_TENANT);
  const always = async (ctx: CallContext) => {
    const row = store.rows.get(ctx.clientContext)!;
    store.rows.set(ctx.clientContext, { ...row, etag: `${row.etag}x` });
    store.beforeReplace = always;
  };
  store.beforeReplace = always;
  await expect(
    service.handleNotification(update('c4', { state: 'established' }), FROM_TENANT),
  ).rejects.toThrow(/kept changing/);
});

test('a keepAlive answered 404 closes the call; other calls are kept', async () => {
  const { store, service, sent, gone } = setup();
  for (const id of ['k1', 'k2']) {
    await service.handleNotification(incoming(id, '+14255550100'), FROM_TENANT);
    await service.handleNotification(update(id, { state: 'established' }), FROM_TENANT);
  }
  gone.add('k2');
  expect(await service.keepAliveAll()).toEqual({ kept: 1, closed: 1 });
  const phases = Object.fromEntries([...store.rows.values()].map((r) => [r.value.callId, r.value.phase]));
  expect(phases).toEqual({ k1: 'established', k2: 'ended' });
  expect(sent.filter((s) => s.action === 'keepAlive').map((s) => s.callId)).toEqual(['k1']);
});

const operation = (callId: string, clientContext: string, data: Record<string, unknown>) =>
  parseNotifications({
    value: [
      {
        changeType: 'deleted',
        resourceUrl: `/communications/calls/${callId}/operations/op-${clientContext.slice(-3)}`,
        resourceData: { '@odata.type': '#microsoft.graph.recordOperation', clientContext, ...data },
      },
    ],
  })[0]!;

describe('storage round trips', () => {
  test('an incoming call costs no read and one write: the insert is the claim', async () => {
    const { store, service, sent } = setup();
    await service.handleNotification(incoming('r1', '+14255550100'), FROM_TENANT);
    expect([store.reads, store.writes]).toEqual([0, 1]);
    expect(sent.map((s) => s.action)).toEqual(['answer']);
  });

  test('a redelivered incoming notification fails the claim and sends nothing', async () => {
    const { store, service, sent } = setup();
    await service.handleNotification(incoming('r2', '+14255550100'), FROM_TENANT);
    await service.handleNotification(incoming('r2', '+14255550100'), FROM_TENANT);
    expect(sent.map((s) => s.action)).toEqual(['answer']);
    expect(store.rows.size).toBe(1);
  });

  test('established, and a tone with a state in one notification, cost one read and one write each', async () => {
    const { store, service } = setup();
    await service.handleNotification(incoming('r3', '+14255550100'), FROM_TENANT);
    store.reads = store.writes = 0;
    await service.handleNotification(update('r3', { state: 'established' }), FROM_TENANT);
    expect([store.reads, store.writes]).toEqual([1, 1]);
    store.reads = store.writes = 0;
    await service.handleNotification(
      update('r3', { state: 'terminated', toneInfo: { sequenceId: 1, tone: 'tone1' } }),
      FROM_TENANT,
    );
    expect([store.reads, store.writes]).toEqual([1, 1]);
    const ctx = [...store.rows.values()][0]!.value;
    // Both events landed, in order: the key first, then the end of the call.
    expect([ctx.digits, ctx.phase]).toEqual([['1'], 'ended']);
  });

  test('notifications for 30 unknown call ids cost two point reads each and write nothing', async () => {
    const { store, service, sent } = setup();
    for (let i = 0; i < 30; i++)
      await service.handleNotification(update(`unknown-${i}`, { state: 'established' }), FROM_TENANT);
    expect([store.reads, store.writes, sent.length]).toEqual([60, 0, 0]);
  });
});

describe('the call tenant binds its notifications', () => {
  test('an incoming call takes its tenant from the token, not the body', async () => {
    const { store, service } = setup();
    const n = incoming('t1', '+14255550100');
    if (n.kind === 'call') n.call.tenantId = '99999999-0000-0000-0000-000000000000';
    await service.handleNotification(n, FROM_TENANT);
    expect([...store.rows.values()][0]!.value.tenantId).toBe(TENANT);
  });

  test('a notification signed for another tenant changes nothing and sends nothing', async () => {
    const { store, service, sent } = setup();
    await service.handleNotification(incoming('t2', '+14255550100'), FROM_TENANT);
    const before = structuredClone([...store.rows.values()][0]!);
    await service.handleNotification(update('t2', { state: 'established' }), {
      tenantId: 'aaaaaaaa-0000-0000-0000-000000000000',
    });
    expect([...store.rows.values()][0]).toEqual(before);
    expect(sent.map((s) => s.action)).toEqual(['answer']);
  });
});

describe('queue messages are sent before the context is stored', () => {
  test('a timer that cannot be queued fails the notification and changes nothing; the redelivery arms it', async () => {
    let queueUp = false;
    const armed: TimerMessage[] = [];
    const { store, service, sent } = setup({
      timers: {
        schedule: async (m) => {
          if (!queueUp) throw new Error('queue service unavailable');
          armed.push(m);
        },
      },
    });
    await service.handleNotification(incoming('q1', '+14255550100'), FROM_TENANT);
    await service.handleNotification(update('q1', { state: 'established' }), FROM_TENANT);
    const hello = sent.find((s) => s.action === 'playPrompt')!.body as { clientContext: string };
    const menu = () => sent.filter((s) => s.action === 'playPrompt')[1]!.body as { clientContext: string };
    await service.handleNotification(
      operation('q1', hello.clientContext, { status: 'completed' }),
      FROM_TENANT,
    );
    const menuDone = operation('q1', menu().clientContext, { status: 'completed' });
    const before = structuredClone([...store.rows.values()][0]!);
    await expect(service.handleNotification(menuDone, FROM_TENANT)).rejects.toThrow(
      /queue service unavailable/,
    );
    expect([...store.rows.values()][0]).toEqual(before);
    queueUp = true;
    await service.handleNotification(menuDone, FROM_TENANT);
    const ctx = [...store.rows.values()][0]!.value;
    expect(armed).toEqual([{ clientContext: ctx.clientContext, timerId: ctx.timer!.id }]);
    expect(ctx.menu?.stage).toBe('input');
  });
});

describe('a recording cut short by a hang-up is never lost', () => {
  async function recordingCall(service: CallService, sent: Array<{ action: string; body: unknown }>) {
    await service.handleNotification(incoming('v1', '+14255550101'), FROM_TENANT);
    await service.handleNotification(update('v1', { state: 'established' }), FROM_TENANT);
    return (sent.find((s) => s.action === 'recordResponse')!.body as { clientContext: string }).clientContext;
  }
  const recording = {
    recordingLocation: 'https://media.platform.example/rec/1',
    recordingAccessToken: 'recording-token',
  };

  test('terminated first, then the completion: the recording is queued for archiving', async () => {
    const { service, sent, jobs, timers } = setup();
    const op = await recordingCall(service, sent);
    await service.handleNotification(update('v1', { state: 'terminated' }), FROM_TENANT);
    expect(timers.map((t) => t.timerId)).toEqual([expect.stringMatching(/^recordingGrace-\d+$/)]);
    await service.handleNotification(
      operation('v1', op, { status: 'completed', resultInfo: { code: 200, subcode: 8514 }, ...recording }),
      FROM_TENANT,
    );
    expect(jobs).toEqual([
      expect.objectContaining({
        callId: 'v1',
        node: 'vm',
        outcome: 'stopTone',
        recording: { location: recording.recordingLocation, accessToken: 'recording-token' },
        reason: null,
        attempt: 1,
      }),
    ]);
    // The flow does not go on after the call ended.
    expect(sent.filter((s) => s.action === 'playPrompt')).toEqual([]);
    // The grace timer, when it fires, finds nothing left to do.
    const { clientContext, timerId } = timers[0]!;
    await service.handleTimer({ clientContext, timerId });
    expect(jobs).toHaveLength(1);
  });

  test('terminated and no completion ever: the grace timer records it as lost', async () => {
    const { service, sent, jobs, timers } = setup();
    await recordingCall(service, sent);
    await service.handleNotification(update('v1', { state: 'terminated' }), FROM_TENANT);
    await service.handleTimer(timers[0]!);
    expect(jobs).toEqual([
      expect.objectContaining({
        callId: 'v1',
        recording: null,
        reason: 'the call ended during the recording and no recording was delivered',
      }),
    ]);
  });

  test('the completion first, then terminated: archived once, no grace timer', async () => {
    const { service, sent, jobs, timers } = setup();
    const op = await recordingCall(service, sent);
    await service.handleNotification(
      operation('v1', op, { status: 'completed', resultInfo: { code: 200, subcode: 8515 }, ...recording }),
      FROM_TENANT,
    );
    await service.handleNotification(update('v1', { state: 'terminated' }), FROM_TENANT);
    expect(jobs.map((j) => [j.outcome, j.recording?.location])).toEqual([
      ['maxDuration', recording.recordingLocation],
    ]);
    expect(timers).toEqual([]);
  });
});

describe('races, with the interleaving set by the test', () => {
  test('a write that loses to a different event is re-decided on top of it: both take effect', async () => {
    const { sent, store, service } = setup();
    await service.handleNotification(incoming('race1', '+14255550100'), FROM_TENANT);
    await service.handleNotification(update('race1', { state: 'established' }), FROM_TENANT);
    const hello = sent.filter((s) => s.action === 'playPrompt')[0]!.body as { clientContext: string };
    await service.handleNotification(
      operation('race1', hello.clientContext, { status: 'completed' }),
      FROM_TENANT,
    );
    const menuPrompt = sent.filter((s) => s.action === 'playPrompt')[1]!.body as { clientContext: string };
    // While this instance applies the caller's key, another applies the menu prompt's completion.
    store.beforeReplace = async () => {
      await service.handleNotification(
        operation('race1', menuPrompt.clientContext, { status: 'completed' }),
        FROM_TENANT,
      );
    };
    await service.handleNotification(
      update('race1', { toneInfo: { sequenceId: 1, tone: 'tone1' } }),
      FROM_TENANT,
    );
    const ctx = [...store.rows.values()][0]!.value;
    // The key chose option 1 (bye: hang up), after the prompt had completed: neither was lost.
    expect([ctx.digits, ctx.node, ctx.phase]).toEqual([['1'], 'bye', 'hangingUp']);
    expect(ctx.visited).toEqual(['hello', 'menu', 'bye']);
    expect(sent.map((s) => s.action)).toEqual([
      'answer',
      'subscribeToTone',
      'playPrompt',
      'playPrompt',
      'delete',
    ]);
  });

  test('two copies of an incoming notification: the copy whose insert comes second sends nothing', async () => {
    const { sent, store, service } = setup();
    const n = incoming('race2', '+14255550100');
    // The first copy decides, then pauses before its insert while the second copy runs to the end.
    store.beforeCreate = async () => {
      await service.handleNotification(n, FROM_TENANT);
    };
    await service.handleNotification(n, FROM_TENANT);
    expect(sent.map((s) => s.action)).toEqual(['answer']);
    expect(store.rows.size).toBe(1);
  });
});

test('a deleted call notification without a state ends the call', async () => {
  const { store, service } = setup();
  await service.handleNotification(incoming('del1', '+14255550100'), FROM_TENANT);
  await service.handleNotification(update('del1', { state: 'established' }), FROM_TENANT);
  const deleted = parseNotifications({
    value: [{ changeType: 'deleted', resourceUrl: '/communications/calls/del1', resourceData: {} }],
  })[0]!;
  await service.handleNotification(deleted, FROM_TENANT);
  const ctx = [...store.rows.values()][0]!.value;
  expect([ctx.phase, ctx.result]).toEqual(['ended', null]);
});

describe("a recording's archive job carries the flow's policy", () => {
  const AT = new Date('2026-11-22T10:00:00.000Z');
  const recording = {
    recordingLocation: 'https://media.platform.example/rec/2',
    recordingAccessToken: 'recording-token',
  };
  async function recorded(over: Partial<CallServiceDeps>) {
    const s = setup({ now: () => AT, ...over });
    await s.service.handleNotification(incoming('v2', '+14255550101'), FROM_TENANT);
    await s.service.handleNotification(update('v2', { state: 'established' }), FROM_TENANT);
    const op = (s.sent.find((x) => x.action === 'recordResponse')!.body as { clientContext: string })
      .clientContext;
    await s.service.handleNotification(
      operation('v2', op, {
        status: 'completed',
        completionReason: 'stopToneDetected',
        resultInfo: { code: 200, subcode: 8514 },
        ...recording,
      }),
      FROM_TENANT,
    );
    return { ...s, seq: Number(op.slice(op.lastIndexOf('.') + 1)) };
  }
  const job = (seq: number) => ({
    callId: 'v2',
    seq,
    number: '+14255550101',
    caller: '+12065550123',
    node: 'vm',
    recordedAt: AT.toISOString(),
    outcome: 'stopTone',
    completionReason: 'stopToneDetected',
    recording: { location: recording.recordingLocation, accessToken: 'recording-token' },
    reason: null,
    attempt: 1,
  });

  test('a flow without a recordings section: kept 30 days, with the flow id and no version', async () => {
    const { jobs, seq } = await recorded({});
    // Strict: a job without a version has no flowVersion key at all.
    expect(jobs).toStrictEqual([{ ...job(seq), persist: true, retentionDays: 30, flowId: 'vm' }]);
  });

  test("a stored flow version's own policy: not kept, 7 days, and the version the call started with", async () => {
    const policy = validateFlow(
      { ...voicemailSource, recordings: { persist: false, retentionDays: 7 } },
      'vm.json',
    ).flow!;
    const v3 = { ...policy, version: 3 };
    const asked: Array<[string, number | undefined]> = [];
    const { jobs, seq } = await recorded({
      flows: () => ({ ...catalog, byIdentity: new Map([['+14255550101', v3]]), byId: new Map([['vm', v3]]) }),
      flowVersion: (id, version) => {
        asked.push([id, version]);
        return v3;
      },
    });
    expect(jobs).toEqual([{ ...job(seq), persist: false, retentionDays: 7, flowId: 'vm', flowVersion: 3 }]);
    expect(asked.every(([id, version]) => id === 'vm' && version === 3)).toBe(true);
  });

  test('a flow changed during the call: the job keeps the policy of the version the call started with', async () => {
    const v3 = {
      ...validateFlow({ ...voicemailSource, recordings: { persist: false, retentionDays: 7 } }, 'vm.json')
        .flow!,
      version: 3,
    };
    const v4 = { ...voicemail, version: 4 };
    let current = v3;
    const s = setup({
      now: () => AT,
      flows: () => ({
        ...catalog,
        byIdentity: new Map([['+14255550101', current]]),
        byId: new Map([['vm', current]]),
      }),
      flowVersion: (id, version) => (id === 'vm' && version === 3 ? v3 : null),
    });
    await s.service.handleNotification(incoming('v2', '+14255550101'), FROM_TENANT);
    current = v4;
    await s.service.handleNotification(update('v2', { state: 'established' }), FROM_TENANT);
    const op = (s.sent.find((x) => x.action === 'recordResponse')!.body as { clientContext: string })
      .clientContext;
    await s.service.handleNotification(
      operation('v2', op, {
        status: 'completed',
        completionReason: 'stopToneDetected',
        resultInfo: { code: 200, subcode: 8514 },
        ...recording,
      }),
      FROM_TENANT,
    );
    expect(s.jobs.map((j) => [j.persist, j.retentionDays, j.flowVersion])).toEqual([[false, 7, 3]]);
  });

  test('a flow no longer found when the recording comes in: kept, 30 days', async () => {
    let gone = false;
    const s = setup({ now: () => AT, flowVersion: () => (gone ? null : voicemail) });
    await s.service.handleNotification(incoming('v2', '+14255550101'), FROM_TENANT);
    await s.service.handleNotification(update('v2', { state: 'established' }), FROM_TENANT);
    const op = (s.sent.find((x) => x.action === 'recordResponse')!.body as { clientContext: string })
      .clientContext;
    await s.service.handleNotification(update('v2', { state: 'terminated' }), FROM_TENANT);
    gone = true;
    await s.service.handleNotification(
      operation('v2', op, { status: 'completed', resultInfo: { code: 200, subcode: 8514 }, ...recording }),
      FROM_TENANT,
    );
    expect(s.jobs.map((j) => [j.callId, j.persist, j.retentionDays])).toEqual([['v2', true, 30]]);
  });
});

describe('a write whose outcome storage never told', () => {
  /** Logs kept, waits recorded and skipped. */
  function uncertain(warnFails = false) {
    const lines: Array<[string, string, unknown]> = [];
    const waits: number[] = [];
    const s = setup({
      log: {
        info: () => undefined,
        warn: (m, p) => {
          if (warnFails) throw new Error('log sink down');
          lines.push(['warn', m, p]);
        },
        error: (m, p) => void lines.push(['error', m, p]),
      },
      sleep: async (ms) => void waits.push(ms),
    });
    return { ...s, lines, waits };
  }
  /** Lets the background checks run to their end. */
  const settled = async () => {
    for (let i = 0; i < 100; i++) await new Promise((r) => setImmediate(r));
  };

  test('an insert that timed out but landed: the checker finds it and sends the held-back answer', async () => {
    const s = uncertain();
    const create = s.store.create.bind(s.store);
    s.store.create = async (ctx) => {
      await create(ctx);
      throw new Error('request timed out');
    };
    await expect(s.service.handleNotification(incoming('u1', '+14255550100'), FROM_TENANT)).rejects.toThrow(
      'request timed out',
    );
    await settled();
    expect(s.waits).toEqual([500]);
    expect(s.sent.map((x) => [x.callId, x.action])).toEqual([['u1', 'answer']]);
    expect(s.lines).toEqual([
      [
        'warn',
        'a write reported as failed had landed; running its commands',
        { callId: 'u1', commands: ['answer'] },
      ],
    ]);
  });

  test('a replace that landed after storage was away once: looked at again, then its commands run', async () => {
    const s = uncertain();
    await s.service.handleNotification(incoming('u2', '+14255550100'), FROM_TENANT);
    const replace = s.store.replace.bind(s.store);
    s.store.replace = async (ctx, etag) => {
      await replace(ctx, etag);
      throw new Error('connection reset');
    };
    const get = s.store.get.bind(s.store);
    let reads = 0;
    s.store.get = async (key) => {
      // The notification's own read, then storage away for the checker's first look.
      if (++reads === 2) throw new Error('storage unavailable');
      return get(key);
    };
    await expect(
      s.service.handleNotification(update('u2', { state: 'established' }), FROM_TENANT),
    ).rejects.toThrow('connection reset');
    await settled();
    expect(s.waits).toEqual([500, 1000]);
    expect(s.sent.map((x) => x.action)).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
  });

  test('a write that did not land: looked at once, its commands never run', async () => {
    const s = uncertain();
    s.store.create = async () => {
      throw new Error('request timed out');
    };
    await expect(s.service.handleNotification(incoming('u3', '+14255550100'), FROM_TENANT)).rejects.toThrow(
      'request timed out',
    );
    await settled();
    expect([s.waits, s.sent, s.lines]).toEqual([[500], [], []]);
  });

  test('storage away at every look: given up after the last, with an error and nothing sent', async () => {
    const s = uncertain();
    s.store.create = async () => {
      throw new Error('request timed out');
    };
    s.store.get = async () => {
      throw new Error('storage unavailable');
    };
    await expect(s.service.handleNotification(incoming('u4', '+14255550100'), FROM_TENANT)).rejects.toThrow(
      'request timed out',
    );
    await settled();
    expect(s.waits).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 30_000]);
    expect(s.sent).toEqual([]);
    expect(s.lines).toEqual([
      ['error', 'could not tell whether a write landed; its commands were not run', { commands: 1 }],
    ]);
  });

  test("storage's own answer (a status code) is certain: nothing is looked at again", async () => {
    const s = uncertain();
    s.store.create = async () => {
      throw Object.assign(new Error('server busy'), { statusCode: 503 });
    };
    await expect(s.service.handleNotification(incoming('u5', '+14255550100'), FROM_TENANT)).rejects.toThrow(
      'server busy',
    );
    await settled();
    expect([s.waits, s.sent, s.lines]).toEqual([[], [], []]);
  });

  test('a failed write that held back no command is not looked at again', async () => {
    const s = uncertain();
    await s.service.handleNotification(incoming('u6', '+14255550100'), FROM_TENANT);
    await s.service.handleNotification(update('u6', { state: 'established' }), FROM_TENANT);
    s.store.replace = async () => {
      throw new Error('connection reset');
    };
    // A tone before the menu listens: stored, but it sends nothing.
    await expect(
      s.service.handleNotification(update('u6', { toneInfo: { sequenceId: 1, tone: 'tone5' } }), FROM_TENANT),
    ).rejects.toThrow('connection reset');
    await settled();
    expect(s.waits).toEqual([]);
  });

  test('a check that itself fails is logged', async () => {
    const s = uncertain(true);
    const create = s.store.create.bind(s.store);
    s.store.create = async (ctx) => {
      await create(ctx);
      throw new Error('request timed out');
    };
    await expect(s.service.handleNotification(incoming('u7', '+14255550100'), FROM_TENANT)).rejects.toThrow(
      'request timed out',
    );
    await settled();
    expect(s.lines).toEqual([['error', 'settling an uncertain write failed', { error: 'log sink down' }]]);
  });
});

test('each incoming decision is one compact log line; a redelivered copy says so, and nothing else', async () => {
  const lines: Array<{ level: string; message: string; props: unknown }> = [];
  const capture = (level: string) => (message: string, props?: unknown) =>
    void lines.push({ level, message, props });
  const { service } = setup({
    log: { info: capture('info'), warn: capture('warn'), error: capture('error') },
  });
  await service.handleNotification(incoming('c1', '+14255550100'), FROM_TENANT);
  await service.handleNotification(incoming('c1', '+14255550100'), FROM_TENANT);
  await service.handleNotification(incoming('c2', '+14255559999'), FROM_TENANT);
  expect(lines).toEqual([
    {
      level: 'info',
      message: 'incoming call decided',
      props: { callId: 'c1', number: '+14255550100', decision: 'answer', rule: 'default' },
    },
    {
      level: 'info',
      message: 'incoming call already handled (redelivered notification)',
      props: { callId: 'c1' },
    },
    {
      level: 'info',
      message: 'incoming call decided',
      props: { callId: 'c2', number: '+14255559999', decision: 'reject', rule: 'unconfigured number' },
    },
  ]);
});

describe('what the shell takes from a notification', () => {
  const created = (callId: string, data: Record<string, unknown>) =>
    parseNotifications({
      value: [{ changeType: 'created', resourceUrl: `/communications/calls/${callId}`, resourceData: data }],
    })[0]!;

  test('only a created notification in state incoming is a new call: an updated "incoming" or a created "establishing" is not', async () => {
    const { sent, store, service } = setup();
    await service.handleNotification(update('n1', { state: 'incoming' }), FROM_TENANT);
    await service.handleNotification(created('n2', { state: 'establishing' }), FROM_TENANT);
    expect(sent).toEqual([]);
    expect(store.rows.size).toBe(0);
  });

  test("a failed operation is the engine's failure, with Graph's result, and the flow goes on", async () => {
    const { sent, store, service } = setup();
    await service.handleNotification(incoming('f1', '+14255550100'), FROM_TENANT);
    await service.handleNotification(update('f1', { state: 'established' }), FROM_TENANT);
    const hello = sent.find((s) => s.action === 'playPrompt')!.body as { clientContext: string };
    await service.handleNotification(
      operation('f1', hello.clientContext, {
        status: 'failed',
        resultInfo: { code: 404, subcode: 8518, message: 'media not found' },
      }),
      FROM_TENANT,
    );
    const ctx = [...store.rows.values()][0]!.value;
    expect(ctx.failures).toEqual([
      { at: expect.any(String), what: 'play', status: 404, code: '8518', message: 'media not found' },
    ]);
    // A failed prompt still moves the flow on, to the menu.
    expect(ctx.node).toBe('menu');
  });

  test('a recording reaches the archive only with both its location and its access token', async () => {
    for (const [extra, expected] of [
      [{ recordingLocation: 'https://media.platform.example/rec/9' }, null],
      [{ recordingAccessToken: 'token-9' }, null],
      [
        { recordingLocation: 'https://media.platform.example/rec/9', recordingAccessToken: 'token-9' },
        { location: 'https://media.platform.example/rec/9', accessToken: 'token-9' },
      ],
    ] as const) {
      const { sent, jobs, service } = setup();
      await service.handleNotification(incoming('r1', '+14255550101'), FROM_TENANT);
      await service.handleNotification(update('r1', { state: 'established' }), FROM_TENANT);
      const op = (sent.find((s) => s.action === 'recordResponse')!.body as { clientContext: string })
        .clientContext;
      await service.handleNotification(
        operation('r1', op, { status: 'completed', resultInfo: { code: 200, subcode: 8514 }, ...extra }),
        FROM_TENANT,
      );
      expect(jobs.map((j) => j.recording)).toEqual(expected ? [expected] : []);
    }
  });
});
