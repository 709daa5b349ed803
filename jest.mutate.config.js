/**
 * The suites StrykerJS runs against each mutant: unit and integration tests, which load the
 * TypeScript sources in-process. End-to-end and simulator tests run the compiled bot in child
 * processes, so a mutant in the sources never reaches them: they only slow the run down.
 *
 * `MUTATE_TESTS` narrows the run to some suites (comma-separated paths or globs under the project
 * root, e.g. `MUTATE_TESTS=test/unit/graphClient.test.ts,test/unit/graphToken.test.ts`): the
 * score is then a lower bound of the full set's, reached in minutes instead of hours, which is
 * how static mutants (module-level code such as zod schemas) can be scored at all on 2 cores.
 */
const process = require('node:process');
const base = require('./jest.config.js');

const only = (process.env.MUTATE_TESTS ?? '')
  .split(',')
  .map((p) => p.trim())
  .filter(Boolean);

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/', '/test/e2e/', '/test/sim/'],
  ...(only.length > 0 ? { testMatch: only.map((p) => `<rootDir>/${p}`) } : {}),
};
