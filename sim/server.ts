import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** One HTTP request as the simulator's routes see it (same on the http and https servers). */
export interface RequestContext {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** "http://127.0.0.1:1234" or "https://…": discovery documents point back at the server asked. */
  origin: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON. */
  body?: string | Buffer | object;
  /** Close the connection without answering (a scripted endpoint's dropped connection). */
  drop?: boolean;
}

export interface Route {
  method: string;
  /** Matched against the path; capture groups are passed to `handle`. */
  path: RegExp;
  /** When present, the route only takes the requests it accepts (scripted endpoints, by Host). */
  accepts?(ctx: RequestContext): boolean;
  handle(ctx: RequestContext, match: RegExpMatchArray): Reply | Promise<Reply>;
}

export interface Servers {
  httpUrl: string;
  httpsUrl: string;
  close(): Promise<void>;
}

// sendMail bodies carry attachments (Graph refuses over 4 MB itself) and Speech takes whole recordings.
const MAX_BODY_BYTES = 20 * 1024 * 1024;

/** Starts the http and https servers, both serving `routes`. Port 0 picks a free port. */
export async function startServers(
  routes: Route[],
  tls: { key: string; cert: string },
  listen: { host: string; httpPort: number; httpsPort: number },
): Promise<Servers> {
  const handler = (req: IncomingMessage, res: ServerResponse) => void dispatch(routes, req, res);
  const http = createHttpServer(handler);
  const https = createHttpsServer({ key: tls.key, cert: tls.cert }, handler);
  const [httpPort, httpsPort] = await Promise.all([
    listenOn(http, listen.host, listen.httpPort),
    listenOn(https, listen.host, listen.httpsPort),
  ]);
  const hostInUrl = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    httpUrl: `http://${hostInUrl}:${httpPort}`,
    httpsUrl: `https://${hostInUrl}:${httpsPort}`,
    close: async () => {
      await Promise.all(
        [http, https].map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}

function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

async function dispatch(routes: Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  let reply: Reply;
  try {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const secure = (req.socket as TLSSocket).encrypted === true;
    const ctx: RequestContext = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
      origin: `${secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`,
    };
    reply = await route(routes, ctx);
  } catch (e) {
    reply = {
      status: e instanceof BodyTooLarge ? 413 : 500,
      body: {
        error: {
          code: e instanceof BodyTooLarge ? 'RequestEntityTooLarge' : 'InternalServerError',
          message: String(e),
        },
      },
    };
  }
  if (reply.drop) {
    req.socket.destroy();
    return;
  }
  const isJson = reply.body !== undefined && typeof reply.body === 'object' && !Buffer.isBuffer(reply.body);
  const payload = isJson ? JSON.stringify(reply.body) : reply.body;
  res.writeHead(reply.status, {
    ...(isJson ? { 'content-type': 'application/json' } : {}),
    ...reply.headers,
  });
  res.end(payload);
}

function route(routes: Route[], ctx: RequestContext): Reply | Promise<Reply> {
  let pathMatched = false;
  for (const r of routes) {
    if (r.accepts && !r.accepts(ctx)) continue;
    const match = ctx.path.match(r.path);
    if (!match) continue;
    pathMatched = true;
    if (r.method === ctx.method) return r.handle(ctx, match);
  }
  return pathMatched
    ? {
        status: 405,
        body: {
          error: { code: 'MethodNotAllowed', message: `${ctx.method} is not allowed on ${ctx.path}.` },
        },
      }
    : {
        status: 404,
        body: { error: { code: 'NotFound', message: `The simulator has nothing at ${ctx.path}.` } },
      };
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The token of an `Authorization: Bearer …` header. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '');
  return match?.[1];
}
