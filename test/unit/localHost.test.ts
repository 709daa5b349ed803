import { join } from 'node:path';
import { startLocalHost, type LocalHost } from '../../host/localHost';

// The local host serves registered HTTP functions the way the Functions host routes them.

const KEY = 'a-function-key';
let host: LocalHost;

beforeAll(async () => {
  host = await startLocalHost({
    port: 0,
    functionFiles: [join(__dirname, '../support/fixtures/echoFunctions.ts')],
    functionKey: KEY,
    pollQueues: false,
    log: () => undefined,
  });
});
afterAll(() => host.close());

test('a route parameter is decoded, the query and headers reach the function, the URL is the request URL', async () => {
  const res = await fetch(`${host.url}/api/items/a%20b?x=1&y=two`, { headers: { 'x-probe': 'p' } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    url: `${host.url}/api/items/a%20b?x=1&y=two`,
    method: 'GET',
    params: { id: 'a b' },
    query: { x: '1', y: 'two' },
    header: 'p',
    body: null,
  });
});

test('a POST body reaches the function as sent; no query gives an empty one', async () => {
  const res = await fetch(`${host.url}/api/items/7`, { method: 'POST', body: 'héllo' });
  expect(await res.json()).toMatchObject({ params: { id: '7' }, query: {}, body: 'héllo' });
});

test('a known path with another method is 405, an unknown path 404, a path outside /api 404', async () => {
  expect((await fetch(`${host.url}/api/items/7`, { method: 'PUT' })).status).toBe(405);
  expect((await fetch(`${host.url}/api/nothing/here`)).status).toBe(404);
  expect((await fetch(`${host.url}/items/7`)).status).toBe(404);
});

test('a function-level route needs the key, in the header or as ?code=', async () => {
  expect((await fetch(`${host.url}/api/guarded`, { method: 'DELETE' })).status).toBe(401);
  expect((await fetch(`${host.url}/api/guarded?code=wrong`, { method: 'DELETE' })).status).toBe(401);
  expect((await fetch(`${host.url}/api/guarded?code=${KEY}`, { method: 'DELETE' })).status).toBe(204);
  const res = await fetch(`${host.url}/api/guarded`, {
    method: 'DELETE',
    headers: { 'x-functions-key': KEY },
  });
  expect(res.status).toBe(204);
});
