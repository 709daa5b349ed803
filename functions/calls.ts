import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../shared/app';
import { CallbackAuthError } from '../shared/auth/callbackAuth';
import { NotificationFormatError, parseNotifications } from '../shared/graph/notifications';
import { httpFunction, onAppStart } from '../shared/functions/registry';
import { readJsonBody, jsonError } from '../shared/functions/http';

/** POST /api/calls: Graph call notifications. Authenticated, validated, then handed to the IVR. */
export async function callsHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const app = getApp();
  let identity;
  try {
    identity = await app.auth.verify(request.headers.get('authorization'));
  } catch (err) {
    if (err instanceof CallbackAuthError) {
      context.warn(`notification refused: ${err.reason}`);
      return jsonError(401, 'Unauthorized', err.reason, { 'WWW-Authenticate': 'Bearer' });
    }
    throw err;
  }
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  let notifications;
  try {
    notifications = parseNotifications(body.value);
  } catch (err) {
    if (err instanceof NotificationFormatError) return jsonError(400, 'BadRequest', err.message);
    throw err;
  }
  const calls = app.calls(invocationLogger(context));
  for (const n of notifications) await calls.handleNotification(n, identity.tenantId);
  return { status: 202 };
}

// A cold instance must still answer within Graph's 15 s: fetch keys and a token before the first call.
// Bounded: an unreachable dependency must not hold the instance back; requests retry on their own.
onAppStart(async () => {
  try {
    const timeout = new Promise<string[]>((done) =>
      setTimeout(() => done(['not finished within 5 s']), 5000).unref(),
    );
    const problems = await Promise.race([getApp().warmUp(), timeout]);
    for (const p of problems) console.warn(`warm-up: ${p}`);
  } catch (err) {
    console.error(`warm-up failed: ${(err as Error).message}`);
  }
});

httpFunction('calls', { methods: ['POST'], authLevel: 'anonymous', route: 'calls', handler: callsHandler });
