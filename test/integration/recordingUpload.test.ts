import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import {
  AzureRecordingBlobStore,
  DownloadError,
  openRecording,
  SINGLE_PUT_MAX_BYTES,
} from '../../shared/storage/recordingStore';
import { startAzurite, type Azurite } from '../../sim/azurite';

/**
 * Uploads against real Azurite, behind a proxy that counts the Blob requests: one request for
 * a small recording, blocks committed only after a clean end, the container created on demand.
 */

const MiB = 1024 * 1024;

let azurite: Azurite;
let proxy: Server;
let proxied: string;
/** Blob requests through the proxy: method, path and `comp`/`restype`, with the status. */
let seen: string[] = [];
let stall = false;
const stalled: IncomingMessage[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  const upstream = new URL(/BlobEndpoint=([^;]+)/.exec(azurite.connectionString)![1]!);
  proxy = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const kind = url.searchParams.get('comp') ?? url.searchParams.get('restype');
    const name = `${req.method} ${url.pathname.replace(/^\/devstoreaccount1/, '')}${kind ? `?${kind}` : ''}`;
    if (stall) {
      seen.push(`${name} (held)`);
      stalled.push(req);
      return;
    }
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        seen.push(`${name} ${up.statusCode}`);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
  const port = (proxy.address() as AddressInfo).port;
  proxied = azurite.connectionString.replace(
    /BlobEndpoint=http:\/\/[^/]+/,
    `BlobEndpoint=http://127.0.0.1:${port}`,
  );
}, 60_000);
afterAll(async () => {
  for (const req of stalled) req.socket.destroy();
  proxy?.closeAllConnections();
  await new Promise<void>((ok) => (proxy ? proxy.close(() => ok()) : ok()));
  await azurite?.stop();
});
beforeEach(() => {
  seen = [];
  stall = false;
});

let n = 0;
function freshContainer(): string {
  return `rec-${process.pid}-${++n}`;
}
function direct(container: string) {
  return BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(container);
}

function bytes(length: number, seed = 1): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** A body in chunks of `chunk` bytes, optionally failing with `error` after `failAfter` bytes. */
function source(data: Buffer, chunk = 256 * 1024, failAfter?: number, error?: Error): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && offset >= failAfter) return void this.destroy(error);
      if (offset >= data.length) return void this.push(null);
      this.push(data.subarray(offset, offset + chunk));
      offset += chunk;
    },
  });
}

const meta = { callid: 'call-1', node: 'voicemail' };

test('a small recording is one Put Blob; a missing container is created once, on the 404', async () => {
  const container = freshContainer();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container);
  const first = bytes(100 * 1024);
  expect(await store.upload('a/first.wav', source(first), 'audio/wav', meta)).toBe(first.length);
  expect(seen).toEqual([
    `PUT /${container}/a/first.wav 404`,
    `PUT /${container}?container 201`,
    `PUT /${container}/a/first.wav 201`,
  ]);

  seen = [];
  const second = bytes(100 * 1024, 2);
  expect(await store.upload('a/second.wav', source(second), 'audio/wav', meta)).toBe(second.length);
  expect(seen).toEqual([`PUT /${container}/a/second.wav 201`]);

  const blob = direct(container).getBlockBlobClient('a/second.wav');
  expect(Buffer.compare(await blob.downloadToBuffer(), second)).toBe(0);
  const props = await blob.getProperties();
  expect([props.contentType, props.metadata]).toEqual(['audio/wav', meta]);
});

test('a body of exactly 4 MiB is still one request; an empty one too', async () => {
  const container = freshContainer();
  await direct(container).create();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container);
  const data = bytes(SINGLE_PUT_MAX_BYTES);
  expect(await store.upload('edge.wav', source(data, 64 * 1024), 'audio/wav', meta)).toBe(data.length);
  expect(await store.upload('empty.wav', source(Buffer.alloc(0)), 'audio/wav', meta)).toBe(0);
  expect(seen).toEqual([`PUT /${container}/edge.wav 201`, `PUT /${container}/empty.wav 201`]);
  expect(
    Buffer.compare(await direct(container).getBlockBlobClient('edge.wav').downloadToBuffer(), data),
  ).toBe(0);
  expect((await direct(container).getBlockBlobClient('empty.wav').getProperties()).contentLength).toBe(0);
});

test('a larger body goes up as blocks, committed once it has ended', async () => {
  const container = freshContainer();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container);
  const data = bytes(9 * MiB + 123);
  expect(await store.upload('big.wav', source(data, 100_000), 'audio/wav', meta)).toBe(data.length);
  expect(seen).toEqual([
    `PUT /${container}/big.wav?block 404`,
    `PUT /${container}?container 201`,
    `PUT /${container}/big.wav?block 201`,
    `PUT /${container}/big.wav?block 201`,
    `PUT /${container}/big.wav?block 201`,
    `PUT /${container}/big.wav?blocklist 201`,
  ]);
  const blob = direct(container).getBlockBlobClient('big.wav');
  expect(Buffer.compare(await blob.downloadToBuffer(), data)).toBe(0);
  const props = await blob.getProperties();
  expect([props.contentType, props.metadata]).toEqual(['audio/wav', meta]);
});

test('a source that fails after 5 MiB commits nothing and leaves no blob', async () => {
  const container = freshContainer();
  await direct(container).create();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container);
  const cause = new DownloadError('the connection closed before the recording ended', true);
  const err = await store
    .upload('broken.wav', source(bytes(8 * MiB), 256 * 1024, 5 * MiB, cause), 'audio/wav', meta)
    .catch((e: unknown) => e);
  expect(err).toBe(cause);
  expect(seen).toEqual([`PUT /${container}/broken.wav?block 201`]);
  expect(await direct(container).getBlockBlobClient('broken.wav').exists()).toBe(false);
});

test('a source that fails within the first 4 MiB sends nothing at all', async () => {
  const container = freshContainer();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container);
  const cause = new DownloadError('recording is over the 3000000-byte cap', false);
  await expect(
    store.upload('early.wav', source(bytes(4 * MiB), 256 * 1024, 3 * MiB, cause), 'audio/wav', meta),
  ).rejects.toBe(cause);
  expect(seen).toEqual([]);
});

test('a real download stopped by its cap after 5 MiB leaves no blob, and the upload fails with its error', async () => {
  const container = freshContainer();
  await direct(container).create();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container);
  const media = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav' });
    const chunk = bytes(64 * 1024);
    const more = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', more);
    };
    more();
  });
  await new Promise<void>((ok) => media.listen(0, '127.0.0.1', ok));
  try {
    const url = new URL(`http://127.0.0.1:${(media.address() as AddressInfo).port}/rec.wav`);
    const download = await openRecording(url, 'tok', 5 * MiB + 1000, { allowLocalHttp: true });
    const err = (await store
      .upload('capped.wav', download.body, download.contentType, meta)
      .catch((e: unknown) => e)) as DownloadError;
    expect([err instanceof DownloadError, err.message, err.retryable]).toEqual([
      true,
      `recording is over the ${5 * MiB + 1000}-byte cap`,
      false,
    ]);
    expect(seen.filter((s) => s.includes('blocklist'))).toEqual([]);
    expect(await direct(container).getBlockBlobClient('capped.wav').exists()).toBe(false);
  } finally {
    media.closeAllConnections();
    await new Promise<void>((ok) => media.close(() => ok()));
  }
});

test('every Blob request has a timeout', async () => {
  const container = freshContainer();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container, { requestTimeoutMs: 300 });
  stall = true;
  await expect(store.upload('slow.wav', source(bytes(1024)), 'audio/wav', meta)).rejects.toThrow(
    'Blob storage did not answer Put Blob within 300 ms',
  );
  await expect(store.delete('slow.wav')).rejects.toThrow(
    'Blob storage did not answer Delete Blob within 300 ms',
  );
  expect(() =>
    AzureRecordingBlobStore.fromConnectionString(proxied, container, { requestTimeoutMs: 0 }),
  ).toThrow(/requestTimeoutMs must be/);
});

test('a blob name that would address the container is refused before any request', async () => {
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, freshContainer());
  for (const name of ['', 'dir/', 'x'.repeat(1025)]) {
    await expect(store.upload(name, source(bytes(10)), 'audio/wav', meta)).rejects.toThrow(RangeError);
    await expect(store.delete(name)).rejects.toThrow(RangeError);
  }
  expect(seen).toEqual([]);
});

test('delete removes a blob, and is quiet when the blob or its container is missing', async () => {
  const container = freshContainer();
  const store = AzureRecordingBlobStore.fromConnectionString(proxied, container);
  await expect(store.delete('nothing.wav')).resolves.toBeUndefined();
  await store.upload('x.wav', source(bytes(10)), 'audio/wav', meta);
  await store.delete('x.wav');
  await store.delete('x.wav');
  expect(await direct(container).getBlockBlobClient('x.wav').exists()).toBe(false);
});
