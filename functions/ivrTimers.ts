import type { InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { getApp, invocationLogger, TIMER_QUEUE } from '../shared/app';
import { queueFunction } from '../shared/functions/registry';

const timerMessageSchema = z.strictObject({
  clientContext: z.string().min(16).max(200),
  timerId: z.string().min(1).max(64),
});

/** Per-call timers (menu waits) come back here when their queue message becomes visible. */
export async function ivrTimersHandler(message: unknown, context: InvocationContext): Promise<void> {
  const parsed = timerMessageSchema.safeParse(typeof message === 'string' ? safeJson(message) : message);
  if (!parsed.success) {
    // A malformed message can never succeed: drop it rather than let it poison the queue.
    context.error(`ignored malformed timer message: ${parsed.error.message}`);
    return;
  }
  await getApp().calls(invocationLogger(context)).handleTimer(parsed.data);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

queueFunction('ivrTimers', {
  queueName: TIMER_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: ivrTimersHandler,
});
