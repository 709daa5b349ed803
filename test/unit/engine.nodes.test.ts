import type { CallContext } from '../../shared/ivr/context';
import {
  LOOKUP_GRACE_SECONDS,
  runsBeforeCommit,
  variableOf,
  type Command,
  type EngineEnv,
  type IvrEvent,
} from '../../shared/ivr/engine';
import type { LookupAnswer } from '../../shared/ivr/lookup';
import {
  CALLBACK_URI,
  decided,
  ev,
  kinds,
  loadFlow,
  mediaSeq,
  only,
  playedUris,
  run,
  stepChecked,
  timerId,
  toneOf,
} from './fixtures';
import { onFirstUse } from '../support/onFirstUse';

/** collect, branch and http nodes, and the call variables they read and set. */

const MEDIA = 'https://media.example.com/ivr';
const PROMPTS = ['enter', 'noInput', 'invalid', 'hold', 'shipped', 'big', 'other', 'bye'];
const FLOW = onFirstUse(() =>
  loadFlow({
    number: '+14255550100',
    prompts: Object.fromEntries(PROMPTS.map((p) => [p, `${MEDIA}/${p}.wav`])),
    default: { type: 'answer', start: 'enter' },
    http: { allowedHosts: ['crm.contoso.example'] },
    nodes: {
      enter: {
        type: 'collect',
        prompt: 'enter',
        into: 'order',
        minDigits: 4,
        maxDigits: 6,
        pattern: '[1-9][0-9]*',
        noInputPrompt: 'noInput',
        invalidPrompt: 'invalid',
        interDigitTimeoutSeconds: 4,
        noInputTimeoutSeconds: 7,
        maxAttempts: 2,
        next: 'lookup',
        fallback: 'bye',
      },
      lookup: {
        type: 'http',
        method: 'POST',
        url: 'https://crm.contoso.example/orders/{order}?from={caller}',
        headers: [
          { header: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' },
          { header: 'x-line', value: 'line {called}' },
        ],
        body: { order: '{order}', caller: '{caller}' },
        timeoutSeconds: 2,
        holdPrompt: 'hold',
        map: { status: { field: 'order.status' }, total: { field: 'order.total', type: 'number' } },
        next: { success: 'route', clientError: 'other', timeout: 'other', failure: 'bye' },
      },
      route: {
        type: 'branch',
        cases: [
          { variable: 'status', equals: 'shipped', next: 'shipped' },
          { variable: 'total', min: 100, max: 1000, next: 'big' },
        ],
        default: 'other',
      },
      shipped: { type: 'play', prompts: ['shipped'], next: 'bye' },
      big: { type: 'play', prompts: ['big'], next: 'bye' },
      other: { type: 'play', prompts: ['other'], next: 'bye' },
      bye: { type: 'hangup', prompt: 'bye' },
    },
  }),
);
const ENV: EngineEnv = { callbackUri: CALLBACK_URI, flow: FLOW };
const CALLER = '+14255550111';
const uri = (name: string) => `${MEDIA}/${name}.wav`;

let toneSeq = 0;
const press = (digits: string): IvrEvent[] => [...digits].map((d) => ev.tone(++toneSeq, toneOf(d)));
const result = (seq: number, answer: LookupAnswer): IvrEvent => ({
  kind: 'lookupResult',
  at: new Date().toISOString(),
  seq,
  ...answer,
});

/** The call at the collect node, its prompt finished: waiting for the entry. */
function collecting(): CallContext {
  toneSeq = 0;
  const established = stepChecked(decided(CALLER, undefined, ENV).ctx, ev.established(), ENV).ctx;
  expect(established.node).toBe('enter');
  return stepChecked(established, ev.completed(mediaSeq(established)), ENV).ctx;
}

/** The call waiting on its lookup after the entry 4711#. */
function lookingUp() {
  const r = run(collecting(), press('4711#'), ENV);
  expect(r.ctx.node).toBe('lookup');
  return r;
}

describe('collect nodes', () => {
  it('take an entry ended by the terminator into their variable and go to next', () => {
    const r = lookingUp();
    expect(r.ctx.vars).toEqual({ order: '4711' });
    expect(r.ctx.visited).toEqual(['enter', 'lookup']);
    expect(r.ctx.digits).toEqual(['4', '7', '1', '1', '#']);
  });

  it('end the entry by themselves at maxDigits', () => {
    const r = run(collecting(), press('123456'), ENV);
    expect(r.ctx.node).toBe('lookup');
    expect(r.ctx.vars).toEqual({ order: '123456' });
  });

  it('wait inter-digit after each key, and a wait that runs out ends the entry', () => {
    const r = run(collecting(), press('4711'), ENV);
    expect(r.ctx.timer).toEqual({ id: expect.stringMatching(/^interDigit-/), purpose: 'interDigit' });
    expect(r.commands.filter((c) => c.kind === 'startTimer').at(-1)).toMatchObject({ delaySeconds: 4 });
    const done = stepChecked(r.ctx, ev.timer(timerId(r.ctx)), ENV);
    expect(done.ctx.node).toBe('lookup');
    expect(done.ctx.vars).toEqual({ order: '4711' });
  });

  it.each([
    ['too short', '12#'],
    ['not matching the pattern', '0123#'],
    ['a key that is no digit', '12*4#'],
  ])('re-prompt an invalid entry (%s), then go to fallback after maxAttempts', (_why, keys) => {
    const first = run(collecting(), press(keys), ENV);
    expect(first.ctx.node).toBe('enter');
    expect(first.ctx.vars).toBeUndefined();
    expect(first.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
    expect(playedUris(only(first.commands, 'playPrompt'))).toEqual([uri('invalid'), uri('enter')]);
    const prompted = stepChecked(first.ctx, ev.completed(mediaSeq(first.ctx)), ENV).ctx;
    const second = run(prompted, press(keys), ENV);
    expect(second.ctx.node).toBe('bye');
    expect(second.ctx.vars).toBeUndefined();
  });

  it('re-prompt when nothing is entered before the no-input wait runs out', () => {
    const ctx = collecting();
    expect(ctx.timer).toEqual({ id: expect.stringMatching(/^noInput-/), purpose: 'noInput' });
    const r = stepChecked(ctx, ev.timer(timerId(ctx)), ENV);
    expect(r.ctx.node).toBe('enter');
    expect(r.ctx.menu).toMatchObject({ attempt: 2, digits: '' });
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual([uri('noInput'), uri('enter')]);
    const prompted = stepChecked(r.ctx, ev.completed(mediaSeq(r.ctx)), ENV).ctx;
    expect(stepChecked(prompted, ev.timer(timerId(prompted)), ENV).ctx.node).toBe('bye');
  });

  it('stop the prompt when the caller starts typing (barge-in)', () => {
    toneSeq = 0;
    const established = stepChecked(decided(CALLER, undefined, ENV).ctx, ev.established(), ENV).ctx;
    const r = run(established, press('4'), ENV);
    expect(kinds(r.commands)).toEqual(['cancelMediaProcessing', 'startTimer']);
    expect(r.ctx.menu).toMatchObject({ digits: '4', stage: 'input' });
  });
});

describe('http nodes', () => {
  it('queue the request with the variables filled in and the secret header named, never resolved', () => {
    const { ctx, commands } = lookingUp();
    const lookup = only(commands, 'lookup');
    expect(lookup.request).toEqual({
      method: 'POST',
      url: 'https://crm.contoso.example/orders/4711?from=%2B14255550111',
      headers: [
        { name: 'x-api-key', fromSetting: 'IVR_SECRET_CRM' },
        { name: 'x-line', value: 'line +14255550100' },
      ],
      body: JSON.stringify({ order: '4711', caller: CALLER }),
      timeoutMs: 2000,
    });
    expect(ctx.lookup).toEqual({ seq: lookup.seq, node: 'lookup' });
    // A watchdog, should the result never come, and the hold prompt meanwhile.
    expect(ctx.timer).toEqual({ id: `lookup-${lookup.seq}`, purpose: 'lookup' });
    expect(commands.filter((c) => c.kind === 'startTimer').at(-1)).toEqual({
      kind: 'startTimer',
      timerId: `lookup-${lookup.seq}`,
      delaySeconds: 2 + LOOKUP_GRACE_SECONDS,
    });
    expect(playedUris(only(commands, 'playPrompt'))).toEqual([uri('hold')]);
    expect(ctx.media).toMatchObject({ kind: 'hold', node: 'lookup' });
  });

  it('on success map the answer into variables, stop the hold prompt and branch on them', () => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    const r = stepChecked(
      ctx,
      result(seq, { status: 200, answer: { order: { status: 'shipped', total: 12.5 } } }),
      ENV,
    );
    expect(r.ctx.vars).toEqual({ order: '4711', status: 'shipped', total: '12.5' });
    expect(r.ctx.visited).toEqual(['enter', 'lookup', 'route', 'shipped']);
    expect(kinds(r.commands)).toEqual(['cancelMediaProcessing', 'playPrompt']);
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual([uri('shipped')]);
    expect(r.ctx.lookup).toBeNull();
    expect(r.ctx.timer).toBeNull();
    expect(r.ctx.lookups).toEqual([
      { seq, node: 'lookup', outcome: 'success', status: 200, at: expect.any(String) },
    ]);
    expect(r.ctx.failures).toEqual([]);
  });

  it('branch on numeric ranges, first match winning, else the default', () => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    const go = (status: string, total: number) =>
      stepChecked(ctx, result(seq, { status: 200, answer: { order: { status, total } } }), ENV).ctx.node;
    expect(go('processing', 250)).toBe('big');
    expect(go('processing', 100)).toBe('big');
    expect(go('processing', 1000.5)).toBe('other');
    expect(go('processing', 99)).toBe('other');
    expect(go('shipped', 250)).toBe('shipped');
  });

  it.each<[string, LookupAnswer, string, string]>([
    ['4xx', { status: 404 }, 'clientError', 'other'],
    ['5xx without its own node', { status: 503 }, 'serverError', 'bye'],
    ['a redirect', { status: 302 }, 'failure', 'bye'],
    ['a timeout', { problem: 'timeout', message: 'no whole answer within 2000 ms' }, 'timeout', 'other'],
    [
      'a refused address',
      { problem: 'failed', message: 'crm.contoso.example resolves to 10.0.0.5, a private address: refused' },
      'failure',
      'bye',
    ],
    [
      'an answer that is not JSON',
      { status: 200, problem: 'badAnswer', message: 'the answer is not JSON' },
      'invalidAnswer',
      'bye',
    ],
    ['a missing field', { status: 200, answer: { order: { total: 3 } } }, 'invalidAnswer', 'bye'],
    [
      'a field of another type',
      { status: 200, answer: { order: { status: 'x', total: '3' } } },
      'invalidAnswer',
      'bye',
    ],
    [
      'a field inherited, not in the answer',
      { status: 200, answer: { order: 'shipped' } },
      'invalidAnswer',
      'bye',
    ],
  ])("on %s go to the outcome's node, or failure when it has none", (_case, answer, outcome, node) => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    const r = stepChecked(ctx, result(seq, answer), ENV);
    expect(r.ctx.lookups).toEqual([expect.objectContaining({ outcome })]);
    expect(r.ctx.visited.at(-1)).toBe(node);
    expect(r.ctx.vars).toEqual({ order: '4711' });
    expect(r.ctx.failures).toEqual([expect.objectContaining({ what: 'lookup', code: outcome })]);
  });

  it("take one result per request: a repeat, an older request's or an unknown one changes nothing", () => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    for (const stale of [seq - 1, seq + 5]) {
      const r = stepChecked(ctx, result(stale, { status: 200, answer: {} }), ENV);
      expect(r.ctx).toBe(ctx);
    }
    const once = stepChecked(ctx, result(seq, { status: 404 }), ENV).ctx;
    const again = stepChecked(
      once,
      result(seq, { status: 200, answer: { order: { status: 'shipped', total: 1 } } }),
      ENV,
    );
    expect(again.ctx).toBe(once);
  });

  it('go on as after a timeout when no result comes before the watchdog', () => {
    const { ctx } = lookingUp();
    const r = stepChecked(ctx, ev.timer(timerId(ctx)), ENV);
    expect(r.ctx.node).toBe('other');
    expect(r.ctx.lookups).toEqual([expect.objectContaining({ outcome: 'timeout' })]);
    expect(r.ctx.failures).toEqual([
      expect.objectContaining({ what: 'lookup', message: 'no result from the lookup worker' }),
    ]);
  });

  it('end cleanly when the caller hangs up while waiting: a late result changes nothing', () => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    const ended = stepChecked(ctx, ev.terminated(), ENV);
    expect(ended.ctx.phase).toBe('ended');
    expect(ended.ctx.lookup).toBeNull();
    expect(kinds(ended.commands)).toEqual(['callEnded']);
    expect(stepChecked(ended.ctx, result(seq, { status: 200, answer: {} }), ENV).ctx).toBe(ended.ctx);
    expect(stepChecked(ended.ctx, ev.timer(`lookup-${seq}`), ENV).ctx).toBe(ended.ctx);
  });
});

describe('call variables', () => {
  it('have built-ins by direction, then values set by steps, then outbound request variables', () => {
    const incoming = decided(CALLER, undefined, ENV).ctx;
    expect(['caller', 'called', 'number'].map((n) => variableOf(incoming, n))).toEqual([
      CALLER,
      '+14255550100',
      '+14255550100',
    ]);
    expect(variableOf(decided(null, undefined, ENV).ctx, 'caller')).toBe('');
    const outbound: CallContext = {
      ...incoming,
      direction: 'outgoing',
      party: '+12065550199',
      vars: { ticket: 'T-2' },
      outbound: {
        target: { kind: 'phone', phone: '+12065550199' },
        applicationInstanceId: 'app',
        variables: { ticket: 'T-1', severity: 'high' },
        attempts: [],
        outcome: null,
      },
    };
    expect(variableOf(outbound, 'caller')).toBe('+14255550100');
    expect(variableOf(outbound, 'called')).toBe('+12065550199');
    expect(variableOf(outbound, 'ticket')).toBe('T-2');
    expect(variableOf(outbound, 'severity')).toBe('high');
    expect(variableOf(outbound, 'toString')).toBeUndefined();
  });
});

describe('variables a call keeps', () => {
  /** n variables set by earlier steps, none of them the collect node's `order`. */
  const filled = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`v${i}`, `${i}`]));

  it('a 65th variable is not kept: the call goes on and the failure names it', () => {
    const ctx = { ...collecting(), vars: filled(64) };
    const r = run(ctx, press('4711#'), ENV);
    expect(r.ctx.node).toBe('lookup');
    expect(r.ctx.vars).toEqual(filled(64));
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'variables', message: 'more than 64 variables: "order" not kept' },
    ]);
  });

  it('the 64th is kept, and a variable already set is replaced even at the cap', () => {
    const below = run({ ...collecting(), vars: filled(63) }, press('4711#'), ENV).ctx;
    expect(below.vars).toEqual({ ...filled(63), order: '4711' });
    expect(below.failures).toEqual([]);
    const full = { ...filled(63), order: '1' };
    const replaced = run({ ...collecting(), vars: full }, press('4711#'), ENV).ctx;
    expect(replaced.vars).toEqual({ ...full, order: '4711' });
    expect(replaced.failures).toEqual([]);
  });
});

describe('what an http request leaves on record', () => {
  it('a timeout: the request without a status, the failure with its code and message', () => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    const r = stepChecked(
      ctx,
      result(seq, { problem: 'timeout', message: 'no whole answer within 2000 ms' }),
      ENV,
    );
    // No status key at all (toStrictEqual tells a missing key from one set to undefined).
    expect(r.ctx.lookups).toStrictEqual([
      { seq, node: 'lookup', outcome: 'timeout', at: expect.any(String) },
    ]);
    expect(r.ctx.failures).toEqual([
      {
        at: expect.any(String),
        what: 'lookup',
        code: 'timeout',
        message: 'no whole answer within 2000 ms',
      },
    ]);
  });

  it('a 404: the status on both', () => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    const r = stepChecked(ctx, result(seq, { status: 404 }), ENV);
    expect(r.ctx.lookups).toEqual([
      { seq, node: 'lookup', outcome: 'clientError', status: 404, at: expect.any(String) },
    ]);
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'lookup', status: 404, code: 'clientError', message: 'answered 404' },
    ]);
  });

  it('a result after the hold prompt ended stops nothing', () => {
    const { ctx, commands } = lookingUp();
    const seq = only(commands, 'lookup').seq;
    const held = stepChecked(ctx, ev.completed(mediaSeq(ctx)), ENV).ctx;
    expect(held.media).toBeNull();
    const r = stepChecked(held, result(seq, { status: 404 }), ENV);
    expect(kinds(r.commands)).toEqual(['playPrompt']);
    expect(r.ctx.node).toBe('other');
  });
});

describe('a collect node without a pattern', () => {
  const PLAIN = onFirstUse(() =>
    loadFlow({
      number: '+14255550100',
      prompts: { enter: uri('enter'), lookup: uri('hold'), bye: uri('bye') },
      default: { type: 'answer', start: 'enter' },
      http: { allowedHosts: ['crm.contoso.example'] },
      nodes: {
        enter: {
          type: 'collect',
          prompt: 'enter',
          into: 'pin',
          minDigits: 4,
          maxDigits: 6,
          maxAttempts: 2,
          next: 'lookup',
          fallback: 'bye',
        },
        // No hold prompt: nothing plays while the request runs.
        lookup: {
          type: 'http',
          method: 'GET',
          url: 'https://crm.contoso.example/pins/{pin}',
          timeoutSeconds: 2,
          next: { success: 'bye', failure: 'bye' },
        },
        bye: { type: 'hangup' },
      },
    }),
  );
  const env: EngineEnv = { callbackUri: CALLBACK_URI, flow: PLAIN };
  const waiting = () => {
    toneSeq = 0;
    const established = stepChecked(decided(CALLER, undefined, env).ctx, ev.established(), env).ctx;
    return stepChecked(established, ev.completed(mediaSeq(established)), env).ctx;
  };

  it('takes digits only: a star anywhere in the entry makes it invalid', () => {
    for (const keys of ['*1234#', '1234*#', '12*34#']) {
      const r = run(waiting(), press(keys), env);
      expect(r.ctx.node).toBe('enter');
      expect(r.ctx.vars).toBeUndefined();
      expect(r.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
    }
    const ok = run(waiting(), press('1234#'), env);
    expect(ok.ctx.vars).toEqual({ pin: '1234' });
    expect(ok.ctx.node).toBe('lookup');
  });

  it('an http node without a hold prompt plays nothing while its request runs', () => {
    const r = run(waiting(), press('1234#'), env);
    expect(kinds(r.commands).slice(-2)).toEqual(['lookup', 'startTimer']);
    expect(r.ctx.media).toBeNull();
  });
});

describe('runsBeforeCommit', () => {
  it('the queue messages run before the context is stored; Graph requests after', () => {
    const before: Command['kind'][] = ['startTimer', 'archiveRecording', 'lookup'];
    const after: Command['kind'][] = [
      'answer',
      'reject',
      'redirect',
      'subscribeToTone',
      'playPrompt',
      'recordResponse',
      'cancelMediaProcessing',
      'transfer',
      'hangUp',
      'createCall',
      'callEnded',
      'queueOutcomeWebhook',
    ];
    for (const kind of before) expect([kind, runsBeforeCommit({ kind } as Command)]).toEqual([kind, true]);
    for (const kind of after) expect([kind, runsBeforeCommit({ kind } as Command)]).toEqual([kind, false]);
  });
});

describe('built-in variables of a call without a number', () => {
  it('called and number are empty, not undefined', () => {
    const incoming = { ...decided(CALLER, undefined, ENV).ctx, number: null };
    expect(variableOf(incoming, 'called')).toBe('');
    expect(variableOf(incoming, 'number')).toBe('');
    expect(variableOf({ ...incoming, direction: 'outgoing', party: null }, 'called')).toBe('');
  });
});
