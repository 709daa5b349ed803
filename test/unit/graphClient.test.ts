import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphClient, GraphError, retryDelayMs } from '../../shared/graph/graphClient';

let server: Server;
let base: string;
let script: Array<{ status: number; headers?: Record<string, string>; body?: unknown }> = [];
let seen: Array<{ method?: string; url?: string; auth?: string; body: string }> = [];
let headers: Array<Record<string, string | string[] | undefined>> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      headers.push(req.headers);
      const next = script.shift() ?? { status: 202 };
      res.writeHead(next.status, { 'content-type': 'application/json', ...(next.headers ?? {}) });
      res.end(
        next.body === undefined ? '' : typeof next.body === 'string' ? next.body : JSON.stringify(next.body),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));
beforeEach(() => {
  script = [];
  seen = [];
  headers = [];
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

describe('requests and answers', () => {
  test('a POST sends JSON content with an exact length, and the answer body and Location come back', async () => {
    script = [
      {
        status: 201,
        headers: { location: 'https://graph/calls/abc' },
        body: { id: 'abc', state: 'establishing' },
      },
    ];
    const { c } = client();
    const res = await c.post('/communications/calls', { a: 'é' });
    expect(res).toEqual({
      status: 201,
      body: { id: 'abc', state: 'establishing' },
      location: 'https://graph/calls/abc',
    });
    expect(headers[0]).toMatchObject({
      accept: 'application/json',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength('{"a":"é"}')),
    });
  });

  test('a POST without a body is still JSON, and empty', async () => {
    const { c } = client();
    const res = await c.callAction('abc', 'keepAlive');
    expect(res).toEqual({ status: 202, body: null, location: null });
    expect(seen[0]!.body).toBe('');
    expect(headers[0]).toMatchObject({ 'content-type': 'application/json', 'content-length': '0' });
  });

  test('a DELETE sends no body and no content type, to the call named (encoded)', async () => {
    script = [{ status: 204 }];
    const { c } = client();
    expect((await c.deleteCall('a/b c')).status).toBe(204);
    expect(seen).toEqual([
      { method: 'DELETE', url: '/v1.0/communications/calls/a%2Fb%20c', auth: 'Bearer tok', body: '' },
    ]);
    expect(headers[0]!['content-type']).toBeUndefined();
    expect(headers[0]!['content-length']).toBeUndefined();
  });

  test('trailing slashes of the base URL are dropped, and the call id is encoded in an action path', async () => {
    const { c } = client({ baseUrl: `${base}//` });
    await c.callAction('x?y', 'answer', {});
    expect(seen[0]!.url).toBe('/v1.0/communications/calls/x%3Fy/answer');
  });

  test('a base URL without a path (a local simulator) puts the Graph path at the root', async () => {
    const { c } = client({ baseUrl: base.replace(/\/v1\.0$/, '') });
    await c.callAction('abc', 'answer', {});
    expect(seen[0]!.url).toBe('/communications/calls/abc/answer');
  });

  test('only a 2xx answer is a success: a 300 is an error, sent once', async () => {
    script = [{ status: 300 }, { status: 202 }];
    const { c } = client();
    await expect(c.post('/x', {})).rejects.toMatchObject({ status: 300 });
    expect(seen).toHaveLength(1);
  });

  test('an answer that is not JSON reads as no body', async () => {
    script = [{ status: 200, body: 'not json' }];
    const { c } = client();
    expect((await c.post('/x', {})).body).toBeNull();
  });

  test('an error whose body is not JSON carries its first 200 characters as the message', async () => {
    script = [{ status: 400, body: 'x'.repeat(300) }];
    const { c } = client();
    const err = (await c.post('/x', {}).catch((e) => e)) as GraphError;
    expect([err.status, err.code, err.graphMessage]).toEqual([400, undefined, 'x'.repeat(200)]);
    expect(err.message).toBe(`Graph POST /x failed: 400: ${'x'.repeat(200)}`);
  });

  test("the error's message names the method, path, status, code and Graph's message", async () => {
    script = [{ status: 403, body: { error: { code: 'Forbidden', message: 'no permission' } } }];
    const { c } = client();
    const err = (await c.callAction('abc', 'transfer', {}).catch((e) => e)) as GraphError;
    expect(err.name).toBe('GraphError');
    expect(err.message).toBe(
      'Graph POST /communications/calls/abc/transfer failed: 403 Forbidden: no permission',
    );
    expect([err.method, err.path]).toEqual(['POST', '/communications/calls/abc/transfer']);
    script = [{ status: 404 }];
    const bare = (await c.deleteCall('abc').catch((e) => e)) as GraphError;
    expect(bare.message).toBe('Graph DELETE /communications/calls/abc failed: 404');
    expect([bare.code, bare.graphMessage]).toEqual([undefined, '']);
  });

  test('each retry is reported with its status, attempt and wait, never the token', async () => {
    script = [
      { status: 429, headers: { 'retry-after': '1' } },
      { status: 503, headers: { 'retry-after': '2' } },
    ];
    const retries: unknown[] = [];
    const { c } = client({ onRetry: (info) => retries.push(info) });
    await c.callAction('abc', 'answer', {});
    expect(retries).toEqual([
      { method: 'POST', path: '/communications/calls/abc/answer', status: 429, attempt: 1, waitMs: 1000 },
      { method: 'POST', path: '/communications/calls/abc/answer', status: 503, attempt: 2, waitMs: 2000 },
    ]);
  });

  test('a retry whose wait would end exactly at the budget is not made', async () => {
    const start = 1_000_000;
    jest.spyOn(Date, 'now').mockReturnValue(start);
    try {
      script = [{ status: 503, headers: { 'retry-after': '5' } }, { status: 202 }];
      const { c, waits } = client({ budgetMs: 5000 });
      await expect(c.callAction('abc', 'answer', {})).rejects.toMatchObject({ status: 503 });
      expect(waits).toEqual([]);
      script = [{ status: 503, headers: { 'retry-after': '4.999' } }, { status: 202 }];
      const again = client({ budgetMs: 5000 });
      expect((await again.c.callAction('abc', 'answer', {})).status).toBe(202);
      expect(again.waits).toEqual([4999]);
    } finally {
      jest.restoreAllMocks();
    }
  });

  test('without an injected sleep, a retry waits Retry-After on a timer', async () => {
    script = [{ status: 503, headers: { 'retry-after': '0.01' } }, { status: 202 }];
    const timers = jest.spyOn(global, 'setTimeout');
    try {
      const c = new GraphClient({
        baseUrl: base,
        getToken: async () => 'tok',
        maxAttempts: 2,
        budgetMs: 5000,
        requestTimeoutMs: 2000,
      });
      expect((await c.callAction('abc', 'answer', {})).status).toBe(202);
      expect(seen).toHaveLength(2);
      expect(timers.mock.calls.filter(([, ms]) => ms === 10)).toHaveLength(1);
    } finally {
      timers.mockRestore();
    }
  });

  test('the last attempt is not followed by a wait', async () => {
    script = [{ status: 503 }, { status: 503 }];
    const { c, waits } = client({ maxAttempts: 2 });
    await expect(c.callAction('abc', 'answer', {})).rejects.toMatchObject({ status: 503 });
    expect(waits).toHaveLength(1);
  });
});

describe('retryDelayMs', () => {
  afterEach(() => jest.restoreAllMocks());

  test('without Retry-After: 200 ms doubled per attempt, plus up to as much again of jitter', () => {
    const random = jest.spyOn(Math, 'random');
    random.mockReturnValue(0);
    expect([1, 2, 3, 4].map((a) => retryDelayMs(null, a))).toEqual([200, 400, 800, 1600]);
    random.mockReturnValue(0.9999);
    expect([1, 2, 3].map((a) => retryDelayMs(null, a))).toEqual([399, 799, 1599]);
  });

  test('Retry-After in seconds, fractions included; a date in the past means now', () => {
    expect(retryDelayMs('3', 1)).toBe(3000);
    expect(retryDelayMs('0.5', 1)).toBe(500);
    expect(retryDelayMs(new Date(Date.now() - 60_000).toUTCString(), 1)).toBe(0);
  });

  test('an unusable Retry-After falls back to the backoff; a negative one is no wait', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    expect(retryDelayMs('soon', 2)).toBe(400);
    expect(retryDelayMs('', 1)).toBe(200);
    expect(retryDelayMs('Infinity', 1)).toBe(200);
    expect(retryDelayMs('-1', 1)).toBe(0);
  });

  test('an HTTP date is waited for until that moment', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    jest.spyOn(Date, 'now').mockReturnValue(now);
    expect(retryDelayMs('Thu, 01 Jan 2026 00:00:07 GMT', 1)).toBe(7000);
  });
});
