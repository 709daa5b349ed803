import { httpFunction, lazy } from '../shared/functions/registry';

/** The admin API of numbers and their flows (function key): shared/endpoints/numbers.ts. */
const handlers = () => import('../shared/endpoints/numbers');

httpFunction('numbersList', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'numbers',
  handler: lazy(() => handlers().then((m) => m.listNumbersHandler)),
});

httpFunction('numbers', {
  methods: ['GET', 'PUT', 'DELETE'],
  authLevel: 'function',
  route: 'numbers/{number}',
  handler: lazy(() => handlers().then((m) => m.numberHandler)),
});

httpFunction('numberVersions', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'numbers/{number}/versions',
  handler: lazy(() => handlers().then((m) => m.versionsHandler)),
});

httpFunction('numberVersion', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'numbers/{number}/versions/{version}',
  handler: lazy(() => handlers().then((m) => m.versionHandler)),
});

httpFunction('numberRollback', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'numbers/{number}/rollback',
  handler: lazy(() => handlers().then((m) => m.rollbackHandler)),
});
