import type { CallContext } from '../../shared/ivr/context';
import { ConflictError } from '../../shared/storage/callStore';
import { StaleVersionError, TableFlowStore } from '../../shared/storage/flowStore';
import {
  callRecordOf,
  partiesOf,
  recordingRow,
  TableRecordStore,
  type RecordingMeta,
} from '../../shared/storage/recordStore';
import { StorageTimeoutError, TableConnector } from '../../shared/storage/tables';
import { MemoryTable, sdkError, stall, type Request } from '../support/memoryTable';

/**
 * The flow store and the recording store over an in-memory table: their row layout, the flow
 * write's atomic batch and its retries against another writer, every request bounded by the
 * storage timeout. The live-flows and voicemail integration suites use them against Azurite.
 */

const TIMEOUT_MS = 30;

function tables() {
  const table = new MemoryTable();
  return { table, connector: new TableConnector(async () => table.tableClient) };
}

function stallOn(table: MemoryTable, method: Request['method']) {
  const seen: Array<AbortSignal | undefined> = [];
  table.before = async (req) => {
    if (req.method === method) {
      seen.push(req.signal);
      await stall(req.signal);
    }
  };
  return seen;
}

async function expectStorageTimeout(promise: Promise<unknown>, seen: Array<AbortSignal | undefined>) {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StorageTimeoutError);
  expect((err as Error).message).toBe(`storage did not answer within ${TIMEOUT_MS} ms`);
  expect(seen).toHaveLength(1);
  expect(seen[0]?.aborted).toBe(true);
}

describe('TableFlowStore', () => {
  const AT = '2026-11-22T10:00:00.000Z';
  const setup = () => {
    const { table, connector } = tables();
    return { table, flows: new TableFlowStore(connector, TIMEOUT_MS) };
  };

  test('a first write stores version 1: its version row, the head row and the catalogue row', async () => {
    const { table, flows } = setup();
    const written = await flows.write({
      number: '+15550100',
      text: '{"a":1}',
      author: 'ana',
      comment: 'first',
      at: AT,
    });
    const expected = {
      number: '+15550100',
      version: 1,
      deleted: false,
      at: AT,
      author: 'ana',
      comment: 'first',
      text: '{"a":1}',
    };
    expect(written).toEqual(expected);
    // Keys: "+" escaped as $2B, the version zero-padded to ten digits.
    expect([...table.rows.values()].map((r) => r.rowKey).sort()).toEqual([
      'catalog',
      'h_$2B15550100',
      'v_$2B15550100_0000000001',
    ]);
    expect(table.row('flows', 'v_$2B15550100_0000000001')).toMatchObject({
      number: '+15550100',
      version: 1,
      deleted: false,
      author: 'ana',
      comment: 'first',
      data: '{"a":1}',
    });
    expect(table.row('flows', 'catalog')?.at).toBe(AT);
    expect(await flows.head('+15550100')).toEqual(expected);
    expect(await flows.version('+15550100', 1)).toEqual(expected);
    const { text: _, ...meta } = expected;
    expect(await flows.versions('+15550100')).toEqual([meta]);
    expect(await flows.version('+15550100', 2)).toBeNull();
    expect(await flows.head('+15550199')).toBeNull();
  });

  test('each write is the next version; a deletion is a tombstone version without text', async () => {
    const { flows } = setup();
    await flows.write({ number: 'n1', text: 'one', at: AT });
    await flows.write({ number: 'n1', text: 'two', at: AT, expectedVersion: 1 });
    const tomb = await flows.write({ number: 'n1', text: null, at: AT, author: null });
    expect(tomb).toEqual({
      number: 'n1',
      version: 3,
      deleted: true,
      at: AT,
      author: null,
      comment: null,
      text: '',
    });
    expect(await flows.versions('n1')).toEqual([
      { number: 'n1', version: 3, deleted: true, at: AT, author: null, comment: null },
      { number: 'n1', version: 2, deleted: false, at: AT, author: null, comment: null },
      { number: 'n1', version: 1, deleted: false, at: AT, author: null, comment: null },
    ]);
    expect((await flows.version('n1', 2))?.text).toBe('two');
  });

  test('versions lists only that number, newest first past nine, without the text', async () => {
    const { table, flows } = setup();
    for (let i = 0; i < 11; i++) await flows.write({ number: 'n1', text: `t${i}`, at: AT });
    await flows.write({ number: 'n10', text: 'other', at: AT });
    const versions = await flows.versions('n1');
    expect(versions.map((v) => v.version)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(versions[0]).not.toHaveProperty('text');
    const listed = table.requests.filter((r) => r.method === 'listEntities');
    expect(listed).toHaveLength(1);
  });

  test('a write that expected another version is refused with the current one, and changes nothing', async () => {
    const { table, flows } = setup();
    await flows.write({ number: 'n1', text: 'one', at: AT });
    const before = new Map(table.rows);
    const err = (await flows
      .write({ number: 'n1', text: 'two', at: AT, expectedVersion: 0 })
      .catch((e: unknown) => e)) as StaleVersionError;
    expect(err).toBeInstanceOf(StaleVersionError);
    expect(err.current).toBe(1);
    expect(err.message).toBe('the current version is 1');
    expect(err.name).toBe('StaleVersionError');
    expect(table.rows).toEqual(before);
    await expect(flows.write({ number: 'n2', text: 'x', at: AT, expectedVersion: 1 })).rejects.toMatchObject({
      current: 0,
    });
    expect(await flows.write({ number: 'n2', text: 'x', at: AT, expectedVersion: 0 })).toMatchObject({
      version: 1,
    });
  });

  test('another writer between the read and the batch: read again, and store the version after theirs', async () => {
    const { table, flows } = setup();
    await flows.write({ number: 'n1', text: 'one', at: AT });
    const other = new TableFlowStore(new TableConnector(async () => table.tableClient), TIMEOUT_MS);
    let raced = false;
    table.before = async (req) => {
      if (req.method === 'submitTransaction' && !raced) {
        raced = true;
        await other.write({ number: 'n1', text: 'theirs', at: AT });
      }
    };
    expect(await flows.write({ number: 'n1', text: 'mine', at: AT })).toMatchObject({
      version: 3,
      text: 'mine',
    });
    expect((await flows.version('n1', 2))?.text).toBe('theirs');
    expect((await flows.head('n1'))?.text).toBe('mine');
  });

  test('two first writes at once: the loser of the insert stores version 2', async () => {
    const { table, flows } = setup();
    const other = new TableFlowStore(new TableConnector(async () => table.tableClient), TIMEOUT_MS);
    let raced = false;
    table.before = async (req) => {
      if (req.method === 'submitTransaction' && !raced) {
        raced = true;
        await other.write({ number: 'n1', text: 'theirs', at: AT });
      }
    };
    expect(await flows.write({ number: 'n1', text: 'mine', at: AT })).toMatchObject({ version: 2 });
  });

  test('an expected version that another writer passed in between is refused, not stored after it', async () => {
    const { table, flows } = setup();
    await flows.write({ number: 'n1', text: 'one', at: AT });
    let raced = false;
    table.before = (req) => {
      if (req.method === 'submitTransaction' && !raced) {
        raced = true;
        throw sdkError(412, 'UpdateConditionNotSatisfied');
      }
    };
    // The 412 sends it round again; the head is still 1, so the write lands as 2.
    expect(await flows.write({ number: 'n1', text: 'two', at: AT, expectedVersion: 1 })).toMatchObject({
      version: 2,
    });
  });

  test('a flow that keeps changing gives up after five attempts with a conflict', async () => {
    const { table, flows } = setup();
    table.before = (req) => {
      if (req.method === 'submitTransaction') throw sdkError(409, 'EntityAlreadyExists');
    };
    const err = (await flows.write({ number: 'n1', text: 'x', at: AT }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toBe('the flow kept changing while it was written');
    expect(table.requests.filter((r) => r.method === 'submitTransaction')).toHaveLength(5);
  });

  test('another failure of the batch or the head read is passed on, and nothing is written', async () => {
    const { table, flows } = setup();
    const busy = sdkError(503, 'ServerBusy');
    table.before = (req) => {
      if (req.method === 'submitTransaction') throw busy;
    };
    await expect(flows.write({ number: 'n1', text: 'x', at: AT })).rejects.toBe(busy);
    expect(table.requests.filter((r) => r.method === 'submitTransaction')).toHaveLength(1);
    table.before = () => {
      throw busy;
    };
    await expect(flows.head('n1')).rejects.toBe(busy);
    await expect(flows.catalogVersion()).rejects.toBe(busy);
    expect(table.rows.size).toBe(0);
  });

  test("the catalogue's version is its row's ETag, read alone; 'none' before any write", async () => {
    const { table, flows } = setup();
    expect(await flows.catalogVersion()).toBe('none');
    await flows.write({ number: 'n1', text: 'one', at: AT });
    const first = await flows.catalogVersion();
    expect(first).toBe(table.row('flows', 'catalog')?.etag);
    await flows.write({ number: 'n2', text: 'two', at: AT });
    expect(await flows.catalogVersion()).not.toBe(first);
  });

  test('heads lists every current version, tombstones included, and no version or file rows', async () => {
    const { flows } = setup();
    await flows.write({ number: 'n1', text: 'one', at: AT });
    await flows.write({ number: 'n1', text: 'one b', at: AT });
    await flows.write({ number: 'n2', text: null, at: AT });
    await flows.saveLastGood('a.json', 'file text', AT);
    expect((await flows.heads()).map((h) => [h.number, h.version, h.deleted, h.text])).toEqual([
      ['n1', 2, false, 'one b'],
      ['n2', 1, true, ''],
    ]);
  });

  test('a long text is split across data, data1… and read back whole; too long a text is refused', async () => {
    const { table, flows } = setup();
    const text = 'a'.repeat(30_000) + 'b'.repeat(30_000) + 'c';
    await flows.write({ number: 'n1', text, at: AT });
    const row = table.row('flows', 'h_n1')!;
    expect([row.data, row.data1, row.data2]).toEqual(['a'.repeat(30_000), 'b'.repeat(30_000), 'c']);
    expect(row).not.toHaveProperty('data3');
    expect((await flows.head('n1'))?.text).toBe(text);
    const largest = 'x'.repeat(30_000 * 15);
    expect((await flows.write({ number: 'n2', text: largest, at: AT })).text).toBe(largest);
    await expect(flows.write({ number: 'n3', text: largest + 'x', at: AT })).rejects.toThrow(
      `a flow of ${30_000 * 15 + 1} characters is too large to store`,
    );
    expect(table.row('flows', 'h_n3')).toBeUndefined();
  });

  test('last known good: saved per file name, outside the catalogue, read back by name', async () => {
    const { table, flows } = setup();
    await flows.saveLastGood('main.json', 'main text', AT);
    await flows.saveLastGood('other/ü.json', 'y'.repeat(30_001), AT);
    await flows.saveLastGood('main.json', 'main text 2', AT);
    expect(table.row('flows', 'catalog')).toBeUndefined();
    expect(table.row('flows', 'f_main.json')).toMatchObject({ name: 'main.json', data: 'main text 2' });
    expect(await flows.lastGoodFiles()).toEqual(
      new Map([
        ['main.json', 'main text 2'],
        ['other/ü.json', 'y'.repeat(30_001)],
      ]),
    );
    expect(await flows.heads()).toEqual([]);
  });

  test('rows written by hand read leniently: no author or comment is null, a missing text empty', async () => {
    const { table, flows } = setup();
    table.put({ partitionKey: 'flows', rowKey: 'h_n1', number: 'n1', version: 4, deleted: 'yes' });
    expect(await flows.head('n1')).toEqual({
      number: 'n1',
      version: 4,
      deleted: false,
      at: '',
      author: null,
      comment: null,
      text: '',
    });
  });

  test.each([
    ['head', (f: TableFlowStore) => f.head('n1'), 'getEntity'],
    ['catalogVersion', (f: TableFlowStore) => f.catalogVersion(), 'getEntity'],
    ['heads', (f: TableFlowStore) => f.heads(), 'listEntities'],
    ['versions', (f: TableFlowStore) => f.versions('n1'), 'listEntities'],
    ['lastGoodFiles', (f: TableFlowStore) => f.lastGoodFiles(), 'listEntities'],
    ['saveLastGood', (f: TableFlowStore) => f.saveLastGood('a.json', 'x', AT), 'upsertEntity'],
  ] as const)('a stalled %s ends at the storage timeout', async (_, call, method) => {
    const { table, flows } = setup();
    await expectStorageTimeout(call(flows), stallOn(table, method));
  });

  test('a missing table is created by the first write', async () => {
    const { table, flows } = setup();
    table.tableMissing = true;
    expect(await flows.write({ number: 'n1', text: 'one', at: AT })).toMatchObject({ version: 1 });
    expect(table.createTableCalls).toBe(1);
  });
});

describe('TableRecordStore', () => {
  const meta = (seq: number, over: Partial<RecordingMeta> = {}): RecordingMeta => ({
    callId: "call/1'x",
    seq,
    number: '+15550100',
    caller: '+15550111',
    node: 'record',
    recordedAt: '2026-11-22T10:00:00.000Z',
    completionReason: 'stopToneDetected',
    status: 'stored',
    blobName: `b${seq}.wav`,
    bytes: 1000,
    durationSeconds: 3,
    expiresAt: '2026-12-22T10:00:00.000Z',
    error: null,
    ...over,
  });
  const setup = () => {
    const { table, connector } = tables();
    return { table, records: new TableRecordStore(connector, TIMEOUT_MS) };
  };

  test('a recording row: the call id as a safe partition, the zero-padded seq, status and expiry as columns', async () => {
    const { table, records } = setup();
    await records.putRecording(meta(7));
    expect(recordingRow(7)).toBe('rec-000007');
    expect(table.row("call$2F1'x", 'rec-000007')).toMatchObject({
      status: 'stored',
      expiresAt: '2026-12-22T10:00:00.000Z',
      data: JSON.stringify(meta(7)),
    });
    await records.putRecording(meta(8, { expiresAt: null, status: 'discarded' }));
    expect(table.row("call$2F1'x", 'rec-000008')).toMatchObject({ status: 'discarded', expiresAt: '' });
    expect(await records.getRecording("call/1'x", 7)).toEqual(meta(7));
    expect(await records.getRecording("call/1'x", 9)).toBeNull();
  });

  test('a conditional replace lands at its ETag, and is refused (false) once the row changed or went', async () => {
    const { table, records } = setup();
    await records.putRecording(meta(1));
    const read = await records.getRecordingVersion("call/1'x", 1);
    expect(read?.etag).toBe(table.row("call$2F1'x", 'rec-000001')?.etag);
    expect(await records.replaceRecording(meta(1, { status: 'deleted' }), read!.etag)).toBe(true);
    expect((await records.getRecording("call/1'x", 1))?.status).toBe('deleted');
    expect(await records.replaceRecording(meta(1, { status: 'lost' }), read!.etag)).toBe(false);
    table.rows.clear();
    expect(await records.replaceRecording(meta(1, { status: 'lost' }), read!.etag)).toBe(false);
    expect(table.rows.size).toBe(0);
  });

  test('other failures are passed on', async () => {
    const { table, records } = setup();
    const busy = sdkError(503, 'ServerBusy');
    table.before = () => {
      throw busy;
    };
    await expect(records.getRecordingVersion('c', 1)).rejects.toBe(busy);
    await expect(records.replaceRecording(meta(1), 'W/"1"')).rejects.toBe(busy);
    await expect(records.listRecordings('c')).rejects.toBe(busy);
    const iterate = async () => {
      for await (const m of records.listExpiredRecordings(new Date())) void m;
    };
    await expect(iterate()).rejects.toBe(busy);
  });

  test("a call's recordings in seq order, only that call's (a quote in the call id included)", async () => {
    const { table, records } = setup();
    await records.putRecording(meta(2));
    await records.putRecording(meta(1));
    await records.putRecording(meta(1, { callId: "call/1'y" }));
    table.put({ partitionKey: "call$2F1'x", rowKey: 'rec.', data: '{}' });
    table.put({ partitionKey: "call$2F1'x", rowKey: 'other', data: '{}' });
    expect(await records.listRecordings("call/1'x")).toEqual([meta(1), meta(2)]);
    expect(await records.listRecordings('none')).toEqual([]);
  });

  test('expired recordings: stored ones whose expiry has passed, not the others', async () => {
    const { records } = setup();
    const now = new Date('2026-12-22T10:00:00.000Z');
    await records.putRecording(meta(1, { expiresAt: '2026-12-22T09:59:59.999Z' }));
    await records.putRecording(meta(2, { expiresAt: '2026-12-22T10:00:00.000Z' }));
    await records.putRecording(meta(3, { expiresAt: '2026-12-01T00:00:00.000Z', status: 'deleted' }));
    await records.putRecording(meta(4, { expiresAt: null }));
    const expired = [];
    for await (const m of records.listExpiredRecordings(now)) expired.push(m);
    expect(expired).toEqual([meta(1, { expiresAt: '2026-12-22T09:59:59.999Z' })]);
  });

  test('a missing table lists no recordings', async () => {
    const { table, records } = setup();
    table.tableMissing = true;
    expect(await records.listRecordings('c')).toEqual([]);
    const expired = [];
    for await (const m of records.listExpiredRecordings(new Date())) expired.push(m);
    expect(expired).toEqual([]);
  });

  test.each([
    ['putRecording', (r: TableRecordStore) => r.putRecording(meta(1)), 'upsertEntity'],
    ['getRecordingVersion', (r: TableRecordStore) => r.getRecordingVersion('c', 1), 'getEntity'],
    ['replaceRecording', (r: TableRecordStore) => r.replaceRecording(meta(1), 'W/"1"'), 'updateEntity'],
  ] as const)('a stalled %s ends at the storage timeout', async (_, call, method) => {
    const { table, records } = setup();
    await expectStorageTimeout(call(records), stallOn(table, method));
  });
});

describe('call records', () => {
  const ctx = (over: Partial<CallContext> = {}) =>
    ({
      clientContext: 'k1',
      callId: 'call-1',
      direction: 'incoming',
      number: '+15550100',
      party: '+15550111',
      decision: { type: 'flow' },
      createdAt: 't0',
      establishedAt: 't1',
      endedAt: 't2',
      visited: ['start', 'menu'],
      digits: ['1'],
      result: { code: 0 },
      failures: [],
      recordings: [],
      pendingRecording: null,
      ...over,
    }) as unknown as CallContext;

  test('the parties by role: an outbound call is from our number to the party', () => {
    expect(partiesOf(ctx())).toEqual({ caller: '+15550111', from: '+15550111', to: '+15550100' });
    expect(partiesOf(ctx({ direction: 'outgoing' }))).toEqual({
      caller: '+15550100',
      from: '+15550100',
      to: '+15550111',
    });
  });

  test("the record of an ended call: its context's fields, without variables or lookups when none", () => {
    expect(callRecordOf(ctx({ callId: null, vars: {}, lookups: [] }), [])).toEqual({
      callId: '',
      clientContext: 'k1',
      direction: 'incoming',
      number: '+15550100',
      caller: '+15550111',
      from: '+15550111',
      to: '+15550100',
      decision: { type: 'flow' },
      startedAt: 't0',
      answeredAt: 't1',
      endedAt: 't2',
      nodesVisited: ['start', 'menu'],
      digits: ['1'],
      result: { code: 0 },
      failures: [],
      recordings: [],
      recordingsPending: 0,
    });
  });

  test('variables and lookups when set; recordings with audio not archived yet are pending', () => {
    const lookups = [{ node: 'http', outcome: 'ok', status: 200 }];
    const rec = (hasAudio: boolean) => ({ seq: 1, node: 'r', outcome: 'maxDuration', hasAudio });
    const record = callRecordOf(
      ctx({
        vars: { account: '42' },
        lookups,
        recordings: [rec(true), rec(false), rec(true)],
        pendingRecording: { seq: 4, node: 'r', timerId: 't' },
      } as unknown as Partial<CallContext>),
      [{ seq: 1 } as RecordingMeta],
    );
    expect(record.variables).toEqual({ account: '42' });
    expect(record.lookups).toEqual(lookups);
    // Two with audio plus the pending one, less the one archived.
    expect(record.recordingsPending).toBe(2);
    const archivedMore = callRecordOf(ctx({ recordings: [rec(true)] } as unknown as Partial<CallContext>), [
      { seq: 1 } as RecordingMeta,
      { seq: 2 } as RecordingMeta,
    ]);
    expect(archivedMore.recordingsPending).toBe(0);
  });
});
