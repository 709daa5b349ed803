// StrykerJS with the unit suites only (jest.mutate.unit.config.js), or the flow-file suites
// (MUTATE_JEST=flows: jest.mutate.flows.config.js):
// `[MUTATE_JEST=flows] npx stryker run stryker.unit.config.mjs --mutate ...`.
import { createRequire } from 'node:module';
import process from 'node:process';

const base = createRequire(import.meta.url)('./stryker.config.json');
const configFile =
  process.env.MUTATE_JEST === 'flows' ? 'jest.mutate.flows.config.js' : 'jest.mutate.unit.config.js';

export default {
  ...base,
  jest: { ...base.jest, configFile },
};
