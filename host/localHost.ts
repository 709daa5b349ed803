import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { projectRoot } from './projectRoot';
import { registrations, startHooks, type Registration } from '../shared/functions/registry';
import { MAX_BODY_BYTES } from '../shared/functions/http';
import { StorageClients, storageConnectionOf } from '../shared/storage/connection';
import { jsonOrText, pollQueue, type PollingPace, type QueueDelivery } from './queuePolling';

/**
 * A small stand-in for Core Tools: serves the function definitions registered by the
 * compiled function files (the package.json "main" glob) over node:http under /api, builds
 * real HttpRequest / InvocationContext objects, polls the timer queue for queue triggers and,
 * like Core Tools, runs any non-HTTP function on POST /admin/functions/{name}.
 */

export interface LocalHostOptions {
  port?: number;
  host?: string;
  /** Folder holding package.json; defaults to the project root. */
  projectRoot?: string;
  /** Function files to load instead of the package.json "main" glob (tests load the TypeScript sources). */
  functionFiles?: string[];
  /**
   * Require this key (x-functions-key header or ?code=) on function- and admin-level HTTP
   * functions, as the Functions host in Azure does. Core Tools checks none: nor does this host
   * without one.
   */
  functionKey?: string;
  /** Poll storage queues for queue-triggered functions (default true). */
  pollQueues?: boolean;
  log?: (line: string) => void;
}

export interface LocalHost {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The files the package.json "main" glob names (a folder and a "*.js" file pattern, as Core Tools reads it). */
export function functionFiles(root: string): string[] {
  const main = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string }).main;
  const m = /^(.*)\/\*\.js$/.exec(main);
  if (!m) throw new Error(`package.json main "${main}" is not of the form <folder>/*.js`);
  const dir = resolve(root, m[1]!);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => join(dir, f));
}

export function loadFunctions(files: string[]): Registration[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- function files register themselves when loaded
  for (const file of files) require(file);
  return registrations;
}

function routeMatcher(route: string): (path: string) => Record<string, string> | null {
  const names: string[] = [];
  const pattern = route
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((seg) => {
      // A catch-all {*rest}: the rest of the path, slashes included, possibly empty (ASP.NET routing).
      const all = /^\{\*(\w+)\}$/.exec(seg);
      if (all) {
        names.push(all[1]!);
        return '{*}';
      }
      const p = /^\{(\w+)(?::[^}]*)?(\?)?\}$/.exec(seg);
      if (!p) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(p[1]!);
      return '([^/]+)';
    })
    .join('/')
    .replace(/\/?\{\*\}/, '(?:/(.*))?');
  const re = new RegExp(`^${pattern}$`, 'i');
  return (path) => {
    const m = re.exec(path);
    if (!m) return null;
    return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')]));
  };
}

function invocation(
  name: string,
  log: (line: string) => void,
  triggerMetadata?: Record<string, unknown>,
): InvocationContext {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName: name,
    logHandler: (level, ...args) => log(`[${name}] ${level}: ${args.map(String).join(' ')}`),
    ...(triggerMetadata ? { triggerMetadata } : {}),
  });
}

/** host.json's queues.maxPollingInterval. */
const MAX_POLLING_MS = 1000;
/** host.json's queues.visibilityTimeout. */
const RETRY_VISIBILITY_S = 5;

/** Scaled timers (IVR_TEST_TIMER_SCALE, tests and dev) scale the queues' pace as much. */
function timerScale(): number {
  const scale = Number(process.env.IVR_TEST_TIMER_SCALE ?? 1);
  return scale > 0 && scale < 1 ? scale : 1;
}

/** The longest wait between polls of an empty queue. */
function maxPollingMs(): number {
  return Math.max(50, MAX_POLLING_MS * timerScale());
}

function pollingPace(): PollingPace {
  return { maxPollingMs: maxPollingMs(), retryVisibilityS: Math.round(RETRY_VISIBILITY_S * timerScale()) };
}

/**
 * Log lines to stdout, written once per turn of the event loop: a write to a pipe is
 * synchronous, and one per line would hold every request behind a slow reader.
 */
function batchedStdout(): (line: string) => void {
  let pending: string[] = [];
  const flush = () => {
    const text = `${pending.join('\n')}\n`;
    pending = [];
    process.stdout.write(text);
  };
  return (line) => {
    if (pending.push(line) === 1) setImmediate(flush);
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      // Keep one byte past the limit so the handler can still answer 413.
      const room = MAX_BODY_BYTES + 1 - size;
      if (room <= 0) return;
      chunks.push(room >= chunk.length ? chunk : chunk.subarray(0, room));
      size += Math.min(chunk.length, room);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function writeResponse(res: ServerResponse, init: HttpResponseInit | HttpResponse): Promise<void> {
  if (
    !(init instanceof HttpResponse) &&
    init.body === undefined &&
    init.jsonBody === undefined &&
    !init.cookies
  ) {
    // A bodiless answer (the notification path's 202): no Response object to build.
    const headers =
      init.headers instanceof Headers || Array.isArray(init.headers)
        ? Object.fromEntries(new Headers(init.headers))
        : ((init.headers as Record<string, string> | undefined) ?? {});
    res.writeHead(init.status ?? 200, headers);
    res.end();
    return;
  }
  const response = init instanceof HttpResponse ? init : new HttpResponse(init);
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => (headers[k] = v));
  res.writeHead(response.status, headers);
  res.end(body);
}

export async function startLocalHost(options: LocalHostOptions = {}): Promise<LocalHost> {
  const root = options.projectRoot ?? projectRoot();
  const log = options.log ?? batchedStdout();
  const all = loadFunctions(options.functionFiles ?? functionFiles(root));
  const http = all.filter((r): r is Extract<Registration, { kind: 'http' }> => r.kind === 'http');
  const routes = http.map((r) => ({
    reg: r,
    match: routeMatcher(r.options.route ?? r.name),
    methods: (r.options.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase()),
  }));

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: Error) => {
      log(`host error: ${err.stack ?? err.message}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalServerError', message: 'the function failed' } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The path and query taken apart by hand: a URL object per request costs more than the routing.
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const pathname = q < 0 ? target : target.slice(0, q);
    const search = q < 0 ? '' : target.slice(q + 1);
    const method = (req.method ?? 'GET').toUpperCase();
    const admin = /^\/admin\/functions\/([^/]+)$/.exec(pathname);
    if (admin && method === 'POST') return runAdmin(decodeURIComponent(admin[1]!), await readBody(req), res);
    if (!pathname.startsWith('/api/')) return writeResponse(res, { status: 404 });
    const path = pathname.slice('/api/'.length);
    let hit: { route: (typeof routes)[number]; params: Record<string, string> } | null = null;
    let pathKnown = false;
    for (const route of routes) {
      const params = route.match(path);
      if (!params) continue;
      pathKnown = true;
      if (route.methods.includes(method)) {
        hit = { route, params };
        break;
      }
    }
    if (!hit) return writeResponse(res, { status: pathKnown ? 405 : 404 });
    const level = hit.route.reg.options.authLevel ?? 'anonymous';
    const query = search ? new URLSearchParams(search) : null;
    if (options.functionKey !== undefined && level !== 'anonymous') {
      const given = req.headers['x-functions-key'] ?? query?.get('code');
      if (given !== options.functionKey) return writeResponse(res, { status: 401 });
    }
    const headers: Record<string, string> = {};
    const raw = req.headers;
    for (const k in raw) {
      const v = raw[k];
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req);
    const request = new HttpRequest({
      method,
      url: `http://${raw.host ?? 'localhost'}${target}`,
      headers,
      params: hit.params,
      query: query ? Object.fromEntries(query) : {},
      ...(body ? { body: { bytes: body } } : {}),
    });
    const result = await hit.route.reg.options.handler(request, invocation(hit.route.reg.name, log));
    await writeResponse(res, result ?? { status: 204 });
  }

  async function runAdmin(name: string, body: Buffer, res: ServerResponse): Promise<void> {
    const reg = all.find((r) => r.name.toLowerCase() === name.toLowerCase());
    if (!reg || reg.kind === 'http') return writeResponse(res, { status: 404 });
    // Core Tools' admin API takes {"input": "..."}; the input is the queue message.
    const input =
      body.length > 0 ? ((JSON.parse(body.toString('utf8')) as { input?: unknown }).input ?? null) : null;
    if (reg.kind === 'timer') {
      const now = new Date().toISOString();
      const timer = {
        isPastDue: false,
        schedule: { adjustForDST: true },
        scheduleStatus: { last: now, next: now, lastUpdated: now },
      };
      await reg.options.handler(timer, invocation(reg.name, log));
    } else {
      await reg.options.handler(
        typeof input === 'string' ? jsonOrText(input) : input,
        invocation(reg.name, log),
      );
    }
    return writeResponse(res, { status: 202 });
  }

  for (const hook of startHooks) await hook();

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 7071, options.host ?? '127.0.0.1', () => ok());
  });
  // In Azure the host's queue listeners run beside the worker and never hold its first HTTP
  // request: here they start one polling interval after HTTP is served, so loading the Queue
  // SDK does not hold the first call of a cold start either. One that cannot start (a bad
  // connection setting) is logged, as the host does, and HTTP goes on.
  const queues = all.filter((r): r is QueueRegistration => r.kind === 'queue');
  let closing = false;
  const stopQueues: Promise<() => Promise<void>> =
    options.pollQueues === false || queues.length === 0
      ? Promise.resolve(async () => undefined)
      : new Promise<void>((ready) => setTimeout(ready, maxPollingMs()).unref())
          .then(async () => (closing ? async () => undefined : startQueuePollers(queues, log)))
          .catch((err: Error) => {
            log(`queue functions not started: ${err.message}`);
            return async () => undefined;
          });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      closing = true;
      const stopPolling = await stopQueues;
      await stopPolling();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

type QueueRegistration = Extract<Registration, { kind: 'queue' }>;

/** The app setting (or prefix) naming a queue function's storage connection. */
const connectionName = (reg: QueueRegistration) => reg.options.connection ?? 'AzureWebJobsStorage';

/** Queue triggers: each queue polled, its messages run by its function and settled (host/queuePolling.ts). */
async function startQueuePollers(
  queues: QueueRegistration[],
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  // The same connection logic as the app: a connection string or an identity-based connection.
  const allowLocalHttp = /^(true|1)$/.test(process.env.IVR_LOCAL_DEV_HTTP ?? '');
  const connections = new Map<string, StorageClients>();
  for (const name of new Set(queues.map(connectionName))) {
    try {
      connections.set(name, new StorageClients(storageConnectionOf(process.env, name, allowLocalHttp)));
    } catch (err) {
      throw new Error(`queue functions: ${(err as Error).message}`, { cause: err });
    }
  }
  const stops = await Promise.all(
    queues.map(async (reg) => {
      const clients = connections.get(connectionName(reg))!;
      const [client, poison] = await Promise.all([
        clients.queue(reg.options.queueName),
        clients.queue(`${reg.options.queueName}-poison`),
      ]);
      const run = async ({ input, dequeueCount, id }: QueueDelivery) => {
        await reg.options.handler(input, invocation(reg.name, log, { dequeueCount, id }));
      };
      return pollQueue({ name: reg.name, client, poison, run }, pollingPace(), log);
    }),
  );
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}

/** Like Core Tools: the Values of local.settings.json become environment variables, unless already set. */
export function loadLocalSettings(root: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const file = join(root, 'local.settings.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const values = (JSON.parse(text) as { Values?: Record<string, unknown> }).Values ?? {};
  for (const [key, value] of Object.entries(values)) {
    if (env[key] === undefined && typeof value === 'string') env[key] = value;
  }
  return file;
}

if (require.main === module) {
  const loaded = loadLocalSettings(projectRoot());
  if (loaded) console.log(`settings from ${loaded}`);
  const port = Number(process.env.PORT ?? 7071);
  startLocalHost({ port }).then(
    (h) => console.log(`graph-ivr local host listening on ${h.url}/api`),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
