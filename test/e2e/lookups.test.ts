import { TableClient } from '@azure/data-tables';
import type { CallRecord } from '../../shared/storage/recordStore';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, callRecord, explain, promptsPlayed, startDemoStack, type E2eStack } from './support';

/**
 * http nodes through the whole stack: a caller enters an order number (collect), the bot
 * asks the simulator's scripted order desk off the notification path (the ivr-lookups queue
 * and its function), and the call goes on by the outcome: success (the answer's field into a
 * variable, choosing the prompt), 4xx, 5xx, timeout, an invalid answer, a refused address.
 * The API key comes from an IVR_SECRET_ setting and must never reach the logs or the stored
 * context.
 *
 * Nothing here races the bot's speed: the bot is warm before the first call, the answer
 * deadline is the stack's generous one, the simulator runs at 0.2 (prompts are short instead),
 * and the collect node's waits are long, as no test here is about them (a caller's four keys
 * end it). The http node's timeout is real time, not scaled: 1 s against an order desk that
 * answers after 10 s.
 */

const NUMBER = '+14255550170';
const SECRET = 'sk-live-7f3a9c1e5b2d4f60';
const HOST = 'orders.contoso.example';
let stack: E2eStack;

const media = (name: string) => `https://media.example.com/${name}.wav`;
const PROMPTS = [
  'enter',
  'hold',
  'shipped',
  'processing',
  'unknownOrder',
  'deskDown',
  'tooSlow',
  'garbled',
  'failed',
  'retry',
];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ivr-lookups-'));
  const play = (prompt: string) => ({ type: 'play', prompts: [prompt], next: 'bye' });
  writeFileSync(
    join(dir, 'orders.json'),
    JSON.stringify({
      number: NUMBER,
      prompts: Object.fromEntries(PROMPTS.map((p) => [p, media(p)])),
      default: { type: 'answer', start: 'enter' },
      http: { allowedHosts: [HOST, '169.254.169.254'] },
      nodes: {
        enter: {
          type: 'collect',
          prompt: 'enter',
          into: 'order',
          minDigits: 4,
          maxDigits: 4,
          invalidPrompt: 'retry',
          maxAttempts: 2,
          noInputTimeoutSeconds: 60,
          interDigitTimeoutSeconds: 30,
          next: 'route',
          fallback: 'bye',
        },
        // 6666 asks the cloud metadata address instead: the lookup must refuse it.
        route: {
          type: 'branch',
          cases: [{ variable: 'order', equals: '6666', next: 'metadata' }],
          default: 'lookup',
        },
        lookup: {
          type: 'http',
          url: `https://${HOST}/api/orders/{order}?caller={caller}`,
          headers: [{ header: 'x-api-key', fromSetting: 'IVR_SECRET_ORDERS_KEY' }],
          timeoutSeconds: 1,
          holdPrompt: 'hold',
          map: { status: { field: 'order.status' } },
          next: {
            success: 'status',
            clientError: 'unknownOrder',
            serverError: 'deskDown',
            timeout: 'tooSlow',
            invalidAnswer: 'garbled',
            failure: 'failed',
          },
        },
        metadata: {
          type: 'http',
          url: 'https://169.254.169.254/latest/meta-data/{order}',
          timeoutSeconds: 1,
          next: { success: 'status', failure: 'failed' },
        },
        status: {
          type: 'play',
          prompts: ['processing'],
          promptsBy: { variable: 'status', cases: { shipped: ['shipped'] } },
          next: 'bye',
        },
        unknownOrder: play('unknownOrder'),
        deskDown: play('deskDown'),
        tooSlow: play('tooSlow'),
        garbled: play('garbled'),
        failed: play('failed'),
        bye: { type: 'hangup' },
      },
    }),
  );
  const order = (path: string, answer: Record<string, unknown>) => ({ host: HOST, path, answer });
  stack = await startDemoStack(
    {
      flowsDir: dir,
      scaleBotTimers: true,
      botEnv: { IVR_SECRET_ORDERS_KEY: SECRET },
      sim: {
        timeScale: 0.2,
        promptDurationMs: () => 500,
        seed: 7,
        endpoints: [
          {
            ...order('/api/orders/1000', { body: { order: { status: 'shipped' } } }),
            expectHeaders: { 'x-api-key': SECRET },
          },
          order('/api/orders/4000', { status: 404, body: { error: 'no such order' } }),
          order('/api/orders/5000', { status: 503, body: { error: 'down for maintenance' } }),
          // 50 simulated seconds: 10 s of real time, far past the node's 1 s.
          order('/api/orders/7000', { delaySeconds: 50, body: { order: { status: 'shipped' } } }),
          order('/api/orders/8000', { raw: '<html>not json</html>' }),
          order('/api/orders/8001', { body: { order: { status: 42 } } }),
          order('/api/orders/9000', { drop: true }),
        ],
      },
    },
    // Hangs up as the first prompt starts: the answer and the first prompt are warm.
    { from: '+12065550149', to: NUMBER, actions: [{ waitFor: 'prompt' }, { after: 0, hangUp: true }] },
  );
}, 90_000);
afterAll(() => stack?.stop());

/** One caller entering `digits`; `check` runs on the call's record and prompts, a failure explained. */
async function orderCall(
  digits: string,
  check: (record: CallRecord, prompts: string[]) => void,
): Promise<void> {
  const { callId } = await call(stack, {
    from: '+12065550140',
    to: NUMBER,
    actions: [{ waitFor: 'promptEnd' }, { after: 0.5, press: digits }],
  });
  const record = await callRecord(stack, callId);
  await explain(stack, [callId], () => check(record, promptsPlayed(stack.sim, callId)));
}

test('success: the answer field goes into a variable that chooses the prompt; the key reaches the endpoint', async () => {
  await orderCall('1000', (record, prompts) => {
    expect(record.nodesVisited).toEqual(['enter', 'route', 'lookup', 'status', 'bye']);
    expect(record.variables).toEqual({ order: '1000', status: 'shipped' });
    expect(record.lookups).toEqual([
      expect.objectContaining({ node: 'lookup', outcome: 'success', status: 200 }),
    ]);
    expect(prompts).toEqual(expect.arrayContaining(['enter.wav', 'shipped.wav']));
    expect(prompts).not.toContain('processing.wav');
  });
  const sent = stack.sim.endpointRequests.filter((r) => r.path === '/api/orders/1000');
  expect(sent).toHaveLength(1);
  expect(sent[0]!.headers['x-api-key']).toBe(SECRET);
  expect(sent[0]!.query).toBe('caller=%2B12065550140');
}, 30_000);

test.each([
  ['4000', 'clientError', 'unknownOrder', 404],
  ['5000', 'serverError', 'deskDown', 503],
  ['7000', 'timeout', 'tooSlow', undefined],
  ['8000', 'invalidAnswer', 'garbled', 200],
  ['8001', 'invalidAnswer', 'garbled', 200],
  ['9000', 'failure', 'failed', undefined],
  ['6666', 'failure', 'failed', undefined],
])(
  'order %s: the lookup ends as %s and the call goes to %s',
  async (digits, outcome, node, status) => {
    await orderCall(digits, (record, prompts) => {
      expect(record.nodesVisited.slice(-2)).toEqual([node, 'bye']);
      expect(record.lookups).toEqual([
        expect.objectContaining({ outcome, ...(status !== undefined ? { status } : {}) }),
      ]);
      expect(record.variables).toEqual({ order: digits });
      expect(prompts).toContain(`${node}.wav`);
    });
  },
  30_000,
);

test('a refused address is never connected to, and the reason is on the call', async () => {
  await orderCall('6666', (record) => {
    expect(record.nodesVisited).toEqual(['enter', 'route', 'metadata', 'failed', 'bye']);
    expect(record.failures).toEqual([
      expect.objectContaining({
        what: 'lookup',
        code: 'failure',
        message: expect.stringMatching(/169\.254\.169\.254 is a cloud metadata address: refused/),
      }),
    ]);
  });
}, 30_000);

test('the secret is in no log line and no stored context', async () => {
  expect(stack.logs.some((l) => l.includes('lookup done'))).toBe(true);
  expect(stack.logs.filter((l) => l.includes(SECRET))).toEqual([]);
  const table = TableClient.fromConnectionString(stack.azurite.connectionString, 'ivrcalls', {
    allowInsecureConnection: true,
  });
  let rows = 0;
  for await (const row of table.listEntities()) {
    rows++;
    expect(JSON.stringify(row)).not.toContain(SECRET);
  }
  expect(rows).toBeGreaterThan(0);
});
