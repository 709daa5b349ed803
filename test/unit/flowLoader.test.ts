import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatProblem,
  FlowValidationError,
  loadFlowDirectory,
  nodeEdges,
  nodePrompts,
  validateFlow,
  validateFlowText,
  type FlowProblem,
} from '../../shared/flows/loader';
import type { FlowFileInput } from '../../shared/flows/schema';
import { APP_INSTANCE, realisticFlowInput, type Mutable } from './fixtures';

const FILE = '/flows/contoso.json';

/** Validates the realistic flow after a change; the change gets a mutable (loosely typed) copy. */
function problemsAfter(change: (f: Mutable) => void): FlowProblem[] {
  const input = structuredClone(realisticFlowInput()) as Mutable;
  change(input);
  const result = validateFlow(input, FILE);
  expect(result.flow).toBeUndefined();
  expect(result.problems.length).toBeGreaterThan(0);
  for (const p of result.problems) expect(p.file).toBe(FILE);
  return result.problems;
}

function expectProblem(problems: FlowProblem[], path: string, message: string | RegExp): void {
  expect(problems).toContainEqual({
    file: FILE,
    path,
    message: typeof message === 'string' ? message : expect.stringMatching(message),
  });
}

describe('a valid flow', () => {
  // Validated in the tests, not when the suite is collected (see fixtureFlow in fixtures.ts).
  let validated: ReturnType<typeof validateFlow> | undefined;
  const valid = () => (validated ??= validateFlow(realisticFlowInput(), FILE));

  it('loads with no problems, an id from the file name and defaults filled in', () => {
    expect(valid().problems).toEqual([]);
    const loaded = valid().flow!;
    expect(loaded.id).toBe('contoso');
    expect(loaded.file).toBe(FILE);
    expect(loaded.flow.number).toBe('+14255550100');
    const main = loaded.flow.nodes.main!;
    expect(main.type === 'menu' && main.interDigitTimeoutSeconds).toBe(3);
    const vm = loaded.flow.nodes.voicemail!;
    expect(vm.type === 'record' && [vm.playBeep, vm.bargeInAllowed]).toEqual([true, false]);
    expect(loaded.flow.recordings).toEqual({ persist: true, retentionDays: 30 });
  });

  it('lists exactly the prompts reachable from each entry', () => {
    const byEntry = valid().flow!.promptsByEntry;
    expect([...byEntry.keys()].sort()).toEqual(['closed', 'outboundGreeting', 'welcome']);
    const welcome = byEntry.get('welcome')!;
    expect(new Set(welcome).size).toBe(welcome.length);
    expect([...welcome].sort()).toEqual(
      [
        'welcome',
        'mainMenu',
        'noInput',
        'invalid',
        'salesIntro',
        'salesHours',
        'goodbye',
        'directory',
        'voicemailPrompt',
        'thanks',
        'noMessage',
        'sorryError',
        'operatorBusy',
      ].sort(),
    );
    expect(welcome).not.toContain('closedMsg');
    expect(welcome).not.toContain('outboundMsg');
    expect(welcome).not.toContain('unusedPrompt');
    expect(byEntry.get('closed')).toEqual(['closedMsg']);
    expect([...byEntry.get('outboundGreeting')!].sort()).toEqual(['goodbye', 'outboundMsg']);
  });

  it('gives the prompts in a stable order', () => {
    const again = validateFlow(realisticFlowInput(), FILE).flow!;
    expect(again.promptsByEntry.get('welcome')).toEqual(valid().flow!.promptsByEntry.get('welcome'));
  });

  it('accepts loops through a menu (the menu waits for the caller)', () => {
    const input = realisticFlowInput() as Mutable;
    input.nodes.main.options['8'] = 'replay';
    input.nodes.replay = { type: 'play', prompts: ['welcome'], next: 'again' };
    input.nodes.again = { type: 'play', prompts: ['welcome'], next: 'main' };
    const r = validateFlow(input, FILE);
    expect(r.problems).toEqual([]);
    expect(r.flow!.flow.nodes.replay).toBeDefined();
  });

  it('accepts a record loop (recording waits for the caller)', () => {
    const input = realisticFlowInput() as Mutable;
    input.nodes.voicemail.next.maxDuration = 'voicemail';
    expect(validateFlow(input, FILE).problems).toEqual([]);
  });

  it('parses from text too', () => {
    const r = validateFlowText(JSON.stringify(realisticFlowInput()), '/x/sales-line.json');
    expect(r.problems).toEqual([]);
    expect(r.flow!.id).toBe('sales-line');
  });
});

describe('dangling references', () => {
  it.each<[string, (f: Mutable) => void, string, string]>([
    [
      'play next',
      (f) => (f.nodes.welcome.next = 'nowhere'),
      '$.nodes.welcome.next',
      'no node named "nowhere"',
    ],
    [
      'menu option',
      (f) => (f.nodes.main.options['1'] = 'nowhere'),
      '$.nodes.main.options["1"]',
      'no node named "nowhere"',
    ],
    [
      'menu fallback',
      (f) => (f.nodes.main.fallback = 'nowhere'),
      '$.nodes.main.fallback',
      'no node named "nowhere"',
    ],
    [
      'record next (silence)',
      (f) => (f.nodes.voicemail.next.silence = 'nowhere'),
      '$.nodes.voicemail.next.silence',
      'no node named "nowhere"',
    ],
    [
      'record next (failure)',
      (f) => (f.nodes.voicemail.next.failure = 'nowhere'),
      '$.nodes.voicemail.next.failure',
      'no node named "nowhere"',
    ],
    [
      'transfer fallback',
      (f) => (f.nodes.operator.fallback = 'nowhere'),
      '$.nodes.operator.fallback',
      'no node named "nowhere"',
    ],
    [
      'rule answer start',
      (f) => (f.rules[5].then.start = 'nowhere'),
      '$.rules[5].then.start',
      'no node named "nowhere"',
    ],
    [
      'default answer start',
      (f) => (f.default.start = 'nowhere'),
      '$.default.start',
      'no node named "nowhere"',
    ],
    ['outbound start', (f) => (f.outbound.start = 'nowhere'), '$.outbound.start', 'no node named "nowhere"'],
  ])('%s', (_what, change, path, message) => {
    expectProblem(problemsAfter(change), path, message);
  });

  it.each<[string, (f: Mutable) => void, string]>([
    ['play prompt', (f) => (f.nodes.sales.prompts[1] = 'missing'), '$.nodes.sales.prompts[1]'],
    ['menu prompt', (f) => (f.nodes.main.prompt = 'missing'), '$.nodes.main.prompt'],
    ['menu invalidPrompt', (f) => (f.nodes.main.invalidPrompt = 'missing'), '$.nodes.main.invalidPrompt'],
    ['menu noInputPrompt', (f) => (f.nodes.main.noInputPrompt = 'missing'), '$.nodes.main.noInputPrompt'],
    ['record prompt', (f) => (f.nodes.voicemail.prompt = 'missing'), '$.nodes.voicemail.prompt'],
    [
      'record noInputPrompt',
      (f) => (f.nodes.voicemail.noInputPrompt = 'missing'),
      '$.nodes.voicemail.noInputPrompt',
    ],
    ['hangup prompt', (f) => (f.nodes.goodbye.prompt = 'missing'), '$.nodes.goodbye.prompt'],
  ])('dangling prompt name in a %s', (_what, change, path) => {
    const problems = problemsAfter(change);
    expect(problems).toEqual([{ file: FILE, path, message: 'no prompt named "missing"' }]);
  });

  it('an unknown schedule name in a rule', () => {
    expectProblem(
      problemsAfter((f) => (f.rules[3].when.open = 'weekend')),
      '$.rules[3].when.open',
      'no schedule named "weekend"',
    );
    expectProblem(
      problemsAfter((f) => (f.rules[5].when.closed = 'weekend')),
      '$.rules[5].when.closed',
      'no schedule named "weekend"',
    );
  });
});

describe('graph checks', () => {
  it('rejects an unreachable node', () => {
    const problems = problemsAfter(
      (f) => (f.nodes.orphan = { type: 'play', prompts: ['welcome'], next: 'main' }),
    );
    expect(problems).toEqual([
      { file: FILE, path: '$.nodes.orphan', message: expect.stringMatching(/unreachable/) },
    ]);
  });

  it('rejects a loop of play nodes that waits for no caller input', () => {
    const problems = problemsAfter((f) => {
      f.nodes.sales.next = 'loopA';
      f.nodes.loopA = { type: 'play', prompts: ['welcome'], next: 'loopB' };
      f.nodes.loopB = { type: 'play', prompts: ['welcome'], next: 'loopC' };
      f.nodes.loopC = { type: 'play', prompts: ['welcome'], next: 'loopA' };
    });
    expect(problems).toEqual([
      {
        file: FILE,
        path: '$.nodes.loopA',
        message: 'loop that waits for no caller input: loopA -> loopB -> loopC -> loopA',
      },
    ]);
  });

  it('rejects a self-loop and a transfer <-> play loop', () => {
    expectProblem(
      problemsAfter((f) => (f.nodes.closed.next = 'closed')),
      '$.nodes.closed',
      'loop that waits for no caller input: closed -> closed',
    );
    expectProblem(
      problemsAfter((f) => (f.nodes.operatorBusyNode.next = 'operator')),
      '$.nodes.operator',
      /loop that waits for no caller input: operator -> operatorBusyNode -> operator/,
    );
  });

  it('rejects an option containing the terminator', () => {
    const problems = problemsAfter((f) => (f.nodes.directory.options['10#'] = 'sales'));
    expect(problems).toEqual([
      {
        file: FILE,
        path: '$.nodes.directory.options["10#"]',
        message: 'an option cannot contain the terminator "#"',
      },
    ]);
  });

  it('rejects repeated stop tones', () => {
    expectProblem(
      problemsAfter((f) => (f.nodes.voicemail.stopTones = ['#', '#'])),
      '$.nodes.voicemail.stopTones',
      /must not repeat/,
    );
  });
});

describe('schema rules', () => {
  it.each<[string, (f: Mutable) => void, string, RegExp]>([
    ['menu maxAttempts 0', (f) => (f.nodes.main.maxAttempts = 0), '$.nodes.main.maxAttempts', />=\s*1/],
    ['menu maxAttempts 11', (f) => (f.nodes.main.maxAttempts = 11), '$.nodes.main.maxAttempts', /<=\s*10/],
    [
      'record maxRecordDurationSeconds 121',
      (f) => (f.nodes.voicemail.maxRecordDurationSeconds = 121),
      '$.nodes.voicemail.maxRecordDurationSeconds',
      /<=\s*120/,
    ],
    [
      'redirect timeoutSeconds 10',
      (f) => (f.rules[3].then.timeoutSeconds = 10),
      '$.rules[3].then.timeoutSeconds',
      />=\s*15/,
    ],
    [
      'redirect timeoutSeconds 91',
      (f) => (f.rules[3].then.timeoutSeconds = 91),
      '$.rules[3].then.timeoutSeconds',
      /<=\s*90/,
    ],
    [
      '26 redirect targets',
      (f) =>
        (f.rules[2].then.targets = Array.from({ length: 26 }, (_, i) => ({
          phone: `+1425555${String(i).padStart(4, '0')}`,
        }))),
      '$.rules[2].then.targets',
      /<=\s*25/,
    ],
    [
      '21 prompts on a play node',
      (f) => (f.nodes.sales.prompts = Array(21).fill('welcome')),
      '$.nodes.sales.prompts',
      /<=\s*20/,
    ],
    [
      'bad time zone',
      (f) => (f.schedules.office.timeZone = 'Europe/Atlantis'),
      '$.schedules.office.timeZone',
      /IANA time zone/,
    ],
    [
      'time zone abbreviation',
      (f) => (f.schedules.office.timeZone = 'CET'),
      '$.schedules.office.timeZone',
      /IANA time zone/,
    ],
    [
      'reversed time range',
      (f) => (f.schedules.office.weekly.tue = ['17:30-09:00']),
      '$.schedules.office.weekly.tue[0]',
      /must end after it starts/,
    ],
    [
      'time range past 24:00',
      (f) => (f.schedules.office.weekly.mon = ['09:00-24:30']),
      '$.schedules.office.weekly.mon[0]',
      /at 24:00 at the latest/,
    ],
    [
      'malformed time range',
      (f) => (f.schedules.office.weekly.wed = ['9:00-17:00']),
      '$.schedules.office.weekly.wed[0]',
      /HH:MM-HH:MM/,
    ],
    [
      'non-calendar holiday',
      (f) => (f.schedules.office.holidays = ['2025-02-30']),
      '$.schedules.office.holidays[0]',
      /not a calendar date/,
    ],
    ['non-E.164 number', (f) => (f.number = '0612345678'), '$.number', /E\.164/],
    ['number with a leading zero', (f) => (f.number = '+0612345678'), '$.number', /E\.164/],
    [
      'non-E.164 caller pattern',
      (f) => (f.rules[0].when.callerIn = ['0033*']),
      '$.rules[0].when.callerIn[0]',
      /caller pattern/,
    ],
    [
      'http prompt URI',
      (f) => (f.prompts.welcome = 'http://media.example.com/ivr/welcome.wav'),
      '$.prompts.welcome',
      /URL/i,
    ],
    ['unknown node property', (f) => (f.nodes.welcome.nextt = 'main'), '$.nodes.welcome', /nextt/],
  ])('%s', (_what, change, path, message) => {
    expectProblem(problemsAfter(change), path, message);
  });

  it('rejects a non-E.164 transfer target', () => {
    const problems = problemsAfter((f) => (f.nodes.operator.target = { phone: '4255550199' }));
    expect(problems.some((p) => p.path.startsWith('$.nodes.operator.target'))).toBe(true);
  });
});

describe('record node: a silent recording is not a message', () => {
  /** The fixture's voicemail, asked up to three times, then to a node of its own. */
  function withNoInput(f: Mutable): void {
    f.nodes.voicemail.maxAttempts = 3;
    f.nodes.voicemail.noInputPrompt = 'nothingHeard';
    f.nodes.voicemail.next.noInput = 'nothingHeardNode';
    f.prompts.nothingHeard = 'https://media.example.com/ivr/nothing-heard.wav';
    f.prompts.tryAgain = 'https://media.example.com/ivr/try-again.wav';
    f.nodes.nothingHeardNode = { type: 'hangup', prompt: 'tryAgain' };
  }

  it('defaults to one attempt, no noInput branch and no noInputPrompt', () => {
    const vm = validateFlow(realisticFlowInput(), FILE).flow!.flow.nodes.voicemail!;
    expect(vm.type).toBe('record');
    if (vm.type !== 'record') return;
    expect(vm.maxAttempts).toBe(1);
    expect(vm.noInputPrompt).toBeUndefined();
    expect(vm.next.noInput).toBeUndefined();
    expect('noInput' in vm.next).toBe(false);
  });

  it('accepts noInput, maxAttempts and noInputPrompt', () => {
    const input = structuredClone(realisticFlowInput()) as Mutable;
    withNoInput(input);
    const r = validateFlow(input, FILE);
    expect(r.problems).toEqual([]);
    const vm = r.flow!.flow.nodes.voicemail!;
    expect(vm.type === 'record' && [vm.maxAttempts, vm.noInputPrompt, vm.next.noInput]).toEqual([
      3,
      'nothingHeard',
      'nothingHeardNode',
    ]);
  });

  it('follows the noInput edge: its node is reachable and its prompts are fetched', () => {
    const input = structuredClone(realisticFlowInput()) as Mutable;
    withNoInput(input);
    const welcome = validateFlow(input, FILE).flow!.promptsByEntry.get('welcome')!;
    expect(welcome).toEqual(expect.arrayContaining(['nothingHeard', 'tryAgain']));

    // The same node with no edge to it is unreachable.
    delete input.nodes.voicemail.next.noInput;
    expect(validateFlow(input, FILE).problems).toEqual([
      {
        file: FILE,
        path: '$.nodes.nothingHeardNode',
        message: 'node is unreachable from every entry (answer rules, default, outbound)',
      },
    ]);
  });

  it('lists the noInput edge (waiting for the caller) and the noInputPrompt', () => {
    const input = structuredClone(realisticFlowInput()) as Mutable;
    withNoInput(input);
    const vm = validateFlow(input, FILE).flow!.flow.nodes.voicemail!;
    expect(nodeEdges(vm)).toEqual([
      { to: 'thanks', path: ['next', 'stopTone'], waitsForCaller: true },
      { to: 'thanks', path: ['next', 'maxDuration'], waitsForCaller: true },
      { to: 'noMessageNode', path: ['next', 'silence'], waitsForCaller: true },
      { to: 'sorry', path: ['next', 'failure'], waitsForCaller: true },
      { to: 'nothingHeardNode', path: ['next', 'noInput'], waitsForCaller: true },
    ]);
    expect(nodePrompts(vm)).toEqual([
      { name: 'voicemailPrompt', path: ['prompt'] },
      { name: 'nothingHeard', path: ['noInputPrompt'] },
    ]);
  });

  it('accepts a noInput edge back to the record node itself (the caller is asked again)', () => {
    const input = structuredClone(realisticFlowInput()) as Mutable;
    input.nodes.voicemail.next.noInput = 'voicemail';
    expect(validateFlow(input, FILE).problems).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ['0', 0, 'Too small: expected number to be >=1'],
    ['6', 6, 'Too big: expected number to be <=5'],
    ['1.5', 1.5, 'Invalid input: expected int, received number'],
  ])('refuses maxAttempts %s', (_what, value, message) => {
    expect(problemsAfter((f) => (f.nodes.voicemail.maxAttempts = value))).toEqual([
      { file: FILE, path: '$.nodes.voicemail.maxAttempts', message },
    ]);
  });

  it('refuses an unknown noInput node and an unknown noInputPrompt, each at its path', () => {
    const problems = problemsAfter((f) => {
      f.nodes.voicemail.next.noInput = 'nowhere';
      f.nodes.voicemail.noInputPrompt = 'missing';
    });
    expect(problems).toEqual([
      { file: FILE, path: '$.nodes.voicemail.next.noInput', message: 'no node named "nowhere"' },
      { file: FILE, path: '$.nodes.voicemail.noInputPrompt', message: 'no prompt named "missing"' },
    ]);
  });

  it('refuses a malformed noInput node id', () => {
    expect(problemsAfter((f) => (f.nodes.voicemail.next.noInput = '1st'))).toEqual([
      {
        file: FILE,
        path: '$.nodes.voicemail.next.noInput',
        message: 'a node id is a letter then up to 63 letters, digits, _ or -',
      },
    ]);
  });
});

describe('validateFlowText', () => {
  it('reports invalid JSON with the parser message', () => {
    const r = validateFlowText('{ "number": "+14255550100", ', FILE);
    expect(r.flow).toBeUndefined();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toEqual({
      file: FILE,
      path: '',
      message: expect.stringMatching(/^not valid JSON at line \d+, column \d+: .+/),
    });
    expect(formatProblem(r.problems[0]!)).toMatch(
      /^\/flows\/contoso\.json: \(file\): not valid JSON at line 1/,
    );
  });

  it('formats problems as file: path: message', () => {
    const r = validateFlow({ ...realisticFlowInput(), number: 'nope' }, FILE);
    const err = new FlowValidationError(r.problems);
    expect(err.message).toMatch(/^\/flows\/contoso\.json: \$\.number: .*E\.164/);
    expect(err.problems).toBe(r.problems);
  });
});

describe('loadFlowDirectory', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'graph-ivr-flows-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the valid file and reports the invalid and the duplicate ones', () => {
    const valid = realisticFlowInput();
    const invalid: Mutable = { ...realisticFlowInput(), number: '+14255550200', aliases: [] };
    delete invalid.applicationInstanceId;
    invalid.nodes.welcome.next = 'nowhere';
    const duplicate: FlowFileInput = {
      number: '+14255550100',
      prompts: {},
      default: { type: 'reject', reason: 'busy' },
    };
    writeFileSync(join(dir, 'a-main.json'), JSON.stringify(valid));
    writeFileSync(join(dir, 'b-broken.json'), JSON.stringify(invalid));
    writeFileSync(join(dir, 'c-duplicate.json'), JSON.stringify(duplicate));
    writeFileSync(join(dir, 'flow.schema.json'), '{ not a flow');
    writeFileSync(join(dir, 'README.md'), '# flows');
    mkdirSync(join(dir, 'sub'));

    const catalog = loadFlowDirectory(dir);

    expect([...catalog.byId.keys()]).toEqual(['a-main']);
    expect([...catalog.byIdentity.keys()].sort()).toEqual(
      ['+14255550100', APP_INSTANCE, 'contoso-main'].sort(),
    );
    expect(catalog.byIdentity.get('+14255550100')!.file).toBe(join(dir, 'a-main.json'));
    expect(catalog.problems).toEqual([
      { file: join(dir, 'b-broken.json'), path: '$.nodes.welcome.next', message: 'no node named "nowhere"' },
      {
        file: join(dir, 'c-duplicate.json'),
        path: '$.number',
        message: `"+14255550100" is already configured by ${join(dir, 'a-main.json')}`,
      },
    ]);
  });

  it('reports an unreadable entry and still loads the others', () => {
    const sub = mkdtempSync(join(tmpdir(), 'graph-ivr-flows-'));
    try {
      writeFileSync(join(sub, 'a.json'), JSON.stringify(realisticFlowInput()));
      mkdirSync(join(sub, 'b.json')); // a directory named like a flow file
      const catalog = loadFlowDirectory(sub);
      expect([...catalog.byId.keys()]).toEqual(['a']);
      expect(catalog.problems).toEqual([
        {
          file: join(sub, 'b.json'),
          path: '',
          message: expect.stringMatching(/^cannot read the file: .*EISDIR/),
        },
      ]);
    } finally {
      rmSync(sub, { recursive: true, force: true });
    }
  });

  it('reports a directory it cannot read', () => {
    const missing = join(dir, 'does-not-exist');
    const catalog = loadFlowDirectory(missing);
    expect(catalog.byId.size).toBe(0);
    expect(catalog.problems).toEqual([
      { file: missing, path: '', message: expect.stringMatching(/^cannot read the flows directory/) },
    ]);
  });
});
