import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FLOW_LIMITS,
  MAX_PROBLEMS_PER_FILE,
  loadFlowDirectory,
  validateFlow,
  validateFlowText,
  type FlowProblem,
} from '../../shared/flows/loader';
import type { FlowFileInput } from '../../shared/flows/schema';
import { realisticFlowInput, type Mutable } from './fixtures';

/** Size limits and robustness: one flow file, however large or strange, is only its own problem. */

const FILE = '/flows/contoso.json';
const MEDIA = 'https://media.example.com/ivr';

/** A flow whose nodes form one chain n0 -> n1 -> ... of play nodes, ending in a hang-up or back at n0. */
function chainFlow(length: number, end: 'hangup' | 'loop'): FlowFileInput {
  const nodes: Mutable = {};
  for (let i = 0; i < length; i++) {
    const next = i + 1 < length ? `n${i + 1}` : end === 'loop' ? 'n0' : 'end';
    nodes[`n${i}`] = { type: 'play', prompts: [`p${i % 10}`], next };
  }
  if (end === 'hangup') nodes.end = { type: 'hangup' };
  return {
    number: '+14255550100',
    prompts: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`p${i}`, `${MEDIA}/p${i}.wav`])),
    default: { type: 'answer', start: 'n0' },
    nodes,
  };
}

function problemsAfter(change: (f: Mutable) => void): FlowProblem[] {
  const input = structuredClone(realisticFlowInput()) as Mutable;
  change(input);
  const result = validateFlow(input, FILE);
  expect(result.flow).toBeUndefined();
  return result.problems;
}

test('the limits are the documented ones', () => {
  expect(FLOW_LIMITS).toEqual({
    fileBytes: 262144,
    nodes: 500,
    prompts: 500,
    rules: 100,
    aliases: 50,
    rangesPerDay: 24,
    holidays: 366,
  });
});

// The recursive walks overflowed the stack near 8,000 nodes; 20,000 shows there is no recursion left.
describe('long chains and deep cycles are walked without recursion', () => {
  const limits = { nodes: 50_000 };

  it('loads a 20,000-node chain with the node limit raised, prompts in walk order', () => {
    const result = validateFlow(chainFlow(20_000, 'hangup'), FILE, { limits });
    expect(result.problems).toEqual([]);
    expect(Object.keys(result.flow!.flow.nodes)).toHaveLength(20_001);
    expect(result.flow!.promptsByEntry.get('n0')).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}`));
  });

  it('finds a 20,000-node loop that waits for no caller input, and shortens its description', () => {
    const result = validateFlow(chainFlow(20_000, 'loop'), FILE, { limits });
    expect(result.problems).toEqual([
      {
        file: FILE,
        path: '$.nodes.n0',
        message:
          'loop that waits for no caller input: n0 -> n1 -> n2 -> n3 -> n4 -> ... -> n19996 -> n19997 -> n19998 -> n19999 -> n0 (20000 nodes)',
      },
    ]);
  });

  it('reports every unreachable node of a long detached chain', () => {
    const input = chainFlow(3000, 'hangup') as Mutable;
    input.default = { type: 'answer', start: 'n2990' };
    const result = validateFlow(input, FILE, { limits });
    // n0..n2989 cannot be reached; capped to one readable list.
    expect(result.problems).toHaveLength(MAX_PROBLEMS_PER_FILE);
    expect(result.problems[0]).toEqual({
      file: FILE,
      path: '$.nodes.n0',
      message: 'node is unreachable from every entry (answer rules, default, outbound)',
    });
    expect(result.problems[MAX_PROBLEMS_PER_FILE - 1]).toEqual({
      file: FILE,
      path: '',
      message: `and ${2990 - (MAX_PROBLEMS_PER_FILE - 1)} more problems`,
    });
  });
});

describe('size limits', () => {
  it('accepts exactly 500 nodes and refuses 501 before parsing them', () => {
    expect(validateFlow(chainFlow(499, 'hangup'), FILE).problems).toEqual([]);
    const over = chainFlow(500, 'hangup') as Mutable;
    over.nodes.n3 = { type: 'not a node' }; // not reported: the count is checked first
    expect(validateFlow(over, FILE).problems).toEqual([
      { file: FILE, path: '$.nodes', message: '501 nodes, over the 500-node limit' },
    ]);
  });

  it('refuses more than 500 prompts', () => {
    const problems = problemsAfter((f) => {
      for (let i = 0; i < 490; i++) f.prompts[`extra${i}`] = `${MEDIA}/extra.wav`;
    });
    expect(problems).toEqual([
      { file: FILE, path: '$.prompts', message: '506 prompts, over the 500-prompt limit' },
    ]);
  });

  it.each<[string, (f: Mutable) => void, string, string]>([
    [
      '101 rules',
      (f) => (f.rules = Array.from({ length: 101 }, () => f.rules[0])),
      '$.rules',
      '101 rules, over the 100-rule limit',
    ],
    [
      '51 aliases',
      (f) => (f.aliases = Array.from({ length: 51 }, (_, i) => `alias-${i}`)),
      '$.aliases',
      '51 aliases, over the 50-alias limit',
    ],
    [
      '25 time ranges on one day',
      (f) =>
        (f.schedules.office.weekly.mon = Array.from(
          { length: 25 },
          (_, i) => `${String(i % 24).padStart(2, '0')}:00-${String(i % 24).padStart(2, '0')}:30`,
        )),
      '$.schedules.office.weekly.mon',
      '25 time ranges, over the 24-range limit per day',
    ],
    [
      '367 holidays',
      (f) =>
        (f.schedules.office.holidays = Array.from({ length: 367 }, (_, i) =>
          new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10),
        )),
      '$.schedules.office.holidays',
      '367 holidays, over the 366-holiday limit',
    ],
  ])('refuses %s', (_what, change, path, message) => {
    expect(problemsAfter(change)).toEqual([{ file: FILE, path, message }]);
  });

  it('accepts 24 time ranges on a day and 366 holidays', () => {
    const input = structuredClone(realisticFlowInput()) as Mutable;
    input.schedules.office.weekly.mon = Array.from(
      { length: 24 },
      (_, h) => `${String(h).padStart(2, '0')}:00-${String(h).padStart(2, '0')}:30`,
    );
    input.schedules.office.holidays = Array.from({ length: 366 }, (_, i) =>
      new Date(Date.UTC(2028, 0, 1 + i)).toISOString().slice(0, 10),
    );
    expect(validateFlow(input, FILE).problems).toEqual([]);
  });

  it('refuses text over 262,144 bytes, counted in UTF-8', () => {
    const text = JSON.stringify({ ...realisticFlowInput(), description: 'é'.repeat(131_000) });
    const bytes = Buffer.byteLength(text);
    expect(text.length).toBeLessThan(FLOW_LIMITS.fileBytes);
    expect(validateFlowText(text, FILE).problems).toEqual([
      { file: FILE, path: '', message: `file is ${bytes} bytes, over the 262144-byte limit` },
    ]);
  });

  it('caps the problems of one file', () => {
    const problems = problemsAfter((f) => {
      for (let i = 0; i < 150; i++) f.prompts[`bad${i}`] = 'http://insecure.example.com/x.wav';
    });
    expect(problems).toHaveLength(MAX_PROBLEMS_PER_FILE);
    expect(problems[MAX_PROBLEMS_PER_FILE - 1]).toEqual({
      file: FILE,
      path: '',
      message: 'and 51 more problems',
    });
  });
});

describe('a file that breaks validation is only its own problem', () => {
  it('reports a throw during validation as the file problem', () => {
    const hostile = {
      get number(): string {
        throw new Error('boom');
      },
    };
    expect(validateFlow(hostile, FILE)).toEqual({
      problems: [{ file: FILE, path: '', message: 'could not be validated: Error: boom' }],
    });
  });

  it('does not take a node or prompt named like an Object.prototype member for a defined one', () => {
    expect(problemsAfter((f) => (f.default.start = 'constructor'))).toEqual([
      { file: FILE, path: '$.default.start', message: 'no node named "constructor"' },
    ]);
    expect(problemsAfter((f) => (f.nodes.sales.prompts[0] = 'toString'))).toEqual([
      { file: FILE, path: '$.nodes.sales.prompts[0]', message: 'no prompt named "toString"' },
    ]);
    expect(problemsAfter((f) => (f.rules[3].when.open = 'hasOwnProperty'))).toEqual([
      { file: FILE, path: '$.rules[3].when.open', message: 'no schedule named "hasOwnProperty"' },
    ]);
  });

  it('loads the valid file of a directory holding a huge, a deeply nested and an invalid one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'graph-ivr-limits-'));
    try {
      const valid = JSON.stringify(realisticFlowInput());
      writeFileSync(join(dir, 'a-huge.json'), valid.padEnd(300_000, ' '));
      writeFileSync(join(dir, 'b-deep.json'), '['.repeat(100_000) + ']'.repeat(100_000));
      writeFileSync(join(dir, 'c-invalid.json'), JSON.stringify({ ...realisticFlowInput(), number: 'nope' }));
      writeFileSync(join(dir, 'd-valid.json'), valid);

      const catalog = loadFlowDirectory(dir);

      expect([...catalog.byId.keys()]).toEqual(['d-valid']);
      expect(catalog.byIdentity.get('+14255550100')!.id).toBe('d-valid');
      expect(catalog.problems).toEqual([
        {
          file: join(dir, 'a-huge.json'),
          path: '',
          message: 'file is 300000 bytes, over the 262144-byte limit',
        },
        {
          file: join(dir, 'b-deep.json'),
          path: '$',
          message: 'Invalid input: expected object, received array',
        },
        {
          file: join(dir, 'c-invalid.json'),
          path: '$.number',
          message: 'an E.164 number such as +14255550100',
        },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads a file of exactly 262,144 bytes, and one over a raised limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'graph-ivr-limits-'));
    try {
      writeFileSync(join(dir, 'edge.json'), JSON.stringify(realisticFlowInput()).padEnd(262_144, ' '));
      expect(loadFlowDirectory(dir).problems).toEqual([]);
      writeFileSync(join(dir, 'edge.json'), JSON.stringify(realisticFlowInput()).padEnd(262_145, ' '));
      expect(loadFlowDirectory(dir).problems).toEqual([
        {
          file: join(dir, 'edge.json'),
          path: '',
          message: 'file is 262145 bytes, over the 262144-byte limit',
        },
      ]);
      const raised = loadFlowDirectory(dir, { limits: { fileBytes: 300_000 } });
      expect([...raised.byId.keys()]).toEqual(['edge']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
