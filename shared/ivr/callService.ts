import { randomBytes } from 'node:crypto';
import type { FlowCatalog, LoadedFlow } from '../flows/loader';
import { GraphError, type GraphClient } from '../graph/graphClient';
import { calledIdentities, callerOf, type ParsedNotification } from '../graph/notifications';
import { operationResourceSchema, type CallResource, type OperationResource } from '../graph/schemas';
import { ConflictError, type CallStore } from '../storage/callStore';
import type { RecordStore } from '../storage/recordStore';
import type { RecordingBlobStore } from '../storage/recordingStore';
import type { TimerMessage, TimerQueue } from '../storage/timerQueue';
import { parseOperationContext, type CallContext } from './context';
import { RecordingArchiver } from './recordingArchiver';
import {
  decideIncomingCall,
  placeOutboundCall,
  step,
  type Command,
  type EngineEnv,
  type IvrEvent,
} from './engine';

/**
 * The imperative shell around the engine: reads a call's context, applies an event,
 * stores the result with its ETag (a conflict is re-read and re-decided), then runs the
 * commands. Only the instance whose write won sends the Graph requests, so a redelivered
 * or concurrent notification never sends one twice.
 */

export interface Logger {
  info(message: string, props?: Record<string, unknown>): void;
  warn(message: string, props?: Record<string, unknown>): void;
  error(message: string, props?: Record<string, unknown>): void;
}

export interface CallServiceDeps {
  store: CallStore;
  records: RecordStore;
  blobs: RecordingBlobStore;
  timers: TimerQueue;
  graph: GraphClient;
  flows: () => FlowCatalog;
  callbackUri: string;
  unconfiguredRejectReason: 'none' | 'busy' | 'forbidden';
  defaultFlowId?: string;
  /** Tenant outbound calls are placed in. */
  tenantId?: string;
  recordingMaxBytes: number;
  allowLocalHttp: boolean;
  log: Logger;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

const MAX_CONFLICT_RETRIES = 8;

export function mintClientContext(): string {
  // 256 bits, base64url: unguessable, 43 characters, safe in table keys.
  return randomBytes(32).toString('base64url');
}

export class CallService {
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;

  private readonly archiver: RecordingArchiver;

  constructor(private readonly deps: CallServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.archiver = new RecordingArchiver({
      records: deps.records,
      blobs: deps.blobs,
      maxBytes: deps.recordingMaxBytes,
      allowLocalHttp: deps.allowLocalHttp,
      log: deps.log,
      now: this.now,
      sleep: this.sleep,
    });
  }

  private get log() {
    return this.deps.log;
  }

  private at(): string {
    return this.now().toISOString();
  }

  private flowById(id: string | null): LoadedFlow | null {
    return id ? (this.deps.flows().byId.get(id) ?? null) : null;
  }

  private env(ctx: Pick<CallContext, 'flowId'>): EngineEnv {
    return { callbackUri: this.deps.callbackUri, flow: this.flowById(ctx.flowId) };
  }

  // ---- notifications ----

  async handleNotification(n: ParsedNotification, tenantId: string): Promise<void> {
    switch (n.kind) {
      case 'other':
        this.log.info('notification not handled by the IVR', {
          resourceUrl: n.resourceUrl,
          changeType: n.changeType,
        });
        return;
      case 'operation':
        return this.onOperation(n);
      case 'call':
        if (n.changeType === 'created' && n.call.state === 'incoming')
          return this.onIncoming(n.callId, n.call, tenantId);
        return this.onCallUpdate(n.callId, n.changeType, n.call);
    }
  }

  private async onIncoming(callId: string, call: CallResource, tenantId: string): Promise<void> {
    if (await this.deps.store.findByCallId(callId)) {
      this.log.info('incoming call already handled (redelivered notification)', { callId });
      return;
    }
    const catalog = this.deps.flows();
    const identities = calledIdentities(call);
    const configured = identities.map((id) => catalog.byIdentity.get(id)).find(Boolean);
    const flow =
      configured ?? (this.deps.defaultFlowId ? (catalog.byId.get(this.deps.defaultFlowId) ?? null) : null);
    const clientContext = mintClientContext();
    const { ctx, commands } = decideIncomingCall(
      {
        clientContext,
        callId,
        tenantId: call.tenantId ?? tenantId,
        number: configured ? configured.flow.number : (identities[0] ?? null),
        caller: callerOf(call),
        at: this.at(),
      },
      { callbackUri: this.deps.callbackUri, flow },
      this.deps.unconfiguredRejectReason,
    );
    // The context first, then the claim: a crash in between leaves an orphan row (swept later),
    // never a claimed call id without a context, which would make a redelivery give up.
    const etag = await this.deps.store.create(ctx);
    // Claiming the call id is the lock: a redelivered or concurrent copy stops here.
    if (!(await this.deps.store.claimCallId(callId, clientContext))) {
      await this.deps.store.delete(clientContext, etag).catch(() => undefined);
      this.log.info('incoming call already claimed by another delivery', { callId });
      return;
    }
    this.log.info('incoming call decided', {
      callId,
      clientContext,
      number: ctx.number,
      decision: ctx.decision.type,
      rule: 'rule' in ctx.decision ? ctx.decision.rule : null,
    });
    await this.execute(ctx, commands);
  }

  private async onCallUpdate(callId: string, changeType: string, call: CallResource): Promise<void> {
    const key = await this.findContext(callId);
    if (!key) {
      this.log.warn('notification for an unknown call', { callId, state: call.state });
      return;
    }
    const at = this.at();
    if (call.toneInfo) {
      await this.apply(key, {
        kind: 'tone',
        at,
        sequenceId: call.toneInfo.sequenceId,
        tone: call.toneInfo.tone,
      });
    }
    const state = call.state ?? (changeType === 'deleted' ? 'terminated' : null);
    if (state) await this.apply(key, { kind: 'callState', at, state, resultInfo: call.resultInfo ?? null });
  }

  private async onOperation(n: Extract<ParsedNotification, { kind: 'operation' }>): Promise<void> {
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
    await this.apply(ref.clientContext, this.operationEvent(ref.seq, op), n.callId);
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

  /** The context of a call id. An outbound call's id is linked just after Graph answers, so wait briefly for it. */
  private async findContext(callId: string): Promise<string | null> {
    for (const wait of [0, 100, 300, 600]) {
      if (wait) await this.sleep(wait);
      const key = await this.deps.store.findByCallId(callId);
      if (key) return key;
    }
    return null;
  }

  async handleTimer(message: TimerMessage): Promise<void> {
    await this.apply(message.clientContext, { kind: 'timer', at: this.at(), timerId: message.timerId });
  }

  // ---- the read / decide / write / act loop ----

  private async apply(clientContext: string, event: IvrEvent, expectCallId?: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current = await this.deps.store.get(clientContext);
      if (!current) {
        this.log.warn('no context for event', { clientContext, event: event.kind });
        return;
      }
      if (expectCallId && current.value.callId && current.value.callId !== expectCallId) {
        this.log.warn('operation notification does not belong to this call', {
          clientContext,
          callId: expectCallId,
        });
        return;
      }
      const { ctx, commands } = step(current.value, event, this.env(current.value));
      if (ctx === current.value) return; // a repeat, or nothing to do
      try {
        await this.deps.store.replace(ctx, current.etag);
      } catch (err) {
        if (err instanceof ConflictError) continue; // someone else moved the call on: decide again on fresh state
        throw err;
      }
      await this.execute(ctx, commands);
      return;
    }
    throw new Error(`context ${clientContext} kept changing; gave up after ${MAX_CONFLICT_RETRIES} attempts`);
  }

  /** Runs commands in order; what Graph answers synchronously goes back into the engine. */
  private async execute(ctx: CallContext, commands: Command[]): Promise<void> {
    const followUps: IvrEvent[] = [];
    for (const command of commands) {
      try {
        const event = await this.run(ctx, command);
        if (event) followUps.push(event);
      } catch (err) {
        const e = err instanceof GraphError ? err : null;
        this.log.error('command failed', {
          clientContext: ctx.clientContext,
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
    for (const event of followUps) await this.apply(ctx.clientContext, event);
  }

  private async run(ctx: CallContext, command: Command): Promise<IvrEvent | null> {
    const graph = this.deps.graph;
    const callId = ctx.callId;
    switch (command.kind) {
      case 'answer':
      case 'reject':
      case 'redirect':
      case 'subscribeToTone':
      case 'cancelMediaProcessing':
      case 'transfer':
        await graph.callAction(requireCallId(callId), command.kind, command.body);
        return null;
      case 'playPrompt':
      case 'recordResponse': {
        const res = await graph.callAction(requireCallId(callId), command.kind, command.body);
        const op = operationResourceSchema.safeParse(res.body);
        // A completed or failed answer gets no notification: feed it to the engine now.
        if (op.success && (op.data.status === 'completed' || op.data.status === 'failed')) {
          return this.operationEvent(command.seq, op.data);
        }
        return null;
      }
      case 'hangUp':
        try {
          await graph.deleteCall(requireCallId(callId));
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
        const res = await graph.post('/communications/calls', command.body);
        const id = (res.body as { id?: unknown } | null)?.id;
        if (typeof id !== 'string' || !id) throw new Error('create call answered without a call id');
        await this.deps.store.claimCallId(id, ctx.clientContext);
        await this.setCallId(ctx.clientContext, id);
        ctx.callId = id;
        return null;
      }
      case 'startTimer':
        await this.deps.timers.schedule(
          { clientContext: ctx.clientContext, timerId: command.timerId },
          command.delaySeconds,
        );
        return null;
      case 'saveRecording': {
        const flow = this.flowById(ctx.flowId)?.flow;
        await this.archiver.archive(
          {
            callId: ctx.callId ?? ctx.clientContext,
            seq: command.seq,
            number: ctx.number,
            caller: ctx.party,
            node: command.node,
            completionReason: command.completionReason,
          },
          { location: command.location, accessToken: command.accessToken },
          flow?.recordings ?? { persist: true, retentionDays: 30 },
        );
        return null;
      }
      case 'callEnded':
        await this.deps.records.writeCallRecord(ctx);
        this.log.info('call ended', { callId, clientContext: ctx.clientContext, result: ctx.result });
        return null;
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

  async placeCall(request: {
    from: string;
    to: string;
  }): Promise<{ clientContext: string; callId: string | null; failure?: string }> {
    const flow = this.deps.flows().byIdentity.get(request.from);
    if (!flow) throw new OutboundRequestError(`no flow configures ${request.from}`);
    if (!flow.flow.outbound)
      throw new OutboundRequestError(`the flow of ${request.from} has no outbound entry`);
    if (!flow.flow.applicationInstanceId)
      throw new OutboundRequestError(`the flow of ${request.from} has no applicationInstanceId to call from`);
    const tenantId = this.deps.tenantId;
    if (!tenantId) throw new OutboundRequestError('AZURE_TENANT_ID is not set');
    const clientContext = mintClientContext();
    const { ctx, commands } = placeOutboundCall(
      {
        clientContext,
        tenantId,
        number: flow.flow.number,
        applicationInstanceId: flow.flow.applicationInstanceId,
        callee: request.to,
        at: this.at(),
      },
      { callbackUri: this.deps.callbackUri, flow },
    );
    await this.deps.store.create(ctx);
    await this.execute(ctx, commands);
    const after = await this.deps.store.get(clientContext);
    const failure = after?.value.failures.find((f) => f.what === 'createCall');
    return {
      clientContext,
      callId: after?.value.callId ?? null,
      ...(failure ? { failure: failure.message ?? 'create call failed' } : {}),
    };
  }

  // ---- timers: keep calls alive, sweep stale ones, expire recordings ----

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
          await this.apply(ctx.clientContext, {
            kind: 'callState',
            at: this.at(),
            state: 'terminated',
            resultInfo: { code: 404, message: 'call no longer exists (keepAlive)' },
          });
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
      if (Date.parse(row.updatedAt) > cutoff) continue;
      const ctx = row.value;
      if (ctx.callId) {
        // The call may still exist on the platform (lost notifications): end it there too.
        await this.deps.graph.deleteCall(ctx.callId).catch(() => undefined);
      }
      await this.apply(ctx.clientContext, {
        kind: 'callState',
        at: this.at(),
        state: 'terminated',
        resultInfo: { code: 0, message: `closed by sweep after ${maxIdleMinutes} idle minutes` },
      });
      closed++;
    }
    return { closed };
  }

  expireRecordings(): Promise<{ deleted: number }> {
    return this.archiver.expire(this.now());
  }

  /**
   * A finished call's record; for a call still in progress, what it is doing now
   * (phase, node, nodes so far), from its context.
   */
  async getCallStatus(callId: string): Promise<
    | ({ status: 'ended' } & NonNullable<Awaited<ReturnType<RecordStore['getCallRecord']>>>)
    | {
        status: 'inProgress';
        callId: string;
        number: string | null;
        caller: string | null;
        phase: string;
        node: string | null;
        startedAt: string;
        answeredAt: string | null;
        nodesVisited: string[];
        digits: string[];
      }
    | null
  > {
    const record = await this.deps.records.getCallRecord(callId);
    if (record) return { status: 'ended', ...record };
    const key = await this.deps.store.findByCallId(callId);
    const current = key ? await this.deps.store.get(key) : null;
    if (!current) return null;
    const ctx = current.value;
    return {
      status: 'inProgress',
      callId,
      number: ctx.number,
      caller: ctx.party,
      phase: ctx.phase,
      node: ctx.node,
      startedAt: ctx.createdAt,
      answeredAt: ctx.establishedAt,
      nodesVisited: ctx.visited,
      digits: ctx.digits,
    };
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
