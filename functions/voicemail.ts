import { lazy, queueFunction } from '../shared/functions/registry';
import { VOICEMAIL_QUEUE } from '../shared/queues';

/** Voicemail deliveries: transcript, mail and webhook of a stored recording, retried from the queue. */
queueFunction('voicemail', {
  queueName: VOICEMAIL_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: lazy(() => import('../shared/endpoints/voicemail').then((m) => m.voicemailHandler)),
});
