import { lazy, queueFunction } from '../shared/functions/registry';
import { RECORDINGS_QUEUE } from '../shared/queues';

/** Recording jobs: download a finished recording into Blob storage, off the notification path. */
queueFunction('recordings', {
  queueName: RECORDINGS_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: lazy(() => import('../shared/endpoints/recordings').then((m) => m.recordingsHandler)),
});
