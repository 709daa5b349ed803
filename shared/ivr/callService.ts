import { randomBytes } from 'node:crypto';
import type { FlowCatalog, LoadedFlow } from '../flows/loader';
import { GraphError, type GraphClient } from '../graph/graphClient';
import { calledIdentities, callerOf, type ParsedNotification } from '../graph/notifications';
import { operationResourceSchema, type CallResource, type OperationResource } from '../graph/schemas';
import type { Logger } from '../logging';
import { ConflictError, type CallStore, type Versioned } from '../storage/callStore';
import {
  callRecordOf,
  partiesOf,
  type CallRecord,
  type RecordingMeta,
  type RecordStore,
} from '../storage/recordStore';
import type { TimerMessage, TimerQueue } from '../storage/timerQueue';
import { parseOperationContext, type CallContext } from './context';
import {
  decideIncomingCall,
  placeOutboundCall,
  runsBeforeCommit,
  stepAll,
  type Command,
  type IvrEvent,
} from './engine';
import type { LookupAnswer, LookupRequest } from './lookup';
import {
  destinationAllowed,
  OUTBOUND_WEBHOOK_SUBJECT,
  type OutboundAttempt,
  type OutboundOutcome,
  type OutboundTarget,
  type OutboundWebhookStatus,
} from './outbound';
import { OUTBOUND_LIMIT_DEFAULTS } from '../flows/schema';
import type { RecordingJob } from './recordingArchiver';

/**
 * The imperative shell around the engine, per notification: one point read of the call's
 * context, every event of the notification applied in one step, one write conditional on
 * the ETag (a conflict is re-read and re-decided), then the commands. Only the instance
 * whose write won sends the Graph requests, so a redelivered or concurrent notification
 * never sends one twice. Queue messages (timers, recording jobs) are sent before the write:
 * if one cannot be sent nothing is stored, the notification fails and its redelivery tries
 * again, so a caller is never left waiting on a timer that was never set.
 */

export type { Logger } from '../logging';

/**
 * What telemetry (or anything else) may watch of a call, without the shell knowing who
 * watches: the telemetry room implements it, the shell only calls it.
 */
export interface CallObserver {
  /** A notification changed a call; `before` is null for a call just decided. */
  changed(before: CallContext | null, after: CallContext): void;
  /** A storage or Graph request of the call finished, at these epoch-ms times, or failed. */
  request(
    kind: 'storage' | 'graph',
    name: string,
    startedAt: number,
    endedAt: number,
    failure?: { status?: number; code?: string },
  ): void;
}

export interface RecordingJobQueue {
  enqueue(job: RecordingJob, delaySeconds?: number): Promise<void>;
}

/** What the lookup queue carries: an http node's request and where its result goes. */
export interface LookupMessage {
  clientContext: string;
  seq: number;
  callId: string | null;
  node: string;
  request: LookupRequest;
}

export interface LookupQueue {
  enqueue(message: LookupMessage): Promise<void>;
}

/** Where outcome webhooks are queued (the webhooks room's outbox); send throws for a URL that can never be used. */
export interface OutcomeWebhooks {
  send(delivery: {
    id: string;
    event: string;
    url: string;
    data: unknown;
    subject: { kind: string; key: string };
    createdAt: string;
  }): Promise<unknown>;
}

/** What a webhook delivery came to, as the webhooks queue reports it. */
export interface WebhookDeliveryOutcome {
  deliveryId: string;
  status: 'delivered' | 'failed';
  attempts: number;
  at: string;
  httpStatus?: number;
  reason?: string;
}

export interface NumberLimits {
  maxConcurrentCalls: number;
  maxCallsPerMinute: number;
}

export type LimitDecision =
  { ok: true } | { ok: false; rule: keyof NumberLimits; retryAfterSeconds: number; message: string };

/**
 * The protections of a number's outbound calls, held in shared storage so they hold across
 * instances: a slot per call in progress and a rate of new calls.
 */
export interface OutboundLimits {
  /** Takes a slot and a share of the rate for a new call, or names the rule that refuses it. */
  acquire(
    number: string,
    clientContext: string,
    limits: NumberLimits,
    now: Date,
    /** Whether a call holding a slot is still in progress (slots of ended calls are taken back). */
    inProgress: (clientContext: string) => Promise<boolean>,
  ): Promise<LimitDecision>;
  /** Gives the slot back when the call is over (or was never placed). */
  release(number: string, clientContext: string): Promise<void>;
}

export interface CallServiceDeps {
  store: CallStore;
  records: RecordStore;
  timers: TimerQueue;
  recordingJobs: RecordingJobQueue;
  /** Where http nodes' requests go (flows without http nodes never use it). */
  lookups?: LookupQueue;
  graph: GraphClient;
  /** The current flows: a promise only while the process has none cached yet. */
  flows: () => FlowCatalog | Promise<FlowCatalog>;
  /**
   * The exact flow a call started with (a stored version, or a file's flow when `version` is
   * absent); without it, the catalogue's flow of that id.
   */
  flowVersion?: (id: string, version: number | undefined) => LoadedFlow | null | Promise<LoadedFlow | null>;
  callbackUri: string;
  unconfiguredRejectReason: 'none' | 'busy' | 'forbidden';
  defaultFlowId?: string;
  /** Tenant outbound calls are placed in. */
  tenantId?: string;
  log: Logger;
  now?: () => Date;
  /** When the notification's time is up (epoch ms): storage requests are cut there. */
  deadline?: number;
  observer?: CallObserver;
  /** Waits between checks of an uncertain write (tests pass their own). */
  sleep?: (ms: number) => Promise<void>;
  /** Outcome webhooks of outbound calls; without it none is queued. */
  webhooks?: OutcomeWebhooks;
  /** Per-number protections of outbound calls; without them none apply. */
  limits?: OutboundLimits;
}

/** Who sent a notification, from its verified token, and where it was sent. */
export interface NotificationSource {
  /** The `tid` claim of the callback token. */
  tenantId: string;
  /** The `ctx` of the callback address: an outbound call's context key. */
  contextKey?: string | null;
}

const MAX_CONFLICT_RETRIES = 8;
/** Waits for a context to reach a lookup's seq (its queueing write still on its way). */
const LOOKUP_STORED_CHECKS_MS = [50, 100, 200, 400, 800, 1600];
/** When to look again after a write whose outcome storage never told. */
const UNCERTAIN_WRITE_CHECKS_MS = [500, 1000, 2000, 4000, 8000, 15_000, 30_000];

/** Unique per write without a random draw each time: a per-process prefix and a counter. */
const WRITER = randomBytes(6).toString('base64url');
let writes = 0;
function newWriteId(): string {
  return `${WRITER}.${(++writes).toString(36)}`;
}
const CONTEXT_KEY = /^[A-Za-z0-9_-]{43}$/;

export function mintClientContext(): string {
  // 256 bits, base64url: unguessable, 43 characters, safe in table keys.
  return randomBytes(32).toString('base64url');
}

export function isContextKey(value: string | null | undefined): value is string {
  return typeof value === 'string' && CONTEXT_KEY.test(value);
}

interface Guard {
  /** The call id the event is about: it must be the context's (or become it, with link). */
  callId?: string;
  /** The tenant of the notification's token: it must be the call's. */
  tenantId?: string;
  /** Take callId as the context's call id if it has none yet (an outbound call's first notifications). */
  link?: boolean;
}

export class CallService {
  private readonly now: () => Date;

  constructor(private readonly deps: CallServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private get log() {
    return this.deps.log;
  }

  private at(): string {
    return this.now().toISOString();
  }

  /** Awaits only when there is something to wait for: the hot path stays free of extra turns. */
  private catalog(): FlowCatalog | Promise<FlowCatalog> {
    return this.deps.flows();
  }

  /** The flow (and version) the call started with, for as long as it runs. */
  private flowOf(
    ctx: Pick<CallContext, 'flowId' | 'flowVersion'>,
  ): LoadedFlow | null | Promise<LoadedFlow | null> {
    const id = ctx.flowId;
    if (!id) return null;
    if (this.deps.flowVersion) return this.deps.flowVersion(id, ctx.flowVersion);
    const catalog = this.catalog();
    return catalog instanceof Promise
      ? catalog.then((c) => c.byId.get(id) ?? null)
      : (catalog.byId.get(id) ?? null);
  }

  // ---- notifications ----

  async handleNotification(n: ParsedNotification, source: NotificationSource): Promise<void> {
    switch (n.kind) {
      case 'other':
        this.log.info('notification not handled by the IVR', {
          resourceUrl: n.resourceUrl.slice(0, 200),
          changeType: n.changeType,
        });
        return;
      case 'operation':
        return this.onOperation(n, source);
      case 'call':
        if (n.changeType === 'created' && n.call.state === 'incoming')
          return this.onIncoming(n.callId, n.call, source.tenantId);
        return this.onCallUpdate(n.callId, n.changeType, n.call, source);
    }
  }

  private async onIncoming(callId: string, call: CallResource, tenantId: string): Promise<void> {
    const cached = this.catalog();
    const catalog = cached instanceof Promise ? await cached : cached;
    const identities = calledIdentities(call);
    const configured = identities.map((id) => catalog.byIdentity.get(id)).find(Boolean);
    const flow =
      configured ?? (this.deps.defaultFlowId ? (catalog.byId.get(this.deps.defaultFlowId) ?? null) : null);
    const clientContext = await this.deps.store.keyFor(callId);
    const { ctx, commands } = decideIncomingCall(
      {
        clientContext,
        callId,
        // The verified token says whose call this is, not the body.
        tenantId,
        number: configured ? configured.flow.number : (identities[0] ?? null),
        caller: callerOf(call),
        at: this.at(),
      },
      { callbackUri: this.deps.callbackUri, flow },
      this.deps.unconfiguredRejectReason,
    );
    let etag: string;
    const written = { ...ctx, writeId: newWriteId() };
    try {
      // The insert is the claim: a redelivered or concurrent copy stops here, before any Graph request.
      etag = await this.timed('storage', 'insert context', () =>
        this.deps.store.create(written, this.deps.deadline),
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) {
        this.settleUncertainWrite(err, clientContext, written.writeId, commands);
        throw err;
      }
      this.log.info('incoming call already handled (redelivered notification)', { callId });
      return;
    }
    this.deps.observer?.changed(null, written);
    this.log.info('incoming call decided', {
      callId,
      number: ctx.number,
      decision: ctx.decision.type,
      rule: 'rule' in ctx.decision ? ctx.decision.rule : null,
    });
    await this.execute({ value: written, etag }, commands);
  }

  private async onCallUpdate(
    callId: string,
    changeType: string,
    call: CallResource,
    source: NotificationSource,
  ): Promise<void> {
    const at = this.at();
    const events: IvrEvent[] = [];
    if (call.toneInfo)
      events.push({ kind: 'tone', at, sequenceId: call.toneInfo.sequenceId, tone: call.toneInfo.tone });
    const state = call.state ?? (changeType === 'deleted' ? 'terminated' : null);
    if (state) events.push({ kind: 'callState', at, state, resultInfo: call.resultInfo ?? null });
    if (events.length === 0) return;
    const hinted = isContextKey(source.contextKey) ? source.contextKey : null;
    const key = hinted ?? (await this.deps.store.keyFor(callId));
    const guard: Guard = { callId, tenantId: source.tenantId, link: Boolean(hinted) };
    if (await this.apply(key, events, guard)) return;
    if (hinted) return this.unknownCall(callId, call.state);
    // An outbound call whose notification came without its callback key: its link row, if any.
    const linked = await this.deps.store.findLink(callId, this.deps.deadline);
    if (!linked || linked === key || !(await this.apply(linked, events, guard)))
      this.unknownCall(callId, call.state);
  }

  private unknownCall(callId: string, state: string | null | undefined): void {
    this.log.warn('notification for an unknown call', { callId, state: state ?? null });
  }

  private async onOperation(
    n: Extract<ParsedNotification, { kind: 'operation' }>,
    source: NotificationSource,
  ): Promise<void> {
    const op = n.operation;
    if (op.status !== 'completed' && op.status !== 'failed') return;
    const ref = op.clientContext ? parseOperationContext(op.clientContext) : null;
    if (!ref) {
      this.log.info('operation notification without an IVR clientContext', {
        callId: n.callId,
        operationId: n.operationId,
      });
      return;
    }
    const found = await this.apply(ref.clientContext, [this.operationEvent(ref.seq, op)], {
      callId: n.callId,
      tenantId: source.tenantId,
    });
    if (!found) this.log.warn('operation notification for an unknown call', { callId: n.callId });
  }

  private operationEvent(seq: number, op: OperationResource): IvrEvent {
    return {
      kind: 'operationCompleted',
      at: this.at(),
      seq,
      status: op.status === 'failed' ? 'failed' : 'completed',
      resultInfo: op.resultInfo ?? null,
      completionReason: op.completionReason ?? null,
      recording:
        op.recordingLocation && op.recordingAccessToken
          ? { location: op.recordingLocation, accessToken: op.recordingAccessToken }
          : null,
    };
  }

  async handleTimer(message: TimerMessage): Promise<void> {
    const found = await this.apply(message.clientContext, [
      { kind: 'timer', at: this.at(), timerId: message.timerId },
    ]);
    if (!found) this.log.warn('timer for an unknown call', { timerId: message.timerId });
  }

  /**
   * An http node's result, from the lookup worker. The worker can finish before the write
   * that queued its request has landed: while the context has not reached the request's seq,
   * it is read again a few times. A repeat, or the result of a request the call has moved
   * past (or a call that ended), changes nothing.
   */
  async handleLookupResult(
    message: Pick<LookupMessage, 'clientContext' | 'seq'>,
    result: LookupAnswer,
  ): Promise<'applied' | 'unknown' | 'notYetStored'> {
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const event: IvrEvent = { kind: 'lookupResult', at: this.at(), seq: message.seq, ...result };
    for (const wait of [0, ...LOOKUP_STORED_CHECKS_MS]) {
      if (wait) await sleep(wait);
      const current = await this.timed('storage', 'read context', () =>
        this.deps.store.get(message.clientContext),
      );
      if (!current) {
        this.log.warn('lookup result for an unknown call', { seq: message.seq });
        return 'unknown';
      }
      if (current.value.seq < message.seq && current.value.phase !== 'ended') continue;
      await this.apply(message.clientContext, [event], {}, current);
      return 'applied';
    }
    // The write that queued it never landed: its notification's redelivery queues it again.
    this.log.warn('lookup result for a request the call never stored', {
      callId: null,
      seq: message.seq,
    });
    return 'notYetStored';
  }

  // ---- the read / decide / write / act loop ----

  /**
   * Applies events to a context. False when there is no such context; true otherwise (also
   * when the events change nothing or are refused by the guard). `known` is a version the
   * caller just wrote, which saves the read.
   */
  private async apply(
    clientContext: string,
    events: IvrEvent[],
    guard: Guard = {},
    known?: Versioned<CallContext>,
  ): Promise<boolean> {
    let next = known;
    // The notification's deadline bounds the first read and write; once a write has landed
    // (known is set), what follows from it must finish whatever the deadline.
    const deadline = known ? undefined : this.deps.deadline;
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current =
        next ??
        (await this.timed('storage', 'read context', () => this.deps.store.get(clientContext, deadline)));
      next = undefined;
      if (!current) return false;
      const stored = current.value;
      if (guard.tenantId && stored.tenantId && guard.tenantId !== stored.tenantId) {
        // A token from another tenant must not steer this call.
        this.log.warn('notification refused: its tenant is not the call tenant', {
          callId: guard.callId ?? stored.callId,
          tokenTenant: guard.tenantId,
        });
        return true;
      }
      if (guard.callId && stored.callId && stored.callId !== guard.callId) {
        this.log.warn('notification does not belong to this call', {
          callId: guard.callId,
          contextCallId: stored.callId,
        });
        return true;
      }
      if (
        guard.callId &&
        !stored.callId &&
        stored.outbound?.attempts.some((a) => a.callId === guard.callId && a.endedAt)
      ) {
        // A late notification of an attempt already over must not claim the next attempt's place.
        return true;
      }
      const base =
        guard.link && guard.callId && !stored.callId ? { ...stored, callId: guard.callId } : stored;
      const found = this.flowOf(stored);
      const flow = found instanceof Promise ? await found : found;
      const { ctx, commands } = stepAll(base, events, { callbackUri: this.deps.callbackUri, flow });
      if (ctx === stored) {
        // The webhook's check timer: the ending's writer did not queue it (it died, or the queue was away).
        const hook = stored.outbound?.webhook;
        if (hook?.checkTimerId && events.some((e) => e.kind === 'timer' && e.timerId === hook.checkTimerId))
          await this.sendOutcomeWebhook(current);
        return true; // a repeat, or nothing to do
      }
      for (const command of commands.filter(runsBeforeCommit)) await this.runBeforeCommit(ctx, command);
      const after = commands.filter((c) => !runsBeforeCommit(c));
      const written = { ...ctx, writeId: newWriteId() };
      let etag: string;
      try {
        etag = await this.timed('storage', 'write context', () =>
          this.deps.store.replace(written, current.etag, deadline),
        );
      } catch (err) {
        if (err instanceof ConflictError) continue; // someone else moved the call on: decide again on fresh state
        this.settleUncertainWrite(err, clientContext, written.writeId, after);
        throw err;
      }
      this.deps.observer?.changed(stored, written);
      if (written.outbound && written.phase === 'ended' && stored.phase !== 'ended')
        await this.releaseSlot(written);
      await this.execute(
        { value: written, etag },
        after.filter((c) => c.kind !== 'queueOutcomeWebhook'),
      );
      // Only the writer that won queues it; if it cannot, the check timer will.
      if (after.some((c) => c.kind === 'queueOutcomeWebhook'))
        await this.sendOutcomeWebhook({ value: written, etag }).catch((err: Error) =>
          this.log.warn('outcome webhook not queued yet; its check timer will', {
            callId: written.callId,
            error: err.message,
          }),
        );
      return true;
    }
    throw new Error(`context ${clientContext} kept changing; gave up after ${MAX_CONFLICT_RETRIES} attempts`);
  }

  /**
   * A write that failed without an answer from storage (a timeout, an aborted or dropped
   * request) may still land once storage recovers. The notification fails and the platform
   * redelivers it, but the redelivery finds its event applied and does nothing; so this
   * writer looks again later, and if its own write did land, runs the commands it held back.
   */
  private settleUncertainWrite(
    err: unknown,
    clientContext: string,
    writeId: string,
    commands: Command[],
  ): void {
    if (typeof (err as { statusCode?: unknown }).statusCode === 'number' || commands.length === 0) return;
    const log = this.log;
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
    void (async () => {
      for (const wait of UNCERTAIN_WRITE_CHECKS_MS) {
        await sleep(wait);
        let row: Versioned<CallContext> | null;
        try {
          row = await this.deps.store.get(clientContext);
        } catch {
          continue; // storage still away
        }
        if (row?.value.writeId === writeId) {
          log.warn('a write reported as failed had landed; running its commands', {
            callId: row.value.callId,
            commands: commands.map((c) => c.kind),
          });
          await this.execute(row, commands);
        }
        return;
      }
      log.error('could not tell whether a write landed; its commands were not run', {
        commands: commands.length,
      });
    })().catch((e: Error) => log.error('settling an uncertain write failed', { error: e.message }));
  }

  /** Runs commands in order; what Graph answers synchronously goes back into the engine, in one step. */
  private async execute(current: Versioned<CallContext>, commands: Command[]): Promise<void> {
    const ctx = current.value;
    const followUps: IvrEvent[] = [];
    let changedElsewhere = false;
    for (const command of commands) {
      try {
        const result = await this.run(ctx, command);
        if (result === 'contextChanged') changedElsewhere = true;
        else if (result) followUps.push(result);
      } catch (err) {
        const e = err instanceof GraphError ? err : null;
        this.log.error('command failed', {
          callId: ctx.callId,
          command: command.kind,
          status: e?.status,
          code: e?.code,
          error: e?.graphMessage ?? (err as Error).message,
        });
        followUps.push({
          kind: 'requestFailed',
          at: this.at(),
          request: command.kind,
          seq: 'seq' in command ? command.seq : undefined,
          status: e?.status,
          code: e?.code,
          message: e?.graphMessage ?? (err as Error).message,
        });
      }
    }
    if (followUps.length > 0)
      await this.apply(ctx.clientContext, followUps, {}, changedElsewhere ? undefined : current);
  }

  /** Runs a request, telling the observer (if any) how long it took and how it failed. */
  private async timed<T>(kind: 'storage' | 'graph', name: string, op: () => Promise<T>): Promise<T> {
    const observer = this.deps.observer;
    if (!observer) return op();
    const startedAt = Date.now();
    try {
      const result = await op();
      observer.request(kind, name, startedAt, Date.now());
      return result;
    } catch (err) {
      const e = err as { status?: unknown; statusCode?: unknown; code?: unknown };
      const status =
        typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
      observer.request(kind, name, startedAt, Date.now(), {
        status,
        code: typeof e.code === 'string' ? e.code : undefined,
      });
      throw err;
    }
  }

  private async runBeforeCommit(ctx: CallContext, command: Command): Promise<void> {
    switch (command.kind) {
      case 'startTimer':
        await this.deps.timers.schedule(
          { clientContext: ctx.clientContext, timerId: command.timerId },
          command.delaySeconds,
        );
        return;
      case 'archiveRecording': {
        const policy = (await this.flowOf(ctx))?.flow.recordings ?? { persist: true, retentionDays: 30 };
        await this.deps.recordingJobs.enqueue({
          callId: ctx.callId ?? ctx.clientContext,
          seq: command.seq,
          number: ctx.number,
          caller: ctx.party,
          node: command.node,
          recordedAt: this.at(),
          outcome: command.outcome,
          completionReason: command.completionReason,
          recording: command.recording,
          reason: command.reason,
          persist: policy.persist,
          retentionDays: policy.retentionDays,
          attempt: 1,
          ...(ctx.flowId ? { flowId: ctx.flowId } : {}),
          ...(ctx.flowVersion !== undefined ? { flowVersion: ctx.flowVersion } : {}),
        });
        return;
      }
      case 'lookup': {
        if (!this.deps.lookups) throw new Error('no lookup queue is configured');
        await this.deps.lookups.enqueue({
          clientContext: ctx.clientContext,
          seq: command.seq,
          callId: ctx.callId,
          node: command.node,
          request: command.request,
        });
        return;
      }
      default:
        throw new Error(`${command.kind} does not run before the context is stored`);
    }
  }

  /**
   * Queues the outcome webhook of an ended outbound call from its stored context (so every
   * re-run sends the same id and the same body), then marks it queued with a conditional
   * write. A process that dies in between leaves it unmarked: the check timer, queued with
   * the ending, finds it so and queues it then (the same id: receivers drop a repeat).
   */
  private async sendOutcomeWebhook(current: Versioned<CallContext>): Promise<void> {
    const ctx = current.value;
    const out = ctx.outbound;
    const hook = out?.webhook;
    if (!out?.callbackUrl || !hook || hook.status !== 'pending' || hook.queued) return;
    const webhooks = this.deps.webhooks;
    let failure: string | null = null;
    if (!webhooks) failure = 'webhooks are not configured (IVR_WEBHOOK_SECRET)';
    else {
      try {
        await webhooks.send({
          id: hook.deliveryId,
          event: hook.event,
          url: out.callbackUrl,
          data: outboundWebhookData(ctx),
          subject: { kind: OUTBOUND_WEBHOOK_SUBJECT, key: ctx.clientContext },
          createdAt: ctx.endedAt ?? ctx.createdAt,
        });
      } catch (err) {
        // A URL or body that can never be sent is recorded; the queue being away is retried by a redelivery.
        if ((err as Error).name !== 'WebhookError') throw err;
        failure = (err as Error).message;
      }
    }
    if (failure) this.log.error('outcome webhook not queued', { callId: ctx.callId, reason: failure });
    await this.updateWebhook(current, (h) =>
      h.status !== 'pending' || h.queued
        ? null
        : failure
          ? { ...h, status: 'failed', reason: failure }
          : { ...h, queued: true },
    );
  }

  /** Changes an outbound call's webhook status with a conditional write; `change` returns null for no change. */
  private async updateWebhook(
    known: Versioned<CallContext> | null,
    change: (hook: OutboundWebhookStatus) => OutboundWebhookStatus | null,
    clientContext = known?.value.clientContext ?? '',
  ): Promise<boolean> {
    let current = known;
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      current ??= await this.deps.store.get(clientContext);
      const out = current?.value.outbound;
      const next = out?.webhook ? change(out.webhook) : null;
      if (!current || !out || !next) return false;
      try {
        await this.deps.store.replace(
          { ...current.value, outbound: { ...out, webhook: next }, writeId: newWriteId() },
          current.etag,
        );
        return true;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        current = null;
      }
    }
    throw new Error(`outbound call ${clientContext} kept changing; its webhook status was not stored`);
  }

  /** A call that is over gives its number's slot back; a slot left behind is taken back by the next call at the cap. */
  private async releaseSlot(ctx: CallContext): Promise<void> {
    if (!this.deps.limits || !ctx.number) return;
    try {
      await this.deps.limits.release(ctx.number, ctx.clientContext);
    } catch (err) {
      this.log.warn('outbound slot not released', { callId: ctx.callId, error: (err as Error).message });
    }
  }

  private async run(ctx: CallContext, command: Command): Promise<IvrEvent | 'contextChanged' | null> {
    const graph = this.deps.graph;
    const callId = ctx.callId;
    switch (command.kind) {
      case 'answer':
      case 'reject':
      case 'redirect':
      case 'subscribeToTone':
      case 'cancelMediaProcessing':
      case 'transfer':
        await this.timed('graph', command.kind, () =>
          graph.callAction(requireCallId(callId), command.kind, command.body),
        );
        return null;
      case 'playPrompt':
      case 'recordResponse': {
        const res = await this.timed('graph', command.kind, () =>
          graph.callAction(requireCallId(callId), command.kind, command.body),
        );
        const op = operationResourceSchema.safeParse(res.body);
        // A completed or failed answer gets no notification: feed it to the engine now.
        if (op.success && (op.data.status === 'completed' || op.data.status === 'failed')) {
          return this.operationEvent(command.seq, op.data);
        }
        return null;
      }
      case 'hangUp':
        try {
          await this.timed('graph', 'hangUp', () => graph.deleteCall(requireCallId(callId)));
        } catch (err) {
          if (err instanceof GraphError && err.status === 404) {
            return {
              kind: 'callState',
              at: this.at(),
              state: 'terminated',
              resultInfo: { code: 404, message: 'call already gone' },
            };
          }
          throw err;
        }
        return null;
      case 'createCall': {
        const res = await this.timed('graph', 'createCall', () =>
          graph.post('/communications/calls', command.body),
        );
        const id = (res.body as { id?: unknown } | null)?.id;
        if (typeof id !== 'string' || !id) throw new Error('create call answered without a call id');
        // Lookups by call id (the status endpoint, a notification without its callback key) follow this link.
        await this.deps.store.linkCallId(id, ctx.clientContext);
        await this.setCallId(ctx.clientContext, id);
        ctx.callId = id;
        return 'contextChanged';
      }
      case 'callEnded':
        this.log.info('call ended', { callId, result: ctx.result?.code ?? null });
        return null;
      case 'startTimer':
      case 'archiveRecording':
      case 'lookup':
      case 'queueOutcomeWebhook':
        return null; // ran before the context was stored
    }
  }

  private async setCallId(clientContext: string, callId: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current = await this.deps.store.get(clientContext);
      if (!current || current.value.callId === callId) return;
      try {
        await this.deps.store.replace({ ...current.value, callId }, current.etag);
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }

  // ---- outbound calls ----

  /**
   * Places an outbound call. With an idempotency key, the key is claimed first (a conditional
   * insert): a repeat of the key within 24 h, on any instance, gets the call the key placed
   * and never dials again.
   */
  async placeCall(request: {
    from: string;
    /** A PSTN callee: shorthand for a phone target. */
    to?: string;
    target?: OutboundTarget;
    variables?: Record<string, string>;
    callbackUrl?: string;
    idempotency?: { keyHash: string; fingerprint: string };
  }): Promise<{ clientContext: string; callId: string | null; replayed?: boolean; failure?: string }> {
    const target: OutboundTarget = request.target ?? { kind: 'phone', phone: request.to ?? '' };
    const flow = (await this.catalog()).byIdentity.get(request.from);
    if (!flow) throw new OutboundRequestError(`no flow configures ${request.from}`);
    if (!flow.flow.outbound)
      throw new OutboundRequestError(`the flow of ${request.from} has no outbound entry`);
    if (!flow.flow.applicationInstanceId)
      throw new OutboundRequestError(`the flow of ${request.from} has no applicationInstanceId to call from`);
    const tenantId = this.deps.tenantId;
    if (!tenantId) throw new OutboundRequestError('AZURE_TENANT_ID is not set');
    checkVariables(request.variables ?? {}, flow.flow.outbound.variables ?? {}, request.from);
    if (!destinationAllowed(target, flow.flow.outbound.allowedPrefixes))
      throw new OutboundRefusal(
        403,
        'DestinationNotAllowed',
        `to: ${describeTarget(target)} does not start with a prefix allowed by the flow of ${request.from} (outbound.allowedPrefixes)`,
      );
    if (request.idempotency) {
      // A repeat is answered before any limit: it places nothing.
      const existing = await this.deps.store.findIdempotency(
        request.idempotency.keyHash,
        this.now(),
        IDEMPOTENCY_TTL_MS,
      );
      if (existing) return this.replay(existing, request.idempotency.fingerprint);
    }
    const clientContext = mintClientContext();
    const number = flow.flow.number;
    if (this.deps.limits) {
      const decision = await this.deps.limits.acquire(
        number,
        clientContext,
        { ...OUTBOUND_LIMIT_DEFAULTS, ...flow.flow.outbound.limits },
        this.now(),
        async (key) => {
          const row = await this.deps.store.get(key);
          return row !== null && row.value.phase !== 'ended';
        },
      );
      if (!decision.ok)
        throw new OutboundRefusal(429, 'TooManyOutboundCalls', decision.message, {
          'retry-after': String(decision.retryAfterSeconds),
        });
    }
    try {
      return await this.placeClaimed(request, flow, target, {
        tenantId,
        clientContext,
        applicationInstanceId: flow.flow.applicationInstanceId,
      });
    } catch (err) {
      // Placed nothing (a refused key, storage away): the slot goes back at once.
      const placed = await this.deps.store.get(clientContext).catch(() => null);
      if (!placed && this.deps.limits)
        await this.deps.limits.release(number, clientContext).catch(() => undefined);
      throw err;
    }
  }

  private async replay(
    existing: { clientContext: string; fingerprint: string },
    fingerprint: string,
  ): Promise<{ clientContext: string; callId: string | null; replayed: true }> {
    if (existing.fingerprint !== fingerprint)
      throw new OutboundRefusal(
        422,
        'IdempotencyKeyReused',
        'Idempotency-Key: already used within 24 h for a different request',
      );
    const call = await this.deps.store.get(existing.clientContext);
    return { clientContext: existing.clientContext, callId: call?.value.callId ?? null, replayed: true };
  }

  private async placeClaimed(
    request: Parameters<CallService['placeCall']>[0],
    flow: LoadedFlow,
    target: OutboundTarget,
    ids: { tenantId: string; clientContext: string; applicationInstanceId: string },
  ): Promise<{ clientContext: string; callId: string | null; replayed?: boolean; failure?: string }> {
    const { tenantId, clientContext, applicationInstanceId } = ids;
    if (request.idempotency) {
      const claim = await this.deps.store.claimIdempotency(
        request.idempotency.keyHash,
        { clientContext, fingerprint: request.idempotency.fingerprint, createdAt: this.at() },
        this.now(),
        IDEMPOTENCY_TTL_MS,
      );
      if (!claim.claimed) {
        // Another request with this key won the race: this one's slot goes back.
        if (this.deps.limits)
          await this.deps.limits.release(flow.flow.number, clientContext).catch(() => undefined);
        return this.replay(claim.existing, request.idempotency.fingerprint);
      }
    }
    const { ctx, commands } = placeOutboundCall(
      {
        clientContext,
        tenantId,
        number: flow.flow.number,
        applicationInstanceId,
        target,
        ...(request.variables ? { variables: request.variables } : {}),
        ...(request.callbackUrl ? { callbackUrl: request.callbackUrl } : {}),
        at: this.at(),
      },
      { callbackUri: this.deps.callbackUri, flow },
    );
    const etag = await this.deps.store.create(ctx);
    await this.execute({ value: ctx, etag }, commands);
    const after = await this.deps.store.get(clientContext);
    const failure = after?.value.failures.find((f) => f.what === 'createCall');
    return {
      clientContext,
      callId: after?.value.callId ?? null,
      ...(failure ? { failure: failure.message ?? 'create call failed' } : {}),
    };
  }

  /**
   * The webhooks queue's word on an outbound call's outcome webhook, kept in its context
   * (a conditional write). A delivery reported twice keeps `delivered` once it has it.
   */
  async recordWebhookOutcome(clientContext: string, outcome: WebhookDeliveryOutcome): Promise<void> {
    const recorded = await this.updateWebhook(
      null,
      (hook) =>
        hook.deliveryId !== outcome.deliveryId || hook.status === 'delivered'
          ? null
          : {
              deliveryId: hook.deliveryId,
              event: hook.event,
              status: outcome.status,
              attempts: outcome.attempts,
              at: outcome.at,
              ...(outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}),
              ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
            },
      clientContext,
    );
    if (!recorded)
      this.log.info('webhook outcome not recorded (unknown, or already delivered)', {
        deliveryId: outcome.deliveryId,
      });
  }

  /** An outbound call as its requester sees it: one point read. */
  async getOutboundCall(clientContext: string): Promise<OutboundCallStatus | null> {
    const current = await this.deps.store.get(clientContext);
    const ctx = current?.value;
    if (!ctx?.outbound) return null;
    const recordings =
      ctx.callId && ctx.phase === 'ended' ? await this.deps.records.listRecordings(ctx.callId) : [];
    return outboundStatusOf(ctx, recordings);
  }

  // ---- timers: keep calls alive, sweep stale ones ----

  async keepAliveAll(): Promise<{ kept: number; closed: number }> {
    let kept = 0;
    let closed = 0;
    for await (const row of this.deps.store.listOpen()) {
      const ctx = row.value;
      if (!ctx.callId || (ctx.phase !== 'established' && ctx.phase !== 'transferring')) continue;
      try {
        await this.deps.graph.callAction(ctx.callId, 'keepAlive');
        kept++;
      } catch (err) {
        if (err instanceof GraphError && err.status === 404) {
          await this.apply(ctx.clientContext, [
            {
              kind: 'callState',
              at: this.at(),
              state: 'terminated',
              resultInfo: { code: 404, message: 'call no longer exists (keepAlive)' },
            },
          ]);
          closed++;
        } else {
          this.log.warn('keepAlive failed', { callId: ctx.callId, error: (err as Error).message });
        }
      }
    }
    return { kept, closed };
  }

  async sweepStale(maxIdleMinutes: number): Promise<{ closed: number }> {
    const cutoff = this.now().getTime() - maxIdleMinutes * 60_000;
    let closed = 0;
    for await (const row of this.deps.store.listOpen()) {
      const ctx = row.value;
      if (ctx.phase === 'redialWait') {
        // Waiting is not idle: only a redial long overdue (its timer message lost) is fired from here.
        const due = Date.parse(ctx.outbound?.redialAt ?? row.updatedAt);
        if (due <= cutoff && ctx.outbound?.redialTimerId)
          await this.apply(ctx.clientContext, [
            { kind: 'timer', at: this.at(), timerId: ctx.outbound.redialTimerId },
          ]);
        continue;
      }
      if (Date.parse(row.updatedAt) > cutoff) continue;
      if (ctx.callId) {
        // The call may still exist on the platform (lost notifications): end it there too.
        await this.deps.graph.deleteCall(ctx.callId).catch(() => undefined);
      }
      await this.apply(ctx.clientContext, [
        {
          kind: 'callState',
          at: this.at(),
          state: 'terminated',
          resultInfo: { code: 0, message: `closed by sweep after ${maxIdleMinutes} idle minutes` },
        },
      ]);
      closed++;
    }
    return { closed };
  }

  /**
   * A finished call's record; for a call still in progress, what it is doing now
   * (phase, node, nodes so far), from its context.
   */
  async getCallStatus(callId: string): Promise<
    | ({ status: 'ended' } & CallRecord)
    | {
        status: 'inProgress';
        callId: string;
        number: string | null;
        caller: string | null;
        from: string | null;
        to: string | null;
        phase: string;
        node: string | null;
        startedAt: string;
        answeredAt: string | null;
        nodesVisited: string[];
        digits: string[];
      }
    | null
  > {
    const key = await this.deps.store.findByCallId(callId);
    const current = key ? await this.deps.store.get(key) : null;
    if (!current || current.value.callId !== callId) return null;
    const ctx = current.value;
    if (ctx.phase === 'ended') {
      return { status: 'ended', ...callRecordOf(ctx, await this.deps.records.listRecordings(callId)) };
    }
    return {
      status: 'inProgress',
      callId,
      number: ctx.number,
      ...partiesOf(ctx),
      phase: ctx.phase,
      node: ctx.node,
      startedAt: ctx.createdAt,
      answeredAt: ctx.establishedAt,
      nodesVisited: ctx.visited,
      digits: ctx.digits,
    };
  }
}

/** Idempotency keys are remembered this long, as Stripe does. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

export interface OutboundCallStatus {
  id: string;
  /** dialing, established, … ended: where the call is. */
  state: CallContext['phase'];
  /** At the end: answered, notAnswered, busy, declined or failed. */
  outcome: OutboundOutcome | null;
  from: string | null;
  to: string | null;
  callId: string | null;
  createdAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  result: CallContext['result'];
  attempts: OutboundAttempt[];
  /** While waiting between attempts: when the next one is placed. */
  redialAt: string | null;
  /** The outcome webhook (when a callbackUrl was given): pending, delivered or failed. */
  webhook: OutboundWebhookStatus | null;
  variables: Record<string, string>;
  nodesVisited: string[];
  digits: string[];
  recordings: RecordingMeta[];
}

export function outboundStatusOf(ctx: CallContext, recordings: RecordingMeta[]): OutboundCallStatus {
  const out = ctx.outbound!;
  return {
    id: ctx.clientContext,
    state: ctx.phase,
    outcome: ctx.phase === 'ended' ? out.outcome : null,
    from: ctx.number,
    to: ctx.party,
    callId: ctx.callId,
    createdAt: ctx.createdAt,
    answeredAt: ctx.establishedAt,
    endedAt: ctx.endedAt,
    result: ctx.result,
    attempts: out.attempts,
    redialAt: out.redialAt ?? null,
    webhook: out.webhook ? publicWebhookStatus(out.webhook) : null,
    variables: out.variables ?? {},
    nodesVisited: ctx.visited,
    digits: ctx.digits,
    recordings,
  };
}

/** What an outbound call's outcome webhook carries: what GET /api/outbound-calls/{id} says, minus recordings. */
export function outboundWebhookData(ctx: CallContext): Record<string, unknown> {
  const out = ctx.outbound!;
  return {
    id: ctx.clientContext,
    from: ctx.number,
    to: ctx.party,
    outcome: out.outcome,
    callId: ctx.callId,
    createdAt: ctx.createdAt,
    answeredAt: ctx.establishedAt,
    endedAt: ctx.endedAt,
    result: ctx.result,
    attempts: out.attempts,
    variables: out.variables ?? {},
    nodesVisited: ctx.visited,
    digits: ctx.digits,
  };
}

function publicWebhookStatus({
  queued: _queued,
  checkTimerId: _timer,
  ...status
}: OutboundWebhookStatus): OutboundWebhookStatus {
  return status;
}

function describeTarget(t: OutboundTarget): string {
  return t.kind === 'phone' ? t.phone : t.kind;
}

/** A request's variables against what the flow declares: only declared names, matching, required ones present. */
function checkVariables(
  values: Record<string, string>,
  declared: Record<string, { required: boolean; pattern?: string | undefined }>,
  from: string,
): void {
  for (const [name, value] of Object.entries(values)) {
    const rule = declared[name];
    if (!rule) throw new OutboundRequestError(`variables.${name}: not declared by the flow of ${from}`);
    if (rule.pattern !== undefined && !new RegExp(`^(?:${rule.pattern})$`).test(value))
      throw new OutboundRequestError(`variables.${name}: does not match ${rule.pattern}`);
  }
  for (const [name, rule] of Object.entries(declared))
    if (rule.required && values[name] === undefined)
      throw new OutboundRequestError(`variables.${name}: required by the flow of ${from}`);
}

/** A request refused by a rule (a limit, the allow list, a reused key): its own status and code. */
export class OutboundRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'OutboundRefusal';
  }
}

export class OutboundRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboundRequestError';
  }
}

function requireCallId(callId: string | null): string {
  if (!callId) throw new Error('the call has no Graph call id yet');
  return callId;
}
