import type { FlowFile } from '../flows/schema';
import type { VoicemailJob } from './job';

/** The delivery job a stored recording gets from its flow, or null when the flow delivers nothing. */
export function voicemailJobFor(flow: FlowFile, callId: string, seq: number): VoicemailJob | null {
  const { deliver, transcribe, timeZone } = flow.recordings;
  if (!deliver) return null;
  return {
    callId,
    seq,
    deliver,
    transcribe: transcribe ?? null,
    // The number's own time zone: the one set for messages, else its (first) schedule's.
    timeZone: timeZone ?? Object.values(flow.schedules)[0]?.timeZone ?? 'UTC',
    attempt: 1,
  };
}
