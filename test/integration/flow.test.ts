import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import {
  startBotHarness,
  incomingCall,
  callUpdate,
  operationDone,
  rows,
  rows as rowsOf,
  type BotHarness,
} from '../support/botHarness';
import type { CapturedRequest } from '../support/fakeGraph';
import { expectedContextKey } from '../support/keys';
import { createApp } from '../../shared/app';
import { loadSettings } from '../../shared/config/settings';

/**
 * An answered call runs its flow driven only by notifications, against real Azurite:
 * prompts, menus (with queue timers), voicemail saved to Blob storage, hang-up, records.
 */

const flow = {
  number: '+14255550122',
  prompts: {
    greeting: 'https://media.example.com/greeting.wav',
    menu: 'https://media.example.com/menu.wav',
    again: 'https://media.example.com/again.wav',
    beep: 'https://media.example.com/leave-message.wav',
    thanks: 'https://media.example.com/thanks.wav',
  },
  default: { type: 'answer', start: 'greeting' },
  nodes: {
    greeting: { type: 'play', prompts: ['greeting'], next: 'menu' },
    menu: {
      type: 'menu',
      prompt: 'menu',
      options: { '1': 'voicemail', '9': 'bye' },
      noInputTimeoutSeconds: 1,
      noInputPrompt: 'again',
      maxAttempts: 2,
      fallback: 'bye',
    },
    voicemail: {
      type: 'record',
      prompt: 'beep',
      maxRecordDurationSeconds: 30,
      stopTones: ['#'],
      next: { stopTone: 'thanks', maxDuration: 'thanks', silence: 'thanks', failure: 'bye' },
    },
    thanks: { type: 'hangup', prompt: 'thanks' },
    bye: { type: 'hangup' },
  },
  recordings: { persist: true, retentionDays: 7 },
};

const noKeep = { ...flow, number: '+14255550123', recordings: { persist: false, retentionDays: 1 } };

let bot: BotHarness;
const stalled: Array<() => void> = [];
let media: Server;
let mediaUrl: string;
const WAV = makeWav(3);

beforeAll(async () => {
  bot = await startBotHarness({ flows: { 'line.json': flow, 'nokeep.json': noKeep } });
  let flaky = 0;
  media = createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer rec-token') return void res.writeHead(401).end();
    if (req.url === '/gone.wav') return void res.writeHead(404).end();
    if (req.url === '/flaky.wav' && flaky++ < 1) return void res.writeHead(503).end();
    if (req.url === '/down.wav') return void res.writeHead(503).end();
    if (req.url === '/stall.wav') {
      // Holds the download until the test lets it go: the call must not wait for it.
      stalled.push(() => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(WAV);
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(WAV);
  });
  await new Promise<void>((ok) => media.listen(0, '127.0.0.1', ok));
  mediaUrl = `http://127.0.0.1:${(media.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  for (const release of stalled.splice(0)) release();
  await bot?.stop();
  await new Promise<void>((ok) => media?.close(() => ok()));
});

let n = 0;
const newCallId = () => `f${(++n).toString(16).padStart(7, '0')}-aaaa-bbbb-cccc-ddddeeeeffff`;
const sent = (callId: string) => bot.graph.requests.filter((r) => r.callId === callId);
const actions = (callId: string) => sent(callId).map((r) => r.action);
const lastOp = (callId: string, action: string): CapturedRequest => {
  const r = sent(callId)
    .filter((x) => x.action === action)
    .pop();
  if (!r) throw new Error(`no ${action} sent for ${callId}`);
  return r;
};
const opContext = (r: CapturedRequest) => (r.body as { clientContext: string }).clientContext;
const promptUris = (r: CapturedRequest) =>
  (r.body as { prompts: Array<{ mediaInfo: { uri: string } }> }).prompts.map((p) =>
    p.mediaInfo.uri.split('/').pop(),
  );

async function complete(callId: string, r: CapturedRequest, extra: Record<string, unknown> = {}) {
  const res = await bot.notify(
    operationDone(callId, `op-${Math.random().toString(16).slice(2)}`, {
      '@odata.type':
        r.action === 'recordResponse'
          ? '#microsoft.graph.recordOperation'
          : '#microsoft.graph.playPromptOperation',
      status: 'completed',
      clientContext: opContext(r),
      resultInfo: { code: 200, subcode: 0, message: 'Action completed' },
      ...extra,
    }),
  );
  expect(res.status).toBe(202);
}
const tone = (callId: string, sequenceId: number, t: string) =>
  bot.notify(callUpdate(callId, { state: 'established', toneInfo: { sequenceId, tone: t } }));

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 8000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function answered(callId: string, to = '+14255550122') {
  await bot.notify(incomingCall(callId, { to }));
  await bot.notify(callUpdate(callId, { state: 'establishing' }));
  await bot.notify(callUpdate(callId, { state: 'established' }));
}

/** A caller who picks voicemail; the recording completes as given; the call ends. Returns the recordings in the record. */
async function voicemailWith(
  completion: Record<string, unknown>,
  to?: string,
): Promise<Array<Record<string, unknown>>> {
  const callId = newCallId();
  await answered(callId, to);
  await complete(callId, lastOp(callId, 'playPrompt'));
  await tone(callId, 1, 'tone1');
  await complete(callId, lastOp(callId, 'recordResponse'), completion);
  await bot.notify(callUpdate(callId, { state: 'terminated' }, 'deleted'));
  return recordingsOf(callId);
}

/** The call's recordings once the archive queue has handled them (they leave the notification path). */
async function recordingsOf(callId: string, count = 1): Promise<Array<Record<string, unknown>>> {
  return waitFor(`${count} archived recording(s) of ${callId}`, async () => {
    const res = await fetch(`${bot.host.url}/api/calls/${callId}`);
    const record = (await res.json()) as { recordings?: Array<Record<string, unknown>> };
    return (record.recordings?.length ?? 0) >= count ? record.recordings! : undefined;
  });
}

test('a voicemail call: greeting, menu, key 1, message ended by #, stored in Blob, thanks, hang-up, record', async () => {
  const callId = newCallId();
  await answered(callId);
  expect(actions(callId)).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
  expect(promptUris(lastOp(callId, 'playPrompt'))).toEqual(['greeting.wav']);
  await complete(callId, lastOp(callId, 'playPrompt'));
  expect(promptUris(lastOp(callId, 'playPrompt'))).toEqual(['menu.wav']);
  // The caller presses 1 while the menu plays: barge-in cancels the prompt.
  await tone(callId, 1, 'tone1');
  expect(actions(callId).slice(3)).toEqual(['playPrompt', 'cancelMediaProcessing', 'recordResponse']);
  const record = lastOp(callId, 'recordResponse');
  expect(record.body).toMatchObject({
    stopTones: ['#'],
    maxRecordDurationInSeconds: 30,
    playBeep: true,
    bargeInAllowed: false,
  });
  await tone(callId, 2, 'pound');
  await complete(callId, record, {
    completionReason: 'stopToneDetected',
    recordingLocation: `${mediaUrl}/rec1.wav`,
    recordingAccessToken: 'rec-token',
  });
  expect(promptUris(lastOp(callId, 'playPrompt'))).toEqual(['thanks.wav']);
  await complete(callId, lastOp(callId, 'playPrompt'));
  expect(actions(callId).at(-1)).toBe('delete');
  await bot.notify(
    callUpdate(
      callId,
      { state: 'terminated', resultInfo: { code: 200, subcode: 7000, message: 'bot hung up' } },
      'deleted',
    ),
  );
  expect(sent(callId).every((r) => r.issues.length === 0)).toBe(true);

  await recordingsOf(callId);
  const record1 = (await (await fetch(`${bot.host.url}/api/calls/${callId}`)).json()) as Record<
    string,
    unknown
  >;
  expect(record1).toMatchObject({
    callId,
    number: '+14255550122',
    caller: '+12065550123',
    decision: { type: 'answer' },
    nodesVisited: ['greeting', 'menu', 'voicemail', 'thanks'],
    digits: ['1', '#'],
    result: { code: 200, subcode: 7000 },
  });
  const recordings = record1.recordings as Array<Record<string, unknown>>;
  expect(recordings).toHaveLength(1);
  expect(recordings[0]).toMatchObject({
    status: 'stored',
    node: 'voicemail',
    completionReason: 'stopToneDetected',
    bytes: WAV.length,
    durationSeconds: 3,
  });
  const blob = BlobServiceClient.fromConnectionString(bot.azurite.connectionString)
    .getContainerClient('recordings')
    .getBlockBlobClient(String(recordings[0]!.blobName));
  expect(Buffer.compare(await blob.downloadToBuffer(), WAV)).toBe(0);
  expect(new Date(String(recordings[0]!.expiresAt)).getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
});

test('duplicated and reordered notifications send each Graph request once', async () => {
  const callId = newCallId();
  await bot.notify(incomingCall(callId, { to: '+14255550122' }));
  await bot.notify(callUpdate(callId, { state: 'established' }));
  await bot.notify(callUpdate(callId, { state: 'established' }));
  await bot.notify(callUpdate(callId, { state: 'establishing' }));
  expect(actions(callId)).toEqual(['answer', 'subscribeToTone', 'playPrompt']);
  const greeting = lastOp(callId, 'playPrompt');
  await Promise.all([complete(callId, greeting), complete(callId, greeting), complete(callId, greeting)]);
  expect(actions(callId)).toEqual(['answer', 'subscribeToTone', 'playPrompt', 'playPrompt']);
  await Promise.all([tone(callId, 1, 'tone9'), tone(callId, 1, 'tone9')]);
  expect(actions(callId).filter((a) => a === 'delete')).toHaveLength(1);
});

test('no input: the menu re-prompts from a queue timer, then falls back and hangs up', async () => {
  const callId = newCallId();
  await answered(callId);
  await complete(callId, lastOp(callId, 'playPrompt'));
  await complete(callId, lastOp(callId, 'playPrompt')); // the menu prompt ends; the 1 s timer starts
  const reprompt = await waitFor('re-prompt', () => sent(callId).filter((r) => r.action === 'playPrompt')[2]);
  expect(promptUris(reprompt)).toEqual(['again.wav', 'menu.wav']);
  await complete(callId, reprompt);
  await waitFor('hang-up after the last attempt', () => actions(callId).includes('delete'));
  expect(actions(callId).filter((a) => a === 'playPrompt')).toHaveLength(3);
});

test('a recording that cannot be downloaded is recorded as lost, not dropped', async () => {
  const recordings = await voicemailWith({
    completionReason: 'maxRecordDurationReached',
    recordingLocation: `${mediaUrl}/gone.wav`,
    recordingAccessToken: 'rec-token',
  });
  expect(recordings).toEqual([
    expect.objectContaining({ status: 'lost', error: expect.stringMatching(/404/) }),
  ]);
});

test('an unsafe recording location is refused and never fetched with the token', async () => {
  const recordings = await voicemailWith({
    completionReason: 'stopToneDetected',
    recordingLocation: 'http://files.example.net/rec.wav',
    recordingAccessToken: 'rec-token',
  });
  expect(recordings).toEqual([
    expect.objectContaining({ status: 'lost', error: expect.stringMatching(/must be https/) }),
  ]);
});

test('a number that must not keep media discards recordings without downloading them', async () => {
  const recordings = await voicemailWith(
    {
      completionReason: 'stopToneDetected',
      recordingLocation: `${mediaUrl}/gone.wav`,
      recordingAccessToken: 'wrong-token-would-401',
    },
    '+14255550123',
  );
  expect(recordings).toEqual([expect.objectContaining({ status: 'discarded', blobName: null })]);
});

test('a download that fails with 503 is retried while the location is valid, then stored', async () => {
  const recordings = await voicemailWith({
    completionReason: 'maxSilenceTimeout',
    recordingLocation: `${mediaUrl}/flaky.wav`,
    recordingAccessToken: 'rec-token',
  });
  expect(recordings).toEqual([
    expect.objectContaining({ status: 'stored', bytes: WAV.length, completionReason: 'maxSilenceTimeout' }),
  ]);
});

test('a media operation Graph completes synchronously moves the flow on without a notification', async () => {
  const callId = newCallId();
  bot.graph.responders.push((r) =>
    r.callId === callId && r.action === 'playPrompt' && promptUris(r)[0] === 'greeting.wav'
      ? {
          status: 200,
          body: {
            id: 'sync-op',
            status: 'completed',
            clientContext: opContext(r),
            resultInfo: { code: 200, subcode: 0 },
          },
        }
      : undefined,
  );
  await answered(callId);
  bot.graph.responders.pop();
  expect(
    sent(callId)
      .filter((r) => r.action === 'playPrompt')
      .map(promptUris),
  ).toEqual([['greeting.wav'], ['menu.wav']]);
});

test('recordings past their retention are deleted from Blob storage by housekeeping', async () => {
  const callId = newCallId();
  await answered(callId);
  await complete(callId, lastOp(callId, 'playPrompt'));
  await tone(callId, 1, 'tone1');
  await complete(callId, lastOp(callId, 'recordResponse'), {
    completionReason: 'stopToneDetected',
    recordingLocation: `${mediaUrl}/rec2.wav`,
    recordingAccessToken: 'rec-token',
  });
  await bot.notify(callUpdate(callId, { state: 'terminated' }, 'deleted'));
  const before = await recordingsOf(callId);
  const blob = BlobServiceClient.fromConnectionString(bot.azurite.connectionString)
    .getContainerClient('recordings')
    .getBlockBlobClient(String(before[0]!.blobName));
  expect(await blob.exists()).toBe(true);
  const app = createApp(loadSettings(bot.env), { getToken: async () => 't' });
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  expect((await app.archiver(quiet).expire(new Date())).deleted).toBe(0);
  const { deleted } = await app.archiver(quiet).expire(new Date(Date.now() + 8 * 86_400_000));
  expect(deleted).toBeGreaterThanOrEqual(1);
  expect(await blob.exists()).toBe(false);
  const after = (await (await fetch(`${bot.host.url}/api/calls/${callId}`)).json()) as {
    recordings: Array<{ status: string }>;
  };
  expect(after.recordings[0]!.status).toBe('deleted');
  await app.liveFlows.close();
});

test('the caller hanging up mid-recording closes the call with no completion', async () => {
  const callId = newCallId();
  await answered(callId);
  await complete(callId, lastOp(callId, 'playPrompt'));
  await tone(callId, 1, 'tone1');
  await bot.notify(
    callUpdate(
      callId,
      { state: 'terminated', resultInfo: { code: 200, subcode: 540000, message: 'caller hung up' } },
      'deleted',
    ),
  );
  const record = (await (await fetch(`${bot.host.url}/api/calls/${callId}`)).json()) as Record<
    string,
    unknown
  >;
  expect(record).toMatchObject({
    nodesVisited: ['greeting', 'menu', 'voicemail'],
    result: { subcode: 540000 },
    recordings: [],
  });
  expect(actions(callId).at(-1)).toBe('recordResponse');
  // No completion ever comes: when the grace timer fires, the recording is on record as lost.
  const key = (await expectedContextKey(bot.table(), callId))!;
  const ctx = (await rows(bot.table()))
    .filter((r) => r.partitionKey === `c_${key}` && r.rowKey === 'ctx')
    .map((r) => JSON.parse(String(r.data)) as { pendingRecording: { timerId: string } })[0]!;
  const fired = await fetch(`${bot.host.url}/admin/functions/ivrTimers`, {
    method: 'POST',
    body: JSON.stringify({
      input: JSON.stringify({ clientContext: key, timerId: ctx.pendingRecording.timerId }),
    }),
  });
  expect(fired.status).toBe(202);
  expect(await recordingsOf(callId)).toEqual([
    expect.objectContaining({
      status: 'lost',
      node: 'voicemail',
      error: 'the call ended during the recording and no recording was delivered',
    }),
  ]);
});

test('the caller hanging up mid-recording, with the completion after terminated: the message is stored', async () => {
  const callId = newCallId();
  await answered(callId);
  await complete(callId, lastOp(callId, 'playPrompt'));
  await tone(callId, 1, 'tone1');
  await bot.notify(
    callUpdate(callId, { state: 'terminated', resultInfo: { code: 200, subcode: 540000 } }, 'deleted'),
  );
  await complete(callId, lastOp(callId, 'recordResponse'), {
    resultInfo: { code: '200', subcode: '8511', message: 'max silence timeout reached' },
    recordingLocation: `${mediaUrl}/late.wav`,
    recordingAccessToken: 'rec-token',
  });
  expect(await recordingsOf(callId)).toEqual([
    expect.objectContaining({ status: 'stored', node: 'voicemail', bytes: WAV.length }),
  ]);
  // The call had ended: the flow did not go on to its thanks prompt.
  expect(actions(callId).at(-1)).toBe('recordResponse');
});

test('a recording that is silent from the start is not kept as a voicemail', async () => {
  const recordings = await voicemailWith({
    resultInfo: { code: 200, subcode: 8510, message: 'initial silence timeout' },
    recordingLocation: `${mediaUrl}/silence.wav`,
    recordingAccessToken: 'rec-token',
  });
  expect(recordings).toEqual([
    expect.objectContaining({
      status: 'discarded',
      blobName: null,
      error: 'the caller said nothing (initial silence): not a message',
    }),
  ]);
});

test('keepAlive runs for established calls, and a 404 closes the call', async () => {
  const callId = newCallId();
  await answered(callId);
  const gone = newCallId();
  await answered(gone);
  bot.graph.responders.push((r) =>
    r.callId === gone && r.action === 'keepAlive'
      ? { status: 404, body: { error: { code: 'NotFound', message: 'gone' } } }
      : undefined,
  );
  const res = await fetch(`${bot.host.url}/admin/functions/keepAlive`, { method: 'POST', body: '{}' });
  expect(res.status).toBe(202);
  bot.graph.responders.pop();
  expect(actions(callId)).toContain('keepAlive');
  const ctx = (await rows(bot.table()))
    .filter((r) => r.rowKey === 'ctx' && r.callId === gone)
    .map((r) => JSON.parse(String(r.data)));
  expect(ctx[0]).toMatchObject({ phase: 'ended', result: { code: 404 } });
});

test('housekeeping closes calls that ended unseen after the configured idle time', async () => {
  const callId = newCallId();
  await answered(callId);
  const app = createApp(loadSettings(bot.env), { getToken: async () => 't' });
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  // Not yet idle long enough: nothing happens.
  expect((await app.calls(quiet).sweepStale(240)).closed).toBe(0);
  const future = app.calls(quiet, { now: () => new Date(Date.now() + 5 * 3600_000) });
  const { closed } = await future.sweepStale(240);
  expect(closed).toBeGreaterThanOrEqual(1);
  expect(actions(callId)).toContain('delete');
  const ctx = (await rows(bot.table()))
    .filter((r) => r.rowKey === 'ctx' && r.callId === callId)
    .map((r) => JSON.parse(String(r.data)));
  expect(ctx[0]).toMatchObject({ phase: 'ended', result: { message: expect.stringMatching(/sweep/) } });
  // Its flows' background check must not outlive the test's storage.
  await app.liveFlows.close();
});

function makeWav(seconds: number): Buffer {
  const rate = 16000;
  const data = Buffer.alloc(seconds * rate * 2);
  for (let i = 0; i < seconds * rate; i++)
    data.writeInt16LE(Math.round(3000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

test('GET /api/calls/{callId} shows where a call in progress is, and 404 for an unknown call', async () => {
  const callId = newCallId();
  await answered(callId);
  await complete(callId, lastOp(callId, 'playPrompt'));
  const live = await fetch(`${bot.host.url}/api/calls/${callId}`);
  expect(live.status).toBe(200);
  expect(await live.json()).toMatchObject({
    status: 'inProgress',
    callId,
    number: '+14255550122',
    phase: 'established',
    node: 'menu',
    nodesVisited: ['greeting', 'menu'],
  });
  const unknown = await fetch(`${bot.host.url}/api/calls/00000000-0000-0000-0000-000000000000`);
  expect(unknown.status).toBe(404);
  const bad = await fetch(`${bot.host.url}/api/calls/${encodeURIComponent("x' or 1=1")}`);
  expect(bad.status).toBe(400);
});

test('a stalled recording source does not hold the call: the caller hears the next prompt at once', async () => {
  const callId = newCallId();
  await answered(callId);
  await complete(callId, lastOp(callId, 'playPrompt'));
  await tone(callId, 1, 'tone1');
  await complete(callId, lastOp(callId, 'recordResponse'), {
    completionReason: 'stopToneDetected',
    recordingLocation: `${mediaUrl}/stall.wav`,
    recordingAccessToken: 'rec-token',
  });
  // Answered 202 and the thanks prompt sent while the download is still held by the source.
  expect(promptUris(lastOp(callId, 'playPrompt'))).toEqual(['thanks.wav']);
  await waitFor('the download to start', () => stalled.length > 0);
  for (const release of stalled.splice(0)) release();
  await bot.notify(callUpdate(callId, { state: 'terminated' }, 'deleted'));
  expect(await recordingsOf(callId)).toEqual([
    expect.objectContaining({ status: 'stored', bytes: WAV.length }),
  ]);
});

test('a recording job that fails its last attempt is recorded as lost and kept in the poison queue, without its token', async () => {
  const callId = newCallId();
  const job = {
    callId,
    seq: 7,
    number: '+14255550122',
    caller: '+12065550123',
    node: 'voicemail',
    recordedAt: new Date().toISOString(),
    outcome: 'stopTone',
    completionReason: 'stopToneDetected',
    recording: { location: `${mediaUrl}/down.wav`, accessToken: 'rec-token' },
    reason: null,
    persist: true,
    retentionDays: 7,
    attempt: 5,
  };
  const res = await fetch(`${bot.host.url}/admin/functions/recordings`, {
    method: 'POST',
    body: JSON.stringify({ input: JSON.stringify(job) }),
  });
  expect(res.status).toBe(202);
  const rows = (await rowsOf(bot.table(bot.env.IVR_RECORDS_TABLE!))).filter((r) => r.partitionKey === callId);
  expect(rows.map((r) => JSON.parse(String(r.data)))).toEqual([
    expect.objectContaining({ status: 'lost', error: 'gave up after 5 attempts: download answered 503' }),
  ]);
  const poison = new QueueClient(bot.azurite.connectionString, 'ivr-recordings-poison');
  const messages = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems
    .map((m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as typeof job)
    .filter((m) => m.callId === callId);
  expect(messages).toEqual([
    expect.objectContaining({
      callId,
      seq: 7,
      recording: { location: job.recording.location, accessToken: '(removed)' },
    }),
  ]);
});

test('malformed timer messages are dropped with a log line, never retried into the poison queue', async () => {
  for (const input of [
    '{"clientContext":"\\ud800aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","timerId":"noInput-1"}',
    '{"clientContext":"a/b#c?d","timerId":"noInput-1"}',
    'not json',
    '{"clientContext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","timerId":"noInput-1"}',
  ]) {
    const res = await fetch(`${bot.host.url}/admin/functions/ivrTimers`, {
      method: 'POST',
      body: JSON.stringify({ input }),
    });
    expect([input, res.status]).toEqual([input, 202]);
  }
});
