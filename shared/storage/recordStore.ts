import { TableClient, RestError } from '@azure/data-tables';
import type { CallContext } from '../ivr/context';
import { isStatus, safeKey } from './callStore';

/** Finished-call records and recording metadata, one partition per call id. */

export interface RecordingMeta {
  callId: string;
  seq: number;
  number: string | null;
  caller: string | null;
  node: string;
  recordedAt: string;
  completionReason: string | null;
  /** stored: in Blob storage; discarded: the number does not keep media; lost: could not be downloaded. */
  status: 'stored' | 'discarded' | 'lost' | 'deleted';
  blobName: string | null;
  bytes: number | null;
  durationSeconds: number | null;
  expiresAt: string | null;
  error: string | null;
}

export interface CallRecord {
  callId: string;
  clientContext: string;
  direction: CallContext['direction'];
  number: string | null;
  caller: string | null;
  decision: CallContext['decision'];
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  nodesVisited: string[];
  digits: string[];
  result: CallContext['result'];
  failures: CallContext['failures'];
  recordings: RecordingMeta[];
}

export interface RecordStore {
  writeCallRecord(ctx: CallContext): Promise<void>;
  putRecording(meta: RecordingMeta): Promise<void>;
  getCallRecord(callId: string): Promise<CallRecord | null>;
  /** Recordings whose retention has passed. Timer only: a scan. */
  listExpiredRecordings(now: Date): AsyncIterable<RecordingMeta>;
}

const RECORD_ROW = 'record';
const recordingRow = (seq: number) => `rec-${String(seq).padStart(6, '0')}`;

export class TableRecordStore implements RecordStore {
  private ready: Promise<unknown> | null = null;

  constructor(private readonly client: TableClient) {}

  static fromConnectionString(connectionString: string, table: string): TableRecordStore {
    return new TableRecordStore(
      TableClient.fromConnectionString(connectionString, table, {
        allowInsecureConnection: connectionString.includes('http://'),
      }),
    );
  }

  private async ensureTable(): Promise<void> {
    this.ready ??= this.client.createTable().catch((err) => {
      this.ready = null;
      throw err;
    });
    await this.ready;
  }

  async writeCallRecord(ctx: CallContext): Promise<void> {
    if (!ctx.callId) return;
    await this.ensureTable();
    const record: Omit<CallRecord, 'recordings'> = {
      callId: ctx.callId,
      clientContext: ctx.clientContext,
      direction: ctx.direction,
      number: ctx.number,
      caller: ctx.party,
      decision: ctx.decision,
      startedAt: ctx.createdAt,
      answeredAt: ctx.establishedAt,
      endedAt: ctx.endedAt,
      nodesVisited: ctx.visited,
      digits: ctx.digits,
      result: ctx.result,
      failures: ctx.failures,
    };
    // Upsert: a redelivered terminated notification writes the same record again.
    await this.client.upsertEntity(
      {
        partitionKey: safeKey(ctx.callId),
        rowKey: RECORD_ROW,
        endedAt: ctx.endedAt ?? '',
        data: JSON.stringify(record),
      },
      'Replace',
    );
  }

  async putRecording(meta: RecordingMeta): Promise<void> {
    await this.ensureTable();
    await this.client.upsertEntity(
      {
        partitionKey: safeKey(meta.callId),
        rowKey: recordingRow(meta.seq),
        status: meta.status,
        expiresAt: meta.expiresAt ?? '',
        data: JSON.stringify(meta),
      },
      'Replace',
    );
  }

  async getCallRecord(callId: string): Promise<CallRecord | null> {
    const pk = safeKey(callId);
    const rows: Array<{ rowKey?: string; data: string }> = [];
    try {
      const iter = this.client.listEntities<{ data: string }>({
        queryOptions: { filter: `PartitionKey eq '${pk.replace(/'/g, "''")}'` },
      });
      for await (const row of iter) rows.push(row);
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
    const main = rows.find((r) => r.rowKey === RECORD_ROW);
    if (!main) return null;
    const record = JSON.parse(main.data) as Omit<CallRecord, 'recordings'>;
    const recordings = rows
      .filter((r) => r.rowKey !== RECORD_ROW)
      .map((r) => JSON.parse(r.data) as RecordingMeta);
    return { ...record, recordings };
  }

  async *listExpiredRecordings(now: Date): AsyncIterable<RecordingMeta> {
    const iter = this.client.listEntities<{ data: string }>({
      queryOptions: {
        filter: `status eq 'stored' and expiresAt ne '' and expiresAt lt '${now.toISOString()}'`,
      },
    });
    try {
      for await (const row of iter) yield JSON.parse(row.data) as RecordingMeta;
    } catch (err) {
      if (err instanceof RestError && err.statusCode === 404) return;
      throw err;
    }
  }
}
