import type { z } from 'zod';
import {
  answerBodySchema,
  callResourceSchema,
  cancelMediaProcessingBodySchema,
  chatInfoSchema,
  clientContextSchema,
  commsNotificationSchema,
  commsNotificationsSchema,
  createCallBodySchema,
  graphErrorSchema,
  identitySchema,
  integerLikeSchema,
  mediaInfoSchema,
  meetingInfoSchema,
  operationResourceSchema,
  playPromptBodySchema,
  recordResponseBodySchema,
  redirectBodySchema,
  rejectBodySchema,
  resultInfoSchema,
  subscribeToToneBodySchema,
  targetIdentitySetSchema,
  toneInfoSchema,
  transferBodySchema,
} from '../../shared/graph/schemas';

/**
 * The Graph schemas at their bounds: lenient with what the platform sends, strict in what the
 * bot sends (only what Graph defines, within Graph's limits). Each bound is tried on both sides.
 */

const ok = (schema: z.ZodType, value: unknown) => expect(schema.safeParse(value).success).toBe(true);
const bad = (schema: z.ZodType, value: unknown) => expect(schema.safeParse(value).success).toBe(false);
const x = (n: number) => 'x'.repeat(n);
const GUID = '0a1b2c3d-4e5f-6789-abcd-ef0123456789';

const prompt = { '@odata.type': '#microsoft.graph.mediaPrompt', mediaInfo: { uri: 'https://m/x.wav' } };
const phone = { phone: { id: '+14255550100' } };
const target = { '@odata.type': '#microsoft.graph.invitationParticipantInfo', identity: phone };

describe('what the platform sends', () => {
  test('an integer, or a numeric string of up to 15 digits with spaces around', () => {
    expect(integerLikeSchema.parse(' 42 ')).toBe(42);
    expect(integerLikeSchema.parse('-7')).toBe(-7);
    expect(integerLikeSchema.parse('7')).toBe(7);
    expect(integerLikeSchema.parse('123456789012345')).toBe(123456789012345);
    for (const v of ['1234567890123456', 'x5', '5x', '', ' ', '--5', '5 5', 'a'])
      expect([v, integerLikeSchema.safeParse(v).success]).toEqual([v, false]);
    expect(integerLikeSchema.safeParse('x').error?.issues[0]?.message).toBe(
      'expected an integer or a numeric string',
    );
  });

  test('a tenant id that is not GUID-like is dropped, not refused', () => {
    expect(identitySchema.parse({ id: 'u', tenantId: GUID })).toEqual({ id: 'u', tenantId: GUID });
    expect(identitySchema.parse({ id: 'u', tenantId: 'a' })).toEqual({ id: 'u', tenantId: 'a' });
    for (const t of [`x${GUID}`, `${GUID}x`, 'a'.repeat(65), '', 'not a guid', 5])
      expect(identitySchema.parse({ id: 'u', tenantId: t }).tenantId).toBeNull();
    expect(identitySchema.parse({ id: 'u', tenantId: 'a'.repeat(64) }).tenantId).toBe('a'.repeat(64));
  });

  test('a call resource names its direction among the two Graph defines', () => {
    ok(callResourceSchema, { '@odata.type': '#microsoft.graph.call', direction: 'incoming' });
    ok(callResourceSchema, { direction: 'outgoing' });
    bad(callResourceSchema, { direction: 'sideways' });
    bad(callResourceSchema, { '@odata.type': '#microsoft.graph.participant' });
  });

  test('an operation: a safe echoed clientContext, bounded recording location and token', () => {
    ok(operationResourceSchema, { status: 'completed', clientContext: 'abc' });
    bad(operationResourceSchema, { status: 'completed', clientContext: 'a/b' });
    ok(operationResourceSchema, {
      status: 'completed',
      recordingLocation: x(2048),
      recordingAccessToken: x(8192),
    });
    bad(operationResourceSchema, { status: 'completed', recordingLocation: x(2049) });
    bad(operationResourceSchema, { status: 'completed', recordingAccessToken: x(8193) });
  });

  test('a notification: one of three change types, a resourceUrl of 1-2048 characters; a batch of at least one', () => {
    for (const changeType of ['created', 'updated', 'deleted'])
      ok(commsNotificationSchema, { changeType, resourceUrl: '/x' });
    bad(commsNotificationSchema, { changeType: 'moved', resourceUrl: '/x' });
    ok(commsNotificationSchema, { changeType: 'updated', resourceUrl: x(2048) });
    bad(commsNotificationSchema, { changeType: 'updated', resourceUrl: x(2049) });
    bad(commsNotificationSchema, { changeType: 'updated', resourceUrl: '' });
    bad(commsNotificationsSchema, { value: [] });
    ok(commsNotificationsSchema, { value: [{}, {}], validationTokens: ['t'] });
  });

  test("Graph's error body: an error object, extra fields allowed", () => {
    ok(graphErrorSchema, { error: { code: 'X', message: 'y', innerError: {} }, other: 1 });
    ok(graphErrorSchema, { error: {} });
    bad(graphErrorSchema, {});
    bad(graphErrorSchema, { error: { code: 5 } });
  });
});

describe('what the bot sends', () => {
  test('media: an http(s) URI and a resource id of 1-256 characters', () => {
    ok(mediaInfoSchema, { uri: 'http://localhost/x.wav', resourceId: x(256) });
    bad(mediaInfoSchema, { uri: 'ftp://m/x.wav' });
    bad(mediaInfoSchema, { uri: ' https://m/x.wav' });
    bad(mediaInfoSchema, { uri: 'https://m/x.wav', resourceId: x(257) });
    bad(mediaInfoSchema, { uri: 'https://m/x.wav', resourceId: '' });
  });

  test('an identity set names exactly one party, with an id', () => {
    ok(targetIdentitySetSchema, phone);
    ok(targetIdentitySetSchema, { '@odata.type': '#microsoft.graph.identitySet', user: { id: 'u' } });
    bad(targetIdentitySetSchema, { '@odata.type': '#microsoft.graph.identity', user: { id: 'u' } });
    bad(targetIdentitySetSchema, { user: { id: '' } });
    const none = targetIdentitySetSchema.safeParse({});
    expect(none.error?.issues.map((i) => i.message)).toEqual([
      'an identity set names exactly one of phone, user, application, applicationInstance',
    ]);
    bad(targetIdentitySetSchema, { ...phone, user: { id: 'u' } });
  });

  test('a clientContext of 1-256 characters, alone in subscribeToTone and cancelMediaProcessing', () => {
    ok(clientContextSchema, x(256));
    bad(clientContextSchema, x(257));
    bad(clientContextSchema, '');
    for (const schema of [subscribeToToneBodySchema, cancelMediaProcessingBodySchema]) {
      ok(schema, { clientContext: 'c' });
      bad(schema, {});
      bad(schema, { clientContext: 'c', extra: 1 });
    }
  });

  test('redirect: 1-25 targets, a timeout of 15-90 s', () => {
    const body = (targets: number, timeout: number) => ({
      targets: Array.from({ length: targets }, () => target),
      timeout,
      callbackUri: 'https://bot/api/calls',
    });
    ok(redirectBodySchema, body(1, 15));
    ok(redirectBodySchema, body(25, 90));
    bad(redirectBodySchema, body(0, 30));
    bad(redirectBodySchema, body(26, 30));
    bad(redirectBodySchema, body(1, 14));
    bad(redirectBodySchema, body(1, 91));
  });

  test('playPrompt: 1-20 prompts', () => {
    const body = (n: number) => ({ prompts: Array.from({ length: n }, () => prompt), clientContext: 'c' });
    ok(playPromptBodySchema, body(1));
    ok(playPromptBodySchema, body(20));
    bad(playPromptBodySchema, body(0));
    bad(playPromptBodySchema, body(21));
  });

  test('recordResponse: at most one prompt, each wait 1-120 s', () => {
    const body = (over: Record<string, unknown> = {}) => ({
      bargeInAllowed: false,
      initialSilenceTimeoutInSeconds: 1,
      maxSilenceTimeoutInSeconds: 120,
      maxRecordDurationInSeconds: 60,
      playBeep: true,
      stopTones: ['#'],
      clientContext: 'c',
      ...over,
    });
    ok(recordResponseBodySchema, body());
    ok(recordResponseBodySchema, body({ prompts: [prompt] }));
    ok(recordResponseBodySchema, body({ prompts: [] }));
    bad(recordResponseBodySchema, body({ prompts: [prompt, prompt] }));
    bad(recordResponseBodySchema, body({ initialSilenceTimeoutInSeconds: 0 }));
    bad(recordResponseBodySchema, body({ maxSilenceTimeoutInSeconds: 121 }));
  });

  test('a meeting: chat thread and message ids, a join id and passcode, each bounded', () => {
    const chat = { '@odata.type': '#microsoft.graph.chatInfo', threadId: x(512), messageId: x(64) };
    ok(chatInfoSchema, { ...chat, replyChainMessageId: x(64) });
    for (const over of [
      { threadId: '' },
      { threadId: x(513) },
      { messageId: '' },
      { messageId: x(65) },
      { replyChainMessageId: '' },
      { replyChainMessageId: x(65) },
    ])
      expect([over, chatInfoSchema.safeParse({ ...chat, ...over }).success]).toEqual([over, false]);
    const join = { '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo', joinMeetingId: x(64) };
    ok(meetingInfoSchema, { ...join, passcode: x(64) });
    for (const over of [
      { joinMeetingId: '' },
      { joinMeetingId: x(65) },
      { passcode: '' },
      { passcode: x(65) },
    ])
      expect([over, meetingInfoSchema.safeParse({ ...join, ...over }).success]).toEqual([over, false]);
  });

  describe('create call', () => {
    const base = {
      '@odata.type': '#microsoft.graph.call',
      callbackUri: 'https://bot/api/calls',
      requestedModalities: ['audio'],
      mediaConfig: { '@odata.type': '#microsoft.graph.serviceHostedMediaConfig' },
      tenantId: GUID,
    };
    const messages = (value: unknown) =>
      createCallBodySchema.safeParse(value).error?.issues.map((i) => i.message) ?? [];

    test('targets (1-25) or a meeting, never both nor neither', () => {
      ok(createCallBodySchema, { ...base, targets: [target] });
      ok(createCallBodySchema, { ...base, targets: Array.from({ length: 25 }, () => target) });
      bad(createCallBodySchema, { ...base, targets: [] });
      bad(createCallBodySchema, { ...base, targets: Array.from({ length: 26 }, () => target) });
      expect(messages(base)).toEqual(['a create call names either targets or a meetingInfo']);
      const meeting = { '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo', joinMeetingId: '123' };
      ok(createCallBodySchema, { ...base, meetingInfo: meeting });
      expect(messages({ ...base, targets: [target], meetingInfo: meeting })).toEqual([
        'a create call names either targets or a meetingInfo',
      ]);
      bad(createCallBodySchema, { ...base, targets: [target], tenantId: '' });
    });

    test("joining by the organizer needs the meeting's chatInfo", () => {
      const organizer = {
        '@odata.type': '#microsoft.graph.organizerMeetingInfo',
        organizer: { user: { id: 'o' } },
      };
      expect(messages({ ...base, meetingInfo: organizer })).toEqual([
        'joining by organizer needs the meeting chatInfo',
      ]);
      const chatInfo = { '@odata.type': '#microsoft.graph.chatInfo', threadId: 't', messageId: '0' };
      ok(createCallBodySchema, { ...base, meetingInfo: organizer, chatInfo });
    });
  });
});

/**
 * Every value of the enums Graph defines (../shared/graph/v1.0-calls.csdl.xml), listed here by
 * hand, and every fixed `@odata.type`: a value dropped or misspelt in a schema refuses what
 * Graph sends, or lets the bot send what Graph does not know.
 */
describe('every enum value and @odata.type Graph defines', () => {
  test('each of the 17 tones of a toneInfo, and no other', () => {
    const tones = ['tone0', 'tone1', 'tone2', 'tone3', 'tone4', 'tone5', 'tone6', 'tone7', 'tone8', 'tone9'];
    for (const tone of [...tones, 'star', 'pound', 'a', 'b', 'c', 'd', 'flash'])
      expect(toneInfoSchema.safeParse({ sequenceId: 1, tone }).data).toEqual({ sequenceId: 1, tone });
    for (const tone of ['', 'tone10', 'hash', 'A', '#']) bad(toneInfoSchema, { sequenceId: 1, tone });
  });

  test('each call state (with ringing, which Graph also sends), and no other', () => {
    const states = [
      'incoming',
      'establishing',
      'ringing',
      'established',
      'hold',
      'transferring',
      'transferAccepted',
      'redirecting',
      'terminating',
      'terminated',
      'unknownFutureValue',
    ];
    for (const state of states) expect(callResourceSchema.parse({ state }).state).toBe(state);
    for (const state of ['', 'Established', 'active', 'ended']) bad(callResourceSchema, { state });
  });

  test('each operation status, and no other', () => {
    for (const status of ['notStarted', 'running', 'completed', 'failed', 'unknownFutureValue'])
      expect(operationResourceSchema.parse({ status }).status).toBe(status);
    for (const status of ['', 'Completed', 'succeeded']) bad(operationResourceSchema, { status });
    bad(operationResourceSchema, {});
  });

  test('an echoed clientContext that is no safe id is refused with the rule it breaks', () => {
    expect(operationResourceSchema.parse({ status: 'running', clientContext: x(256) }).clientContext).toBe(
      x(256),
    );
    expect(
      operationResourceSchema.parse({ status: 'running', clientContext: null }).clientContext,
    ).toBeNull();
    const refused = operationResourceSchema.safeParse({ status: 'running', clientContext: x(257) });
    expect(refused.error?.issues.map((i) => [i.path, i.message])).toEqual([
      [
        ['clientContext'],
        'must be 1-256 characters of well-formed Unicode, without control characters or / \\ # ?',
      ],
    ]);
  });

  test("resultInfo and completionReason are cut to Graph's length, never refused", () => {
    const info = resultInfoSchema.parse({ code: '500', subcode: 8515, message: x(600) });
    expect(info).toEqual({ code: 500, subcode: 8515, message: x(512) });
    expect(resultInfoSchema.parse({ code: 200, message: 'ok' }).message).toBe('ok');
    const op = operationResourceSchema.parse({ status: 'completed', completionReason: x(65) });
    expect(op.completionReason).toBe(x(64));
    bad(resultInfoSchema, { message: 'no code' });
  });

  test('a call resource may carry its tenant, kept only when GUID-like', () => {
    expect(callResourceSchema.parse({ tenantId: GUID }).tenantId).toBe(GUID);
    expect(callResourceSchema.parse({ tenantId: 'contoso.com' }).tenantId).toBeNull();
  });

  test('a prompt is a mediaPrompt', () => {
    bad(playPromptBodySchema, {
      prompts: [{ ...prompt, '@odata.type': '#microsoft.graph.prompt' }],
      clientContext: 'c',
    });
    bad(playPromptBodySchema, { prompts: [{ mediaInfo: prompt.mediaInfo }], clientContext: 'c' });
  });

  test('an invitation target is an invitationParticipantInfo', () => {
    ok(transferBodySchema, { transferTarget: target });
    bad(transferBodySchema, {
      transferTarget: { ...target, '@odata.type': '#microsoft.graph.participantInfo' },
    });
    bad(transferBodySchema, { transferTarget: { identity: phone } });
  });

  test('answer: audio only, a service-hosted media config, an http(s) callback', () => {
    const body = {
      callbackUri: 'https://bot/api/calls',
      acceptedModalities: ['audio'],
      mediaConfig: {
        '@odata.type': '#microsoft.graph.serviceHostedMediaConfig',
        preFetchMedia: [{ uri: 'https://m/x.wav', resourceId: 'r' }],
      },
    };
    ok(answerBodySchema, body);
    for (const acceptedModalities of [['video'], [], ['audio', 'audio'], ['']])
      bad(answerBodySchema, { ...body, acceptedModalities });
    bad(answerBodySchema, {
      ...body,
      mediaConfig: { '@odata.type': '#microsoft.graph.appHostedMediaConfig' },
    });
    bad(answerBodySchema, { ...body, callbackUri: 'ftp://bot/api/calls' });
  });

  test('reject: none, busy or forbidden', () => {
    for (const reason of ['none', 'busy', 'forbidden'])
      ok(rejectBodySchema, { reason, callbackUri: 'https://bot/api/calls' });
    for (const reason of ['', 'unknownFutureValue', 'declined'])
      bad(rejectBodySchema, { reason, callbackUri: 'https://bot/api/calls' });
  });

  test('recordResponse: each of the 12 stop tones, and no other', () => {
    const body = (stopTones: string[]) => ({
      bargeInAllowed: true,
      initialSilenceTimeoutInSeconds: 5,
      maxSilenceTimeoutInSeconds: 5,
      maxRecordDurationInSeconds: 120,
      playBeep: false,
      stopTones,
      clientContext: 'c',
    });
    ok(recordResponseBodySchema, body(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#']));
    for (const tone of ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'])
      ok(recordResponseBodySchema, body([tone]));
    for (const tone of ['', 'A', 'pound', '10']) bad(recordResponseBodySchema, body([tone]));
    bad(recordResponseBodySchema, { ...body([]), maxRecordDurationInSeconds: 121 });
    bad(recordResponseBodySchema, { ...body([]), initialSilenceTimeoutInSeconds: 1.5 });
  });

  test('a chatInfo and each kind of meetingInfo carry their own @odata.type', () => {
    const chat = { '@odata.type': '#microsoft.graph.chatInfo', threadId: 't', messageId: 'm' };
    ok(chatInfoSchema, chat);
    bad(chatInfoSchema, { ...chat, '@odata.type': '#microsoft.graph.chatMessageInfo' });
    const organizer = { '@odata.type': '#microsoft.graph.organizerMeetingInfo', organizer: phone };
    ok(meetingInfoSchema, organizer);
    bad(meetingInfoSchema, { ...organizer, '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo' });
    const join = { '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo', joinMeetingId: '1' };
    ok(meetingInfoSchema, join);
    bad(meetingInfoSchema, { ...join, '@odata.type': '#microsoft.graph.organizerMeetingInfo' });
    bad(meetingInfoSchema, { ...join, '@odata.type': '#microsoft.graph.meetingInfo' });
    bad(meetingInfoSchema, { joinMeetingId: '1' });
  });

  test('create call: a call, from a participantInfo source, audio only', () => {
    const base = {
      '@odata.type': '#microsoft.graph.call',
      callbackUri: 'https://bot/api/calls',
      requestedModalities: ['audio'],
      mediaConfig: { '@odata.type': '#microsoft.graph.serviceHostedMediaConfig' },
      tenantId: GUID,
      targets: [target],
    };
    const source = {
      '@odata.type': '#microsoft.graph.participantInfo',
      identity: { applicationInstance: { id: 'i' } },
    };
    ok(createCallBodySchema, { ...base, source });
    bad(createCallBodySchema, {
      ...base,
      source: { ...source, '@odata.type': '#microsoft.graph.identitySet' },
    });
    bad(createCallBodySchema, { ...base, '@odata.type': '#microsoft.graph.callRecord' });
    bad(createCallBodySchema, { ...base, requestedModalities: ['video'] });
    bad(createCallBodySchema, { ...base, requestedModalities: [''] });
    bad(createCallBodySchema, { ...base, mediaConfig: { '@odata.type': '' } });
    bad(createCallBodySchema, { ...base, callbackUri: 'bot/api/calls' });
    // A join by meeting id needs no chatInfo; only the organizer's does.
    const join = { '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo', joinMeetingId: '1' };
    expect(
      createCallBodySchema.parse({ ...base, targets: undefined, meetingInfo: join }).meetingInfo,
    ).toEqual(join);
  });
});
