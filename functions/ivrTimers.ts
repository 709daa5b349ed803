import { lazy, queueFunction } from '../shared/functions/registry';
import { TIMER_QUEUE } from '../shared/queues';

/** Per-call timers (menu waits, recording grace) come back here when their queue message becomes visible. */
queueFunction('ivrTimers', {
  queueName: TIMER_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: lazy(() => import('../shared/endpoints/timers').then((m) => m.ivrTimersHandler)),
});
