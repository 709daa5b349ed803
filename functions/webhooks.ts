import { lazy, queueFunction } from '../shared/functions/registry';
import { WEBHOOKS_QUEUE } from '../shared/queues';

/** Webhook deliveries: one signed POST per message, retried with backoff from the queue. */
queueFunction('webhooks', {
  queueName: WEBHOOKS_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: lazy(() => import('../shared/endpoints/webhooks').then((m) => m.webhooksHandler)),
});
