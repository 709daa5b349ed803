import { z } from 'zod';
import type { SeededRandom } from './random';

/**
 * Fault modes for a run. Delays here are real milliseconds (they model network and
 * platform latency the bot experiences), not simulated time. Random choices come from the
 * simulator's seeded PRNG, so a run with the same seed and the same bot replays identically.
 */
const requestFault = z.strictObject({
  /** Chance (0..1) that any Graph request gets this fault. */
  probability: z.number().min(0).max(1).optional(),
  /** The next N Graph requests get this fault (counted down, then probability applies). */
  next: z.number().int().min(0).optional(),
  /** Retry-After header value in seconds. */
  retryAfterSeconds: z.number().int().min(0).optional(),
});

const chance = z.union([z.boolean(), z.number().min(0).max(1)]);

export const faultOptionsSchema = z.strictObject({
  /** 429 Too Many Requests (with Retry-After, default 1 s). */
  throttle: requestFault.optional(),
  /** 503 Service Unavailable (Retry-After only if retryAfterSeconds is set). */
  unavailable: requestFault.optional(),
  /** Delay before every Graph response. */
  responseDelayMs: z.number().min(0).optional(),
  /** Each notification is POSTed twice (true = always, or a probability). */
  duplicateNotifications: chance.optional(),
  /** A notification is held back and delivered after the same call's next one (true = always, or a probability). */
  reorderNotifications: chance.optional(),
  /** Delay before each notification POST: fixed, or uniform in [min, max]. Keeps per-call order. */
  notificationDelayMs: z
    .union([z.number().min(0), z.strictObject({ min: z.number().min(0), max: z.number().min(0) })])
    .optional(),
});

export type FaultOptions = z.input<typeof faultOptionsSchema>;

export interface RequestFault {
  status: 429 | 503;
  retryAfterSeconds?: number;
}

export interface NotificationPlan {
  copies: 1 | 2;
  /** Deliver after the call's next notification. */
  hold: boolean;
  delayMs: number;
}

export class Faults {
  private opts: z.output<typeof faultOptionsSchema> = {};
  private throttleNext = 0;
  private unavailableNext = 0;

  constructor(
    options: FaultOptions,
    private readonly rng: SeededRandom,
  ) {
    this.set(options);
  }

  /** Replaces the fault modes (and restarts the "next N requests" counters). */
  set(options: FaultOptions): void {
    const parsed = faultOptionsSchema.safeParse(options);
    if (!parsed.success) throw new Error(`Invalid fault options: ${z.prettifyError(parsed.error)}`);
    this.opts = parsed.data;
    this.throttleNext = parsed.data.throttle?.next ?? 0;
    this.unavailableNext = parsed.data.unavailable?.next ?? 0;
  }

  get responseDelayMs(): number {
    return this.opts.responseDelayMs ?? 0;
  }

  forRequest(): RequestFault | undefined {
    const { throttle, unavailable } = this.opts;
    if (this.throttleNext > 0) {
      this.throttleNext--;
      return { status: 429, retryAfterSeconds: throttle?.retryAfterSeconds ?? 1 };
    }
    if (this.unavailableNext > 0) {
      this.unavailableNext--;
      return { status: 503, retryAfterSeconds: unavailable?.retryAfterSeconds };
    }
    if (throttle?.probability && this.rng.chance(throttle.probability)) {
      return { status: 429, retryAfterSeconds: throttle.retryAfterSeconds ?? 1 };
    }
    if (unavailable?.probability && this.rng.chance(unavailable.probability)) {
      return { status: 503, retryAfterSeconds: unavailable.retryAfterSeconds };
    }
    return undefined;
  }

  forNotification(): NotificationPlan {
    const {
      duplicateNotifications: dup,
      reorderNotifications: reorder,
      notificationDelayMs: delay,
    } = this.opts;
    return {
      copies: this.draw(dup) ? 2 : 1,
      hold: this.draw(reorder),
      delayMs:
        delay === undefined
          ? 0
          : typeof delay === 'number'
            ? delay
            : delay.min + this.rng.float() * Math.max(0, delay.max - delay.min),
    };
  }

  private draw(setting: boolean | number | undefined): boolean {
    if (setting === undefined || setting === false) return false;
    return setting === true || this.rng.chance(setting);
  }
}
