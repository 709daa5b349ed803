import { startBotHarness, callUpdate, type BotHarness } from '../support/botHarness';

/** POST /api/outbound-calls: a create-call request that conforms to the CSDL, then the flow's outbound entry. */

let bot: BotHarness;
beforeAll(async () => {
  bot = await startBotHarness();
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
