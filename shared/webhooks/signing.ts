import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, as Stripe and Twilio sign theirs: HMAC-SHA256 with a shared secret over
 * `<timestamp>.<body>`, the timestamp (Unix seconds) and the signature in headers. The
 * timestamp is signed so a captured delivery cannot be replayed later; the delivery id lets a
 * receiver drop a retry it already took.
 */

export const WEBHOOK_HEADERS = {
  /** The same for every attempt of one delivery: the receiver's de-duplication key. */
  id: 'x-ivr-delivery-id',
  event: 'x-ivr-event',
  timestamp: 'x-ivr-timestamp',
  /** `v1=<hex>`; several comma-separated while secrets are rotated. */
  signature: 'x-ivr-signature',
} as const;

/** How old a delivery's timestamp may be for `verifyWebhook` by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The `v1=<hex>` signature of a body sent at `timestamp` (Unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface ReceivedWebhook {
  body: string;
  /** The x-ivr-timestamp header. */
  timestamp: string | undefined | null;
  /** The x-ivr-signature header. */
  signature: string | undefined | null;
}

/**
 * What a receiver runs (and the simulator and tests): why the delivery is not genuine, or
 * null when it is. Any of `secrets` may have signed it (rotation).
 */
export function webhookProblem(
  received: ReceivedWebhook,
  secrets: readonly string[],
  nowSeconds: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): string | null {
  const { timestamp, signature, body } = received;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return 'no valid timestamp header';
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds)
    return `timestamp is more than ${toleranceSeconds} s away from now`;
  const offered = (signature ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => /^v1=[0-9a-f]{64}$/.test(s));
  if (offered.length === 0) return 'no v1 signature';
  for (const secret of secrets) {
    const expected = Buffer.from(signWebhook(secret, Number(timestamp), body));
    if (offered.some((s) => timingSafeEqual(Buffer.from(s), expected))) return null;
  }
  return 'signature does not match';
}
