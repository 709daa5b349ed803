import type { TableClient } from '@azure/data-tables';

/**
 * A Table storage stand-in for unit tests of the stores: rows with ETags, the SDK's statuses
 * (404, 409, 412), the `and`-joined `eq/ne/gt/ge/lt` filters the stores send, and `select`.
 * Strict where the stores must be: every point request has to carry an abort signal. A test can
 * stop any request before it reaches the rows (`before`) to run another writer first, fail
 * it, or stall it until its signal aborts.
 */

export type Row = Record<string, unknown> & { partitionKey: string; rowKey: string };

export interface Request {
  method:
    'getEntity' | 'createEntity' | 'updateEntity' | 'upsertEntity' | 'listEntities' | 'submitTransaction';
  partitionKey?: string;
  rowKey?: string;
  signal: AbortSignal | undefined;
}

export const sdkError = (statusCode: number, code = '') =>
  Object.assign(new Error(`status ${statusCode} ${code}`.trim()), { statusCode, code });

/** A request that settles only when its signal aborts, as the SDK's AbortError. */
export const stall = (signal: AbortSignal | undefined) =>
  new Promise<never>((_, reject) => {
    if (!signal) return reject(new Error('stalled without an abort signal'));
    signal.addEventListener('abort', () =>
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
    );
  });

export class MemoryTable {
  readonly rows = new Map<string, Row & { etag: string }>();
  readonly requests: Request[] = [];
  tableMissing = false;
  createTableCalls = 0;
  /** Runs before each request (after it is logged); may throw or wait. */
  before: (req: Request) => Promise<void> | void = () => undefined;
  private version = 0;

  private key(pk: string, rk: string) {
    return `${pk}\u0000${rk}`;
  }

  private async enter(req: Request): Promise<void> {
    this.requests.push(req);
    // Scans (timers only) may go without one; a stalled scan test checks those that take one.
    if (req.method !== 'listEntities' && !(req.signal instanceof AbortSignal))
      throw new Error(`${req.method} was sent without an abort signal`);
    await this.before(req);
    if (this.tableMissing) throw sdkError(404, 'TableNotFound');
  }

  /** Writes a row directly, as another instance would (a new ETag). */
  put(row: Row): string {
    const etag = `W/"${++this.version}"`;
    this.rows.set(this.key(row.partitionKey, row.rowKey), { ...row, etag });
    return etag;
  }

  row(pk: string, rk: string): (Row & { etag: string }) | undefined {
    return this.rows.get(this.key(pk, rk));
  }

  private insert(row: Row): string {
    if (this.rows.has(this.key(row.partitionKey, row.rowKey))) throw sdkError(409, 'EntityAlreadyExists');
    return this.put(row);
  }

  private replace(row: Row, etag: string | undefined): string {
    const found = this.rows.get(this.key(row.partitionKey, row.rowKey));
    if (!found) throw sdkError(404, 'ResourceNotFound');
    if (etag !== undefined && etag !== '*' && etag !== found.etag)
      throw sdkError(412, 'UpdateConditionNotSatisfied');
    return this.put(row);
  }

  readonly client = {
    createTable: async () => {
      this.createTableCalls++;
      this.tableMissing = false;
    },
    getEntity: async (
      partitionKey: string,
      rowKey: string,
      options?: { abortSignal?: AbortSignal; queryOptions?: { select?: string[] } },
    ) => {
      await this.enter({ method: 'getEntity', partitionKey, rowKey, signal: options?.abortSignal });
      const found = this.rows.get(this.key(partitionKey, rowKey));
      if (!found) throw sdkError(404, 'ResourceNotFound');
      return selected(found, options?.queryOptions?.select);
    },
    createEntity: async (row: Row, options?: { abortSignal?: AbortSignal }) => {
      await this.enter({ method: 'createEntity', ...keys(row), signal: options?.abortSignal });
      return { etag: this.insert(row) };
    },
    updateEntity: async (row: Row, mode: string, options?: { etag?: string; abortSignal?: AbortSignal }) => {
      await this.enter({ method: 'updateEntity', ...keys(row), signal: options?.abortSignal });
      if (mode !== 'Replace') throw new Error(`unexpected update mode ${mode}`);
      return { etag: this.replace(row, options?.etag) };
    },
    upsertEntity: async (row: Row, mode: string, options?: { abortSignal?: AbortSignal }) => {
      await this.enter({ method: 'upsertEntity', ...keys(row), signal: options?.abortSignal });
      if (mode !== 'Replace') throw new Error(`unexpected upsert mode ${mode}`);
      return { etag: this.put(row) };
    },
    listEntities: (options?: {
      abortSignal?: AbortSignal;
      queryOptions?: { filter?: string; select?: string[] };
    }) => {
      const list = async function* (this: MemoryTable) {
        await this.enter({ method: 'listEntities', signal: options?.abortSignal });
        const test = matcher(options?.queryOptions?.filter ?? '');
        // Ordinal order, as the service returns rows.
        const order = (r: Row) => `${r.partitionKey}\u0000${r.rowKey}`;
        const sorted = [...this.rows.values()].sort((a, b) => (order(a) < order(b) ? -1 : 1));
        for (const row of sorted) if (test(row)) yield selected(row, options?.queryOptions?.select);
      };
      return list.call(this);
    },
    submitTransaction: async (actions: Array<[string, Row, string?, { etag?: string }?]>) => {
      // The stores send a batch without a signal (the SDK takes none there): not checked.
      this.requests.push({ method: 'submitTransaction', signal: undefined });
      await this.before({ method: 'submitTransaction', signal: undefined });
      if (new Set(actions.map(([, row]) => row.partitionKey)).size > 1)
        throw new Error('a batch holds one partition');
      // All or nothing: check every action against the rows as they are, then apply.
      for (const [kind, row, mode, options] of actions) {
        if (kind !== 'create' && mode !== 'Replace')
          throw new Error(`unexpected ${kind} mode ${String(mode)}`);
        const found = this.rows.get(this.key(row.partitionKey, row.rowKey));
        if (kind === 'create' && found) throw sdkError(409, 'EntityAlreadyExists');
        if (kind === 'update' && !found) throw sdkError(404, 'ResourceNotFound');
        if (kind === 'update' && options?.etag !== undefined && options.etag !== found?.etag)
          throw sdkError(412, 'UpdateConditionNotSatisfied');
      }
      for (const [, row] of actions) this.put(row);
      return { status: 202 };
    },
  };

  get tableClient(): TableClient {
    return this.client as unknown as TableClient;
  }
}

function keys(row: Row) {
  return { partitionKey: row.partitionKey, rowKey: row.rowKey };
}

function selected(row: Row & { etag: string }, select: string[] | undefined) {
  if (!select) return { ...row };
  const out: Record<string, unknown> = { etag: row.etag };
  for (const name of select) {
    const column = name === 'RowKey' ? 'rowKey' : name === 'PartitionKey' ? 'partitionKey' : name;
    if (column in row) out[column] = row[column];
  }
  return out;
}

/** The filters the stores send: `Column op 'text'` clauses joined by `and`. */
function matcher(filter: string): (row: Row) => boolean {
  if (filter.trim() === '') return () => true;
  const clauses = filter.split(' and ').map((clause) => {
    const m = /^(\w+) (eq|ne|gt|ge|lt|le) '((?:[^']|'')*)'$/.exec(clause.trim());
    if (!m) throw new Error(`filter clause not understood: ${clause}`);
    const [, name, op, quoted] = m as unknown as [string, string, string, string];
    const column = name === 'RowKey' ? 'rowKey' : name === 'PartitionKey' ? 'partitionKey' : name;
    const value = quoted.replace(/''/g, "'");
    return (row: Row) => {
      const cell = row[column];
      if (typeof cell !== 'string') return false;
      switch (op) {
        case 'eq':
          return cell === value;
        case 'ne':
          return cell !== value;
        case 'gt':
          return cell > value;
        case 'ge':
          return cell >= value;
        case 'lt':
          return cell < value;
        default:
          return cell <= value;
      }
    };
  });
  return (row) => clauses.every((c) => c(row));
}
