import { join } from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { startLocalHost, type LocalHost } from '../../host/localHost';
import { startAzurite, type Azurite } from '../../sim/azurite';
import { QUEUE, runs } from '../support/fixtures/queueFunctions';

// The local host's queue trigger: each message reaches its function as the Functions host
// hands it over, and is settled as the host settles it (deleted, retried, moved to poison).

const FIXTURE = join(__dirname, '../support/fixtures/queueFunctions.ts');
const saved = { ...process.env };

afterAll(() => {
  for (const key of ['AzureWebJobsStorage', 'IVR_LOCAL_DEV_HTTP', 'IVR_TEST_TIMER_SCALE'])
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
});

async function until<T>(look: () => Promise<T | null>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = await look();
    if (found !== null) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const encode = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64');
const runsOf = (id: string) =>
  runs.filter((r) => (r.input as { id?: string } | null)?.id === id).map((r) => r.dequeueCount);

describe('queue functions', () => {
  let azurite: Azurite;
  let host: LocalHost;
  let queue: QueueClient;
  let poison: QueueClient;
  const waiting = async (q: QueueClient) =>
    (await q.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;

  beforeAll(async () => {
    azurite = await startAzurite();
    process.env.AzureWebJobsStorage = azurite.connectionString;
    process.env.IVR_LOCAL_DEV_HTTP = 'true';
    // Polls every 50 ms at most, and a failed message is visible again at once.
    process.env.IVR_TEST_TIMER_SCALE = '0.05';
    queue = new QueueClient(azurite.connectionString, QUEUE);
    poison = new QueueClient(azurite.connectionString, `${QUEUE}-poison`);
    await Promise.all([queue.createIfNotExists(), poison.createIfNotExists()]);
    host = await startLocalHost({
      port: 0,
      functionFiles: [FIXTURE],
      log: () => undefined,
    });
  });
  afterAll(async () => {
    await host.close();
    await azurite.stop();
  });

  test('a message runs its function once, with its JSON input and dequeue count 1, and is deleted', async () => {
    await queue.sendMessage(encode({ id: 'ok', n: 7 }));
    await until(async () => (runsOf('ok').length > 0 ? true : null), 'the run');
    await until(async () => ((await waiting(queue)).length === 0 ? true : null), 'the delete');
    expect(runs.find((r) => (r.input as { id?: string } | null)?.id === 'ok')?.input).toEqual({
      id: 'ok',
      n: 7,
    });
    expect(runsOf('ok')).toEqual([1]);
  });

  test('a message that is not JSON reaches its function as the text', async () => {
    await queue.sendMessage(Buffer.from('plain text').toString('base64'));
    await until(async () => (runs.some((r) => r.input === 'plain text') ? true : null), 'the run');
    expect(runs.filter((r) => r.input === 'plain text').map((r) => r.dequeueCount)).toEqual([1]);
  });

  test('a message that fails once runs again with dequeue count 2, then is deleted', async () => {
    await queue.sendMessage(encode({ id: 'once', failUntil: 1 }));
    await until(async () => (runsOf('once').length >= 2 ? true : null), 'the second run');
    await until(async () => ((await waiting(queue)).length === 0 ? true : null), 'the delete');
    expect(runsOf('once')).toEqual([1, 2]);
    expect(await waiting(poison)).toEqual([]);
  });

  test('a message that fails five times moves to the poison queue, as sent, and leaves its queue', async () => {
    const body = encode({ id: 'poison', failUntil: 99 });
    await queue.sendMessage(body);
    const moved = await until(async () => {
      const items = await waiting(poison);
      return items.length > 0 ? items : null;
    }, 'the poison queue');
    expect(moved.map((m) => m.messageText)).toEqual([body]);
    expect(runsOf('poison')).toEqual([1, 2, 3, 4, 5]);
    expect(await waiting(queue)).toEqual([]);
  });

  test('after close nothing is polled: a message sent then stays in its queue', async () => {
    await host.close();
    await queue.sendMessage(encode({ id: 'late' }));
    await new Promise((r) => setTimeout(r, 300));
    expect(runsOf('late')).toEqual([]);
    expect((await waiting(queue)).length).toBe(1);
  });
});
