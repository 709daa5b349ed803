import { EventEmitter } from 'node:events';
import { SimClock } from './clock';
import { Endpoints, type EndpointRequest, type EndpointScriptInput } from './endpoints';
import { Faults, type FaultOptions } from './faults';
import { loadCsdl } from './graph/csdl';
import { loadMailCsdl, type SentMail } from './graph/mail';
import { GraphApi, type GraphRequestRecord } from './graphApi';
import { TokenService, type ManagedIdentityOptions, type TokenGrant } from './identity';
import { Notifier, type NotificationRecord } from './notifier';
import {
  parseCallerScript,
  parseTargetScript,
  type CallerScriptInput,
  type TargetScriptInput,
} from './people';
import {
  ANSWER_DEADLINE_SECONDS,
  KEEP_ALIVE_SECONDS,
  Platform,
  type CallInfo,
  type CallState,
  type CallSummary,
} from './platform';
import { SeededRandom } from './random';
import { bearerToken, startServers, type Reply, type Route, type Servers } from './server';
import { Signer } from './signing';
import { SpeechService, type SpeechAnswer, type TranscriptionRecord } from './speech';
import { Timelines, type Actor, type TimelineEvent } from './timeline';
import { createTlsMaterial, type TlsMaterial } from './tls';
import { makeWav } from './wav';

export interface SimulatorOptions {
  /** The bot's app-level calling webhook: incoming-call notifications go here. */
  botCallbackUrl: string;
  /** Audience of the callback tokens. Default: clientId, else a fixed GUID. */
  botAppId?: string;
  tenantId?: string;
  /** Credentials the token endpoint accepts. Default clientId: botAppId; clientSecret: "sim-secret". */
  clientId?: string;
  clientSecret?: string;
  /** The bot's application instance (the target of incoming calls). */
  applicationInstance?: { id: string; displayName?: string };
  /** Listen address (default 127.0.0.1) and ports (default 0: free ports). */
  host?: string;
  httpPort?: number;
  httpsPort?: number;
  /** Use the https server for graphBaseUrl and recording URLs (default false: http). */
  graphOverHttps?: boolean;
  /** Real seconds per simulated second (default 1; 0.01 runs the platform 100x faster). */
  timeScale?: number;
  /** Seed of the PRNG behind ids and random faults (default: random; see `sim.seed`). */
  seed?: number;
  faults?: FaultOptions;
  /** Simulated milliseconds each prompt plays (default 2000). */
  promptDurationMs?: (uri: string) => number;
  /** Behaviour of redirect/transfer/outbound targets without their own script (default answerAfter 2). */
  defaultTargetBehavior?: TargetScriptInput;
  /** Per-target scripts, keyed by phone number or user/application id; a list gives one per time it rings. */
  targets?: Record<string, TargetScriptInput | TargetScriptInput[]>;
  /** Simulated seconds a recording stays downloadable after its call ends (default 300). */
  recordingRetentionSeconds?: number;
  /** Simulated seconds without keepAlive before an established call is ended 408/8537 (default 2700: Graph's 45 minutes). */
  keepAliveLapseSeconds?: number;
  /**
   * Simulated seconds an incoming call waits to be answered before it ends 408/1106 (default 15:
   * Graph's). Tests that are not about the deadline give it more, so a bot slowed down by a
   * loaded machine is not cut off at a fast time scale.
   */
  answerDeadlineSeconds?: number;
  /** Accept http:// callback and prompt URLs on loopback hosts (default true: local bots). */
  allowHttpLoopback?: boolean;
  /** CSDL file for request validation (default: the repository's copy). */
  csdlPath?: string;
  /** Lifetime of issued access tokens in real seconds (default 3599). */
  accessTokenLifetimeSeconds?: number;
  /** Scripted HTTP endpoints for flows' http nodes (see `setEndpoint`). */
  endpoints?: EndpointScriptInput[];
  /**
   * Serve a user-assigned managed identity on App Service's identity contract (see
   * `identityEndpoint`), trusted as a federated credential of the bot's app.
   */
  managedIdentity?: ManagedIdentityOptions;
}

const DEFAULT_APP_ID = '5e3ce6c0-2b1f-4285-8d4b-75ee78787346';
const DEFAULT_TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const DEFAULT_APP_INSTANCE_ID = '3d913abb-aec0-4964-8fa6-3c6850c4f278';

/** Starts a simulator: generates its TLS certificate and signing key, then listens. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const [tls, signer] = await Promise.all([createTlsMaterial(), Signer.create()]);
  try {
    const sim = new Simulator(options, tls, signer);
    await sim.listen();
    return sim;
  } catch (e) {
    await tls.dispose();
    throw e;
  }
}

/** A running simulator: URLs to give the bot, scripted calls, and everything it observed. */
export class Simulator {
  readonly seed: number;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly botAppId: string;
  /** PEM of the self-signed certificate: NODE_EXTRA_CA_CERTS for a child process. */
  readonly caCertPath: string;

  private readonly clock: SimClock;
  private readonly events = new EventEmitter();
  private readonly timelines = new Timelines();
  private readonly faults: Faults;
  private readonly tokens: TokenService;
  private readonly notifier: Notifier;
  private readonly platform: Platform;
  private readonly routes: Route[];
  private readonly endpointScripts: Endpoints;
  private readonly requestLog: GraphRequestRecord[] = [];
  private readonly notificationLog: NotificationRecord[] = [];
  private readonly mailLog: SentMail[] = [];
  private readonly speech: SpeechService;
  private servers?: Servers;
  private stopped = false;

  /** @internal Use startSimulator(). */
  constructor(
    private readonly options: SimulatorOptions,
    private readonly tls: TlsMaterial,
    signer: Signer,
  ) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.botAppId = options.botAppId ?? options.clientId ?? DEFAULT_APP_ID;
    this.tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
    this.clientId = options.clientId ?? this.botAppId;
    this.clientSecret = options.clientSecret ?? 'sim-secret';
    this.caCertPath = tls.caCertPath;
    this.events.setMaxListeners(0);
    const changed = () => this.events.emit('change');

    this.clock = new SimClock(options.timeScale ?? 1);
    // Separate PRNG streams: fault draws must not shift the ids (and vice versa) between runs.
    this.faults = new Faults(options.faults ?? {}, new SeededRandom(this.seed ^ 0x5bd1e995));
    this.tokens = new TokenService(signer, {
      tenantId: this.tenantId,
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 3599,
      ...(options.managedIdentity ? { managedIdentity: options.managedIdentity } : {}),
    });
    this.notifier = new Notifier({
      clock: this.clock,
      signer,
      faults: this.faults,
      audience: this.botAppId,
      tenantId: this.tenantId,
      onDelivered: (record) => {
        this.notificationLog.push(record);
        changed();
      },
    });
    this.platform = new Platform({
      clock: this.clock,
      ids: new SeededRandom(this.seed),
      timelines: this.timelines,
      notifier: this.notifier,
      onChange: changed,
      options: {
        tenantId: this.tenantId,
        botAppId: this.botAppId,
        botCallbackUrl: options.botCallbackUrl,
        applicationInstance: {
          id: options.applicationInstance?.id ?? DEFAULT_APP_INSTANCE_ID,
          displayName: options.applicationInstance?.displayName ?? 'IVR bot',
        },
        promptDurationMs: options.promptDurationMs ?? (() => 2000),
        defaultTargetBehavior: parseTargetScript(options.defaultTargetBehavior ?? { answerAfter: 2 }),
        recordingRetentionSeconds: options.recordingRetentionSeconds ?? 300,
        keepAliveLapseSeconds: options.keepAliveLapseSeconds ?? KEEP_ALIVE_SECONDS,
        answerDeadlineSeconds: options.answerDeadlineSeconds ?? ANSWER_DEADLINE_SECONDS,
        recordingUrl: (id) => `${options.graphOverHttps ? this.httpsUrl : this.httpUrl}/recordings/${id}.wav`,
      },
    });
    for (const [id, script] of Object.entries(options.targets ?? {})) this.setTargetBehavior(id, script);
    const graph = new GraphApi({
      clock: this.clock,
      platform: this.platform,
      tokens: this.tokens,
      faults: this.faults,
      model: loadCsdl(options.csdlPath),
      mailModel: loadMailCsdl(),
      onMail: (mail) => {
        this.mailLog.push(mail);
        changed();
      },
      allowHttpLoopback: options.allowHttpLoopback ?? true,
      graphBaseUrl: () => this.graphBaseUrl,
      onRecord: (record) => {
        this.requestLog.push(record);
        changed();
      },
    });
    this.endpointScripts = new Endpoints((s) => this.clock.toRealMs(s), changed);
    for (const script of options.endpoints ?? []) this.endpointScripts.set(script);
    this.speech = new SpeechService(signer, changed);
    // Scripted endpoints first: they take only requests for their own hosts.
    this.routes = [
      ...this.endpointScripts.routes(),
      ...graph.routes(),
      ...this.tokens.routes(),
      ...this.speech.routes(),
      this.recordingRoute(),
      ...controlRoutes(this),
    ];
  }

  /** @internal Starts the http and https servers (startSimulator does). */
  async listen(): Promise<void> {
    this.servers = await startServers(this.routes, this.tls, {
      host: this.options.host ?? '127.0.0.1',
      httpPort: this.options.httpPort ?? 0,
      httpsPort: this.options.httpsPort ?? 0,
    });
  }

  get httpUrl(): string {
    return this.listening().httpUrl;
  }

  get httpsUrl(): string {
    return this.listening().httpsUrl;
  }

  /** GRAPH_BASE_URL for the bot. */
  get graphBaseUrl(): string {
    return `${this.options.graphOverHttps ? this.httpsUrl : this.httpUrl}/v1.0`;
  }

  /** CALLBACK_OPENID_CONFIG_URL for the bot (https; its `jwks_uri` is `<https>/v1/keys`). */
  get openIdConfigUrl(): string {
    return `${this.httpsUrl}/v1/.well-known/OpenIdConfiguration`;
  }

  /** The callback-token keys on http (handy inside Jest, which cannot trust the TLS certificate). */
  get jwksUrl(): string {
    return `${this.httpUrl}/v1/keys`;
  }

  /** AZURE_AUTHORITY_HOST for the bot (https origin of the token endpoint). */
  get authorityHost(): string {
    return this.httpsUrl;
  }

  /** IDENTITY_ENDPOINT for the bot (http, like App Service's local identity endpoint). */
  get identityEndpoint(): string {
    return `${this.httpUrl}/msi/token`;
  }

  /** Every token issued by the token endpoint and the managed identity endpoint, in order. */
  get tokenGrants(): readonly TokenGrant[] {
    return [...this.tokens.grants];
  }

  get tokenUrl(): string {
    return `${this.httpsUrl}/${this.tenantId}/oauth2/v2.0/token`;
  }

  /** Every Graph request received, in processing order. */
  get requests(): readonly GraphRequestRecord[] {
    return [...this.requestLog];
  }

  /** Every mail sent through Graph's sendMail, in order. */
  get mails(): readonly SentMail[] {
    return [...this.mailLog];
  }

  /** IVR_SPEECH_ENDPOINT for the bot: the fast transcription API (http, loopback). */
  get speechEndpoint(): string {
    return this.httpUrl;
  }

  /** Every transcription asked for, in order. */
  get transcriptions(): readonly TranscriptionRecord[] {
    return [...this.speech.log];
  }

  /** What the next transcriptions answer (a text, or a failure status), in order. */
  scriptTranscripts(...answers: SpeechAnswer[]): void {
    this.speech.script(...answers);
  }

  /** Every notification POSTed to the bot (one entry per POST, duplicates included). */
  get notifications(): readonly NotificationRecord[] {
    return [...this.notificationLog];
  }

  /** Current state of every call the simulator knows (ended ones included). */
  get calls(): CallInfo[] {
    return this.platform.snapshot();
  }

  call(callId: string): CallInfo | undefined {
    return this.calls.find((c) => c.id === callId);
  }

  timeline(callId: string): TimelineEvent[] {
    return this.timelines.get(callId);
  }

  formatTimeline(callId: string): string {
    return this.timelines.format(callId);
  }

  /** Lets a test or the demo add its own line ("recording stored …") to a call's timeline. */
  addTimelineEvent(callId: string, actor: Actor, text: string): void {
    this.timelines.add(callId, this.platform.callTime(callId), actor, text);
    this.events.emit('change');
  }

  /** Rings the bot with a scripted caller. `done` resolves once the call has ended and the bot was told. */
  placeCall(script: CallerScriptInput): { callId: string; done: Promise<CallSummary> } {
    return this.platform.placeCall(parseCallerScript(script));
  }

  /**
   * How a redirect/transfer/outbound target (phone number, user or app id) behaves; a list
   * gives its behaviour each time it rings (busy, then answering a redial), the last repeating.
   */
  setTargetBehavior(id: string, script: TargetScriptInput | TargetScriptInput[]): void {
    this.platform.setTargetBehavior(
      id,
      Array.isArray(script) ? script.map((s) => parseTargetScript(s)) : parseTargetScript(script),
    );
  }

  /** Scripts (or re-scripts) an HTTP endpoint of a flow's http node: its answer, delay or failure. */
  setEndpoint(script: EndpointScriptInput): void {
    this.endpointScripts.set(script);
  }

  /** Hosts of the scripted endpoints: IVR_TEST_LOOKUP_HOSTS sends the bot's requests for them here. */
  get endpointHosts(): string[] {
    return this.endpointScripts.hosts();
  }

  /** Every request the scripted endpoints received, in order, headers included. */
  get endpointRequests(): readonly EndpointRequest[] {
    return [...this.endpointScripts.requests];
  }

  /** Replaces the fault modes for the rest of the run. */
  setFaults(faults: FaultOptions): void {
    this.faults.set(faults);
  }

  /** An access token for calling the simulator's Graph directly (tests), without OAuth. */
  issueAccessToken(): string {
    return this.tokens.issue().accessToken;
  }

  /**
   * Resolves with the predicate's first truthy result, re-evaluated on every request,
   * notification, timeline event and state change; rejects after `timeoutMs` real ms.
   */
  waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let value: T | undefined | null | false;
        try {
          value = predicate();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (value) {
          done();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`waitFor: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.events.off('change', check);
      };
      this.events.on('change', check);
      check();
    });
  }

  waitForCallState(callId: string, state: CallState, timeoutMs = 10_000): Promise<CallInfo> {
    return this.waitFor(() => {
      const call = this.call(callId);
      return call?.state === state ? call : undefined;
    }, timeoutMs).catch((e: Error) => {
      throw new Error(
        `call ${callId} did not reach ${state} (it is ${this.call(callId)?.state ?? 'unknown'}): ${e.message}`,
      );
    });
  }

  /** Stops timers, lets queued notifications go out (up to 2 s), closes the servers, removes the cert file. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.stop();
    await Promise.race([this.notifier.idle(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    await this.servers?.close();
    await this.tls.dispose();
  }

  private listening(): Servers {
    if (!this.servers) throw new Error('the simulator is not listening yet');
    return this.servers;
  }

  private recordingRoute(): Route {
    return {
      method: 'GET',
      path: /^\/recordings\/([^/]+)\.wav$/,
      handle: (ctx, m): Reply => {
        const found = this.platform.recording(m[1]!, bearerToken(ctx.headers));
        if (found.status === 200) {
          return {
            status: 200,
            headers: { 'content-type': 'application/octet-stream' },
            body: makeWav(found.seconds),
          };
        }
        return found.status === 401
          ? {
              status: 401,
              body: { error: { code: 'Unauthorized', message: 'A valid recordingAccessToken is required.' } },
            }
          : {
              status: 404,
              body: { error: { code: 'NotFound', message: 'No such recording (it may have expired).' } },
            };
      },
    };
  }
}

/**
 * A small unauthenticated control API under /_sim, so a simulator started from the CLI can be
 * driven from another process (place calls, script targets, read timelines).
 */
function controlRoutes(sim: Simulator): Route[] {
  const json = (ctx: { body: Buffer }): unknown => JSON.parse(ctx.body.toString('utf8') || '{}');
  const guarded = (fn: () => Reply): Reply => {
    try {
      return fn();
    } catch (e) {
      return {
        status: 400,
        body: { error: { code: 'BadRequest', message: e instanceof Error ? e.message : String(e) } },
      };
    }
  };
  return [
    {
      method: 'POST',
      path: /^\/_sim\/calls$/,
      handle: (ctx) =>
        guarded(() => ({
          status: 201,
          body: { callId: sim.placeCall(json(ctx) as CallerScriptInput).callId },
        })),
    },
    { method: 'GET', path: /^\/_sim\/calls$/, handle: () => ({ status: 200, body: sim.calls }) },
    {
      method: 'GET',
      path: /^\/_sim\/calls\/([^/]+)$/,
      handle: (_ctx, m) => {
        const call = sim.call(m[1]!);
        return call
          ? { status: 200, body: { ...call, timeline: sim.timeline(call.id) } }
          : { status: 404, body: { error: { code: 'NotFound', message: 'No such call.' } } };
      },
    },
    {
      method: 'PUT',
      path: /^\/_sim\/targets\/([^/]+)$/,
      handle: (ctx, m) =>
        guarded(() => {
          sim.setTargetBehavior(
            decodeURIComponent(m[1]!),
            json(ctx) as TargetScriptInput | TargetScriptInput[],
          );
          return { status: 204 };
        }),
    },
    {
      method: 'PUT',
      path: /^\/_sim\/endpoints$/,
      handle: (ctx) =>
        guarded(() => {
          sim.setEndpoint(json(ctx) as EndpointScriptInput);
          return { status: 204 };
        }),
    },
    {
      method: 'PUT',
      path: /^\/_sim\/faults$/,
      handle: (ctx) =>
        guarded(() => {
          sim.setFaults(json(ctx) as FaultOptions);
          return { status: 204 };
        }),
    },
    { method: 'GET', path: /^\/_sim\/requests$/, handle: () => ({ status: 200, body: sim.requests }) },
    { method: 'GET', path: /^\/_sim\/mail$/, handle: () => ({ status: 200, body: sim.mails }) },
    {
      method: 'POST',
      path: /^\/_sim\/speech$/,
      handle: (ctx) =>
        guarded(() => {
          sim.scriptTranscripts(json(ctx) as SpeechAnswer);
          return { status: 204 };
        }),
    },
    {
      method: 'GET',
      path: /^\/_sim\/notifications$/,
      handle: () => ({ status: 200, body: sim.notifications }),
    },
  ];
}
