import { answerBodySchema, createCallBodySchema, redirectBodySchema } from '../../shared/graph/schemas';
import { decideIncomingCall, placeOutboundCall, step } from '../../shared/ivr/engine';
import { resourceIdFor } from '../../shared/ivr/media';
import type { CallContext } from '../../shared/ivr/context';
import {
  APP_INSTANCE,
  CALLBACK_URI,
  CLIENT_CONTEXT,
  fixtureEnv,
  fixtureFlow,
  MONDAY_NOON_PARIS,
  type Mutable,
  TENANT,
  answered,
  assertBodiesValid,
  atMainMenu,
  decided,
  deepFreeze,
  ev,
  incomingInfo,
  kinds,
  loadFlow,
  mediaSeq,
  only,
  playedUris,
  realisticFlowInput,
  run,
  stepChecked,
  toneOf,
  uris,
} from './fixtures';

const SATURDAY = '2025-06-07T10:00:00.000Z';
const GUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

describe('incoming call decision', () => {
  it('answers with every prompt reachable from the start pre-fetched', () => {
    const { ctx, commands } = decided('+14255550111');
    expect(kinds(commands)).toEqual(['answer']);
    const body = answerBodySchema.parse(only(commands, 'answer').body);
    expect(body.callbackUri).toBe(CALLBACK_URI);
    expect(body.acceptedModalities).toEqual(['audio']);
    expect(body.mediaConfig['@odata.type']).toBe('#microsoft.graph.serviceHostedMediaConfig');
    const pre = body.mediaConfig.preFetchMedia!;
    // Every reachable prompt once: two prompt names sharing a file give one entry.
    expect(pre.map((m) => m.uri)).toEqual([
      ...new Set(uris([...fixtureFlow().promptsByEntry.get('welcome')!])),
    ]);
    expect(new Set(pre.map((m) => m.uri)).size).toBe(pre.length);
    expect(pre.map((m) => m.uri)).toContain(fixtureFlow().flow.prompts.voicemailPrompt);
    expect(pre.map((m) => m.uri)).not.toContain(fixtureFlow().flow.prompts.closedMsg);
    for (const m of pre) {
      expect(m.resourceId).toMatch(GUID);
      expect(m.resourceId).toBe(resourceIdFor(m.uri));
    }
    expect(ctx).toMatchObject({
      v: 1,
      clientContext: CLIENT_CONTEXT,
      callId: 'call-id-1',
      direction: 'incoming',
      tenantId: TENANT,
      number: '+14255550100',
      flowId: 'contoso',
      party: '+14255550111',
      decision: { type: 'answer', start: 'welcome', rule: 'default' },
      phase: 'incoming',
      node: null,
      media: null,
      seq: 0,
      tonesSubscribed: false,
      createdAt: MONDAY_NOON_PARIS,
      establishedAt: null,
    });
  });

  it('gives stable resourceIds: the same URI always gets the same id, different URIs different ids', () => {
    const pre = answerBodySchema.parse(only(decided().commands, 'answer').body).mediaConfig.preFetchMedia!;
    const invalid = pre.find((m) => m.uri === fixtureFlow().flow.prompts.invalid)!;
    // 'invalid' and 'sorryError' share one recording.
    expect(fixtureFlow().flow.prompts.sorryError).toBe(fixtureFlow().flow.prompts.invalid);
    for (const m of pre.filter((x) => x.uri === invalid.uri)) expect(m.resourceId).toBe(invalid.resourceId);
    const ids = new Map(pre.map((m) => [m.uri, m.resourceId]));
    expect(new Set(ids.values()).size).toBe(ids.size);
    // Another decision (another entry) uses the same ids for the same URIs.
    const again = answerBodySchema.parse(only(decided().commands, 'answer').body).mediaConfig.preFetchMedia!;
    expect(again).toEqual(pre);
    const goodbye = fixtureFlow().flow.prompts.goodbye!;
    const outbound = placeOutboundCall(
      {
        clientContext: CLIENT_CONTEXT,
        tenantId: TENANT,
        number: '+14255550100',
        applicationInstanceId: APP_INSTANCE,
        callee: '+14255550177',
        at: MONDAY_NOON_PARIS,
      },
      { callbackUri: CALLBACK_URI, flow: fixtureFlow() },
    );
    const outPre = only(outbound.commands, 'createCall').body.mediaConfig.preFetchMedia!;
    expect(outPre.find((m) => m.uri === goodbye)!.resourceId).toBe(ids.get(goodbye));
  });

  it('answers at the after-hours start with only its prompts', () => {
    const { ctx, commands } = decided('+14255550111', SATURDAY);
    expect(ctx.decision).toEqual({ type: 'answer', start: 'closed', rule: 'after hours' });
    const body = answerBodySchema.parse(only(commands, 'answer').body);
    expect(body.mediaConfig.preFetchMedia).toEqual([
      {
        uri: fixtureFlow().flow.prompts.closedMsg,
        resourceId: resourceIdFor(fixtureFlow().flow.prompts.closedMsg!),
      },
    ]);
  });

  it('rejects with the rule reason', () => {
    const blocked = decided('+33999123456');
    expect(blocked.commands).toEqual([
      { kind: 'reject', body: { reason: 'busy', callbackUri: CALLBACK_URI } },
    ]);
    expect(blocked.ctx.decision).toEqual({ type: 'reject', reason: 'busy', rule: 'blocked' });
    expect(blocked.ctx).toMatchObject({ phase: 'incoming', direction: 'incoming', party: '+33999123456' });
    const anonymous = decided(null);
    expect(anonymous.commands).toEqual([
      { kind: 'reject', body: { reason: 'forbidden', callbackUri: CALLBACK_URI } },
    ]);
    expect(anonymous.ctx.party).toBeNull();
  });

  it('redirects to one target with the explicit timeout kept', () => {
    const { ctx, commands } = decided('+447700900123');
    const body = redirectBodySchema.parse(only(commands, 'redirect').body);
    expect(body).toEqual({
      targets: [
        {
          '@odata.type': '#microsoft.graph.invitationParticipantInfo',
          identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: '+442071234567' } },
        },
      ],
      timeout: 30,
      callbackUri: CALLBACK_URI,
    });
    expect(ctx.decision).toEqual({ type: 'redirect', targets: ['+442071234567'], rule: 'uk forward' });
    expect(ctx.direction).toBe('incoming');
  });

  it('redirects to one target with the default 55 s timeout', () => {
    const { commands } = decided('+447700900123', SATURDAY);
    const body = redirectBodySchema.parse(only(commands, 'redirect').body);
    expect(body.timeout).toBe(55);
    expect(body.targets).toHaveLength(1);
  });

  it('redirects to several targets (simultaneous ring) with the default 60 s timeout', () => {
    const { ctx, commands } = decided('+14255550123');
    const body = redirectBodySchema.parse(only(commands, 'redirect').body);
    expect(body.timeout).toBe(60);
    expect(body.targets.map((t) => t.identity)).toEqual([
      {
        user: {
          '@odata.type': '#microsoft.graph.identity',
          id: 'a1b2c3d4-0000-4000-8000-000000000001',
          tenantId: TENANT,
        },
      },
      { phone: { '@odata.type': '#microsoft.graph.identity', id: '+14255550142' } },
    ]);
    expect(ctx.decision).toEqual({
      type: 'redirect',
      targets: ['user:a1b2c3d4-0000-4000-8000-000000000001', '+14255550142'],
      rule: 'vip',
    });
  });

  it('keeps an explicit timeout for several targets, and redirects to an application instance', () => {
    const input = realisticFlowInput() as Mutable;
    input.rules[2].then.timeoutSeconds = 20;
    input.rules[2].then.targets.push({ applicationInstance: 'aa-bb-cc' });
    const env = { callbackUri: CALLBACK_URI, flow: loadFlow(input) };
    const { ctx, commands } = decided('+14255550123', MONDAY_NOON_PARIS, env);
    const body = redirectBodySchema.parse(only(commands, 'redirect').body);
    expect(body.timeout).toBe(20);
    expect(body.targets[2]!.identity).toEqual({
      applicationInstance: { '@odata.type': '#microsoft.graph.identity', id: 'aa-bb-cc' },
    });
    expect(ctx.decision.type === 'redirect' && ctx.decision.targets[2]).toBe('app:aa-bb-cc');
  });

  it('rejects a call to an unconfigured number with the configured reason', () => {
    const env = { callbackUri: CALLBACK_URI, flow: null };
    for (const reason of ['forbidden', 'busy', 'none'] as const) {
      const { ctx, commands } = decideIncomingCall(incomingInfo('+14255550111'), env, reason);
      assertBodiesValid(commands);
      expect(commands).toEqual([{ kind: 'reject', body: { reason, callbackUri: CALLBACK_URI } }]);
      expect(ctx.decision).toEqual({ type: 'reject', reason, rule: 'unconfigured number' });
      expect(ctx.flowId).toBeNull();
      expect(ctx.direction).toBe('incoming');
      // Nothing ever runs for it.
      expect(stepChecked(ctx, ev.established(), env).ctx).toBe(ctx);
    }
  });
});

describe('established', () => {
  it('subscribes to tones once and starts the first node', () => {
    const { ctx, commands } = answered();
    expect(kinds(commands)).toEqual(['subscribeToTone', 'playPrompt']);
    expect(commands[0]).toEqual({ kind: 'subscribeToTone', body: { clientContext: `${CLIENT_CONTEXT}.1` } });
    const play = only(commands, 'playPrompt');
    expect(play.seq).toBe(2);
    expect(play.body.clientContext).toBe(`${CLIENT_CONTEXT}.2`);
    expect(playedUris(play)).toEqual(uris(['welcome']));
    expect(play.body.prompts[0]!.mediaInfo.resourceId).toBe(
      resourceIdFor(fixtureFlow().flow.prompts.welcome!),
    );
    expect(ctx).toMatchObject({
      phase: 'established',
      node: 'welcome',
      media: { seq: 2, kind: 'play', node: 'welcome' },
      tonesSubscribed: true,
      visited: ['welcome'],
    });
    expect(ctx.establishedAt).not.toBeNull();
  });

  it('a second established is a no-op (same ctx, no commands)', () => {
    const { ctx } = answered();
    const again = stepChecked(ctx, ev.established());
    expect(again.ctx).toBe(ctx);
    expect(again.commands).toEqual([]);
  });

  it('establishing after established is a no-op', () => {
    const { ctx } = answered();
    const r = stepChecked(ctx, ev.establishing());
    expect(r.ctx).toBe(ctx);
    expect(r.commands).toEqual([]);
  });

  it('established arriving before establishing works, and establishing afterwards changes nothing', () => {
    const d = decided();
    const r = run(d.ctx, [ev.established(), ev.establishing()]);
    expect(kinds(r.commands)).toEqual(['subscribeToTone', 'playPrompt']);
    expect(r.ctx.phase).toBe('established');
    expect(r.ctx.node).toBe('welcome');
  });

  it('establishing first is a no-op, then established starts the flow', () => {
    const d = decided();
    const early = stepChecked(d.ctx, ev.establishing());
    expect(early.ctx).toBe(d.ctx);
    const r = stepChecked(early.ctx, ev.established());
    expect(kinds(r.commands)).toEqual(['subscribeToTone', 'playPrompt']);
  });

  it('does nothing for a rejected or redirected call', () => {
    for (const caller of ['+33999123456', '+14255550123']) {
      const { ctx } = decided(caller);
      expect(stepChecked(ctx, ev.established()).ctx).toBe(ctx);
    }
  });

  it('runs the after-hours start: play, then hang up without a goodbye', () => {
    const { ctx } = decided('+14255550111', SATURDAY);
    const e = stepChecked(ctx, ev.established());
    expect(playedUris(only(e.commands, 'playPrompt'))).toEqual(uris(['closedMsg']));
    const done = stepChecked(e.ctx, ev.completed(mediaSeq(e.ctx)));
    expect(done.commands).toEqual([{ kind: 'hangUp' }]);
    expect(done.ctx).toMatchObject({ phase: 'hangingUp', node: 'silentHangup', media: null });
    const end = stepChecked(done.ctx, ev.terminated({ code: 200, subcode: 7000 }));
    expect(end.commands).toEqual([{ kind: 'callEnded' }]);
    expect(end.ctx.phase).toBe('ended');
    expect(end.ctx.visited).toEqual(['closed', 'silentHangup']);
  });
});

describe('outbound calls', () => {
  const info = {
    clientContext: CLIENT_CONTEXT,
    tenantId: TENANT,
    number: '+14255550100',
    applicationInstanceId: APP_INSTANCE,
    callee: '+14255550177',
    at: MONDAY_NOON_PARIS,
  };

  it('builds a createCall body from the application instance to the PSTN callee', () => {
    const { ctx, commands } = placeOutboundCall(info, { callbackUri: CALLBACK_URI, flow: fixtureFlow() });
    assertBodiesValid(commands);
    const body = createCallBodySchema.parse(only(commands, 'createCall').body);
    expect(body).toEqual({
      '@odata.type': '#microsoft.graph.call',
      // Its first notifications may come before Graph's answer names the call: the address leads to the context.
      callbackUri: `${CALLBACK_URI}?ctx=${info.clientContext}`,
      source: {
        '@odata.type': '#microsoft.graph.participantInfo',
        identity: {
          applicationInstance: {
            '@odata.type': '#microsoft.graph.identity',
            id: APP_INSTANCE,
            tenantId: TENANT,
          },
        },
      },
      targets: [
        {
          '@odata.type': '#microsoft.graph.invitationParticipantInfo',
          identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: '+14255550177' } },
        },
      ],
      requestedModalities: ['audio'],
      mediaConfig: {
        '@odata.type': '#microsoft.graph.serviceHostedMediaConfig',
        preFetchMedia: uris([...fixtureFlow().promptsByEntry.get('outboundGreeting')!]).map((uri) => ({
          uri,
          resourceId: resourceIdFor(uri),
        })),
      },
      tenantId: TENANT,
    });
    expect(ctx).toMatchObject({
      direction: 'outgoing',
      phase: 'dialing',
      party: '+14255550177',
      callId: null,
      flowId: 'contoso',
      decision: { type: 'outbound', start: 'outboundGreeting' },
    });
  });

  it('runs the outbound start node once established', () => {
    const placed = placeOutboundCall(info, { callbackUri: CALLBACK_URI, flow: fixtureFlow() });
    const e = stepChecked(placed.ctx, ev.established());
    expect(kinds(e.commands)).toEqual(['subscribeToTone', 'playPrompt']);
    expect(playedUris(only(e.commands, 'playPrompt'))).toEqual(uris(['outboundMsg']));
    expect(e.ctx).toMatchObject({ phase: 'established', node: 'outboundGreeting' });
    const next = stepChecked(e.ctx, ev.completed(mediaSeq(e.ctx)));
    expect(playedUris(only(next.commands, 'playPrompt'))).toEqual(uris(['goodbye']));
    expect(next.ctx.phase).toBe('hangingUp');
  });

  it('refuses a flow without an outbound entry', () => {
    const input = realisticFlowInput() as Mutable;
    delete input.outbound;
    delete input.nodes.outboundGreeting;
    const flow = loadFlow(input);
    expect(() => placeOutboundCall(info, { callbackUri: CALLBACK_URI, flow })).toThrow(/no outbound entry/);
  });
});

describe('requestFailed', () => {
  it('answer: recorded in failures, nothing else happens', () => {
    const { ctx } = decided();
    const r = stepChecked(
      ctx,
      ev.requestFailed('answer', { status: 403, code: 'Forbidden', message: 'no permission' }),
    );
    expect(r.commands).toEqual([]);
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'answer', status: 403, code: 'Forbidden', message: 'no permission' },
    ]);
    expect(r.ctx.phase).toBe('incoming');
  });

  it('playPrompt: recorded, and the flow moves on as if the prompt had played', () => {
    const { ctx } = answered();
    const r = stepChecked(
      ctx,
      ev.requestFailed('playPrompt', { seq: 2, status: 404, message: 'call not found' }),
    );
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'playPrompt', status: 404, message: 'call not found' },
    ]);
    expect(r.ctx.node).toBe('main');
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['mainMenu']));
  });

  it('playPrompt of a menu prompt: the menu waits for keys', () => {
    const { ctx } = atMainMenu();
    const r = stepChecked(ctx, ev.requestFailed('playPrompt', { seq: mediaSeq(ctx), status: 500 }));
    expect(r.commands).toEqual([{ kind: 'startTimer', timerId: 'noInput-4', delaySeconds: 6 }]);
    expect(r.ctx.menu).toEqual({ attempt: 1, digits: '', stage: 'input' });
  });

  it('playPrompt for an operation no longer pending: only recorded', () => {
    const { ctx } = answered();
    const r = stepChecked(ctx, ev.requestFailed('playPrompt', { seq: 1, status: 500 }));
    expect(r.commands).toEqual([]);
    expect(r.ctx.media).toEqual(ctx.media);
    expect(r.ctx.failures).toHaveLength(1);
  });
});

describe('purity', () => {
  it('step never mutates its input, and returned contexts are not shared with later steps', () => {
    const snapshots: Array<[CallContext, CallContext]> = [];
    let ctx = decided().ctx;
    const events = [
      ev.established(),
      ev.completed(2),
      ev.tone(1, 'tone7'), // invalid -> re-prompt
      ev.tone(2, 'tone3'), // barge-in -> directory
      ev.completed(7), // the directory prompt (seq 6 was the cancel)
      ev.tone(3, toneOf('1')),
      ev.tone(5, toneOf('#')), // held
      ev.tone(4, toneOf('0')),
      ev.completed(99),
      ev.terminated(),
    ];
    for (const e of events) {
      snapshots.push([ctx, structuredClone(ctx)]);
      const input = structuredClone(ctx);
      deepFreeze(input);
      const r = step(input, e, fixtureEnv()); // throws on any write to the frozen input
      assertBodiesValid(r.commands);
      ctx = r.ctx;
    }
    for (const [live, copy] of snapshots) expect(live).toEqual(copy);
    expect(ctx.phase).toBe('ended');
    expect(ctx.visited).toEqual(['welcome', 'main', 'directory', 'voicemail']);
    expect(ctx.digits).toEqual(['7', '3', '1', '0', '#']);
  });

  it('an ended call stays ended for every kind of event', () => {
    const { ctx } = stepChecked(answered().ctx, ev.terminated());
    for (const e of [
      ev.established(),
      ev.tone(1, 'tone1'),
      ev.completed(2),
      ev.timer('noInput-3'),
      ev.requestFailed('playPrompt', { seq: 2 }),
      ev.terminated(),
    ]) {
      const r = stepChecked(ctx, e);
      expect(r.ctx).toBe(ctx);
      expect(r.commands).toEqual([]);
    }
  });
});
