import type { QueueClient } from '@azure/storage-queue';

/**
 * Per-call timers (menu no-input and inter-digit waits) as storage-queue messages made
 * visible after the delay; a queue-triggered function delivers them back to the engine.
 * Nothing waits in process memory, so any instance can fire any timer.
 */

export interface TimerMessage {
  clientContext: string;
  timerId: string;
}

export interface TimerQueue {
  schedule(message: TimerMessage, delaySeconds: number): Promise<void>;
}

export class StorageTimerQueue implements TimerQueue {
  private queue: Promise<QueueClient> | null = null;

  /** The Queue SDK loads on the first timer, not at cold start. */
  constructor(private readonly connect: () => Promise<QueueClient>) {}

  static fromConnectionString(connectionString: string, queueName: string): StorageTimerQueue {
    return new StorageTimerQueue(async () => {
      const { QueueClient } = await import('@azure/storage-queue');
      const client = new QueueClient(connectionString, queueName);
      await client.createIfNotExists();
      return client;
    });
  }

  async schedule(message: TimerMessage, delaySeconds: number): Promise<void> {
    this.queue ??= this.connect().catch((err) => {
      this.queue = null;
      throw err;
    });
    const client = await this.queue;
    // Base64, the Functions queue trigger's default message encoding.
    const text = Buffer.from(JSON.stringify(message)).toString('base64');
    await client.sendMessage(text, { visibilityTimeout: delaySeconds, messageTimeToLive: 3600 });
  }
}
