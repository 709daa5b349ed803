import type { TableClient } from '@azure/data-tables';
import type { LimitDecision, NumberLimits, OutboundLimits } from '../ivr/callService';
import { safeKey } from '../storage/callStore';
import { isStatus, withTimeout, type TableConnector } from '../storage/tables';

/**
 * The protections of a number's outbound calls, in one Table row per number written only
 * with its ETag, so two instances never both take the last slot or the last share of the
 * rate: a list of slots (one per call in progress) and a rate kept as GCRA's single
 * "theoretical arrival time" (at most N calls in any minute, then one every 60/N seconds).
 */

const WINDOW_MS = 60_000;
/** What a refused caller is told to wait at the concurrency cap: calls end at their own pace. */
export const CONCURRENCY_RETRY_AFTER_SECONDS = 30;
/** A slot this young is kept without looking at its call: the call's context may not be stored yet. */
export const SLOT_GRACE_MS = 60_000;
const ROW = 'outboundLimits';
const MAX_CONFLICT_RETRIES = 8;

export interface Slot {
  key: string;
  /** Epoch ms when it was taken. */
  at: number;
}

export interface LimitState {
  /** GCRA: when the rate would be back to empty (epoch ms); 0 for a number never used. */
  tat: number;
  slots: Slot[];
}

/** One more call at `now` within `perMinute`: the new arrival time, or how long to wait. */
export function takeRate(
  tat: number,
  now: number,
  perMinute: number,
): { ok: true; tat: number } | { ok: false; retryAfterSeconds: number } {
  const next = Math.max(tat, now) + WINDOW_MS / perMinute;
  if (next - now > WINDOW_MS)
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((next - WINDOW_MS - now) / 1000)) };
  return { ok: true, tat: next };
}

interface LimitEntity {
  partitionKey: string;
  rowKey: string;
  tat: number;
  /** Slots as JSON: at most 200 of them, well inside a string property. */
  slots: string;
}

export class TableOutboundLimits implements OutboundLimits {
  constructor(
    private readonly tables: TableConnector,
    private readonly timeoutMs: number,
  ) {}

  private op<T>(run: (c: TableClient, signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.tables.run((c) => withTimeout(this.timeoutMs, undefined, (s) => run(c, s)));
  }

  private partition(number: string): string {
    return `n_${safeKey(number)}`;
  }

  private async read(number: string): Promise<{ state: LimitState; etag: string | null }> {
    try {
      const e = await this.op((c, abortSignal) =>
        c.getEntity<LimitEntity>(this.partition(number), ROW, { abortSignal }),
      );
      return { state: { tat: Number(e.tat) || 0, slots: parseSlots(e.slots) }, etag: e.etag };
    } catch (err) {
      if (isStatus(err, 404)) return { state: { tat: 0, slots: [] }, etag: null };
      throw err;
    }
  }

  /** Inserts (etag null) or replaces conditionally; false when someone else wrote first. */
  private async write(number: string, state: LimitState, etag: string | null): Promise<boolean> {
    const entity: LimitEntity = {
      partitionKey: this.partition(number),
      rowKey: ROW,
      tat: state.tat,
      slots: JSON.stringify(state.slots),
    };
    try {
      if (etag === null) await this.op((c, abortSignal) => c.createEntity(entity, { abortSignal }));
      else await this.op((c, abortSignal) => c.updateEntity(entity, 'Replace', { etag, abortSignal }));
      return true;
    } catch (err) {
      if (isStatus(err, 409) || isStatus(err, 412) || isStatus(err, 404)) return false;
      throw err;
    }
  }

  async acquire(
    number: string,
    clientContext: string,
    limits: NumberLimits,
    now: Date,
    inProgress: (clientContext: string) => Promise<boolean>,
  ): Promise<LimitDecision> {
    const t = now.getTime();
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const { state, etag } = await this.read(number);
      let slots = state.slots;
      if (slots.length >= limits.maxConcurrentCalls) {
        // At the cap: slots of calls that are over (a release that never came) are taken back.
        const live = await Promise.all(slots.map((s) => t - s.at < SLOT_GRACE_MS || inProgress(s.key)));
        slots = slots.filter((_, i) => live[i]);
      }
      if (slots.length >= limits.maxConcurrentCalls)
        return {
          ok: false,
          rule: 'maxConcurrentCalls',
          retryAfterSeconds: CONCURRENCY_RETRY_AFTER_SECONDS,
          message: `maxConcurrentCalls: ${number} already has ${slots.length} outbound calls in progress (outbound.limits.maxConcurrentCalls)`,
        };
      const rate = takeRate(state.tat, t, limits.maxCallsPerMinute);
      if (!rate.ok)
        return {
          ok: false,
          rule: 'maxCallsPerMinute',
          retryAfterSeconds: rate.retryAfterSeconds,
          message: `maxCallsPerMinute: ${number} may place ${limits.maxCallsPerMinute} outbound calls a minute (outbound.limits.maxCallsPerMinute); retry after ${rate.retryAfterSeconds} s`,
        };
      if (await this.write(number, { tat: rate.tat, slots: [...slots, { key: clientContext, at: t }] }, etag))
        return { ok: true };
    }
    throw new Error(`the outbound limits of ${number} kept changing`);
  }

  async release(number: string, clientContext: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const { state, etag } = await this.read(number);
      if (etag === null || !state.slots.some((s) => s.key === clientContext)) return;
      const slots = state.slots.filter((s) => s.key !== clientContext);
      if (await this.write(number, { ...state, slots }, etag)) return;
    }
    throw new Error(`the outbound limits of ${number} kept changing`);
  }
}

function parseSlots(raw: unknown): Slot[] {
  try {
    const value = JSON.parse(typeof raw === 'string' ? raw : '[]') as unknown;
    return Array.isArray(value)
      ? value.filter(
          (s): s is Slot =>
            typeof (s as Slot | null)?.key === 'string' && typeof (s as Slot | null)?.at === 'number',
        )
      : [];
  } catch {
    return [];
  }
}
