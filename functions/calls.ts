import { httpFunction, lazy, onAppStart } from '../shared/functions/registry';

/** POST /api/calls: Graph call notifications, authenticated by the platform's token (shared/endpoints/calls.ts). */
httpFunction('calls', {
  methods: ['POST'],
  authLevel: 'anonymous',
  route: 'calls',
  handler: lazy(() => import('../shared/endpoints/calls').then((m) => m.callsHandler)),
});

// A cold instance must still answer within Graph's 15 s: fetch keys and a token before the first call.
onAppStart(lazy(() => import('../shared/endpoints/calls').then((m) => m.warmUpOnStart)));
