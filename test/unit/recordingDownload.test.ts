import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkRecordingLocation,
  DownloadError,
  openRecording,
  wavDurationSeconds,
} from '../../shared/storage/recordingStore';

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer t') return void res.writeHead(401).end();
    if (req.url === '/declared-big') {
      res.writeHead(200, { 'content-length': String(4096) });
      return void res.end(Buffer.alloc(4096));
    }
    if (req.url === '/chunked-big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 8; i++) res.write(Buffer.alloc(1024));
      return void res.end();
    }
    if (req.url === '/redirect')
      return void res.writeHead(302, { location: 'http://127.0.0.1:1/steal' }).end();
    res.writeHead(200, { 'content-type': 'audio/wav' });
    res.end(Buffer.alloc(512, 1));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

async function drain(stream: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) n += c.length;
  return n;
}

test('only https locations are fetched, http only on loopback when allowed', () => {
  expect(checkRecordingLocation('https://files.example.com/a', false).hostname).toBe('files.example.com');
  expect(() => checkRecordingLocation('http://files.example.com/a', true)).toThrow(/must be https/);
  expect(() => checkRecordingLocation('http://127.0.0.1/a', false)).toThrow(/must be https/);
  expect(checkRecordingLocation('http://127.0.0.1/a', true).protocol).toBe('http:');
  expect(() => checkRecordingLocation('file:///etc/passwd', true)).toThrow(DownloadError);
  expect(() => checkRecordingLocation('not a url', true)).toThrow(/not a URL/);
});

test('streams a download with the recording token', async () => {
  const { body, contentType } = await openRecording(new URL(`${base}/ok`), 't', 1024);
  expect(contentType).toBe('audio/wav');
  expect(await drain(body)).toBe(512);
});

test('a declared size over the cap is refused before reading, and not retried', async () => {
  const err = (await openRecording(new URL(`${base}/declared-big`), 't', 1024).catch(
    (e) => e,
  )) as DownloadError;
  expect(err).toBeInstanceOf(DownloadError);
  expect(err.retryable).toBe(false);
});

test('a chunked body over the cap fails while streaming', async () => {
  const { body } = await openRecording(new URL(`${base}/chunked-big`), 't', 4096);
  await expect(drain(body)).rejects.toThrow(/over the 4096-byte cap/);
});

test('a refused token is final; redirects are not followed with the token', async () => {
  const refused = (await openRecording(new URL(`${base}/ok`), 'wrong', 1024).catch(
    (e) => e,
  )) as DownloadError;
  expect([refused.message, refused.retryable]).toEqual(['download answered 401', false]);
  await expect(openRecording(new URL(`${base}/redirect`), 't', 1024)).rejects.toBeInstanceOf(DownloadError);
});

test('WAV duration from the header', () => {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt32LE(32000, 28);
  h.write('data', 36);
  h.writeUInt32LE(32000 * 5, 40);
  expect(wavDurationSeconds(h)).toBe(5);
  expect(wavDurationSeconds(Buffer.from('not a wav'))).toBeNull();
});
