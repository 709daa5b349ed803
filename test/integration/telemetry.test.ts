import { createHash } from 'node:crypto';
import { useCallTelemetry } from '../../shared/telemetry/callTelemetry';
import { metrics, trace } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  callUpdate,
  incomingCall,
  operationDone,
  startBotHarness,
  type BotHarness,
} from '../support/botHarness';

/**
 * OpenTelemetry of a call through the bot, with in-memory exporters standing in for Azure
 * Monitor: one trace per call across its notifications, spans for its storage and Graph
 * requests, and the call metrics.
 */

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const NUMBER = '+14255550144';

let bot: BotHarness;
beforeAll(async () => {
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  );
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  useCallTelemetry();
  bot = await startBotHarness({
    flows: {
      'otel.json': {
        number: NUMBER,
        prompts: { menu: 'https://media.example.com/menu.wav', bye: 'https://media.example.com/bye.wav' },
        default: { type: 'answer', start: 'menu' },
        nodes: {
          menu: { type: 'menu', prompt: 'menu', options: { '1': 'bye' }, fallback: 'bye' },
          bye: { type: 'hangup', prompt: 'bye' },
        },
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await bot?.stop();
  await reader.shutdown();
  trace.disable();
  metrics.disable();
});

async function metric(name: string): Promise<MetricData | undefined> {
  await reader.forceFlush();
  const all = metricExporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
  return all.filter((m) => m.descriptor.name === name).at(-1);
}

test('a call is one trace: a span per notification with its number, decision, rule and node, and spans for its requests', async () => {
  const callId = 'otel-0001-aaaa-bbbb-cccc';
  const op = () =>
    (
      bot.graph.requests.filter((r) => r.callId === callId && r.action === 'playPrompt').pop()!.body as {
        clientContext: string;
      }
    ).clientContext;
  await bot.notify(incomingCall(callId, { to: NUMBER }));
  await bot.notify(callUpdate(callId, { state: 'established' }));
  await bot.notify(operationDone(callId, 'op-1', { status: 'completed', clientContext: op() }));
  await bot.notify(callUpdate(callId, { state: 'established', toneInfo: { sequenceId: 1, tone: 'tone1' } }));
  await bot.notify(callUpdate(callId, { state: 'terminated' }, 'deleted'));

  const traceId = createHash('sha256').update(callId).digest('hex').slice(0, 32);
  const ofCall = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  const notifications = ofCall.filter((s) => s.name.startsWith('notification '));
  expect(notifications.map((s) => s.name)).toEqual([
    'notification call incoming',
    'notification call established',
    'notification operation completed',
    'notification tone',
    'notification call terminated',
  ]);
  expect(notifications[0]!.attributes).toMatchObject({
    'ivr.call_id': callId,
    'ivr.number': NUMBER,
    'ivr.decision': 'answer',
    'ivr.rule': 'default',
  });
  expect(notifications[3]!.attributes).toMatchObject({ 'ivr.node': 'bye' });
  // Requests are children of their notification's span.
  const incoming = notifications[0]!;
  const children = ofCall.filter((s) => s.parentSpanContext?.spanId === incoming.spanContext().spanId);
  expect(children.map((s) => s.name)).toEqual(['storage insert context', 'graph answer']);
  const established = notifications[1]!;
  expect(
    ofCall.filter((s) => s.parentSpanContext?.spanId === established.spanContext().spanId).map((s) => s.name),
  ).toEqual(['storage read context', 'storage write context', 'graph subscribeToTone', 'graph playPrompt']);
});

test('metrics: calls by decision and number, answer latency, menu choices, Graph failures by code', async () => {
  const callId = 'otel-0002-aaaa-bbbb-cccc';
  bot.graph.responders.push((r) =>
    r.callId === callId && r.action === 'subscribeToTone'
      ? { status: 403, body: { error: { code: 'Forbidden', message: 'no' } } }
      : undefined,
  );
  await bot.notify(incomingCall(callId, { to: NUMBER }));
  await bot.notify(callUpdate(callId, { state: 'established' }));
  bot.graph.responders.pop();

  const calls = await metric('ivr.calls');
  const answered = calls!.dataPoints.find(
    (p) => p.attributes.number === NUMBER && p.attributes.decision === 'answer',
  );
  expect(answered!.value).toBe(2);
  const latency = await metric('ivr.answer.latency');
  const hist = latency!.dataPoints.find((p) => p.attributes.number === NUMBER)!.value as {
    count: number;
    min?: number;
  };
  expect(hist.count).toBe(2);
  expect(hist.min).toBeGreaterThanOrEqual(0);
  const choices = await metric('ivr.menu.choices');
  expect(choices!.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
    [{ number: NUMBER, menu: 'menu', next: 'bye' }, 1],
  ]);
  const failures = await metric('ivr.graph.failures');
  expect(failures!.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
    [{ request: 'subscribeToTone', status: 403, code: 'Forbidden', number: NUMBER }, 1],
  ]);
});
