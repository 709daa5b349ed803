import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphClient, GraphError, retryDelayMs } from '../../shared/graph/graphClient';

let server: Server;
let base: string;
let script: Array<{ status: number; headers?: Record<string, string>; body?: unknown }> = [];
let seen: Array<{ method?: string; url?: string; auth?: string; body: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      const next = script.shift() ?? { status: 202 };
      res.writeHead(next.status, { 'content-type': 'application/json', ...(next.headers ?? {}) });
      res.end(next.body === undefined ? '' : JSON.stringify(next.body));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));
beforeEach(() => {
  script = [];
  seen = [];
});

const client = (over: Partial<ConstructorParameters<typeof GraphClient>[0]> = {}) => {
  const waits: number[] = [];
  const c = new GraphClient({
    baseUrl: base,
    getToken: async () => 'tok',
    maxAttempts: 4,
    budgetMs: 5000,
    requestTimeoutMs: 2000,
    sleep: async (ms) => void waits.push(ms),
    ...over,
  });
  return { c, waits };
};

test('posts JSON with the bearer token to the call action path', async () => {
  const { c } = client();
  const res = await c.callAction('abc', 'answer', { a: 1 });
  expect(res.status).toBe(202);
  expect(seen).toEqual([
    { method: 'POST', url: '/v1.0/communications/calls/abc/answer', auth: 'Bearer tok', body: '{"a":1}' },
  ]);
});

test('429, 503 and 504 are retried, honouring Retry-After', async () => {
  script = [
    { status: 429, headers: { 'retry-after': '2' } },
    { status: 503, headers: { 'retry-after': '1' } },
    { status: 504 },
    { status: 202 },
  ];
  const { c, waits } = client();
  expect((await c.callAction('abc', 'reject', {})).status).toBe(202);
  expect(seen).toHaveLength(4);
  expect(waits.slice(0, 2)).toEqual([2000, 1000]);
  expect(waits[2]).toBeGreaterThanOrEqual(800); // exponential backoff for attempt 3
});

test('attempts are bounded', async () => {
  script = Array.from({ length: 10 }, () => ({ status: 503 }));
  const { c } = client({ maxAttempts: 3 });
  await expect(c.callAction('abc', 'answer', {})).rejects.toMatchObject({ status: 503 });
  expect(seen).toHaveLength(3);
});

test('a Retry-After beyond the time budget is not waited for', async () => {
  script = [{ status: 429, headers: { 'retry-after': '30' } }];
  const { c, waits } = client({ budgetMs: 8000 });
  await expect(c.callAction('abc', 'answer', {})).rejects.toMatchObject({ status: 429 });
  expect(waits).toEqual([]);
});

test("other errors are not retried and carry Graph's code and message", async () => {
  script = [{ status: 400, body: { error: { code: 'BadRequest', message: 'Invalid callbackUri' } } }];
  const { c } = client();
  const err = (await c.callAction('abc', 'answer', {}).catch((e) => e)) as GraphError;
  expect(err).toBeInstanceOf(GraphError);
  expect([err.status, err.code, err.graphMessage]).toEqual([400, 'BadRequest', 'Invalid callbackUri']);
  expect(seen).toHaveLength(1);
  expect(err.message).not.toMatch(/tok/);
});

test('Retry-After as an HTTP date', () => {
  const inTwo = new Date(Date.now() + 2000).toUTCString();
  expect(retryDelayMs(inTwo, 1)).toBeGreaterThan(500);
  expect(retryDelayMs('0', 1)).toBe(0);
});

test.each([500, 502, 409, 404])(
  '%i is not retried: a repeated answer or playPrompt is not safe, so it is sent once',
  async (status) => {
    script = [{ status, body: { error: { code: `E${status}`, message: 'no' } } }, { status: 202 }];
    const { c, waits } = client();
    await expect(c.callAction('abc', 'playPrompt', { clientContext: 'x' })).rejects.toMatchObject({ status });
    expect(seen.map((r) => r.url)).toEqual(['/v1.0/communications/calls/abc/playPrompt']);
    expect(waits).toEqual([]);
  },
);

test('a timeout is reported as status 0 and never retried (the request may have been applied)', async () => {
  const stall = createServer(() => undefined);
  await new Promise<void>((ok) => stall.listen(0, '127.0.0.1', ok));
  const stalled = new GraphClient({
    baseUrl: `http://127.0.0.1:${(stall.address() as AddressInfo).port}/v1.0`,
    getToken: async () => 'tok',
    maxAttempts: 4,
    budgetMs: 5000,
    requestTimeoutMs: 100,
    sleep: async () => undefined,
  });
  const err = (await stalled.callAction('abc', 'answer', {}).catch((e) => e)) as GraphError;
  expect([err.status, err.code]).toEqual([0, 'TimeoutError']);
  stall.closeAllConnections();
  await new Promise<void>((ok) => stall.close(() => ok()));
});
