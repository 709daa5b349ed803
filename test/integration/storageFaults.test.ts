import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSplitAzurite, type SplitAzurite } from '../../sim/azurite';
import {
  callUpdate,
  incomingCall,
  operationDone,
  startBotHarness,
  type BotHarness,
} from '../support/botHarness';

/**
 * Storage faults made real: Azurite's services as their own processes, stalled with SIGSTOP or
 * killed and restarted on the same port and data folder. A notification that storage cannot
 * serve gets 503 within the deadline (the platform redelivers it), changes nothing half-way,
 * and its redelivery finishes the job: each Graph request once, no caller left in silence.
 */

const LINE = '+14255550133';
const flow = {
  number: LINE,
  prompts: { hello: 'https://media.example.com/hello.wav', menu: 'https://media.example.com/menu.wav' },
  default: { type: 'answer', start: 'hello' },
  nodes: {
    hello: { type: 'play', prompts: ['hello'], next: 'menu' },
    menu: {
      type: 'menu',
      prompt: 'menu',
      options: { '1': 'bye' },
      noInputTimeoutSeconds: 1,
      maxAttempts: 2,
      fallback: 'bye',
    },
    bye: { type: 'hangup' },
  },
};

let dir: string;
let azurite: SplitAzurite;
let bot: BotHarness;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ivr-azurite-'));
  bot = await startBotHarness({
    flows: { 'faults.json': flow },
    azurite: async () => (azurite = await startSplitAzurite(dir)),
    // The deadline comes before the storage timeout: a stalled request is cut by the deadline.
    env: { IVR_NOTIFICATION_DEADLINE_MS: '1000', IVR_STORAGE_TIMEOUT_MS: '3000' },
  });
  // A first call creates the tables and the key secret, as in a running deployment.
  const warm = await bot.notify(incomingCall('warm-0000-0000', { to: LINE }));
  expect(warm.status).toBe(202);
}, 60_000);
afterAll(async () => {
  await bot?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const newCallId = () => `sf${(++n).toString(16).padStart(6, '0')}-aaaa-bbbb-cccc-ddddeeeeffff`;
const actions = (callId: string) =>
  bot.graph.requests.filter((r) => r.callId === callId).map((r) => r.action);
const lastOp = (callId: string, action: string) =>
  bot.graph.requests.filter((r) => r.callId === callId && r.action === action).pop()!;

async function waitFor(what: string, probe: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** Long enough for the writer that gave up to have looked again (its first two checks). */
const settle = () => new Promise((r) => setTimeout(r, 2000));

async function completed(callId: string, action: string) {
  const op = lastOp(callId, action);
  return bot.notify(
    operationDone(callId, `op-${Math.random().toString(16).slice(2)}`, {
      status: 'completed',
      clientContext: (op.body as { clientContext: string }).clientContext,
    }),
  );
}

test('a stalled table answers 503 within the deadline; the redelivery answers the call exactly once', async () => {
  const callId = newCallId();
  azurite.services.table.pause();
  let res: Response;
  try {
    res = await bot.notify(incomingCall(callId, { to: LINE }));
  } finally {
    azurite.services.table.resume();
  }
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('1');
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ServiceUnavailable');
  expect(actions(callId)).toEqual([]);
  const again = await bot.notify(incomingCall(callId, { to: LINE }));
  expect(again.status).toBe(202);
  await waitFor('the answer', () => actions(callId).includes('answer'));
  await settle();
  expect(actions(callId)).toEqual(['answer']);
});

test('a stalled read of a call in progress answers 503; the redelivery starts the flow once', async () => {
  const callId = newCallId();
  expect((await bot.notify(incomingCall(callId, { to: LINE }))).status).toBe(202);
  azurite.services.table.pause();
  let res: Response;
  try {
    res = await bot.notify(callUpdate(callId, { state: 'established' }));
  } finally {
    azurite.services.table.resume();
  }
  expect(res.status).toBe(503);
  expect((await bot.notify(callUpdate(callId, { state: 'established' }))).status).toBe(202);
  await waitFor('the greeting', () => actions(callId).includes('playPrompt'));
  await settle();
  expect(actions(callId)).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
});

test('a menu timer that cannot be queued fails the notification; after the queue is back the redelivery arms it', async () => {
  const callId = newCallId();
  await bot.notify(incomingCall(callId, { to: LINE }));
  await bot.notify(callUpdate(callId, { state: 'established' }));
  expect((await completed(callId, 'playPrompt')).status).toBe(202); // the greeting ends: the menu prompt plays
  expect(actions(callId)).toEqual(['answer', 'subscribeToTone', 'playPrompt', 'playPrompt']);
  await azurite.services.queue.stop();
  const menuPrompt = lastOp(callId, 'playPrompt');
  const menuDone = operationDone(callId, 'op-menu', {
    status: 'completed',
    clientContext: (menuPrompt.body as { clientContext: string }).clientContext,
  });
  let res: Response;
  try {
    res = await bot.notify(menuDone);
  } finally {
    await azurite.services.queue.start();
  }
  expect(res.status).toBe(503);
  // As the platform does: redeliver until accepted (the queue client reconnects on the way).
  const statuses: number[] = [];
  for (let i = 0; i < 10 && statuses.at(-1) !== 202; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 500));
    statuses.push((await bot.notify(menuDone)).status);
  }
  expect(statuses.at(-1)).toBe(202);
  expect(new Set(statuses.slice(0, -1))).toEqual(new Set(statuses.length > 1 ? [503] : []));
  // The no-input timer fires a second later: the caller hears the menu again rather than silence.
  await waitFor('the re-prompt', () => actions(callId).filter((a) => a === 'playPrompt').length === 3);
}, 30_000);
