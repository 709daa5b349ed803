import { createHmac } from 'node:crypto';
import { signWebhook, webhookProblem } from '../../shared/webhooks/signing';
import { webhookUrlProblem } from '../../shared/net/webhookUrl';

const secret = 'a-shared-secret-of-at-least-32-characters';
const body = '{"id":"d-1","event":"outbound.completed","data":{"outcome":"answered"}}';
const now = 1_800_000_000;

// Computed here, not by the code under test: what a receiver following docs/webhooks.md computes.
const expected = (key: string, ts: number, text: string) =>
  `v1=${createHmac('sha256', key).update(`${ts}.${text}`).digest('hex')}`;

test('the signature is HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed v1=', () => {
  expect(signWebhook(secret, now, body)).toBe(expected(secret, now, body));
});

test('a genuine delivery verifies; any change to body, timestamp or secret does not', () => {
  const signature = expected(secret, now, body);
  const ok = { body, timestamp: String(now), signature };
  expect(webhookProblem(ok, [secret], now)).toBeNull();
  expect(webhookProblem({ ...ok, body: body.replace('answered', 'busy') }, [secret], now)).toBe(
    'signature does not match',
  );
  expect(webhookProblem({ ...ok, timestamp: String(now + 1) }, [secret], now)).toBe(
    'signature does not match',
  );
  expect(webhookProblem(ok, ['another-secret-of-at-least-32-characters'], now)).toBe(
    'signature does not match',
  );
});

test('a delivery signed with either secret verifies while secrets rotate, and several signatures may be offered', () => {
  const old = 'the-old-secret-of-at-least-32-characters!';
  const signature = `${expected('unrelated-secret-xxxxxxxxxxxxxxxxxxxxxxxx', now, body)}, ${expected(old, now, body)}`;
  expect(webhookProblem({ body, timestamp: String(now), signature }, [secret, old], now)).toBeNull();
  expect(webhookProblem({ body, timestamp: String(now), signature }, [secret], now)).toBe(
    'signature does not match',
  );
});

test('a replay outside the tolerance, or a delivery without timestamp or signature, is refused', () => {
  const signature = expected(secret, now, body);
  expect(webhookProblem({ body, timestamp: String(now), signature }, [secret], now + 301)).toBe(
    'timestamp is more than 300 s away from now',
  );
  expect(webhookProblem({ body, timestamp: String(now), signature }, [secret], now + 300)).toBeNull();
  expect(webhookProblem({ body, timestamp: undefined, signature }, [secret], now)).toBe(
    'no valid timestamp header',
  );
  expect(webhookProblem({ body, timestamp: '12e9', signature }, [secret], now)).toBe(
    'no valid timestamp header',
  );
  expect(webhookProblem({ body, timestamp: String(now), signature: null }, [secret], now)).toBe(
    'no v1 signature',
  );
  expect(webhookProblem({ body, timestamp: String(now), signature: 'v0=abc' }, [secret], now)).toBe(
    'no v1 signature',
  );
});

test.each([
  ['https://hooks.contoso.com/ivr', false, null],
  ['https://hooks.contoso.com:8443/ivr?token=x', false, null],
  ['http://hooks.contoso.com/ivr', false, 'must be an https URL'],
  ['ftp://hooks.contoso.com/ivr', false, 'must be an https URL'],
  ['hooks.contoso.com/ivr', false, 'must be an absolute URL'],
  ['https://user:pw@hooks.contoso.com/ivr', false, 'must not carry credentials'],
  ['https://localhost/ivr', false, 'must not point at localhost'],
  ['https://127.0.0.1/ivr', false, 'must not point at a loopback address'],
  ['https://[::1]/ivr', false, 'must not point at a loopback address'],
  ['https://10.1.2.3/ivr', false, 'must not point at a private address'],
  ['https://169.254.169.254/latest', false, 'must not point at a cloud metadata address'],
  ['https://[fe80::1]/ivr', false, 'must not point at a link-local address'],
  ['http://127.0.0.1:7072/hook', true, null],
  ['http://localhost:7072/hook', true, null],
  ['http://10.1.2.3/hook', true, 'must be an https URL'],
  ['https://192.168.1.1/hook', true, 'must not point at a private address'],
])('webhook URL %s (local dev %s): %s', (url, local, problem) => {
  expect(webhookUrlProblem(url, local)).toBe(problem);
});
