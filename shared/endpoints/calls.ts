import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../app';
import { CallbackAuthError } from '../auth/callbackAuth';
import { jsonError, readJsonBody } from '../functions/http';
import { NotificationFormatError, parseNotificationBatch } from '../graph/notifications';
import { startAzureMonitor } from '../telemetry/azureMonitor';
import { callTelemetryEnabled } from '../telemetry/switch';

/**
 * POST /api/calls: authenticated, validated item by item, then handed to the IVR within a
 * deadline. The platform redelivers a notification answered 5xx: so bad input gets 4xx (or
 * is skipped, in a batch) and only a failure of storage or of the deadline gets 503, which
 * the ETag loop makes safe to redeliver.
 */
export async function callsHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const app = getApp();
  const log = invocationLogger(context);
  let identity;
  try {
    identity = await app.auth.verify(request.headers.get('authorization'));
  } catch (err) {
    if (err instanceof CallbackAuthError) {
      log.warn(`notification refused: ${err.reason}`);
      return jsonError(401, 'Unauthorized', err.reason, { 'WWW-Authenticate': 'Bearer' });
    }
    throw err;
  }
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  let batch;
  try {
    batch = parseNotificationBatch(body.value);
  } catch (err) {
    if (err instanceof NotificationFormatError) return jsonError(400, 'BadRequest', err.message);
    throw err;
  }
  for (const p of batch.problems)
    log.warn('notification item skipped', { index: p.index, problems: p.problems.slice(0, 5) });
  if (batch.notifications.length === 0 && batch.problems.length > 0)
    return jsonError(400, 'BadRequest', batch.problems.flatMap((p) => p.problems).join('; '));

  const source = { tenantId: identity.tenantId, contextKey: request.query.get('ctx') };
  const deadlineMs = app.settings.IVR_NOTIFICATION_DEADLINE_MS;
  const deadline = Date.now() + deadlineMs;
  const work = (async () => {
    if (!callTelemetryEnabled()) {
      const calls = app.calls(log, { deadline });
      for (const n of batch.notifications) await calls.handleNotification(n, source);
      return;
    }
    // OpenTelemetry loads only when telemetry is on.
    const [{ context: otelContext }, { NotificationTelemetry }] = await Promise.all([
      import('@opentelemetry/api'),
      import('../telemetry/callTelemetry'),
    ]);
    for (const n of batch.notifications) {
      // One span per notification, in its call's trace; the service reports what it changed.
      const telemetry = new NotificationTelemetry(n);
      const calls = app.calls(log, { deadline, observer: telemetry });
      try {
        await otelContext.with(telemetry.context, () => calls.handleNotification(n, source));
        telemetry.end();
      } catch (err) {
        telemetry.end(err as Error);
        throw err;
      }
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((done) => {
    timer = setTimeout(() => done('late'), deadlineMs);
  });
  try {
    const outcome = await Promise.race([work.then(() => 'done' as const), late]);
    if (outcome === 'late') {
      work.catch(() => undefined); // its failure is this 503
      log.error('notification not handled within its deadline; the platform will redeliver it', {
        deadlineMs,
      });
      return unavailable(`not handled within ${deadlineMs} ms`);
    }
    return { status: 202 };
  } catch (err) {
    log.error('notification failed; the platform will redeliver it', { error: (err as Error).message });
    return unavailable((err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

function unavailable(message: string): HttpResponseInit {
  return jsonError(503, 'ServiceUnavailable', message, { 'Retry-After': '1' });
}

/** The start hook: telemetry, then keys, token, flows and the call key secret before the first call, bounded to 5 s. */
export async function warmUpOnStart(): Promise<void> {
  const app = getApp();
  const timeout = new Promise<string[]>((done) =>
    setTimeout(() => done(['not finished within 5 s']), 5000).unref(),
  );
  try {
    // Telemetry first: its instrumentation must be in place before the requests it watches.
    await startAzureMonitor(app.settings).catch((err: Error) =>
      app.noteStartupProblems([`telemetry not started: ${err.message}`]),
    );
    const problems = await Promise.race([app.warmUp(), timeout]);
    app.noteStartupProblems(problems.map((p) => `warm-up: ${p}`));
  } catch (err) {
    app.noteStartupProblems([`warm-up failed: ${(err as Error).message}`]);
  }
}
