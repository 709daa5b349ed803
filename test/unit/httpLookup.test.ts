import { createServer, type Server } from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { LOOKUP_MAX_ANSWER_BYTES, performLookup, type LookupOptions } from '../../shared/lookups/httpLookup';
import { createTlsMaterial, type TlsMaterial } from '../../sim/tls';

/**
 * The lookup worker's request against a real local https server: secrets read at send time
 * and sent only as the header, public addresses only, no redirects, the deadline, the cap.
 */

let tls: TlsMaterial;
let server: Server;
let origin: URL;
const seen: Array<{ url: string; headers: Record<string, unknown>; body: string }> = [];

beforeAll(async () => {
  tls = await createTlsMaterial();
  server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const path = req.url ?? '';
      if (path.startsWith('/slow')) return void setTimeout(() => res.end('{}'), 2000).unref();
      if (path.startsWith('/big'))
        return void res.end(JSON.stringify({ pad: 'x'.repeat(LOOKUP_MAX_ANSWER_BYTES) }));
      if (path.startsWith('/moved')) {
        res.writeHead(302, { location: 'https://169.254.169.254/' });
        return void res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'shipped' }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  origin = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
}, 30_000);
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  await tls.dispose();
});

const SECRET = 'k-9f8e7d6c5b4a';
const options = (extra: Partial<LookupOptions> = {}): LookupOptions => ({
  secret: (name) => (name === 'IVR_SECRET_CRM' ? SECRET : undefined),
  testHosts: new Map([['crm.contoso.example', origin]]),
  ca: tls.cert,
  ...extra,
});
const get = (url: string, extra: object = {}) => ({
  method: 'GET' as const,
  url,
  headers: [{ name: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' }],
  timeoutMs: 1000,
  ...extra,
});

test('sends the secret header (read at send time), the body and the original host; parses the JSON answer', async () => {
  const answer = await performLookup(
    get('https://crm.contoso.example/orders/1?x=1', { method: 'POST', body: '{"a":"1"}' }),
    options(),
  );
  expect(answer).toEqual({ status: 200, answer: { status: 'shipped' } });
  const last = seen.at(-1)!;
  expect(last.url).toBe('/orders/1?x=1');
  expect(last.headers['x-api-key']).toBe(SECRET);
  expect(last.headers.host).toBe('crm.contoso.example');
  expect(last.headers['content-type']).toBe('application/json');
  expect(last.body).toBe('{"a":"1"}');
});

test('a missing setting fails without sending anything, naming the setting only', async () => {
  const before = seen.length;
  const answer = await performLookup(
    get('https://crm.contoso.example/x'),
    options({ secret: () => undefined }),
  );
  expect(answer).toEqual({ problem: 'failed', message: 'the app setting IVR_SECRET_CRM is not set' });
  expect(seen.length).toBe(before);
});

test.each([
  ['https://169.254.169.254/latest/meta-data', /169\.254\.169\.254 is a cloud metadata address: refused/],
  ['https://10.1.2.3/x', /10\.1\.2\.3 is a private address: refused/],
  ['https://[::1]:1/x', /a loopback address: refused/],
  ['https://[fe80::1]/x', /a link-local address: refused/],
  ['http://crm.contoso.example/x', /must be https/],
])('refuses %s before connecting', async (url, message) => {
  const answer = await performLookup(get(url), options());
  expect(answer.problem).toBe('failed');
  expect(answer.message).toMatch(message);
});

test('refuses a name that resolves to a private address, and loopback unless local development allows it', async () => {
  const to =
    (address: string): LookupFunction =>
    (_host, _opts, cb) =>
      (cb as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [
        { address, family: 4 },
      ]);
  const privateName = await performLookup(
    get('https://crm.internal.example/x'),
    options({ lookup: to('10.0.0.5') }),
  );
  expect(privateName).toEqual({
    problem: 'failed',
    message: 'crm.internal.example resolves to 10.0.0.5, a private address: refused',
  });
  const local = await performLookup(get(`https://localhost:${origin.port}/x`), options());
  expect(local.message).toMatch(/a loopback address: refused/);
  const allowed = await performLookup(
    get(`https://localhost:${origin.port}/x`),
    options({ allowLocalHttp: true }),
  );
  expect(allowed.status).toBe(200);
});

test('a slow answer is a timeout, a big one an invalid answer, a redirect is not followed', async () => {
  expect(await performLookup(get('https://crm.contoso.example/slow', { timeoutMs: 200 }), options())).toEqual(
    {
      problem: 'timeout',
      message: 'no whole answer within 200 ms',
    },
  );
  expect(await performLookup(get('https://crm.contoso.example/big'), options())).toEqual({
    status: 200,
    problem: 'badAnswer',
    message: `the answer is over ${LOOKUP_MAX_ANSWER_BYTES} bytes`,
  });
  expect(await performLookup(get('https://crm.contoso.example/moved'), options())).toEqual({
    status: 302,
    message: 'answered 302',
  });
});

test('no answer or error carries the secret', async () => {
  const answers = await Promise.all([
    performLookup(get('https://crm.contoso.example/x'), options()),
    performLookup(get('https://10.1.2.3/x'), options()),
    performLookup(get('https://crm.contoso.example/slow', { timeoutMs: 100 }), options()),
  ]);
  expect(JSON.stringify(answers)).not.toContain(SECRET);
});
