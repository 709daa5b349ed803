import type { InvocationContext, Timer } from '@azure/functions';
import { getApp, invocationLogger } from '../shared/app';
import { timerFunction } from '../shared/functions/registry';

/** Every 10 minutes: keepAlive for each established call (Graph ends calls idle for 45 minutes). */
export async function keepAliveHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const result = await getApp().calls(invocationLogger(context)).keepAliveAll();
  context.log(`keepAlive: ${result.kept} calls kept, ${result.closed} found gone`);
}

timerFunction('keepAlive', { schedule: '0 */10 * * * *', handler: keepAliveHandler });
