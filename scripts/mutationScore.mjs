// The mutation score of a StrykerJS JSON report, by folder and by file, with the static mutants
// an `--ignoreStatic` run left out filled in from mutantHarness.mjs results (see docs/testing.md,
// "Round 4: the whole core in one run"):
//
//   node scripts/mutationScore.mjs reports/mutation/mutation.json [harness-result.json | later-report.json ...]
//
// A later Stryker report (a rerun of some files after a change) replaces those files' results;
// a harness result fills in the ignored mutants of the report given before it that its sandbox
// was made for (see below).
//
// Score = (killed + timed out) / (killed + timed out + survived + no coverage), as Stryker counts
// it: compile and runtime errors are not valid mutants; an ignored mutant no harness scored is
// left out and counted apart, so the figure never hides it.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const [reportFile, ...others] = process.argv.slice(2);
if (!reportFile) {
  process.stderr.write(
    'usage: node scripts/mutationScore.mjs <report.json> [harness-result.json | later-report.json ...]\n',
  );
  process.exit(2);
}
const report = JSON.parse(readFileSync(reportFile, 'utf8'));

// In argument order: a harness result scores the ignored mutants of the report named before it
// that holds its file (mutant ids are per run); a later report that replaces a file drops them.
const scored = new Map(); // file -> Map(id -> status from a harness run)
for (const f of others) {
  const json = JSON.parse(readFileSync(f, 'utf8'));
  if (json.schemaVersion && json.files) {
    for (const [file, data] of Object.entries(json.files)) {
      report.files[file] = data;
      if (scored.delete(file))
        process.stderr.write(`${f} replaces ${file}: earlier harness results dropped\n`);
    }
    continue;
  }
  for (const [file, r] of Object.entries(json)) {
    if (!r.ids) throw new Error(`${f}: ${file} has no ids (rerun the harness)`);
    const ids = scored.get(file) ?? new Map();
    for (const id of r.ids) {
      const status = r.survived.includes(id) ? 'Survived' : r.timeout.includes(id) ? 'Timeout' : 'Killed';
      ids.set(id, status);
    }
    scored.set(file, ids);
  }
}
const harnessCount = [...scored.values()].reduce((n, ids) => n + ids.size, 0);

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);
const empty = () => ({ detected: 0, undetected: 0, invalid: 0, ignored: 0, fromHarness: 0 });
const byFile = new Map();
let filled = 0;
for (const [file, { mutants }] of Object.entries(report.files)) {
  const t = empty();
  for (const m of mutants) {
    const harness = m.status === 'Ignored' ? scored.get(file)?.get(m.id) : undefined;
    if (harness) {
      m.status = harness;
      m.statusReason = 'static mutant, scored by scripts/mutantHarness.mjs';
      t.fromHarness++;
      filled++;
    }
    if (DETECTED.has(m.status)) t.detected++;
    else if (UNDETECTED.has(m.status)) t.undetected++;
    else if (m.status === 'Ignored') t.ignored++;
    else t.invalid++;
  }
  byFile.set(file, t);
}
if (filled < harnessCount)
  throw new Error(`${harnessCount - filled} harness results match no ignored mutant`);

// The folders of the core, as stryker.config.json's `mutate` names them ('shared/ivr/**/*.ts').
const FOLDERS = JSON.parse(
  readFileSync(new URL('../stryker.config.json', import.meta.url), 'utf8'),
).mutate.map((glob) => glob.replace(/\*\*\/\*\.ts$/, ''));
const add = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] + b[k]]));
const pct = (t) =>
  t.detected + t.undetected === 0
    ? 'n/a'
    : `${((100 * t.detected) / (t.detected + t.undetected)).toFixed(2)}%`;
const line = (name, t) =>
  `${name.padEnd(40)} ${pct(t).padStart(7)}  ${String(t.detected).padStart(5)} / ${String(t.detected + t.undetected).padEnd(5)}` +
  `  invalid ${String(t.invalid).padStart(4)}  static from harness ${String(t.fromHarness).padStart(4)}  not scored ${t.ignored}`;
const print = (s) => process.stdout.write(`${s}\n`);

print(`${'part'.padEnd(40)} ${'score'.padStart(7)}  detected / valid`);
let total = empty();
for (const folder of FOLDERS) {
  let sum = empty();
  for (const [file, t] of byFile) if (file.startsWith(folder)) sum = add(sum, t);
  total = add(total, sum);
  print(line(folder, sum));
  for (const [file, t] of [...byFile].filter(([f]) => f.startsWith(folder)).sort())
    print(line(`  ${file.slice(folder.length)}`, t));
}
print(line('the core', total));
