import {
  actionsOf,
  callEnded,
  CALLER,
  callRecord,
  countByAction,
  DESK_PHONE,
  expectCleanRequests,
  expectNoRepeatedChanges,
  expectOnlyInjectedFailures,
  expectVoicemailStored,
  explain,
  FRONT_DESK,
  hoursThenDeskScript,
  notificationsFor,
  openContexts,
  promptsPlayed,
  requestsFor,
  startDemoStack,
  voicemailScript,
  withTimeout,
  type E2eStack,
} from './support';

/**
 * Two bot processes share one Azurite; the platform's notifications are spread across both
 * (round robin), so consecutive events of one call land on different instances.
 */

const OUTBOUND_CALLEE = '+12065550123';
const MENU_PROMPTS = ['greeting.wav', 'main-menu.wav', 'opening-hours.wav', 'main-menu.wav'];

let stack: E2eStack;

beforeAll(async () => {
  stack = await startDemoStack({
    instances: 2,
    sim: {
      seed: 2024,
      targets: {
        [DESK_PHONE]: { answerAfter: 1 },
        [OUTBOUND_CALLEE]: {
          answerAfter: 1,
          actions: [{ waitFor: 'promptEnd' }, { after: 0.5, press: '1' }],
        },
      },
    },
    // Throttled at p = 0.3, four attempts would fail ~1 request in 120; ten, ~1 in 170,000.
    botEnv: { GRAPH_RETRY_MAX_ATTEMPTS: '10' },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

test('six concurrent calls spread over two instances all complete, each request sent once, each message stored once', async () => {
  const before = [...stack.delivered];
  const voicemails = [2, 3, 4].map((seconds, i) => ({
    seconds,
    ...stack.sim.placeCall(voicemailScript(`+1425555020${i}`, seconds)),
  }));
  const transfers = [0, 1, 2].map((i) => stack.sim.placeCall(hoursThenDeskScript(`+1425555021${i}`)));
  const all = [...voicemails, ...transfers];
  const ids = all.map((c) => c.callId);
  const summaries = await explain(stack, ids, () =>
    withTimeout(Promise.all(all.map((c) => c.done)), 30_000, 'six calls'),
  );

  await explain(stack, ids, async () => {
    expect(stack.delivered[0]! - before[0]!).toBeGreaterThan(0);
    expect(stack.delivered[1]! - before[1]!).toBeGreaterThan(0);
    expect(await openContexts(stack)).toEqual([]);

    for (const id of ids) {
      expectCleanRequests(requestsFor(stack.sim, id));
      expectNoRepeatedChanges(stack.sim, id);
      expect(notificationsFor(stack.sim, id).filter((n) => n.status !== 202)).toEqual([]);
    }

    for (const [i, vm] of voicemails.entries()) {
      expect(summaries[i]!.resultInfo).toMatchObject({ code: 200, subcode: 7000 });
      const counts = countByAction(requestsFor(stack.sim, vm.callId), true);
      expect(counts).toMatchObject({
        answer: 1,
        subscribeToTone: 1,
        recordResponse: 1,
        DELETE: 1,
        playPrompt: 3,
      });
      expect(await callRecord(stack, vm.callId)).toMatchObject({
        nodesVisited: ['welcome', 'mainMenu', 'leaveMessage', 'messageSaved'],
        digits: ['2', '#'],
        failures: [],
      });
      await expectVoicemailStored(stack, vm.callId, vm.seconds);
    }

    for (const [i, t] of transfers.entries()) {
      expect(summaries[voicemails.length + i]).toMatchObject({
        resultInfo: { code: 0, subcode: 7015 },
        answeredBy: DESK_PHONE,
      });
      const counts = countByAction(requestsFor(stack.sim, t.callId), true);
      expect(counts).toMatchObject({ answer: 1, subscribeToTone: 1, transfer: 1, playPrompt: 4 });
      expect(counts.recordResponse).toBeUndefined();
      expect(counts.DELETE).toBeUndefined();
      expect(promptsPlayed(stack.sim, t.callId)).toEqual(MENU_PROMPTS);
      expect(await callRecord(stack, t.callId)).toMatchObject({
        nodesVisited: ['welcome', 'mainMenu', 'openingHours', 'mainMenu', 'frontDesk'],
        digits: ['1', '3'],
        recordings: [],
        failures: [],
      });
    }
  });
});

test('every fault at once over two instances: throttling, duplicates, reordering, delays, with outbound calls', async () => {
  stack.sim.setFaults({
    throttle: { probability: 0.3, retryAfterSeconds: 0 },
    duplicateNotifications: 0.5,
    reorderNotifications: 0.5,
    notificationDelayMs: { min: 0, max: 30 },
  });
  try {
    const voicemails = [2, 5].map((seconds, i) => ({
      seconds,
      ...stack.sim.placeCall(voicemailScript(`+1425555030${i}`, seconds)),
    }));
    const transfers = [0, 1].map((i) => stack.sim.placeCall(hoursThenDeskScript(`+1425555031${i}`)));
    const outbound = await Promise.all(
      [0, 1].map(async () => {
        const res = await fetch(`${stack.bots[0]!.url}/api/outbound-calls`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from: FRONT_DESK, to: OUTBOUND_CALLEE }),
        });
        expect(res.status).toBe(202);
        return ((await res.json()) as { callId: string }).callId;
      }),
    );
    const inbound = [...voicemails, ...transfers];
    const ids = [...inbound.map((c) => c.callId), ...outbound];
    await explain(stack, ids, async () => {
      const summaries = await withTimeout(Promise.all(inbound.map((c) => c.done)), 30_000, 'calls');
      await Promise.all(outbound.map((id) => callEnded(stack.sim, id)));

      for (const id of ids) {
        expectOnlyInjectedFailures(requestsFor(stack.sim, id));
        expectNoRepeatedChanges(stack.sim, id);
        expect(notificationsFor(stack.sim, id).filter((n) => n.status !== 202)).toEqual([]);
      }
      for (const [i, vm] of voicemails.entries()) {
        expect(summaries[i]!.resultInfo).toMatchObject({ code: 200, subcode: 7000 });
        expect(countByAction(requestsFor(stack.sim, vm.callId))).toMatchObject({
          answer: 1,
          recordResponse: 1,
        });
        await expectVoicemailStored(stack, vm.callId, vm.seconds);
      }
      for (const [i, t] of transfers.entries()) {
        expect(summaries[voicemails.length + i]!.resultInfo).toMatchObject({ code: 0, subcode: 7015 });
        expect(promptsPlayed(stack.sim, t.callId)).toEqual(MENU_PROMPTS);
      }
      for (const id of outbound) {
        expect(stack.sim.call(id)!.resultInfo).toMatchObject({ code: 200, subcode: 7000 });
        expect(promptsPlayed(stack.sim, id)).toEqual(['appointment-reminder.wav', 'goodbye.wav']);
        expect(await callRecord(stack, id)).toMatchObject({
          direction: 'outgoing',
          nodesVisited: ['reminder', 'goodbye'],
          digits: ['1'],
        });
      }
    });
  } finally {
    stack.sim.setFaults({});
  }
});

test('one of two instances is killed while the caller listens to a prompt; the other carries the call on', async () => {
  const before = [...stack.delivered];
  const { callId, done } = stack.sim.placeCall(hoursThenDeskScript(CALLER));
  await explain(stack, [callId], async () => {
    // Key 1 has been handled (its notification answered): the caller now hears the opening
    // hours and the bot has nothing in flight for this call until that prompt ends.
    await stack.sim.waitFor(
      () =>
        notificationsFor(stack.sim, callId).find(
          (n) =>
            (n.body.value[0]?.resourceData as { toneInfo?: { tone?: string } }).toneInfo?.tone === 'tone1' &&
            n.status !== 0,
        ),
      10_000,
    );
    const handledByOneBeforeKill = stack.delivered[1]! - before[1]!;
    await stack.stopBot(1);
    const atKill = [...stack.delivered];
    const summary = await withTimeout(done, 20_000, 'call');

    expect(handledByOneBeforeKill).toBeGreaterThan(0); // instance 1 did take part in this call
    expect(stack.delivered[1]).toBe(atKill[1]);
    expect(stack.delivered[0]! - atKill[0]!).toBeGreaterThan(0);
    expect(notificationsFor(stack.sim, callId).filter((n) => n.status !== 202)).toEqual([]);

    expect(summary).toMatchObject({ resultInfo: { code: 0, subcode: 7015 }, answeredBy: DESK_PHONE });
    expectCleanRequests(requestsFor(stack.sim, callId));
    expectNoRepeatedChanges(stack.sim, callId);
    expect(actionsOf(stack.sim, callId)).toEqual([
      'answer',
      'subscribeToTone',
      'playPrompt',
      'playPrompt',
      'playPrompt',
      'playPrompt',
      'cancelMediaProcessing',
      'transfer',
    ]);
    expect(await callRecord(stack, callId)).toMatchObject({
      nodesVisited: ['welcome', 'mainMenu', 'openingHours', 'mainMenu', 'frontDesk'],
      digits: ['1', '3'],
      result: { code: 0, subcode: 7015 },
      failures: [],
    });
  });
});
