import { httpFunction, lazy } from '../shared/functions/registry';

/** GET /api/calls/{callId}: a finished call's record, or where a call in progress is (function key). */
httpFunction('callRecord', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'calls/{callId}',
  handler: lazy(() => import('../shared/endpoints/callRecord').then((m) => m.callRecordHandler)),
});
