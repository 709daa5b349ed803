/** Storage queue names: function files bind to them, and the bot writes to them. No imports: function files load this at cold start. */
export const TIMER_QUEUE = 'ivr-timers';
export const RECORDINGS_QUEUE = 'ivr-recordings';
/** http nodes' requests, run off the notification path. */
export const LOOKUPS_QUEUE = 'ivr-lookups';
/** Where the Functions host moves a message that failed its last attempt; the bot puts a failed recording job there too. */
export const RECORDINGS_POISON_QUEUE = `${RECORDINGS_QUEUE}-poison`;
/** host.json's queues.maxDequeueCount: after this many failed runs a message moves to `<queue>-poison`. */
export const MAX_DEQUEUE_COUNT = 5;
/** Signed webhook deliveries (outbound call outcomes, voicemail notices), one attempt per message. */
export const WEBHOOKS_QUEUE = 'ivr-webhooks';
export const WEBHOOKS_POISON_QUEUE = `${WEBHOOKS_QUEUE}-poison`;
/** Voicemail deliveries (mail, webhook, transcript) of stored recordings, one attempt per message. */
export const VOICEMAIL_QUEUE = 'ivr-voicemail';
export const VOICEMAIL_POISON_QUEUE = `${VOICEMAIL_QUEUE}-poison`;
