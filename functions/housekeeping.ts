import { lazy, timerFunction } from '../shared/functions/registry';

/** Every 5 minutes: close contexts of calls that ended unseen, delete recordings past retention. */
timerFunction('housekeeping', {
  schedule: '0 */5 * * * *',
  handler: lazy(() => import('../shared/endpoints/timers').then((m) => m.housekeepingHandler)),
});
