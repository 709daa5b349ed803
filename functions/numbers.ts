import { httpFunction, lazy } from '../shared/functions/registry';

/**
 * The admin API of numbers and their flows (function key), one function for the group:
 * GET /api/numbers, GET|PUT|DELETE /api/numbers/{number}, GET .../versions[/{v}],
 * POST .../rollback. Routing and handlers: shared/endpoints/numbers.ts.
 */
httpFunction('numbers', {
  methods: ['GET', 'PUT', 'DELETE', 'POST'],
  authLevel: 'function',
  route: 'numbers/{*path}',
  handler: lazy(() => import('../shared/endpoints/numbers').then((m) => m.numbersHandler)),
});
