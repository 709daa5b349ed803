import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { RecordingArchiver, recordingJobSchema, type RecordingJob } from '../../shared/ivr/recordingArchiver';
import type { Logger } from '../../shared/logging';
import type { RecordingMeta, RecordStore } from '../../shared/storage/recordStore';
import type { RecordingBlobStore } from '../../shared/storage/recordingStore';

/**
 * The archiver against in-memory record and blob stores and a real download server on
 * loopback (local development allowance): which row each job ends in, the blob's name and
 * content, and what is retried.
 */

const TOKEN = 'rec-token-7f3a';
const NOW = new Date('2026-11-22T10:00:00.000Z');

/** A PCM WAV: 8 kHz, 16-bit mono (16,000 bytes a second), `extra` bytes of a LIST chunk before the data. */
function wav(dataBytes: number, extra = 0): Buffer {
  const list = extra > 0 ? Buffer.alloc(8 + extra) : Buffer.alloc(0);
  if (extra > 0) {
    list.write('LIST', 0, 'ascii');
    list.writeUInt32LE(extra, 4);
  }
  const head = Buffer.alloc(36);
  head.write('RIFF', 0, 'ascii');
  head.writeUInt32LE(36 + list.length + 8 + dataBytes - 8, 4);
  head.write('WAVE', 8, 'ascii');
  head.write('fmt ', 12, 'ascii');
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20); // PCM
  head.writeUInt16LE(1, 22); // mono
  head.writeUInt32LE(8000, 24);
  head.writeUInt32LE(16000, 28); // byte rate
  head.writeUInt16LE(2, 32);
  head.writeUInt16LE(16, 34);
  const dataHead = Buffer.alloc(8);
  dataHead.write('data', 0, 'ascii');
  dataHead.writeUInt32LE(dataBytes, 4);
  return Buffer.concat([head, list, dataHead, Buffer.alloc(dataBytes, 7)]);
}

const SHORT = wav(24_000); // 1.5 s
const LATE_DATA = wav(16_000, 5000); // its data chunk starts past the first 4 KiB
// Its data chunk header at bytes 4092-4099: only half of it inside the first 4 KiB.
const EDGE_DATA = wav(16_000, 4092 - 44);

let server: Server;
let base: string;
let hits = 0;
/** The server side of the stalled download's socket closing. */
let stalledClosed: Promise<void> | null = null;

function routes(req: IncomingMessage, res: ServerResponse): void {
  hits++;
  if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
  const path = req.url ?? '';
  const status = /^\/status\/(\d+)$/.exec(path);
  if (status) return void res.writeHead(Number(status[1])).end();
  if (path === '/stalls') {
    // Headers and a first piece, then nothing: the download stays open until someone ends it.
    stalledClosed = new Promise((ok) => req.socket.once('close', () => ok()));
    res.writeHead(200, { 'content-type': 'audio/wav' });
    return void res.write(SHORT.subarray(0, 100));
  }
  const body = path === '/late-data.wav' ? LATE_DATA : path === '/edge-data.wav' ? EDGE_DATA : SHORT;
  res.writeHead(200, { 'content-type': 'audio/wav' });
  // Small pieces: the header the archiver keeps is put together across chunks.
  for (let i = 0; i < body.length; i += 10) res.write(body.subarray(i, i + 10));
  res.end();
}

beforeAll(async () => {
  server = createServer(routes);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((ok) => server.close(() => ok()));
});

beforeEach(() => {
  hits = 0;
});

interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  props?: Record<string, unknown>;
}

function setup(options: { existing?: RecordingMeta; uploadFails?: boolean; deadlineMs?: number } = {}) {
  const puts: RecordingMeta[] = [];
  const uploads: Array<{
    blobName: string;
    bytes: Buffer;
    contentType: string;
    metadata: Record<string, string>;
  }> = [];
  const deleted: string[] = [];
  const lines: LogLine[] = [];
  const expired: RecordingMeta[] = [];
  const records: RecordStore = {
    putRecording: async (meta) => void puts.push(meta),
    getRecording: async () => options.existing ?? null,
    listRecordings: async () => [],
    listExpiredRecordings: async function* (now) {
      expect(now).toEqual(NOW);
      yield* expired;
    },
  };
  const blobs: RecordingBlobStore = {
    upload: async (blobName: string, body: Readable, contentType: string, metadata) => {
      if (options.uploadFails) throw new Error('blob service unavailable');
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      uploads.push({ blobName, bytes, contentType, metadata });
      return bytes.length;
    },
    delete: async (blobName) => void deleted.push(blobName),
  };
  const log: Logger = {
    info: (message, props) => void lines.push({ level: 'info', message, props }),
    warn: (message, props) => void lines.push({ level: 'warn', message, props }),
    error: (message, props) => void lines.push({ level: 'error', message, props }),
  };
  const archiver = new RecordingArchiver({
    records,
    blobs,
    maxBytes: 1_000_000,
    allowLocalHttp: true,
    downloadDeadlineMs: options.deadlineMs ?? 10_000,
    log,
    now: () => NOW,
  });
  return { archiver, puts, uploads, deleted, lines, expired };
}

function job(overrides: Partial<RecordingJob> = {}): RecordingJob {
  return {
    callId: 'call-1',
    seq: 3,
    number: '+14255550100',
    caller: '+14255550199',
    node: 'leaveMessage',
    recordedAt: '2026-11-21T23:59:30.000Z',
    outcome: 'stopTone',
    completionReason: 'stopToneDetected',
    recording: { location: `${base}/rec.wav`, accessToken: TOKEN },
    reason: null,
    persist: true,
    retentionDays: 30,
    attempt: 1,
    ...overrides,
  };
}

/** The row every job starts from, written out here (not built by the archiver). */
function row(overrides: Partial<RecordingMeta> = {}): RecordingMeta {
  return {
    callId: 'call-1',
    seq: 3,
    number: '+14255550100',
    caller: '+14255550199',
    node: 'leaveMessage',
    recordedAt: '2026-11-21T23:59:30.000Z',
    completionReason: 'stopToneDetected',
    status: 'discarded',
    blobName: null,
    bytes: null,
    durationSeconds: null,
    expiresAt: null,
    error: null,
    ...overrides,
  };
}

describe('a job without a recording', () => {
  test('the caller said nothing: discarded, with the reason, logged as information', async () => {
    const { archiver, puts, lines } = setup();
    const result = await archiver.archive(
      job({ recording: null, outcome: 'noInput', reason: 'initial silence' }),
    );
    expect(result).toEqual({ status: 'discarded' });
    expect(puts).toEqual([row({ status: 'discarded', error: 'initial silence' })]);
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'recording discarded',
        props: { callId: 'call-1', seq: 3, reason: 'initial silence' },
      },
    ]);
    expect(hits).toBe(0);
  });

  test('any other outcome without a recording is lost, logged as an error', async () => {
    const { archiver, puts, lines } = setup();
    const result = await archiver.archive(
      job({ recording: null, outcome: 'maxDuration', reason: 'no recording location' }),
    );
    expect(result).toEqual({ status: 'lost' });
    expect(puts).toEqual([row({ status: 'lost', error: 'no recording location' })]);
    expect(lines).toEqual([
      {
        level: 'error',
        message: 'recording lost',
        props: { callId: 'call-1', seq: 3, reason: 'no recording location' },
      },
    ]);
  });
});

test('a number that keeps no recordings: discarded without a download', async () => {
  const { archiver, puts, uploads } = setup();
  expect(await archiver.archive(job({ persist: false }))).toEqual({ status: 'discarded' });
  expect(puts).toEqual([row({ status: 'discarded', error: 'the number keeps no recordings' })]);
  expect(uploads).toEqual([]);
  expect(hits).toBe(0);
});

describe('a job delivered again', () => {
  test('a recording already stored is not downloaded or written again', async () => {
    const { archiver, puts, uploads } = setup({ existing: row({ status: 'stored' }) });
    expect(await archiver.archive(job())).toEqual({ status: 'stored' });
    expect(puts).toEqual([]);
    expect(uploads).toEqual([]);
    expect(hits).toBe(0);
  });

  test('a recording already discarded keeps that status', async () => {
    const { archiver, puts } = setup({ existing: row({ status: 'discarded' }) });
    expect(await archiver.archive(job())).toEqual({ status: 'discarded' });
    expect(puts).toEqual([]);
  });

  test('a recording recorded as lost is tried again', async () => {
    const { archiver, puts, uploads } = setup({ existing: row({ status: 'lost', error: 'x' }) });
    expect(await archiver.archive(job())).toEqual({ status: 'stored' });
    expect(uploads).toHaveLength(1);
    expect(puts.map((p) => p.status)).toEqual(['stored']);
  });
});

describe('a download', () => {
  test('is stored under number/day/call-seq.wav with its bytes, duration and expiry', async () => {
    const { archiver, puts, uploads, lines } = setup();
    expect(await archiver.archive(job())).toEqual({ status: 'stored' });
    expect(uploads).toEqual([
      {
        blobName: '+14255550100/2026-11-21/call-1-3.wav',
        bytes: SHORT,
        contentType: 'audio/wav',
        metadata: { callid: 'call-1', node: 'leaveMessage' },
      },
    ]);
    expect(puts).toEqual([
      row({
        status: 'stored',
        blobName: '+14255550100/2026-11-21/call-1-3.wav',
        bytes: SHORT.length,
        durationSeconds: 1.5,
        // 30 days after NOW
        expiresAt: '2026-12-22T10:00:00.000Z',
      }),
    ]);
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'recording stored',
        props: {
          callId: 'call-1',
          seq: 3,
          blobName: '+14255550100/2026-11-21/call-1-3.wav',
          bytes: SHORT.length,
        },
      },
    ]);
  });

  test('characters a blob path should not carry become underscores; no number is "unknown"', async () => {
    const { archiver, uploads } = setup();
    await archiver.archive(job({ number: 'sip:a b/c', callId: 'x/../y.z' }));
    await archiver.archive(job({ number: null, callId: 'A-z_0+9' }));
    expect(uploads.map((u) => u.blobName)).toEqual([
      'sip_a_b_c/2026-11-21/x____y_z-3.wav',
      'unknown/2026-11-21/A-z_0+9-3.wav',
    ]);
  });

  test('the duration is read from the first 4 KiB only: a data chunk after them gives none', async () => {
    const { archiver, puts, uploads } = setup();
    await archiver.archive(job({ recording: { location: `${base}/late-data.wav`, accessToken: TOKEN } }));
    expect(uploads[0]?.bytes).toEqual(LATE_DATA);
    expect(puts[0]).toMatchObject({ status: 'stored', bytes: LATE_DATA.length, durationSeconds: null });
  });

  test('the header read stops at exactly 4 KiB: a data chunk header across that line gives no duration', async () => {
    const { archiver, puts } = setup();
    await archiver.archive(job({ recording: { location: `${base}/edge-data.wav`, accessToken: TOKEN } }));
    expect(puts[0]).toMatchObject({ status: 'stored', bytes: EDGE_DATA.length, durationSeconds: null });
  });

  test("a download that stalls fails at the archiver's own deadline, to be retried", async () => {
    const { archiver, puts } = setup({ deadlineMs: 300 });
    const result = await archiver.archive(
      job({ recording: { location: `${base}/stalls`, accessToken: TOKEN } }),
    );
    expect(result).toEqual({ retry: 'download did not finish within the 300 ms deadline' });
    expect(puts).toEqual([]);
  });

  test('an upload that fails closes the download at once (not at its deadline)', async () => {
    const { archiver } = setup({ uploadFails: true, deadlineMs: 600_000 });
    const result = await archiver.archive(
      job({ recording: { location: `${base}/stalls`, accessToken: TOKEN } }),
    );
    expect(result).toEqual({ retry: 'blob service unavailable' });
    // Resolves only when the connection is closed; left open, the test's own timeout fails it.
    await stalledClosed;
  });

  test('a refused download (404) is lost at once, with its reason', async () => {
    const { archiver, puts, lines, uploads } = setup();
    const result = await archiver.archive(
      job({ recording: { location: `${base}/status/404`, accessToken: TOKEN } }),
    );
    expect(result).toEqual({ status: 'lost' });
    expect(puts).toEqual([row({ status: 'lost', error: 'download answered 404' })]);
    expect(lines).toEqual([
      {
        level: 'error',
        message: 'recording lost',
        props: { callId: 'call-1', seq: 3, error: 'download answered 404' },
      },
    ]);
    expect(uploads).toEqual([]);
  });

  test('a location that is not https is lost without a request', async () => {
    const { archiver, puts } = setup();
    const result = await archiver.archive(
      job({ recording: { location: 'ftp://media.example.com/r.wav', accessToken: TOKEN } }),
    );
    expect(result).toEqual({ status: 'lost' });
    expect(puts).toEqual([
      row({ status: 'lost', error: 'recordingLocation must be https (got ftp://media.example.com)' }),
    ]);
    expect(hits).toBe(0);
  });

  test('a server error is retried later: nothing written, a warning with the attempt', async () => {
    const { archiver, puts, lines } = setup();
    const result = await archiver.archive(
      job({ recording: { location: `${base}/status/503`, accessToken: TOKEN }, attempt: 2 }),
    );
    expect(result).toEqual({ retry: 'download answered 503' });
    expect(puts).toEqual([]);
    expect(lines).toEqual([
      {
        level: 'warn',
        message: 'recording download failed',
        props: { callId: 'call-1', seq: 3, attempt: 2, error: 'download answered 503' },
      },
    ]);
  });

  test('a failing blob upload is retried later, not lost', async () => {
    const { archiver, puts } = setup({ uploadFails: true });
    expect(await archiver.archive(job())).toEqual({ retry: 'blob service unavailable' });
    expect(puts).toEqual([]);
  });
});

test('lose() writes the loss on record', async () => {
  const { archiver, puts, lines } = setup();
  await archiver.lose(job(), 'gave up after 5 attempts');
  expect(puts).toEqual([row({ status: 'lost', error: 'gave up after 5 attempts' })]);
  expect(lines).toEqual([
    {
      level: 'error',
      message: 'recording lost',
      props: { callId: 'call-1', seq: 3, error: 'gave up after 5 attempts' },
    },
  ]);
});

test('expire deletes the blob of each expired recording and marks every one deleted', async () => {
  const { archiver, puts, deleted, expired } = setup();
  expired.push(
    row({ seq: 1, status: 'stored', blobName: 'n/d/call-1-1.wav', expiresAt: '2026-11-01T00:00:00.000Z' }),
    row({ seq: 2, status: 'stored', blobName: null, expiresAt: '2026-11-02T00:00:00.000Z' }),
  );
  expect(await archiver.expire(NOW)).toEqual({ deleted: 2 });
  expect(deleted).toEqual(['n/d/call-1-1.wav']);
  expect(puts).toEqual([
    row({ seq: 1, status: 'deleted', blobName: 'n/d/call-1-1.wav', expiresAt: '2026-11-01T00:00:00.000Z' }),
    row({ seq: 2, status: 'deleted', blobName: null, expiresAt: '2026-11-02T00:00:00.000Z' }),
  ]);
});

describe('the recording job message', () => {
  const valid = () => ({ ...job(), recording: { location: 'https://x.example/r', accessToken: 't' } });
  const text = (n: number) => 'a'.repeat(n);

  test('a complete job parses, with or without its flow', () => {
    expect(recordingJobSchema.safeParse(valid()).success).toBe(true);
    expect(recordingJobSchema.safeParse({ ...valid(), flowId: 'main', flowVersion: 0 }).success).toBe(true);
  });

  test.each<[string, Record<string, unknown>]>([
    ['callId at 256', { callId: text(256) }],
    ['seq 0', { seq: 0 }],
    ['number at 160', { number: text(160) }],
    ['no number', { number: null }],
    ['caller at 160', { caller: text(160) }],
    ['no caller', { caller: null }],
    ['node at 64', { node: text(64) }],
    ['recordedAt at 40', { recordedAt: text(40) }],
    ['outcome at 32', { outcome: text(32) }],
    ['completionReason at 64', { completionReason: text(64) }],
    ['no completionReason', { completionReason: null }],
    ['no recording', { recording: null }],
    ['location at 2048', { recording: { location: text(2048), accessToken: 't' } }],
    ['token at 8192', { recording: { location: 'l', accessToken: text(8192) } }],
    ['reason at 512', { reason: text(512) }],
    ['retention 1 day', { retentionDays: 1 }],
    ['retention 3650 days', { retentionDays: 3650 }],
    ['attempt 1', { attempt: 1 }],
    ['attempt 5', { attempt: 5 }],
    ['flowId at 128', { flowId: text(128) }],
    ['flowId of one character', { flowId: 'a' }],
    ['callId of one character', { callId: 'a' }],
    ['node of one character', { node: 'a' }],
  ])('accepts %s', (_name, change) => {
    expect(recordingJobSchema.safeParse({ ...valid(), ...change }).success).toBe(true);
  });

  test.each<[string, Record<string, unknown>]>([
    ['an empty callId', { callId: '' }],
    ['callId over 256', { callId: text(257) }],
    ['a negative seq', { seq: -1 }],
    ['a fractional seq', { seq: 1.5 }],
    ['number over 160', { number: text(161) }],
    ['caller over 160', { caller: text(161) }],
    ['an empty node', { node: '' }],
    ['node over 64', { node: text(65) }],
    ['recordedAt over 40', { recordedAt: text(41) }],
    ['outcome over 32', { outcome: text(33) }],
    ['completionReason over 64', { completionReason: text(65) }],
    ['an empty location', { recording: { location: '', accessToken: 't' } }],
    ['location over 2048', { recording: { location: text(2049), accessToken: 't' } }],
    ['an empty token', { recording: { location: 'l', accessToken: '' } }],
    ['token over 8192', { recording: { location: 'l', accessToken: text(8193) } }],
    ['an unknown recording key', { recording: { location: 'l', accessToken: 't', x: 1 } }],
    ['reason over 512', { reason: text(513) }],
    ['persist as text', { persist: 'true' }],
    ['retention 0 days', { retentionDays: 0 }],
    ['retention 3651 days', { retentionDays: 3651 }],
    ['retention of 1.5 days', { retentionDays: 1.5 }],
    ['attempt 0', { attempt: 0 }],
    ['attempt 6', { attempt: 6 }],
    ['attempt 1.5', { attempt: 1.5 }],
    ['an empty flowId', { flowId: '' }],
    ['flowId over 128', { flowId: text(129) }],
    ['a negative flowVersion', { flowVersion: -1 }],
    ['a fractional flowVersion', { flowVersion: 0.5 }],
    ['an unknown key', { extra: 1 }],
  ])('refuses %s', (_name, change) => {
    expect(recordingJobSchema.safeParse({ ...valid(), ...change }).success).toBe(false);
  });
});
