import {
  actionsOf,
  AFTER_HOURS,
  BLOCKED,
  call,
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
  ON_CALL,
  promptsPlayed,
  requestsFor,
  startDemoStack,
  voicemailScript,
  withTimeout,
  type E2eStack,
} from './support';

/**
 * The platform misbehaving as it does in production: throttling storms (429 with
 * Retry-After), duplicated and reordered notifications. Calls still run their flow, and no
 * request that changes a call is ever sent twice.
 */

let stack: E2eStack;

beforeAll(async () => {
  stack = await startDemoStack({
    sim: { seed: 4242, targets: { [DESK_PHONE]: { answerAfter: 1 }, [ON_CALL[1]]: { answerAfter: 1 } } },
    // A storm at p = 0.5 throttles ~1 request in 16 four times in a row; allow more attempts
    // (Retry-After 0 keeps them well inside GRAPH_RETRY_BUDGET_MS and the answer deadline).
    botEnv: { GRAPH_RETRY_MAX_ATTEMPTS: '10' },
  });
}, 60_000);

afterEach(() => stack?.sim.setFaults({}));

afterAll(async () => {
  await stack?.stop();
});

const MENU_PROMPTS = ['greeting.wav', 'main-menu.wav', 'opening-hours.wav', 'main-menu.wav'];
const VOICEMAIL_PROMPTS = ['greeting.wav', 'main-menu.wav', 'thanks-message.wav'];

describe('429 storm (half of all Graph requests throttled, Retry-After 0)', () => {
  beforeEach(() => stack.sim.setFaults({ throttle: { probability: 0.5, retryAfterSeconds: 0 } }));

  // One call at a time: the seeded fault draws then meet the same requests on every run.
  test('calls complete their flow and no request that succeeded is sent twice', async () => {
    const transfer = await call(stack, hoursThenDeskScript(CALLER));
    const voicemail = await call(stack, voicemailScript(CALLER, 4));
    const redirect = await call(stack, { from: CALLER, to: AFTER_HOURS });
    const rejected = await call(stack, { from: BLOCKED, to: FRONT_DESK });
    const ids = [transfer, voicemail, redirect, rejected].map((c) => c.callId);

    await explain(stack, ids, async () => {
      // The storm hit every call.
      for (const id of ids) {
        expectOnlyInjectedFailures(requestsFor(stack.sim, id));
        expect(requestsFor(stack.sim, id).some((r) => r.status === 429)).toBe(true);
        expectNoRepeatedChanges(stack.sim, id);
        expect(notificationsFor(stack.sim, id).every((n) => n.status === 202)).toBe(true);
      }

      expect(transfer.resultInfo).toMatchObject({ code: 0, subcode: 7015 });
      expect(actionsOf(stack.sim, transfer.callId)).toEqual([
        'answer',
        'subscribeToTone',
        'playPrompt',
        'playPrompt',
        'playPrompt',
        'playPrompt',
        'cancelMediaProcessing',
        'transfer',
      ]);
      expect(promptsPlayed(stack.sim, transfer.callId)).toEqual(MENU_PROMPTS);

      expect(voicemail.resultInfo).toMatchObject({ code: 200, subcode: 7000 });
      expect(countByAction(requestsFor(stack.sim, voicemail.callId))).toEqual({
        answer: 1,
        subscribeToTone: 1,
        playPrompt: 3,
        cancelMediaProcessing: 1,
        recordResponse: 1,
        DELETE: 1,
      });
      expect(promptsPlayed(stack.sim, voicemail.callId)).toEqual(VOICEMAIL_PROMPTS);
      await expectVoicemailStored(stack, voicemail.callId, 4);

      expect(redirect).toMatchObject({ answeredBy: ON_CALL[1], resultInfo: { code: 200 } });
      expect(countByAction(requestsFor(stack.sim, redirect.callId))).toEqual({ redirect: 1 });

      expect(rejected.resultInfo).toMatchObject({ code: 403 });
      expect(countByAction(requestsFor(stack.sim, rejected.callId))).toEqual({ reject: 1 });

      for (const id of ids) expect((await callRecord(stack, id)).failures).toEqual([]);
    });
  });
});

describe('duplicated and reordered notifications', () => {
  beforeEach(() => stack.sim.setFaults({ duplicateNotifications: true, reorderNotifications: 0.4 }));

  test('every request that changes a call is sent once; the voicemail is stored once', async () => {
    const started = [
      stack.sim.placeCall(hoursThenDeskScript(CALLER)),
      stack.sim.placeCall(voicemailScript('+14255550124', 3)),
      stack.sim.placeCall(voicemailScript('+14255550125', 5)),
      stack.sim.placeCall({ from: CALLER, to: AFTER_HOURS }),
      stack.sim.placeCall({ from: BLOCKED, to: FRONT_DESK }),
    ];
    const ids = started.map((s) => s.callId);
    const [transfer, voicemail1, voicemail2, redirect, rejected] = await explain(stack, ids, () =>
      withTimeout(Promise.all(started.map((s) => s.done)), 30_000, 'calls'),
    );

    await explain(stack, ids, async () => {
      const notifications = ids.flatMap((id) => notificationsFor(stack.sim, id));
      expect(notifications.some((n) => n.duplicate)).toBe(true);
      expect(notifications.some((n) => n.reordered)).toBe(true);
      // The bot accepts repeats (202) and acts on none of them.
      expect(notifications.filter((n) => n.status !== 202)).toEqual([]);

      for (const id of ids) {
        expectCleanRequests(requestsFor(stack.sim, id));
        expectNoRepeatedChanges(stack.sim, id);
      }

      expect(transfer!.resultInfo).toMatchObject({ code: 0, subcode: 7015 });
      expect(promptsPlayed(stack.sim, transfer!.callId)).toEqual(MENU_PROMPTS);
      expect(countByAction(requestsFor(stack.sim, transfer!.callId))).toMatchObject({
        answer: 1,
        subscribeToTone: 1,
        playPrompt: 4,
        transfer: 1,
      });
      expect(countByAction(requestsFor(stack.sim, transfer!.callId)).DELETE).toBeUndefined();
      expect(await callRecord(stack, transfer!.callId)).toMatchObject({
        nodesVisited: ['welcome', 'mainMenu', 'openingHours', 'mainMenu', 'frontDesk'],
        digits: ['1', '3'],
      });

      for (const [vm, seconds] of [
        [voicemail1!, 3],
        [voicemail2!, 5],
      ] as const) {
        expect(vm.resultInfo).toMatchObject({ code: 200, subcode: 7000 });
        expect(promptsPlayed(stack.sim, vm.callId)).toEqual(VOICEMAIL_PROMPTS);
        expect(countByAction(requestsFor(stack.sim, vm.callId))).toMatchObject({
          answer: 1,
          subscribeToTone: 1,
          playPrompt: 3,
          recordResponse: 1,
          DELETE: 1,
        });
        const record = await callRecord(stack, vm.callId);
        expect(record).toMatchObject({
          nodesVisited: ['welcome', 'mainMenu', 'leaveMessage', 'messageSaved'],
          failures: [],
        });
        // Each key once. A "#" whose notification comes after the recording's completion finds
        // the call hanging up and stays out of the history (the engine keeps keys while established).
        expect(['2,#', '2']).toContain(record.digits.join(','));
        await expectVoicemailStored(stack, vm.callId, seconds);
      }

      expect(redirect!.answeredBy).toBe(ON_CALL[1]);
      expect(countByAction(requestsFor(stack.sim, redirect!.callId))).toEqual({ redirect: 1 });
      expect(rejected!.resultInfo).toMatchObject({ code: 403 });
      expect(countByAction(requestsFor(stack.sim, rejected!.callId))).toEqual({ reject: 1 });
      for (const id of ids) expect((await callRecord(stack, id)).endedAt).not.toBeNull();
    });
  });
});
