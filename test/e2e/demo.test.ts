import { generateKeyPairSync, sign } from 'node:crypto';
import {
  actionsOf,
  AFTER_HOURS,
  blobsOfCall,
  BLOCKED,
  call,
  callContext,
  callIdKnown,
  callEnded,
  CALLER,
  callRecord,
  DESK_PHONE,
  expectCleanRequests,
  expectNoRepeatedChanges,
  expectVoicemailStored,
  explain,
  FRONT_DESK,
  hoursThenDeskScript,
  notificationsFor,
  ON_CALL,
  promptsPlayed,
  requestsFor,
  actionOf,
  startDemoStack,
  voicemailScript,
  type E2eStack,
} from './support';

/**
 * The demo flows end to end: real Azurite, the compiled bot in its own process (real
 * @azure/identity credential against the simulator's TLS token endpoint, real callback JWT
 * validation), the Graph simulator playing the caller and the phones calls go to.
 */

const OUTBOUND_CALLEE = '+12065550123';
const FRONT_DESK_APP_INSTANCE = '6b3d4c2e-8f1a-4e55-9d7b-2a9c0f1e7d31';

let stack: E2eStack;

beforeAll(async () => {
  stack = await startDemoStack({
    sim: {
      seed: 101,
      targets: {
        [DESK_PHONE]: { answerAfter: 1 },
        // Both on-call phones ring at once; the second one picks up first.
        [ON_CALL[0]]: { answerAfter: 6 },
        [ON_CALL[1]]: { answerAfter: 1.5 },
        [OUTBOUND_CALLEE]: {
          answerAfter: 1,
          actions: [{ waitFor: 'promptEnd' }, { after: 0.5, press: '1' }],
        },
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** The bot accepted every notification of the call (202), duplicates included. */
function expectNotificationsAccepted(callId: string): void {
  expect(notificationsFor(stack.sim, callId).map((n) => n.status)).toEqual(
    notificationsFor(stack.sim, callId).map(() => 202),
  );
}

test('menu: 1 plays the opening hours and returns to the menu, 3 transfers to the front desk', async () => {
  const { callId, resultInfo, answeredBy, answered } = await call(stack, hoursThenDeskScript(CALLER));
  await explain(stack, [callId], async () => {
    expect(answered).toBe(true);
    expect(resultInfo).toMatchObject({ code: 0, subcode: 7015 });
    expect(answeredBy).toBe(DESK_PHONE);

    const requests = requestsFor(stack.sim, callId);
    expectCleanRequests(requests);
    expect(actionsOf(stack.sim, callId)).toEqual([
      'answer',
      'subscribeToTone',
      'playPrompt', // greeting
      'playPrompt', // menu, heard to the end
      'playPrompt', // opening hours
      'playPrompt', // menu again
      'cancelMediaProcessing', // 3 pressed while the menu plays
      'transfer',
    ]);
    expect(promptsPlayed(stack.sim, callId)).toEqual([
      'greeting.wav',
      'main-menu.wav',
      'opening-hours.wav',
      'main-menu.wav',
    ]);
    const answer = requests.find((r) => actionOf(r) === 'answer')!.body as {
      callbackUri: string;
      mediaConfig: { preFetchMedia: unknown[] };
    };
    expect(answer.callbackUri).toBe(`${stack.botUrl}/api/calls`);
    expect(answer.mediaConfig.preFetchMedia.length).toBeGreaterThan(0);
    const transfer = requests.find((r) => actionOf(r) === 'transfer')!.body as {
      transferTarget: { identity: { phone: { id: string } } };
    };
    expect(transfer.transferTarget.identity.phone.id).toBe(DESK_PHONE);
    expectNotificationsAccepted(callId);

    const record = await callRecord(stack, callId);
    expect(record).toMatchObject({
      callId,
      direction: 'incoming',
      number: FRONT_DESK,
      caller: CALLER,
      decision: { type: 'answer', start: 'welcome' },
      nodesVisited: ['welcome', 'mainMenu', 'openingHours', 'mainMenu', 'frontDesk'],
      digits: ['1', '3'],
      result: { code: 0, subcode: 7015 },
      failures: [],
      recordings: [],
    });
    expect(record.answeredAt).not.toBeNull();
    expect(record.endedAt).not.toBeNull();
  });
});

test('voicemail: the message ended with # is stored in Blob storage as a WAV of the spoken length', async () => {
  const { callId, resultInfo } = await call(stack, voicemailScript(CALLER, 3));
  await explain(stack, [callId], async () => {
    expect(resultInfo).toMatchObject({ code: 200, subcode: 7000 }); // the bot hung up after "thanks"
    const requests = requestsFor(stack.sim, callId);
    expectCleanRequests(requests);
    expect(actionsOf(stack.sim, callId)).toEqual([
      'answer',
      'subscribeToTone',
      'playPrompt',
      'playPrompt',
      'cancelMediaProcessing',
      'recordResponse',
      'playPrompt',
      'DELETE',
    ]);
    expect(promptsPlayed(stack.sim, callId)).toEqual(['greeting.wav', 'main-menu.wav', 'thanks-message.wav']);
    const record = requests.find((r) => actionOf(r) === 'recordResponse')!.body;
    expect(record).toMatchObject({
      playBeep: true,
      stopTones: ['#'],
      maxRecordDurationInSeconds: 120,
      prompts: [{ mediaInfo: { uri: 'https://media.contoso.com/ivr/leave-a-message.wav' } }],
    });
    expectNotificationsAccepted(callId);

    expect(await callRecord(stack, callId)).toMatchObject({
      nodesVisited: ['welcome', 'mainMenu', 'leaveMessage', 'messageSaved'],
      digits: ['2', '#'],
      result: { code: 200, subcode: 7000 },
      failures: [],
    });
    await expectVoicemailStored(stack, callId, 3);
  });
});

test('after hours: both on-call phones ring at once and the first to answer takes the call', async () => {
  const { callId, resultInfo, answered, answeredBy } = await call(stack, { from: CALLER, to: AFTER_HOURS });
  await explain(stack, [callId], async () => {
    expect(answered).toBe(false);
    expect(answeredBy).toBe(ON_CALL[1]);
    expect(resultInfo.code).toBe(200);
    const requests = requestsFor(stack.sim, callId);
    expectCleanRequests(requests);
    expect(requests.map(actionOf)).toEqual(['redirect']);
    const body = requests[0]!.body as {
      targets: { identity: { phone: { id: string } } }[];
      timeout: number;
      callbackUri: string;
    };
    expect(body.targets.map((t) => t.identity.phone.id)).toEqual([...ON_CALL]);
    expect(body.timeout).toBe(30);
    expect(stack.sim.timeline(callId).map((e) => e.text)).toContain(
      `${ON_CALL[1]} answered the redirected call`,
    );
    expectNotificationsAccepted(callId);

    expect(await callRecord(stack, callId)).toMatchObject({
      number: AFTER_HOURS,
      decision: { type: 'redirect', targets: [...ON_CALL], rule: 'after hours' },
      answeredAt: null,
      nodesVisited: [],
      result: { code: 200 },
    });
  });
});

test.each([BLOCKED, '+19005550142'])(
  'a blocked caller (%s) is rejected as forbidden, with one request',
  async (from) => {
    const { callId, resultInfo, answered } = await call(stack, { from, to: FRONT_DESK });
    await explain(stack, [callId], async () => {
      expect(answered).toBe(false);
      expect(resultInfo).toMatchObject({ code: 403, subcode: 0 });
      const requests = requestsFor(stack.sim, callId);
      expectCleanRequests(requests);
      expect(requests).toHaveLength(1);
      expect(actionOf(requests[0]!)).toBe('reject');
      expect(requests[0]!.body).toMatchObject({ reason: 'forbidden' });
      expectNotificationsAccepted(callId);
      expect(await callRecord(stack, callId)).toMatchObject({
        caller: from,
        decision: { type: 'reject', reason: 'forbidden', rule: 'blocked callers' },
        answeredAt: null,
        nodesVisited: [],
        result: { code: 403 },
      });
    });
  },
);

test('the caller hangs up while leaving a message: record kept, no recording, context closed', async () => {
  const { callId, resultInfo } = await call(stack, {
    from: CALLER,
    to: FRONT_DESK,
    actions: [
      { waitFor: 'promptEnd' },
      { waitFor: 'prompt' },
      { after: 0.5, press: '2' },
      { waitFor: 'beep' },
      { after: 0.5, speak: 2 },
      { after: 0.5, hangUp: true },
    ],
  });
  await explain(stack, [callId], async () => {
    expect(resultInfo).toMatchObject({ code: 200, subcode: 540000 });
    expectCleanRequests(requestsFor(stack.sim, callId));
    // Nothing after the recording started: no prompt into a dead call, no DELETE.
    expect(actionsOf(stack.sim, callId)).toEqual([
      'answer',
      'subscribeToTone',
      'playPrompt',
      'playPrompt',
      'cancelMediaProcessing',
      'recordResponse',
    ]);
    expectNotificationsAccepted(callId);

    const record = await callRecord(stack, callId);
    expect(record).toMatchObject({
      nodesVisited: ['welcome', 'mainMenu', 'leaveMessage'],
      result: { code: 200, subcode: 540000 },
      recordings: [],
      failures: [],
    });
    expect(await blobsOfCall(stack, callId)).toEqual([]);
    const ctx = await callContext(stack, record.clientContext);
    expect(ctx).toMatchObject({ phase: 'ended', media: null, menu: null, timer: null, recordings: [] });
    expect(ctx.endedAt).not.toBeNull();
  });
});

test('outbound call: the callee hears the reminder, presses 1 and the bot says goodbye and hangs up', async () => {
  const res = await fetch(`${stack.bots[0]!.url}/api/outbound-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: FRONT_DESK, to: OUTBOUND_CALLEE }),
  });
  expect(res.status).toBe(202);
  const { callId, clientContext } = (await res.json()) as { callId: string; clientContext: string };
  expect(callId).toEqual(expect.any(String));
  await explain(stack, [callId], async () => {
    await callEnded(stack.sim, callId);
    expect(stack.sim.call(callId)).toMatchObject({
      direction: 'outgoing',
      state: 'terminated',
      resultInfo: { code: 200, subcode: 7000 },
    });

    const creates = stack.sim.requests.filter((r) => actionOf(r) === 'create');
    expectCleanRequests(creates);
    expect(creates).toHaveLength(1);
    expect(creates[0]!.body).toMatchObject({
      // The callback address leads the call's notifications to its context before Graph names the call.
      callbackUri: `${stack.botUrl}/api/calls?ctx=${clientContext}`,
      source: { identity: { applicationInstance: { id: FRONT_DESK_APP_INSTANCE } } },
      targets: [{ identity: { phone: { id: OUTBOUND_CALLEE } } }],
      requestedModalities: ['audio'],
      tenantId: stack.sim.tenantId,
    });
    expectCleanRequests(requestsFor(stack.sim, callId));
    expect(actionsOf(stack.sim, callId)).toEqual(['subscribeToTone', 'playPrompt', 'playPrompt', 'DELETE']);
    expect(promptsPlayed(stack.sim, callId)).toEqual(['appointment-reminder.wav', 'goodbye.wav']);
    expectNoRepeatedChanges(stack.sim, callId);
    expectNotificationsAccepted(callId);

    expect(await callRecord(stack, callId)).toMatchObject({
      callId,
      clientContext,
      direction: 'outgoing',
      number: FRONT_DESK,
      // An outbound call's record names the bot's number as the caller (from) and the person called as to.
      caller: FRONT_DESK,
      from: FRONT_DESK,
      to: OUTBOUND_CALLEE,
      decision: { type: 'outbound', start: 'reminder' },
      nodesVisited: ['reminder', 'goodbye'],
      digits: ['1'],
      result: { code: 200, subcode: 7000 },
      failures: [],
    });
  });
});

test('a notification signed with another key is refused (401) and changes nothing', async () => {
  // The platform's key id, with someone else's key behind the signature.
  const { keys } = (await (await fetch(stack.sim.jwksUrl)).json()) as { keys: { kid: string }[] };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = Math.floor(Date.now() / 1000);
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${part({ alg: 'RS256', kid: keys[0]!.kid, typ: 'JWT' })}.${part({
    iss: 'https://graph.microsoft.com',
    aud: stack.sim.botAppId,
    tid: stack.sim.tenantId,
    iat: now,
    nbf: now,
    exp: now + 300,
  })}`;
  const token = `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), privateKey).toString('base64url')}`;
  const callId = '5a1b2c3d-0000-4000-8000-00000000f0f0';
  const res = await fetch(`${stack.botUrl}/api/calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      '@odata.type': '#microsoft.graph.commsNotifications',
      value: [
        {
          '@odata.type': '#microsoft.graph.commsNotification',
          changeType: 'created',
          resourceUrl: `/communications/calls/${callId}`,
          resourceData: {
            '@odata.type': '#microsoft.graph.call',
            id: callId,
            state: 'incoming',
            direction: 'incoming',
            source: { identity: { phone: { id: CALLER } } },
            targets: [{ identity: { phone: { id: FRONT_DESK } } }],
          },
        },
      ],
    }),
  });
  expect(res.status).toBe(401);
  expect(requestsFor(stack.sim, callId)).toEqual([]);
  expect(await callIdKnown(stack, callId)).toBe(false);
});
