// Runs StrykerJS's mutants one Jest file each, in one Jest run: for a machine too loaded for
// Stryker's own runner (one Jest start per mutant). See docs/testing.md, "Round 3".
//
//   npx stryker run --mutate '<files>' --dryRunOnly --cleanTempDir false --coverageAnalysis off \
//     --checkers '' --concurrency 1 --tempDirName reports/tmp-h --reporters clear-text
//   node scripts/mutantHarness.mjs reports/tmp-h/sandbox-* shared/graph/limits.ts=notifications,graphSchemas ...
//
// Each <file>=<suites> names a mutated file and the unit suites (test/unit/<suite>.test.ts) run
// against its mutants. Every mutant of the file, for each suite, becomes a test file in the
// sandbox that switches the mutant on before it loads the suite, so module-level (static)
// mutants are scored too. A mutant is killed when any of its files fails. Writes
// <sandbox>/harness-result.json (or HARNESS_OUT) and prints the survivors with their code. A
// file whose suites fail with no mutant active is not scored (exit code 1); the others are.
// HARNESS_MINUTES bounds the Jest run (default 60): a file not reported by then is a timeout.
//
// HARNESS_ONLY=<Stryker JSON report> runs only the mutants that report left _ignored_ (the
// static ones of an `--ignoreStatic` run), so `scripts/mutationScore.mjs` can put both together.
// The sandbox must then come from a dry run over the same `mutate` set as the report (the ids
// are the instrumenter's, in file order): each mutant's code is checked against the report's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import process from 'node:process';

const [sandbox, ...specs] = process.argv.slice(2);
if (!sandbox || specs.length === 0) {
  process.stderr.write('usage: node scripts/mutantHarness.mjs <sandbox> <file>=<suite,suite> ...\n');
  process.exit(2);
}
const dir = join(sandbox, 'test', 'harness');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

const MUTANT = /stryMutAct_9fa48\("(\d+)"\)/g;
const only = process.env.HARNESS_ONLY ? JSON.parse(readFileSync(process.env.HARNESS_ONLY, 'utf8')) : null;
const squash = (text) => text.replace(/\s+/g, '');

/** The report's ignored mutants of `file`, each checked to be the sandbox's mutant of that id. */
function onlyIgnored(file, source) {
  const mutants = (only.files[file]?.mutants ?? []).filter((m) => m.status === 'Ignored');
  for (const m of mutants) {
    const at = source.indexOf(`stryMutAct_9fa48("${m.id}")`);
    const replacement = squash(m.replacement ?? '');
    if (at < 0 || !squash(source.slice(at, at + 2 * replacement.length + 200)).includes(replacement))
      throw new Error(
        `${file}: mutant ${m.id} is not the report's (${m.mutatorName}); dry-run the report's mutate set`,
      );
  }
  return mutants.map((m) => m.id);
}

const plan = [];
for (const spec of specs) {
  const [file, suites] = spec.split('=');
  const source = readFileSync(join(sandbox, file), 'utf8');
  const ids = only
    ? onlyIgnored(file, source).sort((a, b) => a - b)
    : [...new Set([...source.matchAll(MUTANT)].map((m) => m[1]))].sort((a, b) => a - b);
  const tag = basename(file).split('.')[0];
  if (plan.some((p) => p.tag === tag)) throw new Error(`${file}: two files named ${tag}`);
  // HARNESS_TOGETHER=1: one file per mutant loading all its suites (one start instead of one per
  // suite); the run with no mutant active still shows the suites pass side by side.
  const groups = process.env.HARNESS_TOGETHER ? [suites.split(',')] : suites.split(',').map((s) => [s]);
  for (const id of [...ids, 'none']) {
    for (const group of groups) {
      writeFileSync(
        join(dir, `${tag}_${id}_${group.join('+')}.test.ts`),
        `(globalThis as any).__stryker__ = { activeMutant: '${id}' };\n` +
          group.map((suite) => `require('../unit/${suite}.test');\n`).join(''),
      );
    }
  }
  plan.push({ file, tag, ids, source });
}

const config = join(sandbox, 'jest.harness.config.js');
// Two workers, each restarted after every file: a mutant that loops for ever holds one worker,
// not the run; a file still unreported when the run's time is up counts as a timeout.
writeFileSync(
  config,
  `module.exports = { ...require('./jest.config.js'), rootDir: __dirname, roots: ['<rootDir>/test/harness'],
  testTimeout: 5000, maxWorkers: 2, workerIdleMemoryLimit: 1 };\n`,
);
const minutes = Number(process.env.HARNESS_MINUTES ?? 60);
const run = spawnSync('npx', ['jest', '-c', 'jest.harness.config.js'], {
  cwd: sandbox,
  encoding: 'utf8',
  timeout: minutes * 60_000,
  killSignal: 'SIGKILL',
  maxBuffer: 1 << 30,
});
const failed = new Map();
for (const m of `${run.stdout}${run.stderr}`.matchAll(/^(PASS|FAIL) test\/harness\/(\S+)\.test\.ts/gm)) {
  const [tag, id] = m[2].split('_');
  const key = `${tag}_${id}`;
  failed.set(key, (failed.get(key) ?? false) || m[1] === 'FAIL');
}
const print = (line) => process.stdout.write(`${line}\n`);
const result = {};
const unscored = [];
for (const { file, tag, ids, source } of plan) {
  if (failed.get(`${tag}_none`) !== false) {
    // Not scored, but the other files' results are kept: rerun this one (without HARNESS_TOGETHER).
    unscored.push(file);
    print(`${file}: NOT SCORED, its suites do not pass with no mutant active`);
    continue;
  }
  const survived = ids.filter((id) => failed.get(`${tag}_${id}`) === false);
  const timeout = ids.filter((id) => !failed.has(`${tag}_${id}`));
  const killed = ids.length - survived.length - timeout.length;
  result[file] = { mutants: ids.length, killed, timeout, survived, ids };
  const score = ((100 * (killed + timeout.length)) / ids.length).toFixed(2);
  print(
    `${file}: ${killed} killed, ${timeout.length} timeout, ${survived.length} survived of ${ids.length} (${score}%)`,
  );
  for (const id of survived) {
    const at = source.indexOf(`stryMutAct_9fa48("${id}")`);
    print(`  ${id}: ${source.slice(at, at + 200).replace(/\s+/g, ' ')}`);
  }
}
// HARNESS_OUT names the result file, so runs over one sandbox keep each other's results.
writeFileSync(
  process.env.HARNESS_OUT ?? join(sandbox, 'harness-result.json'),
  JSON.stringify(result, null, 2),
);
if (unscored.length > 0) process.exitCode = 1;
