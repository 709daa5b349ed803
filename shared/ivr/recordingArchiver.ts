import { Transform } from 'node:stream';
import type { FlowFile } from '../flows/schema';
import type { RecordStore, RecordingMeta } from '../storage/recordStore';
import {
  checkRecordingLocation,
  DownloadError,
  openRecording,
  wavDurationSeconds,
  type RecordingBlobStore,
} from '../storage/recordingStore';
import type { Logger } from './callService';

/**
 * Moves a finished recording from the platform into Blob storage, at once (the platform
 * discards it soon after the call), and always leaves its metadata: stored, discarded (the
 * number keeps no media), lost (with the reason) or, after retention, deleted.
 */

export interface RecordingArchiverDeps {
  records: RecordStore;
  blobs: RecordingBlobStore;
  maxBytes: number;
  allowLocalHttp: boolean;
  log: Logger;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

export type RecordingSubject = Pick<
  RecordingMeta,
  'callId' | 'seq' | 'number' | 'caller' | 'node' | 'completionReason'
>;

/** Waits before each download attempt: the location stays valid for a while after the call. */
const ATTEMPT_DELAYS_MS = [0, 500, 1500, 3000];
/** Enough of the file to read a WAV header. */
const HEADER_BYTES = 4096;

export class RecordingArchiver {
  constructor(private readonly deps: RecordingArchiverDeps) {}

  async archive(
    subject: RecordingSubject,
    source: { location: string; accessToken: string },
    policy: FlowFile['recordings'],
  ): Promise<void> {
    const { records, log } = this.deps;
    const recordedAt = this.deps.now().toISOString();
    const meta: RecordingMeta = {
      ...subject,
      recordedAt,
      status: 'discarded',
      blobName: null,
      bytes: null,
      durationSeconds: null,
      expiresAt: null,
      error: null,
    };
    if (!policy.persist) {
      await records.putRecording(meta);
      return;
    }
    const blobName = `${safeSegment(subject.number ?? 'unknown')}/${recordedAt.slice(0, 10)}/${safeSegment(subject.callId)}-${subject.seq}.wav`;
    let lastError = '';
    for (const delay of ATTEMPT_DELAYS_MS) {
      if (delay) await this.deps.sleep(delay);
      try {
        const { bytes, header } = await this.copy(source, blobName, subject);
        await records.putRecording({
          ...meta,
          status: 'stored',
          blobName,
          bytes,
          durationSeconds: wavDurationSeconds(header),
          expiresAt: new Date(this.deps.now().getTime() + policy.retentionDays * 86_400_000).toISOString(),
        });
        log.info('recording stored', { callId: subject.callId, blobName, bytes });
        return;
      } catch (err) {
        lastError = (err as Error).message;
        log.warn('recording download failed', { callId: subject.callId, seq: subject.seq, error: lastError });
        if (err instanceof DownloadError && !err.retryable) break;
      }
    }
    // Never silently dropped: the loss is on record.
    await records.putRecording({ ...meta, status: 'lost', error: lastError });
    log.error('recording lost', { callId: subject.callId, seq: subject.seq, error: lastError });
  }

  /** Streams the download into the blob, keeping its first bytes to read the WAV header. */
  private async copy(
    source: { location: string; accessToken: string },
    blobName: string,
    subject: RecordingSubject,
  ): Promise<{ bytes: number; header: Buffer }> {
    const url = checkRecordingLocation(source.location, this.deps.allowLocalHttp);
    const { body, contentType } = await openRecording(url, source.accessToken, this.deps.maxBytes);
    let header = Buffer.alloc(0);
    const peek = new Transform({
      transform(chunk: Buffer, _enc, done) {
        if (header.length < HEADER_BYTES)
          header = Buffer.concat([header, chunk.subarray(0, HEADER_BYTES - header.length)]);
        done(null, chunk);
      },
    });
    body.on('error', (err) => peek.destroy(err));
    const bytes = await this.deps.blobs.upload(blobName, body.pipe(peek), contentType, {
      callid: subject.callId,
      node: subject.node,
    });
    return { bytes, header };
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
