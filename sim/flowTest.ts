import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { formatProblem, parseFlowText, validateFlowText } from '../shared/flows/loader';
import { callerScriptSchema, targetScriptSchema } from './people';
import type { CallSummary } from './platform';
import { callReport } from './report';
import { startStack, type Stack } from './stack';

/**
 * Flow tests (`npm run flows -- test <file>`): scripted callers run against a flow in the
 * simulator stack, each case's call compared with what it should do. CI for IVR flows.
 */

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected a phone number in E.164 form');

/** What a finished call ended as, in words a flow author reads (the `result` of a case). */
export const CALL_RESULTS = [
  'botHungUp',
  'callerHungUp',
  'transferred',
  'answeredByTarget',
  'notAnswered',
  'busy',
  'rejected',
] as const;

const isoInstant = z.iso.datetime({
  offset: true,
  message: 'an ISO 8601 date and time with its offset, e.g. "2026-03-10T10:00:00-07:00"',
});

export const flowTestCaseSchema = z.strictObject({
  name: z.string().min(1),
  /** The bot's date and time when the call comes in (schedules); the file's `at` by default. */
  at: isoInstant.optional(),
  /** The caller: `to` defaults to the flow's number. */
  call: callerScriptSchema.extend({ to: e164.optional() }),
  expect: z.strictObject({
    outcome: z.enum(['answered', 'rejected', 'redirected']).optional(),
    /** The rule that decided ("default" when none matched). */
    rule: z.string().optional(),
    /** Nodes visited, in order. */
    path: z.array(z.string()).optional(),
    digits: z.array(z.string()).optional(),
    result: z.enum(CALL_RESULTS).optional(),
    /** The redirect or transfer target that picked up. */
    answeredBy: z.string().optional(),
    recordings: z
      .array(
        z.strictObject({
          status: z.enum(['stored', 'discarded', 'lost', 'deleted']),
          /** Seconds of audio, within half a second. */
          seconds: z.number().min(0).optional(),
        }),
      )
      .optional(),
  }),
});

export const flowTestFileSchema = z.strictObject({
  $schema: z.string().optional(),
  /** The flow file, relative to this file. */
  flow: z.string().min(1),
  /** Default date and time of every case. */
  at: isoInstant.optional(),
  /** Redirect and transfer targets: how each answers (default: after 2 s). */
  targets: z.record(z.string(), targetScriptSchema).optional(),
  cases: z.array(flowTestCaseSchema).min(1),
});

export type FlowTestFile = z.output<typeof flowTestFileSchema>;
export type FlowTestCase = z.output<typeof flowTestCaseSchema>;

/** The JSON Schema of test files, for editors (derived from the zod schema). */
export function flowTestJsonSchema(): string {
  const schema = z.toJSONSchema(flowTestFileSchema, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, $id: 'https://graph-ivr.dev/flow-test.schema.json', title: 'graph-ivr flow test file' }, null, 2)}\n`;
}

export class FlowTestFileError extends Error {}

/** Reads and checks a test file and its flow; every problem is named with its path. */
export function loadFlowTests(file: string): { tests: FlowTestFile; flowFile: string; number: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlowTestFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = parseFlowText(text);
  if ('problem' in parsed) throw new FlowTestFileError(`${file}: ${parsed.problem}`);
  const checked = flowTestFileSchema.safeParse(parsed.value);
  if (!checked.success)
    throw new FlowTestFileError(
      `${file}: invalid flow test file:\n${checked.error.issues
        .map(
          (i) =>
            `  $${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`,
        )
        .join('\n')}`,
    );
  const flowFile = resolve(dirname(file), checked.data.flow);
  let flowText: string;
  try {
    flowText = readFileSync(flowFile, 'utf8');
  } catch (err) {
    throw new FlowTestFileError(`${file}: cannot read the flow ${flowFile}: ${(err as Error).message}`);
  }
  const flow = validateFlowText(flowText, flowFile);
  if (!flow.flow)
    throw new FlowTestFileError(
      `${file}: the flow is invalid:\n${flow.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
    );
  return { tests: checked.data, flowFile, number: flow.flow.flow.number };
}

export interface CaseResult {
  name: string;
  passed: boolean;
  /** Each expectation not met: the field, what was expected and what happened. */
  differences: Array<{ field: string; expected: unknown; actual: unknown }>;
  /** What happened, as `npm run sim` prints it. */
  report: string;
}

interface BotRecord {
  decision?: { type: string; rule?: string };
  nodesVisited?: string[];
  digits?: string[];
  recordings?: Array<{ status: string; durationSeconds: number | null }>;
}

export function resultOf(
  summary: CallSummary,
  decision: string | undefined,
): (typeof CALL_RESULTS)[number] | string {
  const { code, subcode } = summary.resultInfo;
  if (decision === 'reject') return 'rejected';
  if (summary.answeredBy) return code === 0 && subcode === 7015 ? 'transferred' : 'answeredByTarget';
  if (code === 0 && subcode === 7015) return 'transferred';
  if (code === 200 && subcode === 7000) return 'botHungUp';
  if (code === 200 && subcode === 540000) return 'callerHungUp';
  if (code === 408 || code === 480) return 'notAnswered';
  if (code === 486) return 'busy';
  return `${code}/${subcode ?? 0}`;
}

const OUTCOMES: Record<string, string> = { answer: 'answered', reject: 'rejected', redirect: 'redirected' };

/** Compares one finished call with its case's expectations (only the fields given are checked). */
export function compareCase(
  expect: FlowTestCase['expect'],
  summary: CallSummary,
  record: Record<string, unknown> | null,
): CaseResult['differences'] {
  const rec = (record ?? {}) as BotRecord;
  const actual: Record<string, unknown> = {
    outcome: rec.decision ? (OUTCOMES[rec.decision.type] ?? rec.decision.type) : null,
    rule: rec.decision?.rule ?? null,
    path: rec.nodesVisited ?? [],
    digits: rec.digits ?? [],
    result: resultOf(summary, rec.decision?.type),
    answeredBy: summary.answeredBy ?? null,
  };
  const out: CaseResult['differences'] = [];
  for (const field of ['outcome', 'rule', 'path', 'digits', 'result', 'answeredBy'] as const) {
    const expected = expect[field];
    if (expected === undefined) continue;
    if (JSON.stringify(expected) !== JSON.stringify(actual[field]))
      out.push({ field, expected, actual: actual[field] });
  }
  if (expect.recordings) {
    const got = (rec.recordings ?? []).map((r) => ({ status: r.status, seconds: r.durationSeconds }));
    const same =
      got.length === expect.recordings.length &&
      expect.recordings.every(
        (e, i) =>
          e.status === got[i]!.status &&
          (e.seconds === undefined || Math.abs(e.seconds - (got[i]!.seconds ?? -1)) <= 0.5),
      );
    if (!same) out.push({ field: 'recordings', expected: expect.recordings, actual: got });
  }
  if (!record) out.push({ field: 'record', expected: 'the bot has a record of the call', actual: null });
  return out;
}

export interface RunOptions {
  timeScale?: number;
  seed?: number;
  /** Told when each case finishes (progress). */
  onCase?: (result: CaseResult) => void;
}

/**
 * Runs every case of a test file in one simulator stack. The bot's clock (IVR_TEST_NOW) is
 * set per case: the bot process restarts when a case needs another date and time.
 */
export async function runFlowTests(file: string, options: RunOptions = {}): Promise<CaseResult[]> {
  const { tests, flowFile, number } = loadFlowTests(file);
  const dir = mkdtempSync(join(tmpdir(), 'ivr-flow-test-'));
  copyFileSync(flowFile, join(dir, basename(flowFile)));
  const atOf = (c: FlowTestCase) => c.at ?? tests.at;
  let stack: Stack | null = null;
  const results: CaseResult[] = [];
  try {
    const firstAt = atOf(tests.cases[0]!);
    stack = await startStack({
      flowsDir: dir,
      sim: {
        timeScale: options.timeScale ?? 0.05,
        seed: options.seed ?? 1,
        targets: tests.targets ?? {},
        // A flow test checks the flow, not the machine: Graph's 15 s answer deadline is 750 ms
        // of real time at 0.05, which a bot starting on a busy laptop can miss.
        answerDeadlineSeconds: 300,
      },
      scaleBotTimers: true,
      botEnv: firstAt ? { IVR_TEST_NOW: firstAt } : {},
    });
    for (const c of tests.cases) {
      const at = atOf(c);
      if (at !== stack.env.IVR_TEST_NOW) {
        if (at) stack.env.IVR_TEST_NOW = at;
        else delete stack.env.IVR_TEST_NOW;
        await stack.stopBot(0);
        await stack.startBot(0);
      }
      const { done } = stack.sim.placeCall({ ...c.call, to: c.call.to ?? number });
      const summary = await done;
      const record = await stack.callRecord(summary.callId);
      const differences = compareCase(c.expect, summary, record);
      const result: CaseResult = {
        name: c.name,
        passed: differences.length === 0,
        differences,
        report: callReport(stack.sim, summary, record, 'recordings'),
      };
      results.push(result);
      options.onCase?.(result);
    }
  } finally {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/** One case's outcome as text: a tick, or a cross with each difference and the call's timeline. */
export function formatCaseResult(r: CaseResult): string {
  if (r.passed) return `ok   ${r.name}`;
  const lines = [`FAIL ${r.name}`];
  for (const d of r.differences)
    lines.push(`     ${d.field}: expected ${JSON.stringify(d.expected)}, got ${JSON.stringify(d.actual)}`);
  lines.push(r.report.replace(/^/gm, '     '));
  return lines.join('\n');
}
