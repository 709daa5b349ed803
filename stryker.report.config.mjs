// stryker.config.json with the JSON report written where MUT_JSON says (StrykerJS has no
// `--jsonReporter.fileName` flag): runs side by side keep their own reports.
// `MUT_JSON=reports/mut-ivr.json npx stryker run stryker.report.config.mjs --mutate ...`.
import { createRequire } from 'node:module';
import process from 'node:process';

const base = createRequire(import.meta.url)('./stryker.config.json');

export default {
  ...base,
  jsonReporter: { fileName: process.env.MUT_JSON ?? base.jsonReporter.fileName },
};
