import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

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
    const common = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 64,
      maxFreeSockets: 16,
      scheduling: 'lifo' as const,
    };
    this.https = new HttpsAgent(common);
    this.http = new HttpAgent(common);
  }

  send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<HttpReply> {
    const secure = url.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    return new Promise<HttpReply>((resolve, reject) => {
      const req = send(
        url,
        {
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
      }, timeoutMs);
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
