import { httpFunction, lazy } from '../shared/functions/registry';

/** POST /api/outbound-calls: places a call (PSTN, Teams user or meeting) that runs the outbound entry of from's flow (function key). */
httpFunction('outboundCalls', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'outbound-calls',
  handler: lazy(() => import('../shared/endpoints/outboundCalls').then((m) => m.outboundCallsHandler)),
});
