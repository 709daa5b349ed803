import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInputs } from '../../sim/runFlow';

const ROOT = join(__dirname, '..', '..');
const FLOW = join(ROOT, 'sim', 'demo', 'flows', 'frontdesk.json');
const SCRIPT = join(ROOT, 'sim', 'demo', 'callers', 'voicemail.json');
const dir = mkdtempSync(join(tmpdir(), 'runflow-'));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

test('a valid flow and script are accepted', () => {
  const inputs = loadInputs(['--flow', FLOW, '--script', SCRIPT]);
  expect(inputs.script.to).toBe('+14255550100');
  expect([inputs.timeScale, inputs.seed]).toEqual([0.05, 1]);
});

test('missing arguments print the usage', () => {
  expect(() => loadInputs(['--flow', FLOW])).toThrow(/usage: npm run sim/);
  expect(() => loadInputs(['--flow', FLOW, '--script', SCRIPT, '--bogus'])).toThrow(/bogus/);
});

test('an invalid flow is reported with file, path and rule', () => {
  const bad = file(
    'bad-flow.json',
    JSON.stringify({ number: '12345', prompts: {}, default: { type: 'answer', start: 'nowhere' } }),
  );
  expect(() => loadInputs(['--flow', bad, '--script', SCRIPT])).toThrow(
    /bad-flow\.json: \$\.number: an E\.164 number/,
  );
  const notJson = file('broken.json', '{ "number": ');
  expect(() => loadInputs(['--flow', notJson, '--script', SCRIPT])).toThrow(
    /broken\.json: \(file\): not valid JSON/,
  );
});

test('an invalid caller script is reported field by field', () => {
  const bad = file(
    'caller.json',
    JSON.stringify({ from: '12065550124', to: '+14255550100', actions: [{ after: 1, press: 'x' }] }),
  );
  expect(() => loadInputs(['--flow', FLOW, '--script', bad])).toThrow(
    /from: expected a phone number[\s\S]*press: keys are/,
  );
});

test('a script that dials another number than the flow configures is refused', () => {
  const other = file('other.json', JSON.stringify({ from: '+12065550124', to: '+14255550199', actions: [] }));
  expect(() => loadInputs(['--flow', FLOW, '--script', other])).toThrow(
    /dials \+14255550199, but frontdesk\.json configures \+14255550100/,
  );
});

test('out-of-range options are refused', () => {
  expect(() => loadInputs(['--flow', FLOW, '--script', SCRIPT, '--time-scale', '0'])).toThrow(/--time-scale/);
  expect(() => loadInputs(['--flow', FLOW, '--script', SCRIPT, '--seed', '1.5'])).toThrow(/--seed/);
});
