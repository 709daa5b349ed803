import { RestError, TableClient, type TableEntity } from '@azure/data-tables';
import type { CallContext } from '../ivr/context';

/** Per-call contexts in Table storage, written only with ETag concurrency. */

export class ConflictError extends Error {
  constructor(message = 'the row changed since it was read') {
    super(message);
    this.name = 'ConflictError';
  }
}

export interface Versioned<T> {
  value: T;
  etag: string;
}

export interface CallStore {
  get(clientContext: string): Promise<Versioned<CallContext> | null>;
  /** Inserts a new context; ConflictError if one exists under that key. */
  create(ctx: CallContext): Promise<string>;
  /** Replaces a context if its ETag still matches; ConflictError otherwise. */
  replace(ctx: CallContext, etag: string): Promise<string>;
  /** Links a Graph call id to a context. False when the call id is linked already (a redelivered notification). */
  claimCallId(callId: string, clientContext: string): Promise<boolean>;
  findByCallId(callId: string): Promise<string | null>;
  /** Contexts of calls not ended. For timers only: this is a scan. */
  listOpen(): AsyncIterable<Versioned<CallContext> & { updatedAt: string }>;
  delete(clientContext: string, etag: string): Promise<void>;
}

interface ContextEntity extends TableEntity {
  callId: string;
  phase: string;
  updatedAt: string;
  data: string;
}

const CONTEXT_ROW = 'ctx';
const INDEX_ROW = 'call';

/** Keys cannot hold / \ # ? or control characters. */
export function safeKey(value: string): string {
  return encodeURIComponent(value).replace(/%/g, '$');
}

export function isStatus(err: unknown, status: number): boolean {
  return err instanceof RestError && err.statusCode === status;
}

export class TableCallStore implements CallStore {
  private ready: Promise<void> | null = null;

  constructor(private readonly client: TableClient) {}

  static fromConnectionString(connectionString: string, table: string): TableCallStore {
    return new TableCallStore(
      TableClient.fromConnectionString(connectionString, table, {
        allowInsecureConnection: connectionString.includes('http://'),
      }),
    );
  }

  /** Creates the table the first time an operation finds it missing, so the hot path pays nothing. */
  private async withTable<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!(
        err instanceof RestError &&
        err.statusCode === 404 &&
        /TableNotFound/i.test(String(err.code ?? err.message))
      ))
        throw err;
      this.ready ??= this.client.createTable().then(
        () => undefined,
        (e) => {
          this.ready = null;
          throw e;
        },
      );
      await this.ready;
      return op();
    }
  }

  async get(clientContext: string): Promise<Versioned<CallContext> | null> {
    try {
      const e = await this.withTable(() =>
        this.client.getEntity<ContextEntity>(`c_${clientContext}`, CONTEXT_ROW),
      );
      return { value: JSON.parse(e.data) as CallContext, etag: e.etag };
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  private entity(ctx: CallContext): ContextEntity {
    return {
      partitionKey: `c_${ctx.clientContext}`,
      rowKey: CONTEXT_ROW,
      callId: ctx.callId ?? '',
      phase: ctx.phase,
      updatedAt: new Date().toISOString(),
      data: JSON.stringify(ctx),
    };
  }

  async create(ctx: CallContext): Promise<string> {
    try {
      const r = await this.withTable(() => this.client.createEntity(this.entity(ctx)));
      return r.etag!;
    } catch (err) {
      if (isStatus(err, 409)) throw new ConflictError('a context exists under this clientContext');
      throw err;
    }
  }

  async replace(ctx: CallContext, etag: string): Promise<string> {
    try {
      const r = await this.client.updateEntity(this.entity(ctx), 'Replace', { etag });
      return r.etag!;
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 404)) throw new ConflictError();
      throw err;
    }
  }

  async claimCallId(callId: string, clientContext: string): Promise<boolean> {
    try {
      await this.withTable(() =>
        this.client.createEntity({ partitionKey: `i_${safeKey(callId)}`, rowKey: INDEX_ROW, clientContext }),
      );
      return true;
    } catch (err) {
      if (isStatus(err, 409)) return false;
      throw err;
    }
  }

  async findByCallId(callId: string): Promise<string | null> {
    try {
      const e = await this.withTable(() =>
        this.client.getEntity<{ clientContext: string }>(`i_${safeKey(callId)}`, INDEX_ROW),
      );
      return e.clientContext;
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  async *listOpen(): AsyncIterable<Versioned<CallContext> & { updatedAt: string }> {
    const rows = this.client.listEntities<ContextEntity>({
      queryOptions: { filter: `RowKey eq '${CONTEXT_ROW}' and phase ne 'ended'` },
    });
    try {
      for await (const e of rows)
        yield { value: JSON.parse(e.data) as CallContext, etag: e.etag, updatedAt: e.updatedAt };
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw err;
    }
  }

  async delete(clientContext: string, etag: string): Promise<void> {
    try {
      await this.client.deleteEntity(`c_${clientContext}`, CONTEXT_ROW, { etag });
    } catch (err) {
      if (isStatus(err, 412)) throw new ConflictError();
      if (!isStatus(err, 404)) throw err;
    }
  }
}
