import { HttpRequest } from '@azure/functions';
import { MAX_BODY_BYTES, readJsonBody } from '../../shared/functions/http';

const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
  new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/calls',
    headers,
    body: { bytes: typeof body === 'string' ? Buffer.from(body, 'utf8') : body },
  });

test('a JSON body is parsed; a leading byte order mark is tolerated', async () => {
  expect(await readJsonBody(post('{"a":[1,"é"]}'))).toEqual({ ok: true, value: { a: [1, 'é'] } });
  expect(await readJsonBody(post('\uFEFF{"a":1}'))).toEqual({ ok: true, value: { a: 1 } });
});

test('a body that is not JSON is 400, naming why', async () => {
  const r = await readJsonBody(post('{"a":'));
  expect(r).toMatchObject({ ok: false, response: { status: 400 } });
  expect(JSON.stringify(r)).toContain('the body is not valid JSON');
});

test('the limit counts UTF-8 bytes, not characters: three-byte characters just under it pass, just over it are 413', async () => {
  const euros = (n: number) => `"${'€'.repeat(n)}"`; // 3 bytes each, plus 2 quotes
  const under = Math.floor((MAX_BODY_BYTES - 2) / 3);
  expect(Buffer.byteLength(euros(under))).toBeLessThanOrEqual(MAX_BODY_BYTES);
  expect(await readJsonBody(post(euros(under)))).toMatchObject({ ok: true });
  expect(Buffer.byteLength(euros(under + 1))).toBeGreaterThan(MAX_BODY_BYTES);
  expect(await readJsonBody(post(euros(under + 1)))).toMatchObject({ ok: false, response: { status: 413 } });
});

test('one-byte characters: exactly the limit passes, one more is 413; a declared length over it is 413 unread', async () => {
  const exact = `"${'a'.repeat(MAX_BODY_BYTES - 2)}"`;
  expect(await readJsonBody(post(exact))).toMatchObject({ ok: true });
  expect(await readJsonBody(post(`${exact} `))).toMatchObject({ ok: false, response: { status: 413 } });
  const declared = post('{}', { 'content-length': String(MAX_BODY_BYTES + 1) });
  expect(await readJsonBody(declared)).toMatchObject({ ok: false, response: { status: 413 } });
  expect(declared.bodyUsed).toBe(false);
});
