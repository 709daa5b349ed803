import type { TableClient, TransactionAction } from '@azure/data-tables';
import { CHUNK_CHARS, ConflictError, MAX_CHUNKS, safeKey } from './callStore';
import { isStatus, withTimeout, type TableConnector } from './tables';

/**
 * Flows put through the admin API, in one table partition so that a change is one atomic
 * batch: the new version row, the number's head row (ETag-checked) and the catalogue row
 * every instance polls. Every version is kept; a deletion is a version too (a tombstone
 * that also hides the number's file).
 *
 * Rows (partition "flows"):
 *   catalog                 touched by every change: its ETag is the catalogue's version
 *   h_<number>              the number's current version, its text and metadata
 *   v_<number>_<version>    every version ever stored, never changed
 *   f_<file name>           a flow file's last valid text: its fallback when the file is
 *                           invalid at a cold start (last known good across restarts)
 */

const PARTITION = 'flows';
const CATALOG_ROW = 'catalog';
const headRow = (number: string) => `h_${safeKey(number)}`;
const versionRow = (number: string, version: number) =>
  `v_${safeKey(number)}_${String(version).padStart(10, '0')}`;

export interface StoredFlowMeta {
  number: string;
  version: number;
  /** A tombstone: the number has no flow (its file is hidden too). */
  deleted: boolean;
  at: string;
  author: string | null;
  comment: string | null;
}

export interface StoredFlow extends StoredFlowMeta {
  /** The text as it was put (comments included); empty for a tombstone. */
  text: string;
}

export interface FlowWrite {
  number: string;
  /** null for a deletion. */
  text: string | null;
  author?: string | null;
  comment?: string | null;
  /** The version the writer saw (0: none stored yet); undefined: whatever is current. */
  expectedVersion?: number;
  at: string;
}

/** The write found another version than the one it expected (If-Match). */
export class StaleVersionError extends Error {
  constructor(readonly current: number) {
    super(`the current version is ${current}`);
    this.name = 'StaleVersionError';
  }
}

function toRow(rowKey: string, flow: StoredFlow): Record<string, unknown> {
  const row: Record<string, unknown> = {
    partitionKey: PARTITION,
    rowKey,
    number: flow.number,
    version: flow.version,
    deleted: flow.deleted,
    at: flow.at,
    author: flow.author ?? '',
    comment: flow.comment ?? '',
    data: flow.text.slice(0, CHUNK_CHARS),
  };
  const chunks = Math.max(1, Math.ceil(flow.text.length / CHUNK_CHARS));
  if (chunks > MAX_CHUNKS) throw new Error(`a flow of ${flow.text.length} characters is too large to store`);
  for (let i = 1; i < chunks; i++) row[`data${i}`] = flow.text.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
  return row;
}

function metaOf(e: Record<string, unknown>): StoredFlowMeta {
  return {
    number: String(e.number),
    version: Number(e.version),
    deleted: e.deleted === true,
    at: String(e.at ?? ''),
    author: typeof e.author === 'string' && e.author !== '' ? e.author : null,
    comment: typeof e.comment === 'string' && e.comment !== '' ? e.comment : null,
  };
}

function fromRow(e: Record<string, unknown>): StoredFlow {
  let text = String(e.data ?? '');
  for (let i = 1; typeof e[`data${i}`] === 'string'; i++) text += e[`data${i}`] as string;
  return { ...metaOf(e), text };
}

const fileRow = (name: string) => `f_${safeKey(name)}`;

export class TableFlowStore {
  constructor(
    private readonly tables: TableConnector,
    private readonly timeoutMs: number,
  ) {}

  private op<T>(run: (c: TableClient, signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.tables.run((c) => withTimeout(this.timeoutMs, undefined, (s) => run(c, s)));
  }

  private async get(rowKey: string): Promise<{ row: Record<string, unknown>; etag: string } | null> {
    try {
      const row = await this.op((c, abortSignal) =>
        c.getEntity<Record<string, unknown>>(PARTITION, rowKey, { abortSignal }),
      );
      return { row, etag: row.etag };
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  /** The catalogue's version: one small point read, the only request an idle instance makes. */
  async catalogVersion(): Promise<string> {
    try {
      const row = await this.op((c, abortSignal) =>
        c.getEntity(PARTITION, CATALOG_ROW, { abortSignal, queryOptions: { select: ['RowKey'] } }),
      );
      return row.etag;
    } catch (err) {
      if (isStatus(err, 404)) return 'none';
      throw err;
    }
  }

  /** Every number's current version (tombstones included), with its text. */
  async heads(): Promise<StoredFlow[]> {
    return this.list("RowKey gt 'h_' and RowKey lt 'h_~'", fromRow);
  }

  async head(number: string): Promise<StoredFlow | null> {
    const found = await this.get(headRow(number));
    return found ? fromRow(found.row) : null;
  }

  async version(number: string, version: number): Promise<StoredFlow | null> {
    const found = await this.get(versionRow(number, version));
    return found ? fromRow(found.row) : null;
  }

  /** A number's versions, newest first, without their text. */
  async versions(number: string): Promise<StoredFlowMeta[]> {
    const prefix = `v_${safeKey(number)}_`;
    const all = await this.list(`RowKey gt '${prefix}' and RowKey lt '${prefix}~'`, metaOf, [
      'number',
      'version',
      'deleted',
      'at',
      'author',
      'comment',
    ]);
    return all.sort((a, b) => b.version - a.version);
  }

  private async list<T>(
    filter: string,
    map: (e: Record<string, unknown>) => T,
    select?: string[],
  ): Promise<T[]> {
    return this.op(async (c, abortSignal) => {
      const out: T[] = [];
      const rows = c.listEntities<Record<string, unknown>>({
        abortSignal,
        queryOptions: {
          filter: `PartitionKey eq '${PARTITION}' and ${filter}`,
          ...(select ? { select } : {}),
        },
      });
      for await (const e of rows) out.push(map(e));
      return out;
    });
  }

  /** The last valid text of every flow file (by file name) that was ever loaded valid. */
  async lastGoodFiles(): Promise<Map<string, string>> {
    const rows = await this.list("RowKey gt 'f_' and RowKey lt 'f_~'", (e) => ({
      name: String(e.name),
      text: fromRow(e).text,
    }));
    return new Map(rows.map((r) => [r.name, r.text]));
  }

  /** Saves a flow file's text as its last known good (not a version: the catalogue is untouched). */
  async saveLastGood(name: string, text: string, at: string): Promise<void> {
    const row = toRow(fileRow(name), {
      number: '',
      version: 0,
      deleted: false,
      at,
      author: null,
      comment: null,
      text,
    });
    await this.op((c, abortSignal) => c.upsertEntity({ ...row, name } as never, 'Replace', { abortSignal }));
  }

  /**
   * Stores a new version and makes it current, in one batch: either all of it lands or
   * nothing does. StaleVersionError when `expectedVersion` is not the current one.
   */
  async write(w: FlowWrite): Promise<StoredFlow> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const head = await this.get(headRow(w.number));
      const current = head ? Number(head.row.version) : 0;
      if (w.expectedVersion !== undefined && w.expectedVersion !== current)
        throw new StaleVersionError(current);
      const flow: StoredFlow = {
        number: w.number,
        version: current + 1,
        deleted: w.text === null,
        at: w.at,
        author: w.author ?? null,
        comment: w.comment ?? null,
        text: w.text ?? '',
      };
      const actions: TransactionAction[] = [
        ['create', toRow(versionRow(w.number, flow.version), flow) as never],
        head
          ? ['update', toRow(headRow(w.number), flow) as never, 'Replace', { etag: head.etag }]
          : ['create', toRow(headRow(w.number), flow) as never],
        ['upsert', { partitionKey: PARTITION, rowKey: CATALOG_ROW, at: w.at }, 'Replace'],
      ];
      try {
        await this.op((c) => c.submitTransaction(actions));
        return flow;
      } catch (err) {
        // Another writer took this version number: read again and decide again.
        if (isStatus(err, 409) || isStatus(err, 412)) continue;
        throw err;
      }
    }
    throw new ConflictError('the flow kept changing while it was written');
  }
}
