import type { CallContext } from '../ivr/context';
import { safeKey } from './callStore';
import { isStatus, withTimeout, type TableConnector } from './tables';

/**
 * Recording metadata, one partition per call id. The call record itself is the call's
 * ended context (written by the same guarded write that ends the call), so ending a
 * call costs no second write.
 */

export interface RecordingMeta {
  callId: string;
  seq: number;
  number: string | null;
  caller: string | null;
  node: string;
  recordedAt: string;
  completionReason: string | null;
  /**
   * stored: in Blob storage; discarded: not kept (the number keeps no media, or the caller
   * said nothing); lost: could not be had (the reason is in `error`); deleted: past retention.
   */
  status: 'stored' | 'discarded' | 'lost' | 'deleted';
  blobName: string | null;
  bytes: number | null;
  durationSeconds: number | null;
  expiresAt: string | null;
  error: string | null;
  /** Voicemail delivery (mail, webhook, transcript) when the number's flow asks for it. */
  delivery?: VoicemailDeliveryState;
}

/**
 * How a stored recording's delivery is going, per channel, on its row: written with the row's
 * ETag before and after each step, so a redelivered job resumes instead of sending again.
 */
export interface VoicemailDeliveryState {
  /** pending: under way; delivered: every channel took it; failed: a channel gave up (`reason`). */
  status: 'pending' | 'delivered' | 'failed';
  /** What the flow asked for when the message was left. */
  channels: Array<'mail' | 'webhook'>;
  /** Delivery jobs run so far. */
  attempts: number;
  reason: string | null;
  updatedAt: string;
  transcript: {
    /** done: `text` holds it; failed: Speech failed (`reason`), delivered without; off: not configured. */
    status: 'done' | 'failed' | 'off';
    language: string;
    text?: string;
    truncated?: boolean;
    reason?: string;
  } | null;
  mail: {
    /** sending: a claim while sendMail runs (`since`); pending: a failed attempt will be retried. */
    status: 'pending' | 'sending' | 'sent' | 'failed';
    to: string[];
    since?: string;
    at?: string;
    /** How the audio went: attached, or a time-limited read-only link. */
    audio?: 'attached' | 'link';
    reason?: string;
  } | null;
  webhook: {
    status: 'queued' | 'delivered' | 'failed';
    deliveryId: string;
    at: string;
    attempts?: number;
    httpStatus?: number;
    reason?: string;
  } | null;
}

export interface CallRecord {
  callId: string;
  clientContext: string;
  direction: CallContext['direction'];
  number: string | null;
  /** Who called: the caller of an incoming call, our number for an outbound one. */
  caller: string | null;
  /** Who called and who was called, whatever the direction. */
  from: string | null;
  to: string | null;
  decision: CallContext['decision'];
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  nodesVisited: string[];
  digits: string[];
  result: CallContext['result'];
  failures: CallContext['failures'];
  recordings: RecordingMeta[];
  /** Recordings handed to the archive queue and not archived yet: ask again shortly. */
  recordingsPending: number;
  /** Values set by the call's steps (collect entries, http answers), when any. */
  variables?: Record<string, string>;
  /** The call's http node requests, when any: node, outcome, status. */
  lookups?: NonNullable<CallContext['lookups']>;
}

/** The record of an ended call, from its context and its recordings' rows. */
export function callRecordOf(ctx: CallContext, recordings: RecordingMeta[]): CallRecord {
  return {
    callId: ctx.callId ?? '',
    clientContext: ctx.clientContext,
    direction: ctx.direction,
    number: ctx.number,
    ...partiesOf(ctx),
    decision: ctx.decision,
    startedAt: ctx.createdAt,
    answeredAt: ctx.establishedAt,
    endedAt: ctx.endedAt,
    nodesVisited: ctx.visited,
    digits: ctx.digits,
    result: ctx.result,
    failures: ctx.failures,
    recordings,
    recordingsPending: Math.max(
      0,
      ctx.recordings.filter((r) => r.hasAudio).length + (ctx.pendingRecording ? 1 : 0) - recordings.length,
    ),
    ...(ctx.vars && Object.keys(ctx.vars).length > 0 ? { variables: ctx.vars } : {}),
    ...(ctx.lookups?.length ? { lookups: ctx.lookups } : {}),
  };
}

/** The parties of a call by role: an outbound call's caller is our number, the person called its `to`. */
export function partiesOf(ctx: Pick<CallContext, 'direction' | 'number' | 'party'>): {
  caller: string | null;
  from: string | null;
  to: string | null;
} {
  return ctx.direction === 'outgoing'
    ? { caller: ctx.number, from: ctx.number, to: ctx.party }
    : { caller: ctx.party, from: ctx.party, to: ctx.number };
}

export interface RecordStore {
  putRecording(meta: RecordingMeta): Promise<void>;
  getRecording(callId: string, seq: number): Promise<RecordingMeta | null>;
  listRecordings(callId: string): Promise<RecordingMeta[]>;
  /** Recordings whose retention has passed. Timer only: a scan. */
  listExpiredRecordings(now: Date): AsyncIterable<RecordingMeta>;
}

/** A recording row with its ETag, for the conditional writes of a delivery. */
export interface VersionedRecording {
  meta: RecordingMeta;
  etag: string;
}

export interface VersionedRecordStore {
  getRecordingVersion(callId: string, seq: number): Promise<VersionedRecording | null>;
  /** Replaces the row only if it is still at `etag`; false when it changed (412) or is gone (404). */
  replaceRecording(meta: RecordingMeta, etag: string): Promise<boolean>;
}

export const recordingRow = (seq: number) => `rec-${String(seq).padStart(6, '0')}`;

/** A recording's row: status and expiry as columns (housekeeping queries them), the rest as JSON. */
function recordingEntity(meta: RecordingMeta) {
  return {
    partitionKey: safeKey(meta.callId),
    rowKey: recordingRow(meta.seq),
    status: meta.status,
    expiresAt: meta.expiresAt ?? '',
    data: JSON.stringify(meta),
  };
}

export class TableRecordStore implements RecordStore, VersionedRecordStore {
  constructor(
    private readonly tables: TableConnector,
    private readonly timeoutMs: number,
  ) {}

  async putRecording(meta: RecordingMeta): Promise<void> {
    await this.tables.run((c) =>
      withTimeout(this.timeoutMs, undefined, (abortSignal) =>
        c.upsertEntity(recordingEntity(meta), 'Replace', { abortSignal }),
      ),
    );
  }

  async getRecording(callId: string, seq: number): Promise<RecordingMeta | null> {
    return (await this.getRecordingVersion(callId, seq))?.meta ?? null;
  }

  async getRecordingVersion(callId: string, seq: number): Promise<VersionedRecording | null> {
    try {
      const e = await this.tables.run((c) =>
        withTimeout(this.timeoutMs, undefined, (abortSignal) =>
          c.getEntity<{ data: string }>(safeKey(callId), recordingRow(seq), { abortSignal }),
        ),
      );
      return { meta: JSON.parse(e.data) as RecordingMeta, etag: e.etag };
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  async replaceRecording(meta: RecordingMeta, etag: string): Promise<boolean> {
    try {
      await this.tables.run((c) =>
        withTimeout(this.timeoutMs, undefined, (abortSignal) =>
          c.updateEntity(recordingEntity(meta), 'Replace', { etag, abortSignal }),
        ),
      );
      return true;
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 404)) return false;
      throw err;
    }
  }

  async listRecordings(callId: string): Promise<RecordingMeta[]> {
    const pk = safeKey(callId).replace(/'/g, "''");
    const client = await this.tables.client();
    const out: RecordingMeta[] = [];
    try {
      const rows = client.listEntities<{ data: string }>({
        queryOptions: { filter: `PartitionKey eq '${pk}' and RowKey ge 'rec-' and RowKey lt 'rec.'` },
      });
      for await (const row of rows) out.push(JSON.parse(row.data) as RecordingMeta);
    } catch (err) {
      if (isStatus(err, 404)) return [];
      throw err;
    }
    return out;
  }

  async *listExpiredRecordings(now: Date): AsyncIterable<RecordingMeta> {
    const client = await this.tables.client();
    const rows = client.listEntities<{ data: string }>({
      queryOptions: {
        filter: `status eq 'stored' and expiresAt ne '' and expiresAt lt '${now.toISOString()}'`,
      },
    });
    try {
      for await (const row of rows) yield JSON.parse(row.data) as RecordingMeta;
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw err;
    }
  }
}
