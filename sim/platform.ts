import { randomBytes } from 'node:crypto';
import type { SimClock, SimTimer } from './clock';
import { CALL_RESULTS, OPERATION_RESULTS, type CompletionReason, type ResultInfo } from './codes';
import { BEEP_SECONDS, evaluateRecording, type RecordParams } from './media';
import type { ChangeType, Notifier } from './notifier';
import { identityKey, Person, type CallerScript, type PersonStep, type TargetScript } from './people';
import type { SeededRandom } from './random';
import type { Actor, TimelineEvent, Timelines } from './timeline';

/**
 * The calling platform's state machine: calls, their media operations, the scripted people
 * on the other end, and the notifications each change produces. HTTP concerns (auth,
 * validation, faults) live in graphApi.ts; by the time a request gets here it is valid.
 */

export type CallState =
  | 'incoming'
  | 'establishing'
  | 'established'
  | 'redirecting'
  | 'transferring'
  | 'transferAccepted'
  | 'terminating'
  | 'terminated';

/** Platform delays, in simulated seconds. */
const DELAYS = {
  /** answer → "establishing" notification, and establishing → "established". */
  establishing: 0.1,
  established: 0.5,
  /** reject / busy outcome → call ended. */
  quickEnd: 0.2,
  /** DELETE: "terminating" → "terminated". */
  terminating: 0.2,
  /** Transfer accepted → bot's leg terminated. */
  transferAccepted: 0.2,
  /** A busy target → its refusal arrives. */
  busy: 1,
} as const;
export const ANSWER_DEADLINE_SECONDS = 15;
export const KEEP_ALIVE_SECONDS = 45 * 60;
const RING_TIMEOUT_SECONDS = 60;
const RECORD_DEFAULT_SECONDS = 5;

export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GraphError';
  }
}

/** What a Graph request produced; graphApi.ts turns it into an HTTP response. */
export interface ActionResult {
  status: number;
  body?: unknown;
  /** Graph-relative path of the created resource, for the Location header. */
  location?: string;
}

export interface RecordingInfo {
  id: string;
  callId: string;
  url: string;
  /** Seconds of caller speech it holds (the WAV's length). */
  seconds: number;
}

export interface CallSummary {
  callId: string;
  direction: 'incoming' | 'outgoing';
  /** Whether the call ever reached "established" with the bot. */
  answered: boolean;
  resultInfo: ResultInfo;
  /** Simulated seconds from creation to termination. */
  durationSeconds: number;
  /** The redirect or transfer target that picked up, if any. */
  answeredBy?: string;
  recordings: RecordingInfo[];
  timeline: TimelineEvent[];
}

/** A snapshot of a call for tests and the demo (`sim.calls`). */
export interface CallInfo {
  id: string;
  direction: 'incoming' | 'outgoing';
  state: CallState;
  callbackUri: string;
  toneSubscribed: boolean;
  resultInfo?: ResultInfo;
  answeredBy?: string;
  /** Media operations running or queued. */
  pendingMediaOperations: number;
}

type MediaKind = 'playPrompt' | 'recordResponse';

interface Operation {
  id: string;
  odataType: string;
  clientContext?: string;
  status: 'running' | 'completed' | 'failed';
  resultInfo?: ResultInfo;
  // Media operations only:
  kind?: MediaKind;
  promptUris?: string[];
  record?: RecordParams & { playBeep: boolean };
  timer?: SimTimer;
  completionReason?: CompletionReason;
  recordingLocation?: string;
  recordingAccessToken?: string;
}

interface Call {
  id: string;
  direction: 'incoming' | 'outgoing';
  state: CallState;
  createdAt: number;
  establishedAt?: number;
  callbackUri: string;
  resource: Record<string, unknown>;
  etag: number;
  /** The scripted person on the other end, and how the timeline names them. */
  person: Person;
  actor: Actor;
  toneSubscribed: boolean;
  toneSequence: number;
  media: { current?: Operation; queue: Operation[] };
  operations: Map<string, Operation>;
  timers: Set<SimTimer>;
  keepAlive?: SimTimer;
  resultInfo?: ResultInfo;
  answeredBy?: string;
  recordings: RecordingInfo[];
  finish: (summary: CallSummary) => void;
  done: Promise<CallSummary>;
}

interface StoredRecording extends RecordingInfo {
  token: string;
}

export interface PlatformOptions {
  tenantId: string;
  botAppId: string;
  botCallbackUrl: string;
  applicationInstance: { id: string; displayName: string };
  /** Simulated milliseconds a prompt takes to play. */
  promptDurationMs: (uri: string) => number;
  defaultTargetBehavior: TargetScript;
  /** Simulated seconds a recording stays downloadable after its call ends. */
  recordingRetentionSeconds: number;
  /** Simulated seconds without keepAlive before an established call ends 408/8537. */
  keepAliveLapseSeconds: number;
  answerDeadlineSeconds: number;
  /** Absolute download URL of a recording (depends on the server's address). */
  recordingUrl: (id: string) => string;
}

export class Platform {
  private readonly calls = new Map<string, Call>();
  private readonly recordings = new Map<string, StoredRecording>();
  /** A target's scripts, one per time it rings (the last repeats), and how often it has rung. */
  private readonly targetBehaviors = new Map<string, { scripts: TargetScript[]; rung: number }>();

  constructor(
    private readonly deps: {
      clock: SimClock;
      ids: SeededRandom;
      timelines: Timelines;
      notifier: Notifier;
      options: PlatformOptions;
      onChange: () => void;
    },
  ) {}

  // ---- scripted people --------------------------------------------------------------------------

  /** One script, or one per time the target rings (a redial may find it free): the last one repeats. */
  setTargetBehavior(id: string, script: TargetScript | TargetScript[]): void {
    const scripts = Array.isArray(script) ? script : [script];
    if (scripts.length === 0) throw new Error('a target needs at least one script');
    this.targetBehaviors.set(id, { scripts, rung: 0 });
  }

  /** Rings the bot: posts the incoming-call notification to its app-level callback. */
  placeCall(script: CallerScript): { callId: string; done: Promise<CallSummary> } {
    const { options } = this.deps;
    const id = this.deps.ids.uuid();
    const source =
      typeof script.from === 'string'
        ? { identity: { '@odata.type': '#microsoft.graph.identitySet', phone: identity(script.from) } }
        : {
            identity: {
              '@odata.type': '#microsoft.graph.identitySet',
              user: {
                ...identity(script.from.teamsUser, script.from.displayName),
                tenantId: options.tenantId,
              },
            },
          };
    const call = this.newCall(id, 'incoming', 'incoming', options.botCallbackUrl, 'caller', script.actions, {
      direction: 'incoming',
      callbackUri: options.botCallbackUrl,
      callRoutes: [
        {
          '@odata.type': '#microsoft.graph.callRoute',
          routingType: 'lookup',
          original: { phone: identity(script.to) },
          final: { phone: identity(script.to) },
        },
      ],
      source: {
        '@odata.type': '#microsoft.graph.participantInfo',
        ...source,
        region: 'amer',
        languageId: 'en-US',
      },
      targets: [
        {
          '@odata.type': '#microsoft.graph.invitationParticipantInfo',
          identity: {
            '@odata.type': '#microsoft.graph.identitySet',
            applicationInstance: identity(
              options.applicationInstance.id,
              options.applicationInstance.displayName,
            ),
          },
        },
      ],
      requestedModalities: ['audio'],
    });
    const from = typeof script.from === 'string' ? script.from : `Teams user ${script.from.teamsUser}`;
    this.log(call, 'caller', `${from} dials ${script.to}`);
    void this.notify(call, 'created', this.callResource(call));
    const deadline = this.deps.options.answerDeadlineSeconds;
    this.at(call, call.createdAt + deadline, () => {
      if (call.state !== 'incoming') return;
      this.log(call, 'platform', `not answered within ${deadline} s`);
      this.finalize(call, CALL_RESULTS.notAnsweredInTime);
    });
    return { callId: id, done: call.done };
  }

  // ---- Graph requests ---------------------------------------------------------------------------

  /** POST /communications/calls: an outbound call to the first target, or a meeting the bot joins. */
  create(body: Record<string, unknown>): ActionResult {
    const targets = Array.isArray(body.targets) ? body.targets : [];
    const meetingKey = meetingKeyOf(body);
    const targetKey = meetingKey ?? identityKey((targets[0] as { identity?: unknown } | undefined)?.identity);
    if (targetKey === undefined)
      throw new GraphError(400, 'BadRequest', 'targets[0].identity must name a phone, user or application.');
    // A meeting has no one to ring: the bot is let in (unless scripted otherwise).
    const behavior =
      meetingKey && !this.targetBehaviors.has(targetKey) ? { answerAfter: 1 } : this.behaviorOf(targetKey);
    const id = this.deps.ids.uuid();
    const { options } = this.deps;
    const callbackUri = String(body.callbackUri);
    const call = this.newCall(id, 'outgoing', 'establishing', callbackUri, 'target', behavior.actions ?? [], {
      ...body,
      direction: 'outgoing',
      callRoutes: [],
      source: body.source ?? {
        '@odata.type': '#microsoft.graph.participantInfo',
        identity: { '@odata.type': '#microsoft.graph.identitySet', application: identity(options.botAppId) },
      },
      tenantId: body.tenantId ?? options.tenantId,
    });
    this.log(call, 'bot', meetingKey ? `join ${targetKey}` : `call ${targetKey}`);
    this.after(call, DELAYS.establishing, () => this.notifyState(call));
    if (behavior.answerAfter !== undefined) {
      this.after(call, Math.max(behavior.answerAfter, DELAYS.establishing), (at) => {
        this.log(call, 'target', `${targetKey} answered`, at);
        this.establish(call, at);
      });
    } else if (behavior.busy) {
      this.after(call, DELAYS.busy, () => {
        this.log(call, 'target', `${targetKey} is busy`);
        this.finalize(call, CALL_RESULTS.busy);
      });
    } else if (behavior.decline !== undefined) {
      this.after(call, Math.max(behavior.decline, DELAYS.establishing), (at) => {
        this.log(call, 'target', `${targetKey} declined`, at);
        this.finalize(call, CALL_RESULTS.declined);
      });
    } else {
      this.after(call, RING_TIMEOUT_SECONDS, () => {
        this.log(call, 'target', `${targetKey} did not answer`);
        this.finalize(call, CALL_RESULTS.noAnswer);
      });
    }
    return { status: 201, body: this.callResource(call), location: `/communications/calls/${id}` };
  }

  action(callId: string, action: string, body: Record<string, unknown>): ActionResult {
    switch (action) {
      case 'answer':
        return this.answer(this.inState(callId, action, ['incoming']), body);
      case 'reject':
        return this.reject(this.inState(callId, action, ['incoming']), body);
      case 'redirect':
        return this.redirect(this.inState(callId, action, ['incoming']), body);
      case 'playPrompt':
      case 'recordResponse':
        return this.startMediaOperation(this.inState(callId, action, ['established']), action, body);
      case 'subscribeToTone':
        return this.subscribeToTone(this.inState(callId, action, ['established']), body);
      case 'cancelMediaProcessing':
        return this.cancelMediaProcessing(this.inState(callId, action, ['established']), body);
      case 'transfer':
        return this.transfer(this.inState(callId, action, ['established']), body);
      case 'keepAlive':
        return this.keepAlive(this.live(callId));
      default:
        throw new GraphError(501, 'NotImplemented', `The simulator does not implement the ${action} action.`);
    }
  }

  /** DELETE /communications/calls/{id}: the bot hangs up. */
  hangUp(callId: string): ActionResult {
    const call = this.calls.get(callId);
    if (!call || call.state === 'terminated') throw notFound(callId);
    if (call.state === 'terminating') return { status: 204 };
    this.log(call, 'bot', 'hang up');
    this.stopEverything(call);
    this.setState(call, 'terminating');
    this.notifyState(call);
    this.after(call, DELAYS.terminating, () => this.finalize(call, CALL_RESULTS.endedByApp));
    return { status: 204 };
  }

  getCall(callId: string): ActionResult {
    return { status: 200, body: this.callResource(this.live(callId)) };
  }

  getOperation(callId: string, operationId: string): ActionResult {
    const call = this.live(callId);
    const op = call.operations.get(operationId);
    if (!op)
      throw new GraphError(404, 'NotFound', `Operation ${operationId} was not found on call ${callId}.`);
    return { status: 200, body: this.operationResource(call, op) };
  }

  /** A recording's bytes' length, or why not: 404 unknown/expired, 401 bad token. */
  recording(id: string, token: string | undefined): { status: 200; seconds: number } | { status: 401 | 404 } {
    const rec = this.recordings.get(id);
    if (!rec) return { status: 404 };
    if (token !== rec.token) return { status: 401 };
    return { status: 200, seconds: rec.seconds };
  }

  snapshot(): CallInfo[] {
    return [...this.calls.values()].map((c) => ({
      id: c.id,
      direction: c.direction,
      state: c.state,
      callbackUri: c.callbackUri,
      toneSubscribed: c.toneSubscribed,
      ...(c.resultInfo ? { resultInfo: c.resultInfo } : {}),
      ...(c.answeredBy ? { answeredBy: c.answeredBy } : {}),
      pendingMediaOperations: (c.media.current ? 1 : 0) + c.media.queue.length,
    }));
  }

  /** Simulated seconds since the call was created (timeline time). */
  callTime(callId: string): number {
    const call = this.calls.get(callId);
    return call ? this.deps.clock.now() - call.createdAt : 0;
  }

  // ---- actions ---------------------------------------------------------------------------------

  private answer(call: Call, body: Record<string, unknown>): ActionResult {
    this.log(call, 'bot', 'answer');
    call.callbackUri = String(body.callbackUri);
    this.clearTimers(call);
    // The state changes at once so a retried answer gets 409; the bot hears of it a moment later.
    this.setState(call, 'establishing');
    this.after(call, DELAYS.establishing, () => {
      this.notifyState(call);
      this.after(call, DELAYS.established, (at) => this.establish(call, at));
    });
    return { status: 202 };
  }

  private reject(call: Call, body: Record<string, unknown>): ActionResult {
    const reason = (
      typeof body.reason === 'string' ? body.reason : 'none'
    ) as keyof typeof CALL_RESULTS.rejected;
    this.log(call, 'bot', `reject (${reason})`);
    if (typeof body.callbackUri === 'string') call.callbackUri = body.callbackUri;
    this.clearTimers(call);
    this.setState(call, 'terminating'); // no notification: Graph only reports the end
    this.after(call, DELAYS.quickEnd, () =>
      this.finalize(call, CALL_RESULTS.rejected[reason] ?? CALL_RESULTS.rejected.none),
    );
    return { status: 202 };
  }

  /** Rings every target at once; the first to answer takes the call and the bot's leg ends. */
  private redirect(call: Call, body: Record<string, unknown>): ActionResult {
    const targets = (body.targets as { identity?: unknown }[]).map(
      (t, i) => identityKey(t.identity) ?? `target ${i + 1}`,
    );
    const timeout = typeof body.timeout === 'number' ? body.timeout : targets.length === 1 ? 55 : 60;
    if (typeof body.callbackUri === 'string') call.callbackUri = body.callbackUri;
    this.log(call, 'bot', `redirect to ${targets.join(', ')}`);
    this.clearTimers(call);
    this.setState(call, 'redirecting');
    let busy = 0;
    for (const target of targets) {
      const behavior = this.behaviorOf(target);
      if (behavior.busy) {
        busy++;
        this.log(call, 'target', `${target} is busy`);
      } else if (behavior.answerAfter !== undefined) {
        this.after(call, behavior.answerAfter, (at) => {
          if (call.state !== 'redirecting') return;
          call.answeredBy = target;
          this.log(call, 'target', `${target} answered the redirected call`, at);
          this.stopEverything(call);
          this.finalize(call, CALL_RESULTS.redirected(target));
        });
      }
    }
    if (busy === targets.length) {
      this.after(call, DELAYS.quickEnd, () => this.finalize(call, CALL_RESULTS.busy));
    } else {
      this.after(call, timeout, () => {
        this.log(call, 'platform', `redirect timed out after ${timeout} s`);
        this.stopEverything(call);
        this.finalize(call, CALL_RESULTS.redirectTimedOut(timeout));
      });
    }
    return { status: 202 };
  }

  private transfer(call: Call, body: Record<string, unknown>): ActionResult {
    const target = identityKey((body.transferTarget as { identity?: unknown }).identity) ?? 'transfer target';
    const behavior = this.behaviorOf(target);
    this.log(call, 'bot', `transfer to ${target}`);
    const fail = (why: string) => {
      if (call.state !== 'transferring') return;
      this.log(call, 'target', `transfer to ${target} failed: ${why}`);
      call.resultInfo = CALL_RESULTS.transferFailed(why);
      this.setState(call, 'established');
      this.notifyState(call, { resultInfo: resultInfoJson(call.resultInfo) });
    };
    this.setState(call, 'transferring');
    this.after(call, DELAYS.establishing, () => {
      this.notifyState(call);
      if (behavior.busy) this.after(call, DELAYS.busy, () => fail('target busy'));
      else if (behavior.never) this.after(call, RING_TIMEOUT_SECONDS, () => fail('no answer'));
      else {
        this.after(call, behavior.answerAfter ?? 0, (at) => {
          if (call.state !== 'transferring') return;
          call.answeredBy = target;
          this.log(call, 'target', `${target} accepted the transfer`, at);
          this.setState(call, 'transferAccepted', at);
          this.notifyState(call);
          this.stopEverything(call);
          this.after(call, DELAYS.transferAccepted, () => this.finalize(call, CALL_RESULTS.transferred));
        });
      }
    });
    return { status: 202 };
  }

  private keepAlive(call: Call): ActionResult {
    if (call.establishedAt !== undefined) this.armKeepAlive(call);
    return { status: 200 };
  }

  private subscribeToTone(call: Call, body: Record<string, unknown>): ActionResult {
    this.log(call, 'bot', 'subscribeToTone');
    call.toneSubscribed = true;
    const op = this.syncOperation(call, '#microsoft.graph.subscribeToToneOperation', body);
    return { status: 200, body: this.operationResource(call, op), location: operationPath(call, op) };
  }

  /** Fails every running and queued playPrompt / recordResponse (400 / 8508). */
  private cancelMediaProcessing(call: Call, body: Record<string, unknown>): ActionResult {
    this.log(call, 'bot', 'cancelMediaProcessing');
    this.cancelMedia(call);
    const op = this.syncOperation(call, '#microsoft.graph.cancelMediaProcessingOperation', body);
    return { status: 200, body: this.operationResource(call, op), location: operationPath(call, op) };
  }

  // ---- media ------------------------------------------------------------------------------------

  private startMediaOperation(call: Call, kind: MediaKind, body: Record<string, unknown>): ActionResult {
    const prompts = Array.isArray(body.prompts) ? (body.prompts as { mediaInfo?: { uri?: string } }[]) : [];
    const op: Operation = {
      id: this.deps.ids.uuid(),
      odataType:
        kind === 'playPrompt' ? '#microsoft.graph.playPromptOperation' : '#microsoft.graph.recordOperation',
      ...(typeof body.clientContext === 'string' ? { clientContext: body.clientContext } : {}),
      status: 'running',
      kind,
      promptUris: prompts.map((p) => p.mediaInfo?.uri ?? ''),
    };
    if (kind === 'recordResponse') {
      const seconds = (name: string) =>
        typeof body[name] === 'number' ? (body[name] as number) : RECORD_DEFAULT_SECONDS;
      op.record = {
        initialSilenceTimeoutInSeconds: seconds('initialSilenceTimeoutInSeconds'),
        maxSilenceTimeoutInSeconds: seconds('maxSilenceTimeoutInSeconds'),
        maxRecordDurationInSeconds: seconds('maxRecordDurationInSeconds'),
        stopTones: Array.isArray(body.stopTones) ? (body.stopTones as string[]) : [],
        playBeep: body.playBeep !== false,
      };
    }
    call.operations.set(op.id, op);
    const names = op.promptUris!.map(promptName).join(', ');
    this.log(
      call,
      'bot',
      `${kind}${names ? ` ${names}` : ''}${op.record?.stopTones.length ? ` (stop tones ${op.record.stopTones.join(' ')})` : ''}`,
    );
    // The response shows the operation as running even when it waits in the queue.
    const response = this.operationResource(call, op);
    if (kind === 'recordResponse' && body.bargeInAllowed === true && call.media.current) {
      this.log(call, 'platform', 'barge-in: cancelling queued and playing media');
      this.cancelMedia(call);
    }
    if (call.media.current) call.media.queue.push(op);
    else this.runMedia(call, op);
    return { status: 200, body: response, location: operationPath(call, op) };
  }

  private runMedia(call: Call, op: Operation): void {
    call.media.current = op;
    const start = this.deps.clock.now();
    const promptSeconds = op.promptUris!.reduce(
      (sum, uri) => sum + this.deps.options.promptDurationMs(uri) / 1000,
      0,
    );
    if (!op.record) {
      call.person.hear('prompt', start);
      op.timer = this.at(call, start + promptSeconds, (end) => {
        call.person.hear('promptEnd', end);
        this.completeMedia(call, op, 'completed', OPERATION_RESULTS.promptPlayed);
      });
      return;
    }
    const record = op.record;
    op.timer = this.at(call, start + promptSeconds + (record.playBeep ? BEEP_SECONDS : 0), (listenAt) => {
      this.log(call, 'platform', record.playBeep ? 'beep; recording' : 'recording', listenAt);
      call.person.hear('beep', listenAt);
      const outcome = evaluateRecording(call.person.known, listenAt, record);
      // When the person hangs up mid-recording Graph sends no completion: the hang-up ends the call.
      if (outcome.kind === 'hungUp') return;
      op.timer = this.at(call, outcome.endAt, (end) => {
        const rec = this.storeRecording(call, outcome.speechSeconds);
        op.completionReason = outcome.reason;
        op.recordingLocation = rec.url;
        op.recordingAccessToken = rec.token;
        this.log(
          call,
          'platform',
          `recording ended (${outcome.reason}), ${outcome.speechSeconds.toFixed(1)} s of speech`,
          end,
        );
        this.completeMedia(call, op, 'completed', OPERATION_RESULTS.record[outcome.reason]);
      });
    });
  }

  private completeMedia(call: Call, op: Operation, status: 'completed' | 'failed', result: ResultInfo): void {
    op.status = status;
    op.resultInfo = result;
    if (op.kind === 'playPrompt' && status === 'completed')
      this.log(call, 'platform', `finished playing ${op.promptUris!.map(promptName).join(', ')}`);
    void this.notify(call, 'deleted', this.operationResource(call, op), operationPath(call, op));
    if (call.media.current === op) {
      call.media.current = undefined;
      const next = call.media.queue.shift();
      if (next) this.runMedia(call, next);
    }
  }

  private cancelMedia(call: Call): void {
    const ops = [call.media.current, ...call.media.queue].filter((o): o is Operation => o !== undefined);
    call.media.current = undefined;
    call.media.queue = [];
    for (const op of ops) {
      op.timer?.cancel();
      if (op.record) op.completionReason = 'operationCanceled';
      this.log(call, 'platform', `${op.kind} cancelled`);
      this.completeMedia(call, op, 'failed', OPERATION_RESULTS.canceled);
    }
  }

  private storeRecording(call: Call, seconds: number): StoredRecording {
    const id = this.deps.ids.uuid();
    const rec: StoredRecording = {
      id,
      callId: call.id,
      url: this.deps.options.recordingUrl(id),
      seconds,
      // The download token is a bearer secret: random, not from the replayable PRNG.
      token: randomBytes(24).toString('base64url'),
    };
    this.recordings.set(id, rec);
    call.recordings.push({ id, callId: call.id, url: rec.url, seconds });
    return rec;
  }

  // ---- the person on the other end --------------------------------------------------------------

  private establish(call: Call, at: number): void {
    call.establishedAt = at;
    this.setState(call, 'established', at);
    this.notifyState(call, { direction: call.direction, tenantId: call.resource.tenantId });
    this.armKeepAlive(call);
    call.person.start(at);
  }

  /** The person's actions become timeline entries, tone notifications and the hang-up. */
  private newPerson(callOf: () => Call, steps: readonly PersonStep[]): Person {
    return new Person(steps, {
      at: (t, fn) => this.at(callOf(), t, fn),
      press: (key, tone, t) => {
        const call = callOf();
        this.log(call, call.actor, `pressed ${key}`, t);
        if (!call.toneSubscribed) return;
        void this.notify(call, 'updated', {
          ...this.stateResource(call),
          toneInfo: { '@odata.type': '#microsoft.graph.toneInfo', sequenceId: ++call.toneSequence, tone },
        });
      },
      speak: (seconds, t) => this.log(callOf(), callOf().actor, `speaks for ${round(seconds)} s`, t),
      hangUp: (t) => {
        const call = callOf();
        this.log(call, call.actor, 'hung up', t);
        this.stopEverything(call);
        this.finalize(call, CALL_RESULTS.remoteHungUp);
      },
    });
  }

  private armKeepAlive(call: Call): void {
    call.keepAlive?.cancel();
    const lapse = this.deps.options.keepAliveLapseSeconds;
    call.keepAlive = this.after(call, lapse, () => {
      this.log(call, 'platform', `no keepAlive for ${lapse / 60} minutes`);
      this.stopEverything(call);
      this.finalize(call, CALL_RESULTS.keepAliveLapsed);
    });
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private newCall(
    id: string,
    direction: Call['direction'],
    state: CallState,
    callbackUri: string,
    actor: Actor,
    steps: readonly PersonStep[],
    resource: Record<string, unknown>,
  ): Call {
    let finish!: (summary: CallSummary) => void;
    const done = new Promise<CallSummary>((resolve) => (finish = resolve));
    const call: Call = {
      id,
      direction,
      state,
      createdAt: this.deps.clock.now(),
      callbackUri,
      resource: {
        ...resource,
        tenantId: resource.tenantId ?? this.deps.options.tenantId,
        myParticipantId: this.deps.ids.uuid(),
        callChainId: this.deps.ids.uuid(),
      },
      etag: 1,
      person: this.newPerson(() => call, steps),
      actor,
      toneSubscribed: false,
      toneSequence: 0,
      media: { queue: [] },
      operations: new Map(),
      timers: new Set(),
      recordings: [],
      finish,
      done,
    };
    this.calls.set(id, call);
    return call;
  }

  /** Cancels the call's pending platform events and media (the call is ending). */
  private stopEverything(call: Call): void {
    this.clearTimers(call);
    call.media.current = undefined;
    call.media.queue = [];
  }

  /** The call ends: 'deleted' notification with resultInfo; `done` resolves once it was delivered. */
  private finalize(call: Call, result: ResultInfo): void {
    if (call.state === 'terminated') return;
    this.clearTimers(call);
    call.resultInfo = result;
    this.setState(call, 'terminated');
    this.log(call, 'platform', `terminated ${result.code}/${result.subcode}: ${result.message}`);
    const endedAt = this.deps.clock.now();
    for (const rec of call.recordings) {
      // Outlives the call's own timers (cleared above): recordings expire after the call.
      this.deps.clock.at(endedAt + this.deps.options.recordingRetentionSeconds, (at) => {
        this.recordings.delete(rec.id);
        this.log(call, 'platform', `recording ${rec.id} expired`, at);
      });
    }
    const delivered = this.notify(call, 'deleted', this.callResource(call));
    void delivered.then(() =>
      call.finish({
        callId: call.id,
        direction: call.direction,
        answered: call.establishedAt !== undefined,
        resultInfo: result,
        durationSeconds: round(endedAt - call.createdAt),
        ...(call.answeredBy ? { answeredBy: call.answeredBy } : {}),
        recordings: [...call.recordings],
        timeline: this.deps.timelines.get(call.id),
      }),
    );
  }

  /** Changes state and notes it in the timeline ("terminated" is noted with its result by finalize). */
  private setState(call: Call, state: CallState, at?: number): void {
    call.state = state;
    if (state === 'terminated') this.deps.onChange();
    else this.log(call, 'platform', state, at);
  }

  private inState(callId: string, action: string, states: CallState[]): Call {
    const call = this.live(callId);
    if (!states.includes(call.state)) {
      throw new GraphError(
        409,
        'Conflict',
        `Call ${callId} is ${call.state}; ${action} needs a call that is ${states.join(' or ')}.`,
      );
    }
    return call;
  }

  /** A call that has not ended; Graph answers 404 for ended ones. */
  private live(callId: string): Call {
    const call = this.calls.get(callId);
    if (!call || call.state === 'terminated' || call.state === 'terminating') throw notFound(callId);
    return call;
  }

  /** How the target behaves this time it rings. */
  private behaviorOf(target: string): TargetScript {
    const entry = this.targetBehaviors.get(target);
    if (!entry) return this.deps.options.defaultTargetBehavior;
    return entry.scripts[Math.min(entry.rung++, entry.scripts.length - 1)]!;
  }

  private syncOperation(call: Call, odataType: string, body: Record<string, unknown>): Operation {
    const op: Operation = {
      id: this.deps.ids.uuid(),
      odataType,
      ...(typeof body.clientContext === 'string' ? { clientContext: body.clientContext } : {}),
      status: 'completed',
      resultInfo: OPERATION_RESULTS.completedAtOnce,
    };
    call.operations.set(op.id, op);
    return op;
  }

  // ---- timers ----------------------------------------------------------------------------------

  /** A per-call timer at absolute simulated time: cancelled when the call ends. */
  private at(call: Call, at: number, fn: (at: number) => void): SimTimer {
    const timer = this.deps.clock.at(at, (t) => {
      call.timers.delete(timer);
      fn(t);
    });
    call.timers.add(timer);
    return timer;
  }

  private after(call: Call, seconds: number, fn: (at: number) => void): SimTimer {
    return this.at(call, this.deps.clock.now() + seconds, fn);
  }

  private clearTimers(call: Call): void {
    for (const timer of call.timers) timer.cancel();
    call.timers.clear();
    call.keepAlive = undefined;
  }

  // ---- resources and notifications --------------------------------------------------------------

  private log(call: Call, actor: Actor, text: string, at = this.deps.clock.now()): void {
    this.deps.timelines.add(call.id, at - call.createdAt, actor, text);
    this.deps.onChange();
  }

  private notify(
    call: Call,
    changeType: ChangeType,
    resourceData: Record<string, unknown>,
    resourceUrl = callPath(call),
  ): Promise<void> {
    return this.deps.notifier.send(call.id, call.callbackUri, {
      '@odata.type': '#microsoft.graph.commsNotification',
      changeType,
      resourceUrl,
      resourceData,
    });
  }

  private notifyState(call: Call, extra: Record<string, unknown> = {}): void {
    void this.notify(call, 'updated', { ...this.stateResource(call), ...extra });
  }

  private stateResource(call: Call): Record<string, unknown> {
    return {
      '@odata.type': '#microsoft.graph.call',
      '@odata.id': callPath(call),
      '@odata.etag': `W/"${call.etag++}"`,
      id: call.id,
      state: call.state,
    };
  }

  private callResource(call: Call): Record<string, unknown> {
    return {
      ...call.resource,
      ...this.stateResource(call),
      callbackUri: call.callbackUri,
      ...(call.resultInfo ? { resultInfo: resultInfoJson(call.resultInfo) } : {}),
    };
  }

  private operationResource(call: Call, op: Operation): Record<string, unknown> {
    return {
      '@odata.type': op.odataType,
      '@odata.id': operationPath(call, op),
      id: op.id,
      clientContext: op.clientContext ?? null,
      status: op.status,
      resultInfo: op.resultInfo ? resultInfoJson(op.resultInfo) : null,
      ...(op.kind === 'recordResponse'
        ? {
            completionReason: op.completionReason ?? null,
            recordingLocation: op.recordingLocation ?? null,
            recordingAccessToken: op.recordingAccessToken ?? null,
          }
        : {}),
    };
  }
}

function identity(id: string, displayName?: string): Record<string, unknown> {
  return { '@odata.type': '#microsoft.graph.identity', id, ...(displayName ? { displayName } : {}) };
}

function resultInfoJson(r: ResultInfo): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.resultInfo',
    code: r.code,
    subcode: r.subcode,
    message: r.message,
  };
}

function callPath(call: Call): string {
  return `/communications/calls/${call.id}`;
}

function operationPath(call: Call, op: Operation): string {
  return `/communications/calls/${call.id}/operations/${op.id}`;
}

function promptName(uri: string): string {
  return uri.slice(uri.lastIndexOf('/') + 1) || uri;
}

function notFound(callId: string): GraphError {
  return new GraphError(404, 'NotFound', `Call ${callId} was not found.`);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The behaviour key of a meeting a create call joins: `meeting:<thread id>` or `meeting:<join meeting id>`. */
function meetingKeyOf(body: Record<string, unknown>): string | undefined {
  const meeting = body.meetingInfo as { joinMeetingId?: unknown } | undefined;
  if (!meeting || typeof meeting !== 'object') return undefined;
  if (typeof meeting.joinMeetingId === 'string') return `meeting:${meeting.joinMeetingId}`;
  const thread = (body.chatInfo as { threadId?: unknown } | undefined)?.threadId;
  return `meeting:${typeof thread === 'string' ? thread : ''}`;
}
