import { validateFlow } from '../../shared/flows/loader';
import { flowDiagram } from '../../shared/flows/diagram';
import { decideIncoming } from '../../shared/flows/rules';
import { SECRET_SETTING, secretSetting } from '../../shared/config/settings';
import { SECRET_SETTING_NAME } from '../../shared/flows/schema';
import type { Mutable } from './fixtures';

/** The loader's checks of variables, collect, branch and http nodes; rules on variables; the diagram. */

const FILE = '/flows/orders.json';

function flow(): Mutable {
  return {
    number: '+14255550100',
    prompts: { enter: 'https://media.example.com/enter.wav', hold: 'https://media.example.com/hold.wav' },
    default: { type: 'answer', start: 'enter' },
    http: { allowedHosts: ['crm.contoso.example'] },
    nodes: {
      enter: { type: 'collect', prompt: 'enter', into: 'order', next: 'lookup', fallback: 'bye' },
      lookup: {
        type: 'http',
        url: 'https://crm.contoso.example/orders/{order}',
        headers: [{ header: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' }],
        holdPrompt: 'hold',
        map: { status: { field: 'status' } },
        next: { success: 'route', failure: 'bye' },
      },
      route: {
        type: 'branch',
        cases: [{ variable: 'status', equals: 'shipped', next: 'bye' }],
        default: 'bye',
      },
      bye: { type: 'hangup' },
    },
  };
}

const problems = (input: unknown) => validateFlow(input, FILE).problems.map((p) => `${p.path}: ${p.message}`);

test('a flow that collects, looks up and branches loads', () => {
  expect(problems(flow())).toEqual([]);
});

test('a variable read on a path that does not set it is refused, naming where', () => {
  const f = flow();
  // The lookup's failure path reaches the branch, which reads what only success sets.
  f.nodes.lookup.next.failure = 'route';
  expect(problems(f)).toEqual([
    expect.stringMatching(/^\$\.nodes\.route\.cases\[0\]\.variable: variable "status" may be unset here/),
  ]);
  const g = flow();
  // The collect's fallback reaches the lookup, whose url reads the entry.
  g.nodes.enter.fallback = 'lookup';
  expect(problems(g)).toEqual([
    expect.stringMatching(/^\$\.nodes\.lookup\.url: variable "order" may be unset here/),
  ]);
});

test('an unknown variable is named with a suggestion; built-ins cannot be set', () => {
  const f = flow();
  f.nodes.lookup.url = 'https://crm.contoso.example/orders/{ordr}';
  f.nodes.lookup.map.number = { field: 'n' };
  expect(problems(f)).toEqual([
    '$.nodes.lookup.map.number: "number" is a built-in variable (caller, called, number): it cannot be set',
    '$.nodes.lookup.url: no variable named "ordr"; did you mean "order"?',
  ]);
});

test('an http node must call https on a listed host, with no variable in the host', () => {
  const cases: Array<[string, RegExp]> = [
    ['https://evil.example/x', /host "evil\.example" is not on http\.allowedHosts \(crm\.contoso\.example\)/],
    ['http://crm.contoso.example/x', /calls https only/],
    ['https://{order}.contoso.example/x', /no \{variable\} there/],
    ['https://user:pw@crm.contoso.example/x', /carries no credentials/],
    ['https://crm.contoso.example/{order', /a brace that is not part of a \{variable\} placeholder/],
  ];
  for (const [url, message] of cases) {
    const f = flow();
    f.nodes.lookup.url = url;
    expect(problems(f)).toEqual([expect.stringMatching(message)]);
  }
  const none = flow();
  delete none.http;
  expect(problems(none)).toEqual([expect.stringMatching(/not on http\.allowedHosts \(empty\)/)]);
});

test('secrets come from IVR_SECRET_ settings, never from the flow file', () => {
  const literal = flow();
  literal.nodes.lookup.headers = [{ header: 'Authorization', value: 'Bearer abc' }];
  expect(problems(literal)).toEqual([
    expect.stringMatching(/headers\[0\]\.value: a credential header takes its value fromSetting/),
  ]);
  const other = flow();
  other.nodes.lookup.headers = [{ header: 'x-api-key', fromSetting: 'AZURE_CLIENT_SECRET' }];
  expect(problems(other)).toEqual([expect.stringMatching(/IVR_SECRET_ prefix/)]);
  expect(SECRET_SETTING.source).toBe(SECRET_SETTING_NAME.source);
  expect(secretSetting('IVR_SECRET_CRM', { IVR_SECRET_CRM: 'v' })).toBe('v');
  expect(secretSetting('IVR_SECRET_CRM', { IVR_SECRET_CRM: '' })).toBeUndefined();
  expect(() => secretSetting('AZURE_CLIENT_SECRET', { AZURE_CLIENT_SECRET: 'x' })).toThrow(
    /not an IVR_SECRET_/,
  );
});

test('a GET has no body; collect lengths are ordered; a branch needs a default and a test', () => {
  const f = flow();
  f.nodes.lookup.body = { order: '{order}' };
  f.nodes.enter.minDigits = 9;
  f.nodes.enter.maxDigits = 4;
  expect(problems(f)).toEqual([
    '$.nodes.enter.minDigits: minDigits (9) is over maxDigits (4)',
    expect.stringMatching(/^\$\.nodes\.lookup\.body: a GET request has no body/),
  ]);
  const g = flow();
  delete g.nodes.route.default;
  g.nodes.route.cases = [{ variable: 'status', next: 'bye' }];
  expect(problems(g)).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^\$\.nodes\.route\.cases\[0\]: a test needs equals, in, matches, min or max/),
      expect.stringMatching(/^\$\.nodes\.route\.default:/),
    ]),
  );
});

test('a loop of requests without a caller is refused', () => {
  const f = flow();
  f.nodes.lookup.next.failure = 'lookup';
  expect(problems(f)).toEqual([
    expect.stringMatching(/loop that waits for no caller input: lookup -> lookup/),
  ]);
});

test('an optional outbound variable may choose prompts but not fill a url; a required one may', () => {
  const f = flow();
  f.outbound = { start: 'call', variables: { ticket: { required: false } } };
  f.nodes.call = {
    type: 'http',
    method: 'POST',
    url: 'https://crm.contoso.example/tickets/{ticket}/called',
    next: { success: 'bye', failure: 'bye' },
  };
  expect(problems(f)).toEqual([
    expect.stringMatching(/\$\.nodes\.call\.url: variable "ticket" may be unset/),
  ]);
  f.outbound.variables.ticket.required = true;
  expect(problems(f)).toEqual([]);
});

test('rules test the built-in variables only', () => {
  const f = flow();
  f.rules = [
    {
      name: 'premium line',
      when: { variables: [{ variable: 'caller', matches: '\\+1206.*' }] },
      then: { type: 'reject', reason: 'busy' },
    },
  ];
  const loaded = validateFlow(f, FILE).flow!;
  expect(decideIncoming(loaded.flow, '+12065550100', new Date()).matched).toBe('premium line');
  expect(decideIncoming(loaded.flow, '+14255550100', new Date()).matched).toBe('default');
  f.rules[0].when.variables = [{ variable: 'order', equals: '1' }];
  expect(problems(f)).toEqual([expect.stringMatching(/a rule knows only the built-in variables/)]);
});

test('the diagram draws collect, http and branch nodes with every way out', () => {
  const f = flow();
  f.nodes.lookup.next.clientError = 'bye';
  const text = flowDiagram(validateFlow(f, FILE).flow!.flow);
  expect(text).toContain('enter: collect 1-16 digits into order after enter');
  expect(text).toContain('lookup: GET https://crm.contoso.example/orders/{order} -#gt; status');
  expect(text).toMatch(/-- "4xx" -->/);
  expect(text).toMatch(/-- "status = shipped" -->/);
  expect(text).toMatch(/-- "default" -->/);
});

test('references and variables are reported at their exact path in collect, branch, http and play nodes', () => {
  const f = flow();
  f.nodes.enter.next = 'n1';
  f.nodes.enter.fallback = 'n2';
  f.nodes.lookup.method = 'POST';
  f.nodes.lookup.headers = [{ header: 'x-a', value: 'v{zz}' }];
  f.nodes.lookup.body = { f: '{yy}' };
  f.nodes.lookup.next = { success: 'route', timeout: 'n5', failure: 'bye' };
  f.nodes.route.cases[0].next = 'n3';
  f.nodes.route.default = 'n4';
  f.prompts.other = 'https://media.example.com/other.wav';
  f.nodes.pick = { type: 'play', prompts: ['other'], promptsBy: { variable: 'ww', cases: {} }, next: 'bye' };
  expect(problems(f)).toEqual([
    '$.nodes.lookup.headers[0].value: no variable named "zz"',
    '$.nodes.lookup.body.f: no variable named "yy"',
    '$.nodes.pick.promptsBy.variable: no variable named "ww"',
    '$.nodes.enter.next: no node named "n1"',
    '$.nodes.enter.fallback: no node named "n2"',
    '$.nodes.lookup.next.timeout: no node named "n5"',
    '$.nodes.route.cases[0].next: no node named "n3"',
    '$.nodes.route.default: no node named "n4"',
  ]);
});

test('a loop through a collect or a menu waits for the caller; a loop of branches does not', () => {
  const viaNext = flow();
  viaNext.nodes.route.default = 'enter';
  expect(problems(viaNext)).toEqual([]);
  const viaFallback = flow();
  viaFallback.nodes.enter.fallback = 'route';
  viaFallback.nodes.route.default = 'enter';
  viaFallback.nodes.route.cases[0].variable = 'caller';
  expect(problems(viaFallback)).toEqual([]);
  const viaMenu = flow();
  viaMenu.prompts.menu = 'https://media.example.com/menu.wav';
  viaMenu.nodes.menu = { type: 'menu', prompt: 'menu', options: { '1': 'bye' }, fallback: 'route' };
  viaMenu.nodes.route.default = 'menu';
  viaMenu.nodes.route.cases[0].variable = 'caller';
  viaMenu.default.start = 'menu';
  delete viaMenu.nodes.enter;
  delete viaMenu.nodes.lookup;
  expect(problems(viaMenu)).toEqual([]);
  for (const change of [
    (f: Mutable) => (f.nodes.route.cases[0].next = 'route'),
    (f: Mutable) => (f.nodes.route.default = 'route'),
  ]) {
    const f = flow();
    change(f);
    expect(problems(f)).toEqual([
      expect.stringMatching(/loop that waits for no caller input: route -> route/),
    ]);
  }
});

test('unknown prompts are reported at their exact path in menu, collect, http and promptsBy', () => {
  const f = flow();
  Object.assign(f.nodes.enter, { prompt: 'qqq1', noInputPrompt: 'qqq7', invalidPrompt: 'qqq8' });
  f.nodes.lookup.holdPrompt = 'qqq2';
  f.nodes.menu = {
    type: 'menu',
    prompt: 'qqq3',
    noInputPrompt: 'qqq4',
    invalidPrompt: 'qqq5',
    options: { '1': 'bye' },
    fallback: 'bye',
  };
  f.nodes.pick = {
    type: 'play',
    prompts: ['hold'],
    promptsBy: { variable: 'caller', cases: { '+1': ['hold', 'qqq6'] } },
    next: 'bye',
  };
  expect(problems(f)).toEqual([
    '$.nodes.enter.prompt: no prompt named "qqq1"',
    '$.nodes.enter.noInputPrompt: no prompt named "qqq7"',
    '$.nodes.enter.invalidPrompt: no prompt named "qqq8"',
    '$.nodes.lookup.holdPrompt: no prompt named "qqq2"',
    '$.nodes.menu.prompt: no prompt named "qqq3"',
    '$.nodes.menu.noInputPrompt: no prompt named "qqq4"',
    '$.nodes.menu.invalidPrompt: no prompt named "qqq5"',
    // The index inside a case is printed as a key today (["1"]): either form names the prompt.
    expect.stringMatching(/^\$\.nodes\.pick\.promptsBy\.cases\["\+1"\]\[(1|"1")\]: no prompt named "qqq6"$/),
  ]);
});
