import { httpFunction, lazy } from '../shared/functions/registry';

/** POST /api/flows/validate: a dry run of a flow, its problems and its diagram (function key). */
httpFunction('flowsValidate', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'flows/validate',
  handler: lazy(() => import('../shared/endpoints/numbers').then((m) => m.validateHandler)),
});
