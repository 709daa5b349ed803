import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../host/projectRoot';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { startAzurite, type Azurite } from './azurite';
import { freePort, waitForPort } from './ports';
import { startSimulator, type Simulator, type SimulatorOptions } from './index';

/**
 * The whole product on one machine, as the demo, `npm run sim` and the end-to-end tests run
 * it: Azurite in memory, one or more bot instances (the compiled local host, each its own
 * process, with the real credential and JWT paths), the Graph simulator, and a small proxy
 * in front of the bots that spreads the platform's notifications across them.
 */

export interface StackOptions {
  flowsDir: string;
  instances?: number;
  sim?: Omit<SimulatorOptions, 'botCallbackUrl'>;
  /** Extra settings for the bot processes. */
  botEnv?: Record<string, string>;
  /** Where the bot processes' log lines go (default: dropped). */
  log?: (line: string) => void;
  /**
   * Production identities, no secret: storage through a managed identity (Azurite in OAuth
   * mode over HTTPS, identity-based AzureWebJobsStorage__* settings) and Graph tokens through
   * the managed identity as a federated credential, both from the simulator's App
   * Service-style identity endpoint.
   */
  managedIdentity?: boolean;
  /** Another storage emulator than a fresh in-memory Azurite (`npm run dev`: data on disk). */
  azurite?: () => Promise<Azurite>;
  /** The first bot instance's port (`npm run dev`: 7071, where the CLI looks); a free one when taken. */
  botPort?: number;
  /**
   * The bot's menu waits follow the simulator's time scale (IVR_TEST_TIMER_SCALE), so timelines
   * show them as configured: flow tests, the demo, `npm run sim` and `npm run dev`.
   */
  scaleBotTimers?: boolean;
  /** More hosts than the scripted endpoints' whose http node requests go to the simulator (scripted later). */
  lookupHosts?: string[];
}

/** The user-assigned identity of `managedIdentity` stacks. */
export const STACK_IDENTITY = {
  clientId: '8f0c3a52-61b6-4a4e-9d3c-0d1f5a7e2b91',
  principalId: 'c4b1e2d3-7a8f-4e6b-9c0d-1e2f3a4b5c6d',
  header: 'local-identity-header',
};

export interface BotInstance {
  port: number;
  url: string;
  running: boolean;
}

export interface Stack {
  sim: Simulator;
  azurite: Azurite;
  bots: BotInstance[];
  /** The address the platform calls back: the proxy in front of the bot instances. */
  botUrl: string;
  env: Record<string, string>;
  /** Notifications each instance received through the proxy. */
  delivered: number[];
  stopBot(index: number): Promise<void>;
  startBot(index: number): Promise<void>;
  /** The bot's record of a finished call, once the bot has seen it end (null when it does not within 15 s, or does not know the call). */
  callRecord(callId: string): Promise<Record<string, unknown> | null>;
  stop(): Promise<void>;
}

const ROOT = projectRoot();

export async function startStack(options: StackOptions): Promise<Stack> {
  const instances = options.instances ?? 1;
  const log = options.log ?? (() => undefined);
  const bots: Array<BotInstance & { child: ChildProcess | null }> = [];
  // Round-robin over the running instances; a refused connection tries the next one.
  const delivered: number[] = [];
  let turn = 0;
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const order = bots.map((_, i) => (turn + i) % bots.length).filter((i) => bots[i]!.running);
      turn++;
      const attempt = (k: number) => {
        const index = order[k];
        if (index === undefined) {
          res.writeHead(503, { 'content-type': 'application/json' });
          return res.end(
            JSON.stringify({ error: { code: 'ServiceUnavailable', message: 'no bot instance is running' } }),
          );
        }
        const up = httpRequest(
          {
            host: '127.0.0.1',
            port: bots[index]!.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (upRes) => {
            delivered[index]!++;
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
          },
        );
        up.on('error', () => attempt(k + 1));
        up.end(body);
      };
      attempt(0);
    });
  });
  // Port 0: the kernel picks and binds in one step, so nothing can take the port meanwhile.
  await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
  const botUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const identity = options.managedIdentity === true;
  const timeScale = options.sim?.timeScale ?? 1;
  const [azurite, sim] = await Promise.all([
    options.azurite ? options.azurite() : startAzurite({ oauth: identity }),
    startSimulator({
      graphOverHttps: true,
      ...(identity ? { managedIdentity: STACK_IDENTITY } : {}),
      ...(options.sim ?? {}),
      botCallbackUrl: `${botUrl}/api/calls`,
    }),
  ]);
  // Two self-signed certificates (simulator, Azurite): one file, as NODE_EXTRA_CA_CERTS takes one.
  const caDir = await mkdtemp(join(tmpdir(), 'ivr-stack-ca-'));
  const caCertPath = join(caDir, 'ca.pem');
  const caFiles = [sim.caCertPath, ...(azurite.caCertPath ? [azurite.caCertPath] : [])];
  await writeFile(caCertPath, (await Promise.all(caFiles.map((f) => readFile(f, 'utf8')))).join('\n'));
  const storageEnv: Record<string, string> = identity
    ? {
        AzureWebJobsStorage__tableServiceUri: azurite.serviceUris.table,
        AzureWebJobsStorage__queueServiceUri: azurite.serviceUris.queue,
        AzureWebJobsStorage__blobServiceUri: azurite.serviceUris.blob,
        AzureWebJobsStorage__credential: 'managedidentity',
        AzureWebJobsStorage__clientId: STACK_IDENTITY.clientId,
        IDENTITY_ENDPOINT: sim.identityEndpoint,
        IDENTITY_HEADER: STACK_IDENTITY.header,
      }
    : { AzureWebJobsStorage: azurite.connectionString };
  const graphCredentialEnv: Record<string, string> = identity
    ? { GRAPH_CREDENTIAL: 'federated', GRAPH_MANAGED_IDENTITY_CLIENT_ID: STACK_IDENTITY.clientId }
    : { AZURE_CLIENT_SECRET: sim.clientSecret };
  const env: Record<string, string> = {
    ...storageEnv,
    BOT_APP_ID: sim.botAppId,
    BOT_CALLBACK_URL: botUrl,
    CALLBACK_OPENID_CONFIG_URL: sim.openIdConfigUrl,
    GRAPH_BASE_URL: sim.graphBaseUrl,
    AZURE_TENANT_ID: sim.tenantId,
    AZURE_CLIENT_ID: sim.clientId,
    ...graphCredentialEnv,
    AZURE_AUTHORITY_HOST: sim.authorityHost,
    NODE_EXTRA_CA_CERTS: caCertPath,
    IVR_FLOWS_DIR: options.flowsDir,
    IVR_LOCAL_DEV_HTTP: 'true',
    // http nodes' requests for the scripted endpoints' hosts go to the simulator.
    IVR_TEST_LOOKUP_HOSTS: [...new Set([...sim.endpointHosts, ...(options.lookupHosts ?? [])])]
      .map((host) => `${host}=${sim.httpsUrl}`)
      .join(','),
    // Voicemail delivery through the simulator's Graph sendMail and Speech stand-in.
    IVR_MAIL_SENDER: 'voicemail@contoso.com',
    IVR_SPEECH_ENDPOINT: sim.speechEndpoint,
    ...(options.scaleBotTimers && timeScale >= 0.001 && timeScale < 1
      ? { IVR_TEST_TIMER_SCALE: String(timeScale) }
      : {}),
    ...(options.botEnv ?? {}),
  };
  for (let i = 0; i < instances; i++) {
    const port = i === 0 && options.botPort !== undefined ? options.botPort : await freePort();
    bots.push({ port, url: `http://127.0.0.1:${port}`, running: false, child: null });
    delivered.push(0);
  }

  const startBot = async (index: number, attempt = 0): Promise<void> => {
    const bot = bots[index]!;
    if (bot.running) return;
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'host', 'localHost.js')], {
      cwd: ROOT,
      env: { ...process.env, ...env, PORT: String(bot.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Whole lines: a chunk of output can end in the middle of one (or of a UTF-8 character).
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        if (line.trim()) log(`[bot ${index}] ${line}`);
      });
    }
    bot.child = child;
    const died = () => (child.exitCode !== null ? `bot ${index} exited (${child.exitCode})` : null);
    try {
      await waitForPort(bot.port, 20_000, died);
    } catch (err) {
      bot.child = null;
      if (child.exitCode === null) child.kill('SIGKILL');
      // Most likely another process took the port first: move to a fresh one and try again.
      if (attempt >= 3) throw err;
      bot.port = await freePort();
      bot.url = `http://127.0.0.1:${bot.port}`;
      return startBot(index, attempt + 1);
    }
    bot.running = true;
  };
  const stopBot = async (index: number) => {
    const bot = bots[index]!;
    if (!bot.child) return;
    const child = bot.child;
    bot.running = false;
    bot.child = null;
    if (child.exitCode === null) {
      await new Promise<void>((ok) => {
        child.once('exit', () => ok());
        child.kill('SIGKILL'); // a crash, not a graceful stop: nothing gets flushed
      });
    }
  };

  try {
    await Promise.all(bots.map((_, i) => startBot(i)));
  } catch (err) {
    await Promise.all(bots.map((_, i) => stopBot(i)));
    proxy.close();
    await Promise.all([sim.stop(), azurite.stop()]);
    throw err;
  }

  return {
    sim,
    azurite,
    bots,
    botUrl,
    env,
    delivered,
    stopBot,
    startBot,
    async callRecord(callId) {
      // The simulator shows a call ended as soon as it sends the notification that says so,
      // which the bot may not have handled yet (a loaded machine): a call still in progress
      // is asked again. Recordings are archived off the notification path: so are they.
      const end = Date.now() + 15_000;
      for (;;) {
        const running = bots.find((b) => b.running) ?? bots[0]!;
        const res = await fetch(`${running.url}/api/calls/${encodeURIComponent(callId)}`);
        if (res.status !== 200) return null;
        const body = (await res.json()) as Record<string, unknown>;
        const ended = body.status === 'ended';
        if ((ended && !body.recordingsPending) || Date.now() > end) return ended ? body : null;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await Promise.all(bots.map((_, i) => stopBot(i)));
      proxy.closeAllConnections();
      await new Promise<void>((ok) => proxy.close(() => ok()));
      await sim.stop();
      await azurite.stop();
      await rm(caDir, { recursive: true, force: true });
    },
  };
}
