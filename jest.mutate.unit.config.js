/**
 * The unit suites only, for mutation runs of pure code (shared/flows/ but live.ts, the engine):
 * an integration file starts Azurite for every mutant it covers, which turns a folder's run from
 * minutes into hours. A mutant these suites kill is killed by the full set too, so a score
 * measured with them is a lower bound of `npm run mutate`'s.
 */
const base = require('./jest.mutate.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: [...base.testPathIgnorePatterns, '/test/integration/'],
};
