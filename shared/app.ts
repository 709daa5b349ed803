import type { InvocationContext } from '@azure/functions';
import { CallbackAuthenticator } from './auth/callbackAuth';
import { loadSettings, type Settings } from './config/settings';
import { formatProblem, loadFlowDirectory, type FlowCatalog } from './flows/loader';
import { createCredential, GraphClient, tokenGetter } from './graph/graphClient';
import { CallService, type Logger } from './ivr/callService';
import { TableCallStore } from './storage/callStore';
import { AzureRecordingBlobStore } from './storage/recordingStore';
import { TableRecordStore } from './storage/recordStore';
import { StorageTimerQueue } from './storage/timerQueue';
import { resolve } from 'node:path';

/**
 * The composition root: validated settings in, wired adapters out. Built on first use,
 * not at import, so a cold start pays only for what the first request needs.
 */

export const TIMER_QUEUE = 'ivr-timers';

export interface App {
  settings: Settings;
  auth: CallbackAuthenticator;
  flows(): FlowCatalog;
  /** A call service logging to one invocation; `now` lets timers and tests see another clock. */
  calls(log: Logger, now?: () => Date): CallService;
  /**
   * Does ahead of time what the first notification would otherwise wait for: callback keys,
   * a Graph token, the flows, the calls table. Failures are returned, not thrown: the
   * request path retries each of these itself.
   */
  warmUp(): Promise<string[]>;
}

export interface AppOverrides {
  /** Replaces the @azure/identity credential (tests that have no token endpoint). */
  getToken?: () => Promise<string>;
}

export function createApp(settings: Settings, overrides: AppOverrides = {}): App {
  const cs = settings.AzureWebJobsStorage;
  const store = TableCallStore.fromConnectionString(cs, settings.IVR_CALLS_TABLE);
  const records = TableRecordStore.fromConnectionString(cs, settings.IVR_RECORDS_TABLE);
  const blobs = AzureRecordingBlobStore.fromConnectionString(cs, settings.IVR_RECORDINGS_CONTAINER);
  const timers = StorageTimerQueue.fromConnectionString(cs, TIMER_QUEUE);
  const tenantId = settings.AZURE_TENANT_ID;
  const getToken =
    overrides.getToken ??
    tokenGetter(() => {
      if (!tenantId) throw new Error('AZURE_TENANT_ID is not set');
      return createCredential({
        tenantId,
        clientId: settings.AZURE_CLIENT_ID ?? settings.BOT_APP_ID,
        clientSecret: settings.AZURE_CLIENT_SECRET,
        certificatePath: settings.AZURE_CLIENT_CERTIFICATE_PATH,
        authorityHost: settings.AZURE_AUTHORITY_HOST,
      });
    });
  const auth = new CallbackAuthenticator({
    openIdConfigUrl: settings.CALLBACK_OPENID_CONFIG_URL,
    audience: settings.BOT_APP_ID,
    clockSkewSeconds: settings.CALLBACK_CLOCK_SKEW_SECONDS,
  });
  let catalog: FlowCatalog | null = null;
  const flows = () => {
    if (!catalog) {
      catalog = loadFlowDirectory(resolve(settings.IVR_FLOWS_DIR));
      for (const p of catalog.problems) console.error(`invalid flow, not loaded: ${formatProblem(p)}`);
    }
    return catalog;
  };
  const callbackUri = `${settings.BOT_CALLBACK_URL.replace(/\/+$/, '')}/api/calls`;
  return {
    settings,
    auth,
    flows,
    warmUp: async () => {
      const steps: Array<[string, () => unknown]> = [
        ['callback signing keys', () => auth.prefetchKeys()],
        ['Graph token', () => getToken()],
        ['flows', () => flows()],
        ['calls table', () => store.get('warm-up')],
      ];
      const results = await Promise.allSettled(steps.map(([, run]) => Promise.resolve().then(run)));
      return results.flatMap((r, i) =>
        r.status === 'rejected' ? [`${steps[i]![0]}: ${(r.reason as Error).message}`] : [],
      );
    },
    calls: (log, now) => {
      // Cheap per invocation: the token cache lives in getToken, shared by all.
      const graph = new GraphClient({
        baseUrl: settings.GRAPH_BASE_URL,
        getToken,
        maxAttempts: settings.GRAPH_RETRY_MAX_ATTEMPTS,
        budgetMs: settings.GRAPH_RETRY_BUDGET_MS,
        requestTimeoutMs: settings.GRAPH_REQUEST_TIMEOUT_MS,
        onRetry: (info) => log.warn('Graph throttled or unavailable; retrying', info),
      });
      return new CallService({
        store,
        records,
        blobs,
        timers,
        graph,
        flows,
        callbackUri,
        unconfiguredRejectReason: settings.IVR_UNCONFIGURED_REJECT_REASON,
        defaultFlowId: settings.IVR_DEFAULT_FLOW,
        tenantId,
        recordingMaxBytes: settings.IVR_RECORDING_MAX_BYTES,
        allowLocalHttp: settings.IVR_LOCAL_DEV_HTTP,
        log,
        now,
      });
    },
  };
}

let current: App | null = null;

/** The process-wide app, from the environment. Throws SettingsError naming every bad setting. */
export function getApp(): App {
  current ??= createApp(loadSettings());
  return current;
}

/** Replaces the process-wide app (tests), or drops it so the next use rebuilds it from the environment. */
export function useApp(app: App | null): void {
  current = app;
}

/** Adapts an invocation context to the logger the domain uses. */
export function invocationLogger(context: InvocationContext): Logger {
  const fmt = (message: string, props?: Record<string, unknown>) =>
    props ? `${message} ${JSON.stringify(props)}` : message;
  return {
    info: (m, p) => context.log(fmt(m, p)),
    warn: (m, p) => context.warn(fmt(m, p)),
    error: (m, p) => context.error(fmt(m, p)),
  };
}
