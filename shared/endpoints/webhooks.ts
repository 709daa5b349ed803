import type { InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../app';
import { MAX_DEQUEUE_COUNT } from '../queues';
import {
  postWebhook,
  WEBHOOK_ATTEMPTS,
  WEBHOOK_RETRY_DELAYS_SECONDS,
  webhookJobSchema,
  type WebhookJob,
  type WebhookOutcome,
} from '../webhooks/delivery';
import { parseQueueMessage } from './queueMessage';

/**
 * A webhook delivery from the queue: one signed POST. A retryable failure queues the next
 * attempt after a growing wait; after the last attempt, or a failure no retry can mend, the
 * delivery is kept in the poison queue and its subject is told it failed. A run that throws
 * (storage failing) is retried by the host with the same delivery id, so receivers that
 * de-duplicate by id see it once.
 */
export async function webhooksHandler(message: unknown, context: InvocationContext): Promise<void> {
  const app = getApp();
  const log = invocationLogger(context);
  const job = parseQueueMessage(webhookJobSchema, message, log, 'webhook delivery');
  if (!job) return;
  // The host only: the path and body may carry a receiver's token or a caller's details.
  const about = { deliveryId: job.id, event: job.event, host: hostOf(job.url), attempt: job.attempt };
  try {
    const attempt = await postWebhook(job, app.webhookPostOptions());
    if (attempt.status === 'delivered') {
      log.info('webhook delivered', { ...about, httpStatus: attempt.httpStatus });
      return await app.webhooks.report(job, outcome(job, 'delivered', attempt.httpStatus), log);
    }
    if (attempt.status === 'retry' && job.attempt < WEBHOOK_ATTEMPTS) {
      const delay = WEBHOOK_RETRY_DELAYS_SECONDS[job.attempt - 1]!;
      log.warn('webhook not delivered; will retry', {
        ...about,
        reason: attempt.reason,
        retryInSeconds: delay,
      });
      return await app.webhooks.retry({ ...job, attempt: job.attempt + 1 }, delay);
    }
    const reason =
      attempt.status === 'retry'
        ? `gave up after ${job.attempt} attempts: ${attempt.reason}`
        : attempt.reason;
    log.error('webhook delivery failed', { ...about, reason });
    await app.webhooks.poison(job, reason);
    await app.webhooks.report(job, outcome(job, 'failed', attempt.httpStatus, reason), log);
  } catch (err) {
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    if (dequeueCount >= MAX_DEQUEUE_COUNT) {
      const reason = `gave up: ${(err as Error).message}`;
      await app.webhooks.report(job, outcome(job, 'failed', undefined, reason), log).catch(() => undefined);
    }
    throw err;
  }
}

function outcome(
  job: WebhookJob,
  status: WebhookOutcome['status'],
  httpStatus: number | undefined,
  reason?: string,
): WebhookOutcome {
  return {
    deliveryId: job.id,
    event: job.event,
    status,
    attempts: job.attempt,
    at: new Date().toISOString(),
    ...(httpStatus !== undefined ? { httpStatus } : {}),
    ...(reason ? { reason } : {}),
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}
