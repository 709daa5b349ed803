import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { didYouMean, loadFlowDirectory, parseFlowText, validateFlow } from '../../shared/flows/loader';
import { APP_INSTANCE, realisticFlowInput, type Mutable } from './fixtures';

/** The loader's problems an author reads, each with its exact path and message. */

const FILE = '/flows/checks.json';
const problems = (input: unknown) => validateFlow(input, FILE).problems.map((p) => `${p.path}: ${p.message}`);

function lookupFlow(): Mutable {
  return {
    number: '+14255550100',
    prompts: { enter: 'https://media.example.com/enter.wav' },
    default: { type: 'answer', start: 'enter' },
    http: { allowedHosts: ['crm.contoso.example'] },
    nodes: {
      enter: { type: 'collect', prompt: 'enter', into: 'order', next: 'lookup', fallback: 'bye' },
      lookup: {
        type: 'http',
        url: 'https://crm.contoso.example/orders/{order}',
        next: { success: 'bye', failure: 'bye' },
      },
      bye: { type: 'hangup' },
    },
  };
}

describe('flow text', () => {
  it('takes comments and trailing commas', () => {
    expect(parseFlowText('{\n  // the main line\n  "a": [1, 2,],\n  /* b */ "b": true,\n}')).toEqual({
      value: { a: [1, 2], b: true },
    });
  });

  it.each<[string, string]>([
    ['', 'line 1, column 1'],
    ['   \n', 'line 2, column 1'],
    ['// nothing but a comment\n', 'line 2, column 1'],
  ])('says where a value was expected in %j', (text, where) => {
    expect(parseFlowText(text)).toEqual({ problem: `not valid JSON at ${where}: value expected` });
  });

  it('locates a syntax error by line and column, in words', () => {
    expect(parseFlowText('{\n  "a": 1\n  "b": 2\n}')).toEqual({
      problem: 'not valid JSON at line 3, column 3: comma expected',
    });
    expect(parseFlowText('{ "a": 1 } x')).toEqual({
      problem: 'not valid JSON at line 1, column 12: invalid symbol',
    });
  });

  it('refuses nesting deeper than the JSONC parser can walk, as a problem', () => {
    // Not valid JSON (unclosed), so the JSONC parser gets it and runs out of stack.
    expect(parseFlowText('['.repeat(200_000))).toEqual({ problem: 'not valid JSON: nested too deeply' });
  });
});

describe('schedules', () => {
  const withRanges = (mon: string[]) => ({
    ...lookupFlow(),
    schedules: { office: { timeZone: 'Europe/Paris', weekly: { mon } } },
  });

  it('refuses overlapping ranges of a day, at the later one in the file', () => {
    expect(problems(withRanges(['09:00-12:00', '11:00-13:00']))).toEqual([
      '$.schedules.office.weekly.mon[1]: 11:00-13:00 overlaps 09:00-12:00 on mon',
    ]);
    expect(problems(withRanges(['13:00-14:00', '09:00-13:30']))).toEqual([
      '$.schedules.office.weekly.mon[1]: 13:00-14:00 overlaps 09:00-13:30 on mon',
    ]);
    // Same start: the earlier in the file comes first.
    expect(problems(withRanges(['09:00-10:00', '09:00-11:00']))).toEqual([
      '$.schedules.office.weekly.mon[1]: 09:00-11:00 overlaps 09:00-10:00 on mon',
    ]);
  });

  it('accepts ranges that only touch, in any order', () => {
    expect(problems(withRanges(['12:00-13:00', '09:00-12:00', '13:00-24:00']))).toEqual([]);
  });
});

describe('http nodes', () => {
  const withLookup = (change: (lookup: Mutable) => void, hosts?: string[]) => {
    const f = lookupFlow();
    change(f.nodes.lookup);
    if (hosts) f.http.allowedHosts = hosts;
    return problems(f);
  };

  it('refuses a url that is not absolute', () => {
    expect(withLookup((l) => (l.url = 'crm.contoso.example/orders'))).toEqual([
      '$.nodes.lookup.url: not an absolute URL',
    ]);
  });

  it('names the url for a scheme, credentials or a stray brace', () => {
    expect(withLookup((l) => (l.url = 'http://crm.contoso.example/x'))).toEqual([
      '$.nodes.lookup.url: an http node calls https only (got http:)',
    ]);
    expect(withLookup((l) => (l.url = 'https://user@crm.contoso.example/x'))).toEqual([
      '$.nodes.lookup.url: a url carries no credentials: use a header fromSetting',
    ]);
    expect(withLookup((l) => (l.url = 'https://crm.contoso.example/{order'))).toEqual([
      '$.nodes.lookup.url: a brace that is not part of a {variable} placeholder',
    ]);
  });

  it('refuses a {variable} in the port as in the host', () => {
    expect(withLookup((l) => (l.url = 'https://crm.contoso.example:{order}/x'))).toEqual([
      '$.nodes.lookup.url: the scheme and host of a url are fixed: no {variable} there',
    ]);
  });

  it('takes variables in the path and the query', () => {
    expect(withLookup((l) => (l.url = 'https://crm.contoso.example/o/{order}?q={order}#{order}'))).toEqual(
      [],
    );
  });

  it('compares hosts without case and lists the allowed ones', () => {
    expect(withLookup(() => {}, ['other.example', 'CRM.Contoso.Example'])).toEqual([]);
    expect(withLookup((l) => (l.url = 'https://CRM.contoso.example/x'))).toEqual([]);
    expect(withLookup(() => {}, ['a.example', 'b.example'])).toEqual([
      '$.nodes.lookup.url: host "crm.contoso.example" is not on http.allowedHosts (a.example, b.example)',
    ]);
    expect(withLookup(() => {}, [])).toEqual([
      '$.nodes.lookup.url: host "crm.contoso.example" is not on http.allowedHosts (empty)',
    ]);
  });

  it('refuses a header given twice, in any case', () => {
    expect(
      withLookup(
        (l) =>
          (l.headers = [
            { header: 'X-Id', value: '1' },
            { header: 'accept', value: 'application/json' },
            { header: 'x-id', value: '2' },
          ]),
      ),
    ).toEqual(['$.nodes.lookup.headers[2].header: header "x-id" is given twice']);
  });

  it('checks the braces of header values and body fields, each at its path', () => {
    expect(
      withLookup((l) => {
        l.method = 'POST';
        l.headers = [{ header: 'x-order', value: '{order' }];
        l.body = { id: 'order}', ok: '{order}' };
      }),
    ).toEqual([
      '$.nodes.lookup.headers[0].value: a brace that is not part of a {variable} placeholder',
      '$.nodes.lookup.body.id: a brace that is not part of a {variable} placeholder',
    ]);
  });

  it('gives a body to POST, PUT and PATCH only', () => {
    for (const method of ['POST', 'PUT', 'PATCH'])
      expect(withLookup((l) => Object.assign(l, { method, body: { id: '{order}' } }))).toEqual([]);
    expect(withLookup((l) => Object.assign(l, { method: 'DELETE', body: { id: '{order}' } }))).toEqual([
      '$.nodes.lookup.body: a DELETE request has no body: use POST, PUT or PATCH, or {variable} in the url',
    ]);
    expect(withLookup((l) => (l.method = 'DELETE'))).toEqual([]);
  });
});

describe('did you mean', () => {
  it('suggests the nearest known name, without case, the first of equals', () => {
    expect(didYouMean('ordr', ['status', 'order'])).toBe('; did you mean "order"?');
    expect(didYouMean('ORDER', ['order'])).toBe('; did you mean "order"?');
    expect(didYouMean('order', ['ordex', 'ordez'])).toBe('; did you mean "ordex"?');
    expect(didYouMean('order', [])).toBe('');
  });

  it('allows 2 edits, or a third of a longer name', () => {
    expect(didYouMean('abcd', ['abxy'])).toBe('; did you mean "abxy"?');
    expect(didYouMean('abcd', ['axyz'])).toBe('');
    expect(didYouMean('abcdefghijkl', ['abcdefghwxyz'])).toBe('; did you mean "abcdefghwxyz"?');
    expect(didYouMean('abcdefghijkl', ['abcdefgvwxyz'])).toBe('');
  });

  it('gives up on names whose lengths differ by more than 8', () => {
    const name = 'a'.repeat(30); // a third: 10 edits
    expect(didYouMean(name, [`${name}${'b'.repeat(8)}`])).toBe(`; did you mean "${name}${'b'.repeat(8)}"?`);
    expect(didYouMean(name, [`${name}${'b'.repeat(9)}`])).toBe('');
  });
});

describe('loops', () => {
  const chain = (length: number): Mutable => ({
    number: '+14255550100',
    prompts: { p: 'https://media.example.com/p.wav' },
    default: { type: 'answer', start: 'p0' },
    nodes: Object.fromEntries(
      Array.from({ length }, (_, i) => [
        `p${i}`,
        { type: 'play', prompts: ['p'], next: `p${(i + 1) % length}` },
      ]),
    ),
  });

  it('names every node of a loop of 11, and shortens a loop of 12', () => {
    expect(problems(chain(11))).toEqual([
      '$.nodes.p0: loop that waits for no caller input: p0 -> p1 -> p2 -> p3 -> p4 -> p5 -> p6 -> p7 -> p8 -> p9 -> p10 -> p0',
    ]);
    expect(problems(chain(12))).toEqual([
      '$.nodes.p0: loop that waits for no caller input: p0 -> p1 -> p2 -> p3 -> p4 -> ... -> p8 -> p9 -> p10 -> p11 -> p0 (12 nodes)',
    ]);
  });
});

describe('a flows folder', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'graph-ivr-checks-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the alias or application instance another file already configures', () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify(realisticFlowInput()));
    const byAlias = { ...realisticFlowInput(), number: '+14255550200', applicationInstanceId: undefined };
    byAlias.aliases = ['other', 'contoso-main'];
    writeFileSync(join(dir, 'b.json'), JSON.stringify(byAlias));
    const byApp = { ...realisticFlowInput(), number: '+14255550300', aliases: [] };
    writeFileSync(join(dir, 'c.json'), JSON.stringify(byApp));
    const catalog = loadFlowDirectory(dir);
    expect([...catalog.byId.keys()]).toEqual(['a']);
    expect(catalog.problems).toEqual([
      {
        file: join(dir, 'b.json'),
        path: '$.aliases[1]',
        message: `"contoso-main" is already configured by ${join(dir, 'a.json')}`,
      },
      {
        file: join(dir, 'c.json'),
        path: '$.applicationInstanceId',
        message: `"${APP_INSTANCE}" is already configured by ${join(dir, 'a.json')}`,
      },
    ]);
  });

  it('skips JSON Schemas and flow tests, and reports a FIFO named like a flow without opening it', () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify(realisticFlowInput()));
    writeFileSync(join(dir, 'a.test.json'), '{ not a flow');
    writeFileSync(join(dir, 'flow.schema.json'), '{ not a flow');
    execFileSync('mkfifo', [join(dir, 'pipe.json')]);
    const catalog = loadFlowDirectory(dir);
    expect([...catalog.byId.keys()]).toEqual(['a']);
    expect(catalog.problems).toEqual([
      { file: join(dir, 'pipe.json'), path: '', message: 'cannot read the file: not a regular file' },
    ]);
  });
});

describe('schema refinements', () => {
  const after = (change: (f: Mutable) => void) => {
    const f = lookupFlow();
    change(f);
    return problems(f);
  };

  it('a number of the E.164 shape must also be possible in its country; a malformed one says only that', () => {
    expect(after((f) => (f.number = '+1312555'))).toEqual([
      '$.number: not a possible phone number: too short or too long for its country code',
    ]);
    expect(after((f) => (f.number = 'abc'))).toEqual(['$.number: an E.164 number such as +14255550100']);
  });

  it('a time range of no length is refused', () => {
    const range = (r: string) => (f: Mutable) =>
      (f.schedules = { o: { timeZone: 'UTC', weekly: { mon: [r] } } });
    expect(after(range('12:00-12:00'))).toEqual([
      '$.schedules.o.weekly.mon[0]: a time range must end after it starts, at 24:00 at the latest',
    ]);
    expect(after(range('12:00-12:01'))).toEqual([]);
  });

  it('a rule with no condition and a menu with no option are refused', () => {
    expect(after((f) => (f.rules = [{ when: {}, then: { type: 'reject' } }]))).toEqual([
      '$.rules[0].when: a condition needs at least one test',
    ]);
    expect(
      after((f) => (f.nodes.bye = { type: 'menu', prompt: 'enter', options: {}, fallback: 'bye' })),
    ).toEqual(['$.nodes.bye.options: a menu needs at least one option']);
  });

  it('a rule pattern must be a valid regular expression', () => {
    expect(
      after(
        (f) =>
          (f.rules = [
            { when: { variables: [{ variable: 'caller', matches: '(' }] }, then: { type: 'reject' } },
          ]),
      ),
    ).toEqual(['$.rules[0].when.variables[0].matches: not a valid regular expression']);
  });

  it.each(['host', 'Host', 'CONTENT-LENGTH'])('the bot sets the %s header itself', (header) => {
    expect(after((f) => (f.nodes.lookup.headers = [{ header, value: 'v' }]))).toEqual([
      '$.nodes.lookup.headers[0].header: this header is set by the bot (host, content-length, content-type, connection…)',
    ]);
  });

  it.each<[string, boolean]>([
    ['Cookie', true],
    ['Authorization', true],
    ['Proxy-Authorization', true],
    ['x-api-key', true],
    ['X-Auth-Token', true],
    ['x-cookie', false],
    ['cookie-policy', false],
    ['x-authorization-hint', true],
    ['accept-language', false],
  ])('a literal %s header is a credential: %s', (header, credential) => {
    expect(after((f) => (f.nodes.lookup.headers = [{ header, value: 'v' }]))).toEqual(
      credential
        ? [
            '$.nodes.lookup.headers[0].value: a credential header takes its value fromSetting, never from the flow file',
          ]
        : [],
    );
  });
});
