import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../sim/azurite';
import {
  CODE_LIMIT,
  FAILURE_LIMIT,
  HISTORY_LIMIT,
  MESSAGE_LIMIT,
  type CallContext,
} from '../../shared/ivr/context';
import { step } from '../../shared/ivr/engine';
import { MAX_ID_LENGTH, MAX_IDENTITY_LENGTH } from '../../shared/graph/limits';
import { ConflictError, TableCallStore } from '../../shared/storage/callStore';
import { TableConnector } from '../../shared/storage/tables';
import { expectedContextKey } from '../support/keys';
import { fixtureEnv } from '../unit/fixtures';

/** The call store against real Azurite: the largest context fits, keys are shared, writes are guarded. */

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
}, 30_000);
afterAll(() => azurite?.stop());

let t = 0;
const store = (table: string) =>
  new TableCallStore(TableConnector.fromConnectionString(azurite.connectionString, table), 3000);
const newTable = () => `store${++t}${Math.random().toString(36).slice(2, 8)}`;

const x = (n: number, c = 'x') => c.repeat(n);

/** Every list at its cap and every string at the bound the parser or the engine enforces. */
function largestContext(clientContext: string): CallContext {
  const nodeId = (i: number) => `n${String(i).padStart(3, '0')}${x(60)}`; // 64 characters, the node id limit
  return {
    v: 1,
    clientContext,
    callId: x(MAX_ID_LENGTH, 'c'),
    direction: 'incoming',
    tenantId: x(64, 'a'),
    number: x(MAX_IDENTITY_LENGTH, 'n'),
    flowId: x(200, 'f'),
    party: x(MAX_IDENTITY_LENGTH, 'p'),
    decision: {
      type: 'redirect',
      targets: Array.from({ length: 25 }, () => x(MAX_IDENTITY_LENGTH)),
      rule: x(64),
    },
    phase: 'established',
    node: nodeId(0),
    menu: { attempt: 9, digits: x(64, '1'), stage: 'input' },
    record: { attempt: 5 },
    media: { seq: 999_999_999, kind: 'record', node: nodeId(1) },
    pendingRecording: { seq: 999_999_999, node: nodeId(2), timerId: `recordingGrace-999999999` },
    timer: { id: 'interDigit-999999999', purpose: 'interDigit' },
    seq: 999_999_999,
    tonesSubscribed: true,
    lastToneSeq: 2 ** 31,
    recentToneSeqs: Array.from({ length: 64 }, (_, i) => 2 ** 31 - i),
    heldTones: Array.from({ length: 4 }, (_, i) => ({ sequenceId: 2 ** 31 + i, tone: 'flash' as const })),
    visited: Array.from({ length: HISTORY_LIMIT }, (_, i) => nodeId(i)),
    digits: Array.from({ length: HISTORY_LIMIT }, () => '#'),
    recordings: Array.from({ length: HISTORY_LIMIT }, (_, i) => ({
      seq: 999_999_000 + i,
      node: nodeId(i),
      outcome: 'maxDuration' as const,
      completionReason: x(CODE_LIMIT, 'r'),
      hasAudio: true,
    })),
    failures: Array.from({ length: FAILURE_LIMIT }, (_, i) => ({
      at: new Date(i).toISOString(),
      what: 'cancelMediaProcessing',
      status: 599,
      code: x(CODE_LIMIT, 'k'),
      // Worst case for JSON: characters escaped as \uXXXX (6 characters each).
      message: x(MESSAGE_LIMIT, '\u0001'),
    })),
    result: { code: 599, subcode: 2 ** 31, message: x(MESSAGE_LIMIT, '"') },
    createdAt: new Date().toISOString(),
    establishedAt: new Date().toISOString(),
    endedAt: null,
    writeId: x(12, 'w'),
  };
}

test('the engine bounds what the platform sends before it reaches the context', () => {
  const start = largestContext('k'.repeat(43));
  const base: CallContext = {
    ...start,
    failures: [],
    result: null,
    phase: 'established',
    decision: { type: 'answer', start: 'welcome', rule: 'default' },
  };
  const r = step(
    base,
    {
      kind: 'requestFailed',
      at: new Date().toISOString(),
      request: 'transfer',
      status: 500,
      code: x(10_000),
      message: x(100_000),
    },
    fixtureEnv(),
  );
  const failure = r.ctx.failures[0]!;
  expect([failure.code!.length, failure.message!.length]).toEqual([CODE_LIMIT, MESSAGE_LIMIT]);
  const ended = step(
    r.ctx,
    {
      kind: 'callState',
      at: new Date().toISOString(),
      state: 'terminated',
      resultInfo: { code: 200, message: x(100_000) },
    },
    fixtureEnv(),
  );
  expect(ended.ctx.result!.message!.length).toBe(MESSAGE_LIMIT);
});

test('the largest context the engine can produce is stored and read back whole', async () => {
  const s = store(newTable());
  const ctx = largestContext('L'.repeat(43));
  // Over one table property (32K characters): the store splits it across properties.
  expect(JSON.stringify(ctx).length).toBeGreaterThan(64_000);
  const etag = await s.create(ctx);
  expect(await s.get(ctx.clientContext)).toEqual({ value: ctx, etag });
  const grown = { ...ctx, seq: 1 };
  await s.replace(grown, etag);
  expect((await s.get(ctx.clientContext))!.value).toEqual(grown);
});

test('every instance derives the same key for a call id, from one secret made once', async () => {
  const table = newTable();
  // Two instances start at once: both find no secret, both try to make it; one wins, both use it.
  const [a, b] = [store(table), store(table)];
  const [ka, kb] = await Promise.all([a.keyFor('call-1'), b.keyFor('call-1')]);
  expect(ka).toBe(kb);
  const client = TableClient.fromConnectionString(azurite.connectionString, table, {
    allowInsecureConnection: true,
  });
  expect(ka).toBe(await expectedContextKey(client, 'call-1'));
  expect(await a.keyFor('call-2')).not.toBe(ka);
  expect(ka).toMatch(/^[A-Za-z0-9_-]{43}$/);
});

test('a stale ETag is a conflict, and the insert of an existing context is a conflict', async () => {
  const s = store(newTable());
  const ctx = { ...largestContext('S'.repeat(43)), visited: [], failures: [], recordings: [] };
  const etag = await s.create(ctx);
  await expect(s.create(ctx)).rejects.toBeInstanceOf(ConflictError);
  await s.replace({ ...ctx, seq: 2 }, etag);
  await expect(s.replace({ ...ctx, seq: 3 }, etag)).rejects.toBeInstanceOf(ConflictError);
});

test('an outbound call is found by its call id through its link', async () => {
  const s = store(newTable());
  const ctx = {
    ...largestContext('O'.repeat(43)),
    callId: 'out-1',
    visited: [],
    failures: [],
    recordings: [],
  };
  await s.create(ctx);
  expect(await s.findByCallId('out-1')).toBeNull();
  await s.linkCallId('out-1', ctx.clientContext);
  expect(await s.findByCallId('out-1')).toBe(ctx.clientContext);
  expect(await s.findLink('out-1')).toBe(ctx.clientContext);
});

const rawTable = (table: string) =>
  TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });
const small = (clientContext: string, over: Partial<CallContext> = {}): CallContext => ({
  ...largestContext(clientContext),
  visited: [],
  failures: [],
  recordings: [],
  ...over,
});

test('a context row: its partition, phase and call id as columns, its JSON in 30,000-character parts', async () => {
  const table = newTable();
  const s = store(table);
  const ctx = largestContext('R'.repeat(43));
  await s.create(ctx);
  const row = await rawTable(table).getEntity<Record<string, unknown>>(`c_${'R'.repeat(43)}`, 'ctx');
  const json = JSON.stringify(ctx);
  const parts = Object.keys(row)
    .filter((k) => /^data\d*$/.test(k))
    .sort((a, b) => Number(a.slice(4) || 0) - Number(b.slice(4) || 0));
  expect(parts).toEqual(
    Array.from({ length: Math.ceil(json.length / 30_000) }, (_, i) => (i === 0 ? 'data' : `data${i}`)),
  );
  expect(parts.map((k) => row[k]).join('')).toBe(json);
  expect((row.data as string).length).toBe(30_000);
  expect([row.phase, row.callId]).toEqual(['established', ctx.callId]);
  expect(Date.parse(row.updatedAt as string)).not.toBeNaN();
});

test('a context too large for one row is refused before anything is written', async () => {
  const table = newTable();
  const s = store(table);
  const huge = small('H'.repeat(43), { visited: [`n${'x'.repeat(450_001)}`] });
  await expect(s.create(huge)).rejects.toThrow(/^call context of \d+ characters is over the 450000 limit$/);
  expect(await s.get(huge.clientContext)).toBeNull();
});

test('an unknown context reads as null; replacing it is a conflict', async () => {
  const s = store(newTable());
  await s.warmUp();
  expect(await s.get('nobody')).toBeNull();
  await expect(s.replace(small('nobody'), '*')).rejects.toBeInstanceOf(ConflictError);
});

test('an incoming call is found by its call id under its own key, without a link', async () => {
  const table = newTable();
  const s = store(table);
  const key = await s.keyFor('in-1');
  await s.create(small(key, { callId: 'in-1' }));
  expect(await s.findByCallId('in-1')).toBe(key);
  expect(await s.findLink('in-1')).toBeNull();
  expect(key).toBe(await expectedContextKey(rawTable(table), 'in-1'));
});

test('listOpen lists the calls not ended, with their ETag and update time; a missing table lists nothing', async () => {
  const s = store(newTable());
  await s.create(small('open1'));
  await s.create(small('done1', { phase: 'ended' }));
  const etag = await s.create(small('open2', { phase: 'dialing' }));
  const open: Array<{ key: string; etag: string; updatedAt: string }> = [];
  for await (const row of s.listOpen())
    open.push({ key: row.value.clientContext, etag: row.etag, updatedAt: row.updatedAt });
  expect(open.map((r) => r.key).sort()).toEqual(['open1', 'open2']);
  expect(open.find((r) => r.key === 'open2')!.etag).toBe(etag);
  expect(open.every((r) => !Number.isNaN(Date.parse(r.updatedAt)))).toBe(true);
  const none: unknown[] = [];
  for await (const row of store(newTable()).listOpen()) none.push(row);
  expect(none).toEqual([]);
});

describe('idempotency claims', () => {
  const claim = (clientContext: string, createdAt: string) => ({
    clientContext,
    fingerprint: `fp-${clientContext}`,
    createdAt,
  });
  const HOUR = 3_600_000;

  test('the first claim wins; a second within the TTL gets the first one back', async () => {
    const s = store(newTable());
    const now = new Date('2026-05-01T10:00:00Z');
    const first = claim('ctx-a', now.toISOString());
    expect(await s.claimIdempotency('k1', first, now, HOUR)).toEqual({ claimed: true });
    const later = new Date(now.getTime() + HOUR - 1);
    expect(await s.claimIdempotency('k1', claim('ctx-b', later.toISOString()), later, HOUR)).toEqual({
      claimed: false,
      existing: first,
    });
    // Another key is another claim.
    expect(await s.claimIdempotency('k2', claim('ctx-c', now.toISOString()), now, HOUR)).toEqual({
      claimed: true,
    });
  });

  test('a claim as old as the TTL is taken over, and then holds', async () => {
    const s = store(newTable());
    const then = new Date('2026-05-01T10:00:00Z');
    await s.claimIdempotency('k1', claim('ctx-a', then.toISOString()), then, HOUR);
    const now = new Date(then.getTime() + HOUR);
    const second = claim('ctx-b', now.toISOString());
    expect(await s.claimIdempotency('k1', second, now, HOUR)).toEqual({ claimed: true });
    expect(await s.claimIdempotency('k1', claim('ctx-c', now.toISOString()), now, HOUR)).toEqual({
      claimed: false,
      existing: second,
    });
  });

  test('of two instances claiming one key at once, exactly one wins', async () => {
    const table = newTable();
    const now = new Date('2026-05-01T10:00:00Z');
    const results = await Promise.all(
      ['ctx-a', 'ctx-b'].map((c) =>
        store(table).claimIdempotency('k1', claim(c, now.toISOString()), now, HOUR),
      ),
    );
    expect(results.filter((r) => r.claimed)).toHaveLength(1);
    const lost = results.find((r) => !r.claimed) as { existing: { clientContext: string } };
    const won = results.indexOf(results.find((r) => r.claimed)!);
    expect(lost.existing.clientContext).toBe(['ctx-a', 'ctx-b'][won]);
  });
});
