import { createHmac } from 'node:crypto';
import type { CallContext } from '../../shared/ivr/context';
import {
  ConflictError,
  fromEntity,
  safeKey,
  TableCallStore,
  toEntity,
  type IdempotencyClaim,
} from '../../shared/storage/callStore';
import { DeadlineError, StorageTimeoutError, TableConnector } from '../../shared/storage/tables';
import { MemoryTable, sdkError, stall, type Request } from '../support/memoryTable';

/**
 * The call store over an in-memory table: every request bounded by the storage timeout, the
 * key secret's creation race, the idempotency claim's retries. The Azurite suite
 * (test/integration/callStore.test.ts) checks the same store against the real service.
 */

const TIMEOUT_MS = 30;

function setup() {
  const table = new MemoryTable();
  const store = new TableCallStore(new TableConnector(async () => table.tableClient), TIMEOUT_MS);
  return { table, store };
}

/** A context with just what the store reads: key, call id and phase. */
const context = (clientContext: string, phase = 'established', callId: string | null = 'call-1') =>
  ({ v: 1, clientContext, callId, phase, digits: ['1'] }) as unknown as CallContext;

const SECRET = Buffer.alloc(32, 7);
const hmac = (secret: Buffer, callId: string) =>
  createHmac('sha256', secret).update(callId, 'utf8').digest('base64url');

/** Stalls the first request matching `method` (and row) until its signal aborts. */
function stallOn(table: MemoryTable, method: Request['method'], rowKey?: string) {
  const seen: AbortSignal[] = [];
  table.before = async (req) => {
    if (req.method === method && (rowKey === undefined || req.rowKey === rowKey)) {
      seen.push(req.signal!);
      await stall(req.signal);
    }
  };
  return seen;
}

async function expectStorageTimeout(promise: Promise<unknown>, seen: AbortSignal[]) {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StorageTimeoutError);
  expect((err as Error).message).toBe(`storage did not answer within ${TIMEOUT_MS} ms`);
  expect(seen).toHaveLength(1);
  expect(seen[0]!.aborted).toBe(true);
}

describe('the call key secret', () => {
  test('the first instance makes it and stores it; the key is the HMAC of the call id under it', async () => {
    const { table, store } = setup();
    const key = await store.keyFor('call-1');
    const row = table.row('meta', 'callKeySecret');
    expect(typeof row?.secret).toBe('string');
    const secret = Buffer.from(row!.secret as string, 'base64');
    expect(secret).toHaveLength(32);
    expect(key).toBe(hmac(secret, 'call-1'));
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test('a stored secret is read, not made again, and read once per instance', async () => {
    const { table, store } = setup();
    table.put({ partitionKey: 'meta', rowKey: 'callKeySecret', secret: SECRET.toString('base64') });
    await store.warmUp();
    expect(await store.keyFor('call-1')).toBe(hmac(SECRET, 'call-1'));
    expect(await store.keyFor('call-2')).toBe(hmac(SECRET, 'call-2'));
    expect(table.requests.map((r) => r.method)).toEqual(['getEntity']);
  });

  test('two instances making it at once: the one that loses the insert uses the winner', async () => {
    const { table, store } = setup();
    table.before = (req) => {
      // The other instance inserts its secret between this one's read and insert.
      if (req.method === 'createEntity' && req.rowKey === 'callKeySecret')
        table.put({ partitionKey: 'meta', rowKey: 'callKeySecret', secret: SECRET.toString('base64') });
    };
    expect(await store.keyFor('call-1')).toBe(hmac(SECRET, 'call-1'));
    expect(table.row('meta', 'callKeySecret')?.secret).toBe(SECRET.toString('base64'));
    expect(table.requests.map((r) => r.method)).toEqual(['getEntity', 'createEntity', 'getEntity']);
  });

  test('a secret gone again after a lost insert is an error, and the next call tries again', async () => {
    const { table, store } = setup();
    let first = true;
    table.before = (req) => {
      if (req.method === 'createEntity' && first) {
        first = false;
        throw sdkError(409, 'EntityAlreadyExists');
      }
    };
    const err = (await store.keyFor('call-1').catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('the call key secret vanished while it was being created');
    expect((err.cause as { statusCode: number }).statusCode).toBe(409);
    const key = await store.keyFor('call-1');
    expect(key).toBe(
      hmac(Buffer.from(table.row('meta', 'callKeySecret')!.secret as string, 'base64'), 'call-1'),
    );
  });

  test('a failed read or insert of the secret is passed on, not taken as a missing secret', async () => {
    const { table, store } = setup();
    const down = sdkError(503, 'ServerBusy');
    table.before = (req) => {
      if (req.method === 'getEntity') throw down;
    };
    await expect(store.warmUp()).rejects.toBe(down);
    const refused = sdkError(403, 'AuthorizationFailure');
    table.before = (req) => {
      if (req.method === 'createEntity') throw refused;
    };
    await expect(store.warmUp()).rejects.toBe(refused);
    expect(table.row('meta', 'callKeySecret')).toBeUndefined();
  });

  test('a stalled secret read or insert ends at the storage timeout', async () => {
    const read = setup();
    await expectStorageTimeout(read.store.warmUp(), stallOn(read.table, 'getEntity'));
    const insert = setup();
    await expectStorageTimeout(insert.store.warmUp(), stallOn(insert.table, 'createEntity'));
  });
});

describe('contexts', () => {
  test('create, get and replace round-trip a context under its partition, each with a new ETag', async () => {
    const { table, store } = setup();
    const etag = await store.create(context('k1'));
    expect(etag).toBe(table.row('c_k1', 'ctx')?.etag);
    expect(await store.get('k1')).toEqual({ value: context('k1'), etag });
    const next = await store.replace(context('k1', 'ended'), etag);
    expect(next).not.toBe(etag);
    expect(await store.get('k1')).toEqual({ value: context('k1', 'ended'), etag: next });
    expect(table.row('c_k1', 'ctx')).toMatchObject({ phase: 'ended', callId: 'call-1' });
  });

  test('a context without a call id yet is stored with an empty call id column', async () => {
    const { table, store } = setup();
    await store.create(context('k1', 'placing', null));
    expect(table.row('c_k1', 'ctx')?.callId).toBe('');
  });

  test('an existing context refuses the insert; a changed or deleted one the replace', async () => {
    const { table, store } = setup();
    const etag = await store.create(context('k1'));
    const dup = (await store.create(context('k1')).catch((e: unknown) => e)) as Error;
    expect(dup).toBeInstanceOf(ConflictError);
    expect(dup.message).toBe('a context exists under this clientContext');
    await store.replace(context('k1', 'hangingUp'), etag);
    const stale = (await store.replace(context('k1', 'ended'), etag).catch((e: unknown) => e)) as Error;
    expect(stale).toBeInstanceOf(ConflictError);
    expect(stale.message).toBe('the row changed since it was read');
    expect(stale.name).toBe('ConflictError');
    table.rows.clear();
    await expect(store.replace(context('k1', 'ended'), etag)).rejects.toBeInstanceOf(ConflictError);
    expect(await store.get('k1')).toBeNull();
  });

  test('other storage failures are passed on as they are', async () => {
    const { table, store } = setup();
    const busy = sdkError(503, 'ServerBusy');
    table.before = () => {
      throw busy;
    };
    await expect(store.get('k1')).rejects.toBe(busy);
    await expect(store.create(context('k1'))).rejects.toBe(busy);
    await expect(store.replace(context('k1'), 'W/"1"')).rejects.toBe(busy);
    await expect(store.findIdempotency('h', new Date(), 1000)).rejects.toBe(busy);
  });

  test('a missing table is created on the first write, which then lands', async () => {
    const { table, store } = setup();
    table.tableMissing = true;
    await store.create(context('k1'));
    expect(table.createTableCalls).toBe(1);
    expect(table.row('c_k1', 'ctx')?.phase).toBe('established');
  });

  test.each([
    ['get', (s: TableCallStore) => s.get('k1'), 'getEntity'],
    ['create', (s: TableCallStore) => s.create(context('k1')), 'createEntity'],
    ['replace', (s: TableCallStore) => s.replace(context('k1'), 'W/"1"'), 'updateEntity'],
  ] as const)('a stalled %s ends at the storage timeout', async (_, call, method) => {
    const { table, store } = setup();
    await expectStorageTimeout(call(store), stallOn(table, method));
  });

  test('a deadline nearer than the storage timeout cuts a stalled read and write as a deadline', async () => {
    const { table } = setup();
    const slow = new TableCallStore(new TableConnector(async () => table.tableClient), 60_000);
    const seen = stallOn(table, 'getEntity');
    await expect(slow.get('k1', Date.now() + 20)).rejects.toBeInstanceOf(DeadlineError);
    expect(seen[0]?.aborted).toBe(true);
    stallOn(table, 'createEntity');
    await expect(slow.create(context('k1'), Date.now() + 20)).rejects.toBeInstanceOf(DeadlineError);
    stallOn(table, 'updateEntity');
    await expect(slow.replace(context('k1'), 'W/"1"', Date.now() + 20)).rejects.toBeInstanceOf(DeadlineError);
  });

  test('listOpen lists the contexts not ended with their ETag and update time, and nothing else', async () => {
    const { table, store } = setup();
    const open = await store.create(context('k1'));
    await store.create(context('k2', 'ended'));
    table.put({ partitionKey: 'c_k3', rowKey: 'link', clientContext: 'k1' });
    const listed = [];
    for await (const row of store.listOpen()) listed.push(row);
    expect(listed).toEqual([
      { value: context('k1'), etag: open, updatedAt: table.row('c_k1', 'ctx')?.updatedAt },
    ]);
    expect(Date.parse(listed[0]!.updatedAt)).not.toBeNaN();
  });

  test('listOpen over a missing table lists nothing; another failure is passed on', async () => {
    const { table, store } = setup();
    table.tableMissing = true;
    const listed = [];
    for await (const row of store.listOpen()) listed.push(row);
    expect(listed).toEqual([]);
    const busy = sdkError(503);
    table.tableMissing = false;
    table.before = () => {
      throw busy;
    };
    const iterate = async () => {
      for await (const row of store.listOpen()) listed.push(row);
    };
    await expect(iterate()).rejects.toBe(busy);
  });
});

describe('finding a call by its call id', () => {
  test('an incoming call under its own key; an outbound call through its link; else null', async () => {
    const { table, store } = setup();
    table.put({ partitionKey: 'meta', rowKey: 'callKeySecret', secret: SECRET.toString('base64') });
    const incoming = hmac(SECRET, 'in-1');
    await store.create(context(incoming));
    await store.linkCallId('out-1', 'random-key');
    expect(table.row(`c_${hmac(SECRET, 'out-1')}`, 'link')?.clientContext).toBe('random-key');
    expect(await store.findByCallId('in-1')).toBe(incoming);
    expect(await store.findByCallId('out-1')).toBe('random-key');
    expect(await store.findLink('out-1')).toBe('random-key');
    expect(await store.findLink('in-1')).toBeNull();
    expect(await store.findByCallId('unknown')).toBeNull();
  });

  test('a link is read for its context key only', async () => {
    const { table, store } = setup();
    table.put({ partitionKey: 'meta', rowKey: 'callKeySecret', secret: SECRET.toString('base64') });
    table.put({ partitionKey: `c_${hmac(SECRET, 'out-1')}`, rowKey: 'link', clientContext: 42 });
    expect(await store.findLink('out-1')).toBeNull();
    const busy = sdkError(503);
    table.before = (req) => {
      if (req.rowKey === 'link') throw busy;
    };
    await expect(store.findLink('out-1')).rejects.toBe(busy);
  });

  test('a stalled link write or read ends at the storage timeout', async () => {
    const write = setup();
    await write.store.warmUp();
    await expectStorageTimeout(write.store.linkCallId('out-1', 'k'), stallOn(write.table, 'upsertEntity'));
    const read = setup();
    await read.store.warmUp();
    await expectStorageTimeout(read.store.findLink('out-1'), stallOn(read.table, 'getEntity', 'link'));
  });

  test('a deadline reaches the lookup reads', async () => {
    const { table, store } = setup();
    await store.warmUp();
    stallOn(table, 'getEntity', 'ctx');
    const slow = new TableCallStore(new TableConnector(async () => table.tableClient), 60_000);
    await slow.warmUp();
    await expect(slow.findByCallId('x', Date.now() + 20)).rejects.toBeInstanceOf(DeadlineError);
    stallOn(table, 'getEntity', 'link');
    await expect(slow.findLink('x', Date.now() + 20)).rejects.toBeInstanceOf(DeadlineError);
  });
});

describe('idempotency claims', () => {
  const TTL = 60_000;
  const NOW = new Date('2026-11-22T10:00:00.000Z');
  const claim = (clientContext: string, createdAt = NOW.toISOString()): IdempotencyClaim => ({
    clientContext,
    fingerprint: `fp-${clientContext}`,
    createdAt,
  });
  const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
  const stored = (table: MemoryTable, c: IdempotencyClaim) =>
    table.put({ partitionKey: 'i_h', rowKey: 'idem', ...c });

  test('a free key is claimed by a conditional insert', async () => {
    const { table, store } = setup();
    expect(await store.claimIdempotency('h', claim('a'), NOW, TTL)).toEqual({ claimed: true });
    expect(table.row('i_h', 'idem')).toMatchObject(claim('a'));
  });

  test('a live claim is returned, one millisecond short of its TTL', async () => {
    const { table, store } = setup();
    stored(table, claim('a', ago(TTL - 1)));
    expect(await store.claimIdempotency('h', claim('b'), NOW, TTL)).toEqual({
      claimed: false,
      existing: claim('a', ago(TTL - 1)),
    });
    expect(await store.findIdempotency('h', NOW, TTL)).toEqual(claim('a', ago(TTL - 1)));
  });

  test('a claim as old as its TTL is taken over, conditionally on its ETag', async () => {
    const { table, store } = setup();
    stored(table, claim('a', ago(TTL)));
    expect(await store.findIdempotency('h', NOW, TTL)).toBeNull();
    expect(await store.claimIdempotency('h', claim('b'), NOW, TTL)).toEqual({ claimed: true });
    expect(table.row('i_h', 'idem')).toMatchObject(claim('b'));
    expect(table.requests.map((r) => r.method)).toEqual([
      'getEntity',
      'createEntity',
      'getEntity',
      'updateEntity',
    ]);
  });

  test('a claim deleted between the failed insert and the read is inserted again', async () => {
    const { table, store } = setup();
    stored(table, claim('a'));
    table.before = (req) => {
      if (req.method === 'getEntity') table.rows.delete('i_h\u0000idem');
    };
    expect(await store.claimIdempotency('h', claim('b'), NOW, TTL)).toEqual({ claimed: true });
    expect(table.row('i_h', 'idem')).toMatchObject(claim('b'));
  });

  test('an expired claim taken over by another instance first: that one holds', async () => {
    const { table, store } = setup();
    stored(table, claim('a', ago(TTL * 2)));
    let raced = false;
    table.before = (req) => {
      if (req.method === 'updateEntity' && !raced) {
        raced = true;
        stored(table, claim('other'));
      }
    };
    expect(await store.claimIdempotency('h', claim('b'), NOW, TTL)).toEqual({
      claimed: false,
      existing: claim('other'),
    });
  });

  test('an expired claim deleted before the takeover is claimed by a new insert', async () => {
    const { table, store } = setup();
    stored(table, claim('a', ago(TTL * 2)));
    table.before = (req) => {
      if (req.method === 'updateEntity') table.rows.delete('i_h\u0000idem');
    };
    expect(await store.claimIdempotency('h', claim('b'), NOW, TTL)).toEqual({ claimed: true });
    expect(table.row('i_h', 'idem')).toMatchObject(claim('b'));
  });

  test('a key that keeps changing gives up after four attempts', async () => {
    const { table, store } = setup();
    stored(table, claim('a', ago(TTL * 2)));
    table.before = (req) => {
      // Every takeover loses to another one, itself already expired.
      if (req.method === 'updateEntity') stored(table, claim('a', ago(TTL * 2)));
    };
    await expect(store.claimIdempotency('h', claim('b'), NOW, TTL)).rejects.toThrow(
      'the idempotency key kept changing',
    );
    expect(table.requests.filter((r) => r.method === 'createEntity')).toHaveLength(4);
    expect(table.requests.filter((r) => r.method === 'updateEntity')).toHaveLength(4);
  });

  test('other failures of the insert, the read or the takeover are passed on', async () => {
    for (const method of ['createEntity', 'getEntity', 'updateEntity'] as const) {
      const { table, store } = setup();
      await store.warmUp();
      stored(table, claim('a', ago(TTL * 2)));
      const busy = sdkError(503, method);
      table.before = (req) => {
        if (req.method === method && req.partitionKey === 'i_h') throw busy;
      };
      await expect(store.claimIdempotency('h', claim('b'), NOW, TTL)).rejects.toBe(busy);
    }
  });

  test('an unknown key has no claim', async () => {
    const { store } = setup();
    expect(await store.findIdempotency('h', NOW, TTL)).toBeNull();
  });

  test.each(['createEntity', 'getEntity', 'updateEntity'] as const)(
    'a stalled claim %s ends at the storage timeout',
    async (method) => {
      const { table, store } = setup();
      stored(table, claim('a', ago(TTL * 2)));
      await expectStorageTimeout(store.claimIdempotency('h', claim('b'), NOW, TTL), stallOn(table, method));
    },
  );

  test('a stalled claim lookup ends at the storage timeout', async () => {
    const { table, store } = setup();
    await expectStorageTimeout(store.findIdempotency('h', NOW, TTL), stallOn(table, 'getEntity'));
  });
});

describe('the context row', () => {
  const withText = (length: number) =>
    ({ ...context('k1'), note: 'x'.repeat(length) }) as unknown as CallContext;
  const jsonLength = (ctx: CallContext) => JSON.stringify(ctx).length;

  test('JSON in 30,000-character parts: data, data1, data2…, read back whole', () => {
    const base = jsonLength(withText(0));
    const ctx = withText(60_001 - base);
    expect(jsonLength(ctx)).toBe(60_001);
    const row = toEntity(ctx, 'T');
    const json = JSON.stringify(ctx);
    expect([row.data, row.data1, row.data2]).toEqual([
      json.slice(0, 30_000),
      json.slice(30_000, 60_000),
      json.slice(60_000),
    ]);
    expect(row).not.toHaveProperty('data3');
    expect(row).toMatchObject({
      partitionKey: 'c_k1',
      rowKey: 'ctx',
      callId: 'call-1',
      phase: 'established',
      updatedAt: 'T',
    });
    expect(fromEntity(row)).toEqual(ctx);
    // Exactly two parts: no empty third one.
    expect(toEntity(withText(60_000 - base), 'T')).not.toHaveProperty('data2');
    expect(toEntity(withText(30_000 - base), 'T')).not.toHaveProperty('data1');
  });

  test('fifteen parts at most: 450,000 characters fit, one more is refused', () => {
    const base = jsonLength(withText(0));
    expect(fromEntity(toEntity(withText(450_000 - base), 'T'))).toEqual(withText(450_000 - base));
    expect(() => toEntity(withText(450_001 - base), 'T')).toThrow(
      new Error('call context of 450001 characters is over the 450000 limit'),
    );
  });

  test('parts are read until the first one missing', () => {
    expect(fromEntity({ data: '{"a":', data1: '1', data2: '}', data4: 'ignored' })).toEqual({ a: 1 });
  });

  test('keys hold no / \\ # ? or %: each is escaped with $', () => {
    expect(safeKey('a/b\\c#d?e%f g')).toBe('a$2Fb$5Cc$23d$3Fe$25f$20g');
  });
});
