import type {
  AnswerBody,
  CreateCallBody,
  InvitationTarget,
  PlayPromptBody,
  RecordResponseBody,
  RedirectBody,
  RejectBody,
  ResultInfo,
  Tone,
  TransferBody,
} from '../graph/schemas';
import type { LoadedFlow } from '../flows/loader';
import type { FlowNode, NodeOf, RedirectTarget } from '../flows/schema';
import { decideIncoming } from '../flows/rules';
import { testPasses, VARIABLE_VALUE_LIMIT, wholeMatch } from '../flows/variables';
import {
  bounded,
  CODE_LIMIT,
  FAILURE_LIMIT,
  HISTORY_LIMIT,
  MESSAGE_LIMIT,
  operationContext,
  VARIABLES_LIMIT,
  type CallContext,
  type Decision,
  type LookupRef,
  type PendingMedia,
  type RecordingRef,
} from './context';
import { lookupOutcome, lookupRequest, type LookupAnswer, type LookupRequest } from './lookup';
import { mediaInfo, mediaPrompt } from './media';
import {
  describeOutboundTarget,
  invitationOf,
  OUTBOUND_COMPLETED_EVENT,
  outboundDeliveryId,
  outcomeOf,
  WEBHOOK_CHECK_SECONDS,
  redialsAfter,
  type OutboundTarget,
} from './outbound';

/**
 * The IVR core: (context, event) -> (context, commands). No I/O and no clock:
 * the time of every event comes in the event. The shell runs the commands.
 */

// ---- events -----------------------------------------------------------------------------------

export type IvrEvent =
  | { kind: 'callState'; at: string; state: string; resultInfo?: ResultInfo | null }
  | { kind: 'tone'; at: string; sequenceId: number; tone: Tone }
  | {
      kind: 'operationCompleted';
      at: string;
      seq: number;
      status: 'completed' | 'failed';
      resultInfo?: ResultInfo | null;
      completionReason?: string | null;
      recording?: { location: string; accessToken: string } | null;
    }
  | { kind: 'timer'; at: string; timerId: string }
  /** What an http node's request got, from the lookup worker; `seq` is the request's. */
  | ({ kind: 'lookupResult'; at: string; seq: number } & LookupAnswer)
  | {
      kind: 'requestFailed';
      at: string;
      request: Command['kind'];
      seq?: number;
      status?: number;
      code?: string;
      message?: string;
    };

// ---- commands ---------------------------------------------------------------------------------

export type Command =
  | { kind: 'answer'; body: AnswerBody }
  | { kind: 'reject'; body: RejectBody }
  | { kind: 'redirect'; body: RedirectBody }
  | { kind: 'createCall'; body: CreateCallBody }
  | { kind: 'subscribeToTone'; body: { clientContext: string } }
  | { kind: 'playPrompt'; seq: number; body: PlayPromptBody }
  | { kind: 'recordResponse'; seq: number; body: RecordResponseBody }
  | { kind: 'cancelMediaProcessing'; body: { clientContext: string } }
  | { kind: 'transfer'; body: TransferBody }
  | { kind: 'hangUp' }
  | { kind: 'startTimer'; timerId: string; delaySeconds: number }
  /**
   * Hands an http node's request to the lookup queue: the request runs off the notification
   * path and its result comes back as a lookupResult event with this seq.
   */
  | { kind: 'lookup'; seq: number; node: string; request: LookupRequest }
  | {
      /**
       * Hands a recording to the archive queue: downloaded and stored when there is audio to
       * keep, otherwise a discarded or lost row saying why. Never silently dropped.
       */
      kind: 'archiveRecording';
      seq: number;
      node: string;
      outcome: RecordingRef['outcome'];
      completionReason: string | null;
      recording: { location: string; accessToken: string } | null;
      /** Why nothing is downloaded (set when recording is null or the audio is not a message). */
      reason: string | null;
    }
  | { kind: 'callEnded' }
  /**
   * Queues an outbound call's outcome webhook (its final outcome, after the last attempt),
   * once the ending is stored: its body is then the stored call's, the same on any re-run.
   */
  | { kind: 'queueOutcomeWebhook'; deliveryId: string; event: string };

/**
 * Commands the shell runs before it stores the new context: queue messages, which are
 * harmless when repeated but must not be lost. If one fails nothing is stored, and the
 * platform's redelivery of the notification tries again.
 */
export function runsBeforeCommit(command: Command): boolean {
  return command.kind === 'startTimer' || command.kind === 'archiveRecording' || command.kind === 'lookup';
}

/**
 * How long past its timeout an http node waits for its result before it counts as a timeout:
 * the queue's polling, and a worker that crashed before it could report.
 */
export const LOOKUP_GRACE_SECONDS = 30;

/** How long a recording cut short by a hang-up may take to be reported before it counts as lost. */
export const RECORDING_GRACE_SECONDS = 120;

export interface EngineEnv {
  /** callbackUri for Graph requests about this call. */
  callbackUri: string;
  /** The call's flow, or null for an unconfigured number. */
  flow: LoadedFlow | null;
}

export interface StepResult {
  ctx: CallContext;
  commands: Command[];
}

// ---- starting a call ------------------------------------------------------------------------

export interface IncomingCallInfo {
  clientContext: string;
  callId: string;
  tenantId: string | null;
  number: string | null;
  caller: string | null;
  at: string;
}

function newContext(
  info: Omit<IncomingCallInfo, 'caller'> & { party: string | null },
  direction: CallContext['direction'],
  flow: LoadedFlow | null,
  decision: Decision,
): CallContext {
  return {
    v: 1,
    clientContext: info.clientContext,
    callId: info.callId || null,
    direction,
    tenantId: info.tenantId,
    number: info.number,
    flowId: flow?.id ?? null,
    ...(flow?.version ? { flowVersion: flow.version } : {}),
    party: info.party,
    decision,
    phase: direction === 'incoming' ? 'incoming' : 'dialing',
    node: null,
    menu: null,
    media: null,
    timer: null,
    seq: 0,
    tonesSubscribed: false,
    lastToneSeq: 0,
    heldTones: [],
    visited: [],
    digits: [],
    recordings: [],
    failures: [],
    result: null,
    createdAt: info.at,
    establishedAt: null,
    endedAt: null,
  };
}

export function toInvitationTarget(t: RedirectTarget): InvitationTarget {
  const identity =
    'phone' in t
      ? { phone: { '@odata.type': '#microsoft.graph.identity', id: t.phone } }
      : 'user' in t
        ? {
            user: {
              '@odata.type': '#microsoft.graph.identity',
              id: t.user,
              ...(t.tenantId ? { tenantId: t.tenantId } : {}),
            },
          }
        : { applicationInstance: { '@odata.type': '#microsoft.graph.identity', id: t.applicationInstance } };
  return { '@odata.type': '#microsoft.graph.invitationParticipantInfo', identity };
}

function describeTarget(t: RedirectTarget): string {
  return 'phone' in t ? t.phone : 'user' in t ? `user:${t.user}` : `app:${t.applicationInstance}`;
}

/** Decides an incoming call: the new context and the one Graph request that answers, rejects or redirects it. */
export function decideIncomingCall(
  info: IncomingCallInfo,
  env: EngineEnv,
  unconfiguredReason: RejectBody['reason'],
): StepResult {
  const { flow } = env;
  const base = { ...info, party: info.caller };
  if (!flow) {
    const ctx = newContext(base, 'incoming', null, {
      type: 'reject',
      reason: unconfiguredReason,
      rule: 'unconfigured number',
    });
    return {
      ctx,
      commands: [{ kind: 'reject', body: { reason: unconfiguredReason, callbackUri: env.callbackUri } }],
    };
  }
  const { action, matched } = decideIncoming(flow.flow, info.caller, new Date(info.at));
  switch (action.type) {
    case 'reject': {
      const ctx = newContext(base, 'incoming', flow, {
        type: 'reject',
        reason: action.reason,
        rule: matched,
      });
      return {
        ctx,
        commands: [{ kind: 'reject', body: { reason: action.reason, callbackUri: env.callbackUri } }],
      };
    }
    case 'redirect': {
      const ctx = newContext(base, 'incoming', flow, {
        type: 'redirect',
        targets: action.targets.map(describeTarget),
        rule: matched,
      });
      const timeout = action.timeoutSeconds ?? (action.targets.length > 1 ? 60 : 55);
      return {
        ctx,
        commands: [
          {
            kind: 'redirect',
            body: { targets: action.targets.map(toInvitationTarget), timeout, callbackUri: env.callbackUri },
          },
        ],
      };
    }
    case 'answer': {
      const ctx = newContext(base, 'incoming', flow, { type: 'answer', start: action.start, rule: matched });
      return { ctx, commands: [{ kind: 'answer', body: answerBody(env, flow, action.start) }] };
    }
  }
}

export function answerBody(env: EngineEnv, flow: LoadedFlow, start: string): AnswerBody {
  return {
    callbackUri: env.callbackUri,
    acceptedModalities: ['audio'],
    mediaConfig: {
      '@odata.type': '#microsoft.graph.serviceHostedMediaConfig',
      // One entry per URI: two prompt names may share a file.
      preFetchMedia: [
        ...new Map(
          (flow.promptsByEntry.get(start) ?? [])
            .map((name) => mediaInfo(flow.flow, name))
            .map((m) => [m.uri, m]),
        ).values(),
      ],
    },
  };
}

export interface OutboundCallInfo {
  clientContext: string;
  tenantId: string;
  number: string;
  applicationInstanceId: string;
  target?: OutboundTarget;
  /** A PSTN callee: shorthand for a phone target. */
  callee?: string;
  variables?: Record<string, string>;
  callbackUrl?: string;
  at: string;
}

/** Starts an outbound call from a number's flow to a PSTN number, a Teams user or a meeting. */
export function placeOutboundCall(info: OutboundCallInfo, env: EngineEnv & { flow: LoadedFlow }): StepResult {
  const start = env.flow.flow.outbound?.start;
  if (!start) throw new Error(`the flow of ${info.number} has no outbound entry`);
  const target: OutboundTarget = info.target ?? { kind: 'phone', phone: info.callee ?? '' };
  const ctx = newContext(
    { ...info, callId: '', party: describeOutboundTarget(target) },
    'outgoing',
    env.flow,
    { type: 'outbound', start },
  );
  ctx.outbound = {
    target,
    applicationInstanceId: info.applicationInstanceId,
    ...(info.variables && Object.keys(info.variables).length > 0 ? { variables: info.variables } : {}),
    ...(info.callbackUrl ? { callbackUrl: info.callbackUrl } : {}),
    attempts: [{ n: 1, callId: null, startedAt: info.at, answeredAt: null, endedAt: null, outcome: null }],
    outcome: null,
  };
  return { ctx, commands: [{ kind: 'createCall', body: createCallBody(ctx, env) }] };
}

/** The create-call body of an outbound call's (next) attempt, as the create-call page documents it. */
export function createCallBody(ctx: CallContext, env: EngineEnv & { flow: LoadedFlow }): CreateCallBody {
  const out = ctx.outbound!;
  const start = ctx.decision.type === 'outbound' ? ctx.decision.start : '';
  const tenantId = ctx.tenantId ?? '';
  const common = {
    '@odata.type': '#microsoft.graph.call' as const,
    // The call id is unknown until Graph answers, and its first notifications can come
    // before that answer: the callback address itself leads them to this context.
    callbackUri: callbackUriFor(env.callbackUri, ctx.clientContext),
    requestedModalities: ['audio' as const],
    mediaConfig: answerBody(env, env.flow, start).mediaConfig,
    tenantId,
  };
  const target = out.target;
  if (target.kind === 'meeting') {
    return {
      ...common,
      ...(target.chatInfo ? { chatInfo: target.chatInfo } : {}),
      meetingInfo: target.meetingInfo,
    };
  }
  return {
    ...common,
    // A PSTN call must come from the application instance that owns the number, in its tenant.
    source: {
      '@odata.type': '#microsoft.graph.participantInfo',
      identity: {
        applicationInstance: {
          '@odata.type': '#microsoft.graph.identity',
          id: out.applicationInstanceId,
          tenantId,
        },
      },
    },
    targets: [invitationOf(target)!],
  };
}

/** The callback address of an outbound call: the bot's, with the call's context key. */
export function callbackUriFor(callbackUri: string, clientContext: string): string {
  return `${callbackUri}${callbackUri.includes('?') ? '&' : '?'}ctx=${clientContext}`;
}

// ---- the step function ---------------------------------------------------------------------------

/** Applies one event. Returns the same ctx object (and no commands) when the event changes nothing. */
export function step(ctx: CallContext, event: IvrEvent, env: EngineEnv): StepResult {
  if (ctx.phase === 'ended' && !endedCallAwaits(ctx, event)) return { ctx, commands: [] };
  // A context is plain JSON: a JSON round trip copies it faster than structuredClone.
  const run = new Run(JSON.parse(JSON.stringify(ctx)) as CallContext, env, event.at);
  const changed = run.apply(event);
  return changed ? { ctx: run.ctx, commands: run.commands } : { ctx, commands: [] };
}

/** Applies events in order, as one change: a notification can carry a tone and a state. */
export function stepAll(ctx: CallContext, events: readonly IvrEvent[], env: EngineEnv): StepResult {
  let current = ctx;
  const commands: Command[] = [];
  for (const event of events) {
    const r = step(current, event, env);
    current = r.ctx;
    commands.push(...r.commands);
  }
  return { ctx: current, commands };
}

/**
 * An ended call still takes the completion of a recording cut short by the hang-up, or its
 * grace timer (the handlers check it is that recording's).
 */
function endedCallAwaits(ctx: CallContext, event: IvrEvent): boolean {
  return Boolean(ctx.pendingRecording) && (event.kind === 'operationCompleted' || event.kind === 'timer');
}

const TONE_KEYS: Partial<Record<Tone, string>> = {
  tone0: '0',
  tone1: '1',
  tone2: '2',
  tone3: '3',
  tone4: '4',
  tone5: '5',
  tone6: '6',
  tone7: '7',
  tone8: '8',
  tone9: '9',
  star: '*',
  pound: '#',
};

/** Gap in tone sequenceIds tolerated before the missing tones are given up as lost. */
const MAX_HELD_TONES = 3;
/** How many tone sequence ids are remembered to spot repeats. */
const RECENT_TONES = 64;

class Run {
  readonly commands: Command[] = [];

  constructor(
    readonly ctx: CallContext,
    private readonly env: EngineEnv,
    private readonly at: string,
  ) {}

  apply(event: IvrEvent): boolean {
    const ctx = this.ctx;
    if (!this.flow && ctx.flowId && ctx.phase === 'established' && event.kind !== 'callState') {
      this.flowGone();
      return true;
    }
    switch (event.kind) {
      case 'callState':
        return this.onCallState(event.state, event.resultInfo ?? null);
      case 'tone':
        return this.onTone(event.sequenceId, event.tone);
      case 'operationCompleted':
        return this.onOperationCompleted(event);
      case 'timer':
        return this.onTimer(event.timerId);
      case 'lookupResult':
        return this.onLookupResult(event);
      case 'requestFailed':
        return this.onRequestFailed(event);
    }
  }

  // ---- call state ----

  private onCallState(state: string, resultInfo: ResultInfo | null): boolean {
    const ctx = this.ctx;
    // Between attempts only the redial timer moves the call: a late state of the last attempt changes nothing.
    if (ctx.phase === 'redialWait') return false;
    switch (state) {
      case 'established':
        if (ctx.phase === 'incoming' || ctx.phase === 'dialing') {
          const start =
            ctx.decision.type === 'answer' || ctx.decision.type === 'outbound' ? ctx.decision.start : null;
          if (!start) return false; // a rejected or redirected call never gets here
          if (!this.flow) {
            this.flowGone();
            return true;
          }
          ctx.phase = 'established';
          ctx.establishedAt = this.at;
          const attempt = ctx.outbound?.attempts.at(-1);
          if (attempt) attempt.answeredAt = this.at;
          // A call is established once (the phase moves on), so it subscribes to tones once.
          ctx.tonesSubscribed = true;
          this.commands.push({
            kind: 'subscribeToTone',
            body: { clientContext: operationContext(ctx, this.nextSeq()) },
          });
          this.enterNode(start);
          return true;
        }
        if (ctx.phase === 'transferring' && resultInfo && resultInfo.code >= 400) {
          // The transfer failed and the call stayed with us.
          this.fail('transfer', {
            status: resultInfo.code,
            code: String(resultInfo.subcode ?? ''),
            message: resultInfo.message ?? undefined,
          });
          this.transferFailed();
          return true;
        }
        return false;
      case 'terminated':
        if (ctx.outbound && ctx.phase === 'dialing') {
          // Never answered: the policy may dial again rather than end the call.
          this.endAttempt(resultInfo ? boundedResult(resultInfo) : null);
          if (this.waitToRedial()) return true;
        }
        if (ctx.media?.kind === 'record') {
          // The caller hung up while recording: the completion may still come, after this.
          const timerId = `recordingGrace-${this.nextSeq()}`;
          ctx.pendingRecording = { seq: ctx.media.seq, node: ctx.media.node, timerId };
          this.commands.push({ kind: 'startTimer', timerId, delaySeconds: RECORDING_GRACE_SECONDS });
        }
        ctx.phase = 'ended';
        ctx.endedAt = this.at;
        ctx.result = resultInfo ? boundedResult(resultInfo) : null;
        if (ctx.outbound) this.endAttempt(ctx.result);
        ctx.media = null;
        ctx.record = null;
        ctx.menu = null;
        ctx.timer = null;
        // A request still running ends with the call: its result finds no call to go on with.
        ctx.lookup = null;
        this.commands.push({ kind: 'callEnded' });
        this.outboundEnded();
        return true;
      default:
        // establishing, transferring, transferAccepted, terminating...: nothing to do; a state never goes back.
        return false;
    }
  }

  // ---- tones ----

  private onTone(sequenceId: number, tone: Tone): boolean {
    const ctx = this.ctx;
    const recent = (ctx.recentToneSeqs ??= []);
    if (recent.includes(sequenceId)) return false; // a repeat of a tone already taken or held
    recent.push(sequenceId);
    if (recent.length > RECENT_TONES) recent.splice(0, recent.length - RECENT_TONES);
    if (ctx.lastToneSeq !== 0 && sequenceId > ctx.lastToneSeq + 1 && ctx.heldTones.length < MAX_HELD_TONES) {
      // An earlier key press is still on its way: hold this one so digits keep their order.
      ctx.heldTones.push({ sequenceId, tone });
      ctx.heldTones.sort((a, b) => a.sequenceId - b.sequenceId);
      // Do not wait for the missing key forever.
      if (!ctx.timer) this.startTimer('interDigit', this.currentNode('menu')?.interDigitTimeoutSeconds ?? 3);
      return true;
    }
    if (ctx.heldTones.length > 0 && sequenceId > ctx.lastToneSeq + 1) {
      // Too many keys wait on the missing one: give it up and apply what arrived, in order.
      ctx.heldTones.push({ sequenceId, tone });
      ctx.heldTones.sort((a, b) => a.sequenceId - b.sequenceId);
      this.releaseHeldTones(true);
      return true;
    }
    // In order, or late (its successors were taken already: better out of order than lost).
    this.takeTone(sequenceId, tone);
    this.releaseHeldTones(false);
    return true;
  }

  private releaseHeldTones(all: boolean): void {
    const ctx = this.ctx;
    while (ctx.heldTones.length > 0 && (all || ctx.heldTones[0]!.sequenceId === ctx.lastToneSeq + 1)) {
      const t = ctx.heldTones.shift()!;
      this.takeTone(t.sequenceId, t.tone);
    }
  }

  private takeTone(sequenceId: number, tone: Tone): void {
    const ctx = this.ctx;
    ctx.lastToneSeq = Math.max(ctx.lastToneSeq, sequenceId);
    const key = TONE_KEYS[tone];
    if (!key) return;
    if (ctx.phase !== 'established') return;
    pushCapped(ctx.digits, key);
    const node = this.currentNode('menu');
    const collect = node ? null : this.currentNode('collect');
    // Keys outside a menu or a collect (a record stop tone, say) only go in the history.
    if ((!node && !collect) || !ctx.menu) return;
    if (ctx.menu.stage === 'prompt' && ctx.media) {
      // Barge-in: the caller need not hear the rest of the prompt.
      this.commands.push({
        kind: 'cancelMediaProcessing',
        body: { clientContext: operationContext(ctx, this.nextSeq()) },
      });
      ctx.media = null;
      ctx.menu.stage = 'input';
    }
    ctx.timer = null;
    if (collect) return this.collectKey(collect, key);
    if (!node) return;
    if (node.terminator && key === node.terminator) {
      this.settleMenu(node);
      return;
    }
    ctx.menu.digits += key;
    const digits = ctx.menu.digits;
    const keys = Object.keys(node.options);
    const longer = keys.some((k) => k.length > digits.length && k.startsWith(digits));
    if (node.options[digits] !== undefined && !longer) return this.chooseOption(node, digits);
    if (longer) return this.startTimer('interDigit', node.interDigitTimeoutSeconds);
    this.menuRetry(node, 'invalid');
  }

  // ---- menus ----

  private settleMenu(node: NodeOf<'menu'>): void {
    const digits = this.ctx.menu!.digits;
    if (digits === '') return this.menuRetry(node, 'noInput');
    if (node.options[digits] !== undefined) return this.chooseOption(node, digits);
    this.menuRetry(node, 'invalid');
  }

  private chooseOption(node: NodeOf<'menu'>, digits: string): void {
    this.ctx.menu = null;
    this.ctx.timer = null;
    this.enterNode(node.options[digits]!);
  }

  // ---- collect ----

  private collectKey(node: NodeOf<'collect'>, key: string): void {
    const menu = this.ctx.menu!;
    if (key === node.terminator) return this.settleCollect(node);
    menu.digits += key;
    if (menu.digits.length >= node.maxDigits) return this.settleCollect(node);
    this.startTimer('interDigit', node.interDigitTimeoutSeconds);
  }

  /** The entry is over (terminator, length, or a wait): valid goes on, else the caller is asked again. */
  private settleCollect(node: NodeOf<'collect'>): void {
    const digits = this.ctx.menu!.digits;
    if (digits === '') return this.menuRetry(node, 'noInput');
    const valid =
      /^[0-9]+$/.test(digits) &&
      digits.length >= node.minDigits &&
      digits.length <= node.maxDigits &&
      (node.pattern === undefined || wholeMatch(node.pattern).test(digits));
    if (!valid) return this.menuRetry(node, 'invalid');
    this.setVariable(node.into, digits);
    this.ctx.menu = null;
    this.ctx.timer = null;
    this.enterNode(node.next);
  }

  // ---- http ----

  private onLookupResult(event: Extract<IvrEvent, { kind: 'lookupResult' }>): boolean {
    const ctx = this.ctx;
    const pending = ctx.lookup;
    // A repeat, a result of an older request, or one for a call that moved on or ended.
    if (!pending || pending.seq !== event.seq || ctx.phase !== 'established') return false;
    const node = this.currentNode('http');
    if (!node || ctx.node !== pending.node) {
      ctx.lookup = null;
      return true;
    }
    const { outcome, values, detail } = lookupOutcome(node, event);
    this.finishLookup(node, pending.seq, outcome, event.status, values, detail);
    return true;
  }

  private finishLookup(
    node: NodeOf<'http'>,
    seq: number,
    outcome: LookupRef['outcome'],
    status: number | undefined,
    values: Record<string, string>,
    detail: string | null,
  ): void {
    const ctx = this.ctx;
    ctx.lookup = null;
    ctx.timer = null;
    if (ctx.media?.kind === 'hold') {
      // The answer is in: the caller need not hear the rest of the hold prompt.
      this.commands.push({
        kind: 'cancelMediaProcessing',
        body: { clientContext: operationContext(ctx, this.nextSeq()) },
      });
      ctx.media = null;
    }
    const lookups = (ctx.lookups ??= []);
    pushCapped(lookups, {
      seq,
      node: ctx.node!,
      outcome,
      ...(status !== undefined ? { status } : {}),
      at: this.at,
    });
    if (outcome !== 'success') this.fail('lookup', { status, code: outcome, message: detail ?? undefined });
    for (const [name, value] of Object.entries(values)) this.setVariable(name, value);
    this.enterNode(node.next[outcome] ?? node.next.failure);
  }

  private setVariable(name: string, value: string): void {
    const vars = (this.ctx.vars ??= {});
    if (!Object.hasOwn(vars, name) && Object.keys(vars).length >= VARIABLES_LIMIT) {
      this.fail('variables', { message: `more than ${VARIABLES_LIMIT} variables: "${name}" not kept` });
      return;
    }
    vars[name] = bounded(value, VARIABLE_VALUE_LIMIT);
  }

  private menuRetry(node: NodeOf<'menu'> | NodeOf<'collect'>, why: 'noInput' | 'invalid'): void {
    const menu = this.ctx.menu!;
    if (menu.attempt >= node.maxAttempts) {
      this.ctx.menu = null;
      this.ctx.timer = null;
      return this.enterNode(node.fallback);
    }
    const lead = why === 'noInput' ? node.noInputPrompt : node.invalidPrompt;
    this.ctx.menu = { attempt: menu.attempt + 1, digits: '', stage: 'prompt' };
    this.ctx.timer = null;
    this.play('menuPrompt', this.ctx.node!, [...(lead ? [lead] : []), node.prompt]);
  }

  private onTimer(timerId: string): boolean {
    const ctx = this.ctx;
    if (ctx.phase === 'redialWait') {
      // Only the current redial timer dials; a repeat finds the call dialing and does nothing.
      if (ctx.outbound?.redialTimerId !== timerId) return false;
      this.redial();
      return true;
    }
    const pending = ctx.pendingRecording;
    if (pending && pending.timerId === timerId) {
      // The call ended mid-recording and the platform never reported the recording.
      ctx.pendingRecording = null;
      this.keepRecording(
        pending,
        'failure',
        null,
        null,
        'the call ended during the recording and no recording was delivered',
      );
      return true;
    }
    if (!ctx.timer || ctx.timer.id !== timerId) return false; // superseded
    if (ctx.timer.purpose === 'lookup') {
      // The request's result never came (a worker that died): the flow goes on as after a timeout.
      const node = this.currentNode('http');
      if (node && ctx.lookup)
        this.finishLookup(node, ctx.lookup.seq, 'timeout', undefined, {}, 'no result from the lookup worker');
      ctx.timer = null;
      ctx.lookup = null;
      return true;
    }
    ctx.timer = null;
    if (ctx.heldTones.length > 0) {
      // The missing key press never came: the keys that did arrive are the caller's input, in order.
      const node = ctx.node;
      this.releaseHeldTones(true);
      // If they moved the call on (an option, a re-prompt, a new wait), the timer's job is done.
      if (ctx.timer || ctx.media || ctx.node !== node) return true;
    }
    const collect = this.currentNode('collect');
    if (collect && ctx.menu) {
      this.settleCollect(collect);
      return true;
    }
    const node = this.currentNode('menu');
    if (!node || !ctx.menu) return true;
    // The wait is over: the keys so far choose an option, or nothing came (no input), or no
    // option matches them (invalid).
    this.settleMenu(node);
    return true;
  }

  // ---- media operations ----

  private onOperationCompleted(event: Extract<IvrEvent, { kind: 'operationCompleted' }>): boolean {
    const ctx = this.ctx;
    const pending = ctx.pendingRecording;
    if (ctx.phase === 'ended') {
      if (!pending || pending.seq !== event.seq) return false;
      // The recording of a caller who hung up: kept, but the flow does not go on.
      ctx.pendingRecording = null;
      const outcome = recordOutcome(event.status, event.completionReason ?? null, event.resultInfo ?? null);
      this.keepRecording(pending, outcome, event.completionReason ?? null, event.recording ?? null, null);
      return true;
    }
    const media = ctx.media;
    if (!media || media.seq !== event.seq) return false; // an old, cancelled or repeated completion
    ctx.media = null;
    if (event.status === 'failed') {
      this.fail(media.kind, {
        status: event.resultInfo?.code,
        code: event.resultInfo?.subcode != null ? String(event.resultInfo.subcode) : undefined,
        message: event.resultInfo?.message ?? undefined,
      });
    }
    this.mediaFinished(media, event);
    return true;
  }

  private mediaFinished(
    media: PendingMedia,
    event: {
      status: 'completed' | 'failed';
      completionReason?: string | null;
      resultInfo?: ResultInfo | null;
      recording?: { location: string; accessToken: string } | null;
      at: string;
    },
  ): void {
    const ctx = this.ctx;
    if (ctx.phase !== 'established' && ctx.phase !== 'hangingUp') return;
    switch (media.kind) {
      case 'play': {
        const node = this.currentNode('play');
        if (node) this.enterNode(node.next);
        return;
      }
      case 'menuPrompt': {
        const node = this.currentNode('menu') ?? this.currentNode('collect');
        if (!node || !ctx.menu) return;
        ctx.menu.stage = 'input';
        this.startTimer('noInput', node.noInputTimeoutSeconds);
        return;
      }
      case 'record': {
        const node = this.currentNode('record');
        if (!node) return;
        const outcome = recordOutcome(event.status, event.completionReason ?? null, event.resultInfo ?? null);
        this.keepRecording(media, outcome, event.completionReason ?? null, event.recording ?? null, null);
        if (outcome !== 'noInput') return this.enterNode(node.next[outcome]);
        const attempt = ctx.record?.attempt ?? 1;
        if (attempt < node.maxAttempts) {
          // Nothing was said: ask again, like a menu re-prompts.
          return this.startRecording(ctx.node!, node, attempt + 1);
        }
        this.enterNode(node.next.noInput ?? node.next.silence);
        return;
      }
      case 'goodbye':
        this.hangUp();
        return;
      case 'hold':
        return; // the request's result moves the call on
    }
  }

  /**
   * Notes a recording in the call's history and hands it to the archive queue; silence is
   * not a message, so its audio is discarded rather than kept as voicemail.
   */
  private keepRecording(
    media: { seq: number; node: string },
    outcome: RecordingRef['outcome'],
    completionReason: string | null,
    recording: { location: string; accessToken: string } | null,
    lostReason: string | null,
  ): void {
    const ctx = this.ctx;
    const reason = completionReason ? bounded(completionReason, CODE_LIMIT) : null;
    if (ctx.recordings.length < HISTORY_LIMIT)
      ctx.recordings.push({
        seq: media.seq,
        node: media.node,
        outcome,
        completionReason: reason,
        hasAudio: Boolean(recording),
      });
    if (!recording && !lostReason) return; // e.g. a cancelled recording: nothing was made
    this.commands.push({
      kind: 'archiveRecording',
      seq: media.seq,
      node: media.node,
      outcome,
      completionReason: reason ?? outcome,
      recording: outcome === 'noInput' ? null : recording,
      reason: outcome === 'noInput' ? 'the caller said nothing (initial silence): not a message' : lostReason,
    });
  }

  private onRequestFailed(event: Extract<IvrEvent, { kind: 'requestFailed' }>): boolean {
    const ctx = this.ctx;
    this.fail(event.request, { status: event.status, code: event.code, message: event.message });
    switch (event.request) {
      case 'playPrompt':
      case 'recordResponse':
        if (!ctx.media || ctx.media.seq !== event.seq) return true;
        {
          const media = ctx.media;
          ctx.media = null;
          this.mediaFinished(media, {
            status: 'failed',
            at: event.at,
            resultInfo: event.status ? { code: event.status } : null,
          });
        }
        return true;
      case 'transfer':
        if (ctx.phase === 'transferring') this.transferFailed();
        return true;
      case 'createCall':
        if (ctx.outbound && ctx.phase === 'dialing') {
          // Graph refused the call: this attempt, and the call, failed with Graph's code.
          ctx.phase = 'ended';
          ctx.endedAt = this.at;
          ctx.result = {
            code: event.status ?? 0,
            message: event.message ? bounded(event.message, MESSAGE_LIMIT) : null,
          };
          this.endAttempt(ctx.result, event.code);
          this.commands.push({ kind: 'callEnded' });
          this.outboundEnded();
        }
        return true;
      case 'answer':
      case 'reject':
      case 'redirect':
      case 'hangUp':
        // Nothing more can be done for this call from here; the sweep closes it.
        return true;
      default:
        return true;
    }
  }

  // ---- outbound attempts ----

  /** After an unanswered (or busy) attempt, waits for the next one if the flow's redial policy says so. */
  private waitToRedial(): boolean {
    const ctx = this.ctx;
    const out = ctx.outbound!;
    const policy = this.flow?.outbound?.redial;
    const outcome = out.attempts.at(-1)?.outcome;
    if (!policy || !outcome || !redialsAfter(policy, out.attempts.length, outcome)) return false;
    const timerId = `redial-${this.nextSeq()}`;
    ctx.phase = 'redialWait';
    // The next attempt is another Graph call: its notifications link it to this context afresh.
    ctx.callId = null;
    out.outcome = null;
    out.redialTimerId = timerId;
    out.redialAt = new Date(Date.parse(this.at) + policy.delaySeconds * 1000).toISOString();
    this.commands.push({ kind: 'startTimer', timerId, delaySeconds: policy.delaySeconds });
    return true;
  }

  /** The redial timer fired: the next attempt is placed like the first. */
  private redial(): void {
    const ctx = this.ctx;
    const out = ctx.outbound!;
    out.redialTimerId = null;
    out.redialAt = null;
    out.attempts.push({
      n: out.attempts.length + 1,
      callId: null,
      startedAt: this.at,
      answeredAt: null,
      endedAt: null,
      outcome: null,
    });
    ctx.phase = 'dialing';
    const flow = this.env.flow;
    if (!flow?.flow.outbound) {
      // The number lost its flow (or its outbound entry) while waiting: nothing to dial.
      ctx.phase = 'ended';
      ctx.endedAt = this.at;
      ctx.result = { code: 0, message: 'the flow has no outbound entry any more' };
      this.endAttempt(ctx.result);
      this.commands.push({ kind: 'callEnded' });
      this.outboundEnded();
      return;
    }
    this.commands.push({ kind: 'createCall', body: createCallBody(ctx, { ...this.env, flow }) });
  }

  /** The outbound call is over (no attempt follows): its outcome webhook, if one was asked for. */
  private outboundEnded(): void {
    const out = this.ctx.outbound;
    if (!out?.callbackUrl || out.webhook) return;
    const deliveryId = outboundDeliveryId(this.ctx.clientContext);
    // The writer of the ending queues it; the check timer (queued before the write, so never
    // lost) queues it later if that writer could not.
    const checkTimerId = `webhookCheck-${this.nextSeq()}`;
    out.webhook = {
      deliveryId,
      event: OUTBOUND_COMPLETED_EVENT,
      status: 'pending',
      attempts: 0,
      checkTimerId,
    };
    this.commands.push({ kind: 'startTimer', timerId: checkTimerId, delaySeconds: WEBHOOK_CHECK_SECONDS });
    this.commands.push({ kind: 'queueOutcomeWebhook', deliveryId, event: OUTBOUND_COMPLETED_EVENT });
  }

  /** Closes the current attempt of an outbound call with what Graph reported. */
  private endAttempt(result: ResultInfo | null, graphCode?: string): void {
    const out = this.ctx.outbound!;
    const attempt = out.attempts.at(-1);
    if (!attempt || attempt.endedAt) return;
    attempt.callId = this.ctx.callId;
    attempt.endedAt = this.at;
    attempt.outcome = outcomeOf(attempt.answeredAt !== null, result);
    if (result) {
      attempt.code = result.code;
      if (result.subcode !== undefined && result.subcode !== null) attempt.subcode = result.subcode;
      if (result.message) attempt.message = result.message;
    }
    if (graphCode) attempt.message = bounded(`${graphCode}: ${attempt.message ?? ''}`, MESSAGE_LIMIT);
    out.outcome = attempt.outcome;
  }

  // ---- nodes ----

  private get flow() {
    return this.env.flow?.flow ?? null;
  }

  private currentNode<T extends FlowNode['type']>(type: T): NodeOf<T> | null {
    const node = this.ctx.node ? this.flow?.nodes[this.ctx.node] : undefined;
    return node && node.type === type ? (node as NodeOf<T>) : null;
  }

  private enterNode(id: string): void {
    const ctx = this.ctx;
    const node = this.flow?.nodes[id];
    if (!node) {
      // The flow changed under a running call; end it cleanly rather than guess.
      this.fail('flow', { message: `node "${id}" no longer exists` });
      return this.hangUp();
    }
    ctx.node = id;
    ctx.menu = null;
    ctx.record = null;
    ctx.timer = null;
    pushCapped(ctx.visited, id);
    switch (node.type) {
      case 'play': {
        // An outbound call's variable may choose the prompts (a ticket's severity, a language).
        const value = node.promptsBy ? variableOf(ctx, node.promptsBy.variable) : undefined;
        const chosen = value !== undefined ? node.promptsBy?.cases[value] : undefined;
        return this.play('play', id, chosen ?? node.prompts);
      }
      case 'menu':
        ctx.menu = { attempt: 1, digits: '', stage: 'prompt' };
        return this.play('menuPrompt', id, [node.prompt]);
      case 'record':
        return this.startRecording(id, node, 1);
      case 'transfer':
        ctx.phase = 'transferring';
        return void this.commands.push({
          kind: 'transfer',
          body: { transferTarget: toInvitationTarget(node.target) },
        });
      case 'hangup':
        if (node.prompt) return this.play('goodbye', id, [node.prompt]);
        return this.hangUp();
      case 'collect':
        ctx.menu = { attempt: 1, digits: '', stage: 'prompt' };
        return this.play('menuPrompt', id, [node.prompt]);
      case 'branch': {
        const chosen = node.cases.find((c) => testPasses(c, variableOf(ctx, c.variable)));
        return this.enterNode(chosen ? chosen.next : node.default);
      }
      case 'http': {
        const seq = this.nextSeq();
        ctx.lookup = { seq, node: id };
        this.commands.push({
          kind: 'lookup',
          seq,
          node: id,
          request: lookupRequest(node, (name) => variableOf(ctx, name)),
        });
        // Should the result never come, the call still goes on.
        const timerId = `lookup-${seq}`;
        ctx.timer = { id: timerId, purpose: 'lookup' };
        this.commands.push({
          kind: 'startTimer',
          timerId,
          delaySeconds: Math.ceil(node.timeoutSeconds) + LOOKUP_GRACE_SECONDS,
        });
        if (node.holdPrompt) this.play('hold', id, [node.holdPrompt]);
        return;
      }
    }
  }

  private startRecording(id: string, node: NodeOf<'record'>, attempt: number): void {
    const ctx = this.ctx;
    const seq = this.nextSeq();
    ctx.media = { seq, kind: 'record', node: id };
    ctx.record = { attempt };
    const prompt = attempt > 1 ? (node.noInputPrompt ?? node.prompt) : node.prompt;
    this.commands.push({
      kind: 'recordResponse',
      seq,
      body: {
        ...(prompt ? { prompts: [mediaPrompt(this.flow!, prompt)] } : {}),
        bargeInAllowed: node.bargeInAllowed,
        initialSilenceTimeoutInSeconds: node.initialSilenceTimeoutSeconds,
        maxSilenceTimeoutInSeconds: node.maxSilenceTimeoutSeconds,
        maxRecordDurationInSeconds: node.maxRecordDurationSeconds,
        playBeep: node.playBeep,
        stopTones: node.stopTones,
        clientContext: operationContext(ctx, seq),
      },
    });
  }

  private play(kind: PendingMedia['kind'], node: string, prompts: string[]): void {
    const seq = this.nextSeq();
    this.ctx.media = { seq, kind, node };
    if (kind === 'goodbye') this.ctx.phase = 'hangingUp';
    this.commands.push({
      kind: 'playPrompt',
      seq,
      body: {
        prompts: prompts.map((p) => mediaPrompt(this.flow!, p)),
        clientContext: operationContext(this.ctx, seq),
      },
    });
  }

  /** The transfer failed and the call stayed with us: the transfer node's fallback. */
  private transferFailed(): void {
    this.ctx.phase = 'established';
    const node = this.currentNode('transfer');
    if (node) this.enterNode(node.fallback);
    else this.flowGone();
  }

  /**
   * The call's flow is gone (its file removed while the call ran) or its node changed under
   * it: the call ends, with the reason, rather than leave the caller waiting in silence.
   */
  private flowGone(): void {
    const ctx = this.ctx;
    this.fail('flow', {
      message: this.flow
        ? `node "${ctx.node}" changed under the call`
        : `flow "${ctx.flowId}" is no longer available`,
    });
    this.hangUp();
  }

  private hangUp(): void {
    this.ctx.phase = 'hangingUp';
    this.ctx.media = null;
    this.ctx.menu = null;
    this.ctx.timer = null;
    this.commands.push({ kind: 'hangUp' });
  }

  private startTimer(purpose: 'noInput' | 'interDigit', seconds: number): void {
    const id = `${purpose}-${this.nextSeq()}`;
    this.ctx.timer = { id, purpose };
    this.commands.push({ kind: 'startTimer', timerId: id, delaySeconds: seconds });
  }

  private nextSeq(): number {
    this.ctx.seq += 1;
    return this.ctx.seq;
  }

  private fail(what: string, details: { status?: number; code?: string; message?: string }): void {
    if (this.ctx.failures.length >= FAILURE_LIMIT) return;
    this.ctx.failures.push({
      at: this.at,
      what,
      ...stripUndefined({
        status: details.status,
        code: details.code !== undefined ? bounded(details.code, CODE_LIMIT) : undefined,
        message: details.message !== undefined ? bounded(details.message, MESSAGE_LIMIT) : undefined,
      }),
    });
  }
}

/**
 * A call variable: the built-ins (caller, called, number), then values set by the call's
 * steps, then an outbound call's request variables. Undefined when unset.
 */
export function variableOf(ctx: CallContext, name: string): string | undefined {
  const incoming = ctx.direction === 'incoming';
  switch (name) {
    case 'caller':
      return (incoming ? ctx.party : ctx.number) ?? '';
    case 'called':
      return (incoming ? ctx.number : ctx.party) ?? '';
    case 'number':
      return ctx.number ?? '';
  }
  if (ctx.vars && Object.hasOwn(ctx.vars, name)) return ctx.vars[name];
  const outbound = ctx.outbound?.variables;
  return outbound && Object.hasOwn(outbound, name) ? outbound[name] : undefined;
}

/** How a recording ended: beta's completionReason when present, else v1.0's result codes. */
export function recordOutcome(
  status: 'completed' | 'failed',
  completionReason: string | null,
  resultInfo: ResultInfo | null,
): RecordingRef['outcome'] {
  switch (completionReason) {
    case 'stopToneDetected':
      return 'stopTone';
    case 'maxRecordDurationReached':
      return 'maxDuration';
    case 'initialSilenceTimeout':
      return 'noInput';
    case 'maxSilenceTimeout':
      return 'silence';
    case null:
    case undefined:
      break;
    default:
      return 'failure';
  }
  if (status === 'failed') return 'failure';
  switch (resultInfo?.subcode) {
    case 8515:
      return 'maxDuration';
    case 8514:
      return 'stopTone';
    case 8510: // initial silence: nothing was said
      return 'noInput';
    case 8511:
      return 'silence';
    default:
      return 'failure';
  }
}

function boundedResult(r: ResultInfo): ResultInfo {
  return { ...r, message: r.message != null ? bounded(r.message, MESSAGE_LIMIT) : r.message };
}

function pushCapped<T>(list: T[], item: T): void {
  if (list.length < HISTORY_LIMIT) list.push(item);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}
