import type { InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../app';
import { MAX_DEQUEUE_COUNT } from '../queues';
import { VOICEMAIL_ATTEMPTS, VOICEMAIL_RETRY_DELAYS_SECONDS, voicemailJobSchema } from '../voicemail/job';
import { parseQueueMessage } from './queueMessage';

/**
 * A voicemail delivery from the queue: one attempt (transcript, webhook, mail). A transient
 * failure queues the next attempt after a growing wait; after the last one every channel
 * still open is recorded as failed on the recording's row and the job is kept in the poison
 * queue. The recording stays stored whatever happens here.
 */
export async function voicemailHandler(message: unknown, context: InvocationContext): Promise<void> {
  const app = getApp();
  const log = invocationLogger(context);
  const job = parseQueueMessage(voicemailJobSchema, message, log, 'voicemail job');
  if (!job) return;
  const deliverer = await app.voicemail(log);
  try {
    const result = await deliverer.deliver(job);
    if (!('retry' in result)) return;
    if (job.attempt < VOICEMAIL_ATTEMPTS) {
      const delay = VOICEMAIL_RETRY_DELAYS_SECONDS[job.attempt - 1]!;
      log.warn('voicemail not delivered yet; will retry', {
        callId: job.callId,
        seq: job.seq,
        attempt: job.attempt,
        reason: result.retry,
        retryInSeconds: delay,
      });
      return await app.voicemailJobs.enqueue({ ...job, attempt: job.attempt + 1 }, delay);
    }
    const reason = `gave up after ${job.attempt} attempts: ${result.retry}`;
    await deliverer.giveUp(job, reason);
    await app.voicemailJobs.poison(job, reason);
  } catch (err) {
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    if (dequeueCount >= MAX_DEQUEUE_COUNT)
      await deliverer.giveUp(job, `gave up: ${(err as Error).message}`).catch(() => undefined);
    throw err;
  }
}
