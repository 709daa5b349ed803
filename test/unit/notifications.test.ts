import {
  calledIdentities,
  callerOf,
  isSafeId,
  normalizePhone,
  MAX_COMPLETION_REASON_LENGTH,
  MAX_IDENTITY_ID_LENGTH,
  MAX_IDENTITY_LENGTH,
  MAX_ID_LENGTH,
  MAX_RECORDING_LOCATION_LENGTH,
  MAX_RECORDING_TOKEN_LENGTH,
  MAX_RESOURCE_URL_LENGTH,
  MAX_RESULT_MESSAGE_LENGTH,
  NotificationFormatError,
  parseNotificationBatch,
  parseNotifications,
  truncate,
  type ParsedNotification,
  warmNotificationParser,
} from '../../shared/graph/notifications';
import { operationResourceSchema } from '../../shared/graph/schemas';
import { seedNotifications, seedsAvailable } from '../support/seeds';

/** What Graph sends, item by item: lenient values, safe ids, bounded strings. */

const CALL = '/communications/calls/491f0b00-ffff-4bc9-a43e-b226498ec22a';
const CALL_ID = '491f0b00-ffff-4bc9-a43e-b226498ec22a';
const OP = `${CALL}/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5`;
const CTX = 'a'.repeat(43) + '.3';

const item = (resourceUrl: string, resourceData?: unknown, changeType = 'updated') => ({
  changeType,
  resourceUrl,
  ...(resourceData === undefined ? {} : { resourceData }),
});
const batch = (...value: unknown[]) => parseNotificationBatch({ value });
/** The single notification of a one-item batch that must parse cleanly. */
const only = (x: unknown): ParsedNotification => {
  const { notifications, problems } = batch(x);
  expect(problems).toEqual([]);
  expect(notifications).toHaveLength(1);
  return notifications[0]!;
};
const call = (data: unknown) => {
  const n = only(item(CALL, data));
  if (n.kind !== 'call') throw new Error(`expected a call, got ${n.kind}`);
  return n.call;
};
const operation = (data: unknown) => {
  const n = only(item(OP, data, 'deleted'));
  if (n.kind !== 'operation') throw new Error(`expected an operation, got ${n.kind}`);
  return n.operation;
};
/** The problems of a one-item batch, which must yield nothing. */
const problemsOf = (x: unknown): string[] => {
  const { notifications, problems } = batch(x);
  expect(notifications).toEqual([]);
  expect(problems.map((p) => p.index)).toEqual([0]);
  return problems[0]!.problems;
};

describe('lenient values', () => {
  test('resultInfo code and subcode as numeric strings become numbers', () => {
    expect(
      call({ state: 'terminated', resultInfo: { code: '200', subcode: '540000', message: 'bye' } }),
    ).toEqual({ state: 'terminated', resultInfo: { code: 200, subcode: 540000, message: 'bye' } });
    expect(
      operation({ status: 'completed', clientContext: CTX, resultInfo: { code: '200', subcode: '8515' } }),
    ).toEqual({ status: 'completed', clientContext: CTX, resultInfo: { code: 200, subcode: 8515 } });
    expect(call({ resultInfo: { code: 480, subcode: null } }).resultInfo).toEqual({
      code: 480,
      subcode: null,
    });
  });

  test('a non-numeric or fractional code is a problem of its item, naming the field', () => {
    expect(problemsOf(item(CALL, { resultInfo: { code: 'OK' } }))).toEqual([
      'value.0.resourceData.resultInfo.code: expected an integer or a numeric string',
    ]);
    expect(problemsOf(item(OP, { status: 'failed', resultInfo: { code: 500, subcode: '85.15' } }))).toEqual([
      'value.0.resourceData.resultInfo.subcode: expected an integer or a numeric string',
    ]);
    expect(problemsOf(item(CALL, { resultInfo: { code: 200.5 } }))).toEqual([
      'value.0.resourceData.resultInfo.code: expected an integer or a numeric string',
    ]);
  });

  test('toneInfo.sequenceId as a numeric string', () => {
    expect(call({ toneInfo: { sequenceId: '7', tone: 'pound' } }).toneInfo).toEqual({
      sequenceId: 7,
      tone: 'pound',
    });
    expect(problemsOf(item(CALL, { toneInfo: { sequenceId: 'one', tone: 'tone1' } }))).toEqual([
      'value.0.resourceData.toneInfo.sequenceId: expected an integer or a numeric string',
    ]);
  });

  test('unknown fields anywhere are accepted and not kept', () => {
    const parsed = call({
      '@odata.type': '#microsoft.graph.call',
      '@odata.etag': 'W/"5445"',
      state: 'established',
      futureThing: { deep: [1, 2] },
      resultInfo: { '@odata.type': '#microsoft.graph.resultInfo', code: 200, extra: true },
      source: { identity: { phone: { id: '+12065550123', identityProvider: 'E164' } }, region: 'amer' },
    });
    expect(parsed).toEqual({
      '@odata.type': '#microsoft.graph.call',
      state: 'established',
      resultInfo: { code: 200 },
      source: { identity: { phone: { id: '+12065550123' } } },
    });
    const n = only({ ...item(OP, { status: 'running', what: 1 }), '@odata.type': 'x', callbackUri: 'y' });
    expect(n).toEqual({
      kind: 'operation',
      callId: CALL_ID,
      operationId: '0fe0623f-d628-42ed-b4bd-8ac290072cc5',
      changeType: 'updated',
      operation: { status: 'running' },
    });
  });

  test('an array resourceData on a call URL gives one call item per element, same url and changeType', () => {
    const { notifications, problems } = batch(
      item(CALL, [{ state: 'established' }, { toneInfo: { sequenceId: 1, tone: 'tone1' } }]),
    );
    expect(problems).toEqual([]);
    expect(notifications).toEqual([
      { kind: 'call', callId: CALL_ID, changeType: 'updated', call: { state: 'established' } },
      {
        kind: 'call',
        callId: CALL_ID,
        changeType: 'updated',
        call: { toneInfo: { sequenceId: 1, tone: 'tone1' } },
      },
    ]);
  });

  test('an empty array, null or no resourceData on a call URL is a call item with no data', () => {
    for (const data of [[], null, undefined]) {
      expect(only(item(CALL, data, 'deleted'))).toEqual({
        kind: 'call',
        callId: CALL_ID,
        changeType: 'deleted',
        call: {},
      });
    }
  });

  test('an array resourceData on an operation URL gives one operation item per element', () => {
    const { notifications, problems } = batch(
      item(
        OP,
        [{ status: 'completed', clientContext: CTX }, { status: 'wobbly' }, { status: 'failed' }],
        'deleted',
      ),
    );
    expect(notifications.map((n) => n.kind === 'operation' && n.operation.status)).toEqual([
      'completed',
      'failed',
    ]);
    expect(problems).toEqual([
      { index: 0, problems: [expect.stringMatching(/^value\.0\.resourceData\.1\.status: /)] },
    ]);
  });

  test('an operation notification without its operation is a problem', () => {
    expect(problemsOf(item(OP, [], 'deleted'))).toEqual([
      'value.0.resourceData: an operation notification needs the operation',
    ]);
    expect(problemsOf(item(OP, null, 'deleted'))[0]).toMatch(/^value\.0\.resourceData: /);
  });
});

describe('batches', () => {
  test('an unusable envelope throws NotificationFormatError', () => {
    for (const body of [null, 'value', [], 42, {}, { value: {} }, { value: [] }]) {
      expect(() => parseNotificationBatch(body)).toThrow(NotificationFormatError);
    }
    expect(() => parseNotificationBatch({ value: [] })).toThrow(/^value: /);
    expect(() => parseNotificationBatch({})).toThrow(/^value: /);
  });

  test('each item is validated on its own: bad ones are reported by index, the others returned in order', () => {
    const { notifications, problems } = batch(
      item(CALL, { state: 'established' }),
      { changeType: 'exploded', resourceUrl: CALL },
      'not an object',
      item('/communications/calls/abc%ZZ', { state: 'established' }),
      item(`${CALL}/participants`, [{ id: 'p1' }]),
      item(OP, { status: 'completed', clientContext: CTX }, 'deleted'),
      item(CALL, { state: 'sideways' }),
    );
    expect(notifications.map((n) => n.kind)).toEqual(['call', 'other', 'operation']);
    expect(problems).toEqual([
      { index: 1, problems: [expect.stringMatching(/^value\.1\.changeType: /)] },
      { index: 2, problems: [expect.stringMatching(/^value\.2: /)] },
      { index: 3, problems: ['value.3.resourceUrl: the call id is not valid percent-encoding'] },
      { index: 6, problems: [expect.stringMatching(/^value\.6\.resourceData\.state: /)] },
    ]);
  });

  test('parseNotifications stays all or nothing, naming every bad field', () => {
    expect(parseNotifications({ value: [item(CALL, { state: 'established' })] })).toEqual([
      { kind: 'call', callId: CALL_ID, changeType: 'updated', call: { state: 'established' } },
    ]);
    let error: unknown;
    try {
      parseNotifications({
        value: [
          item(CALL, { state: 'established' }),
          { changeType: 'exploded', resourceUrl: CALL },
          item(CALL, { toneInfo: { sequenceId: 'one', tone: 'tone1' } }),
        ],
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NotificationFormatError);
    expect((error as NotificationFormatError).problems).toEqual([
      expect.stringMatching(/^value\.1\.changeType: /),
      'value.2.resourceData.toneInfo.sequenceId: expected an integer or a numeric string',
    ]);
  });

  test('resources the IVR does not handle are kind "other"', () => {
    for (const url of [
      `${CALL}/participants`,
      `${CALL}/contentsharingsessions/2765eb15-01f8-47c6-b12b-c32111a4a86f`,
      `${OP}/extra`,
      '/communications/onlineMeetings/xyz',
      '/communications/calls/abc?x=1',
    ]) {
      expect(only(item(url, [{ anything: true }], 'created'))).toEqual({
        kind: 'other',
        resourceUrl: url,
        changeType: 'created',
      });
    }
    // It is logged for resources the IVR does not handle: bounded.
    const long = `${CALL}/participants/${'p'.repeat(MAX_RESOURCE_URL_LENGTH)}`;
    expect(problemsOf(item(long, []))).toEqual([
      'value.0.resourceUrl: Too big: expected string to have <=2048 characters',
    ]);
    expect(only(item('/app/calls/e71f0300', { state: 'incoming' }, 'created'))).toMatchObject({
      kind: 'call',
      callId: 'e71f0300',
    });
  });
});

describe('safe ids', () => {
  test('isSafeId', () => {
    for (const ok of ['a', 'x'.repeat(MAX_ID_LENGTH), 'café', 'emoji😀', 'a.b-c_d:e=f+g']) {
      expect([ok.length, isSafeId(ok)]).toEqual([ok.length, true]);
    }
    for (const bad of [
      '',
      'x'.repeat(MAX_ID_LENGTH + 1),
      'a\uD800',
      '\uDC00b',
      'a/b',
      'a\\b',
      'a#b',
      'a?b',
      'a\u0000',
      'a\nb',
      'a\u007F',
      'a\u0085',
    ]) {
      expect([bad, isSafeId(bad)]).toEqual([bad, false]);
    }
    expect(isSafeId('x'.repeat(129), 128)).toBe(false);
  });

  test('call and operation ids are percent-decoded; a malformed escape is an item problem', () => {
    expect(only(item('/communications/calls/caf%C3%A9%20x', {}))).toMatchObject({ callId: 'café x' });
    expect(only(item(`${CALL}/operations/op%2B1`, { status: 'running' }))).toMatchObject({
      operationId: 'op+1',
    });
    expect(problemsOf(item('/communications/calls/%E0%A4%A', {}))).toEqual([
      'value.0.resourceUrl: the call id is not valid percent-encoding',
    ]);
    expect(problemsOf(item(`${CALL}/operations/%ZZ`, { status: 'running' }))).toEqual([
      'value.0.resourceUrl: the operation id is not valid percent-encoding',
    ]);
  });

  test('a decoded id that cannot be a Table key is an item problem', () => {
    const rule = 'must be 1-256 characters of well-formed Unicode, without control characters or / \\ # ?';
    for (const raw of ['a%2Fb', 'a%5Cb', 'a%23b', 'a%3Fb', 'a%00b', 'a%7Fb', 'a\uD800b', 'x'.repeat(257)]) {
      expect(problemsOf(item(`/communications/calls/${raw}`, {}))).toEqual([
        `value.0.resourceUrl: the call id ${rule}`,
      ]);
    }
    expect(problemsOf(item(`${CALL}/operations/a%0Ab`, { status: 'running' }))).toEqual([
      `value.0.resourceUrl: the operation id ${rule}`,
    ]);
    expect(only(item(`/communications/calls/${'x'.repeat(256)}`, {}))).toMatchObject({
      callId: 'x'.repeat(256),
    });
  });

  test('the echoed clientContext must be a safe id of at most 256 characters', () => {
    expect(operation({ status: 'completed', clientContext: 'x'.repeat(256) }).clientContext).toBe(
      'x'.repeat(256),
    );
    for (const clientContext of ['x'.repeat(257), '', 'a/b', 'a\u0000b', 'a\uDBFF']) {
      expect(problemsOf(item(OP, { status: 'completed', clientContext }))).toEqual([
        'value.0.resourceData.clientContext: must be 1-256 characters of well-formed Unicode, without control characters or / \\ # ?',
      ]);
    }
    // The same schema reads Graph's synchronous answer to a media action.
    expect(operationResourceSchema.safeParse({ status: 'completed', clientContext: 'a#b' }).success).toBe(
      false,
    );
  });
});

describe('bounded strings', () => {
  test('resultInfo.message is truncated to 512 characters', () => {
    const long = 'm'.repeat(MAX_RESULT_MESSAGE_LENGTH + 100);
    expect(MAX_RESULT_MESSAGE_LENGTH).toBe(512);
    expect(call({ resultInfo: { code: 200, message: long } }).resultInfo?.message).toBe('m'.repeat(512));
    expect(
      operation({ status: 'failed', resultInfo: { code: 500, message: long } }).resultInfo?.message,
    ).toBe('m'.repeat(512));
    // Never half a surrogate pair at the cut.
    expect(truncate('m'.repeat(511) + '😀', 512)).toBe('m'.repeat(511));
  });

  test('completionReason is truncated to 64 characters', () => {
    expect(MAX_COMPLETION_REASON_LENGTH).toBe(64);
    expect(operation({ status: 'completed', completionReason: 'r'.repeat(65) }).completionReason).toBe(
      'r'.repeat(64),
    );
    expect(operation({ status: 'completed', completionReason: 'stopToneDetected' }).completionReason).toBe(
      'stopToneDetected',
    );
  });

  test('a tenantId that is not GUID-like is dropped', () => {
    expect(call({ tenantId: 'aa67bd4c-8475-432d-bd41-39f255720e0a' }).tenantId).toBe(
      'aa67bd4c-8475-432d-bd41-39f255720e0a',
    );
    for (const tenantId of ['contoso.com', '', 'a'.repeat(65), 42, 'aa67bd4c\n']) {
      expect(call({ tenantId }).tenantId).toBeNull();
    }
  });

  test('display names are not kept', () => {
    const parsed = call({
      source: { identity: { user: { id: 'u1', displayName: 'Heidi Steen' } } },
      targets: [{ identity: { application: { id: 'a1', displayName: 'Test BOT' } } }],
    });
    expect(parsed).toEqual({
      source: { identity: { user: { id: 'u1' } } },
      targets: [{ identity: { application: { id: 'a1' } } }],
    });
  });

  test('callerOf: a user or application id over 128 characters is unknown', () => {
    const from = (identity: unknown) => callerOf(call({ source: { identity } }));
    const id128 = 'u'.repeat(MAX_IDENTITY_ID_LENGTH);
    expect(from({ user: { id: id128 } })).toBe(`user:${id128}`);
    expect(from({ user: { id: id128 + 'u' } })).toBeNull();
    expect(from({ user: { id: 'u'.repeat(100_000) }, applicationInstance: { id: 'app-1' } })).toBe(
      'app:app-1',
    );
    expect(from({ applicationInstance: { id: 'a'.repeat(129) } })).toBeNull();
    expect(from({ user: { id: 'bad\nid' } })).toBeNull();
    expect(from({ phone: { id: `+1425${'5'.repeat(200)}` } })).toBeNull();
    expect(from({ phone: { id: 'tel:+1 (425) 555-0100' } })).toBe('+14255550100');
    expect(MAX_IDENTITY_LENGTH).toBe(160);
  });

  test('calledIdentities: long application ids are left out, nothing is over 160 characters', () => {
    const ids = calledIdentities(
      call({
        callRoutes: [
          {
            original: { phone: { id: '+14255550100' }, applicationInstance: { id: 'i'.repeat(129) } },
            final: { applicationInstance: { id: 'app-1' } },
          },
        ],
        targets: [
          { identity: { applicationInstance: { id: 'x'.repeat(5000) }, phone: { id: '9'.repeat(300) } } },
        ],
      }),
    );
    expect(ids).toEqual(['+14255550100', 'app-1']);
  });

  test('recordingLocation over 2048 and recordingAccessToken over 8192 characters are item problems', () => {
    const location = `https://file.location/${'l'.repeat(MAX_RECORDING_LOCATION_LENGTH - 22)}`;
    const token = 't'.repeat(MAX_RECORDING_TOKEN_LENGTH);
    expect(location.length).toBe(2048);
    expect(
      operation({ status: 'completed', recordingLocation: location, recordingAccessToken: token }),
    ).toEqual({
      status: 'completed',
      recordingLocation: location,
      recordingAccessToken: token,
    });
    expect(problemsOf(item(OP, { status: 'completed', recordingLocation: `${location}l` }))).toEqual([
      'value.0.resourceData.recordingLocation: Too big: expected string to have <=2048 characters',
    ]);
    expect(problemsOf(item(OP, { status: 'completed', recordingAccessToken: `${token}t` }))).toEqual([
      'value.0.resourceData.recordingAccessToken: Too big: expected string to have <=8192 characters',
    ]);
  });
});

(seedsAvailable ? describe : describe.skip)('the Graph docs examples', () => {
  test('every seed notification parses with no problem, also as one batch with codes as strings', () => {
    const examples = seedNotifications();
    expect(examples.length).toBeGreaterThanOrEqual(15);
    for (const { page, body } of examples) {
      expect([page, batch(...body.value).problems]).toEqual([page, []]);
    }
    const all = examples.flatMap((e) => e.body.value);
    const stringified = JSON.parse(
      JSON.stringify(all).replace(/"(code|subcode|sequenceId)":\s*(\d+)/g, '"$1":"$2"'),
    ) as unknown[];
    expect(JSON.stringify(stringified)).toContain('"subcode":"8515"');
    const asNumbers = batch(...all);
    const asStrings = batch(...stringified);
    expect(asStrings.problems).toEqual([]);
    expect(asStrings.notifications).toEqual(asNumbers.notifications);
    expect(asNumbers.notifications.map((n) => n.kind)).toContain('operation');
    expect(asNumbers.notifications.filter((n) => n.kind === 'other').length).toBeGreaterThan(0);
  });
});

describe('phone numbers and identities', () => {
  test('normalizePhone: E.164 with or without its +, tel: and separators dropped, else null', () => {
    const cases: Array<[string | null | undefined, string | null]> = [
      [undefined, null],
      [null, null],
      ['', null],
      ['+14255550100', '+14255550100'],
      ['tel:+14255550100', '+14255550100'],
      ['TEL:+14255550100', '+14255550100'],
      ['+1 (425) 555-0100', '+14255550100'],
      ['+1.425.555.0100', '+14255550100'],
      ['+1\t425 555 0100', '+14255550100'],
      ['14255550100', '+14255550100'],
      // The + form: 2 to 15 digits, not starting with 0.
      ['+12', '+12'],
      ['+1', null],
      ['+123456789012345', '+123456789012345'],
      ['+1234567890123456', null],
      ['+04255550100', null],
      // Without the +: 7 to 15 digits, not starting with 0.
      ['1234567', '+1234567'],
      ['123456', null],
      ['123456789012345', '+123456789012345'],
      ['1234567890123456', null],
      ['04255550100', null],
      // Nothing else around or inside the number.
      ['x+14255550100', null],
      ['+14255550100x', null],
      ['+1425tel:5550100', null],
      ['+1425/5550100', null],
      ['sip:+14255550100', null],
    ];
    for (const [input, expected] of cases) expect([input, normalizePhone(input)]).toEqual([input, expected]);
  });

  test('callerOf: a phone first, then a Teams user, then an application instance; else withheld', () => {
    const from = (identity: unknown) => callerOf(call({ source: { identity } }));
    const all = { phone: { id: '+14255550100' }, user: { id: 'u1' }, applicationInstance: { id: 'i1' } };
    expect(from(all)).toBe('+14255550100');
    expect(from({ ...all, phone: { id: 'anonymous' } })).toBe('user:u1');
    expect(from({ ...all, phone: undefined, user: { id: '' } })).toBe('app:i1');
    expect(from({ application: { id: 'bot' }, guest: { id: 'g' } })).toBeNull();
    expect(callerOf(call({}))).toBeNull();
  });

  test('calledIdentities: dialed numbers (route original, route final, targets) before application instances, each once', () => {
    const ids = calledIdentities(
      call({
        callRoutes: [
          {
            original: { phone: { id: '+14255550101' }, applicationInstance: { id: 'app-a' } },
            final: { phone: { id: 'tel:+14255550102' }, applicationInstance: { id: 'app-b' } },
          },
          { original: { phone: { id: '+14255550101' } }, final: { user: { id: 'u' } } },
        ],
        targets: [
          { identity: { phone: { id: '14255550103' }, applicationInstance: { id: 'app-c' } } },
          { identity: { applicationInstance: { id: 'app-a' } } },
        ],
      }),
    );
    expect(ids).toEqual(['+14255550101', '+14255550102', '+14255550103', 'app-a', 'app-b', 'app-c']);
    expect(calledIdentities(call({}))).toEqual([]);
  });

  test('calledIdentities: a route or target missing any part is read for what it has', () => {
    const ids = calledIdentities(
      call({
        callRoutes: [
          { final: { phone: { id: '+14255550101' } } },
          { original: { user: { id: 'u' } }, final: { applicationInstance: { id: 'app-a' } } },
          { original: { applicationInstance: { id: 'app-b' } }, final: { user: { id: 'u' } } },
          { original: { phone: { id: '+14255550102' } } },
          {},
        ],
        targets: [{}, { identity: { phone: { id: '+14255550103' } } }, { identity: { user: { id: 'u' } } }],
      }),
    );
    expect(ids).toEqual(['+14255550101', '+14255550102', '+14255550103', 'app-a', 'app-b']);
  });
});

describe('the notification envelope and urls', () => {
  test('NotificationFormatError joins its problems and names itself', () => {
    let error: unknown;
    try {
      parseNotificationBatch({ value: 'x', other: 1 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NotificationFormatError);
    const e = error as NotificationFormatError;
    expect(e.name).toBe('NotificationFormatError');
    expect(e.problems).toEqual(['value: Invalid input: expected array, received string']);
    expect(e.message).toBe('value: Invalid input: expected array, received string');
    expect(new NotificationFormatError(['a', 'b']).message).toBe('a; b');
  });

  test('a call url is /communications/calls/<id> or /app/calls/<id>, any case, from its start', () => {
    expect(only(item('/Communications/CALLS/c1', {}))).toMatchObject({ kind: 'call', callId: 'c1' });
    expect(only(item('/app/calls/c1/operations/o1', { status: 'running' }))).toMatchObject({
      kind: 'operation',
      callId: 'c1',
      operationId: 'o1',
    });
    for (const url of [
      '/x/communications/calls/c1',
      'communications/calls/c1',
      '/communications/calls/',
      '/communications/calls/c1/',
      '/communications/calls/c1#x',
      '/communications/calls/c1/operations/',
      '/communications/calls/c1/operations/o1?x=1',
      '/communications/call/c1',
    ]) {
      expect(only(item(url, {}))).toEqual({ kind: 'other', resourceUrl: url, changeType: 'updated' });
    }
  });

  test('an operation notification: each bad element is reported at its own index, a single one at resourceData', () => {
    expect(problemsOf(item(OP, { status: 'wobbly' }))).toEqual([
      expect.stringMatching(/^value\.0\.resourceData\.status: /),
    ]);
    expect(problemsOf(item(OP, [{ status: 'wobbly' }, { status: 'x' }]))).toEqual([
      expect.stringMatching(/^value\.0\.resourceData\.0\.status: /),
      expect.stringMatching(/^value\.0\.resourceData\.1\.status: /),
    ]);
    expect(problemsOf(item(CALL, [{ state: 'x' }, { state: 'y' }]))).toEqual([
      expect.stringMatching(/^value\.0\.resourceData\.0\.state: /),
      expect.stringMatching(/^value\.0\.resourceData\.1\.state: /),
    ]);
  });

  test('truncate never keeps half a surrogate pair, and leaves whole pairs before the cut alone', () => {
    expect(truncate('😀mmmmmm', 5)).toBe('😀mmm');
    expect(truncate('mm😀', 3)).toBe('mm');
    expect(truncate('mm😀', 4)).toBe('mm😀');
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abcd', 3)).toBe('abc');
    // Within the bound nothing is cut, whatever the text ends with (the cut only guards itself).
    expect(truncate('ab\uD83D', 3)).toBe('ab\uD83D');
    expect(truncate('ab\uD83D', 10)).toBe('ab\uD83D');
  });
});

describe('warm-up', () => {
  it('parses its sample as one incoming call, so the warm-up compiles the parsers a first call uses', () => {
    const batch = warmNotificationParser();
    expect(batch.problems).toEqual([]);
    expect(batch.notifications).toHaveLength(1);
    const [n] = batch.notifications;
    expect(n).toMatchObject({
      kind: 'call',
      callId: '00000000-0000-0000-0000-000000000000',
      changeType: 'created',
      call: { state: 'incoming', direction: 'incoming' },
    });
  });
});
