import type { Logger } from '../logging';
import {
  WEBHOOK_MAX_BODY_CHARS,
  webhookBody,
  type WebhookJob,
  type WebhookOutcome,
  type WebhookSubject,
} from './delivery';
import { webhookUrlProblem } from '../net/webhookUrl';

/** A queue that takes JSON messages (storage/timerQueue's JsonQueue). */
export interface MessageQueue {
  send(message: unknown, options: { delaySeconds?: number; ttlSeconds: number }): Promise<void>;
}

/** Tells a subject (an outbound call, a recording...) how its delivery ended. */
export type WebhookReporter = (
  subject: WebhookSubject,
  outcome: WebhookOutcome,
  log: Logger,
) => Promise<void>;

export class WebhookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookError';
  }
}

export interface NewDelivery {
  /** Stable for one event (the outbound call's id, the recording's id...): a re-run sends the same id. */
  id: string;
  event: string;
  url: string;
  data: unknown;
  subject?: WebhookSubject;
  createdAt: string;
}

// Longer than the last retry (2 h) plus the host's own retries.
const TTL_SECONDS = 24 * 3600;

/** Queues webhook deliveries and routes their outcomes; the `webhooks` queue function sends them. */
export class Webhooks {
  private readonly reporters = new Map<string, WebhookReporter>();

  constructor(
    private readonly queue: MessageQueue,
    private readonly poisonQueue: MessageQueue,
    private readonly allowLoopback: boolean,
  ) {}

  /** Who hears the outcome of deliveries whose subject is of this kind. */
  onOutcome(kind: string, reporter: WebhookReporter): void {
    this.reporters.set(kind, reporter);
  }

  /** Queues the first attempt. Throws WebhookError for a URL or body that can never be sent. */
  async send(delivery: NewDelivery): Promise<WebhookJob> {
    const problem = webhookUrlProblem(delivery.url, this.allowLoopback);
    if (problem) throw new WebhookError(`callbackUrl ${problem}`);
    const body = webhookBody(delivery.id, delivery.event, delivery.createdAt, delivery.data);
    if (body.length > WEBHOOK_MAX_BODY_CHARS)
      throw new WebhookError(`webhook body is ${body.length} characters, over ${WEBHOOK_MAX_BODY_CHARS}`);
    const job: WebhookJob = {
      id: delivery.id,
      event: delivery.event,
      url: delivery.url,
      body,
      attempt: 1,
      ...(delivery.subject ? { subject: delivery.subject } : {}),
    };
    await this.queue.send(job, { ttlSeconds: TTL_SECONDS });
    return job;
  }

  retry(job: WebhookJob, delaySeconds: number): Promise<void> {
    return this.queue.send(job, { delaySeconds, ttlSeconds: TTL_SECONDS });
  }

  /** Kept a week where the Functions host keeps poison messages, for an operator to replay. */
  poison(job: WebhookJob, reason: string): Promise<void> {
    return this.poisonQueue.send({ ...job, reason }, { ttlSeconds: 7 * 86_400 });
  }

  async report(job: WebhookJob, outcome: WebhookOutcome, log: Logger): Promise<void> {
    if (!job.subject) return;
    const reporter = this.reporters.get(job.subject.kind);
    if (!reporter) return log.warn('no one takes webhook outcomes of this kind', { kind: job.subject.kind });
    await reporter(job.subject, outcome, log);
  }
}
