/**
 * Bounds on what the platform sends before any of it reaches storage, logs or a table key.
 * Lengths count UTF-16 code units (String.length).
 */

/** Call ids, operation ids, clientContext: they become Azure Table keys (`i_<callId>`, `c_<clientContext>`). */
export const MAX_ID_LENGTH = 256;
/** resourceUrl of one notification; it is logged for resources the IVR does not handle. */
export const MAX_RESOURCE_URL_LENGTH = 2048;
/** resultInfo.message is kept in the call context and record: longer ones are truncated. */
export const MAX_RESULT_MESSAGE_LENGTH = 512;
/** completionReason of an operation: longer ones are truncated. */
export const MAX_COMPLETION_REASON_LENGTH = 64;
/** A user or application (instance) id longer than this is treated as unknown. */
export const MAX_IDENTITY_ID_LENGTH = 128;
/** Nothing callerOf or calledIdentities returns is longer than this. */
export const MAX_IDENTITY_LENGTH = 160;
/** recordingLocation of a recordResponse: longer is an item problem. */
export const MAX_RECORDING_LOCATION_LENGTH = 2048;
/** recordingAccessToken of a recordResponse: longer is an item problem. */
export const MAX_RECORDING_TOKEN_LENGTH = 8192;

export const SAFE_ID_RULE = `must be 1-${MAX_ID_LENGTH} characters of well-formed Unicode, without control characters or / \\ # ?`;

// In a `u` regex a valid surrogate pair is one code point, so \p{Cs} matches only lone surrogates.
// \p{Cc} is U+0000-U+001F and U+007F-U+009F, the control characters Azure Table keys refuse, with / \ # ?.
const UNSAFE = /[\p{Cs}\p{Cc}/\\#?]/u;

/** True when `value` can be a Table key part and a log field as is: see SAFE_ID_RULE. */
export function isSafeId(value: string, maxLength: number = MAX_ID_LENGTH): boolean {
  return value.length >= 1 && value.length <= maxLength && !UNSAFE.test(value);
}

/** decodeURIComponent that answers null instead of throwing URIError on a malformed escape. */
export function safeDecodeURIComponent(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

/** At most `max` code units, never ending in half a surrogate pair. */
export function truncate(value: string, max: number): string {
  if (value.length <= max) return value;
  const cut = value.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}
