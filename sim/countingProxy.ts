import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A counting HTTP proxy in front of a storage emulator's table, queue and blob endpoints:
 * each request is forwarded unchanged to the service's real port and counted as a read
 * (GET, HEAD) or a write (anything else; a `$batch` POST is one request, so one write).
 * Queue polls (GET …/messages, which a queue-triggered host sends all the time) are counted
 * apart so they do not drown the figures of the work under test.
 */

export type StorageService = 'table' | 'queue' | 'blob';
export const STORAGE_SERVICES: readonly StorageService[] = ['table', 'queue', 'blob'];

export interface StorageRequest {
  service: StorageService;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query parameter names (values dropped), e.g. `comp`, `restype`. */
  query: string[];
  kind: 'read' | 'write' | 'poll';
  status: number;
  /** performance.now() when the request arrived. */
  at: number;
}

export interface Tally {
  reads: number;
  writes: number;
  polls: number;
}

export interface CountingProxy {
  /** The connection string to give the code under test (same account and key, the proxy's ports). */
  connectionString: string;
  requests: StorageRequest[];
  /** performance.now() of the last request that was not a queue poll. */
  lastActivity(): number;
  /** Counts per service of the requests from index `from` on. */
  tally(from?: number): Record<StorageService, Tally>;
  close(): Promise<void>;
}

export interface Upstream {
  account: string;
  key: string;
  ports: Record<StorageService, number>;
}

function classify(service: StorageService, method: string, path: string): StorageRequest['kind'] {
  if (service === 'queue' && method === 'GET' && /\/messages\/?$/.test(path)) return 'poll';
  // The flow catalogue's upkeep, per instance and never per notification: its background
  // check (every IVR_FLOWS_REFRESH_MS) and the saved copy of a file flow that loaded valid.
  if (service === 'table' && /\/ivrflows(\(|$|\?)/.test(path)) return 'poll';
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

export async function startCountingProxy(upstream: Upstream): Promise<CountingProxy> {
  const requests: StorageRequest[] = [];
  let last = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const servers: Server[] = [];
  const ports = {} as Record<StorageService, number>;
  for (const service of STORAGE_SERVICES) {
    const server = createServer((req: IncomingMessage, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const method = (req.method ?? 'GET').toUpperCase();
      const entry: StorageRequest = {
        service,
        method,
        path: url.pathname,
        query: [...new Set(url.searchParams.keys())],
        kind: classify(service, method, url.pathname),
        status: 0,
        at: performance.now(),
      };
      requests.push(entry);
      if (entry.kind !== 'poll') last = entry.at;
      const up = httpRequest(
        {
          host: '127.0.0.1',
          port: upstream.ports[service],
          method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (upRes) => {
          entry.status = upRes.statusCode ?? 0;
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          upRes.on('end', () => {
            if (entry.kind !== 'poll') last = performance.now();
          });
        },
      );
      up.on('error', (err) => {
        entry.status = 502;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      });
      req.pipe(up);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    ports[service] = (server.address() as AddressInfo).port;
    servers.push(server);
  }
  const { account, key } = upstream;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};` +
    `BlobEndpoint=http://127.0.0.1:${ports.blob}/${account};QueueEndpoint=http://127.0.0.1:${ports.queue}/${account};` +
    `TableEndpoint=http://127.0.0.1:${ports.table}/${account};`;
  return {
    connectionString,
    requests,
    lastActivity: () => last,
    tally(from = 0) {
      const out = {} as Record<StorageService, Tally>;
      for (const s of STORAGE_SERVICES) out[s] = { reads: 0, writes: 0, polls: 0 };
      for (const r of requests.slice(from)) {
        const t = out[r.service];
        if (r.kind === 'read') t.reads++;
        else if (r.kind === 'write') t.writes++;
        else t.polls++;
      }
      return out;
    },
    async close() {
      agent.destroy();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((ok) => {
              s.closeAllConnections();
              s.close(() => ok());
            }),
        ),
      );
    },
  };
}
