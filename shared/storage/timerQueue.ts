import type { QueueClient } from '@azure/storage-queue';
import { withTimeout } from './tables';

/**
 * Storage queues the bot writes to: per-call timers (menu waits, made visible after the
 * delay) and recording jobs. A queue-triggered function delivers each message back; nothing
 * waits in process memory, so any instance handles any message.
 */

export interface TimerMessage {
  clientContext: string;
  timerId: string;
}

export interface TimerQueue {
  schedule(message: TimerMessage, delaySeconds: number): Promise<void>;
}

/** A queue of JSON messages, base64-encoded as the Functions queue trigger expects. */
export class JsonQueue {
  private queue: Promise<QueueClient> | null = null;

  /** The Queue SDK loads on the first message, not at cold start. */
  constructor(
    private readonly connect: () => Promise<QueueClient>,
    private readonly timeoutMs: number,
  ) {}

  static fromConnectionString(connectionString: string, queueName: string, timeoutMs: number): JsonQueue {
    return JsonQueue.of(async () => {
      const { QueueClient } = await import('@azure/storage-queue');
      return new QueueClient(connectionString, queueName);
    }, timeoutMs);
  }

  /** A queue over a client made on first use; the queue is created then. */
  static of(client: () => Promise<QueueClient>, timeoutMs: number): JsonQueue {
    return new JsonQueue(async () => {
      const queue = await client();
      await withTimeout(timeoutMs, undefined, (abortSignal) => queue.createIfNotExists({ abortSignal }));
      return queue;
    }, timeoutMs);
  }

  async send(message: unknown, options: { delaySeconds?: number; ttlSeconds: number }): Promise<void> {
    this.queue ??= this.connect().catch((err) => {
      this.queue = null;
      throw err;
    });
    const client = await this.queue;
    const text = Buffer.from(JSON.stringify(message)).toString('base64');
    await withTimeout(this.timeoutMs, undefined, (abortSignal) =>
      client.sendMessage(text, {
        visibilityTimeout: options.delaySeconds ?? 0,
        messageTimeToLive: options.ttlSeconds,
        abortSignal,
      }),
    );
  }
}

export class StorageTimerQueue implements TimerQueue {
  constructor(private readonly queue: JsonQueue) {}

  async schedule(message: TimerMessage, delaySeconds: number): Promise<void> {
    await this.queue.send(message, { delaySeconds, ttlSeconds: 3600 });
  }
}
