import type { InvocationContext, Timer } from '@azure/functions';
import { getApp, invocationLogger } from '../shared/app';
import { timerFunction } from '../shared/functions/registry';

/** Every 5 minutes: close contexts of calls that ended unseen, delete recordings past retention. */
export async function housekeepingHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const app = getApp();
  const calls = app.calls(invocationLogger(context));
  const swept = await calls.sweepStale(app.settings.IVR_STALE_CALL_MINUTES);
  const expired = await calls.expireRecordings();
  context.log(`housekeeping: ${swept.closed} stale calls closed, ${expired.deleted} recordings deleted`);
}

timerFunction('housekeeping', { schedule: '0 */5 * * * *', handler: housekeepingHandler });
