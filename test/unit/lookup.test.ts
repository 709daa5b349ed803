import type { NodeOf } from '../../shared/flows/schema';
import { fieldOf, lookupOutcome, lookupRequest, type LookupAnswer } from '../../shared/ivr/lookup';

/** An http node's pure part: the request it sends and what each kind of answer means for the flow. */

function node(change: Partial<NodeOf<'http'>> = {}): NodeOf<'http'> {
  return {
    type: 'http',
    method: 'GET',
    url: 'https://crm.contoso.example/orders/{order}?by={who}',
    headers: [],
    timeoutSeconds: 3,
    map: {},
    next: { success: 'ok', failure: 'bye' },
    ...change,
  };
}

const values: Record<string, string> = { order: 'A 1/2', who: 'Zoë "Z"' };
const variable = (name: string) => values[name];

describe('the request', () => {
  it('encodes values in the url, fills headers and body as they are, names secret settings', () => {
    const request = lookupRequest(
      node({
        method: 'POST',
        headers: [
          { header: 'x-order', value: 'order {order}' },
          { header: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' },
        ],
        body: { id: '{order}', who: '{who}', unset: '{nothing}' },
        timeoutSeconds: 1.5,
      }),
      variable,
    );
    expect(request).toEqual({
      method: 'POST',
      url: 'https://crm.contoso.example/orders/A%201%2F2?by=Zo%C3%AB%20%22Z%22',
      headers: [
        { name: 'x-order', value: 'order A 1/2' },
        { name: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' },
      ],
      body: '{"id":"A 1/2","who":"Zoë \\"Z\\"","unset":""}',
      timeoutMs: 1500,
    });
  });

  it('has no body without one, and rounds the timeout to a millisecond', () => {
    const request = lookupRequest(node({ timeoutSeconds: 0.5555 }), variable);
    expect(request).toEqual({
      method: 'GET',
      url: 'https://crm.contoso.example/orders/A%201%2F2?by=Zo%C3%AB%20%22Z%22',
      headers: [],
      timeoutMs: 556,
    });
    expect('body' in request).toBe(false);
  });
});

describe('the outcome', () => {
  const mapped = node({
    map: {
      status: { field: 'order.status', type: 'string' },
      total: { field: 'order.total', type: 'number' },
      count: { field: 'order.lines.length', type: 'integer' },
      paid: { field: 'order.paid', type: 'boolean' },
    },
  });
  const good = { order: { status: 'shipped', total: 12.5, lines: { length: 3 }, paid: false } };

  it.each<[LookupAnswer, string, string]>([
    [{ problem: 'timeout' }, 'timeout', 'no answer in time'],
    [
      { problem: 'timeout', message: 'no whole answer within 3000 ms' },
      'timeout',
      'no whole answer within 3000 ms',
    ],
    [{ problem: 'failed' }, 'failure', 'no answer'],
    [{ problem: 'failed', status: 200, message: 'refused' }, 'failure', 'refused'],
    [{}, 'failure', 'no answer'],
    [{ status: 199 }, 'failure', 'answered 199'],
    [{ status: 300 }, 'failure', 'answered 300'],
    [{ status: 399 }, 'failure', 'answered 399'],
    [{ status: 400 }, 'clientError', 'answered 400'],
    [{ status: 499 }, 'clientError', 'answered 499'],
    [{ status: 500 }, 'serverError', 'answered 500'],
    [{ status: 599 }, 'serverError', 'answered 599'],
    [{ status: 600 }, 'failure', 'answered 600'],
    [{ status: 200, problem: 'badAnswer' }, 'invalidAnswer', 'not JSON'],
    [{ status: 200, problem: 'badAnswer', message: 'over 65536 bytes' }, 'invalidAnswer', 'over 65536 bytes'],
  ])('%j -> %s (%s), setting nothing', (answer, outcome, detail) => {
    expect(lookupOutcome(mapped, answer)).toEqual({ outcome, values: {}, detail });
  });

  it.each([200, 204, 299])('a %i maps every field to its text', (status) => {
    expect(lookupOutcome(mapped, { status, answer: good })).toEqual({
      outcome: 'success',
      values: { status: 'shipped', total: '12.5', count: '3', paid: 'false' },
      detail: null,
    });
  });

  it('a node that maps nothing succeeds on any 2xx, JSON or not', () => {
    expect(lookupOutcome(node(), { status: 201, problem: 'badAnswer' })).toEqual({
      outcome: 'success',
      values: {},
      detail: null,
    });
  });

  it.each<[string, unknown, string]>([
    ['a missing field', { order: { ...good.order, status: undefined } }, 'field "order.status" is missing'],
    [
      'a string too long',
      { order: { ...good.order, status: 'x'.repeat(257) } },
      'field "order.status" is not a string of at most 256 characters',
    ],
    ['a number as text', { order: { ...good.order, total: '12.5' } }, 'field "order.total" is not a number'],
    [
      'a fraction for an integer',
      { order: { ...good.order, lines: { length: 2.5 } } },
      'field "order.lines.length" is not an integer',
    ],
    [
      'an integer past 2^53',
      { order: { ...good.order, lines: { length: 2 ** 53 } } },
      'field "order.lines.length" is not an integer',
    ],
    ['a boolean as text', { order: { ...good.order, paid: 'false' } }, 'field "order.paid" is not a boolean'],
    ['null', { order: { ...good.order, paid: null } }, 'field "order.paid" is not a boolean'],
  ])('%s is an invalid answer, naming the field', (_what, answer, detail) => {
    expect(lookupOutcome(mapped, { status: 200, answer })).toEqual({
      outcome: 'invalidAnswer',
      values: {},
      detail,
    });
  });

  it('keeps a string of exactly 256 characters', () => {
    const status = 'x'.repeat(256);
    expect(
      lookupOutcome(mapped, { status: 200, answer: { order: { ...good.order, status } } }).values.status,
    ).toBe(status);
  });
});

describe('fields of an answer', () => {
  const answer = { a: { b: [{ c: 1 }, { c: 'two' }] }, n: null, s: 'text', list: [...'abcdefghijk'] };

  it.each<[string, unknown]>([
    ['a.b.1.c', 'two'],
    ['a.b.0', { c: 1 }],
    ['a.b.2', undefined],
    ['a.b.length', undefined],
    ['a.b.-1', undefined],
    ['list.10', 'k'],
    ['list.1e0', undefined],
    ['list.01', 'b'],
    ['n', null],
    ['n.x', undefined],
    ['s.length', undefined],
    ['a.constructor', undefined],
    ['a.toString', undefined],
    ['missing.x', undefined],
  ])('%s -> %j', (path, expected) => {
    expect(fieldOf(answer, path)).toEqual(expected);
  });
});
