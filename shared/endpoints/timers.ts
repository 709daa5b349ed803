import type { InvocationContext, Timer } from '@azure/functions';
import { z } from 'zod';
import { getApp, invocationLogger } from '../app';
import { parseQueueMessage } from './queueMessage';

const timerMessageSchema = z.strictObject({
  clientContext: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,200}$/, 'a clientContext is 16-200 base64url characters'),
  timerId: z.string().regex(/^[A-Za-z]{1,32}-\d{1,9}$/, 'a timer id is a purpose and a number'),
});

/** Per-call timers come back here when their queue message becomes visible. */
export async function ivrTimersHandler(message: unknown, context: InvocationContext): Promise<void> {
  const log = invocationLogger(context);
  const timer = parseQueueMessage(timerMessageSchema, message, log, 'timer message');
  if (timer) await getApp().calls(log).handleTimer(timer);
}

/** keepAlive for each established call (Graph ends calls idle for 45 minutes). */
export async function keepAliveHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const log = invocationLogger(context);
  const result = await getApp().calls(log).keepAliveAll();
  log.info('keepAlive done', result);
}

/** Closes contexts of calls that ended unseen, deletes recordings past retention. */
export async function housekeepingHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const app = getApp();
  const log = invocationLogger(context);
  const swept = await app.calls(log).sweepStale(app.settings.IVR_STALE_CALL_MINUTES);
  const expired = await app.archiver(log).expire(new Date());
  log.info('housekeeping done', { staleCallsClosed: swept.closed, recordingsDeleted: expired.deleted });
}
