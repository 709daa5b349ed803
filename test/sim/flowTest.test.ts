import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../scripts/flows';

/** `npm run flows -- test`: the example's tests pass; a wrong expectation fails, naming the case and the difference. */

const ROOT = join(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'flow-test-'));

async function run(args: string[]) {
  const out: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => out.push(l), env: {} });
  return { code, text: out.join('\n') };
}

test('flows/contoso-main.test.json passes', async () => {
  const { code, text } = await run(['test', join(ROOT, 'flows', 'contoso-main.test.json')]);
  expect({ code, text }).toMatchObject({ code: 0, text: expect.stringMatching(/7 of 7 cases passed/) });
}, 90_000);

test('a wrong expectation fails with exit 1, naming the case and the difference', async () => {
  const file = join(dir, 'wrong.test.json');
  writeFileSync(
    file,
    JSON.stringify({
      flow: join(ROOT, 'flows', 'contoso-main.json'),
      at: '2026-03-10T10:00:00-07:00',
      cases: [
        {
          name: 'blocked caller, wrongly expected answered',
          call: { from: '+14255550666' },
          expect: { outcome: 'answered', rule: 'blocked callers' },
        },
      ],
    }),
  );
  const { code, text } = await run(['test', file]);
  expect(code).toBe(1);
  expect(text).toContain('FAIL blocked caller, wrongly expected answered');
  expect(text).toContain('outcome: expected "answered", got "rejected"');
  expect(text).not.toMatch(/rule: expected/);
  expect(text).toMatch(/0 of 1 cases passed/);
  const json = await run(['test', file, '--json']);
  expect(json.code).toBe(1);
  expect(JSON.parse(json.text)).toMatchObject({
    passed: false,
    cases: [{ passed: false, differences: [{ field: 'outcome', expected: 'answered', actual: 'rejected' }] }],
  });
}, 90_000);

test('an invalid test file is refused with each problem by path (exit 2), before anything starts', async () => {
  const file = join(dir, 'bad.test.json');
  writeFileSync(
    file,
    JSON.stringify({
      flow: 'missing.json',
      at: 'tuesday',
      cases: [{ name: 'x', call: { from: '12065550123' }, expect: { outcome: 'maybe' } }],
    }),
  );
  const { code, text } = await run(['test', file]);
  expect(code).toBe(2);
  expect(text).toMatch(/\$\.at: an ISO 8601 date and time/);
  expect(text).toMatch(/\$\.cases\[0\]\.call\.from/);
  expect(text).toMatch(/\$\.cases\[0\]\.expect\.outcome/);
  writeFileSync(
    file,
    JSON.stringify({
      flow: 'missing.json',
      cases: [{ name: 'x', call: { from: '+12065550123' }, expect: {} }],
    }),
  );
  expect(await run(['test', file])).toMatchObject({
    code: 2,
    text: expect.stringMatching(/cannot read the flow/),
  });
});
