import { QueueClient } from '@azure/storage-queue';

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
  private ready: Promise<unknown> | null = null;

  constructor(readonly client: QueueClient) {}

  static fromConnectionString(connectionString: string, queueName: string): StorageTimerQueue {
    return new StorageTimerQueue(new QueueClient(connectionString, queueName));
  }

  async schedule(message: TimerMessage, delaySeconds: number): Promise<void> {
    this.ready ??= this.client.createIfNotExists().catch((err) => {
      this.ready = null;
      throw err;
    });
    await this.ready;
    // Base64, the Functions queue trigger's default message encoding.
    const text = Buffer.from(JSON.stringify(message)).toString('base64');
    await this.client.sendMessage(text, { visibilityTimeout: delaySeconds, messageTimeToLive: 3600 });
  }
}
