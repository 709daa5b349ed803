import { STACK_IDENTITY } from '../../sim/stack';
import {
  actionsOf,
  call,
  CALLER,
  callRecord,
  expectCleanRequests,
  explain,
  FRONT_DESK,
  promptsPlayed,
  requestsFor,
  startDemoStack,
  type E2eStack,
} from './support';

/**
 * Production identities, no secret anywhere: the bot process reaches Azurite in OAuth mode
 * over HTTPS with identity-based AzureWebJobsStorage__* settings and a managed identity
 * (App Service's IDENTITY_ENDPOINT contract, served by the simulator), and gets its Graph
 * tokens with that identity as a federated credential (a client assertion).
 */

let stack: E2eStack;

beforeAll(async () => {
  stack = await startDemoStack({ managedIdentity: true, sim: { seed: 909 } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

test('the bot is configured with identities only: no connection string, no secret', () => {
  expect(stack.env.AzureWebJobsStorage).toBeUndefined();
  expect(stack.env.AZURE_CLIENT_SECRET).toBeUndefined();
  expect(stack.env).toMatchObject({
    AzureWebJobsStorage__credential: 'managedidentity',
    AzureWebJobsStorage__clientId: STACK_IDENTITY.clientId,
    AzureWebJobsStorage__tableServiceUri: expect.stringMatching(/^https:/),
    GRAPH_CREDENTIAL: 'federated',
  });
});

test('a full call through identity-based storage: answer, menu timer, recording archived', async () => {
  const { callId, resultInfo } = await call(stack, {
    from: CALLER,
    to: FRONT_DESK,
    actions: [
      { waitFor: 'promptEnd' }, // greeting
      { waitFor: 'promptEnd' }, // the menu; then silence: the no-input timer (a queue message) fires
      { waitFor: 'promptEnd' }, // "sorry, no input"
      { waitFor: 'prompt' }, // the menu again
      { after: 0.5, press: '2' },
      { waitFor: 'beep' },
      { after: 0.5, speak: 2 },
      { after: 0.5, press: '#' },
    ],
  });
  await explain(stack, [callId], async () => {
    expect(resultInfo).toMatchObject({ code: 200, subcode: 7000 });
    expectCleanRequests(requestsFor(stack.sim, callId));
    const actions = actionsOf(stack.sim, callId);
    expect(actions[0]).toBe('answer');
    expect(actions).toContain('recordResponse');
    expect(actions[actions.length - 1]).toBe('DELETE');
    expect(promptsPlayed(stack.sim, callId)).toContain('sorry-no-input.wav');
    const record = await callRecord(stack, callId);
    expect(record).toMatchObject({ result: { code: 200, subcode: 7000 }, failures: [] });
    expect(record.nodesVisited).toEqual(['welcome', 'mainMenu', 'leaveMessage', 'messageSaved']);
    expect(record.recordings).toHaveLength(1);
    expect(record.recordings[0]).toMatchObject({ status: 'stored', error: null });
    expect(record.recordings[0]!.bytes).toBeGreaterThan(44);
  });
});

test('tokens came from the managed identity: storage tokens, and Graph tokens by client assertion only', () => {
  const grants = stack.sim.tokenGrants;
  const resources = new Set(grants.filter((g) => g.endpoint === 'managedIdentity').map((g) => g.detail));
  expect([...resources].sort()).toEqual(['api://AzureADTokenExchange', 'https://storage.azure.com']);
  const graph = grants.filter((g) => g.endpoint === 'token').map((g) => g.detail);
  expect(graph.length).toBeGreaterThan(0);
  expect(new Set(graph)).toEqual(new Set(['client_assertion']));
});
