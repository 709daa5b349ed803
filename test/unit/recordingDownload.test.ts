import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  createServer as createNetServer,
  type AddressInfo,
  type LookupFunction,
  type Socket,
} from 'node:net';
import tls from 'node:tls';
import {
  checkRecordingLocation,
  DownloadError,
  openRecording,
  wavDurationSeconds,
} from '../../shared/storage/recordingStore';
import { createTlsMaterial, type TlsMaterial } from '../../sim/tls';

/**
 * Real servers on loopback (plain, TLS, a silent one) and an injected resolver: what a
 * download may reach, and that a stalled, oversized or refused one ends and closes its socket.
 */

const TOKEN = 'rec-token-SECRET-7f3a';

let material: TlsMaterial;
let plain: Server;
let plainBase: string;
let secure: Server;
let securePort: number;
let secureHits = 0;
let pinned: Server;
let pinnedPort: number;
const pinnedLocalAddresses: string[] = [];
let thief: Server;
let thiefBase: string;
let thiefHits = 0;
let silent: ReturnType<typeof createNetServer>;
let silentPort: number;
const silentSockets: Socket[] = [];
const silentClosed: Array<Promise<void>> = [];
/** Per path, the server side of the last request's socket closing. */
const socketClosed = new Map<string, Promise<void>>();

function routes(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  socketClosed.set(path, new Promise((ok) => req.socket.once('close', () => ok())));
  if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
  const status = /^\/status\/(\d+)$/.exec(path);
  if (status) return void res.writeHead(Number(status[1])).end();
  if (path === '/declared-big') {
    res.writeHead(200, { 'content-length': String(4096) });
    return void res.end(Buffer.alloc(4096));
  }
  if (path === '/chunked-big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (let i = 0; i < 8; i++) res.write(Buffer.alloc(1024));
    return void res.end();
  }
  if (path === '/redirect') return void res.writeHead(302, { location: `${thiefBase}/steal` }).end();
  if (path === '/no-headers') return; // accepts the request, never answers
  if (path === '/trickle-over' || path === '/trickle-stall') {
    // Many small chunks, each far under the cap, then a stall with the response still open.
    res.writeHead(200, { 'content-type': 'audio/wav' });
    const [count, size] = path === '/trickle-over' ? [64, 1024] : [10, 100];
    let sent = 0;
    const next = () => {
      if (sent++ < count && !res.destroyed) res.write(Buffer.alloc(size, 7), () => setImmediate(next));
    };
    return next();
  }
  if (path === '/drop') {
    res.writeHead(200, { 'content-length': '1000' });
    return void res.write(Buffer.alloc(100), () => req.socket.destroy());
  }
  res.writeHead(200, { 'content-type': 'audio/wav' });
  res.end(Buffer.alloc(512, 1));
}

function listen(
  server: { listen(port: number, host: string, cb: () => void): unknown; address(): unknown },
  host = '127.0.0.1',
) {
  return new Promise<number>((ok) =>
    server.listen(0, host, () => ok((server.address() as AddressInfo).port)),
  );
}

beforeAll(async () => {
  material = await createTlsMaterial();
  plain = createServer(routes);
  plainBase = `http://127.0.0.1:${await listen(plain)}`;
  secure = createHttpsServer({ key: material.key, cert: material.cert }, (req, res) => {
    secureHits++;
    routes(req, res);
  });
  secure.on('connection', () => secureHits++);
  securePort = await listen(secure);
  pinned = createHttpsServer({ key: material.key, cert: material.cert }, (req, res) => {
    pinnedLocalAddresses.push(req.socket.localAddress ?? '');
    routes(req, res);
  });
  pinnedPort = await listen(pinned, '127.0.0.2');
  thief = createServer((_req, res) => {
    thiefHits++;
    res.end();
  });
  thiefBase = `http://127.0.0.1:${await listen(thief)}`;
  silent = createNetServer((socket: Socket) => {
    // Reads (so it sees the client leave) and never answers: a TLS handshake that never ends.
    silentSockets.push(socket);
    silentClosed.push(new Promise((ok) => socket.once('close', () => ok())));
    socket.resume();
  });
  silentPort = await listen(silent);
});
afterAll(async () => {
  for (const socket of silentSockets) socket.destroy();
  for (const s of [plain, secure, pinned, thief, silent]) {
    (s as Server).closeAllConnections?.();
    await new Promise<void>((ok) => s.close(() => ok()));
  }
  await material.dispose();
});

/** Every connection attempt a TLS socket makes, whichever request made it. */
const attempts: string[] = [];
beforeAll(() => {
  const original = tls.connect;
  jest.spyOn(tls, 'connect').mockImplementation(((...args: unknown[]) => {
    const socket = (original as (...a: unknown[]) => tls.TLSSocket)(...args);
    socket.on('connectionAttempt', (ip: string, port: number) => attempts.push(`${ip}:${port}`));
    return socket;
  }) as typeof tls.connect);
});
afterAll(() => jest.restoreAllMocks());
beforeEach(() => {
  attempts.length = 0;
  secureHits = 0;
  thiefHits = 0;
});

/** A resolver with fixed answers, answering later as a real one does. */
function resolver(answers: Record<string, string[]>): LookupFunction & { calls: string[] } {
  const calls: string[] = [];
  const fn: LookupFunction = (hostname, _options, callback) => {
    calls.push(hostname);
    const list = answers[hostname] ?? [];
    setImmediate(() =>
      callback(
        null,
        list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      ),
    );
  };
  return Object.assign(fn, { calls });
}

async function drain(stream: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) n += c.length;
  return n;
}

async function failure(p: Promise<unknown>): Promise<DownloadError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DownloadError);
  expect((err as Error).message).not.toContain(TOKEN);
  return err as DownloadError;
}

const local = { allowLocalHttp: true };

describe('the location check before connecting', () => {
  test('only https locations are fetched, http only on loopback when allowed', () => {
    expect(checkRecordingLocation('https://files.example.com/a', false).hostname).toBe('files.example.com');
    expect(() => checkRecordingLocation('http://files.example.com/a', true)).toThrow(/must be https/);
    expect(() => checkRecordingLocation('http://127.0.0.1/a', false)).toThrow(/must be https/);
    expect(checkRecordingLocation('http://127.0.0.1/a', true).protocol).toBe('http:');
    expect(checkRecordingLocation('http://localhost:8080/a', true).protocol).toBe('http:');
    expect(checkRecordingLocation('https://[::1]/a', true).protocol).toBe('https:');
    expect(() => checkRecordingLocation('http://10.0.0.5/a', true)).toThrow(/must be https/);
    expect(() => checkRecordingLocation('file:///etc/passwd', true)).toThrow(DownloadError);
    expect(() => checkRecordingLocation('not a url', true)).toThrow(/not a URL/);
    expect(() => checkRecordingLocation('https://user:pw@files.example.com/a', false)).toThrow(/credentials/);
  });

  test('literal IP hosts that are not public are refused, however they are written', () => {
    const cases: Array<[string, RegExp]> = [
      ['https://10.0.0.1/r.wav', /10\.0\.0\.1 is a private address/],
      ['https://169.254.169.254/latest/meta-data', /metadata/],
      ['https://[fd00:ec2::254]/latest', /metadata/],
      ['https://[::ffff:10.0.0.1]/r.wav', /private address \(IPv4-mapped\)/],
      ['https://[fe80::1]/r.wav', /link-local/],
      ['https://100.64.1.2/r.wav', /CGNAT/],
      ['https://0.0.0.0/r.wav', /unspecified/],
      ['https://0x7f.1/r.wav', /127\.0\.0\.1 is a loopback address/],
      ['https://2130706433/r.wav', /loopback/],
      ['https://127.0.0.1/r.wav', /loopback/],
      ['https://[::1]/r.wav', /loopback/],
    ];
    for (const [location, reason] of cases) {
      let err: unknown;
      try {
        checkRecordingLocation(location, false);
      } catch (e) {
        err = e;
      }
      expect([location, err instanceof DownloadError && !err.retryable, (err as Error).message]).toEqual([
        location,
        true,
        expect.stringMatching(reason),
      ]);
    }
    // Local development allows loopback, nothing else private.
    expect(() => checkRecordingLocation('https://10.0.0.1/r.wav', true)).toThrow(/private/);
    expect(() => checkRecordingLocation('https://169.254.169.254/r.wav', true)).toThrow(/metadata/);
  });

  test('openRecording checks the URL itself, so a URL that skipped the check is refused too', async () => {
    for (const location of ['https://10.0.0.1/r', 'https://[::ffff:a9fe:a9fe]/r', `${plainBase}/ok`]) {
      const err = await failure(openRecording(new URL(location), TOKEN, 1024));
      expect(err.retryable).toBe(false);
    }
    expect(attempts).toEqual([]);
  });
});

describe('addresses checked after resolution, and the one checked is the one connected to', () => {
  test.each([
    ['10.0.0.5', 'a private address'],
    ['169.254.169.254', 'a cloud metadata address'],
    ['fe80::1', 'a link-local address'],
    ['::ffff:127.0.0.1', 'a loopback address (IPv4-mapped)'],
    ['172.20.0.1', 'a private address'],
    ['192.168.10.10', 'a private address'],
    ['100.100.100.200', 'a shared (CGNAT) address'],
    ['fd00:ec2::254', 'a cloud metadata address'],
    ['fc00::5', 'a unique-local address'],
    ['127.0.0.1', 'a loopback address'],
  ])('a name resolving to %s is refused without any connection attempt', async (address, reason) => {
    const lookup = resolver({ 'recordings.example.com': [address] });
    const err = await failure(
      openRecording(new URL(`https://recordings.example.com:${securePort}/ok`), TOKEN, 1024, {
        lookup,
        ca: material.cert,
      }),
    );
    expect([err.message, err.retryable]).toEqual([
      `recordingLocation is not allowed: recordings.example.com resolves to ${address}, ${reason}`,
      false,
    ]);
    expect(lookup.calls).toEqual(['recordings.example.com']);
    expect(attempts).toEqual([]);
    expect(secureHits).toBe(0);
  });

  test('one bad address among good ones refuses the name', async () => {
    const lookup = resolver({ 'recordings.example.com': ['52.114.0.1', '10.0.0.5'] });
    const err = await failure(
      openRecording(new URL('https://recordings.example.com/r.wav'), TOKEN, 1024, { lookup }),
    );
    expect(err.message).toMatch(/resolves to 10\.0\.0\.5/);
    expect(attempts).toEqual([]);
  });

  test('local development allows a loopback host to resolve to loopback, and nothing else', async () => {
    const lookup = resolver({
      'recordings.example.com': ['127.0.0.1'],
      localhost: ['127.0.0.1', '10.0.0.5'],
    });
    const named = await failure(
      openRecording(new URL(`https://recordings.example.com:${securePort}/ok`), TOKEN, 1024, {
        ...local,
        lookup,
        ca: material.cert,
      }),
    );
    expect(named.message).toMatch(/resolves to 127\.0\.0\.1, a loopback address/);
    const mixed = await failure(
      openRecording(new URL(`https://localhost:${securePort}/ok`), TOKEN, 1024, {
        ...local,
        lookup,
        ca: material.cert,
      }),
    );
    expect(mixed.message).toMatch(/resolves to 10\.0\.0\.5, a private address/);
    expect(attempts).toEqual([]);
  });

  test('https to a loopback host is refused unless local development allows it', async () => {
    const lookup = resolver({ localhost: ['127.0.0.1'] });
    const url = new URL(`https://localhost:${securePort}/ok`);
    const refused = await failure(openRecording(url, TOKEN, 1024, { lookup, ca: material.cert }));
    expect([refused.message, refused.retryable]).toEqual([
      'recordingLocation is not allowed: localhost resolves to 127.0.0.1, a loopback address',
      false,
    ]);
    expect(attempts).toEqual([]);
    const { body, contentType } = await openRecording(url, TOKEN, 1024, {
      ...local,
      lookup,
      ca: material.cert,
    });
    expect([contentType, await drain(body)]).toEqual(['audio/wav', 512]);
    expect(attempts).toEqual([`127.0.0.1:${securePort}`]);
  });

  test('the socket connects to the address the lookup checked, resolved once', async () => {
    // localhost is 127.0.0.1 to the system; the checked answer says 127.0.0.2, where the server is.
    const lookup = resolver({ localhost: ['127.0.0.2'] });
    pinnedLocalAddresses.length = 0;
    const { body } = await openRecording(new URL(`https://localhost:${pinnedPort}/ok`), TOKEN, 1024, {
      ...local,
      lookup,
      ca: material.cert,
    });
    expect(await drain(body)).toBe(512);
    expect(pinnedLocalAddresses).toEqual(['127.0.0.2']);
    expect(attempts).toEqual([`127.0.0.2:${pinnedPort}`]);
    expect(lookup.calls).toEqual(['localhost']);
  });

  test('a redirect is refused and its target never sees the token', async () => {
    const err = await failure(openRecording(new URL(`${plainBase}/redirect`), TOKEN, 1024, local));
    expect([err.message, err.retryable]).toEqual([
      'download answered 302 (redirects are not followed)',
      false,
    ]);
    expect(thiefHits).toBe(0);
  });
});

describe('a download streams the recording with its token', () => {
  test('over http on loopback in local development', async () => {
    const { body, contentType } = await openRecording(new URL(`${plainBase}/ok`), TOKEN, 1024, local);
    expect(contentType).toBe('audio/wav');
    expect(await drain(body)).toBe(512);
  });

  test('a URL checked with local development allowed keeps that allowance (the old call shape)', async () => {
    const url = checkRecordingLocation(`${plainBase}/ok`, true);
    expect(await drain((await openRecording(url, TOKEN, 1024)).body)).toBe(512);
    const unchecked = await failure(openRecording(new URL(`${plainBase}/ok`), TOKEN, 1024));
    expect(unchecked.message).toMatch(/must be https/);
  });

  test('a token a header cannot carry is refused before connecting, and not repeated', async () => {
    for (const token of ['', 'abc\r\nx-evil: 1', 'two words']) {
      const err = await failure(openRecording(new URL(`${plainBase}/ok`), token, 1024, local));
      expect([err.message, err.retryable]).toEqual([
        'recordingAccessToken is empty or has characters a header cannot carry',
        false,
      ]);
    }
  });

  test('bad limits are programming errors', async () => {
    await expect(openRecording(new URL(`${plainBase}/ok`), TOKEN, 0, local)).rejects.toThrow(RangeError);
    await expect(openRecording(new URL(`${plainBase}/ok`), TOKEN, 1.5, local)).rejects.toThrow(RangeError);
    await expect(
      openRecording(new URL(`${plainBase}/ok`), TOKEN, 1024, { ...local, deadlineMs: -1 }),
    ).rejects.toThrow(/deadlineMs must be/);
  });
});

describe('statuses and failures say whether another attempt can help', () => {
  test.each([
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [408, true],
    [429, true],
    [401, false],
    [403, false],
    [404, false],
    [410, false],
    [400, false],
  ])('%i: retryable %s', async (status, retryable) => {
    const err = await failure(openRecording(new URL(`${plainBase}/status/${status}`), TOKEN, 1024, local));
    expect([err.message, err.retryable]).toEqual([`download answered ${status}`, retryable]);
  });

  test('a refused token is final', async () => {
    const refused = await failure(openRecording(new URL(`${plainBase}/ok`), 'wrong', 1024, local));
    expect([refused.message, refused.retryable]).toEqual(['download answered 401', false]);
  });

  test('a refused connection is retryable', async () => {
    const closed = createNetServer();
    const port = await listen(closed);
    await new Promise<void>((ok) => closed.close(() => ok()));
    const err = await failure(openRecording(new URL(`http://127.0.0.1:${port}/ok`), TOKEN, 1024, local));
    expect([err.message, err.retryable]).toEqual([expect.stringMatching(/ECONNREFUSED/), true]);
  });

  test('a connection dropped in the middle of the body fails the body, retryable', async () => {
    const { body } = await openRecording(new URL(`${plainBase}/drop`), TOKEN, 4096, local);
    const err = await failure(drain(body));
    expect(err.retryable).toBe(true);
  });
});

describe('a download is bounded in size and time, and closes its connection when it stops', () => {
  test('a declared size over the cap is refused before reading, and not retried', async () => {
    const err = await failure(openRecording(new URL(`${plainBase}/declared-big`), TOKEN, 1024, local));
    expect([err.message, err.retryable]).toEqual(['recording is 4096 bytes, over the 1024-byte cap', false]);
    await socketClosed.get('/declared-big');
  });

  test('a chunked body over the cap fails while streaming', async () => {
    const { body } = await openRecording(new URL(`${plainBase}/chunked-big`), TOKEN, 4096, local);
    await expect(drain(body)).rejects.toThrow(/over the 4096-byte cap/);
  });

  test('small chunks add up to the cap: the response is destroyed and the socket closed', async () => {
    const { body } = await openRecording(new URL(`${plainBase}/trickle-over`), TOKEN, 4096, {
      ...local,
      deadlineMs: 60_000,
    });
    const err = await failure(drain(body));
    expect([err.message, err.retryable]).toEqual(['recording is over the 4096-byte cap', false]);
    await socketClosed.get('/trickle-over');
  });

  test('a body that stalls under the cap ends at the deadline and its socket is closed', async () => {
    const { body } = await openRecording(new URL(`${plainBase}/trickle-stall`), TOKEN, 4096, {
      ...local,
      deadlineMs: 300,
    });
    const err = await failure(drain(body));
    expect([err.message, err.retryable]).toEqual([
      'download did not finish within the 300 ms deadline',
      true,
    ]);
    await socketClosed.get('/trickle-stall');
  });

  test('response headers that never come end at the deadline', async () => {
    const err = await failure(
      openRecording(new URL(`${plainBase}/no-headers`), TOKEN, 4096, { ...local, deadlineMs: 300 }),
    );
    expect([err.message, err.retryable]).toEqual([
      'download did not finish within the 300 ms deadline',
      true,
    ]);
    await socketClosed.get('/no-headers');
  });

  test('a TLS handshake that never completes ends at the deadline', async () => {
    const lookup = resolver({ localhost: ['127.0.0.1'] });
    const err = await failure(
      openRecording(new URL(`https://localhost:${silentPort}/ok`), TOKEN, 4096, {
        ...local,
        lookup,
        deadlineMs: 300,
      }),
    );
    expect([err.message, err.retryable]).toEqual([
      'download did not finish within the 300 ms deadline',
      true,
    ]);
    expect(silentClosed).toHaveLength(1);
    await silentClosed[0];
  });

  test('abort() ends a download in progress and closes its socket', async () => {
    const download = await openRecording(new URL(`${plainBase}/trickle-stall`), TOKEN, 4096, local);
    const reading = failure(drain(download.body));
    download.abort();
    expect((await reading).message).toBe('download aborted');
    await socketClosed.get('/trickle-stall');
  });

  test('a deadline that passes before anyone reads fails the body for its later reader', async () => {
    const { body } = await openRecording(new URL(`${plainBase}/trickle-stall`), TOKEN, 4096, {
      ...local,
      deadlineMs: 200,
    });
    await socketClosed.get('/trickle-stall');
    const err = await failure(drain(body));
    expect(err.message).toBe('download did not finish within the 200 ms deadline');
  });

  test('a reader that gives up closes the socket', async () => {
    const { body } = await openRecording(new URL(`${plainBase}/trickle-stall`), TOKEN, 4096, local);
    body.destroy();
    await socketClosed.get('/trickle-stall');
  });
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
