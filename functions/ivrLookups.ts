import { lazy, queueFunction } from '../shared/functions/registry';
import { LOOKUPS_QUEUE } from '../shared/queues';

/** http nodes' requests: sent off the notification path, their results fed back into the call. */
queueFunction('ivrLookups', {
  queueName: LOOKUPS_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: lazy(() => import('../shared/endpoints/lookups').then((m) => m.ivrLookupsHandler)),
});
