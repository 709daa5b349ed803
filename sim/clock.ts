/**
 * Simulated time. Every platform timer goes through here so that `timeScale`
 * (real seconds per simulated second) speeds up or slows down the whole platform.
 */
export interface SimTimer {
  cancel(): void;
}

interface Entry {
  at: number;
  seq: number;
  fn: (at: number) => void;
}

export class SimClock {
  private readonly startedAt = performance.now();
  /** Pending timers ordered by (at, seq): events due at the same time run in scheduling order. */
  private queue: Entry[] = [];
  private seq = 0;
  private handle?: NodeJS.Timeout;
  private armedFor?: number;

  constructor(readonly timeScale: number) {
    if (!(timeScale > 0)) throw new Error(`timeScale must be > 0, got ${timeScale}`);
  }

  /** Simulated seconds since the simulator started. */
  now(): number {
    return (performance.now() - this.startedAt) / 1000 / this.timeScale;
  }

  /** Real milliseconds that a span of simulated seconds takes. */
  toRealMs(simSeconds: number): number {
    return simSeconds * 1000 * this.timeScale;
  }

  /**
   * Runs `fn` at simulated time `at`, passing that nominal time: chained events compute
   * their times from it rather than from the (jittery) measured clock, so durations
   * derived from a script stay exact, and a late timer never overtakes an earlier one.
   */
  at(at: number, fn: (at: number) => void): SimTimer {
    const entry: Entry = { at, seq: this.seq++, fn };
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.at > at) i--;
    this.queue.splice(i, 0, entry);
    this.arm();
    return {
      cancel: () => {
        const index = this.queue.indexOf(entry);
        if (index >= 0) this.queue.splice(index, 1);
        this.arm();
      },
    };
  }

  /** Stops every pending timer (simulator shutdown). */
  stop(): void {
    this.queue = [];
    this.arm();
  }

  /** One real timer, for the earliest entry. */
  private arm(): void {
    const head = this.queue[0];
    if (head !== undefined && this.handle !== undefined && this.armedFor === head.at) return;
    clearTimeout(this.handle);
    this.handle = undefined;
    this.armedFor = head?.at;
    if (head === undefined) return;
    this.handle = setTimeout(() => this.run(), Math.max(0, this.toRealMs(head.at - this.now())));
  }

  private run(): void {
    this.handle = undefined;
    try {
      const now = this.now();
      while (this.queue[0] !== undefined && this.queue[0].at <= now) {
        const entry = this.queue.shift()!;
        entry.fn(entry.at);
      }
    } finally {
      this.arm();
    }
  }
}
