import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { HttpTimeoutError, KeepAliveTransport, targetOf } from '../../shared/graph/transport';

/**
 * The keep-alive transport under GraphClient, against servers on loopback: where a request goes,
 * what it carries, how the answer comes back, the pool, and the whole-exchange timeout.
 */

const listen = async <S extends Server | TcpServer>(server: S): Promise<number> => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return (server.address() as AddressInfo).port;
};
const close = (server: Server | TcpServer) => new Promise<void>((ok) => server.close(() => ok()));

describe('targetOf', () => {
  test('the default port of each scheme, or the one given; path and query kept', () => {
    expect(targetOf(new URL('https://graph.microsoft.com/v1.0/communications?x=1#frag'))).toEqual({
      secure: true,
      host: 'graph.microsoft.com',
      port: 443,
      path: '/v1.0/communications?x=1',
    });
    expect(targetOf(new URL('http://localhost/v1.0'))).toEqual({
      secure: false,
      host: 'localhost',
      port: 80,
      path: '/v1.0',
    });
    expect(targetOf(new URL('http://127.0.0.1:8080/'))).toMatchObject({ port: 8080, path: '/' });
    expect(targetOf(new URL('https://h:8443'))).toMatchObject({ secure: true, port: 8443 });
  });

  test('an IPv6 host loses its brackets (node connects to the bare address)', () => {
    expect(targetOf(new URL('http://[::1]:9000/x')).host).toBe('::1');
    expect(targetOf(new URL('https://[2001:db8::7]/')).host).toBe('2001:db8::7');
  });
});

test('a timeout names its duration and reads as TimeoutError', () => {
  const err = new HttpTimeoutError(250);
  expect([err.name, err.message]).toEqual(['TimeoutError', 'no complete answer within 250 ms']);
  expect(err).toBeInstanceOf(Error);
});

describe('send over http', () => {
  let server: Server;
  let port: number;
  let seen: Array<{
    method?: string;
    url?: string;
    headers: IncomingMessage['headers'];
    body: string;
    socket: number;
  }>;
  const sockets = new Map<Socket, number>();
  let answer: (res: import('node:http').ServerResponse) => void;

  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size + 1);
        seen.push({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body,
          socket: sockets.get(req.socket)!,
        });
        answer(res);
      });
    });
    port = await listen(server);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await close(server);
  });
  beforeEach(() => {
    seen = [];
    sockets.clear();
    answer = (res) => res.end();
  });

  test('the method, path, headers and a body with its byte length reach the server', async () => {
    const t = new KeepAliveTransport();
    try {
      await t.send(
        'POST',
        new URL(`http://127.0.0.1:${port}/v1.0/x?y=1`),
        { 'x-test': 'a' },
        '{"é":"😀"}',
        2000,
      );
      expect(seen).toEqual([
        expect.objectContaining({ method: 'POST', url: '/v1.0/x?y=1', body: '{"é":"😀"}' }),
      ]);
      expect(seen[0]!.headers).toMatchObject({ 'x-test': 'a', 'content-length': '13' });
    } finally {
      t.close();
    }
  });

  test('without a body no content-length is sent', async () => {
    const t = new KeepAliveTransport();
    try {
      await t.send('DELETE', { secure: false, host: '127.0.0.1', port, path: '/c' }, {}, undefined, 2000);
      expect(seen[0]).toMatchObject({ method: 'DELETE', url: '/c', body: '' });
      expect(seen[0]!.headers['content-length']).toBeUndefined();
    } finally {
      t.close();
    }
  });

  test('the answer: status, headers and the whole body across chunks, decoded as UTF-8', async () => {
    answer = (res) => {
      res.writeHead(207, { location: 'https://graph/x' });
      const bytes = Buffer.from('héllo 😀');
      // Split inside the multi-byte characters: decoding per chunk would garble them.
      res.write(bytes.subarray(0, 2));
      res.write(bytes.subarray(2, 9));
      res.end(bytes.subarray(9));
    };
    const t = new KeepAliveTransport();
    try {
      const reply = await t.send('GET', new URL(`http://127.0.0.1:${port}/`), {}, undefined, 2000);
      expect([reply.status, reply.headers.location, reply.text]).toEqual([
        207,
        'https://graph/x',
        'héllo 😀',
      ]);
    } finally {
      t.close();
    }
  });

  test('sequential requests reuse one kept-alive connection', async () => {
    const t = new KeepAliveTransport();
    try {
      for (let i = 0; i < 3; i++)
        await t.send('GET', new URL(`http://127.0.0.1:${port}/${i}`), {}, undefined, 2000);
      expect(seen.map((s) => s.socket)).toEqual([1, 1, 1]);
    } finally {
      t.close();
    }
  });

  test('concurrent requests beyond maxSockets wait for a free connection', async () => {
    const t = new KeepAliveTransport({ maxSockets: 1 });
    try {
      const url = new URL(`http://127.0.0.1:${port}/`);
      await Promise.all([1, 2, 3].map(() => t.send('GET', url, {}, undefined, 2000)));
      expect(seen.map((s) => s.socket)).toEqual([1, 1, 1]);
    } finally {
      t.close();
    }
  });

  test('by default, concurrent requests each get a connection', async () => {
    const held: Array<() => void> = [];
    answer = (res) => held.push(() => res.end());
    const t = new KeepAliveTransport();
    try {
      const url = new URL(`http://127.0.0.1:${port}/`);
      const all = Promise.all([1, 2, 3].map(() => t.send('GET', url, {}, undefined, 2000)));
      while (held.length < 3) await new Promise((r) => setImmediate(r));
      held.forEach((release) => release());
      await all;
      expect(seen.map((s) => s.socket).sort()).toEqual([1, 2, 3]);
    } finally {
      t.close();
    }
  });

  test('close ends the kept-alive connections', async () => {
    const t = new KeepAliveTransport();
    await t.send('GET', new URL(`http://127.0.0.1:${port}/`), {}, undefined, 2000);
    const [socket] = [...sockets.keys()];
    const closed = new Promise<void>((ok) => socket!.once('close', () => ok()));
    expect(socket!.destroyed).toBe(false);
    t.close();
    await closed;
    expect(socket!.destroyed).toBe(true);
  });

  test('an answer that stalls mid-body fails with a timeout', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    };
    const t = new KeepAliveTransport();
    try {
      const err = (await t
        .send('GET', new URL(`http://127.0.0.1:${port}/`), {}, undefined, 50)
        .catch((e) => e)) as Error;
      expect(err).toBeInstanceOf(HttpTimeoutError);
      expect(err.message).toBe('no complete answer within 50 ms');
    } finally {
      t.close();
    }
  });

  test('a connection cut mid-answer fails the request', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345', () => res.socket?.destroy());
    };
    const t = new KeepAliveTransport();
    try {
      await expect(t.send('GET', new URL(`http://127.0.0.1:${port}/`), {}, undefined, 5000)).rejects.toThrow(
        /aborted|socket hang up|ECONNRESET/,
      );
    } finally {
      t.close();
    }
  });
});

test('a refused connection fails the request', async () => {
  const probe = createTcpServer();
  const port = await listen(probe);
  await close(probe);
  const t = new KeepAliveTransport();
  try {
    await expect(
      t.send('GET', new URL(`http://127.0.0.1:${port}/`), {}, undefined, 2000),
    ).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  } finally {
    t.close();
  }
});

test('an https target opens TLS (its first bytes are a handshake record), an http one does not', async () => {
  const first: number[] = [];
  const raw = createTcpServer((socket) => {
    socket.once('data', (chunk: Buffer) => {
      first.push(chunk[0]!);
      socket.destroy();
    });
  });
  const port = await listen(raw);
  const t = new KeepAliveTransport();
  try {
    await expect(
      t.send('GET', { secure: true, host: '127.0.0.1', port, path: '/' }, {}, undefined, 2000),
    ).rejects.toThrow();
    await expect(
      t.send('GET', { secure: false, host: '127.0.0.1', port, path: '/' }, {}, undefined, 2000),
    ).rejects.toThrow();
    // 0x16: a TLS handshake record; 0x47: the "G" of "GET".
    expect(first).toEqual([0x16, 0x47]);
  } finally {
    t.close();
    await close(raw);
  }
});
