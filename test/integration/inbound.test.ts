import { request as httpRequest } from 'node:http';
import { startBotHarness, incomingCall, callUpdate, rows, type BotHarness } from '../support/botHarness';
import { resourceIdFor } from '../../shared/ivr/media';
import { expectedContextKey } from '../support/keys';

/**
 * Inbound calls end to end through the local host: signed notification in, exactly one
 * Graph request out (checked against the official CSDL), exactly one context in Azurite.
 */

let bot: BotHarness;

// Open Monday 10:00 in Los Angeles is not guaranteed when the test runs, so the
// numbers below use flows whose decision does not depend on the clock, except where said.
const alwaysOpen = {
  number: '+14255550111',
  prompts: {
    hello: 'https://media.example.com/hello.wav',
    bye: 'https://media.example.com/bye.wav',
    unused: 'https://media.example.com/unused.wav',
  },
  rules: [
    {
      name: 'blocked',
      when: { callerIn: ['+1900*', 'anonymous'] },
      then: { type: 'reject', reason: 'forbidden' },
    },
    {
      name: 'vip to desk',
      when: { callerIn: ['+12065550199'] },
      then: {
        type: 'redirect',
        targets: [
          { phone: '+14255550177' },
          { phone: '+14255550178' },
          { user: '29362BD4-CD58-4ED0-A206-0E4A33DBB0B6' },
        ],
        timeoutSeconds: 20,
      },
    },
    { name: 'busy line', when: { callerIn: ['+12065550100'] }, then: { type: 'reject', reason: 'busy' } },
  ],
  default: { type: 'answer', start: 'hello' },
  nodes: {
    hello: { type: 'play', prompts: ['hello'], next: 'bye' },
    bye: { type: 'hangup', prompt: 'bye' },
  },
};

beforeAll(async () => {
  bot = await startBotHarness({ flows: { 'always-open.json': alwaysOpen } });
}, 60_000);
afterAll(() => bot?.stop());

let n = 0;
const newCallId = () => `${(++n).toString(16).padStart(8, '0')}-1111-2222-3333-444455556666`;
const requestsFor = (callId: string) => bot.graph.requests.filter((r) => r.callId === callId);

async function contextRows(callId: string) {
  const all = await rows(bot.table());
  const key = await expectedContextKey(bot.table(), callId);
  return {
    contexts: all.filter((r) => r.rowKey === 'ctx' && r.callId === callId),
    // The claim: the row under the keyed hash of the call id.
    claimed: all.filter((r) => r.rowKey === 'ctx' && key !== null && r.partitionKey === `c_${key}`),
  };
}

test('an incoming call to a configured number is answered once, with every reachable prompt pre-fetched', async () => {
  const callId = newCallId();
  const res = await bot.notify(incomingCall(callId, { to: '+14255550111' }));
  expect(res.status).toBe(202);
  const sent = requestsFor(callId);
  expect(sent).toHaveLength(1);
  expect(sent[0]!.action).toBe('answer');
  expect(sent[0]!.issues).toEqual([]);
  expect(sent[0]!.authorization).toBe('Bearer graph-test-token');
  expect(sent[0]!.body).toEqual({
    callbackUri: 'https://bot.contoso.com/api/calls',
    acceptedModalities: ['audio'],
    mediaConfig: {
      '@odata.type': '#microsoft.graph.serviceHostedMediaConfig',
      preFetchMedia: [
        {
          uri: 'https://media.example.com/hello.wav',
          resourceId: resourceIdFor('https://media.example.com/hello.wav'),
        },
        {
          uri: 'https://media.example.com/bye.wav',
          resourceId: resourceIdFor('https://media.example.com/bye.wav'),
        },
      ],
    },
  });
  const { contexts, claimed } = await contextRows(callId);
  expect(contexts).toHaveLength(1);
  expect(claimed).toEqual(contexts);
  const ctx = JSON.parse(String(contexts[0]!.data));
  expect(ctx).toMatchObject({
    callId,
    number: '+14255550111',
    party: '+12065550123',
    phase: 'incoming',
    decision: { type: 'answer', start: 'hello' },
  });
  expect(ctx.clientContext).toBe(await expectedContextKey(bot.table(), callId));
});

test('the answer page example notification (a Teams user calling an unconfigured number) gets the default reject', async () => {
  const callId = newCallId();
  // Verbatim shape of the seed page's "incoming" notification.
  const payload = {
    '@odata.type': '#microsoft.graph.commsNotifications',
    value: [
      {
        '@odata.type': '#microsoft.graph.commsNotification',
        changeType: 'created',
        resourceUrl: `/communications/calls/${callId}`,
        resourceData: {
          '@odata.type': '#microsoft.graph.call',
          '@odata.id': `/communications/calls/${callId}`,
          '@odata.etag': 'W/"5445"',
          state: 'incoming',
          direction: 'incoming',
          callRoutes: [
            {
              routingType: 'lookup',
              original: { phone: { id: '+14258828080' } },
              final: { user: { id: '29362BD4-CD58-4ED0-A206-0E4A33DBB0B6', displayName: 'Heidi Steen' } },
            },
          ],
          source: {
            identity: { user: { displayName: 'Test User', id: '8A34A46B-3D17-4ADC-8DCE-DC4E7D572698' } },
            region: 'westus',
            languageId: 'en-US',
          },
          targets: [
            {
              identity: {
                application: { displayName: 'Test BOT', id: '8A34A46B-3D17-4ADC-8DCE-DC4E7D572698' },
              },
              languageId: 'en-US',
            },
          ],
          requestedModalities: ['audio'],
        },
      },
    ],
  };
  const res = await bot.notify(payload);
  expect(res.status).toBe(202);
  const sent = requestsFor(callId);
  expect(sent.map((r) => [r.action, r.body])).toEqual([
    ['reject', { reason: 'none', callbackUri: 'https://bot.contoso.com/api/calls' }],
  ]);
  expect(sent[0]!.issues).toEqual([]);
  const ctx = JSON.parse(String((await contextRows(callId)).contexts[0]!.data));
  expect(ctx).toMatchObject({
    number: '+14258828080',
    party: 'user:8A34A46B-3D17-4ADC-8DCE-DC4E7D572698',
    flowId: null,
  });
});

test('an application instance id routes to the flow that names it', async () => {
  const callId = newCallId();
  // No phone route at all: only the resource account's application instance is targeted.
  const payload = incomingCall(callId, { to: '+14255550100' });
  const call = payload.value[0]!.resourceData as Record<string, unknown>;
  delete call.callRoutes;
  const res = await bot.notify(payload);
  expect(res.status).toBe(202);
  const ctx = JSON.parse(String((await contextRows(callId)).contexts[0]!.data));
  expect(ctx.number).toBe('+14255550100');
  // The example flow answers in office hours and redirects after them: the one request sent
  // is the one its decision (made at the call's own time) says.
  expect(ctx.decision.type === 'answer' || ctx.decision.type === 'redirect').toBe(true);
  expect(requestsFor(callId).map((r) => r.action)).toEqual([ctx.decision.type]);
  expect(ctx.decision.rule).toBe(ctx.decision.type === 'answer' ? 'default' : 'after hours');
});

test('a blocked caller is rejected as forbidden; a withheld number matches "anonymous"', async () => {
  for (const from of ['+19005550123', null]) {
    const callId = newCallId();
    expect((await bot.notify(incomingCall(callId, { to: '+14255550111', from }))).status).toBe(202);
    expect(requestsFor(callId).map((r) => [r.action, (r.body as { reason: string }).reason])).toEqual([
      ['reject', 'forbidden'],
    ]);
  }
});

test('a busy rule rejects with reason busy', async () => {
  const callId = newCallId();
  await bot.notify(incomingCall(callId, { to: '+14255550111', from: '+12065550100' }));
  expect(requestsFor(callId).map((r) => (r.body as { reason: string }).reason)).toEqual(['busy']);
});

test('a redirect rings several targets at once, with the timeout and callbackUri set', async () => {
  const callId = newCallId();
  await bot.notify(incomingCall(callId, { to: '+14255550111', from: '+12065550199' }));
  const sent = requestsFor(callId);
  expect(sent).toHaveLength(1);
  expect(sent[0]!.action).toBe('redirect');
  expect(sent[0]!.issues).toEqual([]);
  expect(sent[0]!.body).toEqual({
    targets: [
      {
        '@odata.type': '#microsoft.graph.invitationParticipantInfo',
        identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: '+14255550177' } },
      },
      {
        '@odata.type': '#microsoft.graph.invitationParticipantInfo',
        identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: '+14255550178' } },
      },
      {
        '@odata.type': '#microsoft.graph.invitationParticipantInfo',
        identity: {
          user: { '@odata.type': '#microsoft.graph.identity', id: '29362BD4-CD58-4ED0-A206-0E4A33DBB0B6' },
        },
      },
    ],
    timeout: 20,
    callbackUri: 'https://bot.contoso.com/api/calls',
  });
});

test('a redelivered incoming notification sends no second Graph request', async () => {
  const callId = newCallId();
  const payload = incomingCall(callId, { to: '+14255550111' });
  await bot.notify(payload);
  await bot.notify(payload);
  expect(requestsFor(callId)).toHaveLength(1);
  expect((await contextRows(callId)).contexts).toHaveLength(1);
});

test('concurrent copies of one incoming notification produce exactly one answer and one context', async () => {
  const callId = newCallId();
  const payload = incomingCall(callId, { to: '+14255550111' });
  const results = await Promise.all(Array.from({ length: 6 }, () => bot.notify(payload)));
  expect(results.map((r) => r.status)).toEqual(Array(6).fill(202));
  expect(requestsFor(callId)).toHaveLength(1);
  expect((await contextRows(callId)).contexts).toHaveLength(1);
});

describe('a notification that fails authentication changes nothing', () => {
  const cases: Array<[string, () => Promise<string | null>]> = [
    ['no token', async () => null],
    ['a token for another bot', () => bot.issuer.sign({ aud: 'someone-else' })],
    ['an expired token', () => bot.issuer.sign({}, { lifetimeSeconds: -3600 })],
    [
      'a forged signature',
      async () => {
        const [h, p] = (await bot.issuer.sign()).split('.');
        return `${h}.${p}.${Buffer.from('forged').toString('base64url')}`;
      },
    ],
  ];
  test.each(cases)('%s gets 401', async (_name, token) => {
    const callId = newCallId();
    const res = await bot.notify(incomingCall(callId, { to: '+14255550111' }), await token());
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('Unauthorized');
    expect(requestsFor(callId)).toHaveLength(0);
    expect(await contextRows(callId)).toEqual({ contexts: [], claimed: [] });
  });
});

test('a refused token is answered 401 even when the body is also bad: the token is checked first', async () => {
  const expired = await bot.issuer.sign({}, { lifetimeSeconds: -3600 });
  for (const body of ['{"value": [', JSON.stringify({ value: [{ changeType: 'exploded' }] })]) {
    const res = await bot.notify(body, expired);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('token expired');
  }
});

test('malformed JSON gets 400 and changes nothing', async () => {
  const before = bot.graph.requests.length;
  const res = await bot.notify('{"value": [');
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
  expect(bot.graph.requests.length).toBe(before);
});

test('a body that breaks the schema gets 400 naming the field', async () => {
  const callId = newCallId();
  const payload = incomingCall(callId);
  (payload.value[0] as Record<string, unknown>).changeType = 'exploded';
  let res = await bot.notify(payload);
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
    /value\.0\.changeType/,
  );
  const tone = callUpdate(callId, { toneInfo: { sequenceId: 'one', tone: 'tone1' } });
  res = await bot.notify(tone);
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
    /resourceData\.toneInfo\.sequenceId/,
  );
  expect(requestsFor(callId)).toHaveLength(0);
});

test('a body over 1 MiB gets 413', async () => {
  const res = await bot.notify(JSON.stringify({ value: [], padding: 'x'.repeat(1024 * 1024 + 10) }));
  expect(res.status).toBe(413);
});

/** POSTs raw bytes with node's client, so the test controls chunking and Content-Length. */
function rawPost(chunks: Buffer[], headers: Record<string, string>): Promise<number> {
  return bot.issuer.sign().then(
    (token) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `${bot.host.url}/api/calls`,
          { method: 'POST', headers: { authorization: `Bearer ${token}`, ...headers } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        for (const c of chunks) req.write(c);
        req.end();
      }),
  );
}

test('a chunked body over 1 MiB (no Content-Length) gets 413, counted across chunks', async () => {
  // Many chunks, each well under the limit: only their running total is over it.
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const chunks = [
    Buffer.from('{"value":[],"padding":"'),
    ...Array.from({ length: 17 }, () => chunk),
    Buffer.from('"}'),
  ];
  expect(await rawPost(chunks, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })).toBe(
    413,
  );
});

test('a chunked body just under 1 MiB is read whole', async () => {
  const callId = newCallId();
  const body = JSON.stringify(incomingCall(callId, { to: '+14255550111' }));
  const padded = `${body.slice(0, -1)},"padding":"${' '.repeat(1024 * 1024 - body.length - 20)}"}`;
  expect(Buffer.byteLength(padded)).toBeLessThanOrEqual(1024 * 1024);
  const chunks = Array.from({ length: Math.ceil(padded.length / 65536) }, (_, i) =>
    Buffer.from(padded.slice(i * 65536, (i + 1) * 65536)),
  );
  expect(await rawPost(chunks, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })).toBe(
    202,
  );
  expect(requestsFor(callId).map((r) => r.action)).toEqual(['answer']);
});

test('notifications the IVR does not handle are acknowledged', async () => {
  const res = await bot.notify({
    value: [
      {
        changeType: 'created',
        resourceUrl:
          '/communications/calls/421f4c00-4436-4c3a-9d9a-c4924cf98e67/contentsharingsessions/2765eb15',
      },
      {
        changeType: 'updated',
        resourceUrl: '/communications/calls/421f4c00-4436-4c3a-9d9a-c4924cf98e67/participants',
        resourceData: [],
      },
      {
        changeType: 'updated',
        resourceUrl: '/communications/calls/never-seen',
        resourceData: { state: 'established' },
      },
    ],
  });
  expect(res.status).toBe(202);
});

test('Graph throttling is retried honouring Retry-After; the call is still answered once', async () => {
  const callId = newCallId();
  let throttled = 0;
  bot.graph.responders.push((r) =>
    r.callId === callId && throttled++ < 2
      ? {
          status: 429,
          headers: { 'retry-after': '0' },
          body: { error: { code: 'TooManyRequests', message: 'slow down' } },
        }
      : undefined,
  );
  const res = await bot.notify(incomingCall(callId, { to: '+14255550111' }));
  expect(res.status).toBe(202);
  const sent = requestsFor(callId);
  expect(sent.map((r) => r.action)).toEqual(['answer', 'answer', 'answer']);
  bot.graph.responders.pop();
});

test('a Graph error is recorded on the call context', async () => {
  const callId = newCallId();
  bot.graph.responders.push((r) =>
    r.callId === callId
      ? { status: 403, body: { error: { code: 'Forbidden', message: 'Calls.JoinGroupCall.All missing' } } }
      : undefined,
  );
  expect((await bot.notify(incomingCall(callId, { to: '+14255550111' }))).status).toBe(202);
  bot.graph.responders.pop();
  const ctx = JSON.parse(String((await contextRows(callId)).contexts[0]!.data));
  expect(ctx.failures).toEqual([
    expect.objectContaining({
      what: 'answer',
      status: 403,
      code: 'Forbidden',
      message: 'Calls.JoinGroupCall.All missing',
    }),
  ]);
});

test('terminated closes the context and leaves a call record', async () => {
  const callId = newCallId();
  await bot.notify(incomingCall(callId, { to: '+14255550111', from: '+12065550100' }));
  const res = await bot.notify(
    callUpdate(
      callId,
      { state: 'terminated', resultInfo: { code: 200, subcode: 5000, message: 'rejected' } },
      'deleted',
    ),
  );
  expect(res.status).toBe(202);
  const ctx = JSON.parse(String((await contextRows(callId)).contexts[0]!.data));
  expect(ctx.phase).toBe('ended');
  const record = await fetch(`${bot.host.url}/api/calls/${callId}`);
  expect(record.status).toBe(200);
  expect(await record.json()).toMatchObject({
    callId,
    number: '+14255550111',
    caller: '+12065550100',
    decision: { type: 'reject', reason: 'busy' },
    result: { code: 200, subcode: 5000 },
  });
});

test('a notification signed for another tenant is accepted and changes nothing', async () => {
  const callId = newCallId();
  await bot.notify(incomingCall(callId, { to: '+14255550111' }));
  const before = await contextRows(callId);
  const other = await bot.issuer.sign({ tid: '0badc0de-0000-4000-8000-000000000000' });
  const res = await bot.notify(callUpdate(callId, { state: 'established' }), other);
  // 2xx: a refusal must not be redelivered, and it must not be acted on either.
  expect(res.status).toBe(202);
  expect(await contextRows(callId)).toEqual(before);
  expect(requestsFor(callId).map((r) => r.action)).toEqual(['answer']);
});

test('a batch of 30 notifications for unknown calls is answered 202 with nothing stored or sent', async () => {
  const ids = Array.from({ length: 30 }, () => newCallId());
  const before = bot.graph.requests.length;
  const res = await bot.notify({
    value: ids.map((id) => ({
      changeType: 'updated',
      resourceUrl: `/communications/calls/${id}`,
      resourceData: { '@odata.type': '#microsoft.graph.call', state: 'established' },
    })),
  });
  expect(res.status).toBe(202);
  expect(bot.graph.requests.length).toBe(before);
  for (const id of ids) expect((await contextRows(id)).contexts).toEqual([]);
});

test('a batch with a bad item handles the good ones and answers 202', async () => {
  const good = newCallId();
  const res = await bot.notify({
    value: [
      {
        changeType: 'created',
        resourceUrl: '/communications/calls/%E0%A4%A',
        resourceData: { state: 'incoming' },
      },
      incomingCall(good, { to: '+14255550111' }).value[0],
    ],
  });
  expect(res.status).toBe(202);
  expect(requestsFor(good).map((r) => r.action)).toEqual(['answer']);
});
