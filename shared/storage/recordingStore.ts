import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ContainerClient } from '@azure/storage-blob';
import { isLoopbackHost } from '../config/settings';

/**
 * Downloads a recording from the platform and streams it into Blob storage.
 * The platform discards recordings soon after the call ends, so this runs at once.
 */

export interface RecordingBlobStore {
  /** Streams a download into a blob; returns the bytes written. */
  upload(
    blobName: string,
    body: Readable,
    contentType: string,
    metadata: Record<string, string>,
  ): Promise<number>;
  delete(blobName: string): Promise<void>;
}

export class AzureRecordingBlobStore implements RecordingBlobStore {
  private container: Promise<ContainerClient> | null = null;

  /** The Blob SDK loads on the first recording, not at cold start. */
  constructor(private readonly connect: () => Promise<ContainerClient>) {}

  static fromConnectionString(connectionString: string, container: string): AzureRecordingBlobStore {
    return new AzureRecordingBlobStore(async () => {
      const { BlobServiceClient } = await import('@azure/storage-blob');
      const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
      await client.createIfNotExists();
      return client;
    });
  }

  private client(): Promise<ContainerClient> {
    this.container ??= this.connect().catch((err) => {
      this.container = null;
      throw err;
    });
    return this.container;
  }

  async upload(
    blobName: string,
    body: Readable,
    contentType: string,
    metadata: Record<string, string>,
  ): Promise<number> {
    const container = await this.client();
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    body.on('error', (err) => counter.destroy(err));
    await container.getBlockBlobClient(blobName).uploadStream(body.pipe(counter), 256 * 1024, 4, {
      blobHTTPHeaders: { blobContentType: contentType },
      metadata,
    });
    return bytes;
  }

  async delete(blobName: string): Promise<void> {
    await (await this.client()).getBlockBlobClient(blobName).deleteIfExists();
  }
}

export class DownloadError extends Error {
  constructor(
    message: string,
    /** False when trying again cannot help: the location is gone, refused or unsafe. */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** Only https locations (http on loopback when local development allows it) are fetched. */
export function checkRecordingLocation(location: string, allowLocalHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new DownloadError('recordingLocation is not a URL', false);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && allowLocalHttp && isLoopbackHost(url.hostname)) return url;
  throw new DownloadError(`recordingLocation must be https (got ${url.protocol}//${url.host})`, false);
}

/** Starts a streamed download with the recording's own bearer token; the body is capped at maxBytes. */
export async function openRecording(
  url: URL,
  accessToken: string,
  maxBytes: number,
  options: { deadlineMs?: number; allowLocalHttp?: boolean } = {},
): Promise<{ body: Readable; contentType: string }> {
  const timeoutMs = options.deadlineMs ?? 30_000;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${accessToken}` },
      redirect: 'error', // a redirect could carry the token elsewhere
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new DownloadError(`download failed: ${(err as Error).message}`, true);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    // 401/403/404/410: the token or the recording is no longer valid.
    throw new DownloadError(
      `download answered ${res.status}`,
      res.status >= 500 || res.status === 429 || res.status === 408,
    );
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw new DownloadError(`recording is ${declared} bytes, over the ${maxBytes}-byte cap`, false);
  }
  let seen = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > maxBytes)
        return done(new DownloadError(`recording is over the ${maxBytes}-byte cap`, false));
      done(null, chunk);
    },
  });
  const source = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  source.on('error', (err) => cap.destroy(err));
  return {
    body: source.pipe(cap),
    contentType: res.headers.get('content-type') ?? 'application/octet-stream',
  };
}

/** Seconds of audio in a PCM WAV header, when the download is one. */
export function wavDurationSeconds(header: Buffer): number | null {
  if (
    header.length < 44 ||
    header.toString('ascii', 0, 4) !== 'RIFF' ||
    header.toString('ascii', 8, 12) !== 'WAVE'
  )
    return null;
  const byteRate = header.readUInt32LE(28);
  let offset = 12;
  while (offset + 8 <= header.length) {
    const id = header.toString('ascii', offset, offset + 4);
    const size = header.readUInt32LE(offset + 4);
    if (id === 'data') return byteRate > 0 ? Math.round((size / byteRate) * 10) / 10 : null;
    offset += 8 + size + (size % 2);
  }
  return null;
}
