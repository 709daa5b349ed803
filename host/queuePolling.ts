import type { QueueClient } from '@azure/storage-queue';
import { MAX_DEQUEUE_COUNT } from '../shared/queues';

/**
 * The local host's queue trigger: polls one queue, hands each message to its function and
 * settles it the way the Functions host does (delete, retry later, or the poison queue).
 */

/** One message for a queue function: its input as the Functions host gives it, and its trigger metadata. */
export interface QueueDelivery {
  input: unknown;
  dequeueCount: number;
  id: string;
}

export interface PolledQueue {
  /** The function's name, for log lines. */
  name: string;
  client: QueueClient;
  poison: QueueClient;
  /** Runs the function; a rejection is a failed attempt. */
  run(delivery: QueueDelivery): Promise<void>;
}

/** host.json's queues.batchSize. */
const BATCH_SIZE = 16;
/** How long a received message stays invisible while its function runs (seconds). */
const RUN_VISIBILITY_S = 30;
/** The wait after a failed poll (storage away). */
const POLL_FAILED_WAIT_MS = 500;

/** A queue function's input as the Functions host hands it over: JSON when it parses, else the text. */
export function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export interface PollingPace {
  /** host.json's queues.maxPollingInterval: the longest wait between polls of an empty queue. */
  maxPollingMs: number;
  /** host.json's queues.visibilityTimeout: the wait before a failed message's next attempt (whole seconds). */
  retryVisibilityS: number;
}

/** Starts polling; the returned function stops it once the batch in hand is settled. */
export function pollQueue(
  queue: PolledQueue,
  pace: PollingPace,
  log: (line: string) => void,
): () => Promise<void> {
  const { name, client, poison } = queue;
  let stopped = false;
  let idleWait = 0;
  const settle = async (m: {
    messageId: string;
    popReceipt: string;
    messageText: string;
    dequeueCount: number;
  }) => {
    try {
      const input = jsonOrText(Buffer.from(m.messageText, 'base64').toString('utf8'));
      await queue.run({ input, dequeueCount: m.dequeueCount, id: m.messageId });
      await client.deleteMessage(m.messageId, m.popReceipt);
    } catch (err) {
      log(`[${name}] failed (attempt ${m.dequeueCount}): ${(err as Error).message}`);
      if (m.dequeueCount >= MAX_DEQUEUE_COUNT) {
        // As the Functions host does: the message moves to the poison queue.
        await poison.createIfNotExists().catch(() => undefined);
        await poison.sendMessage(m.messageText).catch(() => undefined);
        await client.deleteMessage(m.messageId, m.popReceipt).catch(() => undefined);
      } else {
        await client
          .updateMessage(m.messageId, m.popReceipt, undefined, pace.retryVisibilityS)
          .catch(() => undefined);
      }
    }
  };
  const loop = (async () => {
    await client.createIfNotExists().catch(() => undefined);
    while (!stopped) {
      try {
        const { receivedMessageItems } = await client.receiveMessages({
          numberOfMessages: BATCH_SIZE,
          visibilityTimeout: RUN_VISIBILITY_S,
        });
        await Promise.all(receivedMessageItems.map(settle));
        // As the Functions host does: an empty queue is polled less and less often, up to
        // host.json's queues.maxPollingInterval; a message brings the pace back at once.
        idleWait = receivedMessageItems.length === 0 ? Math.min(pace.maxPollingMs, idleWait * 2 || 50) : 0;
        if (idleWait > 0) await new Promise((r) => setTimeout(r, idleWait));
      } catch (err) {
        if (!stopped) log(`[${name}] queue poll failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, POLL_FAILED_WAIT_MS));
      }
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}
