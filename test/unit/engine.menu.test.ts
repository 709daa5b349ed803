import type { CallContext } from '../../shared/ivr/context';
import {
  CLIENT_CONTEXT,
  TENANT,
  answered,
  atMainMenu,
  ev,
  kinds,
  mainMenuWaiting,
  mediaSeq,
  only,
  playedUris,
  run,
  stepChecked,
  timerId,
  toneOf,
  uris,
} from './fixtures';

/** Keys as tones with consecutive sequenceIds from `first`. */
function keys(digits: string, first: number) {
  return [...digits].map((d, i) => ev.tone(first + i, toneOf(d)));
}

describe('play nodes', () => {
  it('go to next when the prompt completes', () => {
    const { ctx } = answered();
    const r = stepChecked(ctx, ev.completed(2));
    expect(r.ctx.node).toBe('main');
    expect(kinds(r.commands)).toEqual(['playPrompt']);
    const play = only(r.commands, 'playPrompt');
    expect(play.seq).toBe(3);
    expect(playedUris(play)).toEqual(uris(['mainMenu']));
    expect(r.ctx.menu).toEqual({ attempt: 1, digits: '', stage: 'prompt' });
    expect(r.ctx.media).toEqual({ seq: 3, kind: 'menuPrompt', node: 'main' });
    expect(r.ctx.visited).toEqual(['welcome', 'main']);
  });

  it('play several prompts in one playPrompt', () => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(ctx, ev.tone(1, 'tone1'));
    expect(r.ctx.node).toBe('sales');
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['salesIntro', 'salesHours']));
  });

  it('ignore a completion with a wrong or old seq', () => {
    const { ctx } = answered();
    for (const seq of [1, 3, 99]) {
      const r = stepChecked(ctx, ev.completed(seq));
      expect(r.ctx).toBe(ctx);
      expect(r.commands).toEqual([]);
    }
    // The menu prompt's completion does not count for the play that preceded it either.
    const m = atMainMenu();
    expect(stepChecked(m.ctx, ev.completed(2)).ctx).toBe(m.ctx);
  });

  it('ignore a repeated completion', () => {
    const { ctx } = answered();
    const first = stepChecked(ctx, ev.completed(2));
    const again = stepChecked(first.ctx, ev.completed(2));
    expect(again.ctx).toBe(first.ctx);
    expect(again.commands).toEqual([]);
  });

  it('move on when the prompt fails', () => {
    const { ctx } = answered();
    const r = stepChecked(ctx, ev.failed(2, { code: 500, subcode: 9999, message: 'media error' }));
    expect(r.ctx.node).toBe('main');
    expect(r.ctx.failures).toEqual([
      { at: expect.any(String), what: 'play', status: 500, code: '9999', message: 'media error' },
    ]);
  });

  it('keep keys pressed outside a menu in the history only', () => {
    const { ctx } = answered();
    const r = stepChecked(ctx, ev.tone(1, 'tone5'));
    expect(r.commands).toEqual([]);
    expect(r.ctx.digits).toEqual(['5']);
    expect(r.ctx.media).toEqual(ctx.media);
    expect(r.ctx.lastToneSeq).toBe(1);
  });
});

describe('menus', () => {
  it('start the no-input timer when the prompt completes', () => {
    const { ctx, commands } = mainMenuWaiting();
    expect(commands).toEqual([{ kind: 'startTimer', timerId: 'noInput-4', delaySeconds: 6 }]);
    expect(ctx.menu).toEqual({ attempt: 1, digits: '', stage: 'input' });
    expect(ctx.timer).toEqual({ id: 'noInput-4', purpose: 'noInput' });
    expect(ctx.media).toBeNull();
  });

  it.each<[string, string, string]>([
    ['1', 'sales', 'playPrompt'],
    ['2', 'voicemail', 'recordResponse'],
    ['3', 'directory', 'playPrompt'],
    ['0', 'operator', 'transfer'],
    ['9', 'goodbye', 'playPrompt'],
  ])('key %s chooses %s', (key, node, command) => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(ctx, ev.tone(1, toneOf(key)));
    expect(r.ctx.node).toBe(node);
    expect(kinds(r.commands)).toEqual([command]);
    expect(r.ctx.timer).toBeNull();
    expect(r.ctx.digits).toEqual([key]);
    // The no-input timer of the menu left behind is now stale.
    expect(stepChecked(r.ctx, ev.timer('noInput-4')).ctx).toBe(r.ctx);
  });

  it('re-prompt with the invalid prompt first after an invalid key', () => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(ctx, ev.tone(1, 'tone7'));
    expect(kinds(r.commands)).toEqual(['playPrompt']);
    expect(playedUris(r.commands[0]!)).toEqual(uris(['invalid', 'mainMenu']));
    expect(r.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
    expect(r.ctx.node).toBe('main');
    expect(r.ctx.timer).toBeNull();
  });

  it('treat * and # as invalid keys in a menu without such options', () => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(ctx, ev.tone(1, 'star'));
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['invalid', 'mainMenu']));
    expect(r.ctx.digits).toEqual(['*']);
  });

  it('ignore keys that are not digits, * or #', () => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(ctx, ev.tone(1, 'a'));
    expect(r.commands).toEqual([]);
    expect(r.ctx.menu).toEqual(ctx.menu);
    expect(r.ctx.timer).toEqual(ctx.timer);
  });

  it('re-prompt with the no-input prompt first when the timer fires', () => {
    const { ctx } = mainMenuWaiting();
    const r = stepChecked(ctx, ev.timer('noInput-4'));
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['noInput', 'mainMenu']));
    expect(r.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
    // The re-prompt's completion starts a fresh timer.
    const w = stepChecked(r.ctx, ev.completed(mediaSeq(r.ctx)));
    expect(w.commands).toEqual([{ kind: 'startTimer', timerId: 'noInput-6', delaySeconds: 6 }]);
  });

  it('ignore a stale or unknown timer id', () => {
    const { ctx } = mainMenuWaiting();
    const reprompted = stepChecked(ctx, ev.timer('noInput-4')).ctx;
    const waiting = stepChecked(reprompted, ev.completed(mediaSeq(reprompted))).ctx;
    for (const id of ['noInput-4', 'noInput-999', 'interDigit-6']) {
      const r = stepChecked(waiting, ev.timer(id));
      expect(r.ctx).toBe(waiting);
    }
  });

  it('go to the fallback when no-input retries are exhausted (maxAttempts 3)', () => {
    let { ctx } = mainMenuWaiting();
    const played: string[][] = [];
    for (let attempt = 1; attempt < 3; attempt++) {
      const r = stepChecked(ctx, ev.timer(timerId(ctx)));
      played.push(playedUris(only(r.commands, 'playPrompt')));
      ctx = stepChecked(r.ctx, ev.completed(mediaSeq(r.ctx))).ctx;
      expect(ctx.menu!.attempt).toBe(attempt + 1);
    }
    expect(played).toEqual([uris(['noInput', 'mainMenu']), uris(['noInput', 'mainMenu'])]);
    const last = stepChecked(ctx, ev.timer(timerId(ctx)));
    expect(kinds(last.commands)).toEqual(['transfer']);
    expect(last.ctx).toMatchObject({ node: 'operator', phase: 'transferring', menu: null, timer: null });
  });

  it('go to the fallback when invalid retries are exhausted', () => {
    let { ctx } = mainMenuWaiting();
    let seq = 1;
    for (let attempt = 1; attempt < 3; attempt++) {
      const r = stepChecked(ctx, ev.tone(seq++, 'tone8'));
      expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['invalid', 'mainMenu']));
      ctx = stepChecked(r.ctx, ev.completed(mediaSeq(r.ctx))).ctx;
    }
    const last = stepChecked(ctx, ev.tone(seq, 'tone8'));
    expect(last.ctx.node).toBe('operator');
    expect(kinds(last.commands)).toEqual(['transfer']);
  });

  it('mix no-input and invalid retries against the same attempt count', () => {
    const { ctx } = mainMenuWaiting();
    const a = stepChecked(ctx, ev.timer('noInput-4'));
    const b = run(a.ctx, [ev.completed(mediaSeq(a.ctx)), ev.tone(1, 'tone7')]);
    expect(b.ctx.menu!.attempt).toBe(3);
    const c = run(b.ctx, [ev.completed(mediaSeq(b.ctx))]);
    const d = stepChecked(c.ctx, ev.timer(timerId(c.ctx)));
    expect(d.ctx.node).toBe('operator');
  });

  it('a valid key on the last attempt still chooses the option', () => {
    let { ctx } = mainMenuWaiting();
    for (let i = 0; i < 2; i++) {
      const r = stepChecked(ctx, ev.timer(timerId(ctx)));
      ctx = stepChecked(r.ctx, ev.completed(mediaSeq(r.ctx))).ctx;
    }
    expect(ctx.menu!.attempt).toBe(3);
    expect(stepChecked(ctx, ev.tone(1, 'tone1')).ctx.node).toBe('sales');
  });

  describe('barge-in', () => {
    it('a key during the prompt cancels it, then the key is handled', () => {
      const { ctx } = atMainMenu();
      const r = stepChecked(ctx, ev.tone(1, 'tone2'));
      expect(kinds(r.commands)).toEqual(['cancelMediaProcessing', 'recordResponse']);
      expect(r.commands[0]).toEqual({
        kind: 'cancelMediaProcessing',
        body: { clientContext: `${CLIENT_CONTEXT}.4` },
      });
      expect(r.ctx.node).toBe('voicemail');
      expect(r.ctx.media).toEqual({ seq: 5, kind: 'record', node: 'voicemail' });
      // The cancelled prompt completes failed (400/8508) later: ignored.
      const late = stepChecked(r.ctx, ev.failed(3, { code: 400, subcode: 8508, message: 'cancelled' }));
      expect(late.ctx).toBe(r.ctx);
    });

    it('an invalid key during the prompt cancels it and re-prompts', () => {
      const { ctx } = atMainMenu();
      const r = stepChecked(ctx, ev.tone(1, 'tone7'));
      expect(kinds(r.commands)).toEqual(['cancelMediaProcessing', 'playPrompt']);
      expect(playedUris(r.commands[1]!)).toEqual(uris(['invalid', 'mainMenu']));
      expect(r.ctx.media).toEqual({ seq: 5, kind: 'menuPrompt', node: 'main' });
      // The cancelled prompt's completion does not start the no-input timer.
      expect(stepChecked(r.ctx, ev.completed(3)).ctx).toBe(r.ctx);
      // The re-prompt's does.
      expect(stepChecked(r.ctx, ev.completed(5)).commands).toEqual([
        { kind: 'startTimer', timerId: 'noInput-6', delaySeconds: 6 },
      ]);
    });

    it('a key after the prompt completed sends no cancel', () => {
      const { ctx } = mainMenuWaiting();
      expect(kinds(stepChecked(ctx, ev.tone(1, 'tone9')).commands)).toEqual(['playPrompt']);
    });
  });
});

describe('multi-digit menus', () => {
  /** The directory menu waiting for keys; its options are 100, 101, 10 and 2, terminator #. */
  function directoryWaiting(): CallContext {
    const { ctx } = mainMenuWaiting();
    const r = run(ctx, [ev.tone(1, 'tone3')]);
    expect(r.ctx.node).toBe('directory');
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['directory']));
    const w = stepChecked(r.ctx, ev.completed(mediaSeq(r.ctx)));
    expect(w.commands).toEqual([{ kind: 'startTimer', timerId: 'noInput-6', delaySeconds: 8 }]);
    return w.ctx;
  }

  it('a first key during the prompt cancels it and clears it: its late completion starts no timer', () => {
    const { ctx } = mainMenuWaiting();
    const prompting = run(ctx, [ev.tone(1, 'tone3')]).ctx; // the directory prompt plays
    const promptSeq = mediaSeq(prompting);
    const one = stepChecked(prompting, ev.tone(2, 'tone1'));
    expect(kinds(one.commands)).toEqual(['cancelMediaProcessing', 'startTimer']);
    // The prompt is no longer the current media: nothing is playing while keys are awaited.
    expect(one.ctx.media).toBeNull();
    expect(one.ctx.menu).toEqual({ attempt: 1, digits: '1', stage: 'input' });
    // The cancelled prompt's completion (failed 400/8508) changes nothing: no no-input timer.
    expect(stepChecked(one.ctx, ev.failed(promptSeq, { code: 400, subcode: 8508 })).ctx).toBe(one.ctx);
    expect(stepChecked(one.ctx, ev.completed(promptSeq)).ctx).toBe(one.ctx);
  });

  it('wait with the inter-digit timer while a longer option may follow', () => {
    const ctx = directoryWaiting();
    const one = stepChecked(ctx, ev.tone(2, 'tone1'));
    expect(one.commands).toEqual([{ kind: 'startTimer', timerId: 'interDigit-7', delaySeconds: 4 }]);
    expect(one.ctx.menu).toEqual({ attempt: 1, digits: '1', stage: 'input' });
    // '10' is an option, but '100' and '101' are longer: keep waiting.
    const ten = stepChecked(one.ctx, ev.tone(3, 'tone0'));
    expect(ten.commands).toEqual([{ kind: 'startTimer', timerId: 'interDigit-8', delaySeconds: 4 }]);
    expect(ten.ctx.menu!.digits).toBe('10');
    const r = stepChecked(ten.ctx, ev.tone(4, 'tone1'));
    expect(r.ctx.node).toBe('agent');
    expect(r.ctx.phase).toBe('transferring');
    expect(only(r.commands, 'transfer').body.transferTarget.identity).toEqual({
      user: {
        '@odata.type': '#microsoft.graph.identity',
        id: 'a1b2c3d4-0000-4000-8000-000000000002',
        tenantId: TENANT,
      },
    });
  });

  it('settle on the digits so far when the inter-digit timer fires', () => {
    const ctx = directoryWaiting();
    const r = run(ctx, keys('10', 2));
    const settled = stepChecked(r.ctx, ev.timer('interDigit-8'));
    expect(settled.ctx.node).toBe('voicemail');
    expect(kinds(settled.commands)).toEqual(['recordResponse']);
  });

  it('an old inter-digit timer is superseded by the next key', () => {
    const ctx = directoryWaiting();
    const r = run(ctx, keys('10', 2));
    expect(stepChecked(r.ctx, ev.timer('interDigit-7')).ctx).toBe(r.ctx);
  });

  it('a partial entry that is no option is invalid when the timer fires', () => {
    const ctx = directoryWaiting();
    const one = stepChecked(ctx, ev.tone(2, 'tone1'));
    const r = stepChecked(one.ctx, ev.timer('interDigit-7'));
    expect(r.ctx.node).toBe('directory');
    expect(r.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
    // The directory has no invalidPrompt: only its prompt again.
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['directory']));
  });

  it('the terminator ends the entry early', () => {
    const ctx = directoryWaiting();
    const r = run(ctx, keys('10#', 2));
    expect(r.ctx.node).toBe('voicemail');
    expect(kinds(r.commands)).toEqual(['startTimer', 'startTimer', 'recordResponse']);
    expect(r.ctx.digits).toEqual(['3', '1', '0', '#']);
  });

  it('the terminator after a non-option is invalid, alone it is no input', () => {
    const ctx = directoryWaiting();
    const bad = run(ctx, keys('1#', 2));
    expect(bad.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
    expect(bad.ctx.node).toBe('directory');
    const none = stepChecked(ctx, ev.tone(2, 'pound'));
    expect(none.ctx.menu).toEqual({ attempt: 2, digits: '', stage: 'prompt' });
  });

  it('a key no option starts with is invalid at once', () => {
    const ctx = directoryWaiting();
    const r = stepChecked(ctx, ev.tone(2, 'tone5'));
    expect(kinds(r.commands)).toEqual(['playPrompt']);
    expect(r.ctx.menu!.attempt).toBe(2);
  });

  it('a single-digit option with no longer sibling is chosen at once', () => {
    const ctx = directoryWaiting();
    const r = stepChecked(ctx, ev.tone(2, 'tone2'));
    expect(r.ctx.node).toBe('operator');
  });

  it('goes to its fallback after maxAttempts 2', () => {
    const ctx = directoryWaiting();
    const first = stepChecked(ctx, ev.timer('noInput-6'));
    const w = stepChecked(first.ctx, ev.completed(mediaSeq(first.ctx)));
    const r = stepChecked(w.ctx, ev.timer(timerId(w.ctx)));
    expect(r.ctx.node).toBe('goodbye');
    expect(playedUris(only(r.commands, 'playPrompt'))).toEqual(uris(['goodbye']));
    expect(r.ctx.phase).toBe('hangingUp');
  });

  describe('tone sequence ids', () => {
    it('a repeated tone (same sequenceId) is ignored', () => {
      const ctx = directoryWaiting();
      const one = stepChecked(ctx, ev.tone(2, 'tone1'));
      const again = stepChecked(one.ctx, ev.tone(2, 'tone1'));
      expect(again.ctx).toBe(one.ctx);
      expect(again.commands).toEqual([]);
      // An older one too.
      expect(stepChecked(one.ctx, ev.tone(1, 'tone3')).ctx).toBe(one.ctx);
      expect(one.ctx.menu!.digits).toBe('1');
    });

    it('out-of-order tones are held and applied in order', () => {
      const ctx = directoryWaiting();
      const one = stepChecked(ctx, ev.tone(2, 'tone1'));
      // 4 arrives before 3: held, nothing happens yet.
      const held = stepChecked(one.ctx, ev.tone(4, 'tone1'));
      expect(held.commands).toEqual([]);
      expect(held.ctx.heldTones).toEqual([{ sequenceId: 4, tone: 'tone1' }]);
      expect(held.ctx.menu!.digits).toBe('1');
      // A repeat of the held tone is ignored.
      expect(stepChecked(held.ctx, ev.tone(4, 'tone1')).ctx).toBe(held.ctx);
      // 3 arrives: '0' then the held '1' -> 101.
      const r = stepChecked(held.ctx, ev.tone(3, 'tone0'));
      expect(r.ctx.node).toBe('agent');
      expect(r.ctx.heldTones).toEqual([]);
      expect(r.ctx.lastToneSeq).toBe(4);
      expect(r.ctx.digits).toEqual(['3', '1', '0', '1']);
      expect(kinds(r.commands)).toEqual(['startTimer', 'transfer']);
    });

    it('several held tones are applied in sequence order', () => {
      const ctx = directoryWaiting();
      const r = run(ctx, [
        ev.tone(2, 'tone1'),
        ev.tone(5, 'pound'),
        ev.tone(4, 'tone0'),
        ev.tone(3, 'tone0'),
      ]);
      // 1, 0, 0 -> option 100 (sales); the # that follows lands in the history only.
      expect(r.ctx.node).toBe('sales');
      expect(r.ctx.digits).toEqual(['3', '1', '0', '0', '#']);
      expect(r.ctx.heldTones).toEqual([]);
    });

    it('a held tone whose predecessor never comes is released by the pending timer', () => {
      const ctx = directoryWaiting();
      const one = stepChecked(ctx, ev.tone(2, 'tone1')); // interDigit-7
      const held = stepChecked(one.ctx, ev.tone(4, 'tone0'));
      expect(held.ctx.timer).toEqual({ id: 'interDigit-7', purpose: 'interDigit' });
      const released = stepChecked(held.ctx, ev.timer('interDigit-7'));
      expect(released.ctx.heldTones).toEqual([]);
      expect(released.ctx.lastToneSeq).toBe(4);
      expect(released.ctx.menu!.digits).toBe('10');
      expect(released.commands).toEqual([{ kind: 'startTimer', timerId: 'interDigit-8', delaySeconds: 4 }]);
      // The missing tone turning up late is still taken (out of order beats lost), once.
      const late = stepChecked(released.ctx, ev.tone(3, 'tone5'));
      expect(late.ctx.digits.at(-1)).toBe('5');
      expect(stepChecked(late.ctx, ev.tone(3, 'tone5')).ctx).toBe(late.ctx);
      expect(stepChecked(released.ctx, ev.timer('interDigit-8')).ctx.node).toBe('voicemail');
    });

    it("a held tone's own timer waits as long as the menu's inter-digit timeout, 3 s outside a menu", () => {
      // The directory's prompt is playing (no timer yet) and tone 2 never arrives.
      const { ctx } = mainMenuWaiting();
      const prompting = stepChecked(ctx, ev.tone(1, 'tone3'));
      expect(prompting.ctx).toMatchObject({ node: 'directory', timer: null });
      const held = stepChecked(prompting.ctx, ev.tone(3, 'tone1'));
      expect(held.ctx.heldTones).toEqual([{ sequenceId: 3, tone: 'tone1' }]);
      expect(held.commands).toEqual([
        { kind: 'startTimer', timerId: expect.stringMatching(/^interDigit-\d+$/), delaySeconds: 4 },
      ]);
      // During the welcome (a play node) the same gap waits the default 3 s.
      const welcome = stepChecked(answered().ctx, ev.tone(1, 'tone5'));
      const gap = stepChecked(welcome.ctx, ev.tone(3, 'tone1'));
      expect(gap.ctx.heldTones).toEqual([{ sequenceId: 3, tone: 'tone1' }]);
      expect(gap.commands).toEqual([
        { kind: 'startTimer', timerId: expect.stringMatching(/^interDigit-\d+$/), delaySeconds: 3 },
      ]);
    });

    it('a held tone starts its own timer when none is pending', () => {
      const { ctx } = answered();
      const early = stepChecked(ctx, ev.tone(1, 'tone5')); // during the welcome: history only
      const menu = stepChecked(early.ctx, ev.completed(2)); // main menu prompt, seq 3
      const held = stepChecked(menu.ctx, ev.tone(3, 'tone1')); // 2 is missing
      expect(held.commands).toEqual([{ kind: 'startTimer', timerId: 'interDigit-4', delaySeconds: 3 }]);
      const r = stepChecked(held.ctx, ev.timer('interDigit-4'));
      // The released key barges in on the menu prompt and chooses sales.
      expect(kinds(r.commands)).toEqual(['cancelMediaProcessing', 'playPrompt']);
      expect(r.ctx.node).toBe('sales');
    });

    it('the first key arriving after the second is taken, not dropped as a repeat', () => {
      const ctx = directoryWaiting(); // lastToneSeq 1
      const second = stepChecked(ctx, ev.tone(3, 'tone1')); // held: 2 is missing
      const first = stepChecked(second.ctx, ev.tone(2, 'tone0'));
      expect(first.ctx.heldTones).toEqual([]);
      expect(first.ctx.lastToneSeq).toBe(3);
      expect(first.ctx.digits.slice(-2)).toEqual(['0', '1']);
    });

    it('a timer that releases keys which do not move the menu still does its own job', () => {
      const ctx = directoryWaiting(); // lastToneSeq 1, waiting for input
      const held = stepChecked(ctx, ev.tone(3, 'a')); // 2 is missing; "a" is not a menu key
      const timerId = held.ctx.timer!.id;
      const fired = stepChecked(held.ctx, ev.timer(timerId));
      expect(fired.ctx.heldTones).toEqual([]);
      // Nothing was entered: the no-input path re-prompts instead of leaving the menu stalled.
      expect(kinds(fired.commands)).toContain('playPrompt');
    });

    it('keys keep their order when more tones arrive than can be held', () => {
      const ctx = directoryWaiting(); // lastToneSeq 1; 2 never arrives
      const r = run(ctx, [
        ev.tone(3, 'tone1'),
        ev.tone(4, 'tone0'),
        ev.tone(5, 'tone1'),
        ev.tone(6, 'pound'),
      ]);
      // 1, 0, 1 -> agent (transferring, so the # that follows is not kept); not '#' first.
      expect(r.ctx.digits).toEqual(['3', '1', '0', '1']);
      expect(r.ctx.node).toBe('agent');
      expect(r.ctx.heldTones).toEqual([]);
      expect(r.ctx.lastToneSeq).toBe(6);
    });

    it('a full hold buffer releases in order even when the newest tone is older than the held ones', () => {
      const ctx = directoryWaiting(); // lastToneSeq 1; 2 never arrives
      const r = run(ctx, [
        ev.tone(4, 'tone0'),
        ev.tone(5, 'tone0'),
        ev.tone(6, 'pound'),
        ev.tone(3, 'tone1'),
      ]);
      // 1 (seq 3), 0, 0 -> 100 (sales), then # in the history.
      expect(r.ctx.digits).toEqual(['3', '1', '0', '0', '#']);
      expect(r.ctx.node).toBe('sales');
    });
  });
});
