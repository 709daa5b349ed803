import {
  actionOf,
  BLOCKED,
  actionsOf,
  call,
  callContext,
  callIdKnown,
  CALLER,
  callRecord,
  expectCleanRequests,
  expectNoRepeatedChanges,
  expectVoicemailStored,
  explain,
  FRONT_DESK,
  notificationsFor,
  openContexts,
  requestsFor,
  startDemoStack,
  voicemailScript,
  warmUp,
  withTimeout,
  type E2eStack,
} from './support';

/**
 * One bot instance that goes away: down when a call comes in (Graph's 15 s answer deadline
 * passes), killed in the middle of a call (all state is in Azurite, so the restarted process
 * carries on), and an incoming-call notification that arrives after the deadline.
 */

let stack: E2eStack;

beforeAll(async () => {
  // Graph's deadline, the one these tests are about.
  stack = await startDemoStack({ sim: { seed: 7, answerDeadlineSeconds: 15 } });
}, 60_000);

afterEach(async () => {
  if (!stack) return;
  stack.sim.setFaults({});
  await stack.startBot(0); // a failed test must not leave the next one without a bot
});

afterAll(async () => {
  await stack?.stop();
});

const createdOf = (callId: string) =>
  notificationsFor(stack.sim, callId).find((n) => n.body.value[0]?.changeType === 'created');

test('no bot is running when a call comes in: the platform ends it 408/1106 and nothing is left half-done', async () => {
  await stack.stopBot(0);
  const { callId, done } = stack.sim.placeCall({
    from: CALLER,
    to: FRONT_DESK,
    actions: [{ waitFor: 'promptEnd' }, { after: 1, press: '1' }],
  });
  await explain(stack, [callId], async () => {
    // The incoming-call notification found no bot (the proxy answered 503); the bot comes back
    // at once, around the time the platform gives up on the call.
    await stack.sim.waitFor(() => createdOf(callId), 10_000);
    expect(createdOf(callId)!.status).toBe(503);
    await stack.startBot(0);
    const summary = await withTimeout(done, 20_000, 'missed call');
    expect(summary.answered).toBe(false);
    expect(summary.resultInfo).toMatchObject({ code: 408, subcode: 1106 });
    expect(stack.sim.timeline(callId).map((e) => e.text)).toContain('not answered within 15 s');

    // The bot works again (and has had every chance to act on the missed call). The new
    // process is cold: warm it up first so the check does not race the scaled deadline.
    await warmUp(stack);
    const next = await call(stack, { from: BLOCKED, to: FRONT_DESK });
    expect(next.resultInfo.code).toBe(403);

    // Nothing for the missed call: no Graph request, no context, no record; no call left open.
    expect(requestsFor(stack.sim, callId)).toEqual([]);
    expect(await callIdKnown(stack, callId)).toBe(false);
    expect(await stack.callRecord(callId)).toBeNull();
    expect(await openContexts(stack)).toEqual([]);
  });
});

test('the incoming-call notification arrives after the deadline: one refused answer, then the call is closed 408/1106', async () => {
  // 1 s of real delay per notification is 20 simulated seconds: past the 15 s deadline.
  stack.sim.setFaults({ notificationDelayMs: 1000 });
  const { callId, done } = stack.sim.placeCall({ from: CALLER, to: FRONT_DESK });
  const summary = await explain(stack, [callId], () => withTimeout(done, 20_000, 'late call'));
  await explain(stack, [callId], async () => {
    expect(summary.resultInfo).toMatchObject({ code: 408, subcode: 1106 });
    // The bot cannot know the notification is late; its one answer finds the call gone.
    const requests = requestsFor(stack.sim, callId);
    expect(requests.map((r) => [actionOf(r), r.status])).toEqual([['answer', 404]]);
    expect(requests[0]!.issues).toEqual([]);
    expect(notificationsFor(stack.sim, callId).map((n) => n.status)).toEqual([202, 202]);

    const record = await callRecord(stack, callId);
    expect(record).toMatchObject({
      decision: { type: 'answer' },
      answeredAt: null,
      nodesVisited: [],
      result: { code: 408, subcode: 1106 },
      failures: [{ what: 'answer', status: 404 }],
    });
    expect(await openContexts(stack)).toEqual([]);
    expect(await callContext(stack, record.clientContext)).toMatchObject({
      phase: 'ended',
      media: null,
      timer: null,
    });
  });
});

test('the bot is killed while the caller leaves a message; restarted, it stores the message and ends the call', async () => {
  const speak = 90; // simulated seconds (4.5 s of real time) for the bot to come back
  const { callId, done } = stack.sim.placeCall(voicemailScript(CALLER, speak));
  await explain(stack, [callId], async () => {
    await stack.sim.waitFor(() => stack.sim.timeline(callId).some((e) => e.text.startsWith('beep')), 10_000);
    await stack.stopBot(0); // SIGKILL: nothing in memory survives
    const downAt = stack.sim.notifications.length;
    await stack.startBot(0);
    const summary = await withTimeout(done, 20_000, 'voicemail call');

    // The restart beat the next notification: the call never noticed.
    expect(notificationsFor(stack.sim, callId).map((n) => n.status)).toEqual(
      notificationsFor(stack.sim, callId).map(() => 202),
    );
    expect(stack.sim.notifications.slice(downAt).filter((n) => n.callId === callId).length).toBeGreaterThan(
      0,
    );

    expect(summary.resultInfo).toMatchObject({ code: 200, subcode: 7000 });
    expectCleanRequests(requestsFor(stack.sim, callId));
    expectNoRepeatedChanges(stack.sim, callId);
    expect(actionsOf(stack.sim, callId)).toEqual([
      'answer',
      'subscribeToTone',
      'playPrompt',
      'playPrompt',
      'cancelMediaProcessing',
      'recordResponse',
      'playPrompt', // thanks: sent by the restarted process
      'DELETE',
    ]);
    expect(await callRecord(stack, callId)).toMatchObject({
      nodesVisited: ['welcome', 'mainMenu', 'leaveMessage', 'messageSaved'],
      digits: ['2', '#'],
      result: { code: 200, subcode: 7000 },
      failures: [],
    });
    await expectVoicemailStored(stack, callId, speak);
  });
});
