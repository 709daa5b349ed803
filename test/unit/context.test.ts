import { bounded, operationContext, parseOperationContext } from '../../shared/ivr/context';
import { outboundDeliveryId, redialsAfter } from '../../shared/ivr/outbound';

/** The call context's small rules: how platform strings are cut, and operation clientContexts. */

describe('bounded', () => {
  test('a string up to the limit is kept whole', () => {
    expect(bounded('abcde', 5)).toBe('abcde');
    expect(bounded('', 5)).toBe('');
  });

  test('a longer string keeps limit - 1 characters and an ellipsis: limit characters in all', () => {
    expect(bounded('abcdef', 5)).toBe('abcd…');
    expect(bounded('abcdef', 5)).toHaveLength(5);
  });
});

describe('operation clientContexts', () => {
  const key = 'AbC-_0123456789xyz'; // 18 characters of the allowed alphabet

  test("an operation's clientContext is the call's key, a dot and the sequence number", () => {
    expect(operationContext({ clientContext: key }, 7)).toBe(`${key}.7`);
  });

  test('it splits back into the key and the number', () => {
    expect(parseOperationContext(`${key}.7`)).toEqual({ clientContext: key, seq: 7 });
    expect(parseOperationContext(`${key}.123456789`)).toEqual({ clientContext: key, seq: 123456789 });
  });

  test('keys from 16 to 200 characters are accepted, shorter or longer ones are not', () => {
    expect(parseOperationContext(`${'a'.repeat(16)}.1`)).toEqual({ clientContext: 'a'.repeat(16), seq: 1 });
    expect(parseOperationContext(`${'a'.repeat(200)}.1`)).toEqual({
      clientContext: 'a'.repeat(200),
      seq: 1,
    });
    expect(parseOperationContext(`${'a'.repeat(15)}.1`)).toBeNull();
    expect(parseOperationContext(`${'a'.repeat(201)}.1`)).toBeNull();
  });

  test.each([
    ['no sequence number', `${key}.`],
    ['no dot', `${key}7`],
    ['a sequence number of ten digits', `${key}.1234567890`],
    ['a negative sequence number', `${key}.-1`],
    ['text after the number', `${key}.7x`],
    ['text before the key', ` ${key}.7`],
    ['a character outside the alphabet', `${key.slice(0, -1)}+.7`],
    ['a second dot', `${key}.7.8`],
  ])('%s is not an operation of ours', (_name, value) => {
    expect(parseOperationContext(value)).toBeNull();
  });
});

describe('outbound calls', () => {
  test('the outcome webhook has one delivery id per call', () => {
    expect(outboundDeliveryId('abc')).toBe('outbound.abc.completed');
  });

  test('a redial follows only an outcome the policy names, and only while attempts remain', () => {
    const policy = { on: ['notAnswered'] as const, maxAttempts: 3, delaySeconds: 60 };
    expect(redialsAfter(policy, 2, 'notAnswered')).toBe(true);
    expect(redialsAfter(policy, 3, 'notAnswered')).toBe(false);
    expect(redialsAfter(policy, 1, 'busy')).toBe(false);
    // Even a policy listing them cannot redial an answered or failed attempt.
    const loose = { on: ['answered', 'failed'], maxAttempts: 3, delaySeconds: 60 } as never;
    expect(redialsAfter(loose, 1, 'answered')).toBe(false);
    expect(redialsAfter(loose, 1, 'failed')).toBe(false);
  });
});
