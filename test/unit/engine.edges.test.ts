import type { CallContext } from '../../shared/ivr/context';
import { CODE_LIMIT, FAILURE_LIMIT, HISTORY_LIMIT, MESSAGE_LIMIT } from '../../shared/ivr/context';
import { callbackUriFor, recordOutcome, type EngineEnv } from '../../shared/ivr/engine';
import {
  type Mutable,
  CALLBACK_URI,
  fixtureFlow,
  decided,
  ev,
  kinds,
  loadFlow,
  mainMenuWaiting,
  mediaSeq,
  only,
  playedUris,
  stepChecked,
  toneOf,
} from './fixtures';

/**
 * The engine's edges: every key, the history caps, key presses out of order, a menu's
 * terminator, the flow changing under a call. Each test names the exact outcome.
 */

const MEDIA = 'https://media.example.com';

/** A call answered into `start` of a small flow, its first prompt completed (waiting for keys). */
function waitingIn(flowInput: Record<string, unknown>): { ctx: CallContext; env: EngineEnv } {
  const flow = loadFlow({ number: '+14255550100', default: { type: 'answer', start: 'menu' }, ...flowInput });
  const env: EngineEnv = { callbackUri: CALLBACK_URI, flow };
  const answered = stepChecked(decided('+14255550111', undefined, env).ctx, ev.established(), env);
  const waiting = stepChecked(answered.ctx, ev.completed(mediaSeq(answered.ctx)), env);
  return { ctx: waiting.ctx, env };
}

/** A menu whose every key comes back to it: the call can take any number of keys. */
const everyKeyLoops = {
  prompts: { p: `${MEDIA}/p.wav` },
  nodes: {
    menu: {
      type: 'menu',
      prompt: 'p',
      options: Object.fromEntries(
        ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'].map((k) => [k, 'menu']),
      ),
      fallback: 'menu',
    },
  },
};

/** A menu collecting a long code: keys accumulate, so their order shows in the history. */
const longCode = {
  prompts: { p: `${MEDIA}/p.wav`, ni: `${MEDIA}/no-input.wav`, inv: `${MEDIA}/invalid.wav` },
  nodes: {
    menu: {
      type: 'menu',
      prompt: 'p',
      options: { '1234567': 'bye', '98': 'bye' },
      terminator: '#',
      noInputPrompt: 'ni',
      invalidPrompt: 'inv',
      interDigitTimeoutSeconds: 5,
      maxAttempts: 3,
      fallback: 'bye',
    },
    bye: { type: 'hangup' },
  },
};

function press(ctx: CallContext, env: EngineEnv, keys: Array<[number, string]>): CallContext {
  return keys.reduce((c, [seq, key]) => stepChecked(c, ev.tone(seq, toneOf(key)), env).ctx, ctx);
}

describe('keys', () => {
  it('every DTMF key is recorded as its character; a, b, c, d and flash are not digits', () => {
    const { ctx, env } = waitingIn(everyKeyLoops);
    const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'];
    let c = press(
      ctx,
      env,
      keys.map((k, i) => [i + 1, k]),
    );
    expect(c.digits).toEqual(keys);
    for (const [i, tone] of (['a', 'b', 'c', 'd', 'flash'] as const).entries())
      c = stepChecked(c, ev.tone(20 + i, tone), env).ctx;
    expect(c.digits).toEqual(keys);
  });

  it('the first key of a call is taken at once, whatever its sequence id', () => {
    const { ctx, env } = waitingIn(longCode);
    const c = press(ctx, env, [[5, '1']]);
    expect([c.digits, c.heldTones, c.menu?.digits]).toEqual([['1'], [], '1']);
  });
});

describe('history caps', () => {
  it('keys and nodes stop at 200, remembered tone ids at 64; a repeat of a remembered one is ignored', () => {
    const { ctx, env } = waitingIn(everyKeyLoops);
    let c = ctx;
    for (let seq = 1; seq <= HISTORY_LIMIT + 50; seq++) c = stepChecked(c, ev.tone(seq, 'tone1'), env).ctx;
    expect([c.digits.length, c.visited.length]).toEqual([HISTORY_LIMIT, HISTORY_LIMIT]);
    expect(c.recentToneSeqs).toEqual(Array.from({ length: 64 }, (_, i) => HISTORY_LIMIT + 50 - 63 + i));
    expect(stepChecked(c, ev.tone(HISTORY_LIMIT + 50, 'tone1'), env).ctx).toBe(c);
  });

  it('failures stop at 50, and a failure message and code are bounded', () => {
    const { ctx } = mainMenuWaiting();
    let c = ctx;
    for (let i = 0; i < FAILURE_LIMIT + 10; i++)
      c = stepChecked(c, ev.requestFailed('subscribeToTone', { status: 500, code: 'x'.repeat(100) })).ctx;
    expect(c.failures).toHaveLength(FAILURE_LIMIT);
    expect(c.failures[0]!.code).toHaveLength(CODE_LIMIT);
  });

  it('a failed media operation records only what Graph said: no code without a subcode, nothing without resultInfo', () => {
    const { ctx } = mainMenuWaiting();
    const welcome = stepChecked(decided().ctx, ev.established());
    const seq = mediaSeq(welcome.ctx);
    const bare = stepChecked(welcome.ctx, ev.failed(seq, { code: 0 }, { resultInfo: undefined }));
    expect(bare.ctx.failures).toEqual([{ at: expect.any(String), what: 'play' }]);
    const noSubcode = stepChecked(welcome.ctx, ev.failed(seq, { code: 404, message: 'not found' }));
    expect(noSubcode.ctx.failures).toEqual([
      { at: expect.any(String), what: 'play', status: 404, message: 'not found' },
    ]);
    const zero = stepChecked(welcome.ctx, ev.failed(seq, { code: 500, subcode: 0 }));
    expect(zero.ctx.failures).toEqual([{ at: expect.any(String), what: 'play', status: 500, code: '0' }]);
    expect(ctx.failures).toEqual([]);
  });

  it("the call's ending result keeps Graph's code and a message bounded to 512 characters", () => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(
      ctx,
      ev.terminated({ code: 500, subcode: 7, message: 'x'.repeat(MESSAGE_LIMIT + 100) }),
    );
    expect(r.ctx.result).toEqual({ code: 500, subcode: 7, message: 'x'.repeat(MESSAGE_LIMIT - 1) + '…' });
  });

  it('recordings stop at 200 in the history; the 201st is still archived', () => {
    const { ctx } = mainMenuWaiting();
    const recording = stepChecked(ctx, ev.tone(1, 'tone2')).ctx;
    const full: CallContext = {
      ...recording,
      recordings: Array.from({ length: HISTORY_LIMIT }, (_, i) => ({
        seq: i + 100,
        node: 'voicemail',
        outcome: 'stopTone' as const,
        completionReason: 'stopToneDetected',
        hasAudio: true,
      })),
    };
    const r = stepChecked(
      full,
      ev.completed(mediaSeq(recording), {
        completionReason: 'stopToneDetected',
        recording: { location: 'https://recordings.example.com/r/1', accessToken: 't' },
      }),
    );
    expect(r.ctx.recordings).toHaveLength(HISTORY_LIMIT);
    expect(r.ctx.recordings.at(-1)!.seq).toBe(HISTORY_LIMIT + 99);
    expect(only(r.commands, 'archiveRecording')).toMatchObject({
      seq: mediaSeq(recording),
      outcome: 'stopTone',
    });
  });

  it('a failed transfer request while no transfer is running is recorded but moves nothing', () => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(ctx, ev.requestFailed('transfer', { status: 403 }));
    expect([r.ctx.phase, r.ctx.node, r.commands]).toEqual(['established', 'main', []]);
    expect(r.ctx.failures).toEqual([{ at: expect.any(String), what: 'transfer', status: 403 }]);
  });
});

describe('keys out of order', () => {
  it('a key ahead of a missing one is held, and released in order when the missing one comes', () => {
    const { ctx, env } = waitingIn(longCode);
    const held = press(ctx, env, [
      [1, '1'],
      [3, '3'],
    ]);
    expect([held.digits, held.heldTones.map((t) => t.sequenceId)]).toEqual([['1'], [3]]);
    expect(held.timer?.purpose).toBe('interDigit');
    const released = press(held, env, [[2, '2']]);
    expect([released.digits, released.heldTones, released.menu?.digits]).toEqual([
      ['1', '2', '3'],
      [],
      '123',
    ]);
  });

  it('only the keys next in sequence are released: a later gap keeps its key held', () => {
    const { ctx, env } = waitingIn(longCode);
    const c = press(ctx, env, [
      [1, '1'],
      [4, '4'],
      [2, '2'],
    ]);
    expect([c.digits, c.heldTones.map((t) => t.sequenceId)]).toEqual([['1', '2'], [4]]);
  });

  it('a fourth key waiting on the same missing one gives it up: all are taken in order', () => {
    const { ctx, env } = waitingIn(everyKeyLoops);
    const three = press(ctx, env, [
      [1, '1'],
      [3, '3'],
      [4, '4'],
      [5, '5'],
    ]);
    expect(three.heldTones.map((t) => t.sequenceId)).toEqual([3, 4, 5]);
    const c = press(three, env, [[6, '6']]);
    expect([c.digits, c.heldTones]).toEqual([['1', '3', '4', '5', '6'], []]);
  });

  it('when the wait ends with a key still missing, the held keys are the input, in order', () => {
    const { ctx, env } = waitingIn(longCode);
    const held = press(ctx, env, [
      [1, '9'],
      [3, '8'],
    ]);
    expect(held.heldTones.map((t) => t.sequenceId)).toEqual([3]);
    const r = stepChecked(held, ev.timer(held.timer!.id), env);
    // "98" is an option: the held key completed it.
    expect([r.ctx.digits, r.ctx.node, kinds(r.commands)]).toEqual([['9', '8'], 'bye', ['hangUp']]);
  });

  it('a key later than keys already taken is still taken (out of order rather than lost)', () => {
    const { ctx, env } = waitingIn(everyKeyLoops);
    const c = press(ctx, env, [
      [1, '1'],
      [3, '3'],
      [4, '4'],
      [5, '5'],
      [6, '6'],
      [2, '2'],
    ]);
    expect(c.digits).toEqual(['1', '3', '4', '5', '6', '2']);
  });
});

describe('menu terminator and timers', () => {
  it('the terminator with no keys is no input: the no-input prompt, then the menu', () => {
    const { ctx, env } = waitingIn(longCode);
    const r = stepChecked(ctx, ev.tone(1, 'pound'), env);
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual([`${MEDIA}/no-input.wav`, `${MEDIA}/p.wav`]);
    expect(r.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
  });

  it('the terminator after keys that match no option is invalid input', () => {
    const { ctx, env } = waitingIn(longCode);
    const c = press(ctx, env, [[1, '1']]);
    const r = stepChecked(c, ev.tone(2, 'pound'), env);
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual([`${MEDIA}/invalid.wav`, `${MEDIA}/p.wav`]);
    expect(r.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
  });

  it('an inter-digit wait ending on keys that match no option re-prompts as invalid', () => {
    const { ctx, env } = waitingIn(longCode);
    const c = press(ctx, env, [[1, '1']]);
    const r = stepChecked(c, ev.timer(c.timer!.id), env);
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual([`${MEDIA}/invalid.wav`, `${MEDIA}/p.wav`]);
  });

  it('after the call ended, a timer other than the recording grace changes nothing', () => {
    const { ctx, env } = waitingIn(longCode);
    const ended = stepChecked(ctx, ev.terminated(), env).ctx;
    expect(stepChecked(ended, ev.timer(ctx.timer!.id), env).ctx).toBe(ended);
  });
});

describe('recordings and results', () => {
  it('the first attempt of a record node plays its own prompt, not the no-input one', () => {
    const input = structuredClone(fixtureFlow().flow) as Mutable;
    input.nodes.voicemail.noInputPrompt = 'noMessage';
    input.nodes.voicemail.maxAttempts = 2;
    const env: EngineEnv = { callbackUri: CALLBACK_URI, flow: { ...fixtureFlow(), flow: input } };
    const r = stepChecked(mainMenuWaiting().ctx, ev.tone(1, 'tone2'), env);
    expect(only(r.commands, 'recordResponse').body.prompts!.map((p) => p.mediaInfo.uri)).toEqual([
      fixtureFlow().flow.prompts.voicemailPrompt,
    ]);
  });

  it('a failed operation is a failure whatever its subcode; an unknown completion reason too', () => {
    expect(recordOutcome('failed', null, { code: 200, subcode: 8515 })).toBe('failure');
    expect(recordOutcome('completed', 'somethingNew', { code: 200, subcode: 8515 })).toBe('failure');
    expect(recordOutcome('completed', null, { code: 200, subcode: 9999 })).toBe('failure');
  });

  it('a transfer failure without a subcode keeps no empty code', () => {
    const { ctx } = mainMenuWaiting();
    const transferring = stepChecked(ctx, ev.tone(1, 'tone0')).ctx;
    const r = stepChecked(transferring, ev.state('established', { code: 400 }));
    expect(r.ctx.node).toBe('operatorBusyNode');
    expect(r.ctx.failures).toEqual([{ at: expect.any(String), what: 'transfer', status: 400 }]);
  });
});

describe('the flow changing under a call', () => {
  it('an option leading to a node that no longer exists ends the call cleanly, with the reason', () => {
    const { ctx } = mainMenuWaiting();
    const input = structuredClone(fixtureFlow().flow) as Mutable;
    delete input.nodes.sales;
    // Not revalidated on purpose: a call in progress may meet a flow edited since it began.
    const env: EngineEnv = { callbackUri: CALLBACK_URI, flow: { ...fixtureFlow(), flow: input } };
    const r = stepChecked(ctx, ev.tone(1, 'tone1'), env);
    expect(r.commands).toEqual([{ kind: 'hangUp' }]);
    expect([r.ctx.phase, r.ctx.node]).toEqual(['hangingUp', 'main']);
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'flow', message: 'node "sales" no longer exists' },
    ]);
  });
});

describe('a flow gone from under a call', () => {
  const gone: EngineEnv = { callbackUri: CALLBACK_URI, flow: null };
  const lost = { at: expect.any(String), what: 'flow', message: 'flow "contoso" is no longer available' };

  it('a call in its flow hangs up at its next event, with the reason, instead of waiting in silence', () => {
    const { ctx } = mainMenuWaiting();
    for (const event of [ev.tone(1, 'tone1'), ev.timer(ctx.timer!.id), ev.completed(99)]) {
      const r = stepChecked(ctx, event, gone);
      expect(r.commands).toEqual([{ kind: 'hangUp' }]);
      expect(r.ctx).toMatchObject({ phase: 'hangingUp', media: null, menu: null, timer: null });
      expect(r.ctx.failures).toEqual([lost]);
    }
    // The caller hanging up still just ends it.
    const ended = stepChecked(ctx, ev.terminated(), gone);
    expect([ended.ctx.phase, kinds(ended.commands)]).toEqual(['ended', ['callEnded']]);
  });

  it('an answered call whose flow is gone by the time it is established hangs up', () => {
    const r = stepChecked(decided().ctx, ev.established(), gone);
    expect(r.commands).toEqual([{ kind: 'hangUp' }]);
    expect(r.ctx.phase).toBe('hangingUp');
    expect(r.ctx.failures).toEqual([lost]);
  });

  it('a failed transfer with no transfer node to fall back from hangs up, saying why', () => {
    const { ctx } = mainMenuWaiting();
    const transferring = stepChecked(ctx, ev.tone(1, 'tone0')).ctx;
    expect(transferring).toMatchObject({ phase: 'transferring', node: 'operator' });
    const failedState = ev.state('established', { code: 500, subcode: 7000, message: 'no answer' });
    const refused = ev.requestFailed('transfer', { status: 403 });
    for (const event of [failedState, refused]) {
      const r = stepChecked(transferring, event, gone);
      expect(r.commands).toEqual([{ kind: 'hangUp' }]);
      expect(r.ctx.failures.map((f) => [f.what, f.message])).toEqual([
        ['transfer', event === refused ? undefined : 'no answer'],
        ['flow', 'flow "contoso" is no longer available'],
      ]);
    }
    // The flow is still there, but the node is no transfer any more (edited since).
    const input = structuredClone(fixtureFlow().flow) as Mutable;
    input.nodes.operator = { type: 'hangup' };
    const edited: EngineEnv = { callbackUri: CALLBACK_URI, flow: { ...fixtureFlow(), flow: input } };
    const r = stepChecked(transferring, refused, edited);
    expect(r.commands).toEqual([{ kind: 'hangUp' }]);
    expect(r.ctx.failures.at(-1)).toEqual({
      at: expect.any(String),
      what: 'flow',
      message: 'node "operator" changed under the call',
    });
  });
});

describe('callback addresses', () => {
  it('an outbound call key joins the address as a query parameter, after any already there', () => {
    expect(callbackUriFor('https://bot.example.com/api/calls', 'k1')).toBe(
      'https://bot.example.com/api/calls?ctx=k1',
    );
    expect(callbackUriFor('https://bot.example.com/api/calls?code=abc', 'k1')).toBe(
      'https://bot.example.com/api/calls?code=abc&ctx=k1',
    );
  });
});
