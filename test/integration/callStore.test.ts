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
import { ENV } from '../unit/fixtures';

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
    ENV,
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
    ENV,
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
