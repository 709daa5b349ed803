import { mkdtempSync, readdirSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { createApp, getApp, useApp, type AppOverrides } from '../../shared/app';
import { loadSettings } from '../../shared/config/settings';
import { functionFiles, startLocalHost, type LocalHost } from '../../host/localHost';
import { projectRoot } from '../../host/projectRoot';
import { startAzurite, type Azurite } from '../../sim/azurite';
import { startFakeGraph, type FakeGraph } from './fakeGraph';
import { startTokenIssuer, TEST_APP_ID, TEST_TENANT, type TokenIssuer } from './tokenIssuer';

/**
 * The bot as it runs locally, in this process: the local host serving the function
 * files, real Azurite storage, real JWT validation, and a capturing Graph.
 */

export interface BotHarness {
  host: LocalHost;
  azurite: Azurite;
  graph: FakeGraph;
  issuer: TokenIssuer;
  flowsDir: string;
  env: Record<string, string>;
  /** POSTs a notification to /api/calls (plus a query, as a callbackUri may carry), signed unless a token is given. */
  notify(payload: unknown, token?: string | null, query?: string): Promise<Response>;
  table(name?: string): TableClient;
  stop(): Promise<void>;
}

export const REPO = projectRoot(__dirname);

export async function startBotHarness(
  options: {
    flows?: Record<string, unknown>;
    env?: Record<string, string>;
    /** Required on function-level endpoints when set, as in Azure. */
    functionKey?: string;
    /** Another storage emulator than a fresh in-memory Azurite (fault tests). */
    azurite?: () => Promise<Azurite>;
    /** More credentials replaced (e.g. the Speech token). */
    overrides?: AppOverrides;
  } = {},
): Promise<BotHarness> {
  const [azurite, graph, issuer] = await Promise.all([
    (options.azurite ?? startAzurite)(),
    startFakeGraph(),
    startTokenIssuer(),
  ]);
  const flowsDir = mkdtempSync(join(tmpdir(), 'ivr-flows-'));
  cpSync(join(REPO, 'flows'), flowsDir, { recursive: true });
  for (const [name, flow] of Object.entries(options.flows ?? {}))
    writeFileSync(join(flowsDir, name), JSON.stringify(flow));
  const suffix = Math.random().toString(36).slice(2, 8);
  const env: Record<string, string> = {
    AzureWebJobsStorage: azurite.connectionString,
    BOT_APP_ID: TEST_APP_ID,
    BOT_CALLBACK_URL: 'https://bot.contoso.com',
    CALLBACK_OPENID_CONFIG_URL: issuer.openIdConfigUrl,
    GRAPH_BASE_URL: graph.baseUrl,
    GRAPH_RETRY_BUDGET_MS: '3000',
    AZURE_TENANT_ID: TEST_TENANT,
    AZURE_CLIENT_SECRET: 'not-used-here',
    IVR_FLOWS_DIR: flowsDir,
    IVR_CALLS_TABLE: `calls${suffix}`,
    IVR_RECORDS_TABLE: `records${suffix}`,
    IVR_FLOWS_TABLE: `flows${suffix}`,
    IVR_LOCAL_DEV_HTTP: 'true',
    ...(options.env ?? {}),
  };
  Object.assign(process.env, env);
  useApp(createApp(loadSettings(env), { getToken: async () => 'graph-test-token', ...options.overrides }));
  // Under Jest the TypeScript sources; compiled (the benchmark), the package.json main glob.
  const functionsDir = join(REPO, 'functions');
  const files = __filename.endsWith('.ts')
    ? readdirSync(functionsDir)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => join(functionsDir, f))
    : functionFiles(REPO);
  const host = await startLocalHost({
    port: 0,
    functionFiles: files,
    log: () => undefined,
    ...(options.functionKey ? { functionKey: options.functionKey } : {}),
  });
  return {
    host,
    azurite,
    graph,
    issuer,
    flowsDir,
    env,
    async notify(payload, token, query) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token !== null) headers.authorization = `Bearer ${token ?? (await issuer.sign())}`;
      return fetch(`${host.url}/api/calls${query ? `?${query}` : ''}`, {
        method: 'POST',
        headers,
        body: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
    },
    table: (name = env.IVR_CALLS_TABLE!) =>
      TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true }),
    async stop() {
      await host.close();
      await getApp().liveFlows.close();
      useApp(null);
      await Promise.all([azurite.stop(), graph.close(), issuer.close()]);
    },
  };
}

/** An incoming-call notification shaped like the answer page's example, to a number and from a caller. */
export function incomingCall(
  callId: string,
  opts: { to?: string; from?: string | null; teamsCaller?: boolean } = {},
) {
  const to = opts.to ?? '+14255550100';
  const source =
    opts.from === null
      ? { identity: {} }
      : opts.teamsCaller
        ? { identity: { user: { id: '8A34A46B-3D17-4ADC-8DCE-DC4E7D572698', displayName: 'Test User' } } }
        : { identity: { phone: { id: opts.from ?? '+12065550123' } } };
  return {
    '@odata.type': '#microsoft.graph.commsNotifications',
    value: [
      {
        '@odata.type': '#microsoft.graph.commsNotification',
        changeType: 'created',
        resourceUrl: `/communications/calls/${callId}`,
        resourceData: {
          '@odata.type': '#microsoft.graph.call',
          '@odata.id': `/communications/calls/${callId}`,
          '@odata.etag': 'W/"5445"',
          state: 'incoming',
          direction: 'incoming',
          callRoutes: [
            { routingType: 'lookup', original: { phone: { id: to } }, final: { phone: { id: to } } },
          ],
          source: { ...source, region: 'westus', languageId: 'en-US' },
          targets: [
            {
              identity: {
                applicationInstance: {
                  displayName: 'Contoso IVR',
                  id: '6b3d4c2e-8f1a-4e55-9d7b-2a9c0f1e7d31',
                },
              },
              languageId: 'en-US',
            },
          ],
          requestedModalities: ['audio'],
          tenantId: TEST_TENANT,
        },
      },
    ],
  };
}

export function callUpdate(
  callId: string,
  resourceData: Record<string, unknown>,
  changeType: 'updated' | 'deleted' = 'updated',
) {
  return {
    '@odata.type': '#microsoft.graph.commsNotifications',
    value: [
      {
        '@odata.type': '#microsoft.graph.commsNotification',
        changeType,
        resourceUrl: `/communications/calls/${callId}`,
        resourceData: {
          '@odata.type': '#microsoft.graph.call',
          '@odata.id': `/communications/calls/${callId}`,
          ...resourceData,
        },
      },
    ],
  };
}

export function operationDone(callId: string, opId: string, resourceData: Record<string, unknown>) {
  return {
    '@odata.type': '#microsoft.graph.commsNotifications',
    value: [
      {
        '@odata.type': '#microsoft.graph.commsNotification',
        changeType: 'deleted',
        resourceUrl: `/communications/calls/${callId}/operations/${opId}`,
        resourceData: { id: opId, ...resourceData },
      },
    ],
  };
}

/** Every row of a table (tests only). */
export async function rows(table: TableClient): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  try {
    for await (const e of table.listEntities()) out.push(e as Record<string, unknown>);
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  return out;
}
