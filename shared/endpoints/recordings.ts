import type { InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../app';
import { RECORDING_ATTEMPTS, recordingJobSchema, RETRY_DELAYS_SECONDS } from '../ivr/recordingArchiver';
import { MAX_DEQUEUE_COUNT } from '../queues';
import { callTelemetryEnabled } from '../telemetry/switch';
import { safeJson } from './timers';

/**
 * A recording job from the queue: one download attempt. A transient failure queues the next
 * attempt after a growing wait; after the last one the recording is recorded as lost and the
 * job kept in the poison queue. A run that throws (storage itself failing) is retried by the
 * host, which poisons the message after its last dequeue; the loss is recorded then too.
 */
export async function recordingsHandler(message: unknown, context: InvocationContext): Promise<void> {
  const app = getApp();
  const log = invocationLogger(context);
  const parsed = recordingJobSchema.safeParse(typeof message === 'string' ? safeJson(message) : message);
  if (!parsed.success) {
    log.error('ignored malformed recording job', {
      problems: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(job)'}: ${i.message}`),
    });
    return;
  }
  const job = parsed.data;
  const archiver = app.archiver(log);
  try {
    const result = await archiver.archive(job);
    if (!('retry' in result)) return countOutcome(result.status, job.number);
    if (job.attempt < RECORDING_ATTEMPTS) {
      await app.recordingJobs.enqueue(
        { ...job, attempt: job.attempt + 1 },
        RETRY_DELAYS_SECONDS[job.attempt - 1],
      );
      return;
    }
    await archiver.lose(job, `gave up after ${job.attempt} attempts: ${result.retry}`);
    await countOutcome('lost', job.number);
    await app.recordingJobs.poison(job, result.retry);
  } catch (err) {
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    if (dequeueCount >= MAX_DEQUEUE_COUNT)
      await archiver.lose(job, `gave up: ${(err as Error).message}`).catch(() => undefined);
    throw err;
  }
}

/** Counts a recording outcome in telemetry, loading OpenTelemetry only when it is on. */
async function countOutcome(outcome: string, number: string | null): Promise<void> {
  if (!callTelemetryEnabled()) return;
  (await import('../telemetry/callTelemetry')).recordingOutcome(outcome, number);
}
