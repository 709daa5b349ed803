import type { InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../app';
import {
  RECORDING_ATTEMPTS,
  recordingJobSchema,
  RETRY_DELAYS_SECONDS,
  type RecordingJob,
} from '../ivr/recordingArchiver';
import type { Logger } from '../logging';
import { voicemailJobFor } from '../voicemail/plan';
import { MAX_DEQUEUE_COUNT } from '../queues';
import { callTelemetryEnabled } from '../telemetry/switch';
import { parseQueueMessage } from './queueMessage';

/**
 * A recording job from the queue: one download attempt. A transient failure queues the next
 * attempt after a growing wait; after the last one the recording is recorded as lost and the
 * job kept in the poison queue. A run that throws (storage itself failing) is retried by the
 * host, which poisons the message after its last dequeue; the loss is recorded then too.
 */
export async function recordingsHandler(message: unknown, context: InvocationContext): Promise<void> {
  const app = getApp();
  const log = invocationLogger(context);
  const job = parseQueueMessage(recordingJobSchema, message, log, 'recording job');
  if (!job) return;
  const archiver = app.archiver(log);
  try {
    const result = await archiver.archive(job);
    if (!('retry' in result)) {
      if (result.status !== 'stored') return await countOutcome(result.status, job.number);
    } else if (job.attempt < RECORDING_ATTEMPTS) {
      await app.recordingJobs.enqueue(
        { ...job, attempt: job.attempt + 1 },
        RETRY_DELAYS_SECONDS[job.attempt - 1],
      );
      return;
    } else {
      await archiver.lose(job, `gave up after ${job.attempt} attempts: ${result.retry}`);
      await countOutcome('lost', job.number);
      await app.recordingJobs.poison(job, result.retry);
      return;
    }
  } catch (err) {
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    if (dequeueCount >= MAX_DEQUEUE_COUNT)
      await archiver.lose(job, `gave up: ${(err as Error).message}`).catch(() => undefined);
    throw err;
  }
  // Stored (now, or by an earlier run of this job): hand it to voicemail delivery. Outside the
  // try above, so a failure here can never mark a stored recording as lost; a run again
  // finds it stored and queues again (delivery skips what is already done).
  await countOutcome('stored', job.number);
  await queueDelivery(job, log, Number(context.triggerMetadata?.dequeueCount ?? 1));
}

async function queueDelivery(job: RecordingJob, log: Logger, dequeueCount: number): Promise<void> {
  const app = getApp();
  if (!job.flowId) return;
  try {
    const loaded = await app.liveFlows.flowAt(job.flowId, job.flowVersion);
    const delivery = loaded ? voicemailJobFor(loaded.flow, job.callId, job.seq) : null;
    if (delivery) await app.voicemailJobs.enqueue(delivery, 0);
  } catch (err) {
    if (dequeueCount < MAX_DEQUEUE_COUNT) throw err;
    // The recording stays stored; only its delivery is given up, and that is on its row.
    log.error('voicemail delivery could not be queued', {
      callId: job.callId,
      seq: job.seq,
      error: (err as Error).message,
    });
  }
}

/** Counts a recording outcome in telemetry, loading OpenTelemetry only when it is on. */
async function countOutcome(outcome: string, number: string | null): Promise<void> {
  if (!callTelemetryEnabled()) return;
  (await import('../telemetry/callTelemetry')).recordingOutcome(outcome, number);
}
