import { z } from 'zod';
import { voicemailDeliverySchema } from '../flows/schema';

/**
 * A voicemail delivery job on `ivr-voicemail`: queued once a recording is stored, when its
 * number's flow says to deliver. It carries what the flow said at the time (so a later edit
 * does not change a message already left); the recording's row holds everything else.
 */

/** Attempts in all, and the wait before each retry (seconds): about 45 minutes end to end. */
export const VOICEMAIL_ATTEMPTS = 5;
export const VOICEMAIL_RETRY_DELAYS_SECONDS = [30, 120, 600, 1800] as const;

export const voicemailJobSchema = z.strictObject({
  callId: z.string().min(1).max(256),
  seq: z.number().int().min(0),
  deliver: voicemailDeliverySchema,
  transcribe: z.strictObject({ language: z.string().min(2).max(16) }).nullable(),
  timeZone: z.string().min(1).max(64),
  attempt: z.number().int().min(1).max(VOICEMAIL_ATTEMPTS),
  /** An operator's replay (from the poison queue): channels that failed are tried again. */
  replay: z.boolean().optional(),
});
export type VoicemailJob = z.infer<typeof voicemailJobSchema>;
