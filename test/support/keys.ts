import { createHmac } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';

/**
 * The context key the bot should have used for a call id, computed here from the secret row
 * and the documented rule (HMAC-SHA256 of the call id, base64url), not with the production
 * code: a change to the key scheme must fail the tests that rely on it.
 */
export async function expectedContextKey(table: TableClient, callId: string): Promise<string | null> {
  let secret: string;
  try {
    secret = (await table.getEntity<{ secret: string }>('meta', 'callKeySecret')).secret;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return null;
    throw err;
  }
  return createHmac('sha256', Buffer.from(secret, 'base64')).update(callId, 'utf8').digest('base64url');
}
