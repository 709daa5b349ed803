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
  /**
   * `scale` (IVR_TEST_TIMER_SCALE, tests and dev only) shortens menu waits to match the
   * simulator's time scale; `onLostTimer` hears of a scaled timer whose message could not be sent.
   */
  constructor(
    private readonly queue: JsonQueue,
    private readonly scale = 1,
    private readonly onLostTimer: (err: Error) => void = () => undefined,
  ) {}

  async schedule(message: TimerMessage, delaySeconds: number): Promise<void> {
    // Only menu and redial waits scale (the simulator's callers and ring times follow its clock):
    // a recording's grace period waits for the platform.
    if (this.scale === 1 || !/^(noInput|interDigit|redial)-/.test(message.timerId))
      // A message must not expire before it is due (a redial may wait up to an hour).
      return this.queue.send(message, { delaySeconds, ttlSeconds: delaySeconds + 3600 });
    // A queue delay is whole seconds, too coarse once scaled: the wait is held here and the
    // message sent visible when due. Test and dev only: such a timer dies with the process.
    setTimeout(
      () => {
        this.queue.send(message, { ttlSeconds: 3600 }).catch((err: Error) => this.onLostTimer(err));
      },
      delaySeconds * this.scale * 1000,
    );
  }
}
