/** Who did something on a call, for the human-readable timeline. */
export type Actor = 'caller' | 'bot' | 'platform' | 'target';

export interface TimelineEvent {
  /** Simulated seconds since the call was created (incoming notification or create request). */
  t: number;
  actor: Actor;
  text: string;
}

/** Ordered, per-call event logs: what tests assert on and what the demo prints. */
export class Timelines {
  private readonly byCall = new Map<string, TimelineEvent[]>();

  add(callId: string, t: number, actor: Actor, text: string): void {
    const events = this.byCall.get(callId) ?? [];
    // Millisecond precision keeps the printed timeline readable; times are simulated.
    events.push({ t: Math.round(t * 1000) / 1000, actor, text });
    this.byCall.set(callId, events);
  }

  get(callId: string): TimelineEvent[] {
    return [...(this.byCall.get(callId) ?? [])];
  }

  format(callId: string): string {
    return this.get(callId)
      .map((e) => `${e.t.toFixed(3).padStart(9)}s  ${e.actor.padEnd(8)} ${e.text}`)
      .join('\n');
  }
}
