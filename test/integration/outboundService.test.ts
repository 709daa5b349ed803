import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp, getApp } from '../../shared/app';
import { loadSettings } from '../../shared/config/settings';
import { OutboundRefusal } from '../../shared/ivr/callService';
import type { Logger } from '../../shared/logging';
import { callUpdate, REPO, startBotHarness, type BotHarness } from '../support/botHarness';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../support/webhookReceiver';

/**
 * Outbound calls as a service, issue 11's open parts, against Azurite and the local host:
 * the outcome webhook (queued before the ending is stored, delivered once, signed, retried),
 * redials driven by the timer queue, and the per-number protections across two instances.
 */

const SECRET = 'outbound-webhook-secret-0123456789abcdef';
const REDIAL_NUMBER = '+14255550121';
const CAPPED_NUMBER = '+14255550122';
const RATED_NUMBER = '+14255550123';
const UK_ONLY_NUMBER = '+14255550124';
const SLOW_REDIAL_NUMBER = '+14255550125';

function flow(number: string, outbound: Record<string, unknown>) {
  const base = JSON.parse(readFileSync(join(REPO, 'flows', 'contoso-main.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return {
    ...base,
    number,
    // Each number its own resource account.
    applicationInstanceId: `0e5c3b9a-1111-4e55-9d7b-${number.slice(-12).padStart(12, '0')}`,
    aliases: [],
    outbound: { start: 'reminder', ...outbound },
  };
}

type Received = ReceivedHook;
let bot: BotHarness;
let receiver: WebhookReceiver | undefined;
let hookUrl: string;
const received: Received[] = [];
/** What the receiver answers next; 200 when empty. */
const answers: number[] = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver(received, answers);
  hookUrl = `${receiver.url}/hooks/outbound`;
  bot = await startBotHarness({
    env: { IVR_WEBHOOK_SECRET: SECRET },
    flows: {
      'redial.json': flow(REDIAL_NUMBER, {
        redial: { on: ['notAnswered', 'busy'], maxAttempts: 2, delaySeconds: 1 },
      }),
      'capped.json': flow(CAPPED_NUMBER, { limits: { maxConcurrentCalls: 2 } }),
      'rated.json': flow(RATED_NUMBER, { limits: { maxCallsPerMinute: 2 } }),
      'uk.json': flow(UK_ONLY_NUMBER, { allowedPrefixes: ['+44'] }),
      'slow.json': flow(SLOW_REDIAL_NUMBER, { redial: { on: ['busy'], maxAttempts: 3, delaySeconds: 600 } }),
    },
  });
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await bot?.stop();
});

beforeEach(() => {
  received.length = 0;
  answers.length = 0;
});

const place = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${bot.host.url}/api/outbound-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const status = async (id: string) =>
  (await (await fetch(`${bot.host.url}/api/outbound-calls/${id}`)).json()) as Record<string, unknown> & {
    attempts: Array<{ n: number; callId: string | null; outcome: string | null }>;
    webhook: Record<string, unknown> | null;
  };
const creates = () => bot.graph.requests.filter((r) => r.action === 'create');
const end = (id: string, callId: string, resultInfo: Record<string, unknown>) =>
  bot.notify(callUpdate(callId, { state: 'terminated', resultInfo }, 'deleted'), undefined, `ctx=${id}`);

async function waitFor<T>(what: string, check: () => T | Promise<T>, ms = 15_000): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hmac = (ts: string, body: string) =>
  `v1=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;

test('the outcome webhook is delivered once, signed, after the call ends; GET shows it delivered', async () => {
  const res = await place({ from: '+14255550100', to: '+12065550170', callbackUrl: hookUrl });
  expect(res.status).toBe(202);
  const { id, callId } = (await res.json()) as { id: string; callId: string };
  await bot.notify(callUpdate(callId, { state: 'established' }), undefined, `ctx=${id}`);
  const ended = { code: 200, subcode: 540000, message: 'callee hung up' };
  // The platform delivers the ending twice, to two places at once: one delivery.
  await Promise.all([end(id, callId, ended), end(id, callId, ended)]);
  const webhook = await waitFor('the delivery outcome', async () => {
    const s = await status(id);
    return s.webhook?.status === 'delivered' ? s.webhook : null;
  });
  expect(webhook).toEqual({
    deliveryId: `outbound.${id}.completed`,
    event: 'outboundCall.completed',
    status: 'delivered',
    attempts: 1,
    at: expect.any(String),
    httpStatus: 200,
  });
  expect(received).toHaveLength(1);
  const [hit] = received;
  const ts = String(hit!.headers['x-ivr-timestamp']);
  expect(hit!.headers['x-ivr-signature']).toBe(hmac(ts, hit!.body));
  expect(hit!.headers['x-ivr-delivery-id']).toBe(`outbound.${id}.completed`);
  expect(hit!.headers['x-ivr-event']).toBe('outboundCall.completed');
  expect(JSON.parse(hit!.body)).toMatchObject({
    id: `outbound.${id}.completed`,
    event: 'outboundCall.completed',
    data: {
      id,
      from: '+14255550100',
      to: '+12065550170',
      outcome: 'answered',
      attempts: [{ n: 1, callId, outcome: 'answered' }],
      nodesVisited: ['reminder'],
    },
  });
});

test('a failed webhook delivery is retried with the same id and body, and GET says it was delivered at attempt 2', async () => {
  const webhooks = getApp().webhooks;
  const original = webhooks.retry.bind(webhooks);
  // The real queue and function, without the 10 s backoff.
  const retry = jest.spyOn(webhooks, 'retry').mockImplementation((job) => original(job, 0));
  try {
    answers.push(500);
    const res = await place({ from: '+14255550100', to: '+12065550171', callbackUrl: hookUrl });
    const { id, callId } = (await res.json()) as { id: string; callId: string };
    await end(id, callId, { code: 486, subcode: 0, message: 'Busy here' });
    const webhook = await waitFor('the retried delivery', async () => {
      const s = await status(id);
      return s.webhook?.status === 'delivered' ? s.webhook : null;
    });
    expect(webhook).toMatchObject({ status: 'delivered', attempts: 2, httpStatus: 200 });
    expect(retry).toHaveBeenCalledTimes(1);
    expect(received.map((r) => r.headers['x-ivr-delivery-id'])).toEqual([
      `outbound.${id}.completed`,
      `outbound.${id}.completed`,
    ]);
    expect(received[1]!.body).toBe(received[0]!.body);
    expect(JSON.parse(received[0]!.body).data).toMatchObject({ outcome: 'busy' });
  } finally {
    retry.mockRestore();
  }
});

test('a webhook its writer could not queue (the queue away) is queued by its check timer, once', async () => {
  const webhooks = getApp().webhooks;
  const send = jest.spyOn(webhooks, 'send').mockRejectedValueOnce(new Error('queue unavailable'));
  try {
    const res = await place({ from: '+14255550100', to: '+12065550174', callbackUrl: hookUrl });
    const { id, callId } = (await res.json()) as { id: string; callId: string };
    // The ending is stored (202): only the webhook waits.
    expect((await end(id, callId, { code: 603, subcode: 0, message: 'Declined' })).status).toBe(202);
    expect(await status(id)).toMatchObject({
      state: 'ended',
      outcome: 'declined',
      webhook: { status: 'pending' },
    });
    const row = await bot.table().getEntity<{ data: string }>(`c_${id}`, 'ctx');
    const timerId = (JSON.parse(row.data) as { outbound: { webhook: { checkTimerId: string } } }).outbound
      .webhook.checkTimerId;
    const fire = () =>
      fetch(`${bot.host.url}/admin/functions/ivrTimers`, {
        method: 'POST',
        body: JSON.stringify({ input: JSON.stringify({ clientContext: id, timerId }) }),
      });
    expect((await fire()).status).toBe(202);
    const webhook = await waitFor('the delivery', async () => {
      const s = await status(id);
      return s.webhook?.status === 'delivered' ? s.webhook : null;
    });
    expect(webhook).toMatchObject({ deliveryId: `outbound.${id}.completed`, attempts: 1 });
    // The timer again (a redelivered message): already queued, nothing more is sent.
    expect((await fire()).status).toBe(202);
    expect(send).toHaveBeenCalledTimes(2);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!.body).data).toMatchObject({ id, outcome: 'declined' });
  } finally {
    send.mockRestore();
  }
});

test('not answered, then redialled from the timer queue; the webhook only after the last attempt', async () => {
  const res = await place({ from: REDIAL_NUMBER, to: '+12065550172', callbackUrl: hookUrl });
  const { id, callId } = (await res.json()) as { id: string; callId: string };
  const before = creates().length;
  await end(id, callId, { code: 480, subcode: 0, message: 'no answer' });
  expect(await status(id)).toMatchObject({
    state: 'redialWait',
    outcome: null,
    redialAt: expect.any(String),
    attempts: [{ n: 1, callId, outcome: 'notAnswered' }],
    webhook: null,
  });
  // The redial timer (1 s) comes back through the queue and places attempt 2, from the same number.
  const second = await waitFor('the redial', async () => {
    const s = await status(id);
    return s.attempts.length === 2 && s.callId ? s : null;
  });
  expect(creates()).toHaveLength(before + 1);
  expect(creates().at(-1)!.issues).toEqual([]);
  expect(creates().at(-1)!.body).toMatchObject({
    callbackUri: `https://bot.contoso.com/api/calls?ctx=${id}`,
    targets: [{ identity: { phone: { id: '+12065550172' } } }],
  });
  const secondCallId = second.callId as string;
  expect(secondCallId).not.toBe(callId);
  // A late repeat of attempt 1's ending changes nothing now.
  await end(id, callId, { code: 480, subcode: 0, message: 'no answer' });
  expect((await status(id)).state).toBe('dialing');
  expect(received).toEqual([]);
  await end(id, secondCallId, { code: 486, subcode: 0, message: 'Busy here' });
  const final = await waitFor('the final outcome webhook', async () => {
    const s = await status(id);
    return s.webhook?.status === 'delivered' ? s : null;
  });
  expect(final).toMatchObject({
    state: 'ended',
    outcome: 'busy',
    attempts: [
      { n: 1, callId, outcome: 'notAnswered' },
      { n: 2, callId: secondCallId, outcome: 'busy' },
    ],
  });
  expect(received).toHaveLength(1);
  expect(JSON.parse(received[0]!.body).data.attempts).toHaveLength(2);
});

test('a redial timer delivered twice, to two instances at once, dials once', async () => {
  const res = await place({ from: SLOW_REDIAL_NUMBER, to: '+12065550173' });
  const { id, callId } = (await res.json()) as { id: string; callId: string };
  await end(id, callId, { code: 486, subcode: 0, message: 'Busy here' });
  const waiting = await status(id);
  expect(waiting.state).toBe('redialWait');
  // The queued timer is 10 minutes away; its message is handed to the timer function twice, now.
  const row = await bot.table().getEntity<{ data: string }>(`c_${id}`, 'ctx');
  const timerId = (JSON.parse(row.data) as { outbound: { redialTimerId: string } }).outbound.redialTimerId;
  const before = creates().length;
  const fire = () =>
    fetch(`${bot.host.url}/admin/functions/ivrTimers`, {
      method: 'POST',
      body: JSON.stringify({ input: JSON.stringify({ clientContext: id, timerId }) }),
    });
  const answersOf = await Promise.all([fire(), fire()]);
  expect(answersOf.map((r) => r.status)).toEqual([202, 202]);
  await waitFor('attempt 2', async () => (await status(id)).attempts.length === 2);
  expect(creates()).toHaveLength(before + 1);
  expect((await fire()).status).toBe(202);
  expect(creates()).toHaveLength(before + 1);
});

test('the concurrency cap holds across two instances: 429 with Retry-After, a slot comes back when a call ends', async () => {
  const other = createApp(loadSettings(bot.env), { getToken: async () => 'graph-test-token' });
  const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  try {
    const instances = [getApp(), other, getApp(), other];
    const results = await Promise.allSettled(
      instances.map((app, i) => app.calls(quiet).placeCall({ from: CAPPED_NUMBER, to: `+1206555018${i}` })),
    );
    const placed = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as OutboundRefusal] : []));
    expect(placed).toHaveLength(2);
    expect(refused.map((e) => [e.status, e.code, e.headers['retry-after']])).toEqual([
      [429, 'TooManyOutboundCalls', '30'],
      [429, 'TooManyOutboundCalls', '30'],
    ]);
    // Through HTTP: the rule is named, the wait given.
    const res = await place({ from: CAPPED_NUMBER, to: '+12065550189' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /^maxConcurrentCalls: \+14255550122 already has 2 outbound calls in progress/,
    );
    const first = (placed[0] as PromiseFulfilledResult<{ clientContext: string; callId: string }>).value;
    await end(first.clientContext, first.callId, { code: 480, subcode: 0, message: 'no answer' });
    expect((await place({ from: CAPPED_NUMBER, to: '+12065550189' })).status).toBe(202);
  } finally {
    await other.liveFlows.close();
  }
});

test('the rate limit: two calls a minute, the third refused 429 with Retry-After until a share comes back', async () => {
  const results = [];
  for (const to of ['+12065550190', '+12065550191', '+12065550192'])
    results.push(await place({ from: RATED_NUMBER, to }));
  expect(results.map((r) => r.status)).toEqual([202, 202, 429]);
  const refused = results[2]!;
  // Two a minute: the next share is 30 s after the first call, at most.
  const wait = Number(refused.headers.get('retry-after'));
  expect(wait).toBeGreaterThanOrEqual(1);
  expect(wait).toBeLessThanOrEqual(30);
  expect(((await refused.json()) as { error: { code: string; message: string } }).error).toEqual({
    code: 'TooManyOutboundCalls',
    message: `maxCallsPerMinute: ${RATED_NUMBER} may place 2 outbound calls a minute (outbound.limits.maxCallsPerMinute); retry after ${wait} s`,
  });
});

test('a replayed Idempotency-Key is answered even at the limit: it places nothing', async () => {
  const key = { 'idempotency-key': 'rated-replay-1' };
  // The number is at its rate (previous test): a new call is refused, a replay of a placed one is not.
  const refused = await place({ from: RATED_NUMBER, to: '+12065550193' }, key);
  expect(refused.status).toBe(429);
  // The refusal did not take the key: a retry after the wait may still use it.
  expect((await place({ from: RATED_NUMBER, to: '+12065550193' }, key)).status).toBe(429);
  const first = await place({ from: '+14255550100', to: '+12065550194' }, { 'idempotency-key': 'main-1' });
  const again = await place({ from: '+14255550100', to: '+12065550194' }, { 'idempotency-key': 'main-1' });
  expect([first.status, again.status]).toEqual([202, 202]);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
});

test.each([
  [
    { from: UK_ONLY_NUMBER, to: '+12065550195' },
    403,
    'DestinationNotAllowed',
    /^to: \+12065550195 does not start with a prefix allowed by the flow of \+14255550124 \(outbound\.allowedPrefixes\)$/,
  ],
  [
    { from: '+14255550100', to: '+12065550195', callbackUrl: 'https://10.1.2.3/hook' },
    400,
    'BadRequest',
    /^callbackUrl: must not point at /,
  ],
  [
    { from: '+14255550100', to: '+12065550195', callbackUrl: 'https://user:pw@hooks.example.com/x' },
    400,
    'BadRequest',
    /^callbackUrl: must not carry credentials$/,
  ],
  [
    { from: '+14255550100', to: '+12065550195', callbackUrl: 'hooks' },
    400,
    'BadRequest',
    /^callbackUrl: must be an absolute URL$/,
  ],
  [{ from: '+14255550100', to: '+4420' }, 400, 'BadRequest', /^to: /],
])('refused %j: %i %s naming the rule, nothing placed', async (body, code, errorCode, message) => {
  const before = creates().length;
  const res = await place(body);
  expect(res.status).toBe(code);
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  expect(error.code).toBe(errorCode);
  expect(error.message).toMatch(message);
  expect(creates()).toHaveLength(before);
});

test('a UK number is allowed by +44', async () => {
  expect((await place({ from: UK_ONLY_NUMBER, to: '+442071838750' })).status).toBe(202);
});

// The housekeeping sweep (ivrTimers' housekeeping, every few minutes) closes calls idle past
// IVR_STALE_CALL_MINUTES. These run last: a sweep on a clock set ahead closes this file's other
// open calls too. Times are the stored redialAt plus or minus whole minutes, from the test's clock.
describe('the housekeeping sweep and outbound calls waiting to redial', () => {
  const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const IDLE_MINUTES = 5;
  const minutes = (n: number) => n * 60_000;
  const sweepAt = (at: number) =>
    getApp()
      .calls(quiet, { now: () => new Date(at) })
      .sweepStale(IDLE_MINUTES);
  const row = (id: string) => bot.table().getEntity<{ data: string }>(`c_${id}`, 'ctx');

  /** A call to `to` from the slow-redial number, busy at attempt 1: waiting 600 s to redial. */
  async function waitingToRedial(to: string) {
    const res = await place({ from: SLOW_REDIAL_NUMBER, to });
    const { id, callId } = (await res.json()) as { id: string; callId: string };
    await end(id, callId, { code: 486, subcode: 0, message: 'Busy here' });
    const stored = await row(id);
    const { outbound } = JSON.parse(stored.data) as {
      outbound: { redialAt: string; redialTimerId: string };
    };
    return {
      id,
      callId,
      redialAt: Date.parse(outbound.redialAt),
      timerId: outbound.redialTimerId,
      etag: stored.etag,
    };
  }

  test('a call waiting to redial is left alone, though idle past the limit, until its redial is long overdue', async () => {
    const waiting = await waitingToRedial('+12065550196');
    const before = bot.graph.requests.length;
    // 6 minutes after it was stored (idle past 5), the redial due in 4; then 4 minutes overdue,
    // when its timer message may still come.
    await sweepAt(waiting.redialAt - minutes(4));
    await sweepAt(waiting.redialAt + minutes(4));
    expect((await row(waiting.id)).etag).toBe(waiting.etag);
    expect(await status(waiting.id)).toMatchObject({
      state: 'redialWait',
      redialAt: new Date(waiting.redialAt).toISOString(),
      attempts: [{ n: 1, callId: waiting.callId, outcome: 'busy' }],
    });
    // Nothing sent about it: no new attempt, no DELETE of attempt 1.
    expect(
      bot.graph.requests.slice(before).filter((r) => r.action === 'create' || r.callId === waiting.callId),
    ).toEqual([]);
  });

  test('a redial whose timer message was lost is placed by the sweep, once; the message arriving after all places nothing', async () => {
    const waiting = await waitingToRedial('+12065550197');
    // Only this call's: the sweep also redials the previous test's call, overdue by then.
    const dials = () =>
      creates().filter((r) =>
        (r.body as { callbackUri?: string }).callbackUri?.endsWith(`ctx=${waiting.id}`),
      );
    await sweepAt(waiting.redialAt + minutes(IDLE_MINUTES + 1));
    expect(dials()).toHaveLength(2);
    expect(dials()[1]!.issues).toEqual([]);
    expect(dials()[1]!.body).toMatchObject({
      callbackUri: `https://bot.contoso.com/api/calls?ctx=${waiting.id}`,
      targets: [{ identity: { phone: { id: '+12065550197' } } }],
    });
    const redialled = await status(waiting.id);
    expect(redialled).toMatchObject({
      state: 'dialing',
      attempts: [
        { n: 1, callId: waiting.callId, outcome: 'busy' },
        { n: 2, outcome: null },
      ],
    });
    expect(redialled.callId).toEqual(expect.any(String));
    expect(redialled.callId).not.toBe(waiting.callId);
    // The lost message turns up after all, and the sweep runs again: still one redial.
    const fired = await fetch(`${bot.host.url}/admin/functions/ivrTimers`, {
      method: 'POST',
      body: JSON.stringify({
        input: JSON.stringify({ clientContext: waiting.id, timerId: waiting.timerId }),
      }),
    });
    expect(fired.status).toBe(202);
    await sweepAt(waiting.redialAt + minutes(IDLE_MINUTES + 1));
    expect(dials()).toHaveLength(2);
    expect((await status(waiting.id)).attempts).toHaveLength(2);
  });
});
