import {
  fillTemplate,
  isBuiltInVariable,
  templateNames,
  testPasses,
  wholeMatch,
} from '../../shared/flows/variables';

/** The pure variable rules a flow author relies on: which values pass a test, how templates read and fill. */

describe('testPasses', () => {
  it('passes nothing for an unset variable, not even an empty test', () => {
    expect(testPasses({ variable: 'x' }, undefined)).toBe(false);
    expect(testPasses({ variable: 'x' }, '')).toBe(true);
  });

  it.each<[string, string, boolean]>([
    ['shipped', 'shipped', true],
    ['shipped', 'Shipped', false],
    ['shipped', 'shipped ', false],
    ['', '', true],
    ['', 'x', false],
  ])('equals %j vs %j -> %s', (equals, value, expected) => {
    expect(testPasses({ variable: 'x', equals }, value)).toBe(expected);
  });

  it('in: the value is one of the list exactly', () => {
    const test = { variable: 'x', in: ['1', '2'] };
    expect(testPasses(test, '2')).toBe(true);
    expect(testPasses(test, '3')).toBe(false);
    expect(testPasses(test, '12')).toBe(false);
    expect(testPasses({ variable: 'x', in: [] }, '')).toBe(false);
  });

  it('matches: the whole value, not a part of it', () => {
    const test = { variable: 'x', matches: '\\d{4}' };
    expect(testPasses(test, '1234')).toBe(true);
    expect(testPasses(test, '12345')).toBe(false);
    expect(testPasses(test, 'a1234')).toBe(false);
    // An alternation is grouped: "a|b" matches "a" or "b", never "ab" nor "xa".
    expect(testPasses({ variable: 'x', matches: 'a|b' }, 'b')).toBe(true);
    expect(testPasses({ variable: 'x', matches: 'a|b' }, 'xa')).toBe(false);
    expect(testPasses({ variable: 'x', matches: 'a|b' }, 'bx')).toBe(false);
  });

  it.each<[string, boolean]>([
    ['10', true],
    ['9.5', false],
    ['10.0', true],
    ['20', true],
    ['20.01', false],
    ['-3', false],
    ['15', true],
  ])('min 10, max 20: %s -> %s (both bounds inclusive)', (value, expected) => {
    expect(testPasses({ variable: 'x', min: 10, max: 20 }, value)).toBe(expected);
  });

  it('a bound alone tests only its own side', () => {
    expect(testPasses({ variable: 'x', min: 0 }, '999999')).toBe(true);
    expect(testPasses({ variable: 'x', min: 0 }, '-1')).toBe(false);
    expect(testPasses({ variable: 'x', max: 0 }, '-999')).toBe(true);
    expect(testPasses({ variable: 'x', max: 0 }, '0.5')).toBe(false);
    expect(testPasses({ variable: 'x', min: 0 }, '0')).toBe(true);
    expect(testPasses({ variable: 'x', max: 0 }, '0')).toBe(true);
  });

  it.each(['', 'abc', '1e3', '0x10', ' 5', '5 ', '+5', '1.', '.5', '1,5', 'Infinity', '1234567890123456'])(
    'a numeric bound refuses %j, which is not a plain decimal',
    (value) => {
      expect(testPasses({ variable: 'x', min: -1e20 }, value)).toBe(false);
      expect(testPasses({ variable: 'x', max: 1e20 }, value)).toBe(false);
    },
  );

  it('a numeric bound takes a negative number and up to 15 digits on each side of the point', () => {
    expect(testPasses({ variable: 'x', min: -5 }, '-4.5')).toBe(true);
    expect(testPasses({ variable: 'x', min: 0 }, '123456789012345.123456789012345')).toBe(true);
    expect(testPasses({ variable: 'x', min: 0 }, '1.1234567890123456')).toBe(false);
  });

  it('every operator given must hold', () => {
    const test = { variable: 'x', equals: '15', in: ['15', '16'], matches: '1\\d', min: 10, max: 20 };
    expect(testPasses(test, '15')).toBe(true);
    expect(testPasses({ ...test, equals: '16' }, '15')).toBe(false);
    expect(testPasses({ ...test, in: ['16'] }, '15')).toBe(false);
    expect(testPasses({ ...test, matches: '2\\d' }, '15')).toBe(false);
    expect(testPasses({ ...test, min: 16 }, '15')).toBe(false);
    expect(testPasses({ ...test, max: 14 }, '15')).toBe(false);
  });
});

describe('wholeMatch', () => {
  it('compiles a source once and anchors it', () => {
    expect(wholeMatch('a+')).toBe(wholeMatch('a+'));
    expect(wholeMatch('a+').source).toBe('^(?:a+)$');
  });

  it('holds at most 1000 compiled sources: the next one starts it afresh', () => {
    jest.isolateModules(() => {
      // A fresh module: the cache starts empty whatever other tests compiled.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fresh = require('../../shared/flows/variables') as typeof import('../../shared/flows/variables');
      const first = fresh.wholeMatch('s0');
      for (let i = 1; i < 1000; i++) fresh.wholeMatch(`s${i}`);
      expect(fresh.wholeMatch('s0')).toBe(first); // 1000 held, none dropped
      fresh.wholeMatch('one more');
      const again = fresh.wholeMatch('s0');
      expect(again).not.toBe(first); // dropped with the others when the 1001st came
      expect(again.test('s0')).toBe(true);
    });
  });

  it('keeps matching correctly after its cache of 1000 sources is cleared', () => {
    for (let i = 0; i < 1001; i++) wholeMatch(`n${i}`);
    expect(wholeMatch('n0').test('n0')).toBe(true);
    expect(wholeMatch('n1000').test('n1000')).toBe(true);
    expect(wholeMatch('n1000').test('n100')).toBe(false);
  });
});

describe('templates', () => {
  it('names the variables a template reads, in order, repeats included', () => {
    expect(templateNames('https://h/{order}/{line_2}?o={order}')).toEqual({
      names: ['order', 'line_2', 'order'],
    });
    expect(templateNames('no placeholder')).toEqual({ names: [] });
  });

  it.each(['{', '}', 'a{b', '{1x}', '{a-b}', '{ a }', '{}', `{a${'b'.repeat(64)}}`])(
    'a brace that opens no placeholder is a problem: %j',
    (template) => {
      expect(templateNames(template)).toEqual({
        problem: 'a brace that is not part of a {variable} placeholder',
      });
    },
  );

  it('takes a name of up to 64 characters', () => {
    const name = `a${'b'.repeat(63)}`;
    expect(templateNames(`{${name}}`)).toEqual({ names: [name] });
  });

  it('fills every placeholder, an unset one with "", escaping values only', () => {
    const values: Record<string, string> = { order: 'A 1/2', who: 'Zoë' };
    const value = (name: string) => values[name];
    expect(fillTemplate('/o/{order}?by={who}&n={none}', value)).toBe('/o/A 1/2?by=Zoë&n=');
    expect(fillTemplate('/o/{order}?by={who}', value, encodeURIComponent)).toBe('/o/A%201%2F2?by=Zo%C3%AB');
    expect(fillTemplate('{order}{order}', value)).toBe('A 1/2A 1/2');
  });
});

describe('built-in variables', () => {
  it.each<[string, boolean]>([
    ['caller', true],
    ['called', true],
    ['number', true],
    ['Caller', false],
    ['order', false],
    ['', false],
  ])('%j is built in: %s', (name, expected) => {
    expect(isBuiltInVariable(name)).toBe(expected);
  });
});
