import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';

/**
 * HTTP for Graph on node's own client: one keep-alive agent per scheme with a bounded pool,
 * so a burst of calls reuses a handful of TLS connections instead of opening one each, and
 * a timeout that covers the whole exchange (connect, headers, body).
 */

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Where a request goes, taken apart once: parsing a URL per request costs on the hot path. */
export interface Target {
  secure: boolean;
  host: string;
  port: number;
  path: string;
}

export function targetOf(url: URL): Target {
  const secure = url.protocol === 'https:';
  return {
    secure,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    path: `${url.pathname}${url.search}`,
  };
}

export class HttpTimeoutError extends Error {
  constructor(ms: number) {
    super(`no complete answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

export interface TransportOptions {
  /** Sockets per host at most; further requests queue for a free one. */
  maxSockets?: number;
}

export class KeepAliveTransport {
  private readonly https: HttpsAgent;
  private readonly http: HttpAgent;

  constructor(options: TransportOptions = {}) {
    const maxSockets = options.maxSockets ?? 64;
    // Idle sockets are kept (up to the pool size), so the next burst pays no new handshakes.
    const common = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
    // One TLS context for all connections: building one (loading the CA store) costs milliseconds.
    this.https = new HttpsAgent({ ...common, secureContext: createSecureContext() });
    this.http = new HttpAgent(common);
  }

  send(
    method: string,
    url: URL | Target,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<HttpReply> {
    const target = url instanceof URL ? targetOf(url) : url;
    const secure = target.secure;
    const send = secure ? httpsRequest : httpRequest;
    return new Promise<HttpReply>((resolve, reject) => {
      const req = send(
        {
          host: target.host,
          port: target.port,
          path: target.path,
          method,
          agent: secure ? this.https : this.http,
          headers:
            body !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
          res.on('error', fail);
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new HttpTimeoutError(timeoutMs));
      }, timeoutMs).unref(); // the request keeps the process alive, not its timer
      function fail(err: Error) {
        clearTimeout(timer);
        reject(err);
      }
      req.on('error', fail);
      req.end(body);
    });
  }

  close(): void {
    this.https.destroy();
    this.http.destroy();
  }
}
