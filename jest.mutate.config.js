/**
 * The suites StrykerJS runs against each mutant: unit and integration tests, which load the
 * TypeScript sources in-process. End-to-end and simulator tests run the compiled bot in child
 * processes, so a mutant in the sources never reaches them: they only slow the run down.
 */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/', '/test/e2e/', '/test/sim/'],
};
