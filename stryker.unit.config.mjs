// StrykerJS with the unit suites only (jest.mutate.unit.config.js): `npx stryker run stryker.unit.config.mjs --mutate ...`.
import { createRequire } from 'node:module';

const base = createRequire(import.meta.url)('./stryker.config.json');

export default {
  ...base,
  jest: { ...base.jest, configFile: 'jest.mutate.unit.config.js' },
};
