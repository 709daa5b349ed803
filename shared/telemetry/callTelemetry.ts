import { createHash } from 'node:crypto';
import {
  metrics,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Counter,
  type Histogram,
  type MeterProvider,
  type Span,
} from '@opentelemetry/api';
import type { ParsedNotification } from '../graph/notifications';
import type { CallObserver } from '../ivr/callService';
import type { CallContext } from '../ivr/context';
import { callTelemetryEnabled } from './switch';

export { callTelemetryEnabled, useCallTelemetry } from './switch';

/**
 * OpenTelemetry for calls, through the vendor-neutral API only: without an SDK registered
 * (tests, local runs) every call here is a no-op; with Azure Monitor started (telemetry
 * setup) spans and metrics reach Application Insights. The shell reports through the
 * CallObserver it defines; nothing in the IVR core imports this.
 */

const SCOPE = 'graph-ivr';

/** Every notification of a call joins one trace, whose id is derived from the call id. */
export function callTraceContext(callId: string): Context {
  const h = createHash('sha256').update(callId, 'utf8').digest('hex');
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: h.slice(0, 32),
    spanId: h.slice(32, 48),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

interface Instruments {
  calls: Counter;
  answerLatency: Histogram;
  menuChoices: Counter;
  recordings: Counter;
  graphFailures: Counter;
}

let instrumentsOf: { provider: MeterProvider; instruments: Instruments } | null = null;

/** The instruments of the meter provider registered now (one may be registered after start). */
function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (instrumentsOf?.provider !== provider) {
    const meter = provider.getMeter(SCOPE);
    instrumentsOf = {
      provider,
      instruments: {
        calls: meter.createCounter('ivr.calls', {
          description: 'incoming calls decided, by decision and number',
        }),
        answerLatency: meter.createHistogram('ivr.answer.latency', {
          description:
            'from the incoming-call notification to Graph accepting the answer, reject or redirect',
          unit: 'ms',
        }),
        menuChoices: meter.createCounter('ivr.menu.choices', {
          description: 'where callers went from a menu',
        }),
        recordings: meter.createCounter('ivr.recordings', { description: 'recordings by outcome' }),
        graphFailures: meter.createCounter('ivr.graph.failures', {
          description: 'Graph requests that failed, by code',
        }),
      },
    };
  }
  return instrumentsOf.instruments;
}

function describe(n: ParsedNotification): string {
  if (n.kind === 'operation') return `operation ${n.operation.status}`;
  if (n.kind === 'call') return n.call.toneInfo ? 'tone' : `call ${n.call.state ?? n.changeType}`;
  return 'other';
}

/** One notification's span, and the observer the call service reports to while handling it. */
export class NotificationTelemetry implements CallObserver {
  readonly context: Context;
  private readonly span: Span;
  private readonly startedAt = Date.now();
  private number = 'unknown';

  constructor(n: ParsedNotification) {
    const callId = n.kind === 'other' ? null : n.callId;
    const parent = callId ? callTraceContext(callId) : ROOT_CONTEXT;
    this.span = trace.getTracer(SCOPE).startSpan(
      `notification ${describe(n)}`,
      {
        kind: SpanKind.SERVER,
        attributes: { ...(callId ? { 'ivr.call_id': callId } : {}), 'ivr.notification': describe(n) },
      },
      parent,
    );
    this.context = trace.setSpan(parent, this.span);
  }

  changed(before: CallContext | null, after: CallContext): void {
    this.number = after.number ?? 'unknown';
    const decision = after.decision;
    this.span.setAttributes({
      'ivr.number': this.number,
      'ivr.decision': decision.type,
      ...('rule' in decision ? { 'ivr.rule': decision.rule } : {}),
      'ivr.phase': after.phase,
      ...(after.node ? { 'ivr.node': after.node } : {}),
    });
    if (!before) {
      instruments().calls.add(1, {
        decision: decision.type,
        number: this.number,
        ...('rule' in decision ? { rule: decision.rule } : {}),
      });
      return;
    }
    // A menu left for another node: the caller's choice (or the fallback).
    if (before.menu && before.node && after.node !== before.node && after.phase !== 'ended') {
      instruments().menuChoices.add(1, {
        number: this.number,
        menu: before.node,
        next: after.node ?? 'none',
      });
    }
  }

  request(
    kind: 'storage' | 'graph',
    name: string,
    startedAt: number,
    endedAt: number,
    failure?: { status?: number; code?: string },
  ): void {
    const span = trace.getTracer(SCOPE).startSpan(
      `${kind} ${name}`,
      {
        kind: SpanKind.CLIENT,
        startTime: startedAt,
        attributes: {
          'ivr.request': name,
          ...(failure?.status !== undefined ? { 'http.response.status_code': failure.status } : {}),
        },
      },
      this.context,
    );
    if (failure)
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: failure.code ?? String(failure.status ?? 'error'),
      });
    span.end(endedAt);
    if (kind !== 'graph') return;
    if (failure) {
      instruments().graphFailures.add(1, {
        request: name,
        status: failure.status ?? 0,
        code: failure.code ?? 'none',
        number: this.number,
      });
    } else if (name === 'answer' || name === 'reject' || name === 'redirect') {
      instruments().answerLatency.record(endedAt - this.startedAt, { decision: name, number: this.number });
    }
  }

  end(error?: Error): void {
    if (error) this.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    this.span.end();
  }
}

/** A recording's final outcome (stored, discarded, lost). */
export function recordingOutcome(outcome: string, number: string | null): void {
  if (!callTelemetryEnabled()) return;
  instruments().recordings.add(1, { outcome, number: number ?? 'unknown' });
}
