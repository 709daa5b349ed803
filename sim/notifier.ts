import type { SimClock, SimTimer } from './clock';
import type { Faults } from './faults';
import type { Signer } from './signing';

export type ChangeType = 'created' | 'updated' | 'deleted';

export interface CommsNotification {
  '@odata.type': '#microsoft.graph.commsNotification';
  changeType: ChangeType;
  resourceUrl: string;
  resourceData: Record<string, unknown>;
}

export interface CommsNotifications {
  '@odata.type': '#microsoft.graph.commsNotifications';
  value: CommsNotification[];
}

export interface NotificationRecord {
  seq: number;
  /** Simulated seconds since the simulator started, when the POST completed. */
  time: number;
  callId: string;
  url: string;
  body: CommsNotifications;
  /** HTTP status the bot answered; 0 when the POST failed (connection refused, timeout). */
  status: number;
  error?: string;
  /** Set on the second copy of a duplicated notification. */
  duplicate?: true;
  /** Set when the notification was held back and delivered after a later one. */
  reordered?: true;
}

/**
 * A held-back notification is released after this long if the call sends nothing else
 * (longer than establishing → established, so that pair can swap).
 */
const REORDER_HOLD_SIM_SECONDS = 1;
const POST_TIMEOUT_MS = 10_000;

interface Pending {
  url: string;
  notification: CommsNotification;
  copies: 1 | 2;
  delayMs: number;
  reordered?: true;
  /** Called once every copy has been POSTed. */
  delivered: () => void;
}

/**
 * Delivers notifications to the bot: one POST per notification, signed, in order per call
 * (one call's POSTs never overlap), with the run's notification faults applied.
 */
export class Notifier {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly held = new Map<string, { pending: Pending; timer: SimTimer }>();
  private seq = 0;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly deps: {
      clock: SimClock;
      signer: Signer;
      faults: Faults;
      audience: string;
      tenantId: string;
      onDelivered(record: NotificationRecord): void;
    },
  ) {}

  /** Queues a notification; the promise settles once it has been POSTed (whatever the bot answered). */
  send(callId: string, url: string, notification: CommsNotification): Promise<void> {
    const plan = this.deps.faults.forNotification();
    let delivered!: () => void;
    const done = new Promise<void>((resolve) => (delivered = resolve));
    const pending: Pending = { url, notification, copies: plan.copies, delayMs: plan.delayMs, delivered };
    const held = this.held.get(callId);
    if (held) {
      // The held one goes after this one: that is the reordering.
      held.timer.cancel();
      this.held.delete(callId);
      this.enqueue(callId, pending);
      this.enqueue(callId, { ...held.pending, reordered: true });
    } else if (plan.hold) {
      const timer = this.deps.clock.at(this.deps.clock.now() + REORDER_HOLD_SIM_SECONDS, () => {
        this.held.delete(callId);
        this.enqueue(callId, pending);
      });
      this.held.set(callId, { pending, timer });
    } else {
      this.enqueue(callId, pending);
    }
    return done;
  }

  /** Resolves when every notification queued so far has been delivered (held ones are released first). */
  idle(): Promise<void> {
    for (const [callId, held] of this.held) {
      held.timer.cancel();
      this.held.delete(callId);
      this.enqueue(callId, held.pending);
    }
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(callId: string, p: Pending): void {
    this.inFlight++;
    const previous = this.chains.get(callId) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        if (p.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, p.delayMs));
        await this.post(callId, p, false);
        if (p.copies === 2) await this.post(callId, p, true);
      } finally {
        p.delivered();
        if (--this.inFlight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
      }
    });
    this.chains.set(callId, next);
  }

  private async post(callId: string, p: Pending, duplicate: boolean): Promise<void> {
    const body: CommsNotifications = {
      '@odata.type': '#microsoft.graph.commsNotifications',
      value: [p.notification],
    };
    let status = 0;
    let error: string | undefined;
    try {
      const res = await fetch(p.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${this.deps.signer.callbackToken(this.deps.audience, this.deps.tenantId)}`,
        },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch (e) {
      error =
        e instanceof Error
          ? `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}`
          : String(e);
    }
    this.deps.onDelivered({
      seq: ++this.seq,
      time: this.deps.clock.now(),
      callId,
      url: p.url,
      body,
      status,
      ...(error ? { error } : {}),
      ...(duplicate ? { duplicate: true as const } : {}),
      ...(p.reordered ? { reordered: true as const } : {}),
    });
  }
}
