import { recordResponseBodySchema, transferBodySchema, type ResultInfo } from '../../shared/graph/schemas';
import type { CallContext } from '../../shared/ivr/context';
import { recordOutcome, runsBeforeCommit, type IvrEvent } from '../../shared/ivr/engine';
import { resourceIdFor } from '../../shared/ivr/media';
import {
  CLIENT_CONTEXT,
  type Mutable,
  fixtureFlow,
  answered,
  atMainMenu,
  decided,
  ev,
  kinds,
  mainMenuWaiting,
  mediaSeq,
  only,
  playedUris,
  run,
  stepChecked,
  uris,
} from './fixtures';

/** The caller chose voicemail from the main menu: the recordResponse (seq 5) is running. */
function recording() {
  const { ctx } = mainMenuWaiting();
  return stepChecked(ctx, ev.tone(1, 'tone2'));
}

/** The caller chose the operator: the transfer is in flight. */
function transferring() {
  const { ctx } = mainMenuWaiting();
  return stepChecked(ctx, ev.tone(1, 'tone0'));
}

const RECORDING = { location: 'https://recordings.example.com/r/abc', accessToken: 'token-abc' };

describe('record nodes', () => {
  it('send a recordResponse with the node settings', () => {
    const { ctx, commands } = recording();
    expect(kinds(commands)).toEqual(['recordResponse']);
    const cmd = only(commands, 'recordResponse');
    expect(cmd.seq).toBe(5);
    const body = recordResponseBodySchema.parse(cmd.body);
    expect(body).toEqual({
      prompts: [
        {
          '@odata.type': '#microsoft.graph.mediaPrompt',
          mediaInfo: {
            uri: fixtureFlow().flow.prompts.voicemailPrompt,
            resourceId: resourceIdFor(fixtureFlow().flow.prompts.voicemailPrompt!),
          },
        },
      ],
      bargeInAllowed: false,
      initialSilenceTimeoutInSeconds: 4,
      maxSilenceTimeoutInSeconds: 6,
      maxRecordDurationInSeconds: 90,
      playBeep: true,
      stopTones: ['#', '*'],
      clientContext: `${CLIENT_CONTEXT}.5`,
    });
    expect(body.prompts!.length).toBeLessThanOrEqual(1);
    expect(ctx.media).toEqual({ seq: 5, kind: 'record', node: 'voicemail' });
    expect(ctx.node).toBe('voicemail');
  });

  it('send no prompts property for a record node without a prompt, with the defaults', () => {
    const { ctx } = mainMenuWaiting();
    const input = structuredClone(fixtureFlow().flow) as Mutable;
    delete input.nodes.voicemail.prompt;
    const flow = { ...fixtureFlow(), flow: input };
    const r = stepChecked(ctx, ev.tone(1, 'tone2'), {
      callbackUri: 'https://bot.example.com/api/calls',
      flow,
    });
    const body = only(r.commands, 'recordResponse').body;
    expect('prompts' in body).toBe(false);
  });

  it.each<
    [
      string,
      Partial<Extract<IvrEvent, { kind: 'operationCompleted' }>>,
      string,
      'stopTone' | 'maxDuration' | 'silence' | 'noInput' | 'failure',
      string[],
    ]
  >([
    ['stopToneDetected', { completionReason: 'stopToneDetected' }, 'thanks', 'stopTone', ['thanks']],
    [
      'maxRecordDurationReached',
      { completionReason: 'maxRecordDurationReached' },
      'thanks',
      'maxDuration',
      ['thanks'],
    ],
    [
      'initialSilenceTimeout',
      { completionReason: 'initialSilenceTimeout' },
      'noMessageNode',
      'noInput',
      ['noMessage'],
    ],
    [
      'maxSilenceTimeout',
      { completionReason: 'maxSilenceTimeout' },
      'noMessageNode',
      'silence',
      ['noMessage'],
    ],
    ['playBeepFailed', { completionReason: 'playBeepFailed' }, 'sorry', 'failure', ['sorryError']],
    [
      'v1.0 8515 without completionReason',
      { resultInfo: { code: 200, subcode: 8515, message: 'max record duration reached' } },
      'thanks',
      'maxDuration',
      ['thanks'],
    ],
    [
      'failed 400/8508',
      { status: 'failed', resultInfo: { code: 400, subcode: 8508, message: 'cancelled' } },
      'sorry',
      'failure',
      ['sorryError'],
    ],
  ])('%s -> %s', (_what, extra, node, outcome, prompts) => {
    const { ctx } = recording();
    const r = stepChecked(ctx, ev.completed(5, { recording: null, ...extra }));
    expect(r.ctx.node).toBe(node);
    expect(r.ctx.recordings).toEqual([
      {
        seq: 5,
        node: 'voicemail',
        outcome,
        completionReason: extra.completionReason ?? null,
        hasAudio: false,
      },
    ]);
    expect(kinds(r.commands)).toEqual(['playPrompt']);
    expect(playedUris(r.commands[0]!)).toEqual(uris(prompts));
  });

  it('a failed recording is recorded in failures', () => {
    const { ctx } = recording();
    const r = stepChecked(ctx, ev.failed(5, { code: 400, subcode: 8508, message: 'cancelled' }));
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'record', status: 400, code: '8508', message: 'cancelled' },
    ]);
    expect(r.ctx.phase).toBe('hangingUp'); // the 'sorry' goodbye is playing
  });

  it('a completion with a recording yields archiveRecording (queued before the write) and a recordings entry with audio', () => {
    const { ctx } = recording();
    const r = stepChecked(
      ctx,
      ev.completed(5, { completionReason: 'stopToneDetected', recording: RECORDING }),
    );
    expect(kinds(r.commands)).toEqual(['archiveRecording', 'playPrompt']);
    expect(r.commands[0]).toEqual({
      kind: 'archiveRecording',
      seq: 5,
      node: 'voicemail',
      outcome: 'stopTone',
      completionReason: 'stopToneDetected',
      recording: { location: RECORDING.location, accessToken: RECORDING.accessToken },
      reason: null,
    });
    expect(runsBeforeCommit(r.commands[0]!)).toBe(true);
    expect(runsBeforeCommit(r.commands[1]!)).toBe(false);
    expect(r.ctx.recordings).toEqual([
      {
        seq: 5,
        node: 'voicemail',
        outcome: 'stopTone',
        completionReason: 'stopToneDetected',
        hasAudio: true,
      },
    ]);
    expect(r.ctx.node).toBe('thanks');
  });

  it('a v1.0 completion with a recording is archived too', () => {
    const { ctx } = recording();
    const r = stepChecked(
      ctx,
      ev.completed(5, { resultInfo: { code: 200, subcode: 8515 }, recording: RECORDING }),
    );
    const save = only(r.commands, 'archiveRecording');
    expect(save).toMatchObject({
      seq: 5,
      node: 'voicemail',
      outcome: 'maxDuration',
      recording: { location: RECORDING.location, accessToken: RECORDING.accessToken },
    });
    expect(r.ctx.recordings[0]).toMatchObject({ outcome: 'maxDuration', hasAudio: true });
    expect(r.ctx.node).toBe('thanks');
  });

  it('a completion without a location yields no archiveRecording', () => {
    const { ctx } = recording();
    const r = stepChecked(ctx, ev.completed(5, { completionReason: 'maxSilenceTimeout', recording: null }));
    expect(r.commands.some((c) => c.kind === 'archiveRecording')).toBe(false);
    expect(r.ctx.recordings[0]!.hasAudio).toBe(false);
  });

  it('initial silence is not a message: the audio is discarded with the reason, and the flow takes noInput', () => {
    const { ctx } = recording();
    const r = stepChecked(
      ctx,
      ev.completed(5, { resultInfo: { code: 200, subcode: 8510 }, recording: RECORDING }),
    );
    expect(only(r.commands, 'archiveRecording')).toEqual({
      kind: 'archiveRecording',
      seq: 5,
      node: 'voicemail',
      outcome: 'noInput',
      completionReason: 'noInput',
      recording: null,
      reason: 'the caller said nothing (initial silence): not a message',
    });
    expect(r.ctx.recordings[0]).toMatchObject({ outcome: 'noInput', hasAudio: true });
    // No noInput branch in this flow: initial silence goes where silence goes.
    expect(r.ctx.node).toBe('noMessageNode');
  });

  it('a repeated record completion is ignored (one recording, one save)', () => {
    const { ctx } = recording();
    const first = stepChecked(
      ctx,
      ev.completed(5, { completionReason: 'stopToneDetected', recording: RECORDING }),
    );
    const again = stepChecked(
      first.ctx,
      ev.completed(5, { completionReason: 'stopToneDetected', recording: RECORDING }),
    );
    expect(again.ctx).toBe(first.ctx);
    expect(first.ctx.recordings).toHaveLength(1);
  });

  it('a stop tone pressed while recording is only kept in the history', () => {
    const { ctx } = recording();
    const r = stepChecked(ctx, ev.tone(2, 'pound'));
    expect(r.commands).toEqual([]);
    expect(r.ctx.media).toEqual(ctx.media);
    expect(r.ctx.digits).toEqual(['2', '#']);
  });

  it('requestFailed for recordResponse takes the failure branch', () => {
    const { ctx } = recording();
    const r = stepChecked(
      ctx,
      ev.requestFailed('recordResponse', { seq: 5, status: 403, message: 'forbidden' }),
    );
    expect(r.ctx.node).toBe('sorry');
    expect(r.ctx.recordings[0]).toMatchObject({ outcome: 'failure', hasAudio: false });
    expect(r.ctx.failures[0]).toMatchObject({ what: 'recordResponse', status: 403 });
  });

  it('silence from the start re-asks up to maxAttempts with noInputPrompt, then takes the noInput branch', () => {
    const input = structuredClone(fixtureFlow().flow) as Mutable;
    input.nodes.voicemail.maxAttempts = 2;
    input.nodes.voicemail.noInputPrompt = 'noMessage';
    input.nodes.voicemail.next.noInput = 'sorry';
    const env = { callbackUri: 'https://bot.example.com/api/calls', flow: { ...fixtureFlow(), flow: input } };
    const first = stepChecked(mainMenuWaiting().ctx, ev.tone(1, 'tone2'), env);
    const firstSeq = first.ctx.media!.seq;
    expect(first.ctx.record).toEqual({ attempt: 1 });
    const silent = { resultInfo: { code: 200, subcode: 8510 }, recording: RECORDING };
    // Attempt 1 silent: asked again, with the no-input prompt in place of the node's prompt.
    const again = stepChecked(first.ctx, ev.completed(firstSeq, silent), env);
    expect(kinds(again.commands)).toEqual(['archiveRecording', 'recordResponse']);
    expect(only(again.commands, 'archiveRecording')).toMatchObject({ outcome: 'noInput', recording: null });
    const retry = only(again.commands, 'recordResponse').body;
    expect(retry.prompts!.map((p) => p.mediaInfo.uri)).toEqual([fixtureFlow().flow.prompts.noMessage]);
    expect(again.ctx).toMatchObject({ node: 'voicemail', record: { attempt: 2 } });
    expect(again.ctx.visited.filter((n) => n === 'voicemail')).toHaveLength(1);
    // Attempt 2 silent too: the noInput branch.
    const gaveUp = stepChecked(again.ctx, ev.completed(again.ctx.media!.seq, silent), env);
    expect(gaveUp.ctx.node).toBe('sorry');
    expect(gaveUp.ctx.record).toBeNull();
    expect(gaveUp.ctx.recordings.map((r) => r.outcome)).toEqual(['noInput', 'noInput']);
  });

  it('a message ended by silence after speech is a message, not no input', () => {
    const input = structuredClone(fixtureFlow().flow) as Mutable;
    input.nodes.voicemail.maxAttempts = 3;
    input.nodes.voicemail.next.noInput = 'sorry';
    const env = { callbackUri: 'https://bot.example.com/api/calls', flow: { ...fixtureFlow(), flow: input } };
    const { ctx } = stepChecked(mainMenuWaiting().ctx, ev.tone(1, 'tone2'), env);
    const r = stepChecked(
      ctx,
      ev.completed(ctx.media!.seq, { resultInfo: { code: 200, subcode: 8511 }, recording: RECORDING }),
      env,
    );
    expect(only(r.commands, 'archiveRecording')).toMatchObject({
      outcome: 'silence',
      recording: RECORDING,
      reason: null,
    });
    expect(r.ctx.node).toBe('noMessageNode');
  });

  it('recordOutcome maps beta completion reasons and v1.0 result codes', () => {
    const ok: ResultInfo = { code: 200 };
    expect(recordOutcome('completed', 'stopToneDetected', ok)).toBe('stopTone');
    expect(recordOutcome('completed', 'maxRecordDurationReached', ok)).toBe('maxDuration');
    expect(recordOutcome('completed', 'initialSilenceTimeout', ok)).toBe('noInput');
    expect(recordOutcome('completed', 'maxSilenceTimeout', ok)).toBe('silence');
    expect(recordOutcome('completed', 'operationCanceled', ok)).toBe('failure');
    expect(recordOutcome('completed', 'mediaReceiveTimeout', ok)).toBe('failure');
    expect(recordOutcome('completed', null, { code: 200, subcode: 8515 })).toBe('maxDuration');
    expect(recordOutcome('completed', null, { code: 200, subcode: 8514 })).toBe('stopTone');
    expect(recordOutcome('completed', null, { code: 200, subcode: 8510 })).toBe('noInput');
    expect(recordOutcome('completed', null, { code: 200, subcode: 8511 })).toBe('silence');
    expect(recordOutcome('failed', null, { code: 400, subcode: 8508 })).toBe('failure');
    expect(recordOutcome('completed', null, null)).toBe('failure');
  });
});

describe('transfer nodes', () => {
  it('send a transfer to the target', () => {
    const { ctx, commands } = transferring();
    expect(kinds(commands)).toEqual(['transfer']);
    const body = transferBodySchema.parse(only(commands, 'transfer').body);
    expect(body).toEqual({
      transferTarget: {
        '@odata.type': '#microsoft.graph.invitationParticipantInfo',
        identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: '+14255550199' } },
      },
    });
    expect(ctx).toMatchObject({
      phase: 'transferring',
      node: 'operator',
      media: null,
      menu: null,
      timer: null,
    });
  });

  it('intermediate transfer states change nothing', () => {
    const { ctx } = transferring();
    for (const state of ['transferring', 'transferAccepted', 'terminating']) {
      expect(stepChecked(ctx, ev.state(state)).ctx).toBe(ctx);
    }
    // Nor does an established without an error.
    expect(stepChecked(ctx, ev.state('established', { code: 200 })).ctx).toBe(ctx);
  });

  it('terminated after the transfer ends the call', () => {
    const { ctx } = transferring();
    const r = run(ctx, [
      ev.state('transferAccepted'),
      ev.terminated({ code: 0, subcode: 7015, message: 'transferred' }),
    ]);
    expect(r.commands).toEqual([{ kind: 'callEnded' }]);
    expect(r.ctx).toMatchObject({
      phase: 'ended',
      result: { code: 0, subcode: 7015, message: 'transferred' },
    });
    expect(r.ctx.endedAt).not.toBeNull();
  });

  it.each([
    [403, 7501, 'forbidden'],
    [404, 7504, 'target not found'],
    [408, 7506, 'no answer'],
  ])('a transfer failing with %i/%i takes the fallback', (code, subcode, message) => {
    const { ctx } = transferring();
    const r = stepChecked(ctx, ev.state('established', { code, subcode, message }));
    expect([r.ctx.phase, r.ctx.node]).toEqual(['established', 'operatorBusyNode']);
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'transfer', status: code, code: String(subcode), message },
    ]);
  });

  it('an established notification with a 2xx result during a transfer is not a failure', () => {
    const { ctx } = transferring();
    expect(stepChecked(ctx, ev.state('established', { code: 200, subcode: 0 })).ctx).toBe(ctx);
  });

  it('a failed transfer (established with 500/7000) goes to the fallback', () => {
    const { ctx } = transferring();
    const r = stepChecked(
      ctx,
      ev.state('established', { code: 500, subcode: 7000, message: 'transfer failed' }),
    );
    expect(r.ctx.phase).toBe('established');
    expect(r.ctx.node).toBe('operatorBusyNode');
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'transfer', status: 500, code: '7000', message: 'transfer failed' },
    ]);
    expect(kinds(r.commands)).toEqual(['playPrompt']);
    expect(playedUris(r.commands[0]!)).toEqual(uris(['operatorBusy']));
    // The fallback goes on to voicemail.
    const next = stepChecked(r.ctx, ev.completed(mediaSeq(r.ctx)));
    expect(next.ctx.node).toBe('voicemail');
    expect(kinds(next.commands)).toEqual(['recordResponse']);
    // Another established notification is a repeat.
    expect(stepChecked(r.ctx, ev.state('established', { code: 500, subcode: 7000 })).ctx).toBe(r.ctx);
  });

  it('requestFailed for the transfer goes to the fallback', () => {
    const { ctx } = transferring();
    const r = stepChecked(ctx, ev.requestFailed('transfer', { status: 403, code: 'Forbidden' }));
    expect(r.ctx.phase).toBe('established');
    expect(r.ctx.node).toBe('operatorBusyNode');
    expect(r.ctx.failures[0]).toMatchObject({ what: 'transfer', status: 403, code: 'Forbidden' });
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['operatorBusy']));
  });

  it('tones during a transfer are ignored by the flow', () => {
    const { ctx } = transferring();
    const r = stepChecked(ctx, ev.tone(2, 'tone1'));
    expect(r.commands).toEqual([]);
    expect(r.ctx.phase).toBe('transferring');
  });
});

describe('hangup nodes', () => {
  it('with a goodbye prompt: play it, then hang up when it completes', () => {
    const { ctx } = mainMenuWaiting();
    const bye = stepChecked(ctx, ev.tone(1, 'tone9'));
    expect(playedUris(only(bye.commands, 'playPrompt'))).toEqual(uris(['goodbye']));
    expect(bye.ctx).toMatchObject({
      phase: 'hangingUp',
      node: 'goodbye',
      media: { kind: 'goodbye', node: 'goodbye' },
    });
    // Keys during the goodbye do nothing.
    expect(stepChecked(bye.ctx, ev.tone(2, 'tone1')).commands).toEqual([]);
    const done = stepChecked(bye.ctx, ev.completed(mediaSeq(bye.ctx)));
    expect(done.commands).toEqual([{ kind: 'hangUp' }]);
    expect(done.ctx).toMatchObject({ phase: 'hangingUp', media: null });
    const end = stepChecked(done.ctx, ev.terminated({ code: 200, subcode: 7000 }));
    expect(end.commands).toEqual([{ kind: 'callEnded' }]);
    expect(end.ctx.phase).toBe('ended');
  });

  it('hangs up even when the goodbye prompt fails', () => {
    const { ctx } = mainMenuWaiting();
    const bye = stepChecked(ctx, ev.tone(1, 'tone9'));
    expect(stepChecked(bye.ctx, ev.failed(mediaSeq(bye.ctx), { code: 500 })).commands).toEqual([
      { kind: 'hangUp' },
    ]);
    expect(
      stepChecked(bye.ctx, ev.requestFailed('playPrompt', { seq: mediaSeq(bye.ctx), status: 500 })).commands,
    ).toEqual([{ kind: 'hangUp' }]);
  });

  it('without a prompt: hang up at once', () => {
    const { ctx } = answered();
    const input = structuredClone(fixtureFlow().flow) as Mutable;
    input.nodes.welcome.next = 'silentHangup';
    const env = { callbackUri: 'https://bot.example.com/api/calls', flow: { ...fixtureFlow(), flow: input } };
    const r = stepChecked(ctx, ev.completed(2), env);
    expect(r.commands).toEqual([{ kind: 'hangUp' }]);
    expect(r.ctx).toMatchObject({ phase: 'hangingUp', node: 'silentHangup', media: null });
  });
});

describe('the caller hangs up', () => {
  const laterEvents = (ctx: CallContext): IvrEvent[] => [
    ev.tone(ctx.lastToneSeq + 1, 'tone1'),
    ev.completed(ctx.seq),
    ev.completed(ctx.seq - 1, { completionReason: 'stopToneDetected', recording: RECORDING }),
    ev.timer('noInput-4'),
    ev.timer(`interDigit-${ctx.seq}`),
    ev.state('established', { code: 500, subcode: 7000 }),
    ev.requestFailed('playPrompt', { seq: ctx.seq }),
    ev.terminated(),
  ];

  function hangUpAt(before: CallContext) {
    const r = stepChecked(before, ev.terminated({ code: 200, subcode: 540000, message: 'caller hung up' }));
    expect(r.commands).toEqual([{ kind: 'callEnded' }]);
    expect(r.ctx).toMatchObject({
      phase: 'ended',
      media: null,
      menu: null,
      timer: null,
      result: { code: 200, subcode: 540000, message: 'caller hung up' },
    });
    expect(r.ctx.endedAt).not.toBeNull();
    for (const e of laterEvents(r.ctx)) {
      const later = stepChecked(r.ctx, e);
      expect(later.ctx).toBe(r.ctx);
      expect(later.commands).toEqual([]);
    }
    return r.ctx;
  }

  it('during the greeting', () => {
    const ctx = hangUpAt(answered().ctx);
    expect(ctx.node).toBe('welcome');
    expect(stepChecked(ctx, ev.completed(2)).ctx).toBe(ctx);
  });

  it('during the menu prompt', () => {
    hangUpAt(atMainMenu().ctx);
  });

  it('during menu input (the no-input timer fires later)', () => {
    const ctx = hangUpAt(mainMenuWaiting().ctx);
    expect(stepChecked(ctx, ev.timer('noInput-4')).ctx).toBe(ctx);
  });

  it('during a multi-digit entry', () => {
    const w = mainMenuWaiting().ctx;
    const dir = run(w, [ev.tone(1, 'tone3')]).ctx;
    const entry = run(dir, [ev.completed(mediaSeq(dir)), ev.tone(2, 'tone1')]).ctx;
    expect(entry.timer!.purpose).toBe('interDigit');
    const ctx = hangUpAt(entry);
    expect(stepChecked(ctx, ev.timer('interDigit-7')).ctx).toBe(ctx);
  });

  it('during recording: the late completion is still archived, once, and the flow does not go on', () => {
    const before = recording().ctx;
    const r = stepChecked(before, ev.terminated({ code: 200, subcode: 540000, message: 'caller hung up' }));
    const graceId = `recordingGrace-${before.seq + 1}`;
    expect(r.commands).toEqual([
      { kind: 'startTimer', timerId: graceId, delaySeconds: 120 },
      { kind: 'callEnded' },
    ]);
    expect(r.ctx).toMatchObject({
      phase: 'ended',
      media: null,
      pendingRecording: { seq: 5, node: 'voicemail', timerId: graceId },
    });
    const late = stepChecked(
      r.ctx,
      ev.completed(5, { completionReason: 'stopToneDetected', recording: RECORDING }),
    );
    expect(late.commands).toEqual([
      {
        kind: 'archiveRecording',
        seq: 5,
        node: 'voicemail',
        outcome: 'stopTone',
        completionReason: 'stopToneDetected',
        recording: RECORDING,
        reason: null,
      },
    ]);
    expect(late.ctx).toMatchObject({ phase: 'ended', pendingRecording: null, node: 'voicemail' });
    expect(late.ctx.recordings).toEqual([
      {
        seq: 5,
        node: 'voicemail',
        outcome: 'stopTone',
        completionReason: 'stopToneDetected',
        hasAudio: true,
      },
    ]);
    // A repeat of the completion, or the grace timer, finds nothing left to do.
    expect(stepChecked(late.ctx, ev.completed(5, { recording: RECORDING })).ctx).toBe(late.ctx);
    expect(stepChecked(late.ctx, ev.timer(graceId)).ctx).toBe(late.ctx);
  });

  it('during recording with no completion ever: the grace timer hands over a lost recording', () => {
    const before = recording().ctx;
    const ended = stepChecked(before, ev.terminated()).ctx;
    const r = stepChecked(ended, ev.timer(ended.pendingRecording!.timerId));
    expect(r.commands).toEqual([
      {
        kind: 'archiveRecording',
        seq: 5,
        node: 'voicemail',
        outcome: 'failure',
        completionReason: 'failure',
        recording: null,
        reason: 'the call ended during the recording and no recording was delivered',
      },
    ]);
    expect(r.ctx.pendingRecording).toBeNull();
    // Other events still change nothing after the end.
    expect(stepChecked(r.ctx, ev.completed(5, { recording: RECORDING })).ctx).toBe(r.ctx);
  });

  it('during the transfer', () => {
    const ctx = hangUpAt(transferring().ctx);
    expect(ctx.node).toBe('operator');
  });

  it('during the goodbye', () => {
    const { ctx } = mainMenuWaiting();
    hangUpAt(stepChecked(ctx, ev.tone(1, 'tone9')).ctx);
  });

  it('before the call was established', () => {
    const { ctx, commands } = stepChecked(
      decided().ctx,
      ev.terminated({ code: 487, message: 'caller gave up' }),
    );
    expect(commands).toEqual([{ kind: 'callEnded' }]);
    expect(ctx).toMatchObject({ phase: 'ended', node: null, result: { code: 487 } });
    // A late established does not start the flow.
    expect(stepChecked(ctx, ev.established()).ctx).toBe(ctx);
  });
});
