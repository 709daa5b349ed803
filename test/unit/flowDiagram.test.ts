import { flowDiagram } from '../../shared/flows/diagram';
import { validateFlow } from '../../shared/flows/loader';

/**
 * The Mermaid text of a flow using every node type, rule condition and action, written out by
 * hand: authors paste it into their docs, so every label and way out is part of the contract.
 */

const url = (name: string) => `https://media.example.com/${name}.wav`;

const input = {
  number: '+14255550100',
  prompts: Object.fromEntries(['menu', 'closed', 'beep', 'bye', 'enter'].map((p) => [p, url(p)])),
  schedules: {
    office: {
      timeZone: 'Europe/Paris',
      weekly: { mon: ['09:00-12:30', '13:30-17:30'], fri: ['09:00-17:00'] },
      holidays: ['2025-12-25', '2026-01-01'],
    },
    shut: { timeZone: 'UTC', weekly: {} },
  },
  rules: [
    {
      name: 'blocked <"spam">',
      when: { callerIn: ['+1206*', 'anonymous'], callerNotIn: ['+12065550100', '+12065550101'] },
      then: { type: 'reject', reason: 'busy' },
    },
    { when: { open: 'office' }, then: { type: 'answer', start: 'main' } },
    {
      name: 'elsewhere',
      when: {
        closed: 'shut',
        variables: [
          { variable: 'caller', matches: '\\+33.*' },
          { variable: 'called', min: 1, max: 5 },
        ],
      },
      then: {
        type: 'redirect',
        targets: [{ phone: '+33140000000' }, { user: 'u-1' }, { applicationInstance: 'app-1' }],
      },
    },
  ],
  default: { type: 'answer', start: 'closed' },
  outbound: { start: 'main' },
  http: { allowedHosts: ['crm.contoso.example'] },
  nodes: {
    main: {
      type: 'menu',
      prompt: 'menu',
      options: { '1': 'order', '2': 'vm', '9': 'desk' },
      fallback: 'bye',
    },
    closed: { type: 'play', prompts: ['closed', 'bye'], next: 'single' },
    single: {
      type: 'menu',
      prompt: 'menu',
      maxAttempts: 1,
      options: { '2': 'vm2', '3': 'person', '4': 'pin', '5': 'ping' },
      fallback: 'bye',
    },
    vm: {
      type: 'record',
      prompt: 'beep',
      stopTones: ['#', '*'],
      maxAttempts: 2,
      maxRecordDurationSeconds: 30,
      next: { stopTone: 'bye', maxDuration: 'bye', silence: 'bye', failure: 'bye', noInput: 'quiet' },
    },
    vm2: {
      type: 'record',
      stopTones: [],
      next: { stopTone: 'bye', maxDuration: 'bye', silence: 'quiet', failure: 'bye' },
    },
    desk: { type: 'transfer', target: { phone: '+14255550199' }, fallback: 'bye' },
    person: { type: 'transfer', target: { user: 'u-2' }, fallback: 'bye' },
    quiet: { type: 'hangup' },
    bye: { type: 'hangup', prompt: 'bye' },
    order: {
      type: 'collect',
      prompt: 'enter',
      into: 'order',
      minDigits: 4,
      maxDigits: 8,
      next: 'lookup',
      fallback: 'bye',
    },
    pin: { type: 'collect', prompt: 'enter', into: 'pin', maxAttempts: 1, next: 'bye', fallback: 'bye' },
    lookup: {
      type: 'http',
      method: 'POST',
      url: 'https://crm.contoso.example/orders/{order}',
      body: { id: '{order}' },
      map: { status: { field: 'status' }, eta: { field: 'eta' } },
      timeoutSeconds: 2,
      next: { success: 'route', clientError: 'bye', timeout: 'quiet', failure: 'bye' },
    },
    ping: {
      type: 'http',
      url: 'https://crm.contoso.example/ping',
      next: { success: 'bye', serverError: 'quiet', invalidAnswer: 'quiet', failure: 'bye' },
    },
    route: {
      type: 'branch',
      cases: [
        { variable: 'status', equals: 'shipped', next: 'bye' },
        { variable: 'status', in: ['lost', 'late'], next: 'desk' },
        { variable: 'order', matches: '9.*', next: 'quiet' },
        { variable: 'order', min: 100, next: 'bye' },
        { variable: 'order', max: 5, next: 'bye' },
        { variable: 'eta', equals: '1', in: ['1'], matches: '\\d', min: 1, max: 2, next: 'bye' },
      ],
      default: 'bye',
    },
  },
};

const expected = `flowchart TD
  incoming(("incoming call to +14255550100"))
  rule0{"blocked #lt;#quot;spam#quot;#gt;: caller in +1206*, anonymous and caller not in +12065550100, +12065550101"}
  incoming --> rule0
  end0[/"reject (busy)"/]
  rule0 -- "match" --> end0
  rule1{"rule 2: open: office (Europe/Paris: mon 09:00-12:30 13:30-17:30; fri 09:00-17:00; 2 holidays)"}
  rule0 -- "no match" --> rule1
  rule1 -- "match: answer" --> n0
  rule2{"elsewhere: closed: shut (UTC: never) and caller matches \\+33.* and called 1..5"}
  rule1 -- "no match" --> rule2
  end1[/"redirect to +33140000000, user u-1, app app-1"/]
  rule2 -- "match" --> end1
  rule2 -- "no rule matches" --> n1
  outbound(("outbound call"))
  outbound -- "answered" --> n0
  n0{{"main: menu menu (3 attempts)"}}
  n0 -- "1" --> n9
  n0 -- "2" --> n3
  n0 -- "9" --> n5
  n0 -- "no input: prompt again" --> n0
  n0 -- "invalid: prompt again" --> n0
  n0 -- "no input / invalid, max attempts (3)" --> n8
  n1["closed: play closed, bye"]
  n1 --> n2
  n2{{"single: menu menu (1 attempts)"}}
  n2 -- "2" --> n4
  n2 -- "3" --> n6
  n2 -- "4" --> n10
  n2 -- "5" --> n12
  n2 -- "no input / invalid, max attempts (1)" --> n8
  n3[("vm: record up to 30 s")]
  n3 -- "stop tone # *" --> n8
  n3 -- "max duration" --> n8
  n3 -- "silence" --> n8
  n3 -- "failure" --> n8
  n3 -- "no input: ask again" --> n3
  n3 -- "no input, max attempts (2)" --> n7
  n4[("vm2: record up to 60 s")]
  n4 -- "stop tone" --> n8
  n4 -- "max duration" --> n8
  n4 -- "silence / no input" --> n7
  n4 -- "failure" --> n8
  n5[["desk: transfer to +14255550199"]]
  end2(["transferred"])
  n5 -- "accepted" --> end2
  n5 -- "transfer failed" --> n8
  n6[["person: transfer to user u-2"]]
  end3(["transferred"])
  n6 -- "accepted" --> end3
  n6 -- "transfer failed" --> n8
  n7(["quiet: hang up"])
  n8(["bye: hang up after bye"])
  n9{{"order: collect 4-8 digits into order after enter"}}
  n9 -- "valid entry: order" --> n11
  n9 -- "no input: prompt again" --> n9
  n9 -- "invalid: prompt again" --> n9
  n9 -- "no input / invalid, max attempts (3)" --> n8
  n10{{"pin: collect 1-16 digits into pin after enter"}}
  n10 -- "valid entry: pin" --> n8
  n10 -- "no input / invalid, max attempts (1)" --> n8
  n11[/"lookup: POST https://crm.contoso.example/orders/{order} -#gt; status, eta"/]
  n11 -- "success" --> n13
  n11 -- "4xx" --> n8
  n11 -- "timeout (2 s)" --> n7
  n11 -- "failure" --> n8
  n12[/"ping: GET https://crm.contoso.example/ping"/]
  n12 -- "success" --> n8
  n12 -- "5xx" --> n7
  n12 -- "invalid answer" --> n7
  n12 -- "failure" --> n8
  n13{"route: branch"}
  n13 -- "status = shipped" --> n8
  n13 -- "status in lost, late" --> n5
  n13 -- "order matches 9.*" --> n7
  n13 -- "order 100..…" --> n8
  n13 -- "order …..5" --> n8
  n13 -- "eta = 1 and in 1 and matches \\d and 1..2" --> n8
  n13 -- "default" --> n8
`;

test('the diagram of a flow with every node type, condition and action, line by line', () => {
  const loaded = validateFlow(input, '/flows/all.json');
  expect(loaded.problems).toEqual([]);
  expect(flowDiagram(loaded.flow!.flow).split('\n')).toEqual(expected.split('\n'));
});

test('a flow without rules goes straight to its default', () => {
  const loaded = validateFlow(
    {
      number: '+14255550100',
      prompts: {},
      default: { type: 'answer', start: 'bye' },
      nodes: { bye: { type: 'hangup' } },
    },
    '/flows/min.json',
  );
  expect(flowDiagram(loaded.flow!.flow)).toBe(
    'flowchart TD\n  incoming(("incoming call to +14255550100"))\n  incoming -- "answer" --> n0\n  n0(["bye: hang up"])\n',
  );
});
