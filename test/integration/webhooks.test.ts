import { createHmac } from 'node:crypto';
import { QueueClient } from '@azure/storage-queue';
import { startBotHarness, type BotHarness } from '../support/botHarness';
import { getApp } from '../../shared/app';
import type { WebhookJob, WebhookOutcome } from '../../shared/webhooks/delivery';
import { WebhookError } from '../../shared/webhooks/outbox';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../support/webhookReceiver';

/**
 * Webhook deliveries through the real queue function and Azurite, to a receiver on loopback
 * (IVR_LOCAL_DEV_HTTP): signed, retried with backoff, poisoned after the last attempt.
 */

const SECRET = 'test-webhook-secret-0123456789abcdef';

type Received = ReceivedHook;

let bot: BotHarness;
let receiver: WebhookReceiver | undefined;
let receiverUrl: string;
const received: Received[] = [];
/** What the receiver answers next (status codes, or 'hang' to never answer); 200 when empty. */
const answers: Array<number | 'hang'> = [];
const outcomes: Array<{ key: string; outcome: WebhookOutcome }> = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver(received, answers);
  receiverUrl = `${receiver.url}/hooks/ivr`;
  bot = await startBotHarness({
    env: { IVR_WEBHOOK_SECRET: SECRET, IVR_WEBHOOK_TIMEOUT_MS: '1000' },
  });
  getApp().webhooks.onOutcome(
    'test',
    async (subject, outcome) => void outcomes.push({ key: subject.key, outcome }),
  );
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await bot?.stop();
});

beforeEach(() => {
  received.length = 0;
  answers.length = 0;
  outcomes.length = 0;
});

function job(id: string, attempt: number, url = receiverUrl): WebhookJob {
  return {
    id,
    event: 'outbound.completed',
    url,
    body: JSON.stringify({
      id,
      event: 'outbound.completed',
      createdAt: '2026-11-22T10:00:00.000Z',
      data: { n: 1 },
    }),
    attempt,
    subject: { kind: 'test', key: id },
  };
}

/** Runs the queue function on one message, as Core Tools' admin endpoint does. */
async function runOnce(message: WebhookJob): Promise<void> {
  const res = await fetch(`${bot.host.url}/admin/functions/webhooks`, {
    method: 'POST',
    body: JSON.stringify({ input: JSON.stringify(message) }),
  });
  expect(res.status).toBe(202);
}

const hmac = (ts: string, body: string) =>
  `v1=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;

async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a queued delivery reaches the receiver once, signed over timestamp and body, with its id and event', async () => {
  await getApp().webhooks.send({
    id: 'delivery-0001',
    event: 'outbound.completed',
    url: receiverUrl,
    data: { outboundCallId: 'o-1', outcome: 'answered' },
    subject: { kind: 'test', key: 'delivery-0001' },
    createdAt: '2026-11-22T10:00:00.000Z',
  });
  await waitFor('the outcome', () => outcomes.length === 1);
  expect(received).toHaveLength(1);
  const [{ headers, body }] = received as [Received];
  expect(JSON.parse(body)).toEqual({
    id: 'delivery-0001',
    event: 'outbound.completed',
    createdAt: '2026-11-22T10:00:00.000Z',
    data: { outboundCallId: 'o-1', outcome: 'answered' },
  });
  expect(headers['content-type']).toBe('application/json');
  expect(headers['x-ivr-delivery-id']).toBe('delivery-0001');
  expect(headers['x-ivr-event']).toBe('outbound.completed');
  const ts = String(headers['x-ivr-timestamp']);
  expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
  expect(headers['x-ivr-signature']).toBe(hmac(ts, body));
  expect(outcomes).toEqual([
    {
      key: 'delivery-0001',
      outcome: expect.objectContaining({ status: 'delivered', attempts: 1, httpStatus: 200 }),
    },
  ]);
}, 30_000);

test('a failed attempt queues the next one after the backoff, with the same id and body; the retry is delivered', async () => {
  const retry = jest.spyOn(getApp().webhooks, 'retry').mockResolvedValue(undefined);
  try {
    answers.push(503);
    await runOnce(job('delivery-0002', 1));
    expect(retry).toHaveBeenCalledTimes(1);
    expect(retry).toHaveBeenCalledWith({ ...job('delivery-0002', 1), attempt: 2 }, 10);
    expect(outcomes).toEqual([]);
    await runOnce(job('delivery-0002', 2));
    expect(received.map((r) => r.headers['x-ivr-delivery-id'])).toEqual(['delivery-0002', 'delivery-0002']);
    expect(received[0]!.body).toBe(received[1]!.body);
    expect(outcomes).toEqual([
      { key: 'delivery-0002', outcome: expect.objectContaining({ status: 'delivered', attempts: 2 }) },
    ]);
    // The later attempts wait longer.
    answers.push(500);
    await runOnce(job('delivery-0003', 4));
    expect(retry).toHaveBeenLastCalledWith({ ...job('delivery-0003', 4), attempt: 5 }, 1800);
  } finally {
    retry.mockRestore();
  }
}, 30_000);

test('after the last attempt the delivery is kept in the poison queue and its subject hears it failed', async () => {
  answers.push(502);
  await runOnce(job('delivery-0004', 6));
  expect(outcomes).toEqual([
    {
      key: 'delivery-0004',
      outcome: expect.objectContaining({
        status: 'failed',
        attempts: 6,
        httpStatus: 502,
        reason: 'gave up after 6 attempts: receiver answered 502',
      }),
    },
  ]);
  const poison = new QueueClient(bot.azurite.connectionString, 'ivr-webhooks-poison');
  const kept = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems
    .map(
      (m) =>
        JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as WebhookJob & { reason: string },
    )
    .filter((m) => m.id === 'delivery-0004');
  expect(kept).toEqual([
    { ...job('delivery-0004', 6), reason: 'gave up after 6 attempts: receiver answered 502' },
  ]);
}, 30_000);

test('410 Gone ends the delivery at once; a receiver that never answers is retried after the timeout', async () => {
  const retry = jest.spyOn(getApp().webhooks, 'retry').mockResolvedValue(undefined);
  try {
    answers.push(410);
    await runOnce(job('delivery-0005', 1));
    expect(retry).not.toHaveBeenCalled();
    expect(outcomes).toEqual([
      {
        key: 'delivery-0005',
        outcome: expect.objectContaining({
          status: 'failed',
          attempts: 1,
          reason: 'receiver answered 410 Gone',
        }),
      },
    ]);
    answers.push('hang');
    await runOnce(job('delivery-0006', 1));
    expect(retry).toHaveBeenCalledWith({ ...job('delivery-0006', 1), attempt: 2 }, 10);
  } finally {
    retry.mockRestore();
  }
}, 30_000);

test('a delivery to a private address is refused without connecting; sending one is refused up front', async () => {
  await runOnce(job('delivery-0007', 1, 'https://10.0.0.7/hook'));
  expect(received).toEqual([]);
  expect(outcomes).toEqual([
    {
      key: 'delivery-0007',
      outcome: expect.objectContaining({
        status: 'failed',
        reason: 'callback URL must not point at a private address',
      }),
    },
  ]);
  await expect(
    getApp().webhooks.send({
      id: 'delivery-0008',
      event: 'outbound.completed',
      url: 'https://169.254.169.254/latest/meta-data',
      data: {},
      createdAt: new Date().toISOString(),
    }),
  ).rejects.toThrow(new WebhookError('callbackUrl must not point at a cloud metadata address'));
}, 30_000);

test('a malformed delivery message is dropped, not retried', async () => {
  const retry = jest.spyOn(getApp().webhooks, 'retry').mockResolvedValue(undefined);
  try {
    await runOnce({ ...job('delivery-0009', 1), attempt: 0 });
    expect(received).toEqual([]);
    expect(retry).not.toHaveBeenCalled();
  } finally {
    retry.mockRestore();
  }
}, 30_000);
