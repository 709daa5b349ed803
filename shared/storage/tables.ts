import type { TableClient } from '@azure/data-tables';
import { StorageClients } from './connection';

/**
 * One table's client, made on first use (the Tables SDK loads then, not at cold start),
 * and every operation bounded in time: storage that stalls must not hold a notification.
 */

export class StorageTimeoutError extends Error {
  constructor(ms: number) {
    super(`storage did not answer within ${ms} ms`);
    this.name = 'StorageTimeoutError';
  }
}

/** An SDK error's HTTP status, without importing the SDK. */
export function isStatus(err: unknown, status: number): boolean {
  return (err as { statusCode?: unknown } | null)?.statusCode === status;
}

/** The notification's deadline passed before this request could be made. */
export class DeadlineError extends Error {
  constructor() {
    super('the notification deadline has passed');
    this.name = 'DeadlineError';
  }
}

/**
 * Runs one storage request with an abort signal that fires after `ms`, or at `deadline`
 * (epoch ms) if that comes first. One controller and one timer per request: the hot path
 * pays nothing more.
 */
export async function withTimeout<T>(
  ms: number,
  deadline: number | undefined,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const left = deadline === undefined ? ms : Math.min(ms, deadline - Date.now());
  if (left <= 0) throw new DeadlineError();
  const controller = new AbortController();
  // Unref: the request itself keeps the process alive; the timer alone must not.
  const timer = setTimeout(() => controller.abort(), left).unref();
  try {
    return await run(controller.signal);
  } catch (err) {
    if (controller.signal.aborted) throw left < ms ? new DeadlineError() : new StorageTimeoutError(ms);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export class TableConnector {
  private table: Promise<TableClient> | null = null;
  /** The client once made: the hot path skips awaiting the promise. */
  private ready: TableClient | null = null;
  private created: Promise<unknown> | null = null;

  constructor(private readonly make: () => Promise<TableClient>) {}

  static fromConnectionString(connectionString: string, tableName: string): TableConnector {
    const clients = new StorageClients({ kind: 'connectionString', connectionString });
    return new TableConnector(() => clients.table(tableName));
  }

  client(): Promise<TableClient> {
    this.table ??= this.make().catch((err) => {
      this.table = null;
      throw err;
    });
    return this.table;
  }

  /** Creates the table the first time an operation finds it missing, so the hot path pays nothing. */
  async run<T>(op: (client: TableClient) => Promise<T>): Promise<T> {
    const client = this.ready ?? (this.ready = await this.client());
    try {
      return await op(client);
    } catch (err) {
      if (!isStatus(err, 404) || !/TableNotFound/i.test(errorCode(err))) throw err;
      this.created ??= client.createTable().catch((e) => {
        this.created = null;
        throw e;
      });
      await this.created;
      return op(client);
    }
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return `${String(e.code ?? '')} ${String(e.message ?? '')}`;
}
