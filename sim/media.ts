import type { CompletionReason } from './codes';
import type { KnownFuture } from './people';

/** The beep that tells the caller to speak. */
export const BEEP_SECONDS = 0.5;

export interface RecordParams {
  initialSilenceTimeoutInSeconds: number;
  maxSilenceTimeoutInSeconds: number;
  maxRecordDurationInSeconds: number;
  /** As sent by the bot: "#", "1", "*" (keys) or Graph tone names ("pound", "tone1"). */
  stopTones: string[];
}

export type RecordOutcome =
  | {
      kind: 'completed';
      endAt: number;
      reason: Exclude<CompletionReason, 'operationCanceled'>;
      speechSeconds: number;
    }
  /** The person hangs up first: Graph sends no completion at all, only the call's end. */
  | { kind: 'hungUp'; at: number };

/**
 * Decides, from what the person is known to do, how a recording that starts listening at
 * `start` ends (all times absolute simulated seconds). The recording holds only the speech
 * inside its window.
 */
export function evaluateRecording(plan: KnownFuture, start: number, p: RecordParams): RecordOutcome {
  type Candidate = { at: number; reason: Exclude<CompletionReason, 'operationCanceled'> | 'hungUp' };
  // Listed by priority: on a tie the earlier entry wins.
  const candidates: Candidate[] = [];

  const stop = plan.presses.find((k) => k.t >= start && isStopTone(p.stopTones, k.key, k.tone));
  if (stop) candidates.push({ at: stop.t, reason: 'stopToneDetected' });
  if (plan.hangUpAt !== undefined && plan.hangUpAt >= start)
    candidates.push({ at: plan.hangUpAt, reason: 'hungUp' });
  candidates.push({ at: start + p.maxRecordDurationInSeconds, reason: 'maxRecordDurationReached' });

  const speech = plan.speech.filter((iv) => iv.end > start);
  const first = speech[0];
  if (!first || Math.max(first.start, start) - start >= p.initialSilenceTimeoutInSeconds) {
    candidates.push({ at: start + p.initialSilenceTimeoutInSeconds, reason: 'initialSilenceTimeout' });
  } else {
    for (let i = 0; i < speech.length; i++) {
      const end = speech[i]!.end;
      const next = speech[i + 1];
      if (!next || next.start - end >= p.maxSilenceTimeoutInSeconds) {
        candidates.push({ at: end + p.maxSilenceTimeoutInSeconds, reason: 'maxSilenceTimeout' });
        break;
      }
    }
  }

  const winner = candidates.reduce((best, c) => (c.at < best.at ? c : best));
  if (winner.reason === 'hungUp') return { kind: 'hungUp', at: winner.at };
  const speechSeconds = speech.reduce(
    (sum, iv) => sum + Math.max(0, Math.min(iv.end, winner.at) - Math.max(iv.start, start)),
    0,
  );
  return { kind: 'completed', endAt: winner.at, reason: winner.reason, speechSeconds };
}

function isStopTone(stopTones: string[], key: string, tone: string): boolean {
  return stopTones.some((s) => s === key || s.toLowerCase() === tone);
}
