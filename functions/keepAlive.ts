import { lazy, timerFunction } from '../shared/functions/registry';

/** Every 10 minutes: keepAlive for each established call (Graph ends calls idle for 45 minutes). */
timerFunction('keepAlive', {
  schedule: '0 */10 * * * *',
  handler: lazy(() => import('../shared/endpoints/timers').then((m) => m.keepAliveHandler)),
});
