/**
 * resultInfo values the simulator reports. Codes marked (doc) come from Microsoft's
 * documentation; the others are the simulator's own choices, picked to be distinct so a
 * bot can tell the cases apart. Bots should branch on `completionReason` / call state
 * rather than on the simulator-chosen subcodes.
 */
export interface ResultInfo {
  code: number;
  subcode: number;
  message: string;
}

const r = (code: number, subcode: number, message: string): ResultInfo => ({ code, subcode, message });

export const CALL_RESULTS = {
  /** (doc) The bot DELETEd the call. */
  endedByApp: r(200, 7000, 'The call was ended by the application.'),
  /** (doc) The PSTN caller (or callee) hung up. */
  remoteHungUp: r(200, 540000, 'The call was ended by the remote party.'),
  /** (doc) Not answered, rejected or redirected within 15 s. */
  notAnsweredInTime: r(408, 1106, 'The incoming call was not answered, rejected or redirected in time.'),
  /** (doc) No keepAlive for 45 minutes. */
  keepAliveLapsed: r(408, 8537, 'No keepAlive was received in time; the call was cleaned up.'),
  /** (doc) Transfer completed: the bot's leg ends. */
  transferred: r(0, 7015, 'The call was transferred.'),
  /** (doc) Transfer failed: the call stays established. */
  transferFailed: (why: string) => r(500, 7000, `Transfer failed: ${why}.`),
  /** Redirect answered by a target: the bot's leg ends (sim choice: 200 / 0). */
  redirected: (target: string) => r(200, 0, `The call was redirected and answered by ${target}.`),
  /** No redirect target answered before the redirect timeout (sim choice: 408 / 0). */
  redirectTimedOut: (seconds: number) => r(408, 0, `No redirect target answered within ${seconds} s.`),
  /** Every target was busy (redirect or outbound call; SIP 486, sim subcode 0). */
  busy: r(486, 0, 'Busy here.'),
  /** A Teams user declined the outbound call (SIP 603, sim subcode 0). */
  declined: r(603, 0, 'Declined: the callee rejected the call.'),
  /** (doc) Outbound callee never answered (SIP 480, sim subcode 0). */
  noAnswer: r(480, 0, 'Temporarily unavailable: the callee did not answer.'),
  /** reject reasons (SIP-like codes, sim choice). */
  rejected: {
    none: r(603, 0, 'The call was declined by the application.'),
    busy: r(486, 0, 'The application rejected the call as busy.'),
    forbidden: r(403, 0, 'The application rejected the call as forbidden.'),
  },
} as const;

export type CompletionReason =
  | 'stopToneDetected'
  | 'maxRecordDurationReached'
  | 'initialSilenceTimeout'
  | 'maxSilenceTimeout'
  | 'operationCanceled';

export const OPERATION_RESULTS = {
  /** A synchronous operation (subscribeToTone, cancelMediaProcessing). */
  completedAtOnce: r(200, 0, 'Action completed.'),
  promptPlayed: r(200, 0, 'Action completed, prompt finished playing.'),
  /** (doc) cancelMediaProcessing or a barge-in cancelled the operation. */
  canceled: r(400, 8508, 'Action failed, the operation was cancelled.'),
  record: {
    stopToneDetected: r(200, 8514, 'Action completed, stop tone detected.'),
    /** (doc) */
    maxRecordDurationReached: r(200, 8515, 'Action completed, max record duration reached.'),
    initialSilenceTimeout: r(200, 8510, 'Action completed, initial silence timeout reached.'),
    maxSilenceTimeout: r(200, 8511, 'Action completed, max silence timeout reached.'),
  },
} as const;
