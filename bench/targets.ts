import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { freePort, waitForPort } from '../sim/ports';
import { spawnChild, type Child } from './children';
import { APP_ID, CLIENT_SECRET, TENANT_ID, type GraphStandIn } from './graphStandIn';

/**
 * The things the bench sends notifications to, each its own process:
 *  - the bot: the compiled local host (dist/host/localHost.js), configured ONLY through its
 *    documented settings (environment variables), driven ONLY through its HTTP API. This
 *    is the one place the bench builds it.
 *  - the floor: dist/bench/floor.js.
 *  - with --functions-floor, the floor's work behind the programming model:
 *    dist/bench/functionsFloor.js (the local host serving only bench/floorFunction.ts).
 */

export type TargetName = 'bot' | 'floor' | 'functionsFloor';

export interface Target {
  name: TargetName;
  child: Child;
  pid: number;
  url: string;
  stop(): Promise<void>;
}

export interface Bot extends Target {
  name: 'bot';
  /** GET /api/calls/{callId}: the call's record or where it is. */
  callStatus(callId: string): Promise<{ status: number; body: Record<string, unknown> | null }>;
  /** Full GC then process.memoryUsage() in the bot (through the bench's preloaded probe). */
  memory(): Promise<{ rss: number; heapUsed: number; gc: boolean }>;
}

export interface BotOptions {
  root: string;
  standIn: GraphStandIn;
  storageConnectionString: string;
  flowsDir: string;
  /** Extra settings. */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export function botSettings(o: BotOptions): Record<string, string> {
  return {
    AzureWebJobsStorage: o.storageConnectionString,
    BOT_APP_ID: APP_ID,
    BOT_CALLBACK_URL: 'https://bot.contoso.com',
    CALLBACK_OPENID_CONFIG_URL: o.standIn.openIdConfigUrl,
    GRAPH_BASE_URL: o.standIn.graphBaseUrl,
    AZURE_TENANT_ID: TENANT_ID,
    AZURE_CLIENT_ID: APP_ID,
    AZURE_CLIENT_SECRET: CLIENT_SECRET,
    AZURE_AUTHORITY_HOST: o.standIn.origin,
    NODE_EXTRA_CA_CERTS: o.standIn.caCertPath,
    IVR_FLOWS_DIR: o.flowsDir,
    IVR_LOCAL_DEV_HTTP: 'true',
    ...(o.env ?? {}),
  };
}

function baseEnv(): NodeJS.ProcessEnv {
  // The bench's own environment minus anything that would change the child's runtime.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

async function startProcess(
  name: TargetName,
  args: (port: number) => string[],
  env: (port: number) => Record<string, string>,
  cwd: string,
  log?: (line: string) => void,
): Promise<{ child: Child; port: number }> {
  let last: Error | null = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const child = spawnChild(name, args(port), {
      cwd,
      env: { ...baseEnv(), ...env(port) },
      onLine: log ? (l) => log(`[${name}] ${l}`) : undefined,
    });
    try {
      await waitForPort(port, 30_000, () =>
        child.exited() ? `${child.exited()}: ${child.tail.slice(-5).join(' | ')}` : null,
      );
      return { child, port };
    } catch (err) {
      last = err as Error;
      await child.stop();
    }
  }
  throw new Error(`${name} did not start: ${last?.message ?? 'unknown'}`);
}

export async function startBot(o: BotOptions): Promise<Bot> {
  const settings = botSettings(o);
  const { child, port } = await startProcess(
    'bot',
    () => [
      // BENCH_BOT_NODE_ARGS: extra node flags for the bot, e.g. --prof to see where its time goes.
      ...(process.env.BENCH_BOT_NODE_ARGS ?? '').split(' ').filter(Boolean),
      '--expose-gc',
      '-r',
      join(o.root, 'dist', 'bench', 'botProbe.js'),
      join(o.root, 'dist', 'host', 'localHost.js'),
    ],
    (p) => ({ ...settings, PORT: String(p) }),
    o.root,
    o.log,
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    name: 'bot',
    child,
    pid: child.pid,
    url,
    stop: () => child.stop(),
    async callStatus(callId) {
      const res = await fetch(`${url}/api/calls/${encodeURIComponent(callId)}`, {
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      let body: Record<string, unknown> | null;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = null;
      }
      return { status: res.status, body };
    },
    async memory() {
      const line = child.waitForLine(/^BENCH_MEMORY (\{.*\})$/, 10_000);
      child.proc.kill('SIGUSR2');
      const m = await line;
      return JSON.parse(m[1]!) as { rss: number; heapUsed: number; gc: boolean };
    },
  };
}

export async function startFloor(
  o: {
    root: string;
    standIn: GraphStandIn;
    storageConnectionString: string;
    table: string;
    maxSockets: number;
  },
  name: 'floor' | 'functionsFloor' = 'floor',
): Promise<Target> {
  const { child, port } = await startProcess(
    name,
    () => [
      ...(process.env.BENCH_FLOOR_NODE_ARGS ?? '').split(' ').filter(Boolean),
      join(o.root, 'dist', 'bench', name === 'floor' ? 'floor.js' : 'functionsFloor.js'),
    ],
    (p) => ({
      FLOOR_PORT: String(p),
      FLOOR_OPENID_URL: o.standIn.openIdConfigUrl,
      FLOOR_AUDIENCE: APP_ID,
      FLOOR_STORAGE: o.storageConnectionString,
      FLOOR_TABLE: o.table,
      FLOOR_GRAPH_BASE: o.standIn.graphBaseUrl,
      FLOOR_TOKEN_URL: o.standIn.tokenUrl,
      FLOOR_CLIENT_ID: APP_ID,
      FLOOR_CLIENT_SECRET: CLIENT_SECRET,
      FLOOR_MAX_SOCKETS: String(o.maxSockets),
      NODE_EXTRA_CA_CERTS: o.standIn.caCertPath,
    }),
    o.root,
  );
  return { name, child, pid: child.pid, url: `http://127.0.0.1:${port}`, stop: () => child.stop() };
}

/**
 * POSTs one notification on a fresh connection (as from one of the platform's many front
 * ends). Resolves with the status, when it was sent (performance.now()) and the time to the
 * response's end; never rejects.
 */
export function postNotification(
  baseUrl: string,
  body: string,
  token: string,
  timeoutMs = 30_000,
): Promise<{ status: number; ms: number; sentAt: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(
      `${baseUrl}/api/calls`,
      {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, sentAt: started }),
        );
        res.on('error', () => resolve({ status: 0, ms: performance.now() - started, sentAt: started }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started, sentAt: started }));
    req.end(body);
  });
}
