import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../sim/stack';

/**
 * The bot's keepAlive timer keeps a long call alive on the platform; without it the call
 * lapses (408/8537) and the bot closes its context. The lapse window is shortened to 60
 * simulated seconds (3 s of real time) so the test runs in seconds.
 */

const LAPSE = 60;
const HOLD = '+14255550160';
let stack: Stack;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ivr-hold-'));
  // A caller waiting in a menu whose real-time no-input wait outlasts the test.
  writeFileSync(
    join(dir, 'hold.json'),
    JSON.stringify({
      number: HOLD,
      prompts: { menu: 'https://media.example.com/menu.wav' },
      default: { type: 'answer', start: 'menu' },
      nodes: {
        menu: {
          type: 'menu',
          prompt: 'menu',
          options: { '1': 'bye' },
          noInputTimeoutSeconds: 60,
          fallback: 'bye',
        },
        bye: { type: 'hangup' },
      },
    }),
  );
  stack = await startStack({
    flowsDir: dir,
    sim: { timeScale: 0.05, seed: 3, keepAliveLapseSeconds: LAPSE },
  });
}, 60_000);
afterAll(() => stack?.stop());

const keepAliveRun = () =>
  fetch(`${stack.bots[0]!.url}/admin/functions/keepAlive`, { method: 'POST', body: '{}' });

test('keepAlive from the bot holds the call past the lapse; without it the call lapses and the bot closes it', async () => {
  const { callId, done } = stack.sim.placeCall({ from: '+12065550123', to: HOLD, actions: [] });
  // The bot knows the call is established once it plays the menu.
  await stack.sim.waitFor(
    () => stack.sim.requests.some((r) => r.callId === callId && r.path.endsWith('/playPrompt')),
    10_000,
  );
  // 2.5 lapse windows of simulated time, with the bot's keepAlive run every third of a window.
  for (let i = 0; i < 8; i++) {
    expect((await keepAliveRun()).status).toBe(202);
    await new Promise((r) => setTimeout(r, (LAPSE / 3) * 50));
  }
  expect(stack.sim.call(callId)?.state).toBe('established');
  const kept = stack.sim.requests.filter(
    (r) => r.callId === callId && r.path.endsWith('/keepAlive') && r.status === 200,
  );
  expect(kept.length).toBeGreaterThanOrEqual(8);

  const summary = await done; // no more keepAlive: the platform ends the call
  expect([summary.resultInfo.code, summary.resultInfo.subcode]).toEqual([408, 8537]);
  const record = await stack.sim.waitFor(async () => (await stack.callRecord(callId)) ?? undefined, 10_000);
  expect(record).toMatchObject({ callId, result: { code: 408, subcode: 8537 }, nodesVisited: ['menu'] });
}, 60_000);
