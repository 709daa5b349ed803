import { placeOutboundCall, type OutboundCallInfo } from '../../shared/ivr/engine';
import type { CallContext } from '../../shared/ivr/context';
import { destinationAllowed, redialsAfter } from '../../shared/ivr/outbound';
import { createCallBodySchema } from '../../shared/graph/schemas';
import { takeRate } from '../../shared/outbound/limits';
import {
  APP_INSTANCE,
  CALLBACK_URI,
  CLIENT_CONTEXT,
  ev,
  kinds,
  loadFlow,
  MONDAY_NOON_PARIS,
  only,
  realisticFlowInput,
  run,
  stepChecked,
  TENANT,
  type Mutable,
} from './fixtures';
import { onFirstUse } from '../support/onFirstUse';

/** Redials and the outcome webhook of outbound calls: pure engine steps. */

const CONTEXT = CLIENT_CONTEXT;
const info: OutboundCallInfo = {
  clientContext: CONTEXT,
  tenantId: TENANT,
  number: '+14255550100',
  applicationInstanceId: APP_INSTANCE,
  callee: '+14255550177',
  callbackUrl: 'https://hooks.example.com/ivr',
  at: MONDAY_NOON_PARIS,
};

function flowWith(redial: unknown) {
  const input = realisticFlowInput() as Mutable;
  input.outbound = { ...input.outbound, redial };
  return loadFlow(input);
}
/** The same number's flow after its outbound entry (and the node only it reached) was taken out. */
function flowWithoutOutbound() {
  const input = realisticFlowInput() as Mutable;
  delete input.outbound;
  delete (input.nodes as Mutable).outboundGreeting;
  return loadFlow(input);
}
const REDIAL = onFirstUse(() => flowWith({ on: ['notAnswered'], maxAttempts: 3, delaySeconds: 30 }));
const env = { callbackUri: CALLBACK_URI, flow: REDIAL };

const NO_ANSWER = { code: 480, subcode: 0, message: 'no answer' };
const BUSY = { code: 486, subcode: 0, message: 'Busy here' };

/** The call placed, Graph's answer naming it, as the shell stores it. */
function placed(flow = REDIAL, callId: string | null = 'call-1'): CallContext {
  const { ctx } = placeOutboundCall(info, { callbackUri: CALLBACK_URI, flow });
  return { ...ctx, callId };
}

describe('redial policy', () => {
  it('an unanswered attempt waits for the redial timer instead of ending, and sends no webhook yet', () => {
    const r = stepChecked(placed(), ev.terminated(NO_ANSWER), env);
    expect(r.ctx.phase).toBe('redialWait');
    expect(r.ctx.callId).toBeNull();
    expect(r.ctx.endedAt).toBeNull();
    expect(r.ctx.outbound).toMatchObject({
      outcome: null,
      attempts: [{ n: 1, callId: 'call-1', outcome: 'notAnswered', code: 480 }],
    });
    expect(r.ctx.outbound?.webhook).toBeUndefined();
    const timer = only(r.commands, 'startTimer');
    expect(timer.delaySeconds).toBe(30);
    expect(r.ctx.outbound?.redialTimerId).toBe(timer.timerId);
    // 30 s after the end of the attempt, from the event's own time.
    const endedAt = Date.parse(r.ctx.outbound!.attempts[0]!.endedAt!);
    expect(Date.parse(r.ctx.outbound!.redialAt!)).toBe(endedAt + 30_000);
    expect(kinds(r.commands)).toEqual(['startTimer']);
  });

  it('the redial timer places attempt 2 with the same create-call body; the timer twice dials once', () => {
    const first = placeOutboundCall(info, { callbackUri: CALLBACK_URI, flow: REDIAL });
    const waiting = stepChecked({ ...first.ctx, callId: 'call-1' }, ev.terminated(NO_ANSWER), env).ctx;
    const timerId = waiting.outbound!.redialTimerId!;
    const dial = stepChecked(waiting, ev.timer(timerId), env);
    expect(kinds(dial.commands)).toEqual(['createCall']);
    expect(only(dial.commands, 'createCall').body).toEqual(only(first.commands, 'createCall').body);
    expect(dial.ctx).toMatchObject({ phase: 'dialing', callId: null });
    expect(dial.ctx.outbound?.attempts.map((a) => a.n)).toEqual([1, 2]);
    expect(dial.ctx.outbound?.redialTimerId).toBeNull();
    // A redelivered timer message: nothing changes, nothing is dialled.
    const again = stepChecked(dial.ctx, ev.timer(timerId), env);
    expect(again.ctx).toBe(dial.ctx);
    expect(again.commands).toEqual([]);
  });

  it('while waiting, only the current redial timer dials: an older one or another timer changes nothing', () => {
    const waiting = stepChecked(placed(), ev.terminated(NO_ANSWER), env).ctx;
    expect(waiting.outbound?.redialTimerId).toBe('redial-1');
    for (const other of ['redial-0', 'webhookCheck-1', 'noInput-3']) {
      const r = stepChecked(waiting, ev.timer(other), env);
      expect(r.ctx).toBe(waiting);
      expect(r.commands).toEqual([]);
    }
  });

  it('a late notification of the attempt that is over changes nothing while waiting', () => {
    const waiting = stepChecked(placed(), ev.terminated(NO_ANSWER), env).ctx;
    for (const e of [ev.terminated(NO_ANSWER), ev.established()]) {
      const r = stepChecked(waiting, e, env);
      expect(r.ctx).toBe(waiting);
    }
  });

  it('after the last attempt the call ends with its outcome and queues one webhook', () => {
    let ctx = placed();
    const outcomes: string[] = [];
    for (let n = 1; n <= 3; n++) {
      const r = stepChecked({ ...ctx, callId: `call-${n}` }, ev.terminated(NO_ANSWER), env);
      outcomes.push(r.ctx.phase);
      ctx = r.ctx;
      if (n < 3) ctx = stepChecked(ctx, ev.timer(ctx.outbound!.redialTimerId!), env).ctx;
      else {
        expect(kinds(r.commands)).toEqual(['callEnded', 'startTimer', 'queueOutcomeWebhook']);
        expect(only(r.commands, 'queueOutcomeWebhook')).toEqual({
          kind: 'queueOutcomeWebhook',
          deliveryId: `outbound.${CONTEXT}.completed`,
          event: 'outboundCall.completed',
        });
      }
    }
    expect(outcomes).toEqual(['redialWait', 'redialWait', 'ended']);
    expect(ctx.outbound).toMatchObject({
      outcome: 'notAnswered',
      webhook: { deliveryId: `outbound.${CONTEXT}.completed`, status: 'pending', attempts: 0 },
    });
    // The check timer that queues the webhook if the ending's writer could not.
    expect(ctx.outbound?.webhook?.checkTimerId).toMatch(/^webhookCheck-\d+$/);
    expect(ctx.outbound?.attempts.map((a) => [a.n, a.callId, a.outcome])).toEqual([
      [1, 'call-1', 'notAnswered'],
      [2, 'call-2', 'notAnswered'],
      [3, 'call-3', 'notAnswered'],
    ]);
  });

  it('an outcome the policy does not name ends at once: busy when only notAnswered redials, declined, answered', () => {
    for (const result of [BUSY, { code: 603, subcode: 0, message: 'Declined' }]) {
      const r = stepChecked(placed(), ev.terminated(result), env);
      expect(r.ctx.phase).toBe('ended');
      expect(kinds(r.commands)).toEqual(['callEnded', 'startTimer', 'queueOutcomeWebhook']);
    }
    const answered = run(placed(), [ev.established(), ev.terminated()], env);
    expect(answered.ctx.outbound?.outcome).toBe('answered');
    expect(answered.commands.filter((c) => c.kind === 'queueOutcomeWebhook')).toHaveLength(1);
  });

  it('busy redials when the policy names it; without a policy nothing redials', () => {
    const busyFlow = flowWith({ on: ['busy'], maxAttempts: 2, delaySeconds: 5 });
    const r = stepChecked(placed(busyFlow), ev.terminated(BUSY), {
      callbackUri: CALLBACK_URI,
      flow: busyFlow,
    });
    expect(r.ctx.phase).toBe('redialWait');
    const plain = loadFlow(realisticFlowInput());
    const once = stepChecked(placed(plain), ev.terminated(BUSY), { callbackUri: CALLBACK_URI, flow: plain });
    expect(once.ctx.phase).toBe('ended');
  });

  it('a refused redial ends the call as failed, with the webhook', () => {
    const waiting = stepChecked(placed(), ev.terminated(NO_ANSWER), env).ctx;
    const dialing = stepChecked(waiting, ev.timer(waiting.outbound!.redialTimerId!), env).ctx;
    const r = stepChecked(dialing, ev.requestFailed('createCall', { status: 403, code: 'Forbidden' }), env);
    expect(r.ctx.phase).toBe('ended');
    expect(r.ctx.outbound?.outcome).toBe('failed');
    expect(kinds(r.commands)).toEqual(['callEnded', 'startTimer', 'queueOutcomeWebhook']);
  });

  it('a call without callbackUrl queues no webhook', () => {
    const { callbackUrl: _none, ...rest } = info;
    const { ctx } = placeOutboundCall(rest, { callbackUri: CALLBACK_URI, flow: REDIAL });
    const r = stepChecked({ ...ctx, callId: 'c' }, ev.terminated(BUSY), env);
    expect(kinds(r.commands)).toEqual(['callEnded']);
    expect(r.ctx.outbound?.webhook).toBeUndefined();
  });

  it('the redial timer is named redial-<seq>', () => {
    const waiting = stepChecked(placed(), ev.terminated(NO_ANSWER), env).ctx;
    expect(waiting.outbound?.redialTimerId).toMatch(/^redial-\d+$/);
  });

  it('a number whose flow lost its outbound entry (or the flow itself) does not redial; the call ends', () => {
    const bare = flowWithoutOutbound();
    for (const flow of [bare, null]) {
      const r = stepChecked(placed(), ev.terminated(NO_ANSWER), { callbackUri: CALLBACK_URI, flow });
      expect(r.ctx.phase).toBe('ended');
      expect(r.ctx.outbound?.outcome).toBe('notAnswered');
    }
  });

  it('a redial due after the flow lost its outbound entry ends the call instead, with the webhook', () => {
    const waiting = stepChecked(placed(), ev.terminated(NO_ANSWER), env).ctx;
    const bare = flowWithoutOutbound();
    const r = stepChecked(waiting, ev.timer(waiting.outbound!.redialTimerId!), {
      callbackUri: CALLBACK_URI,
      flow: bare,
    });
    expect(r.ctx.phase).toBe('ended');
    expect(r.ctx.result).toEqual({ code: 0, message: 'the flow has no outbound entry any more' });
    expect(r.ctx.endedAt).toEqual(expect.any(String));
    expect(r.ctx.outbound?.attempts.map((a) => a.n)).toEqual([1, 2]);
    expect(kinds(r.commands)).toEqual(['callEnded', 'startTimer', 'queueOutcomeWebhook']);
  });

  it('redialsAfter counts the attempts made against maxAttempts', () => {
    const policy = { on: ['notAnswered', 'busy'] as const, maxAttempts: 2, delaySeconds: 1 };
    expect(redialsAfter(policy, 1, 'busy')).toBe(true);
    expect(redialsAfter(policy, 2, 'busy')).toBe(false);
    expect(redialsAfter(policy, 1, 'declined')).toBe(false);
    expect(redialsAfter(undefined, 1, 'busy')).toBe(false);
  });
});

describe('allowed prefixes', () => {
  it('PSTN numbers must start with a prefix; Teams users and meetings are not phone numbers', () => {
    expect(destinationAllowed({ kind: 'phone', phone: '+14255550100' }, ['+44', '+1425'])).toBe(true);
    expect(destinationAllowed({ kind: 'phone', phone: '+12065550100' }, ['+44', '+1425'])).toBe(false);
    expect(destinationAllowed({ kind: 'phone', phone: '+12065550100' }, undefined)).toBe(true);
    expect(destinationAllowed({ kind: 'user', user: 'u' }, ['+44'])).toBe(true);
  });
});

describe('rate (GCRA)', () => {
  it('takes N calls at once, then one every 60/N seconds', () => {
    // 2 a minute: two at t=0, the third waits 30 s; at t=30 s one more fits.
    let tat = 0;
    const take = (now: number) => {
      const r = takeRate(tat, now, 2);
      if (r.ok) tat = r.tat;
      return r.ok ? 'ok' : r.retryAfterSeconds;
    };
    expect([take(1_000_000), take(1_000_000), take(1_000_000)]).toEqual(['ok', 'ok', 30]);
    expect(take(1_010_000)).toBe(20);
    expect(take(1_030_000)).toBe('ok');
    expect(take(1_030_000)).toBe(30);
  });
});

describe('what an outbound call sends and records', () => {
  const chatInfo = {
    '@odata.type': '#microsoft.graph.chatInfo' as const,
    threadId: '19:meeting_abc@thread.v2',
    messageId: '0',
  };
  const organizer = {
    '@odata.type': '#microsoft.graph.organizerMeetingInfo' as const,
    organizer: {
      user: { '@odata.type': '#microsoft.graph.identity' as const, id: 'organizer-1', tenantId: TENANT },
    },
  };
  const byId = {
    '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo' as const,
    joinMeetingId: '123456',
  };

  it('a meeting is joined by its meetingInfo (and chatInfo when given), with no source and no targets', () => {
    const withChat = placeOutboundCall(
      { ...info, callee: undefined, target: { kind: 'meeting', chatInfo, meetingInfo: organizer } },
      { callbackUri: CALLBACK_URI, flow: REDIAL },
    );
    const body = only(withChat.commands, 'createCall').body;
    createCallBodySchema.parse(body);
    expect(body).toEqual({
      '@odata.type': '#microsoft.graph.call',
      callbackUri: `${CALLBACK_URI}?ctx=${CONTEXT}`,
      requestedModalities: ['audio'],
      mediaConfig: expect.objectContaining({ '@odata.type': '#microsoft.graph.serviceHostedMediaConfig' }),
      tenantId: TENANT,
      chatInfo,
      meetingInfo: organizer,
    });
    expect(withChat.ctx.party).toBe('meeting:19:meeting_abc@thread.v2');

    const byJoinId = placeOutboundCall(
      { ...info, callee: undefined, target: { kind: 'meeting', meetingInfo: byId } },
      { callbackUri: CALLBACK_URI, flow: REDIAL },
    );
    const plain = only(byJoinId.commands, 'createCall').body;
    createCallBodySchema.parse(plain);
    expect(Object.keys(plain).sort()).toEqual([
      '@odata.type',
      'callbackUri',
      'mediaConfig',
      'meetingInfo',
      'requestedModalities',
      'tenantId',
    ]);
    expect(plain.meetingInfo).toEqual(byId);
  });

  it('variables are kept only when there are some', () => {
    const none = placeOutboundCall({ ...info, variables: {} }, { callbackUri: CALLBACK_URI, flow: REDIAL });
    expect(none.ctx.outbound).not.toHaveProperty('variables');
    const some = placeOutboundCall(
      { ...info, variables: { order: 'A-17' } },
      { callbackUri: CALLBACK_URI, flow: REDIAL },
    );
    expect(some.ctx.outbound?.variables).toEqual({ order: 'A-17' });
  });

  it("an attempt records Graph's code, subcode and message; absent ones are left out", () => {
    const attemptAfter = (resultInfo: Parameters<typeof ev.terminated>[0]) =>
      stepChecked(placed(), ev.terminated(resultInfo), env).ctx.outbound!.attempts[0]!;
    const full = attemptAfter({ code: 480, subcode: 10004, message: 'Temporarily unavailable' });
    expect(full).toMatchObject({ code: 480, subcode: 10004, message: 'Temporarily unavailable' });
    // A subcode of 0 is a subcode.
    expect(attemptAfter({ code: 480, subcode: 0, message: 'no answer' }).subcode).toBe(0);
    for (const bare of [
      attemptAfter({ code: 480 }),
      attemptAfter({ code: 480, subcode: null, message: '' }),
    ]) {
      expect(bare.code).toBe(480);
      expect(bare).not.toHaveProperty('subcode');
      expect(bare).not.toHaveProperty('message');
    }
  });

  it("a create call Graph refuses ends the call with Graph's status, and the attempt with its error code", () => {
    const refused = (extra: { status?: number; code?: string; message?: string }) =>
      stepChecked(placed(REDIAL, null), ev.requestFailed('createCall', extra), env).ctx;
    const full = refused({ status: 403, code: 'Forbidden', message: 'not allowed to call' });
    expect(full.result).toEqual({ code: 403, message: 'not allowed to call' });
    expect(full.outbound?.attempts[0]).toMatchObject({
      code: 403,
      outcome: 'failed',
      message: 'Forbidden: not allowed to call',
    });
    const codeOnly = refused({ status: 403, code: 'Forbidden' });
    expect(codeOnly.result).toEqual({ code: 403, message: null });
    expect(codeOnly.outbound?.attempts[0]?.message).toBe('Forbidden: ');
    const noAnswer = refused({ message: 'connection reset' });
    expect(noAnswer.result).toEqual({ code: 0, message: 'connection reset' });
    expect(noAnswer.outbound?.attempts[0]?.message).toBe('connection reset');
  });
});

describe('prompts chosen by a variable', () => {
  /** The outbound greeting plays `urgent` when the request's severity is high, else its prompts. */
  const bySeverity = onFirstUse(() => {
    const input = realisticFlowInput() as Mutable;
    input.prompts.urgent = 'https://media.example.com/urgent.wav';
    input.outbound = { ...input.outbound, variables: { severity: {} } };
    input.nodes.outboundGreeting.promptsBy = { variable: 'severity', cases: { high: ['urgent'] } };
    return loadFlow(input);
  });
  const greeting = (variables: Record<string, string>) => {
    const { ctx } = placeOutboundCall(
      { ...info, variables },
      { callbackUri: CALLBACK_URI, flow: bySeverity },
    );
    const r = stepChecked({ ...ctx, callId: 'c' }, ev.established(), {
      callbackUri: CALLBACK_URI,
      flow: bySeverity,
    });
    return only(r.commands, 'playPrompt').body.prompts.map((p) => p.mediaInfo.uri.split('/').pop());
  };

  it("a case matching the variable's value picks its prompts; another value or none plays the node's own", () => {
    expect(greeting({ severity: 'high' })).toEqual(['urgent.wav']);
    expect(greeting({ severity: 'low' })).toEqual(['reminder.wav']);
    expect(greeting({})).toEqual(['reminder.wav']);
  });
});
