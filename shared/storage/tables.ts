import type { TableClient } from '@azure/data-tables';

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

/** Runs an operation with an abort signal that fires after `ms` or when `outer` aborts. */
export async function withTimeout<T>(
  ms: number,
  outer: AbortSignal | undefined,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  // One controller and one timer per request: AbortSignal.any and .timeout cost more on the hot path.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new StorageTimeoutError(ms));
  }, ms);
  const onOuter = () => controller.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  try {
    return await run(controller.signal);
  } catch (err) {
    if (timedOut) throw new StorageTimeoutError(ms);
    if (outer?.aborted) throw outer.reason instanceof Error ? outer.reason : new StorageTimeoutError(ms);
    throw err;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

export class TableConnector {
  private table: Promise<TableClient> | null = null;
  private created: Promise<unknown> | null = null;

  constructor(private readonly make: () => Promise<TableClient>) {}

  static fromConnectionString(connectionString: string, tableName: string): TableConnector {
    return new TableConnector(async () => {
      const { TableClient } = await import('@azure/data-tables');
      return TableClient.fromConnectionString(connectionString, tableName, {
        allowInsecureConnection: /http:\/\/|UseDevelopmentStorage=true/i.test(connectionString),
      });
    });
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
    const client = await this.client();
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
