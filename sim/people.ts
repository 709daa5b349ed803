import { z } from 'zod';

/**
 * Scripted people: the caller of an inbound call, and the targets the bot redirects or
 * transfers to or calls out to. Scripts are JSON, validated here so a typo fails loudly
 * instead of producing a silent caller.
 */

/** Graph's tone names for each key a person can press. */
export const KEY_TONES = {
  '0': 'tone0',
  '1': 'tone1',
  '2': 'tone2',
  '3': 'tone3',
  '4': 'tone4',
  '5': 'tone5',
  '6': 'tone6',
  '7': 'tone7',
  '8': 'tone8',
  '9': 'tone9',
  '*': 'star',
  '#': 'pound',
  A: 'a',
  B: 'b',
  C: 'c',
  D: 'd',
} as const;
export type Key = keyof typeof KEY_TONES;
export type Tone = (typeof KEY_TONES)[Key];

/** Keys in one `press` string ("1234#") are pressed this far apart. */
export const KEY_GAP_SECONDS = 0.5;

const e164 = z
  .string()
  .regex(/^\+[1-9]\d{6,14}$/, 'expected a phone number in E.164 form, e.g. "+14255550100"');

/** What a person can hear and wait for: a playPrompt starting or finishing, a recording's beep. */
export const PERSON_EVENTS = ['prompt', 'promptEnd', 'beep'] as const;
export type PersonEvent = (typeof PERSON_EVENTS)[number];

const actionSchema = z
  .strictObject({
    at: z.number().min(0).optional(),
    after: z.number().min(0).optional(),
    press: z
      .string()
      .regex(/^[0-9*#A-D]+$/, 'keys are 0-9, *, # and A-D')
      .optional(),
    speak: z.number().positive().max(600).optional(),
    hangUp: z.literal(true).optional(),
    waitFor: z.enum(PERSON_EVENTS).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.waitFor !== undefined) {
      if (Object.keys(a).length > 1)
        ctx.addIssue({ code: 'custom', message: '"waitFor" stands alone; time the next step with "after"' });
      return;
    }
    if ((a.at === undefined) === (a.after === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'give exactly one of "at" (seconds since established) or "after" (seconds after the previous step)',
      });
    }
    const kinds = [a.press !== undefined, a.speak !== undefined, a.hangUp !== undefined].filter(
      Boolean,
    ).length;
    if (kinds !== 1)
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of "press", "speak", "hangUp" or "waitFor"',
      });
  });

const actionsSchema = z.array(actionSchema).superRefine((actions, ctx) => {
  const hangUp = actions.findIndex((a) => a.hangUp);
  if (hangUp >= 0 && hangUp < actions.length - 1) {
    ctx.addIssue({ code: 'custom', path: [hangUp + 1], message: 'no action can follow "hangUp"' });
  }
});

export const callerScriptSchema = z.strictObject({
  /** The caller: a PSTN number, or a Teams user calling the bot. */
  from: z.union([e164, z.strictObject({ teamsUser: z.string().min(1), displayName: z.string().optional() })]),
  /** The number the caller dialed (the bot's number). */
  to: e164,
  actions: actionsSchema.default([]),
});

export const targetScriptSchema = z
  .strictObject({
    answerAfter: z.number().min(0).optional(),
    never: z.literal(true).optional(),
    busy: z.literal(true).optional(),
    /** A Teams user who declines the call after this many seconds of ringing. */
    decline: z.number().min(0).optional(),
    /** After answering an outbound call, the callee behaves like a caller. */
    actions: actionsSchema.optional(),
  })
  .superRefine((t, ctx) => {
    const kinds = [t.answerAfter !== undefined, t.never, t.busy, t.decline !== undefined].filter(
      Boolean,
    ).length;
    if (kinds !== 1)
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of "answerAfter", "never", "busy" or "decline"',
      });
    if (t.actions && t.answerAfter === undefined) {
      ctx.addIssue({ code: 'custom', path: ['actions'], message: '"actions" needs "answerAfter"' });
    }
  });

export type CallerScriptInput = z.input<typeof callerScriptSchema>;
export type CallerScript = z.output<typeof callerScriptSchema>;
export type TargetScriptInput = z.input<typeof targetScriptSchema>;
export type TargetScript = z.output<typeof targetScriptSchema>;
export type PersonStep = z.output<typeof actionSchema>;

export class ScriptError extends Error {
  constructor(kind: string, error: z.ZodError) {
    const lines = error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(script)'}: ${i.message}`);
    super(`Invalid ${kind} script:\n  - ${lines.join('\n  - ')}`);
    this.name = 'ScriptError';
  }
}

export function parseCallerScript(input: unknown): CallerScript {
  const parsed = callerScriptSchema.safeParse(input);
  if (!parsed.success) throw new ScriptError('caller', parsed.error);
  return parsed.data;
}

export function parseTargetScript(input: unknown): TargetScript {
  const parsed = targetScriptSchema.safeParse(input);
  if (!parsed.success) throw new ScriptError('target', parsed.error);
  return parsed.data;
}

/** What a person is known to do, in absolute simulated seconds, up to their next unresolved "waitFor". */
export interface KnownFuture {
  presses: { t: number; key: Key; tone: Tone }[];
  /** Sorted, non-overlapping. */
  speech: { start: number; end: number }[];
  hangUpAt?: number;
}

export interface PersonHooks {
  /** Runs `fn` at simulated time `t` (cancelled if the call ends first). */
  at(t: number, fn: () => void): void;
  press(key: Key, tone: Tone, t: number): void;
  speak(seconds: number, t: number): void;
  hangUp(t: number): void;
}

/**
 * Plays a person's script once the call is established. Steps run in order: "at" is
 * seconds since established (never before the previous step ends), "after" is seconds
 * after the previous step, and "waitFor" pauses until the next such event, so a script can
 * follow the bot however slowly it answers ("waitFor beep, after 1 speak 3").
 */
export class Person {
  readonly known: KnownFuture = { presses: [], speech: [] };
  private next = 0;
  private origin = 0;
  private cursor = 0;
  private waitingFor?: PersonEvent;

  constructor(
    private readonly steps: readonly PersonStep[],
    private readonly hooks: PersonHooks,
  ) {}

  /** Starts the script; `established` is the origin of "at" times. */
  start(established: number): void {
    this.origin = established;
    this.cursor = established;
    this.advance();
  }

  /** Something the person hears happened at `t`; resumes the script if it waits for it. */
  hear(event: PersonEvent, t: number): void {
    if (this.waitingFor !== event) return;
    this.waitingFor = undefined;
    this.cursor = t;
    this.advance();
  }

  private advance(): void {
    while (this.next < this.steps.length) {
      const step = this.steps[this.next++]!;
      if (step.waitFor !== undefined) {
        this.waitingFor = step.waitFor;
        return;
      }
      const start = Math.max(
        this.cursor,
        step.at !== undefined ? this.origin + step.at : this.cursor + (step.after ?? 0),
      );
      if (step.press !== undefined) {
        [...step.press].forEach((k, i) => {
          const key = k as Key;
          const t = start + i * KEY_GAP_SECONDS;
          this.known.presses.push({ t, key, tone: KEY_TONES[key] });
          this.hooks.at(t, () => this.hooks.press(key, KEY_TONES[key], t));
        });
        this.cursor = start + (step.press.length - 1) * KEY_GAP_SECONDS;
      } else if (step.speak !== undefined) {
        const seconds = step.speak;
        this.known.speech.push({ start, end: start + seconds });
        this.hooks.at(start, () => this.hooks.speak(seconds, start));
        this.cursor = start + seconds;
      } else {
        this.known.hangUpAt = start;
        this.hooks.at(start, () => this.hooks.hangUp(start));
        this.cursor = start;
      }
    }
  }
}

/** The key of an identity in target-behaviour lookups: a phone number, user id or app id. */
export function identityKey(identity: unknown): string | undefined {
  if (!identity || typeof identity !== 'object') return undefined;
  for (const kind of ['phone', 'user', 'applicationInstance', 'application', 'guest']) {
    const id = (identity as Record<string, { id?: unknown } | undefined>)[kind]?.id;
    if (typeof id === 'string') return id;
  }
  return undefined;
}
