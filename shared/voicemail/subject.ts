/**
 * How a voicemail's webhook names its recording, for the outcome to find the row again. No
 * imports: the composition root registers the outcome reporter without loading the room.
 */

/** The subject kind of a voicemail's webhook: its outcome lands on the recording's row. */
export const RECORDING_SUBJECT = 'recording';

/** The webhook subject key of a recording, and back. */
export const recordingSubjectKey = (callId: string, seq: number) => `${seq}:${callId}`;
export function parseRecordingSubjectKey(key: string): { callId: string; seq: number } | null {
  const m = /^(\d{1,9}):(.+)$/.exec(key);
  return m ? { callId: m[2]!, seq: Number(m[1]) } : null;
}
