import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import {
  DeadlineError,
  isStatus,
  StorageTimeoutError,
  TableConnector,
  withTimeout,
} from '../../shared/storage/tables';
import { JsonQueue, StorageTimerQueue } from '../../shared/storage/timerQueue';

/** The storage adapters' own rules, over stub SDK clients: time bounds, table creation, queue messages. */

/** An SDK-shaped error with an HTTP status and a code. */
const sdkError = (statusCode: number, code = '') =>
  Object.assign(new Error(`status ${statusCode} ${code}`), { statusCode, code });

/** A request that settles only when its signal aborts, with the SDK's AbortError. */
const hangs = (signal: AbortSignal) =>
  new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () =>
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
    ),
  );

describe('withTimeout', () => {
  test('a request that does not answer in time is aborted and reported as a storage timeout', async () => {
    let signal: AbortSignal | undefined;
    const err = await withTimeout(20, undefined, (s) => ((signal = s), hangs(s))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageTimeoutError);
    expect((err as Error).name).toBe('StorageTimeoutError');
    expect((err as Error).message).toBe('storage did not answer within 20 ms');
    expect(signal?.aborted).toBe(true);
  });

  test('a deadline that comes first cuts the request, as a deadline error', async () => {
    const err = await withTimeout(60_000, Date.now() + 20, hangs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as Error).message).toBe('the notification deadline has passed');
    expect((err as Error).name).toBe('DeadlineError');
  });

  test('a deadline already passed makes no request at all', async () => {
    const run = jest.fn(async () => 'made');
    await expect(withTimeout(1000, Date.now() - 1, run)).rejects.toBeInstanceOf(DeadlineError);
    await expect(withTimeout(0, undefined, run)).rejects.toBeInstanceOf(DeadlineError);
    expect(run).not.toHaveBeenCalled();
  });

  test("a request's own failure is passed on as it is, and its answer returned", async () => {
    const failure = sdkError(409);
    await expect(
      withTimeout(1000, undefined, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await withTimeout(1000, Date.now() + 1000, async (s) => (s.aborted ? 'aborted' : 'ok'))).toBe(
      'ok',
    );
  });

  test('the signal stays quiet after the request answered', async () => {
    let signal: AbortSignal | undefined;
    await withTimeout(20, undefined, async (s) => void (signal = s));
    await new Promise((r) => setTimeout(r, 40));
    expect(signal?.aborted).toBe(false);
  });
});

test('isStatus reads the SDK error status, and nothing else', () => {
  expect(isStatus(sdkError(404), 404)).toBe(true);
  expect(isStatus(sdkError(404), 409)).toBe(false);
  expect(isStatus({ statusCode: '404' }, 404)).toBe(false);
  expect(isStatus(null, 404)).toBe(false);
  expect(isStatus(new Error('x'), 404)).toBe(false);
});

test("a connector from a connection string makes that table's client on first use", async () => {
  const client = await TableConnector.fromConnectionString('UseDevelopmentStorage=true', 'calls').client();
  expect([client.tableName, client.url]).toEqual(['calls', 'http://127.0.0.1:10002/devstoreaccount1']);
});

describe('TableConnector', () => {
  /** A table client stub: only table creation, which the connector itself calls. */
  function table() {
    const client = {
      createTable: jest.fn(async () => undefined),
    } as unknown as TableClient & { createTable: jest.Mock };
    return { client };
  }

  test('the client is made once, and made again after a failure', async () => {
    const { client } = table();
    let makes = 0;
    const tables = new TableConnector(async () => {
      if (++makes === 1) throw new Error('SDK failed to load');
      return client;
    });
    await expect(tables.client()).rejects.toThrow('SDK failed to load');
    expect(await tables.client()).toBe(client);
    expect(await tables.run(async (c) => c === client)).toBe(true);
    expect(makes).toBe(2);
  });

  test('a missing table is created once, then the operation runs again', async () => {
    const { client } = table();
    const tables = new TableConnector(async () => client);
    let calls = 0;
    const op = async () => {
      if (++calls === 1) throw sdkError(404, 'TableNotFound');
      return 'stored';
    };
    expect(await tables.run(op)).toBe('stored');
    expect(calls).toBe(2);
    expect(client.createTable).toHaveBeenCalledTimes(1);
    // Known from then on: another miss does not create it again.
    calls = 0;
    expect(await tables.run(op)).toBe('stored');
    expect(client.createTable).toHaveBeenCalledTimes(1);
  });

  test('the table is recognised as missing by the message as well as the code', async () => {
    const { client } = table();
    const tables = new TableConnector(async () => client);
    let calls = 0;
    const missing = Object.assign(new Error('The table specified does not exist. TableNotFound'), {
      statusCode: 404,
    });
    expect(await tables.run(async () => (++calls === 1 ? Promise.reject(missing) : 'ok'))).toBe('ok');
    expect(client.createTable).toHaveBeenCalledTimes(1);
  });

  test('another 404 (a missing row) is not a missing table', async () => {
    const { client } = table();
    const tables = new TableConnector(async () => client);
    const notFound = sdkError(404, 'ResourceNotFound');
    await expect(tables.run(() => Promise.reject(notFound))).rejects.toBe(notFound);
    const conflict = sdkError(409, 'TableNotFound');
    await expect(tables.run(() => Promise.reject(conflict))).rejects.toBe(conflict);
    expect(client.createTable).not.toHaveBeenCalled();
  });

  test('a table creation that fails is tried again by the next operation', async () => {
    const { client } = table();
    client.createTable.mockRejectedValueOnce(sdkError(503));
    const tables = new TableConnector(async () => client);
    const missingOnce = () => {
      let first = true;
      return async () => {
        if (first) {
          first = false;
          throw sdkError(404, 'TableNotFound');
        }
        return 'ok';
      };
    };
    await expect(tables.run(missingOnce())).rejects.toMatchObject({ statusCode: 503 });
    expect(await tables.run(missingOnce())).toBe('ok');
    expect(client.createTable).toHaveBeenCalledTimes(2);
  });
});

describe('JsonQueue and StorageTimerQueue', () => {
  /** A queue client stub recording what is sent. */
  function queueClient() {
    const sent: Array<{ message: unknown; visibilityTimeout?: number; messageTimeToLive?: number }> = [];
    const client = {
      createIfNotExists: jest.fn(async () => undefined),
      sendMessage: jest.fn(
        async (text: string, o: { visibilityTimeout?: number; messageTimeToLive?: number }) =>
          void sent.push({
            message: JSON.parse(Buffer.from(text, 'base64').toString('utf8')),
            visibilityTimeout: o.visibilityTimeout,
            messageTimeToLive: o.messageTimeToLive,
          }),
      ),
    } as unknown as QueueClient & { createIfNotExists: jest.Mock; sendMessage: jest.Mock };
    return { client, sent };
  }

  test('messages are base64 JSON, with their delay and time to live; the queue is created once', async () => {
    const { client, sent } = queueClient();
    const queue = JsonQueue.of(async () => client, 1000);
    await queue.send({ a: 'é' }, { delaySeconds: 7, ttlSeconds: 60 });
    await queue.send({ b: 1 }, { ttlSeconds: 30 });
    expect(sent).toEqual([
      { message: { a: 'é' }, visibilityTimeout: 7, messageTimeToLive: 60 },
      { message: { b: 1 }, visibilityTimeout: 0, messageTimeToLive: 30 },
    ]);
    expect(client.createIfNotExists).toHaveBeenCalledTimes(1);
  });

  test('a queue that could not be reached is connected again on the next message', async () => {
    const { client, sent } = queueClient();
    let connects = 0;
    const queue = new JsonQueue(async () => {
      if (++connects === 1) throw new Error('no queue service');
      return client;
    }, 1000);
    await expect(queue.send({ n: 1 }, { ttlSeconds: 60 })).rejects.toThrow('no queue service');
    await queue.send({ n: 2 }, { ttlSeconds: 60 });
    await queue.send({ n: 3 }, { ttlSeconds: 60 });
    expect(sent.map((s) => s.message)).toEqual([{ n: 2 }, { n: 3 }]);
    expect(connects).toBe(2);
  });

  test('a timer is a queue message made visible after its delay, kept an hour past it', async () => {
    const { client, sent } = queueClient();
    const timers = new StorageTimerQueue(new JsonQueue(async () => client, 1000));
    await timers.schedule({ clientContext: 'c1', timerId: 'noInput-3' }, 5);
    expect(sent).toEqual([
      {
        message: { clientContext: 'c1', timerId: 'noInput-3' },
        visibilityTimeout: 5,
        messageTimeToLive: 3605,
      },
    ]);
  });

  test('a stalled queue creation or send ends at the storage timeout, its signal aborted', async () => {
    const creating: AbortSignal[] = [];
    const stalledCreate = {
      createIfNotExists: (o: { abortSignal: AbortSignal }) => (
        creating.push(o.abortSignal),
        hangs(o.abortSignal)
      ),
    } as unknown as QueueClient;
    const err = await JsonQueue.of(async () => stalledCreate, 20)
      .send({ n: 1 }, { ttlSeconds: 60 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageTimeoutError);
    expect((err as Error).message).toBe('storage did not answer within 20 ms');
    expect(creating.map((s) => s.aborted)).toEqual([true]);

    const sending: AbortSignal[] = [];
    const stalledSend = {
      sendMessage: (_: string, o: { abortSignal: AbortSignal }) => (
        sending.push(o.abortSignal),
        hangs(o.abortSignal)
      ),
    } as unknown as QueueClient;
    await expect(
      new JsonQueue(async () => stalledSend, 20).send({ n: 1 }, { ttlSeconds: 60 }),
    ).rejects.toThrow('storage did not answer within 20 ms');
    expect(sending.map((s) => s.aborted)).toEqual([true]);
  });

  describe('scaled (tests and dev)', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    test('a menu wait is held here for the scaled delay, then sent visible at once', async () => {
      const { client, sent } = queueClient();
      const timers = new StorageTimerQueue(new JsonQueue(async () => client, 1000), 0.1);
      await timers.schedule({ clientContext: 'c1', timerId: 'interDigit-4' }, 5);
      await timers.schedule({ clientContext: 'c1', timerId: 'noInput-5' }, 10);
      await timers.schedule({ clientContext: 'c1', timerId: 'redial-1' }, 20);
      await jest.advanceTimersByTimeAsync(499);
      expect(sent).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(sent).toEqual([
        {
          message: { clientContext: 'c1', timerId: 'interDigit-4' },
          visibilityTimeout: 0,
          messageTimeToLive: 3600,
        },
      ]);
      await jest.advanceTimersByTimeAsync(500);
      expect(sent.map((s) => s.message)).toEqual([
        { clientContext: 'c1', timerId: 'interDigit-4' },
        { clientContext: 'c1', timerId: 'noInput-5' },
      ]);
      await jest.advanceTimersByTimeAsync(1000);
      expect(sent.map((s) => [s.message, s.visibilityTimeout])).toEqual([
        [{ clientContext: 'c1', timerId: 'interDigit-4' }, 0],
        [{ clientContext: 'c1', timerId: 'noInput-5' }, 0],
        [{ clientContext: 'c1', timerId: 'redial-1' }, 0],
      ]);
    });

    test("a recording's grace period is not scaled: it waits for the platform", async () => {
      const { client, sent } = queueClient();
      const timers = new StorageTimerQueue(new JsonQueue(async () => client, 1000), 0.1);
      await timers.schedule({ clientContext: 'c1', timerId: 'recordingGrace-2' }, 30);
      await timers.schedule({ clientContext: 'c1', timerId: 'xnoInput-2' }, 30);
      await timers.schedule({ clientContext: 'c1', timerId: 'noInput2' }, 30);
      expect(sent.map((s) => s.visibilityTimeout)).toEqual([30, 30, 30]);
    });

    test('a held timer whose message cannot be sent is reported', async () => {
      const { client } = queueClient();
      client.sendMessage.mockRejectedValueOnce(new Error('queue down'));
      const lost: string[] = [];
      const timers = new StorageTimerQueue(new JsonQueue(async () => client, 1000), 0.5, (err) =>
        lost.push(err.message),
      );
      await timers.schedule({ clientContext: 'c1', timerId: 'noInput-1' }, 2);
      await jest.advanceTimersByTimeAsync(1000);
      expect(lost).toEqual(['queue down']);
    });
  });
});
