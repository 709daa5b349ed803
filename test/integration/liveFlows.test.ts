import { writeFileSync } from 'node:fs';
import { main } from '../../scripts/flows';
import { join } from 'node:path';
import { createApp, getApp, type App } from '../../shared/app';
import { loadSettings } from '../../shared/config/settings';
import type { CapturedRequest } from '../support/fakeGraph';
import {
  startBotHarness,
  incomingCall,
  callUpdate,
  operationDone,
  REPO,
  type BotHarness,
} from '../support/botHarness';

/**
 * Flows managed live through the admin API, against Azurite and the local host with a
 * function key: versions, If-Match, rollback, precedence over files, what calls see.
 */

const NUMBER = '+14255550142';
const KEY = 'test-function-key';
const flow = (tag: string, extra: Record<string, unknown> = {}) => ({
  number: NUMBER,
  prompts: {
    menu: `https://media.example.com/menu-${tag}.wav`,
    bye: `https://media.example.com/bye-${tag}.wav`,
  },
  default: { type: 'answer', start: 'menu' },
  nodes: {
    menu: { type: 'menu', prompt: 'menu', options: { '1': 'bye' }, fallback: 'bye' },
    bye: { type: 'hangup', prompt: 'bye' },
  },
  ...extra,
});

let bot: BotHarness;
beforeAll(async () => {
  bot = await startBotHarness({
    functionKey: KEY,
    flows: { 'line.json': flow('file') },
    env: { IVR_FLOWS_REFRESH_MS: '200' },
  });
}, 60_000);
afterAll(() => bot?.stop());

const api = (path: string, init: RequestInit & { key?: string | null } = {}) => {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set('x-functions-key', init.key ?? KEY);
  return fetch(`${bot.host.url}/api/${path}`, { ...init, headers });
};
const put = (body: unknown, headers: Record<string, string> = {}, number = '%2B14255550142') =>
  api(`numbers/${number}?comment=test`, {
    method: 'PUT',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
type ApiError = {
  error: { code: string; message: string; problems?: Array<{ path: string; message: string }> };
};

let n = 0;
const newCallId = () => `l${(++n).toString(16).padStart(7, '0')}-aaaa-bbbb-cccc-ddddeeeeffff`;
const sent = (callId: string) => bot.graph.requests.filter((r) => r.callId === callId);
const prompts = (callId: string) =>
  sent(callId)
    .filter((r) => r.action === 'playPrompt')
    .flatMap((r) =>
      (r.body as { prompts: Array<{ mediaInfo: { uri: string } }> }).prompts.map((p) =>
        p.mediaInfo.uri.split('/').pop(),
      ),
    );
async function startCall(callId: string) {
  await bot.notify(incomingCall(callId, { to: NUMBER }));
  await bot.notify(callUpdate(callId, { state: 'established' }));
}
async function pressOne(callId: string) {
  const played = sent(callId)
    .filter((r) => r.action === 'playPrompt')
    .pop() as CapturedRequest;
  await bot.notify(
    operationDone(callId, `op-${callId}`, {
      '@odata.type': '#microsoft.graph.playPromptOperation',
      status: 'completed',
      clientContext: (played.body as { clientContext: string }).clientContext,
      resultInfo: { code: 200, subcode: 0, message: 'Action completed' },
    }),
  );
  await bot.notify(callUpdate(callId, { state: 'established', toneInfo: { sequenceId: 1, tone: 'tone1' } }));
}

test('the admin API needs the function key; the notification endpoint does not', async () => {
  expect((await api('numbers', { key: null })).status).toBe(401);
  expect((await api('numbers', { key: 'wrong' })).status).toBe(401);
  expect((await fetch(`${bot.host.url}/api/numbers?code=${KEY}`)).status).toBe(200);
  expect((await bot.notify(incomingCall(newCallId(), { to: '+14255550199' }))).status).toBe(202);
});

test('a file seeds a number; a stored version takes precedence, with history, ETag and If-Match', async () => {
  const list = (await (await api('numbers')).json()) as { numbers: Array<Record<string, unknown>> };
  expect(list.numbers).toContainEqual(
    expect.objectContaining({ number: NUMBER, source: 'file', version: 0 }),
  );
  const before = await api(`numbers/${NUMBER}`);
  expect(before.headers.get('etag')).toBe('"0"');

  const first = await put(flow('v1'), { 'if-match': '"0"' });
  expect(first.status).toBe(201);
  expect(first.headers.get('etag')).toBe('"1"');
  const call = newCallId();
  await startCall(call);
  expect(prompts(call)).toEqual(['menu-v1.wav']);

  // A stale If-Match changes nothing.
  const stale = await put(flow('v9'), { 'if-match': '"0"' });
  expect(stale.status).toBe(412);
  expect(((await stale.json()) as ApiError).error.code).toBe('PreconditionFailed');
  expect((await put(flow('v2'), { 'if-match': '"1"' })).status).toBe(200);

  const got = await api(`numbers/+14255550142`);
  expect(got.headers.get('etag')).toBe('"2"');
  expect(got.headers.get('x-flow-source')).toBe('store');
  expect(JSON.parse(await got.text())).toEqual(flow('v2'));
  const history = (await (await api(`numbers/${NUMBER}/versions`)).json()) as {
    versions: Array<{ version: number; comment: string }>;
  };
  expect(history.versions.map((v) => v.version)).toEqual([2, 1]);
  expect(history.versions[0]!.comment).toBe('test');
  const v1 = await api(`numbers/${NUMBER}/versions/1`);
  expect(JSON.parse(await v1.text())).toEqual(flow('v1'));

  // Rollback: a new version with the old content.
  const rolled = await api(`numbers/${NUMBER}/rollback`, {
    method: 'POST',
    body: JSON.stringify({ version: 1 }),
  });
  expect(rolled.status).toBe(200);
  expect(((await rolled.json()) as { version: number; comment: string }).version).toBe(3);
  const again = newCallId();
  await startCall(again);
  expect(prompts(again)).toEqual(['menu-v1.wav']);
});

test('invalid flows are refused with every problem by JSON path, and nothing changes', async () => {
  const current = (await api(`numbers/${NUMBER}`)).headers.get('etag');
  const bad = flow('bad', {
    schedules: { office: { timeZone: 'Europe/Paris', weekly: { mon: ['09:00-12:00', '11:00-13:00'] } } },
    rules: [{ when: { open: 'office' }, then: { type: 'transfer' } }],
  });
  (bad.nodes.menu as { options: Record<string, string> }).options['2'] = 'by';
  let res = await put(bad);
  expect(res.status).toBe(400);
  let body = (await res.json()) as ApiError;
  expect(body.error.code).toBe('InvalidFlow');
  expect(body.error.problems!.map((p) => p.path)).toEqual(expect.arrayContaining(['$.rules[0].then.type']));

  delete (bad as { rules?: unknown }).rules;
  res = await put(bad);
  body = (await res.json()) as ApiError;
  expect(body.error.problems).toEqual(
    expect.arrayContaining([
      { path: '$.schedules.office.weekly.mon[1]', message: '11:00-13:00 overlaps 09:00-12:00 on mon' },
      { path: '$.nodes.menu.options["2"]', message: 'no node named "by"; did you mean "bye"?' },
    ]),
  );

  res = await put('{\n  "number": "+14255550142",\n  // a comment is fine\n  "prompts": {} "x": 1\n}');
  body = (await res.json()) as ApiError;
  expect(body.error.problems![0]!.message).toMatch(/line 4, column 17/);

  res = await put(flow('v1', { number: '+1312555' }), {}, '+1312555');
  expect(res.status).toBe(400);
  expect(((await res.json()) as ApiError).error.code).toBe('InvalidNumber');
  res = await put({ ...flow('x'), number: '+14255550100' });
  expect(((await res.json()) as ApiError).error.problems).toContainEqual(
    expect.objectContaining({ path: '$.number' }),
  );
  expect((await api(`numbers/${NUMBER}`)).headers.get('etag')).toBe(current);

  const dry = await api('flows/validate', { method: 'POST', body: JSON.stringify(flow('dry')) });
  expect(dry.status).toBe(200);
  const result = (await dry.json()) as { valid: boolean; diagram: string };
  expect(result.valid).toBe(true);
  expect(result.diagram).toMatch(/^flowchart TD/);
});

test('a call in progress keeps the version it started with', async () => {
  expect((await put(flow('old'))).status).toBe(200);
  const call = newCallId();
  await startCall(call);
  expect(prompts(call)).toEqual(['menu-old.wav']);
  expect((await put(flow('new'))).status).toBe(200);
  await pressOne(call);
  expect(prompts(call)).toEqual(['menu-old.wav', 'bye-old.wav']);
  const fresh = newCallId();
  await startCall(fresh);
  expect(prompts(fresh)).toEqual(['menu-new.wav']);
});

test('another instance sees a change for new calls within seconds, by its background check', async () => {
  const other: App = createApp(loadSettings(bot.env), { getToken: async () => 'graph-test-token' });
  try {
    const promptOf = async () =>
      (await other.flows()).byIdentity.get(NUMBER)?.flow.prompts.menu?.split('/').pop();
    expect(await promptOf()).toBe('menu-new.wav');
    expect((await put(flow('later'))).status).toBe(200);
    // No timing asserted: wait until visible, with a bound far above the refresh interval.
    const end = Date.now() + 10_000;
    while ((await promptOf()) !== 'menu-later.wav' && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    expect(await promptOf()).toBe('menu-later.wav');
  } finally {
    await other.liveFlows.close();
  }
});

test('last known good: an invalid file keeps its last valid flow, or the stored one', async () => {
  const live = getApp().liveFlows;
  writeFileSync(
    join(bot.flowsDir, 'other.json'),
    JSON.stringify({ ...flow('good'), number: '+14255550150' }),
  );
  live.reloadFiles();
  expect((await getApp().flows()).byIdentity.get('+14255550150')?.flow.prompts.menu).toMatch(/menu-good/);
  writeFileSync(join(bot.flowsDir, 'other.json'), '{ "number": "+14255550150", ');
  live.reloadFiles();
  expect((await getApp().flows()).byIdentity.get('+14255550150')?.flow.prompts.menu).toMatch(/menu-good/);
  const problems = getApp().takeStartupProblems();
  expect(problems.join('\n')).toMatch(/other\.json.*not valid JSON at line 1/);

  // Across a restart: the last valid text was saved in storage when it loaded, so a fresh
  // instance (a cold start, nothing in memory) with the file still invalid keeps serving it.
  for (let i = 0; i < 100 && !(await getApp().flowStore.lastGoodFiles()).has('other.json'); i++)
    await new Promise((r) => setTimeout(r, 50));
  const restarted = createApp(loadSettings({ ...bot.env, IVR_FLOWS_REFRESH_MS: '60000' }));
  try {
    const served = (await restarted.flows()).byIdentity.get('+14255550150');
    expect(served?.flow.prompts.menu).toMatch(/menu-good/);
    // Told by the first invocation's logger: the problem and the fallback.
    const told = restarted.takeStartupProblems().join('\n');
    expect(told).toMatch(/other\.json.*not valid JSON at line 1/);
    expect(told).toMatch(/other\.json.*keeping its last valid version/);
  } finally {
    await restarted.liveFlows.close();
  }

  // A fresh instance with the number's file invalid still serves the stored version.
  writeFileSync(join(bot.flowsDir, 'line.json'), '{ broken');
  const other = createApp(loadSettings({ ...bot.env, IVR_FLOWS_REFRESH_MS: '60000' }));
  try {
    expect((await other.flows()).byIdentity.get(NUMBER)?.flow.prompts.menu).toMatch(/menu-later/);
  } finally {
    await other.liveFlows.close();
  }
});

test('DELETE hides the number (file included) until a new version is put', async () => {
  expect((await api(`numbers/${NUMBER}`, { method: 'DELETE', headers: { 'if-match': '"1"' } })).status).toBe(
    412,
  );
  const res = await api(`numbers/${NUMBER}`, { method: 'DELETE' });
  expect(res.status).toBe(200);
  expect((await api(`numbers/${NUMBER}`)).status).toBe(404);
  // The file is hidden too: the number routes as if unconfigured.
  expect((await getApp().flows()).byIdentity.get(NUMBER)).toBeUndefined();
  const history = (await (await api(`numbers/${NUMBER}/versions`)).json()) as {
    versions: Array<{ deleted: boolean }>;
  };
  expect(history.versions[0]!.deleted).toBe(true);
  expect((await api(`numbers/${NUMBER}/rollback`, { method: 'POST', body: '{"version":2}' })).status).toBe(
    200,
  );
  expect((await api(`numbers/${NUMBER}`)).status).toBe(200);
});

describe('the flows CLI', () => {
  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([...argv, '--url', bot.host.url, '--key', KEY], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      env: {},
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  test('validate, diagram of the example flow, push, diff, history, rollback, pull', async () => {
    const example = join(REPO, 'flows', 'contoso-main.json');
    expect(await cli('validate', example)).toMatchObject({ code: 0 });
    const diagram = await cli('diagram', example);
    expect(diagram.code).toBe(0);
    expect(diagram.out).toMatch(/^flowchart TD/);
    for (const edge of [
      'no input: prompt again',
      'invalid: prompt again',
      'max attempts',
      'stop tone',
      'silence',
      'no input, max attempts',
      'transfer failed',
      'no rule matches',
    ])
      expect(diagram.out).toContain(edge);

    const file = join(bot.flowsDir, 'cli.json');
    writeFileSync(file, JSON.stringify({ ...flow('cli1'), number: '+14255550177' }));
    expect(await cli('push', file, '--comment', 'from the CLI')).toMatchObject({ code: 0 });
    expect((await cli('diff', file)).code).toBe(0);
    writeFileSync(file, `// edited\n${JSON.stringify({ ...flow('cli2'), number: '+14255550177' })}`);
    const diff = await cli('diff', file);
    expect(diff.code).toBe(1);
    expect(diff.out).toContain('$.prompts.menu');
    expect((await cli('push', file, '--if-match', '9')).code).toBe(1);
    expect((await cli('push', file)).code).toBe(0);
    const history = await cli('history', '+14255550177', '--json');
    expect((JSON.parse(history.out) as { versions: unknown[] }).versions).toHaveLength(2);
    expect((await cli('rollback', '+14255550177', '1')).out).toMatch(/as version 3/);
    expect((await cli('pull', '+14255550177')).out).toContain('menu-cli1.wav');

    writeFileSync(file, '{ "number": "+1312555" }');
    const invalid = await cli('validate', file);
    expect(invalid.code).toBe(1);
    expect(invalid.out).toMatch(/\$\.number: not a possible phone number/);
    expect((await cli('nonsense')).code).toBe(2);
    expect(
      await main(['history', '+14255550177', '--url', bot.host.url], {
        out: () => undefined,
        err: () => undefined,
        env: {},
      }),
    ).toBe(2);
  });
});
