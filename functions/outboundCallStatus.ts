import { httpFunction, lazy } from '../shared/functions/registry';

/** GET /api/outbound-calls/{id}: an outbound call's state, attempts and, at the end, its outcome (function key). */
httpFunction('outboundCallStatus', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'outbound-calls/{id}',
  handler: lazy(() => import('../shared/endpoints/outboundCalls').then((m) => m.outboundCallsHandler)),
});
