import type { InvocationContext } from '@azure/functions';
import { resolve } from 'node:path';
import { CallbackAuthenticator } from './auth/callbackAuth';
import { loadSettings, parseTestLookupHosts, type Settings } from './config/settings';
import type { FlowCatalog } from './flows/loader';
import { LiveFlows } from './flows/live';
import { createCredential, defaultTransport, GraphClient, tokenGetter } from './graph/graphClient';
import { warmNotificationParser } from './graph/notifications';
import { CallService, type CallObserver, type LookupQueue, type RecordingJobQueue } from './ivr/callService';
import { OUTBOUND_WEBHOOK_SUBJECT } from './ivr/outbound';
import { RecordingArchiver, type RecordingJob } from './ivr/recordingArchiver';
import { TableOutboundLimits } from './outbound/limits';
import {
  LOOKUPS_QUEUE,
  RECORDINGS_POISON_QUEUE,
  RECORDINGS_QUEUE,
  TIMER_QUEUE,
  VOICEMAIL_POISON_QUEUE,
  VOICEMAIL_QUEUE,
  WEBHOOKS_POISON_QUEUE,
  WEBHOOKS_QUEUE,
} from './queues';
import type { Logger } from './logging';
import { TableCallStore } from './storage/callStore';
import { AzureRecordingBlobStore } from './storage/recordingStore';
import { TableRecordStore } from './storage/recordStore';
import { StorageClients, storageConnectionOf } from './storage/connection';
import { TableFlowStore } from './storage/flowStore';
import { TableConnector } from './storage/tables';
import { JsonQueue, StorageTimerQueue } from './storage/timerQueue';
import type { PostOptions } from './webhooks/delivery';
import { Webhooks } from './webhooks/outbox';
import type { VoicemailDeliverer } from './voicemail/deliverer';
import type { VoicemailJob } from './voicemail/job';
import { SPEECH_SCOPE } from './voicemail/speech';
import { parseRecordingSubjectKey, RECORDING_SUBJECT } from './voicemail/subject';

/**
 * The composition root: validated settings in, wired adapters out. Built on first use,
 * not at import, so a cold start pays only for what the first request needs; the storage
 * SDKs and @azure/identity load on their first use.
 */

export interface RecordingJobs extends RecordingJobQueue {
  /** A job that failed its last attempt, kept where the Functions host keeps poison messages. */
  poison(job: RecordingJob, reason: string): Promise<void>;
}

export interface VoicemailJobs {
  enqueue(job: VoicemailJob, delaySeconds: number): Promise<void>;
  /** A job that failed its last attempt, kept a week for an operator to replay. */
  poison(job: VoicemailJob, reason: string): Promise<void>;
}

export interface App {
  settings: Settings;
  auth: CallbackAuthenticator;
  /** The cached catalogue (files overlaid by stored flows); a promise only before the first load. */
  flows(): FlowCatalog | Promise<FlowCatalog>;
  /** The live catalogue and the stored flows behind it (admin API). */
  liveFlows: LiveFlows;
  flowStore: TableFlowStore;
  /**
   * A call service logging to one invocation; `now` lets timers and tests see another clock,
   * `deadline` (epoch ms) cuts its storage requests when the invocation's time is up.
   */
  calls(log: Logger, options?: { now?: () => Date; deadline?: number; observer?: CallObserver }): CallService;
  archiver(log: Logger): RecordingArchiver;
  recordingJobs: RecordingJobs;
  /** Signed webhook deliveries: queued here, sent by the `webhooks` queue function. */
  webhooks: Webhooks;
  /** How the `webhooks` function signs and sends. */
  webhookPostOptions(): PostOptions;
  /** Test and dev only (IVR_TEST_LOOKUP_HOSTS): hosts of http nodes served by a local stand-in. */
  testLookupHosts?: ReadonlyMap<string, URL>;
  /** Voicemail delivery (transcript, mail, webhook) of stored recordings, from `ivr-voicemail`; loaded on first use. */
  voicemail(log: Logger): Promise<VoicemailDeliverer>;
  voicemailJobs: VoicemailJobs;
  /**
   * Does ahead of time what the first notification would otherwise wait for: callback keys,
   * a Graph token, the flows, the call key secret. Failures are returned, not thrown: the
   * request path retries each of these itself.
   */
  warmUp(): Promise<string[]>;
  /** Problems found before any invocation (invalid flows, warm-up failures): logged once, by the first. */
  takeStartupProblems(): string[];
  noteStartupProblems(problems: string[]): void;
}

export interface AppOverrides {
  /** Replaces the @azure/identity credential (tests that have no token endpoint). */
  getToken?: () => Promise<string>;
  /** Replaces the Speech token's credential (tests). */
  getSpeechToken?: () => Promise<string>;
}

export function createApp(settings: Settings, overrides: AppOverrides = {}): App {
  // A connection string or an identity (no shared key): the clients are made, and the SDKs
  // and @azure/identity loaded, on first use.
  const storage = new StorageClients(
    storageConnectionOf(settings, 'AzureWebJobsStorage', settings.IVR_LOCAL_DEV_HTTP),
  );
  const timeoutMs = settings.IVR_STORAGE_TIMEOUT_MS;
  const store = new TableCallStore(
    new TableConnector(() => storage.table(settings.IVR_CALLS_TABLE)),
    timeoutMs,
  );
  const records = new TableRecordStore(
    new TableConnector(() => storage.table(settings.IVR_RECORDS_TABLE)),
    timeoutMs,
  );
  const blobs = new AzureRecordingBlobStore(() => storage.container(settings.IVR_RECORDINGS_CONTAINER));
  const startupProblems: string[] = [];
  const timers = new StorageTimerQueue(
    JsonQueue.of(() => storage.queue(TIMER_QUEUE), timeoutMs),
    settings.IVR_TEST_TIMER_SCALE,
    (err) => void startupProblems.push(`a scaled timer was lost: ${err.message}`),
  );
  const clock = testClock(settings.IVR_TEST_NOW);
  const jobsQueue = JsonQueue.of(() => storage.queue(RECORDINGS_QUEUE), timeoutMs);
  const poisonQueue = JsonQueue.of(() => storage.queue(RECORDINGS_POISON_QUEUE), timeoutMs);
  const recordingJobs: RecordingJobs = {
    // The recording location lives minutes: a job older than an hour has nothing left to fetch.
    enqueue: (job, delaySeconds) => jobsQueue.send(job, { delaySeconds, ttlSeconds: 3600 }),
    poison: (job, reason) =>
      poisonQueue.send(
        { ...job, recording: job.recording ? { ...job.recording, accessToken: '(removed)' } : null, reason },
        { ttlSeconds: 7 * 86_400 },
      ),
  };
  const webhooks = new Webhooks(
    JsonQueue.of(() => storage.queue(WEBHOOKS_QUEUE), timeoutMs),
    JsonQueue.of(() => storage.queue(WEBHOOKS_POISON_QUEUE), timeoutMs),
    settings.IVR_LOCAL_DEV_HTTP,
  );
  const lookupsQueue = JsonQueue.of(() => storage.queue(LOOKUPS_QUEUE), timeoutMs);
  // A result older than its call's watchdog is of no use: the message lives 5 minutes.
  const lookups: LookupQueue = { enqueue: (message) => lookupsQueue.send(message, { ttlSeconds: 300 }) };
  const testHosts = settings.IVR_TEST_LOOKUP_HOSTS
    ? parseTestLookupHosts(settings.IVR_TEST_LOOKUP_HOSTS)
    : null;
  // Slots and rates of outbound calls live in the calls table, one row per number.
  const outboundLimits = new TableOutboundLimits(
    new TableConnector(() => storage.table(settings.IVR_CALLS_TABLE)),
    timeoutMs,
  );
  const tenantId = settings.AZURE_TENANT_ID;
  const appCredential = () => {
    if (!tenantId) throw new Error('AZURE_TENANT_ID is not set');
    return createCredential({
      tenantId,
      clientId: settings.AZURE_CLIENT_ID ?? settings.BOT_APP_ID,
      kind: settings.GRAPH_CREDENTIAL,
      clientSecret: settings.AZURE_CLIENT_SECRET,
      certificatePath: settings.AZURE_CLIENT_CERTIFICATE_PATH,
      certificate: settings.AZURE_CLIENT_CERTIFICATE,
      managedIdentityClientId: settings.GRAPH_MANAGED_IDENTITY_CLIENT_ID,
      authorityHost: settings.AZURE_AUTHORITY_HOST,
    });
  };
  const getToken = overrides.getToken ?? tokenGetter(async () => appCredential());
  // Speech with the app's identity, no key: the managed identity IVR_SPEECH_CLIENT_ID names,
  // else the bot's app registration (the Graph credential) for Speech's scope.
  const speechClientId = settings.IVR_SPEECH_CLIENT_ID;
  const getSpeechToken =
    overrides.getSpeechToken ??
    tokenGetter(
      speechClientId
        ? async () =>
            new (await import('@azure/identity')).ManagedIdentityCredential({ clientId: speechClientId })
        : appCredential,
      Date.now,
      SPEECH_SCOPE,
    );
  const voicemailQueue = JsonQueue.of(() => storage.queue(VOICEMAIL_QUEUE), timeoutMs);
  const voicemailPoison = JsonQueue.of(() => storage.queue(VOICEMAIL_POISON_QUEUE), timeoutMs);
  const voicemailJobs: VoicemailJobs = {
    // Longer than the last retry (30 min) plus the host's own retries.
    enqueue: (job, delaySeconds) => voicemailQueue.send(job, { delaySeconds, ttlSeconds: 24 * 3600 }),
    poison: (job, reason) => voicemailPoison.send({ ...job, reason }, { ttlSeconds: 7 * 86_400 }),
  };
  const mailSender = settings.IVR_MAIL_SENDER;
  const voicemail = async (log: Logger): Promise<VoicemailDeliverer> => {
    // The room loads with the first delivery, never on a call's path.
    const [{ VoicemailDeliverer }, { speechTranscriber }] = await Promise.all([
      import('./voicemail/deliverer'),
      import('./voicemail/speech'),
    ]);
    // sendMail carries the audio (up to 4 MB): its own timeout, off the call path.
    const graph = new GraphClient({
      baseUrl: settings.GRAPH_BASE_URL,
      getToken,
      maxAttempts: settings.GRAPH_RETRY_MAX_ATTEMPTS,
      budgetMs: 60_000,
      requestTimeoutMs: 30_000,
      onRetry: (info) => log.warn('Graph throttled or unavailable; retrying', info),
    });
    return new VoicemailDeliverer({
      records,
      audio: blobs,
      sendMail: mailSender
        ? async (body) => void (await graph.post(`/users/${encodeURIComponent(mailSender)}/sendMail`, body))
        : null,
      transcriber: settings.IVR_SPEECH_ENDPOINT
        ? speechTranscriber({
            endpoint: settings.IVR_SPEECH_ENDPOINT,
            getToken: getSpeechToken,
            timeoutMs: settings.IVR_SPEECH_TIMEOUT_MS,
          })
        : null,
      webhooks,
      attachmentMaxBytes: settings.IVR_MAIL_ATTACHMENT_MAX_BYTES,
      linkDays: settings.IVR_MAIL_LINK_DAYS,
      maxAudioBytes: settings.IVR_RECORDING_MAX_BYTES,
      log,
      now: () => new Date(),
    });
  };
  // A voicemail webhook's outcome lands on its recording's row (and so in the call record).
  webhooks.onOutcome(RECORDING_SUBJECT, async (subject, outcome, log) => {
    const key = parseRecordingSubjectKey(subject.key);
    if (!key) return log.warn('a recording webhook outcome with an unreadable key', { key: subject.key });
    await (await voicemail(log)).webhookOutcome(key.callId, key.seq, outcome);
  });
  const auth = new CallbackAuthenticator({
    openIdConfigUrl: settings.CALLBACK_OPENID_CONFIG_URL,
    audience: settings.BOT_APP_ID,
    clockSkewSeconds: settings.CALLBACK_CLOCK_SKEW_SECONDS,
  });
  const flowStore = new TableFlowStore(
    new TableConnector(() => storage.table(settings.IVR_FLOWS_TABLE)),
    timeoutMs,
  );
  const liveFlows = new LiveFlows({
    dir: resolve(settings.IVR_FLOWS_DIR),
    store: flowStore,
    refreshMs: settings.IVR_FLOWS_REFRESH_MS,
    watchFiles: settings.IVR_FLOWS_WATCH,
    validation: { allowLoopbackUrls: settings.IVR_LOCAL_DEV_HTTP },
    // Told by the next invocation's logger, like every problem found outside one.
    note: (problem) => void startupProblems.push(problem),
  });
  const flows = () => liveFlows.catalog();
  const callbackUri = `${settings.BOT_CALLBACK_URL.replace(/\/+$/, '')}/api/calls`;
  const app: App = {
    settings,
    auth,
    flows,
    liveFlows,
    flowStore,
    recordingJobs,
    webhooks,
    voicemail,
    voicemailJobs,
    webhookPostOptions: () => ({
      secret: settings.IVR_WEBHOOK_SECRET,
      timeoutMs: settings.IVR_WEBHOOK_TIMEOUT_MS,
      allowLoopback: settings.IVR_LOCAL_DEV_HTTP,
    }),
    ...(testHosts && 'hosts' in testHosts ? { testLookupHosts: testHosts.hosts } : {}),
    takeStartupProblems: () => startupProblems.splice(0),
    noteStartupProblems: (problems) => void startupProblems.push(...problems),
    warmUp: async () => {
      const steps: Array<[string, () => unknown]> = [
        ['callback signing keys', () => auth.prefetchKeys()],
        ['Graph token', () => getToken()],
        ['flows', () => flows()],
        ['calls table', () => store.warmUp()],
        // The first notification's own one-time work: the Graph connection pool and its TLS
        // context, and zod's compiled parsers of a notification.
        ['call path', () => (defaultTransport(), warmNotificationParser())],
      ];
      const results = await Promise.allSettled(steps.map(([, run]) => Promise.resolve().then(run)));
      return results.flatMap((r, i) =>
        r.status === 'rejected' ? [`${steps[i]![0]}: ${(r.reason as Error).message}`] : [],
      );
    },
    calls: (log, options = {}) => {
      // Cheap per invocation: the connection pool and the token cache are the process's.
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
        timers,
        recordingJobs,
        lookups,
        graph,
        flows,
        flowVersion: (id, version) => liveFlows.flowAt(id, version),
        callbackUri,
        unconfiguredRejectReason: settings.IVR_UNCONFIGURED_REJECT_REASON,
        defaultFlowId: settings.IVR_DEFAULT_FLOW,
        tenantId,
        log,
        now: options.now ?? clock,
        deadline: options.deadline,
        observer: options.observer,
        ...(settings.IVR_WEBHOOK_SECRET ? { webhooks } : {}),
        limits: outboundLimits,
      });
    },
    archiver: (log) =>
      new RecordingArchiver({
        records,
        blobs,
        maxBytes: settings.IVR_RECORDING_MAX_BYTES,
        allowLocalHttp: settings.IVR_LOCAL_DEV_HTTP,
        downloadDeadlineMs: settings.IVR_RECORDING_DOWNLOAD_TIMEOUT_MS,
        log,
        now: () => new Date(),
      }),
  };
  // The webhooks queue tells an outbound call how its outcome webhook's delivery ended.
  webhooks.onOutcome(OUTBOUND_WEBHOOK_SUBJECT, (subject, outcome, log) =>
    app.calls(log).recordWebhookOutcome(subject.key, outcome),
  );
  return app;
}

/**
 * IVR_TEST_NOW (tests and dev only): the bot's clock starts at that instant and runs on from
 * there, so the simulator stack can test a schedule at a chosen date and time.
 */
function testClock(start: string | undefined): (() => Date) | undefined {
  if (!start) return undefined;
  const origin = Date.parse(start);
  const startedAt = performance.now();
  return () => new Date(origin + (performance.now() - startedAt));
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

/** Adapts an invocation context to the logger the domain uses: one compact line per event. */
export function invocationLogger(context: InvocationContext): Logger {
  const fmt = (message: string, props?: Record<string, unknown>) =>
    props ? `${message} ${JSON.stringify(props)}` : message;
  const logger: Logger = {
    info: (m, p) => context.log(fmt(m, p)),
    warn: (m, p) => context.warn(fmt(m, p)),
    error: (m, p) => context.error(fmt(m, p)),
  };
  // Whatever went wrong before any invocation existed is told by the first one.
  if (current) for (const problem of current.takeStartupProblems()) logger.warn(problem);
  return logger;
}
