import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { TableClient } from '@azure/data-tables';
import { startStack, type Stack, type StackOptions } from '../../sim/stack';
import type {
  CallerScriptInput,
  CallSummary,
  GraphRequestRecord,
  NotificationRecord,
  Simulator,
} from '../../sim';
import type { CallContext } from '../../shared/ivr/context';
import { expectedContextKey } from '../support/keys';
import type { CallRecord } from '../../shared/storage/recordStore';

/**
 * Helpers for the end-to-end tests: the whole product (Azurite, compiled bot processes with
 * the real credential and callback-JWT paths, the Graph simulator) started with `startStack`,
 * and the assertions every scenario makes about what the bot sent, stored and recorded.
 */

export const DEMO_FLOWS = join(__dirname, '..', '..', 'sim', 'demo', 'flows');

/** The demo numbers (sim/demo/flows). */
export const FRONT_DESK = '+14255550100'; // office always open
export const AFTER_HOURS = '+14255550101'; // office never open: redirect to the on-call phones
export const DESK_PHONE = '+14255550150'; // the frontDesk transfer target
export const ON_CALL = ['+14255550177', '+14255550178'] as const;
export const BLOCKED = '+14255550666';
export const CALLER = '+14255550123';

/** Real seconds per simulated second: a 28 s voicemail call takes 1.4 s. */
export const TIME_SCALE = 0.05;

/**
 * The simulator's answer deadline in the demo stack, unless a suite sets its own: Graph's 15 s
 * would be 750 ms of real time, which a bot on a loaded machine can miss (seen: a call's answer
 * sent 800 ms after its notification). 300 s is 15 s of real time. Suites about the deadline
 * set 15.
 */
export const STACK_ANSWER_DEADLINE_SECONDS = 300;

export interface E2eStack extends Stack {
  /** The bot processes' log lines, for failure messages and the "stored once" check. */
  logs: string[];
}

/**
 * Starts the demo stack (Azurite + bots + simulator) and warms every bot instance up;
 * another flows folder (`options.flowsDir`) needs its own `warmUpCall`.
 */
export async function startDemoStack(
  options: Partial<StackOptions> = {},
  warmUpCall?: CallerScriptInput,
): Promise<E2eStack> {
  const logs: string[] = [];
  const stack = await startStack({
    flowsDir: DEMO_FLOWS,
    ...options,
    sim: {
      timeScale: TIME_SCALE,
      seed: 1,
      answerDeadlineSeconds: STACK_ANSWER_DEADLINE_SECONDS,
      ...(options.sim ?? {}),
    },
    log: (line) => {
      logs.push(line);
      options.log?.(line);
    },
  });
  const e2e = Object.assign(stack, { logs });
  try {
    await warmUp(e2e, warmUpCall);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return e2e;
}

/**
 * A first call loads the bot's settings, flows, signing keys and Graph credential: a cold
 * start that, on a loaded test machine, can take most of the (scaled) 15 s answer deadline,
 * which these tests are not about. Blocked callers (or `script`'s) ring until every instance
 * has decided an incoming call since this started (its log says so), whether or not that one
 * was in time.
 * One call per instance at once: the proxy deals the incoming-call notifications out in turn.
 * Call it again after `startBot`: a restarted process is cold again.
 */
export async function warmUp(
  stack: E2eStack,
  script: CallerScriptInput = { from: BLOCKED, to: FRONT_DESK },
): Promise<void> {
  const from = stack.logs.length;
  const decided = (i: number) =>
    stack.logs.slice(from).some((l) => l.startsWith(`[bot ${i}] `) && l.includes('incoming call decided'));
  for (let round = 0; round < 10; round++) {
    const calls = stack.bots.map(() => stack.sim.placeCall(script));
    await withTimeout(Promise.all(calls.map((c) => c.done)), 20_000, 'warm-up calls');
    if (stack.bots.every((bot, i) => !bot.running || decided(i))) return;
  }
  throw new Error(
    `warm-up: not every bot instance took an incoming call\n${stack.logs.slice(-20).join('\n')}`,
  );
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---- one call ------------------------------------------------------------------------------

/** Places a call and waits until it ended and the bot was told (`done`), with a real-time limit. */
export async function call(
  stack: Stack,
  script: CallerScriptInput,
  timeoutMs = 20_000,
): Promise<CallSummary & { callId: string }> {
  const { callId, done } = stack.sim.placeCall(script);
  const summary = await explain(stack, [callId], () => withTimeout(done, timeoutMs, `call ${callId}`));
  return { ...summary, callId };
}

/**
 * Runs assertions about some calls; a failure message gets each call's timeline, its Graph
 * requests and the bot's recent log lines, so a failure can be read without a rerun.
 */
export async function explain<T>(stack: Stack, callIds: string[], fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const detail = callIds
      .map((id) => {
        const reqs = requestsFor(stack.sim, id)
          .map(
            (r) =>
              `    ${r.method} ${actionOf(r)} ${r.status}${r.fault ? ` (${r.fault})` : ''}${r.issues.length ? ` ${JSON.stringify(r.issues)}` : ''}`,
          )
          .join('\n');
        const notes = notificationsFor(stack.sim, id)
          .map(
            (n) =>
              `    ${describeNotification(n)} -> ${n.status}${n.duplicate ? ' (duplicate)' : ''}${n.reordered ? ' (reordered)' : ''}`,
          )
          .join('\n');
        return `call ${id}:\n${stack.sim.formatTimeline(id)}\n  Graph requests:\n${reqs}\n  notifications:\n${notes}`;
      })
      .join('\n\n');
    const logs = 'logs' in stack ? (stack as E2eStack).logs.slice(-40).join('\n') : '';
    if (err instanceof Error) {
      err.message += `\n\n${detail}\n\nbot log (last lines):\n${logs}`;
      throw err;
    }
    throw err;
  }
}

// ---- Graph requests ------------------------------------------------------------------------

/** The Graph requests the bot sent about one call (an outbound call's create request has no call id yet). */
export function requestsFor(sim: Simulator, callId: string): GraphRequestRecord[] {
  return sim.requests.filter((r) => r.callId === callId);
}

/** "answer", "playPrompt", … for actions; "DELETE", "GET" on the call; "create" for a new call. */
export function actionOf(r: GraphRequestRecord): string {
  if (r.method === 'POST' && r.path === '/communications/calls') return 'create';
  const m = /^\/communications\/calls\/[^/]+(?:\/(.+))?$/.exec(r.path);
  if (r.method === 'POST' && m?.[1]) return m[1];
  return r.method;
}

export const succeeded = (r: GraphRequestRecord): boolean => r.status < 400;

/** Counts per action, of the successful requests only unless `all`. */
export function countByAction(requests: readonly GraphRequestRecord[], all = false): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of requests) {
    if (!all && !succeeded(r)) continue;
    const a = actionOf(r);
    counts[a] = (counts[a] ?? 0) + 1;
  }
  return counts;
}

/** The successful requests of one call, in order, as "action" strings. */
export function actionsOf(sim: Simulator, callId: string): string[] {
  return requestsFor(sim, callId).filter(succeeded).map(actionOf);
}

/** Every request valid (no CSDL/limit issues) and accepted (status < 400). */
export function expectCleanRequests(requests: readonly GraphRequestRecord[]): void {
  const bad = requests.filter((r) => r.status >= 400 || r.issues.length > 0);
  expect(bad.map((r) => ({ action: actionOf(r), status: r.status, issues: r.issues }))).toEqual([]);
}

/** Valid bodies everywhere; every failure is an injected fault (429/503), never a bot mistake. */
export function expectOnlyInjectedFailures(requests: readonly GraphRequestRecord[]): void {
  const bad = requests.filter((r) => r.issues.length > 0 || (r.status >= 400 && !r.fault));
  expect(bad.map((r) => ({ action: actionOf(r), status: r.status, issues: r.issues }))).toEqual([]);
}

/** The prompt files (last path segment of each URI) of the successful playPrompt requests, in order. */
export function promptsPlayed(sim: Simulator, callId: string): string[] {
  return requestsFor(sim, callId)
    .filter((r) => succeeded(r) && actionOf(r) === 'playPrompt')
    .flatMap((r) =>
      ((r.body as { prompts?: { mediaInfo?: { uri?: string } }[] }).prompts ?? []).map((p) =>
        fileOf(p.mediaInfo?.uri ?? ''),
      ),
    );
}

function fileOf(uri: string): string {
  return uri.slice(uri.lastIndexOf('/') + 1);
}

/**
 * Requests that change the call must each be sent exactly once: one answer, one
 * subscribeToTone, one playPrompt per distinct operation (their clientContexts are unique),
 * one recordResponse per voicemail, at most one transfer and one DELETE.
 */
export function expectNoRepeatedChanges(sim: Simulator, callId: string): void {
  const ok = requestsFor(sim, callId).filter(succeeded);
  const contexts = ok
    .filter((r) =>
      ['playPrompt', 'recordResponse', 'subscribeToTone', 'cancelMediaProcessing'].includes(actionOf(r)),
    )
    .map((r) => (r.body as { clientContext?: string }).clientContext);
  expect(new Set(contexts).size).toBe(contexts.length);
  const once = ['answer', 'reject', 'redirect', 'subscribeToTone', 'transfer', 'DELETE'];
  const repeated = Object.entries(countByAction(ok)).filter(([action, n]) => once.includes(action) && n > 1);
  expect(repeated).toEqual([]);
}

// ---- notifications -------------------------------------------------------------------------

export function notificationsFor(sim: Simulator, callId: string): NotificationRecord[] {
  return sim.notifications.filter((n) => n.callId === callId);
}

function describeNotification(n: NotificationRecord): string {
  const v = n.body.value[0]!;
  const data = v.resourceData as { state?: string; status?: string; toneInfo?: { tone?: string } };
  const what = v.resourceUrl.includes('/operations/') ? `operation ${data.status}` : (data.state ?? '');
  return `${v.changeType} ${what}${data.toneInfo ? ` tone ${data.toneInfo.tone}` : ''}`;
}

/** Resolves once the platform has delivered (or tried to) the call's final "deleted" notification. */
export function callEnded(sim: Simulator, callId: string, timeoutMs = 20_000): Promise<NotificationRecord> {
  return sim.waitFor(
    () =>
      sim.notifications.find(
        (n) =>
          n.callId === callId &&
          n.body.value[0]?.changeType === 'deleted' &&
          n.body.value[0].resourceUrl === `/communications/calls/${callId}`,
      ),
    timeoutMs,
  );
}

// ---- what the bot stored ------------------------------------------------------------------

export async function callRecord(stack: Stack, callId: string): Promise<CallRecord> {
  const record = await stack.callRecord(callId);
  if (!record) throw new Error(`the bot has no record of call ${callId}`);
  return record as unknown as CallRecord;
}

/** The call's context row (ivrcalls table), as the bot left it. */
export async function callContext(stack: Stack, clientContext: string): Promise<CallContext> {
  const table = TableClient.fromConnectionString(stack.azurite.connectionString, 'ivrcalls', {
    allowInsecureConnection: true,
  });
  const row = await table.getEntity<{ data: string; phase: string }>(`c_${clientContext}`, 'ctx');
  return JSON.parse(row.data) as CallContext;
}

/** Contexts of calls the bot still considers in progress (phase not "ended"). */
export async function openContexts(stack: Stack): Promise<CallContext[]> {
  const table = TableClient.fromConnectionString(stack.azurite.connectionString, 'ivrcalls', {
    allowInsecureConnection: true,
  });
  const open: CallContext[] = [];
  const rows = table.listEntities<{ data: string }>({
    queryOptions: { filter: `RowKey eq 'ctx' and phase ne 'ended'` },
  });
  for await (const row of rows) open.push(JSON.parse(row.data) as CallContext);
  return open;
}

/** Whether the bot ever stored a context for this Graph call id (under its keyed hash, or linked to it). */
export async function callIdKnown(stack: Stack, callId: string): Promise<boolean> {
  const table = TableClient.fromConnectionString(stack.azurite.connectionString, 'ivrcalls', {
    allowInsecureConnection: true,
  });
  const key = await expectedContextKey(table, callId);
  if (!key) return false;
  for (const row of ['ctx', 'link']) {
    try {
      await table.getEntity(`c_${key}`, row);
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }
  return false;
}

function recordings(stack: Stack) {
  return BlobServiceClient.fromConnectionString(stack.azurite.connectionString).getContainerClient(
    'recordings',
  );
}

export async function downloadRecording(stack: Stack, blobName: string): Promise<Buffer> {
  return recordings(stack).getBlobClient(blobName).downloadToBuffer();
}

/** Names of the blobs in the recordings container that belong to a call. */
export async function blobsOfCall(stack: Stack, callId: string): Promise<string[]> {
  const container = recordings(stack);
  if (!(await container.exists())) return [];
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat()) if (blob.name.includes(callId)) names.push(blob.name);
  return names;
}

export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  seconds: number;
}

/** Parses a PCM WAV (RIFF) file; throws when it is not one or its sizes disagree. */
export function parseWav(buf: Buffer): WavInfo {
  if (buf.length < 44 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`not a RIFF/WAVE file (${buf.length} bytes)`);
  }
  if (buf.readUInt32LE(4) !== buf.length - 8) throw new Error('RIFF size does not match the file length');
  let offset = 12;
  let fmt: { channels: number; sampleRate: number; byteRate: number; bits: number; format: number } | null =
    null;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('ascii', offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      if (fmt.format !== 1) throw new Error(`not PCM (format ${fmt.format})`);
      if (body + size !== buf.length)
        throw new Error(`data chunk holds ${size} bytes, the file has ${buf.length - body}`);
      return {
        sampleRate: fmt.sampleRate,
        channels: fmt.channels,
        bitsPerSample: fmt.bits,
        seconds: size / fmt.byteRate,
      };
    }
    offset = body + size + (size % 2);
  }
  throw new Error('no data chunk');
}

/**
 * The voicemail of a call is stored exactly once: one recording row, "stored", one blob, a
 * 16 kHz mono 16-bit WAV holding `spokenSeconds` of speech, and one upload in the bot logs.
 */
/**
 * The call's record once its recordings are archived: the archive queue runs off the
 * notification path, so a recording lands a moment after the call ends.
 */
export async function archivedRecord(
  stack: Stack,
  callId: string,
  count = 1,
  timeoutMs = 10_000,
): Promise<CallRecord> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const record = await callRecord(stack, callId);
    if (record.recordings.length >= count || Date.now() > end) return record;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function expectVoicemailStored(
  stack: E2eStack,
  callId: string,
  spokenSeconds: number,
): Promise<void> {
  const record = await archivedRecord(stack, callId);
  expect(record.recordings).toHaveLength(1);
  const rec = record.recordings[0]!;
  expect(rec).toMatchObject({
    status: 'stored',
    node: 'leaveMessage',
    completionReason: 'stopToneDetected',
    error: null,
  });
  expect(rec.blobName).toEqual(expect.stringContaining(callId));
  expect(await blobsOfCall(stack, callId)).toEqual([rec.blobName]);
  const wav = await downloadRecording(stack, rec.blobName!);
  expect(wav.length).toBe(rec.bytes);
  const info = parseWav(wav);
  expect(info).toMatchObject({ sampleRate: 16000, channels: 1, bitsPerSample: 16 });
  expect(info.seconds).toBeCloseTo(spokenSeconds, 2);
  expect(rec.durationSeconds).toBeCloseTo(spokenSeconds, 1);
  expect(stack.logs.filter((l) => l.includes('recording stored') && l.includes(callId))).toHaveLength(1);
}

// ---- caller scripts ------------------------------------------------------------------------

/**
 * Greeting, then the menu: presses 2 while the menu plays (barge-in), speaks after the beep,
 * ends the message with # half a second later: the recording holds exactly `speakSeconds`.
 */
export function voicemailScript(from: string, speakSeconds: number): CallerScriptInput {
  return {
    from,
    to: FRONT_DESK,
    actions: [
      { waitFor: 'promptEnd' }, // greeting
      { waitFor: 'prompt' }, // the menu starts
      { after: 0.5, press: '2' },
      { waitFor: 'beep' },
      { after: 0.5, speak: speakSeconds },
      { after: 0.5, press: '#' },
    ],
  };
}

/** Greeting, menu: 1 (opening hours, after the menu prompt ended), back at the menu: 3 (barge-in) → transfer. */
export function hoursThenDeskScript(from: string): CallerScriptInput {
  return {
    from,
    to: FRONT_DESK,
    actions: [
      { waitFor: 'promptEnd' }, // greeting
      { waitFor: 'promptEnd' }, // the whole menu
      { after: 0.5, press: '1' },
      { waitFor: 'promptEnd' }, // opening hours
      { waitFor: 'prompt' }, // the menu again
      { after: 0.5, press: '3' },
    ],
  };
}
