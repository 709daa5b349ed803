import { Readable } from 'node:stream';
import { ContainerClient } from '@azure/storage-blob';
import { AzureRecordingBlobStore } from '../../shared/storage/recordingStore';

/**
 * The recording blob store over a stub container: which Blob requests an upload makes (one Put
 * Blob up to 4 MiB, else blocks committed once the body has ended), the container created on
 * its 404, every request bounded by the request timeout. test/integration/recordingUpload.test.ts
 * runs uploads against Azurite.
 */

const MiB = 1024 * 1024;
const TIMEOUT_MS = 30;

const containerMissing = () =>
  Object.assign(new Error('The specified container does not exist.'), {
    statusCode: 404,
    code: 'ContainerNotFound',
  });

/** What the stub container was asked, in order, with each request's signal. */
interface Call {
  what: string;
  args: unknown[];
  signal: AbortSignal | undefined;
}

function stubContainer() {
  const calls: Call[] = [];
  /** Runs before each request: may throw or stall. */
  let before: (call: Call) => Promise<void> | void = () => undefined;
  const enter = async (what: string, args: unknown[], options: { abortSignal?: AbortSignal } | undefined) => {
    const call = { what, args, signal: options?.abortSignal };
    calls.push(call);
    if (!(call.signal instanceof AbortSignal)) throw new Error(`${what} was sent without an abort signal`);
    await before(call);
  };
  const blob = (name: string) => ({
    upload: (data: Buffer, length: number, o: { abortSignal?: AbortSignal }) =>
      enter('upload', [name, data.length, length, { ...o, abortSignal: undefined }], o),
    stageBlock: (id: string, data: Buffer, length: number, o: { abortSignal?: AbortSignal }) =>
      enter('stageBlock', [Buffer.from(id, 'base64').toString(), data.length, length], o),
    commitBlockList: (ids: string[], o: { abortSignal?: AbortSignal }) =>
      enter(
        'commitBlockList',
        [ids.map((id) => Buffer.from(id, 'base64').toString()), { ...o, abortSignal: undefined }],
        o,
      ),
    getProperties: async (o: { abortSignal?: AbortSignal }) => {
      await enter('getProperties', [name], o);
      return { contentLength: sizes.get(name) };
    },
    downloadToBuffer: async (offset: number, count: number | undefined, o: { abortSignal?: AbortSignal }) => {
      await enter('downloadToBuffer', [name, offset, count], o);
      return Buffer.from(`bytes of ${name}`);
    },
    deleteIfExists: (o: { abortSignal?: AbortSignal }) => enter('deleteIfExists', [name], o),
  });
  const sizes = new Map<string, number | undefined>();
  const container = {
    getBlockBlobClient: blob,
    createIfNotExists: (o: { abortSignal?: AbortSignal }) => enter('createIfNotExists', [], o),
  } as unknown as ContainerClient;
  return {
    container,
    calls,
    sizes,
    what: () => calls.map((c) => c.what),
    setBefore: (f: typeof before) => (before = f),
  };
}

function body(total: number, chunk = 256 * 1024, failAfter?: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && sent >= failAfter) return this.destroy(new Error('source failed'));
      if (sent >= total) return this.push(null);
      const n = Math.min(chunk, total - sent);
      sent += n;
      this.push(Buffer.alloc(n, 1));
    },
  });
}

const stallUntilAbort = (signal: AbortSignal | undefined) =>
  new Promise<never>((_, reject) =>
    signal!.addEventListener('abort', () =>
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
    ),
  );

const store = (stub: ReturnType<typeof stubContainer>) =>
  new AzureRecordingBlobStore(async () => stub.container, { requestTimeoutMs: TIMEOUT_MS });

describe('upload', () => {
  const HEADERS = { blobHTTPHeaders: { blobContentType: 'audio/wav' }, metadata: { callId: 'c1' } };

  test('a body up to 4 MiB is one Put Blob with its type and metadata; text chunks count as bytes', async () => {
    const stub = stubContainer();
    expect(
      await store(stub).upload('a.wav', Readable.from(['ab', Buffer.from('cde')]), 'audio/wav', {
        callId: 'c1',
      }),
    ).toBe(5);
    expect(stub.calls.map((c) => [c.what, c.args])).toEqual([
      ['upload', ['a.wav', 5, 5, { ...HEADERS, abortSignal: undefined }]],
    ]);
    const exact = stubContainer();
    expect(await store(exact).upload('b.wav', body(4 * MiB), 'audio/wav', { callId: 'c1' })).toBe(4 * MiB);
    expect(exact.calls.map((c) => [c.what, c.args[1]])).toEqual([['upload', 4 * MiB]]);
  });

  test('an empty body is one empty Put Blob', async () => {
    const stub = stubContainer();
    expect(await store(stub).upload('a.wav', Readable.from([]), 'audio/wav', {})).toBe(0);
    expect(stub.calls.map((c) => [c.what, c.args[1]])).toEqual([['upload', 0]]);
  });

  test('a larger body goes up as 4 MiB blocks, numbered in order, committed once it has ended', async () => {
    const stub = stubContainer();
    const total = 9 * MiB + 5;
    expect(await store(stub).upload('a.wav', body(total, 3 * MiB), 'audio/wav', { callId: 'c1' })).toBe(
      total,
    );
    expect(stub.calls.map((c) => [c.what, c.args])).toEqual([
      ['stageBlock', ['block-000000', 4 * MiB, 4 * MiB]],
      ['stageBlock', ['block-000001', 4 * MiB, 4 * MiB]],
      ['stageBlock', ['block-000002', MiB + 5, MiB + 5]],
      [
        'commitBlockList',
        [['block-000000', 'block-000001', 'block-000002'], { ...HEADERS, abortSignal: undefined }],
      ],
    ]);
  });

  test('one chunk larger than two blocks is cut into whole blocks and the rest', async () => {
    const stub = stubContainer();
    await store(stub).upload('a.wav', Readable.from([Buffer.alloc(8 * MiB + 1)]), 'audio/wav', {});
    expect(stub.calls.map((c) => [c.what, c.args[1]])).toEqual([
      ['stageBlock', 4 * MiB],
      ['stageBlock', 4 * MiB],
      ['stageBlock', 1],
      [
        'commitBlockList',
        { blobHTTPHeaders: { blobContentType: 'audio/wav' }, metadata: {}, abortSignal: undefined },
      ],
    ]);
  });

  test('a source that fails after the first block commits nothing, and fails with its error', async () => {
    const stub = stubContainer();
    await expect(store(stub).upload('a.wav', body(6 * MiB, MiB, 5 * MiB), 'audio/wav', {})).rejects.toThrow(
      'source failed',
    );
    expect(stub.what()).toEqual(['stageBlock']);
  });

  test('a block that fails stops the upload: nothing more is staged or committed', async () => {
    const stub = stubContainer();
    const refused = Object.assign(new Error('refused'), { statusCode: 403 });
    stub.setBefore((call) => {
      if (call.what === 'stageBlock') throw refused;
    });
    await expect(store(stub).upload('a.wav', body(12 * MiB, MiB), 'audio/wav', {})).rejects.toBe(refused);
    expect(stub.what()).toEqual(['stageBlock']);
  });

  test('the next block is staged only after the previous one answered', async () => {
    const stub = stubContainer();
    let release: () => void = () => undefined;
    const order: string[] = [];
    stub.setBefore(async (call) => {
      if (call.what !== 'stageBlock') return;
      order.push(`start ${call.args[0] as string}`);
      if (call.args[0] === 'block-000000') await new Promise<void>((r) => (release = r));
      order.push(`end ${call.args[0] as string}`);
    });
    const done = store(stub).upload('a.wav', body(9 * MiB, MiB), 'audio/wav', {});
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual(['start block-000000']);
    release();
    await done;
    expect(order).toEqual([
      'start block-000000',
      'end block-000000',
      'start block-000001',
      'end block-000001',
      'start block-000002',
      'end block-000002',
    ]);
  });

  test('a missing container is created on the 404, then the request is made once more', async () => {
    const stub = stubContainer();
    let missing = true;
    stub.setBefore((call) => {
      if (call.what === 'createIfNotExists') missing = false;
      else if (missing) throw containerMissing();
    });
    await store(stub).upload('a.wav', Readable.from([Buffer.from('x')]), 'audio/wav', {});
    expect(stub.what()).toEqual(['upload', 'createIfNotExists', 'upload']);

    const blocks = stubContainer();
    let blocksMissing = true;
    blocks.setBefore((call) => {
      if (call.what === 'createIfNotExists') blocksMissing = false;
      else if (blocksMissing)
        throw Object.assign(new Error('gone'), {
          statusCode: 404,
          details: { errorCode: 'ContainerNotFound' },
        });
    });
    await store(blocks).upload('a.wav', body(5 * MiB, MiB), 'audio/wav', {});
    expect(blocks.what()).toEqual([
      'stageBlock',
      'createIfNotExists',
      'stageBlock',
      'stageBlock',
      'commitBlockList',
    ]);
  });

  test('another 404 (or a container error of another status) is not a missing container', async () => {
    for (const err of [
      Object.assign(new Error('no blob'), { statusCode: 404, code: 'BlobNotFound' }),
      Object.assign(new Error('conflict'), { statusCode: 409, code: 'ContainerNotFound' }),
    ]) {
      const stub = stubContainer();
      stub.setBefore(() => {
        throw err;
      });
      await expect(
        store(stub).upload('a.wav', Readable.from([Buffer.from('x')]), 'audio/wav', {}),
      ).rejects.toBe(err);
      await expect(store(stub).delete('a.wav')).rejects.toBe(err);
      expect(stub.what()).toEqual(['upload', 'deleteIfExists']);
    }
  });

  test('a stalled request ends at the request timeout, naming it, with the SDK error as its cause', async () => {
    const stub = stubContainer();
    stub.setBefore((call) => stallUntilAbort(call.signal));
    const err = (await store(stub)
      .upload('a.wav', Readable.from([Buffer.from('x')]), 'audio/wav', {})
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(`Blob storage did not answer Put Blob within ${TIMEOUT_MS} ms`);
    expect((err.cause as Error).name).toBe('AbortError');
    expect(stub.calls.map((c) => c.signal?.aborted)).toEqual([true]);
  });

  test.each([
    ['Put Block', 'stageBlock'],
    ['Put Block List', 'commitBlockList'],
    ['Create Container', 'createIfNotExists'],
  ])('a stalled %s ends at the request timeout', async (name, method) => {
    const stub = stubContainer();
    stub.setBefore((call) => {
      if (call.what === method) return stallUntilAbort(call.signal);
      if (method === 'createIfNotExists' && call.what === 'stageBlock') throw containerMissing();
    });
    await expect(store(stub).upload('a.wav', body(5 * MiB, MiB), 'audio/wav', {})).rejects.toThrow(
      `Blob storage did not answer ${name} within ${TIMEOUT_MS} ms`,
    );
  });

  test('a request failing on its own is passed on as it is', async () => {
    const stub = stubContainer();
    const busy = Object.assign(new Error('busy'), { statusCode: 503 });
    stub.setBefore(() => {
      throw busy;
    });
    await expect(
      store(stub).upload('a.wav', Readable.from([Buffer.from('x')]), 'audio/wav', {}),
    ).rejects.toBe(busy);
  });
});

describe('names, reads and deletes', () => {
  test('a blob name is 1-1024 characters not ending with /, checked before any request', async () => {
    const stub = stubContainer();
    const s = store(stub);
    for (const bad of ['', 'x'.repeat(1025), 'calls/']) {
      await expect(s.upload(bad, Readable.from([]), 'audio/wav', {})).rejects.toThrow(
        new RangeError('a blob name is 1-1024 characters and does not end with /'),
      );
      await expect(s.read(bad, 10)).rejects.toBeInstanceOf(RangeError);
      await expect(s.delete(bad)).rejects.toBeInstanceOf(RangeError);
    }
    expect(stub.calls).toEqual([]);
    await s.upload('x'.repeat(1024), Readable.from([]), 'audio/wav', {});
    expect(stub.what()).toEqual(['upload']);
  });

  test('read: the bytes of a blob within the limit; a larger one is refused before downloading', async () => {
    const stub = stubContainer();
    stub.sizes.set('a.wav', 100).set('b.wav', 101).set('c.wav', undefined);
    const s = store(stub);
    expect((await s.read('a.wav', 100)).toString()).toBe('bytes of a.wav');
    await expect(s.read('b.wav', 100)).rejects.toThrow(new RangeError('b.wav is 101 bytes, over 100'));
    expect((await s.read('c.wav', 100)).toString()).toBe('bytes of c.wav');
    expect(stub.calls.map((c) => [c.what, ...c.args])).toEqual([
      ['getProperties', 'a.wav'],
      ['downloadToBuffer', 'a.wav', 0, undefined],
      ['getProperties', 'b.wav'],
      ['getProperties', 'c.wav'],
      ['downloadToBuffer', 'c.wav', 0, undefined],
    ]);
  });

  test('a stalled read ends at the request timeout', async () => {
    for (const [method, name] of [
      ['getProperties', 'Get Blob Properties'],
      ['downloadToBuffer', 'Get Blob'],
    ] as const) {
      const stub = stubContainer();
      stub.sizes.set('a.wav', 1);
      stub.setBefore((call) => (call.what === method ? stallUntilAbort(call.signal) : undefined));
      await expect(store(stub).read('a.wav', 10)).rejects.toThrow(
        `Blob storage did not answer ${name} within ${TIMEOUT_MS} ms`,
      );
    }
  });

  test('delete removes a blob, quietly when its container is missing; a stall ends at the timeout', async () => {
    const stub = stubContainer();
    await store(stub).delete('a.wav');
    stub.setBefore(() => {
      throw containerMissing();
    });
    await store(stub).delete('a.wav');
    expect(stub.calls.map((c) => [c.what, ...c.args])).toEqual([
      ['deleteIfExists', 'a.wav'],
      ['deleteIfExists', 'a.wav'],
    ]);
    stub.setBefore((call) => stallUntilAbort(call.signal));
    await expect(store(stub).delete('a.wav')).rejects.toThrow(
      `Blob storage did not answer Delete Blob within ${TIMEOUT_MS} ms`,
    );
  });

  test('the container client is made once, and made again after a failure', async () => {
    const stub = stubContainer();
    let connects = 0;
    const s = new AzureRecordingBlobStore(async () => {
      if (++connects === 1) throw new Error('SDK failed to load');
      return stub.container;
    });
    await expect(s.delete('a.wav')).rejects.toThrow('SDK failed to load');
    await s.delete('a.wav');
    await s.delete('b.wav');
    expect(connects).toBe(2);
  });

  test('the request timeout is a whole number of milliseconds up to 2147483647', () => {
    const connect = async () => stubContainer().container;
    for (const bad of [0, -1, 1.5, 2_147_483_648])
      expect(() => new AzureRecordingBlobStore(connect, { requestTimeoutMs: bad })).toThrow(
        new RangeError(
          `requestTimeoutMs must be a whole number of milliseconds from 1 to 2147483647 (got ${bad})`,
        ),
      );
    expect(() => new AzureRecordingBlobStore(connect, { requestTimeoutMs: 1 })).not.toThrow();
    expect(() => new AzureRecordingBlobStore(connect, { requestTimeoutMs: 2_147_483_647 })).not.toThrow();
  });

  test('a read link with a shared key is a read-only SAS that expires when asked', async () => {
    const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
    const s = AzureRecordingBlobStore.fromConnectionString(
      `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net`,
      'recordings',
    );
    const expires = new Date('2026-11-23T10:00:00Z');
    const link = new URL(await s.readLink('calls/a.wav', expires));
    expect(`${link.origin}${link.pathname}`).toBe(
      'https://acct.blob.core.windows.net/recordings/calls/a.wav',
    );
    expect(link.searchParams.get('sp')).toBe('r');
    expect(link.searchParams.get('se')).toBe('2026-11-23T10:00:00Z');
    expect(link.searchParams.get('sr')).toBe('b');
    await expect(s.readLink('calls/', expires)).rejects.toBeInstanceOf(RangeError);
  });
});
