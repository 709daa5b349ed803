import { placeOutboundCall, type OutboundCallInfo } from '../../shared/ivr/engine';
import type { CallContext } from '../../shared/ivr/context';
import { destinationAllowed, redialsAfter } from '../../shared/ivr/outbound';
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
function placed(flow = REDIAL, callId = 'call-1'): CallContext {
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
