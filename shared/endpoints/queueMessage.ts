import type { z } from 'zod';
import type { Logger } from '../logging';

/**
 * A queue message as its schema says, or null after one error line naming what is wrong. A
 * malformed message can never succeed, so the caller drops it rather than let the host retry
 * it into the poison queue. The trigger hands over a string or the JSON it already parsed.
 */
export function parseQueueMessage<S extends z.ZodType>(
  schema: S,
  message: unknown,
  log: Logger,
  what: string,
): z.infer<S> | null {
  const parsed = schema.safeParse(typeof message === 'string' ? safeJson(message) : message);
  if (parsed.success) return parsed.data;
  log.error(`ignored malformed ${what}`, {
    problems: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`),
  });
  return null;
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
