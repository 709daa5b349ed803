import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBotHarness, callUpdate, REPO, type BotHarness } from '../support/botHarness';

/** POST /api/outbound-calls: a create-call request that conforms to the CSDL, then the flow's outbound entry. */

let bot: BotHarness;
/** An alerting number: its outbound flow declares variables and picks a prompt by severity. */
function alertsFlow() {
  const base = JSON.parse(readFileSync(join(REPO, 'flows', 'contoso-main.json'), 'utf8')) as {
    prompts: Record<string, string>;
    nodes: Record<string, unknown>;
  };
  return {
    ...base,
    number: '+14255550111',
    applicationInstanceId: '0e5c3b9a-1111-4e55-9d7b-2a9c0f1e7d31',
    aliases: [],
    prompts: { ...base.prompts, urgent: 'https://media.contoso.com/ivr/urgent.wav' },
    outbound: {
      start: 'alert',
      variables: { severity: { required: true, pattern: 'high|low' }, ticket: { pattern: '[A-Z]+-\\d+' } },
    },
    nodes: {
      ...base.nodes,
      alert: {
        type: 'play',
        prompts: ['reminder'],
        promptsBy: { variable: 'severity', cases: { high: ['urgent'] } },
        next: 'reminder',
      },
    },
  };
}

beforeAll(async () => {
  bot = await startBotHarness({ flows: { 'alerts.json': alertsFlow() } });
}, 60_000);
afterAll(() => bot?.stop());

const place = (body: unknown) =>
  fetch(`${bot.host.url}/api/outbound-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

test('places a call from the number of a flow and runs its outbound entry once answered', async () => {
  const res = await place({ from: '+14255550100', to: '+12065550123' });
  expect(res.status).toBe(202);
  const { callId, clientContext } = (await res.json()) as { callId: string; clientContext: string };
  expect(clientContext).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const create = bot.graph.requests.filter((r) => r.action === 'create');
  expect(create).toHaveLength(1);
  expect(create[0]!.issues).toEqual([]);
  expect(create[0]!.body).toMatchObject({
    '@odata.type': '#microsoft.graph.call',
    // The callback address carries the context key: the call's first notifications may come before Graph's answer.
    callbackUri: `https://bot.contoso.com/api/calls?ctx=${clientContext}`,
    source: { identity: { applicationInstance: { id: '6b3d4c2e-8f1a-4e55-9d7b-2a9c0f1e7d31' } } },
    targets: [{ identity: { phone: { id: '+12065550123' } } }],
    requestedModalities: ['audio'],
    tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  });
  await bot.notify(callUpdate(callId, { state: 'established' }), undefined, `ctx=${clientContext}`);
  const sent = bot.graph.requests.filter((r) => r.callId === callId);
  expect(sent.map((r) => r.action)).toEqual(['subscribeToTone', 'playPrompt']);
  expect(JSON.stringify(sent[1]!.body)).toContain('appointment-reminder.wav');
});

test('an outbound call established before Graph has answered the create call still runs its flow, once', async () => {
  let established: Promise<Response> | undefined;
  // The platform sends "established" to the callback address while the create-call reply is still on its way.
  bot.graph.responders.push((r) => {
    if (r.action !== 'create') return undefined;
    const ctx = new URL(String((r.body as { callbackUri: string }).callbackUri)).searchParams.get('ctx');
    established = bot.notify(
      callUpdate('early-call-0001', { state: 'established' }),
      undefined,
      `ctx=${ctx}`,
    );
    return { status: 201, body: { id: 'early-call-0001' }, after: established };
  });
  const res = await place({ from: '+14255550100', to: '+12065550124' });
  bot.graph.responders.pop();
  expect(res.status).toBe(202);
  expect(((await res.json()) as { callId: string }).callId).toBe('early-call-0001');
  expect((await established!)!.status).toBe(202);
  const sent = bot.graph.requests.filter((r) => r.callId === 'early-call-0001');
  expect(sent.map((r) => r.action)).toEqual(['subscribeToTone', 'playPrompt']);
  // A later notification without the callback key still finds the call, through the call id's link.
  await bot.notify(callUpdate('early-call-0001', { state: 'terminated' }, 'deleted'));
  const record = (await (await fetch(`${bot.host.url}/api/calls/early-call-0001`)).json()) as Record<
    string,
    unknown
  >;
  expect(record).toMatchObject({ status: 'ended', callId: 'early-call-0001', direction: 'outgoing' });
});

test('a notification whose callback key names another call changes nothing', async () => {
  const res = await place({ from: '+14255550100', to: '+12065550125' });
  const { callId, clientContext } = (await res.json()) as { callId: string; clientContext: string };
  await bot.notify(callUpdate(callId, { state: 'established' }), undefined, `ctx=${clientContext}`);
  const before = bot.graph.requests.length;
  // Same context key, another call id: refused, nothing sent.
  await bot.notify(
    callUpdate('another-call-0002', { state: 'terminated' }, 'deleted'),
    undefined,
    `ctx=${clientContext}`,
  );
  expect(bot.graph.requests.length).toBe(before);
  const status = (await (await fetch(`${bot.host.url}/api/calls/${callId}`)).json()) as { status: string };
  expect(status.status).toBe('inProgress');
});

test('a bad request is refused with the field named, and places nothing', async () => {
  const before = bot.graph.requests.length;
  let res = await place({ from: '+14255550100', to: '12065550123' });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^to: /);
  res = await place({ from: '+14255550999', to: '+12065550123' });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
    /no flow configures \+14255550999/,
  );
  res = await place('{"from":');
  expect(res.status).toBe(400);
  expect(bot.graph.requests.length).toBe(before);
});

test('a refused create call is reported as 502 with Graph’s message', async () => {
  bot.graph.responders.push((r) =>
    r.action === 'create'
      ? { status: 403, body: { error: { code: 'Forbidden', message: 'Calls.Initiate.All missing' } } }
      : undefined,
  );
  const res = await place({ from: '+14255550100', to: '+12065550123' });
  bot.graph.responders.pop();
  expect(res.status).toBe(502);
  expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
    'Calls.Initiate.All missing',
  );
});

// ---- targets, idempotency, outcome (issue 11) ----

const status = async (id: string) =>
  (await (await fetch(`${bot.host.url}/api/outbound-calls/${id}`)).json()) as Record<string, unknown>;
const lastCreate = () => bot.graph.requests.filter((r) => r.action === 'create').at(-1)!;
const ORGANIZER = '5810cede-f3cc-42eb-b2c1-e9bd5d53ec96';
const TENANT = '9f386a15-f9cc-445b-8106-ac85e314a07b';
const THREAD = '19:meeting_Win6Ydo4wsMijFjZS00ZGVjLTk5MGUtOTRjNWY2NmNkYTFm@thread.v2';

test('a Teams user is called as a user target, from the application instance', async () => {
  const res = await place({
    from: '+14255550100',
    to: { user: '112f7296-5fa4-42ca-bae8-6a692b15d4b8', tenantId: TENANT },
  });
  expect(res.status).toBe(202);
  const create = lastCreate();
  expect(create.issues).toEqual([]);
  expect(create.body).toMatchObject({
    targets: [{ identity: { user: { id: '112f7296-5fa4-42ca-bae8-6a692b15d4b8', tenantId: TENANT } } }],
    source: { identity: { applicationInstance: { id: '6b3d4c2e-8f1a-4e55-9d7b-2a9c0f1e7d31' } } },
  });
});

test('a scheduled meeting is joined from its join URL, its organizer and thread, or its meeting id', async () => {
  const joinUrl = `https://teams.microsoft.com/l/meetup-join/${encodeURIComponent(THREAD)}/0?context=${encodeURIComponent(
    JSON.stringify({ Tid: TENANT, Oid: ORGANIZER }),
  )}`;
  const expected = {
    chatInfo: { '@odata.type': '#microsoft.graph.chatInfo', threadId: THREAD, messageId: '0' },
    meetingInfo: {
      '@odata.type': '#microsoft.graph.organizerMeetingInfo',
      organizer: { user: { id: ORGANIZER, tenantId: TENANT } },
    },
  };
  for (const meeting of [
    { joinUrl },
    {
      chatInfo: { threadId: THREAD, messageId: '0' },
      organizerMeetingInfo: { organizer: { user: { id: ORGANIZER, tenantId: TENANT } } },
    },
  ]) {
    const res = await place({ from: '+14255550100', to: { meeting } });
    expect(res.status).toBe(202);
    expect(lastCreate().issues).toEqual([]);
    expect(lastCreate().body).toMatchObject(expected);
    expect(lastCreate().body).not.toHaveProperty('targets');
  }
  const res = await place({
    from: '+14255550100',
    to: { meeting: { joinMeetingId: '1234567890', passcode: 'aBc123' } },
  });
  expect(res.status).toBe(202);
  expect(lastCreate().issues).toEqual([]);
  expect(lastCreate().body).toMatchObject({
    meetingInfo: {
      '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo',
      joinMeetingId: '1234567890',
      passcode: 'aBc123',
    },
  });
  const { id } = (await res.json()) as { id: string };
  expect(await status(id)).toMatchObject({
    to: 'meeting:1234567890',
    from: '+14255550100',
    state: 'dialing',
  });
});

test.each([
  [{ to: '+1312555' }, /^to: /],
  [{ to: { phone: '+99912345678' } }, /^to/],
  [{ to: { user: 'not-a-guid' } }, /^to/],
  [
    { to: { meeting: { joinUrl: 'https://example.com/l/meetup-join/x/0' } } },
    /^to\.meeting\.joinUrl: not a Teams meeting/,
  ],
  [{ to: { meeting: { joinUrl: 'http://teams.microsoft.com/l/meetup-join/x/0' } } }, /^to/],
  [{ to: '+12065550123', callbackUrl: 'http://hooks.example.com/x' }, /^callbackUrl: /],
  [{ to: '+12065550123', surprise: 1 }, /surprise/],
])('invalid request %j: 400 naming the field, nothing placed', async (extra, message) => {
  const before = bot.graph.requests.length;
  const res = await place({ from: '+14255550100', ...extra });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  expect(bot.graph.requests.length).toBe(before);
});

const placeKeyed = (key: string, to = '+12065550140') =>
  fetch(`${bot.host.url}/api/outbound-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ from: '+14255550100', to }),
  });
const creates = () => bot.graph.requests.filter((r) => r.action === 'create').length;

test('the same Idempotency-Key returns the same outbound call and never dials again', async () => {
  const before = creates();
  const first = await placeKeyed('alert-42');
  const again = await placeKeyed('alert-42');
  expect(first.status).toBe(202);
  expect(again.status).toBe(202);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(await again.json()).toEqual(await first.json());
  // The body field works as the header does.
  const body = await place({ from: '+14255550100', to: '+12065550140', idempotencyKey: 'alert-42' });
  expect(((await body.json()) as { id: string }).id).toBe(
    ((await (await placeKeyed('alert-42')).json()) as { id: string }).id,
  );
  expect(creates()).toBe(before + 1);
  // The same key with another request is refused, not replayed.
  const other = await placeKeyed('alert-42', '+12065550141');
  expect(other.status).toBe(422);
  expect(creates()).toBe(before + 1);
});

test('two requests with one key racing: the loser gets the winner’s call while it is still being placed', async () => {
  const before = creates();
  let loserDone!: (v: unknown) => void;
  const loserAnswered = new Promise((ok) => (loserDone = ok));
  // The winner's create call is held until the other request has been answered: both claims overlap.
  bot.graph.responders.push((r) =>
    r.action === 'create' ? { status: 201, body: { id: 'race-call-0001' }, after: loserAnswered } : undefined,
  );
  const a = placeKeyed('race-key');
  const b = placeKeyed('race-key');
  const first = await Promise.race([a.then((r) => ({ r, which: 'a' })), b.then((r) => ({ r, which: 'b' }))]);
  const loserBody = (await first.r.json()) as { id: string; callId: string | null };
  loserDone(null);
  const winner = await (first.which === 'a' ? b : a);
  bot.graph.responders.pop();
  const winnerBody = (await winner.json()) as { id: string; callId: string };
  expect(first.r.headers.get('idempotent-replayed')).toBe('true');
  expect(loserBody.id).toBe(winnerBody.id);
  expect(loserBody.callId).toBeNull();
  expect(winnerBody.callId).toBe('race-call-0001');
  expect(creates()).toBe(before + 1);
});

test.each([
  ['busy', { state: 'terminated', resultInfo: { code: 486, subcode: 0, message: 'Busy here.' } }, 'busy'],
  [
    'not answered',
    { state: 'terminated', resultInfo: { code: 480, subcode: 0, message: 'no answer' } },
    'notAnswered',
  ],
  [
    'declined',
    { state: 'terminated', resultInfo: { code: 603, subcode: 0, message: 'Declined' } },
    'declined',
  ],
])('a %s call ends with that outcome', async (_what, update, outcome) => {
  const res = await place({ from: '+14255550100', to: '+12065550150' });
  const { id, callId } = (await res.json()) as { id: string; callId: string };
  await bot.notify(callUpdate(callId, update, 'deleted'), undefined, `ctx=${id}`);
  expect(await status(id)).toMatchObject({
    state: 'ended',
    outcome,
    from: '+14255550100',
    to: '+12065550150',
    attempts: [{ n: 1, callId, outcome, code: update.resultInfo.code }],
  });
});

test('an answered call reports its digits; the call record names from and to', async () => {
  const res = await place({ from: '+14255550100', to: '+12065550151' });
  const { id, callId } = (await res.json()) as { id: string; callId: string };
  await bot.notify(callUpdate(callId, { state: 'established' }), undefined, `ctx=${id}`);
  expect(await status(id)).toMatchObject({ state: 'established', outcome: null });
  await bot.notify(
    callUpdate(callId, { state: 'terminated', resultInfo: { code: 200, subcode: 540000 } }, 'deleted'),
    undefined,
    `ctx=${id}`,
  );
  expect(await status(id)).toMatchObject({ state: 'ended', outcome: 'answered', digits: [], recordings: [] });
  const record = (await (await fetch(`${bot.host.url}/api/calls/${callId}`)).json()) as Record<
    string,
    unknown
  >;
  expect(record).toMatchObject({
    direction: 'outgoing',
    from: '+14255550100',
    to: '+12065550151',
    caller: '+14255550100',
  });
});

test('a refused create call ends the outbound call as failed, with Graph’s code', async () => {
  bot.graph.responders.push((r) =>
    r.action === 'create'
      ? { status: 403, body: { error: { code: 'Forbidden', message: 'no permission' } } }
      : undefined,
  );
  const res = await fetch(`${bot.host.url}/api/outbound-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'refused-1' },
    body: JSON.stringify({ from: '+14255550100', to: '+12065550152' }),
  });
  bot.graph.responders.pop();
  expect(res.status).toBe(502);
  const again = await placeKeyed('refused-1', '+12065550152');
  const { id } = (await again.json()) as { id: string };
  expect(await status(id)).toMatchObject({
    state: 'ended',
    outcome: 'failed',
    attempts: [{ outcome: 'failed', code: 403 }],
  });
  expect(await (await fetch(`${bot.host.url}/api/outbound-calls/${'x'.repeat(43)}`)).status).toBe(404);
});

test('variables the flow declares are validated, and choose the prompt', async () => {
  const before = creates();
  for (const [variables, message] of [
    [{ ticket: 'INC-1' }, /^variables\.severity: required/],
    [{ severity: 'medium' }, /^variables\.severity: does not match high\|low/],
    [{ severity: 'high', other: 'x' }, /^variables\.other: not declared/],
    [{ severity: 'high', ticket: 'inc 1' }, /^variables\.ticket: does not match/],
  ] as const) {
    const res = await place({ from: '+14255550111', to: '+12065550160', variables });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  }
  expect(creates()).toBe(before);
  const res = await place({
    from: '+14255550111',
    to: '+12065550160',
    variables: { severity: 'high', ticket: 'INC-7' },
  });
  expect(res.status).toBe(202);
  const { id, callId } = (await res.json()) as { id: string; callId: string };
  await bot.notify(callUpdate(callId, { state: 'established' }), undefined, `ctx=${id}`);
  const play = bot.graph.requests.filter((r) => r.callId === callId && r.action === 'playPrompt');
  expect(JSON.stringify(play[0]!.body)).toContain('urgent.wav');
  expect(await status(id)).toMatchObject({ variables: { severity: 'high', ticket: 'INC-7' } });
});

test('a callbackUrl is refused, naming the setting, when the app has no webhook secret', async () => {
  const before = creates();
  const res = await place({
    from: '+14255550100',
    to: '+12065550161',
    callbackUrl: 'https://hooks.example.com/x',
  });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { code: string; message: string } }).error).toEqual({
    code: 'WebhooksNotConfigured',
    message: 'callbackUrl: this app sends no webhooks: its IVR_WEBHOOK_SECRET setting is not set',
  });
  expect(creates()).toBe(before);
});
