import { createHmac } from 'node:crypto';
import {
  actionOf,
  actionsOf,
  expectCleanRequests,
  explain,
  FRONT_DESK,
  promptsPlayed,
  startDemoStack,
  type E2eStack,
} from './support';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../support/webhookReceiver';

/**
 * Outbound calls through the simulator, each outcome end to end: the compiled bot in its own
 * process, Azurite, the Graph simulator ringing PSTN numbers, Teams users and meetings, and a
 * webhook receiver on loopback. The front desk's flow redials no answer and busy: 3 attempts,
 * 30 s apart (its timers follow the simulator's time scale).
 */

const SECRET = 'e2e-outbound-webhook-secret-0123456789';
const ACKNOWLEDGES = '+12065550180';
const ANSWERS_THE_REDIAL = '+12065550181';
const ALWAYS_BUSY = '+12065550182';
const DECLINING_USER = '3c1b8e2a-5d4f-4a6b-9c8d-7e6f5a4b3c2d';
const MEETING_ID = '9876543210';
const acknowledge = {
  answerAfter: 1,
  actions: [{ waitFor: 'promptEnd' as const }, { after: 0.5, press: '1' }],
};

type Received = ReceivedHook;
let stack: E2eStack;
let receiver: WebhookReceiver | undefined;
let hookUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver(received);
  hookUrl = `${receiver.url}/alerts`;
  stack = await startDemoStack({
    scaleBotTimers: true,
    botEnv: { IVR_WEBHOOK_SECRET: SECRET },
    sim: {
      seed: 11,
      targets: {
        [ACKNOWLEDGES]: acknowledge,
        // Rings out the first time, answers the redial.
        [ANSWERS_THE_REDIAL]: [{ never: true }, acknowledge],
        [ALWAYS_BUSY]: { busy: true },
        [DECLINING_USER]: { decline: 2 },
      },
    },
  });
}, 90_000);

afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

type Status = Record<string, unknown> & {
  state: string;
  callId: string | null;
  attempts: Array<{ n: number; callId: string | null; outcome: string | null; code?: number }>;
  webhook: { status: string; attempts: number; deliveryId: string } | null;
};

async function place(to: unknown): Promise<string> {
  const res = await fetch(`${stack.bots[0]!.url}/api/outbound-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: FRONT_DESK, to, callbackUrl: hookUrl }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Waits until the call's outcome webhook has been delivered; its final status. */
async function settled(id: string, ms = 45_000): Promise<Status> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${stack.bots[0]!.url}/api/outbound-calls/${id}`);
    const status = (await res.json()) as Status;
    if (status.webhook?.status === 'delivered') return status;
    if (Date.now() > until) throw new Error(`outbound call not settled: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The webhooks received for a call: signature checked with node:crypto, body parsed. */
function webhooksOf(id: string): Array<{ id: string; event: string; data: Record<string, unknown> }> {
  return received
    .filter((r) => r.headers['x-ivr-delivery-id'] === `outbound.${id}.completed`)
    .map((r) => {
      const ts = String(r.headers['x-ivr-timestamp']);
      const expected = `v1=${createHmac('sha256', SECRET).update(`${ts}.${r.body}`).digest('hex')}`;
      expect(r.headers['x-ivr-signature']).toBe(expected);
      return JSON.parse(r.body) as { id: string; event: string; data: Record<string, unknown> };
    });
}

const creates = () => stack.sim.requests.filter((r) => actionOf(r) === 'create');

test('answered and acknowledged with 1: outcome answered, one signed webhook', async () => {
  const id = await place(ACKNOWLEDGES);
  const status = await settled(id);
  await explain(stack, [status.callId!], async () => {
    expect(status).toMatchObject({
      state: 'ended',
      outcome: 'answered',
      to: ACKNOWLEDGES,
      digits: ['1'],
      nodesVisited: ['reminder', 'goodbye'],
      attempts: [{ n: 1, callId: status.callId, outcome: 'answered' }],
      webhook: { status: 'delivered', attempts: 1 },
    });
    expect(actionsOf(stack.sim, status.callId!)).toEqual([
      'subscribeToTone',
      'playPrompt',
      'playPrompt',
      'DELETE',
    ]);
    expect(promptsPlayed(stack.sim, status.callId!)).toEqual(['appointment-reminder.wav', 'goodbye.wav']);
    const hooks = webhooksOf(id);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({
      event: 'outboundCall.completed',
      data: { id, outcome: 'answered', digits: ['1'] },
    });
  });
}, 60_000);

test('not answered, redialled 30 s later, then acknowledged: two attempts, one webhook', async () => {
  const id = await place(ANSWERS_THE_REDIAL);
  const status = await settled(id);
  const ids = status.attempts.map((a) => a.callId!);
  await explain(stack, ids, async () => {
    expect(status).toMatchObject({ state: 'ended', outcome: 'answered', digits: ['1'] });
    expect(status.attempts.map((a) => [a.n, a.outcome, a.code])).toEqual([
      [1, 'notAnswered', 480],
      [2, 'answered', 200],
    ]);
    expect(new Set(ids).size).toBe(2);
    const toCallee = creates().filter((r) => JSON.stringify(r.body).includes(ANSWERS_THE_REDIAL));
    expect(toCallee).toHaveLength(2);
    expectCleanRequests(toCallee);
    const hooks = webhooksOf(id);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.data).toMatchObject({ outcome: 'answered', attempts: [{ n: 1 }, { n: 2 }] });
  });
}, 60_000);

test('busy on every attempt: three attempts, outcome busy, the webhook after the last', async () => {
  const id = await place(ALWAYS_BUSY);
  const status = await settled(id);
  expect(status).toMatchObject({ state: 'ended', outcome: 'busy', digits: [] });
  expect(status.attempts.map((a) => [a.n, a.outcome, a.code])).toEqual([
    [1, 'busy', 486],
    [2, 'busy', 486],
    [3, 'busy', 486],
  ]);
  const hooks = webhooksOf(id);
  expect(hooks).toHaveLength(1);
  expect(hooks[0]!.data).toMatchObject({ outcome: 'busy' });
}, 60_000);

test('a Teams user who declines: outcome declined at once (declining is not redialled)', async () => {
  const id = await place({ user: DECLINING_USER });
  const status = await settled(id);
  expect(status).toMatchObject({
    state: 'ended',
    outcome: 'declined',
    to: `user:${DECLINING_USER}`,
    attempts: [{ n: 1, outcome: 'declined', code: 603 }],
  });
  const create = creates().find((r) => JSON.stringify(r.body).includes(DECLINING_USER))!;
  expect(create.issues).toEqual([]);
  expect(create.body).toMatchObject({ targets: [{ identity: { user: { id: DECLINING_USER } } }] });
  expect(webhooksOf(id)).toHaveLength(1);
}, 60_000);

test('a meeting join: the bot joins by meeting id, plays into the meeting, leaves; outcome answered', async () => {
  const id = await place({ meeting: { joinMeetingId: MEETING_ID, passcode: 'xyz123' } });
  const status = await settled(id);
  await explain(stack, [status.callId!], async () => {
    expect(status).toMatchObject({ state: 'ended', outcome: 'answered', to: `meeting:${MEETING_ID}` });
    // Nobody presses a key in the meeting: the menu gives up and says goodbye.
    expect(promptsPlayed(stack.sim, status.callId!)[0]).toBe('appointment-reminder.wav');
    expect(promptsPlayed(stack.sim, status.callId!).at(-1)).toBe('goodbye.wav');
    expect(actionsOf(stack.sim, status.callId!).at(-1)).toBe('DELETE');
    const create = creates().find((r) => JSON.stringify(r.body).includes(MEETING_ID))!;
    expect(create.issues).toEqual([]);
    expect(create.body).not.toHaveProperty('targets');
    expect(webhooksOf(id)).toHaveLength(1);
  });
}, 60_000);
