import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { StorageClients } from './connection';
import { isLoopbackHost } from '../config/settings';
import { addressProblem, guardedLookup, UnsafeAddressError } from '../net/addressGuard';

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

export interface RecordingBlobStoreOptions {
  /** Time one Blob request may take, its SDK retries included (default 30 s). */
  requestTimeoutMs?: number;
}

/** Bodies up to this size go up in one Put Blob request; larger ones as blocks of this size. */
export const SINGLE_PUT_MAX_BYTES = 4 * 1024 * 1024;

export class AzureRecordingBlobStore implements RecordingBlobStore {
  private container: Promise<ContainerClient> | null = null;
  private readonly requestTimeoutMs: number;

  /**
   * `connect` gives the container's client and sends nothing: the container is created only
   * when a request finds it missing. The Blob SDK loads on the first recording, not at cold start.
   */
  constructor(
    private readonly connect: () => Promise<ContainerClient>,
    options: RecordingBlobStoreOptions = {},
  ) {
    this.requestTimeoutMs = positiveMs('requestTimeoutMs', options.requestTimeoutMs ?? 30_000);
  }

  static fromConnectionString(
    connectionString: string,
    container: string,
    options?: RecordingBlobStoreOptions,
  ): AzureRecordingBlobStore {
    const clients = new StorageClients({ kind: 'connectionString', connectionString });
    return new AzureRecordingBlobStore(() => clients.container(container), options);
  }

  private client(): Promise<ContainerClient> {
    this.container ??= this.connect().catch((err) => {
      this.container = null;
      throw err;
    });
    return this.container;
  }

  /**
   * A body that ends within SINGLE_PUT_MAX_BYTES is one Put Blob request. A larger one is
   * staged block by block and committed only once the body has ended cleanly: a body that
   * fails (cap, deadline, dropped connection) leaves no blob, only uncommitted blocks that
   * the service discards.
   */
  async upload(
    blobName: string,
    body: Readable,
    contentType: string,
    metadata: Record<string, string>,
  ): Promise<number> {
    checkBlobName(blobName);
    const container = await this.client();
    const blob = container.getBlockBlobClient(blobName);
    const headers = { blobHTTPHeaders: { blobContentType: contentType }, metadata };
    const blockIds: string[] = [];
    let staging: Promise<unknown> | null = null;
    let parts: Buffer[] = [];
    let buffered = 0;
    let total = 0;
    // One block uploads while the next one is read; a failed one stops the reading.
    const stage = async (block: Buffer) => {
      const id = Buffer.from(`block-${String(blockIds.length).padStart(6, '0')}`).toString('base64');
      blockIds.push(id);
      await staging;
      staging = this.request(container, 'Put Block', (abortSignal) =>
        blob.stageBlock(id, block, block.length, { abortSignal }),
      );
      staging.catch(() => undefined);
    };
    const take = (n: number): Buffer => {
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, buffered);
      parts = all.length > n ? [all.subarray(n)] : [];
      buffered = all.length - Math.min(n, all.length);
      return all.subarray(0, n);
    };
    try {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        parts.push(buf);
        buffered += buf.length;
        total += buf.length;
        // Strictly over: a body of exactly SINGLE_PUT_MAX_BYTES is still one request.
        while (buffered > SINGLE_PUT_MAX_BYTES) await stage(take(SINGLE_PUT_MAX_BYTES));
      }
      if (blockIds.length === 0) {
        const whole = take(buffered);
        await this.request(container, 'Put Blob', (abortSignal) =>
          blob.upload(whole, whole.length, { ...headers, abortSignal }),
        );
        return total;
      }
      if (buffered > 0) await stage(take(buffered));
      await staging;
      await this.request(container, 'Put Block List', (abortSignal) =>
        blob.commitBlockList(blockIds, { ...headers, abortSignal }),
      );
      return total;
    } finally {
      // No request outlives the call, whatever ended it.
      await (staging as Promise<unknown> | null)?.catch(() => undefined);
    }
  }

  /** A stored recording's bytes (voicemail delivery: an attachment, a transcript). */
  async read(blobName: string, maxBytes: number): Promise<Buffer> {
    const container = await this.client();
    const blob = container.getBlockBlobClient(checkBlobName(blobName));
    const props = await this.timed('Get Blob Properties', (abortSignal) =>
      blob.getProperties({ abortSignal }),
    );
    if ((props.contentLength ?? 0) > maxBytes)
      throw new RangeError(`${blobName} is ${props.contentLength} bytes, over ${maxBytes}`);
    return this.timed('Get Blob', (abortSignal) => blob.downloadToBuffer(0, undefined, { abortSignal }));
  }

  /**
   * A read-only https link to one recording that expires at `expiresOn`: a shared-key SAS with
   * a connection string, a user delegation SAS (signed by Entra ID, at most 7 days) with an
   * identity-based connection. No account key is ever handed out.
   */
  async readLink(blobName: string, expiresOn: Date): Promise<string> {
    const { BlobSASPermissions, BlobServiceClient, StorageSharedKeyCredential } =
      await import('@azure/storage-blob');
    const container = await this.client();
    const blob = container.getBlobClient(checkBlobName(blobName));
    const permissions = BlobSASPermissions.parse('r');
    if (blob.credential instanceof StorageSharedKeyCredential)
      return blob.generateSasUrl({ permissions, expiresOn });
    const startsOn = new Date(Date.now() - 5 * 60_000); // clock skew
    // The account's URL is the container's without its last segment (Azurite keeps the account in the path).
    const service = new BlobServiceClient(container.url.replace(/\/[^/]*$/, ''), container.credential);
    const key = await this.timed('Get User Delegation Key', (abortSignal) =>
      service.getUserDelegationKey(startsOn, expiresOn, { abortSignal }),
    );
    return blob.generateUserDelegationSasUrl({ permissions, startsOn, expiresOn }, key);
  }

  async delete(blobName: string): Promise<void> {
    const container = await this.client();
    const blob = container.getBlockBlobClient(checkBlobName(blobName));
    try {
      await this.timed('Delete Blob', (abortSignal) => blob.deleteIfExists({ abortSignal }));
    } catch (err) {
      if (!isContainerNotFound(err)) throw err;
    }
  }

  /** One Blob operation with its timeout; a missing container is created and the operation tried once more. */
  private async request<T>(
    container: ContainerClient,
    what: string,
    op: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.timed(what, op);
    } catch (err) {
      if (!isContainerNotFound(err)) throw err;
    }
    await this.timed('Create Container', (abortSignal) => container.createIfNotExists({ abortSignal }));
    return this.timed(what, op);
  }

  private async timed<T>(what: string, op: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.requestTimeoutMs);
    try {
      return await op(signal);
    } catch (err) {
      if (signal.aborted)
        throw new Error(`Blob storage did not answer ${what} within ${this.requestTimeoutMs} ms`, {
          cause: err,
        });
      throw err;
    }
  }
}

/** An empty name would address the container itself. */
function checkBlobName(blobName: string): string {
  if (blobName.length === 0 || blobName.length > 1024 || blobName.endsWith('/'))
    throw new RangeError('a blob name is 1-1024 characters and does not end with /');
  return blobName;
}

function isContainerNotFound(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return e?.statusCode === 404 && (e.code ?? e.details?.errorCode) === 'ContainerNotFound';
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

/** URLs checkRecordingLocation passed with local development allowed keep that allowance in openRecording. */
const localDevUrls = new WeakSet<URL>();

/**
 * The synchronous check of a recording location: a URL, https (http only to a loopback host
 * when local development allows it), no credentials, and no literal IP address that is not
 * public. Names are checked again, on their addresses, when openRecording connects.
 */
export function checkRecordingLocation(location: string, allowLocalHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new DownloadError('recordingLocation is not a URL', false);
  }
  checkUrl(url, allowLocalHttp);
  if (allowLocalHttp) localDevUrls.add(url);
  return url;
}

/** Whether loopback addresses are allowed for this URL: local development, loopback host. */
function checkUrl(url: URL, allowLocalHttp: boolean): boolean {
  const local = allowLocalHttp && isLoopbackHost(url.hostname);
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && local)))
    throw new DownloadError(`recordingLocation must be https (got ${url.protocol}//${url.host})`, false);
  if (url.username || url.password)
    throw new DownloadError('recordingLocation must not carry credentials', false);
  const host = bareHost(url);
  if (isIP(host)) {
    const problem = addressProblem(host, local);
    if (problem) throw new DownloadError(`recordingLocation ${url.host} is ${problem}`, false);
  }
  return local;
}

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

export interface OpenRecordingOptions {
  /** Total time of one attempt: connect, response headers and the whole body (default 30 s). */
  deadlineMs?: number;
  /**
   * Local development (IVR_LOCAL_DEV_HTTP): http and https to loopback hosts (127/8, ::1,
   * localhost), nothing else private. Defaults to what checkRecordingLocation allowed for this URL.
   */
  allowLocalHttp?: boolean;
  /** Resolves the host name (the system resolver by default); every address it gives is checked. */
  lookup?: LookupFunction;
  /** Extra trust anchors for https (tests, local development). */
  ca?: string | Buffer;
}

export interface RecordingDownload {
  body: Readable;
  contentType: string;
  /** Ends the download at once (its connection closes); the body fails if still being read. */
  abort(): void;
}

/**
 * Starts a streamed download with the recording's own bearer token. The connection goes only
 * to checked public addresses, redirects are refused (the token must go nowhere else), the
 * body is capped at maxBytes and the attempt ends at the deadline. Errors are DownloadErrors
 * that say whether another attempt can help; none carries the token.
 */
export async function openRecording(
  url: URL,
  accessToken: string,
  maxBytes: number,
  options: OpenRecordingOptions = {},
): Promise<RecordingDownload> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw new RangeError(`maxBytes must be a positive integer (got ${maxBytes})`);
  const deadlineMs = positiveMs('deadlineMs', options.deadlineMs ?? 30_000);
  const allowLoopback = checkUrl(url, options.allowLocalHttp ?? localDevUrls.has(url));
  if (!/^[\x21-\x7e]+$/.test(accessToken))
    throw new DownloadError('recordingAccessToken is empty or has characters a header cannot carry', false);

  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({
      protocol: url.protocol,
      hostname: bareHost(url),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { authorization: `Bearer ${accessToken}` },
      // A fresh connection through our lookup: never a pooled socket opened without the check.
      agent: false,
      lookup: guardedLookup(options.lookup, allowLoopback),
      ...(options.ca ? { ca: options.ca } : {}),
    });
    let res: IncomingMessage | undefined;
    let body: Readable | undefined;
    let finished = false;
    const fail = (err: DownloadError) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      req.destroy();
      res?.destroy();
      if (body) body.destroy(err);
      else reject(err);
    };
    const deadline = setTimeout(
      () => fail(new DownloadError(`download did not finish within the ${deadlineMs} ms deadline`, true)),
      deadlineMs,
    );
    req.on('error', (err) => fail(toDownloadError(err)));
    req.on('response', (response) => {
      res = response;
      const status = response.statusCode ?? 0;
      if (status < 200 || status > 299) {
        // 401/403/404/410: the token or the recording is no longer valid; a redirect is refused.
        const redirect = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
        return fail(
          new DownloadError(
            `download answered ${status}${redirect}`,
            status >= 500 || status === 429 || status === 408,
          ),
        );
      }
      const declared = Number(response.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > maxBytes)
        return fail(
          new DownloadError(`recording is ${declared} bytes, over the ${maxBytes}-byte cap`, false),
        );
      let seen = 0;
      const onData = (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > maxBytes)
          return fail(new DownloadError(`recording is over the ${maxBytes}-byte cap`, false));
        if (!stream.push(chunk)) response.pause();
      };
      // The body flows only once it is read, so nothing fails before the caller holds it.
      const stream: Readable = new Readable({
        read: () => {
          if (response.listenerCount('data') === 0) response.on('data', onData);
          else response.resume();
        },
        destroy: (err, done) => {
          // The reader gave up (or abort()): close the connection too.
          if (!finished) {
            finished = true;
            clearTimeout(deadline);
            req.destroy();
            response.destroy();
          }
          done(err);
        },
      });
      body = stream;
      // A failure before the caller listens must not crash the process; readers (async
      // iteration, pipeline) still get the error from the stream's errored state.
      stream.on('error', () => undefined);
      response.on('end', () => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        stream.push(null);
      });
      response.on('error', (err) => fail(toDownloadError(err)));
      response.on('close', () =>
        fail(new DownloadError('the connection closed before the recording ended', true)),
      );
      resolve({
        body: stream,
        contentType: response.headers['content-type'] ?? 'application/octet-stream',
        abort: () => fail(new DownloadError('download aborted', false)),
      });
    });
    req.end();
  });
}

function toDownloadError(err: Error): DownloadError {
  if (err instanceof DownloadError) return err;
  if (err instanceof UnsafeAddressError)
    return new DownloadError(`recordingLocation is not allowed: ${err.message}`, false);
  // Connection refused or reset, DNS, TLS: the next attempt may fare better.
  return new DownloadError(`download failed: ${err.message}`, true);
}

function positiveMs(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 2_147_483_647)
    throw new RangeError(
      `${name} must be a whole number of milliseconds from 1 to 2147483647 (got ${value})`,
    );
  return value;
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
