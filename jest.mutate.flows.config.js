/**
 * The suites about flow files, for mutation runs of shared/flows/ (but live.ts). Many other
 * suites load a flow when their module loads, which makes each loader and schema mutant
 * "static" for Stryker and runs every suite against it; these suites are the ones that assert
 * what the loader, the schema, the rules and the diagram decide. A mutant they kill is killed by
 * the full set too: the score is a lower bound of `npm run mutate`'s.
 */
const base = require('./jest.mutate.unit.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: [
    '**/test/unit/flow*.test.ts',
    '**/test/unit/rules.test.ts',
    '**/test/unit/layout.test.ts',
    '**/test/unit/voicemailFlow.test.ts',
  ],
};
