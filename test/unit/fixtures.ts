import { validateFlow, type LoadedFlow } from '../../shared/flows/loader';
import type { FlowFileInput } from '../../shared/flows/schema';
import type { CallContext } from '../../shared/ivr/context';
import { parseOperationContext } from '../../shared/ivr/context';
import {
  decideIncomingCall,
  step,
  type Command,
  type EngineEnv,
  type IncomingCallInfo,
  type IvrEvent,
  type StepResult,
} from '../../shared/ivr/engine';
import {
  answerBodySchema,
  cancelMediaProcessingBodySchema,
  createCallBodySchema,
  playPromptBodySchema,
  recordResponseBodySchema,
  redirectBodySchema,
  rejectBodySchema,
  subscribeToToneBodySchema,
  transferBodySchema,
  type ResultInfo,
  type Tone,
} from '../../shared/graph/schemas';

/** Shared, pure test helpers: a realistic flow, an engine env, event builders and body checks. */

export const CALLBACK_URI = 'https://bot.example.com/api/calls';
export const CLIENT_CONTEXT = 'call_0123456789abcdef';
export const APP_INSTANCE = '6f1c2a9e-0000-4000-8000-00000000a001';
export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
/** A Monday, 12:00 in Paris: the office is open, so the default rule answers at 'welcome'. */
export const MONDAY_NOON_PARIS = '2025-06-02T10:00:00.000Z';

const MEDIA = 'https://media.example.com/ivr';

/** A realistic flow file (the input form: defaults are filled in by validation). */
export function realisticFlowInput(): FlowFileInput {
  return {
    $schema: './flow.schema.json',
    number: '+14255550100',
    aliases: ['contoso-main'],
    applicationInstanceId: APP_INSTANCE,
    description: 'Contoso main line',
    prompts: {
      welcome: `${MEDIA}/welcome.wav`,
      mainMenu: `${MEDIA}/main-menu.wav`,
      noInput: `${MEDIA}/no-input.wav`,
      invalid: `${MEDIA}/sorry.wav`,
      // The same recording under a second name: it must get the same resourceId.
      sorryError: `${MEDIA}/sorry.wav`,
      salesIntro: `${MEDIA}/sales-intro.wav`,
      salesHours: `${MEDIA}/sales-hours.wav`,
      directory: `${MEDIA}/directory.wav`,
      voicemailPrompt: `${MEDIA}/leave-a-message.wav`,
      thanks: `${MEDIA}/thanks.wav`,
      noMessage: `${MEDIA}/no-message.wav`,
      operatorBusy: `${MEDIA}/operator-busy.wav`,
      goodbye: `${MEDIA}/goodbye.wav`,
      closedMsg: `${MEDIA}/closed.wav`,
      outboundMsg: `${MEDIA}/reminder.wav`,
      unusedPrompt: `${MEDIA}/unused.wav`,
    },
    schedules: {
      office: {
        timeZone: 'Europe/Paris',
        weekly: {
          mon: ['09:00-12:30', '13:30-17:30'],
          tue: ['09:00-17:30'],
          wed: ['09:00-17:30'],
          thu: ['09:00-17:30'],
          fri: ['09:00-17:00'],
        },
        holidays: ['2025-12-25'],
      },
    },
    rules: [
      { name: 'blocked', when: { callerIn: ['+33999*'] }, then: { type: 'reject', reason: 'busy' } },
      { name: 'withheld', when: { callerIn: ['anonymous'] }, then: { type: 'reject', reason: 'forbidden' } },
      {
        name: 'vip',
        when: { callerIn: ['+14255550123'] },
        then: {
          type: 'redirect',
          targets: [
            { user: 'a1b2c3d4-0000-4000-8000-000000000001', tenantId: TENANT },
            { phone: '+14255550142' },
          ],
        },
      },
      {
        name: 'uk forward',
        when: { callerIn: ['+44*'], open: 'office' },
        then: { type: 'redirect', targets: [{ phone: '+442071234567' }], timeoutSeconds: 30 },
      },
      {
        name: 'uk forward closed',
        when: { callerIn: ['+44*'] },
        then: { type: 'redirect', targets: [{ phone: '+442071234567' }] },
      },
      { name: 'after hours', when: { closed: 'office' }, then: { type: 'answer', start: 'closed' } },
    ],
    default: { type: 'answer', start: 'welcome' },
    outbound: { start: 'outboundGreeting' },
    nodes: {
      welcome: { type: 'play', prompts: ['welcome'], next: 'main' },
      main: {
        type: 'menu',
        prompt: 'mainMenu',
        options: { '1': 'sales', '2': 'voicemail', '3': 'directory', '0': 'operator', '9': 'goodbye' },
        noInputPrompt: 'noInput',
        invalidPrompt: 'invalid',
        noInputTimeoutSeconds: 6,
        maxAttempts: 3,
        fallback: 'operator',
      },
      sales: { type: 'play', prompts: ['salesIntro', 'salesHours'], next: 'goodbye' },
      directory: {
        type: 'menu',
        prompt: 'directory',
        options: { '100': 'sales', '101': 'agent', '2': 'operator', '10': 'voicemail' },
        terminator: '#',
        interDigitTimeoutSeconds: 4,
        noInputTimeoutSeconds: 8,
        maxAttempts: 2,
        fallback: 'goodbye',
      },
      voicemail: {
        type: 'record',
        prompt: 'voicemailPrompt',
        maxRecordDurationSeconds: 90,
        initialSilenceTimeoutSeconds: 4,
        maxSilenceTimeoutSeconds: 6,
        stopTones: ['#', '*'],
        next: { stopTone: 'thanks', maxDuration: 'thanks', silence: 'noMessageNode', failure: 'sorry' },
      },
      thanks: { type: 'hangup', prompt: 'thanks' },
      noMessageNode: { type: 'play', prompts: ['noMessage'], next: 'main' },
      sorry: { type: 'hangup', prompt: 'sorryError' },
      operator: { type: 'transfer', target: { phone: '+14255550199' }, fallback: 'operatorBusyNode' },
      operatorBusyNode: { type: 'play', prompts: ['operatorBusy'], next: 'voicemail' },
      agent: {
        type: 'transfer',
        target: { user: 'a1b2c3d4-0000-4000-8000-000000000002', tenantId: TENANT },
        fallback: 'voicemail',
      },
      goodbye: { type: 'hangup', prompt: 'goodbye' },
      closed: { type: 'play', prompts: ['closedMsg'], next: 'silentHangup' },
      silentHangup: { type: 'hangup' },
      outboundGreeting: { type: 'play', prompts: ['outboundMsg'], next: 'goodbye' },
    },
  };
}

/** Validates a flow input and fails loudly when it has problems. */
export function loadFlow(input: unknown, file = '/flows/contoso.json'): LoadedFlow {
  const { flow, problems } = validateFlow(input, file);
  if (!flow)
    throw new Error(`fixture flow is invalid:\n${problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`);
  return flow;
}

// Validated on first use, not when this module loads: code run at import is "static" for
// StrykerJS, which then runs every suite importing this file against each loader mutant.
let realisticFlow: LoadedFlow | undefined;
let realisticEnv: EngineEnv | undefined;

/** The realistic flow, validated (once per test file). */
export function fixtureFlow(): LoadedFlow {
  realisticFlow ??= loadFlow(realisticFlowInput());
  return realisticFlow;
}

/** An engine env running the realistic flow. */
export function fixtureEnv(): EngineEnv {
  realisticEnv ??= { callbackUri: CALLBACK_URI, flow: fixtureFlow() };
  return realisticEnv;
}

/** URIs of prompts by name, for comparing with bodies. */
export function uris(names: string[], flow: LoadedFlow = fixtureFlow()): string[] {
  return names.map((n) => {
    const uri = flow.flow.prompts[n];
    if (!uri) throw new Error(`no prompt ${n}`);
    return uri;
  });
}

// ---- body validation --------------------------------------------------------------------------

/** Every Graph request body in the commands passes its strict zod schema; operation contexts match their seq. */
export function assertBodiesValid(commands: readonly Command[]): void {
  for (const c of commands) {
    switch (c.kind) {
      case 'answer':
        answerBodySchema.parse(c.body);
        break;
      case 'reject':
        rejectBodySchema.parse(c.body);
        break;
      case 'redirect':
        redirectBodySchema.parse(c.body);
        break;
      case 'createCall':
        createCallBodySchema.parse(c.body);
        break;
      case 'subscribeToTone':
        subscribeToToneBodySchema.parse(c.body);
        expectOperationContext(c.body.clientContext);
        break;
      case 'cancelMediaProcessing':
        cancelMediaProcessingBodySchema.parse(c.body);
        expectOperationContext(c.body.clientContext);
        break;
      case 'playPrompt':
        playPromptBodySchema.parse(c.body);
        expectOperationContext(c.body.clientContext, c.seq);
        break;
      case 'recordResponse':
        recordResponseBodySchema.parse(c.body);
        expectOperationContext(c.body.clientContext, c.seq);
        break;
      case 'transfer':
        transferBodySchema.parse(c.body);
        break;
      case 'hangUp':
      case 'startTimer':
      case 'archiveRecording':
      case 'callEnded':
        break;
    }
  }
}

function expectOperationContext(value: string, seq?: number): void {
  const parsed = parseOperationContext(value);
  if (!parsed || parsed.clientContext !== CLIENT_CONTEXT || (seq !== undefined && parsed.seq !== seq)) {
    throw new Error(`bad operation clientContext ${value} (seq ${seq})`);
  }
}

// ---- a checked step ---------------------------------------------------------------------------

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/**
 * step() with the invariants every test relies on: the input is never mutated (it is deep-frozen and
 * compared with a copy), every emitted body passes its schema, and a no-op returns the very same ctx.
 */
export function stepChecked(ctx: CallContext, event: IvrEvent, env: EngineEnv = fixtureEnv()): StepResult {
  const before = structuredClone(ctx);
  deepFreeze(ctx);
  const result = step(ctx, event, env);
  expect(ctx).toEqual(before);
  assertBodiesValid(result.commands);
  if (result.ctx === ctx) expect(result.commands).toEqual([]);
  return result;
}

/** Applies events in order, returning the final ctx and every command emitted along the way. */
export function run(ctx: CallContext, events: IvrEvent[], env: EngineEnv = fixtureEnv()): StepResult {
  const commands: Command[] = [];
  for (const e of events) {
    const r = stepChecked(ctx, e, env);
    ctx = r.ctx;
    commands.push(...r.commands);
  }
  return { ctx, commands };
}

// ---- events -----------------------------------------------------------------------------------

let clock = Date.parse(MONDAY_NOON_PARIS);
/** A strictly increasing event time. */
export function at(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

export const ev = {
  state: (state: string, resultInfo: ResultInfo | null = null): IvrEvent => ({
    kind: 'callState',
    at: at(),
    state,
    resultInfo,
  }),
  established: (): IvrEvent => ev.state('established'),
  establishing: (): IvrEvent => ev.state('establishing'),
  terminated: (
    resultInfo: ResultInfo | null = { code: 200, subcode: 540000, message: 'caller hung up' },
  ): IvrEvent => ev.state('terminated', resultInfo),
  tone: (sequenceId: number, tone: Tone): IvrEvent => ({ kind: 'tone', at: at(), sequenceId, tone }),
  completed: (
    seq: number,
    extra: Partial<Extract<IvrEvent, { kind: 'operationCompleted' }>> = {},
  ): IvrEvent => ({
    kind: 'operationCompleted',
    at: at(),
    seq,
    status: 'completed',
    resultInfo: { code: 200, subcode: 0 },
    ...extra,
  }),
  failed: (
    seq: number,
    resultInfo: ResultInfo,
    extra: Partial<Extract<IvrEvent, { kind: 'operationCompleted' }>> = {},
  ): IvrEvent => ({
    kind: 'operationCompleted',
    at: at(),
    seq,
    status: 'failed',
    resultInfo,
    ...extra,
  }),
  timer: (timerId: string): IvrEvent => ({ kind: 'timer', at: at(), timerId }),
  requestFailed: (
    request: Command['kind'],
    extra: { seq?: number; status?: number; code?: string; message?: string } = {},
  ): IvrEvent => ({
    kind: 'requestFailed',
    at: at(),
    request,
    ...extra,
  }),
};

/** Digit keys as tones. */
export function toneOf(key: string): Tone {
  if (/^\d$/.test(key)) return `tone${key}` as Tone;
  if (key === '*') return 'star';
  if (key === '#') return 'pound';
  throw new Error(`no tone for ${key}`);
}

// ---- command lookups --------------------------------------------------------------------------

export function only<K extends Command['kind']>(
  commands: readonly Command[],
  kind: K,
): Extract<Command, { kind: K }> {
  const found = commands.filter((c): c is Extract<Command, { kind: K }> => c.kind === kind);
  if (found.length !== 1)
    throw new Error(
      `expected exactly one ${kind}, got ${found.length} in ${JSON.stringify(commands.map((c) => c.kind))}`,
    );
  return found[0]!;
}

export function kinds(commands: readonly Command[]): string[] {
  return commands.map((c) => c.kind);
}

/** The prompt URIs of a playPrompt command. */
export function playedUris(command: Command): string[] {
  if (command.kind !== 'playPrompt') throw new Error(`not a playPrompt: ${command.kind}`);
  return command.body.prompts.map((p) => p.mediaInfo.uri);
}

/** The pending media operation's seq (throws when none). */
export function mediaSeq(ctx: CallContext): number {
  if (!ctx.media) throw new Error('no pending media');
  return ctx.media.seq;
}

export function timerId(ctx: CallContext): string {
  if (!ctx.timer) throw new Error('no pending timer');
  return ctx.timer.id;
}

// ---- starting calls -----------------------------------------------------------------------------

export function incomingInfo(
  caller: string | null = '+14255550111',
  when = MONDAY_NOON_PARIS,
): IncomingCallInfo {
  return {
    clientContext: CLIENT_CONTEXT,
    callId: 'call-id-1',
    tenantId: TENANT,
    number: '+14255550100',
    caller,
    at: when,
  };
}

/** An incoming call decided (answered at 'welcome' with the defaults). */
export function decided(
  caller: string | null = '+14255550111',
  when = MONDAY_NOON_PARIS,
  env: EngineEnv = fixtureEnv(),
): StepResult {
  const r = decideIncomingCall(incomingInfo(caller, when), env, 'busy');
  assertBodiesValid(r.commands);
  return r;
}

/** An answered call after 'established': the welcome prompt is playing. */
export function answered(): StepResult {
  return stepChecked(decided().ctx, ev.established());
}

/** An answered call that has finished the welcome prompt: the main menu prompt is playing. */
export function atMainMenu(): StepResult {
  const a = answered();
  return stepChecked(a.ctx, ev.completed(mediaSeq(a.ctx)));
}

/** The main menu waiting for keys (its prompt completed, the no-input timer running). */
export function mainMenuWaiting(): StepResult {
  const m = atMainMenu();
  return stepChecked(m.ctx, ev.completed(mediaSeq(m.ctx)));
}

/** A flow input tests mutate freely into invalid shapes (deliberately untyped). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Mutable = any;
