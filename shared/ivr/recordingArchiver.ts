import { pipeline, Transform } from 'node:stream';
import { z } from 'zod';
import type { Logger } from '../logging';
import type { RecordStore, RecordingMeta } from '../storage/recordStore';
import {
  checkRecordingLocation,
  DownloadError,
  openRecording,
  wavDurationSeconds,
  type RecordingBlobStore,
} from '../storage/recordingStore';

/**
 * Moves a finished recording from the platform into Blob storage, off the notification
 * path: the call service queues a job, a queue-triggered function runs it here, one
 * download attempt per run. Every job ends in a metadata row: stored, discarded (the number
 * keeps no media, or the caller said nothing), lost (with the reason) or, after retention,
 * deleted.
 */

/** Download attempts per recording, and the waits between them (the location lives a few minutes). */
export const RECORDING_ATTEMPTS = 5;
export const RETRY_DELAYS_SECONDS = [1, 5, 15, 30] as const;

const idText = z.string().min(1).max(256);

export const recordingJobSchema = z.strictObject({
  callId: idText,
  seq: z.number().int().min(0),
  number: z.string().max(160).nullable(),
  caller: z.string().max(160).nullable(),
  node: z.string().min(1).max(64),
  recordedAt: z.string().max(40),
  outcome: z.string().max(32),
  completionReason: z.string().max(64).nullable(),
  recording: z
    .strictObject({ location: z.string().min(1).max(2048), accessToken: z.string().min(1).max(8192) })
    .nullable(),
  reason: z.string().max(512).nullable(),
  persist: z.boolean(),
  retentionDays: z.number().int().min(1).max(3650),
  attempt: z.number().int().min(1).max(RECORDING_ATTEMPTS),
  /** The flow the call ran (voicemail delivery reads its `recordings`); absent in older jobs. */
  flowId: z.string().min(1).max(128).optional(),
  flowVersion: z.number().int().min(0).optional(),
});
export type RecordingJob = z.infer<typeof recordingJobSchema>;

export type ArchiveResult =
  | { status: RecordingMeta['status'] }
  /** A transient failure: run the job again later. */
  | { retry: string };

export interface RecordingArchiverDeps {
  records: RecordStore;
  blobs: RecordingBlobStore;
  maxBytes: number;
  allowLocalHttp: boolean;
  /** Per download attempt: connect, headers and body. */
  downloadDeadlineMs?: number;
  log: Logger;
  now: () => Date;
}

/** Enough of the file to read a WAV header. */
const HEADER_BYTES = 4096;

export class RecordingArchiver {
  constructor(private readonly deps: RecordingArchiverDeps) {}

  private meta(job: RecordingJob): RecordingMeta {
    return {
      callId: job.callId,
      seq: job.seq,
      number: job.number,
      caller: job.caller,
      node: job.node,
      recordedAt: job.recordedAt,
      completionReason: job.completionReason,
      status: 'discarded',
      blobName: null,
      bytes: null,
      durationSeconds: null,
      expiresAt: null,
      error: null,
    };
  }

  /** One attempt at a job. Throws only when storage itself fails (the queue retries then). */
  async archive(job: RecordingJob): Promise<ArchiveResult> {
    const { records, log } = this.deps;
    const meta = this.meta(job);
    if (!job.recording) {
      // Nothing to download: silence is not a message; a hang-up may leave no recording at all.
      const status = job.outcome === 'noInput' ? 'discarded' : 'lost';
      await records.putRecording({ ...meta, status, error: job.reason });
      log[status === 'lost' ? 'error' : 'info'](`recording ${status}`, {
        callId: job.callId,
        seq: job.seq,
        reason: job.reason,
      });
      return { status };
    }
    if (!job.persist) {
      await records.putRecording({ ...meta, status: 'discarded', error: 'the number keeps no recordings' });
      return { status: 'discarded' };
    }
    // A job delivered twice must not store twice.
    const existing = await records.getRecording(job.callId, job.seq);
    if (existing && existing.status !== 'lost') return { status: existing.status };
    const blobName = `${safeSegment(job.number ?? 'unknown')}/${job.recordedAt.slice(0, 10)}/${safeSegment(job.callId)}-${job.seq}.wav`;
    try {
      const { bytes, header } = await this.copy(job.recording, blobName, job);
      await records.putRecording({
        ...meta,
        status: 'stored',
        blobName,
        bytes,
        durationSeconds: wavDurationSeconds(header),
        expiresAt: new Date(this.deps.now().getTime() + job.retentionDays * 86_400_000).toISOString(),
      });
      log.info('recording stored', { callId: job.callId, seq: job.seq, blobName, bytes });
      return { status: 'stored' };
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof DownloadError && !err.retryable) {
        await this.lose(job, message);
        return { status: 'lost' };
      }
      log.warn('recording download failed', {
        callId: job.callId,
        seq: job.seq,
        attempt: job.attempt,
        error: message,
      });
      return { retry: message };
    }
  }

  /** Never silently dropped: the loss is on record. */
  async lose(job: RecordingJob, reason: string): Promise<void> {
    await this.deps.records.putRecording({ ...this.meta(job), status: 'lost', error: reason });
    this.deps.log.error('recording lost', { callId: job.callId, seq: job.seq, error: reason });
  }

  /** Streams the download into the blob, keeping its first bytes to read the WAV header. */
  private async copy(
    source: { location: string; accessToken: string },
    blobName: string,
    job: RecordingJob,
  ): Promise<{ bytes: number; header: Buffer }> {
    const url = checkRecordingLocation(source.location, this.deps.allowLocalHttp);
    const download = await openRecording(url, source.accessToken, this.deps.maxBytes, {
      allowLocalHttp: this.deps.allowLocalHttp,
      deadlineMs: this.deps.downloadDeadlineMs,
    });
    try {
      let header = Buffer.alloc(0);
      const peek = new Transform({
        transform(chunk: Buffer, _enc, done) {
          if (header.length < HEADER_BYTES)
            header = Buffer.concat([header, chunk.subarray(0, HEADER_BYTES - header.length)]);
          done(null, chunk);
        },
      });
      // pipeline passes a download error on to the upload and tears both sides down.
      pipeline(download.body, peek, () => undefined);
      const bytes = await this.deps.blobs.upload(blobName, peek, download.contentType, {
        callid: job.callId,
        node: job.node,
      });
      return { bytes, header };
    } finally {
      download.abort(); // nothing after a clean end; otherwise the connection closes at once
    }
  }

  /** Deletes recordings past their retention (timer only: a scan). */
  async expire(now: Date): Promise<{ deleted: number }> {
    let deleted = 0;
    for await (const meta of this.deps.records.listExpiredRecordings(now)) {
      if (meta.blobName) await this.deps.blobs.delete(meta.blobName);
      await this.deps.records.putRecording({ ...meta, status: 'deleted' });
      deleted++;
    }
    return { deleted };
  }
}

function safeSegment(value: string): string {
  return value.replace(/[^A-Za-z0-9+_-]/g, '_');
}
