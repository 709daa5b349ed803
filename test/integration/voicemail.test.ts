import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueueClient } from '@azure/storage-queue';
import { startBotHarness, type BotHarness } from '../support/botHarness';
import { getApp } from '../../shared/app';
import type { RecordingJob } from '../../shared/ivr/recordingArchiver';
import { safeKey } from '../../shared/storage/callStore';
import type { RecordingMeta } from '../../shared/storage/recordStore';
import type { VoicemailJob } from '../../shared/voicemail/job';
import { Signer } from '../../sim/signing';
import { SPEECH_AUDIENCE, SpeechService } from '../../sim/speech';
import { makeWav } from '../../sim/wav';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../support/webhookReceiver';

/**
 * Voicemail delivery through the real functions and Azurite: a recording job stores the audio,
 * the `voicemail` function transcribes it (a Speech stand-in that checks the token and the
 * multipart body), mails it through Graph sendMail (checked against the v1.0 mail metadata)
 * and/or queues a signed webhook, and every step lands on the recording's row.
 */

const SECRET = 'voicemail-webhook-secret-0123456789abcdef';
const SENDER = 'voicemail@contoso.com';
const NUMBER = '+14255550190';
const CALLER = '+12065550124';
// 10:00 in Redmond, on a Tuesday after the switch to summer time.
const RECORDED_AT = '2026-03-10T17:00:00.000Z';
const LOCAL_TIME = 'Tue, Mar 10, 2026, 10:00 AM PDT';
const TRANSCRIPT = 'Hi, this is Dana. Please call me back about my appointment.';

let bot: BotHarness;
let recordings: Server;
let recordingsUrl: string;
let receiver: WebhookReceiver | undefined;
let receiverUrl: string;
let speechServer: Server;
let signer: Signer;
let speech: SpeechService;
const hooks: ReceivedHook[] = [];

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

function flow(number: string, recordingsSection: Record<string, unknown>) {
  return {
    number,
    prompts: { leave: 'https://media.contoso.com/ivr/leave.wav' },
    default: { type: 'answer', start: 'voicemail' },
    nodes: {
      voicemail: {
        type: 'record',
        prompt: 'leave',
        next: { stopTone: 'bye', maxDuration: 'bye', silence: 'bye', failure: 'bye' },
      },
      bye: { type: 'hangup' },
    },
    recordings: { persist: true, retentionDays: 30, ...recordingsSection },
  };
}

beforeAll(async () => {
  // The platform's recording location: a WAV of the seconds the path names.
  recordings = createServer((req, res) => {
    const seconds = /^\/rec\/(\d+)\.wav$/.exec(req.url ?? '')?.[1];
    if (req.headers.authorization !== 'Bearer recording-token' || !seconds) return res.writeHead(401).end();
    const wav = makeWav(Number(seconds));
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length }).end(wav);
  });
  recordingsUrl = await listen(recordings);
  receiver = await startWebhookReceiver(hooks);
  receiverUrl = `${receiver.url}/hooks/voicemail`;
  signer = await Signer.create();
  speech = new SpeechService(signer, () => undefined);
  const [route] = speech.routes();
  speechServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://speech');
      const match = url.pathname.match(route!.path);
      if (!match || req.method !== 'POST') return res.writeHead(404).end();
      void Promise.resolve(
        route!.handle(
          {
            method: 'POST',
            path: url.pathname,
            query: url.searchParams,
            headers: req.headers,
            body: Buffer.concat(chunks),
            origin: 'http://speech',
          },
          match,
        ),
      ).then((reply) => {
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
      });
    });
  });
  const speechUrl = await listen(speechServer);
  bot = await startBotHarness({
    flows: {
      'vm-mail.json': flow(NUMBER, {
        timeZone: 'America/Los_Angeles',
        transcribe: { language: 'en-US' },
        deliver: {
          mail: { to: ['frontdesk@contoso.com', 'team@contoso.com'], subject: 'Contoso voicemail' },
        },
      }),
      'vm-plain.json': flow('+14255550191', {
        timeZone: 'America/Los_Angeles',
        deliver: { mail: { to: ['frontdesk@contoso.com'] } },
      }),
      'vm-hook.json': flow('+14255550192', {
        timeZone: 'Europe/Paris',
        transcribe: { language: 'en-US' },
        deliver: { webhook: { url: receiverUrl } },
      }),
    },
    env: {
      IVR_WEBHOOK_SECRET: SECRET,
      IVR_MAIL_SENDER: SENDER,
      IVR_SPEECH_ENDPOINT: speechUrl,
    },
    overrides: {
      getSpeechToken: async () =>
        signer.sign({ aud: SPEECH_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 3600 }),
    },
  });
}, 60_000);

afterAll(async () => {
  await Promise.all([close(recordings), receiver?.close(), close(speechServer)]);
  await bot?.stop();
});

beforeEach(() => {
  bot.graph.requests.length = 0;
  bot.graph.responders.length = 0;
  hooks.length = 0;
  speech.log.length = 0;
});

let calls = 0;
/** A recording job as the call service queues it: the audio at the platform's location. */
function recordingJob(flowId: string, seconds: number): RecordingJob {
  return {
    callId: `vm-call-${++calls}-${Date.now()}`,
    seq: 1,
    number: NUMBER,
    caller: CALLER,
    node: 'voicemail',
    recordedAt: RECORDED_AT,
    outcome: 'stopTone',
    completionReason: null,
    recording: { location: `${recordingsUrl}/rec/${seconds}.wav`, accessToken: 'recording-token' },
    reason: null,
    persist: true,
    retentionDays: 30,
    attempt: 1,
    flowId,
  };
}

/** Runs a queue function on one message, as Core Tools' admin endpoint does. */
async function run(name: string, message: unknown): Promise<void> {
  const res = await fetch(`${bot.host.url}/admin/functions/${name}`, {
    method: 'POST',
    body: JSON.stringify({ input: JSON.stringify(message) }),
  });
  expect(res.status).toBe(202);
}

async function row(callId: string): Promise<RecordingMeta | null> {
  try {
    const e = await bot
      .table(bot.env.IVR_RECORDS_TABLE)
      .getEntity<{ data: string }>(safeKey(callId), 'rec-000001');
    return JSON.parse(e.data) as RecordingMeta;
  } catch {
    return null;
  }
}

async function waitForRow(
  callId: string,
  check: (m: RecordingMeta) => boolean,
  ms = 20_000,
): Promise<RecordingMeta> {
  const until = Date.now() + ms;
  for (;;) {
    const m = await row(callId);
    if (m && check(m)) return m;
    if (Date.now() > until) throw new Error(`timed out; the row is ${JSON.stringify(m)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const settled = (m: RecordingMeta) => m.delivery?.status === 'delivered' || m.delivery?.status === 'failed';
const mails = () => bot.graph.requests.filter((r) => r.action === 'sendMail');

interface SentBody {
  Message: {
    subject: string;
    body: { contentType: string; content: string };
    toRecipients: Array<{ emailAddress: { address: string } }>;
    attachments?: Array<Record<string, string>>;
  };
  SaveToSentItems: boolean;
}

test('a stored voicemail is transcribed and mailed with the audio attached; a redelivered job sends nothing again', async () => {
  speech.script({ text: TRANSCRIPT });
  const job = recordingJob('vm-mail', 5);
  await run('recordings', job);
  const done = await waitForRow(job.callId, settled);

  expect(speech.log).toEqual([
    expect.objectContaining({ status: 200, locales: ['en-US'], audioBytes: makeWav(5).length }),
  ]);
  expect(mails()).toHaveLength(1);
  const [mail] = mails();
  expect(mail!.path).toBe('/users/voicemail%40contoso.com/sendMail');
  expect(mail!.authorization).toBe('Bearer graph-test-token');
  expect(mail!.issues).toEqual([]);
  const body = mail!.body as SentBody;
  expect(body.SaveToSentItems).toBe(false);
  expect(body.Message.subject).toBe(`Contoso voicemail from ${CALLER} (5 s)`);
  expect(body.Message.toRecipients).toEqual([
    { emailAddress: { address: 'frontdesk@contoso.com' } },
    { emailAddress: { address: 'team@contoso.com' } },
  ]);
  expect(body.Message.body).toEqual({
    contentType: 'text',
    content: [
      `From: ${CALLER}`,
      `To: ${NUMBER}`,
      `When: ${LOCAL_TIME}`,
      'Length: 5 s',
      'Left at: voicemail',
      '',
      `Transcript:\n${TRANSCRIPT}`,
      '',
      'The recording is attached.',
    ].join('\n'),
  });
  expect(body.Message.attachments).toEqual([
    {
      '@odata.type': '#microsoft.graph.fileAttachment',
      name: 'voicemail-20260310170000-1.wav',
      contentType: 'audio/wav',
      contentBytes: makeWav(5).toString('base64'),
    },
  ]);

  expect(done.status).toBe('stored');
  expect(done.delivery).toEqual(
    expect.objectContaining({
      status: 'delivered',
      channels: ['mail'],
      attempts: 1,
      reason: null,
      transcript: { status: 'done', language: 'en-US', text: TRANSCRIPT },
      mail: expect.objectContaining({
        status: 'sent',
        to: ['frontdesk@contoso.com', 'team@contoso.com'],
        audio: 'attached',
      }),
      webhook: null,
    }),
  );

  // The queue delivers a message twice now and then: the second run finds it done.
  const again: VoicemailJob = {
    callId: job.callId,
    seq: 1,
    deliver: { mail: { to: ['frontdesk@contoso.com'] } },
    transcribe: { language: 'en-US' },
    timeZone: 'UTC',
    attempt: 1,
  };
  await run('voicemail', again);
  expect(mails()).toHaveLength(1);
  expect(speech.log).toHaveLength(1);
}, 40_000);

test('over the attachment limit the mail carries a read-only link that expires instead', async () => {
  // 100 s of 16 kHz audio: 3.2 MB, over the 3 MB a sendMail body can carry inline.
  const job = recordingJob('vm-plain', 100);
  await run('recordings', job);
  const done = await waitForRow(job.callId, settled);
  expect(done.delivery).toEqual(expect.objectContaining({ status: 'delivered', transcript: null }));
  expect(done.delivery?.mail).toEqual(expect.objectContaining({ status: 'sent', audio: 'link' }));
  const body = mails()[0]!.body as SentBody;
  expect(body.Message.attachments).toBeUndefined();
  expect(body.Message.subject).toBe(`Voicemail from ${CALLER} (1 min 40 s)`);
  const content = body.Message.body.content;
  expect(content).toContain('(no transcript)');
  const link = /Listen until (\d{4}-\d\d-\d\d \d\d:\d\d UTC): (\S+)$/.exec(content);
  expect(link).not.toBeNull();
  const url = new URL(link![2]!);
  expect(url.pathname).toMatch(new RegExp(`/recordings/.+${job.callId}-1\\.wav$`));
  expect(url.searchParams.get('sp')).toBe('r');
  const expires = Date.parse(url.searchParams.get('se')!);
  expect(Math.abs(expires - (Date.now() + 7 * 86_400_000))).toBeLessThan(120_000);
  const audio = await fetch(url);
  expect(audio.status).toBe(200);
  expect(Buffer.from(await audio.arrayBuffer()).equals(makeWav(100))).toBe(true);
  // Read only: the same link cannot overwrite the message.
  const put = await fetch(url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x' });
  expect(put.status).toBe(403);
  expect(speech.log).toEqual([]);
}, 40_000);

test('a webhook delivery is signed, carries the facts and the transcript, and its outcome lands on the row', async () => {
  speech.script({ text: TRANSCRIPT });
  const job = recordingJob('vm-hook', 7);
  await run('recordings', job);
  const done = await waitForRow(job.callId, settled);
  expect(hooks).toHaveLength(1);
  const [{ headers, body }] = hooks as [(typeof hooks)[number]];
  const ts = String(headers['x-ivr-timestamp']);
  expect(headers['x-ivr-signature']).toBe(
    `v1=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`,
  );
  expect(headers['x-ivr-event']).toBe('voicemail.received');
  const parsed = JSON.parse(body) as { id: string; event: string; data: Record<string, unknown> };
  expect(parsed.id).toBe(headers['x-ivr-delivery-id']);
  expect(parsed.event).toBe('voicemail.received');
  expect(parsed.data).toEqual(
    expect.objectContaining({
      callId: job.callId,
      recordingSeq: 1,
      caller: CALLER,
      number: NUMBER,
      recordedAt: RECORDED_AT,
      localTime: 'Tue, Mar 10, 2026, 6:00 PM GMT+1',
      timeZone: 'Europe/Paris',
      durationSeconds: 7,
      node: 'voicemail',
      transcript: TRANSCRIPT,
      transcriptLanguage: 'en-US',
      text: `Voicemail from ${CALLER} to ${NUMBER}, Tue, Mar 10, 2026, 6:00 PM GMT+1, 7 s: "${TRANSCRIPT}"`,
      card: expect.objectContaining({ type: 'AdaptiveCard' }),
    }),
  );
  expect(mails()).toEqual([]);
  expect(done.delivery).toEqual(
    expect.objectContaining({
      status: 'delivered',
      channels: ['webhook'],
      webhook: expect.objectContaining({
        status: 'delivered',
        deliveryId: parsed.id,
        attempts: 1,
        httpStatus: 200,
      }),
    }),
  );
}, 40_000);

test('Speech failing does not hold the message back: it is mailed without a transcript, and why is on the row', async () => {
  speech.script({ status: 500 });
  const job = recordingJob('vm-mail', 4);
  await run('recordings', job);
  const done = await waitForRow(job.callId, settled);
  expect(done.delivery?.status).toBe('delivered');
  expect(done.delivery?.transcript).toEqual({
    status: 'failed',
    language: 'en-US',
    reason: 'Speech answered 500: scripted failure',
  });
  const body = mails()[0]!.body as SentBody;
  expect(body.Message.body.content).toContain('(no transcript)');
  expect(body.Message.attachments).toHaveLength(1);
}, 40_000);

test('a mail Graph refuses for a while is retried after the backoff; after the last attempt it fails, poisoned, the recording still stored', async () => {
  const enqueue = getApp().voicemailJobs.enqueue.bind(getApp().voicemailJobs);
  const retries: Array<[VoicemailJob, number]> = [];
  const spy = jest.spyOn(getApp().voicemailJobs, 'enqueue').mockImplementation(async (job, delay) => {
    if (job.attempt > 1) return void retries.push([job, delay]);
    return enqueue(job, delay);
  });
  bot.graph.responders.push((r) =>
    r.action === 'sendMail'
      ? { status: 503, body: { error: { code: 'ServiceUnavailable', message: 'try later' } } }
      : undefined,
  );
  try {
    const job = recordingJob('vm-plain', 3);
    await run('recordings', job);
    const until = Date.now() + 20_000;
    while (retries.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(retries).toEqual([[expect.objectContaining({ callId: job.callId, attempt: 2 }), 30]]);
    const pending = await row(job.callId);
    expect(pending?.status).toBe('stored');
    expect(pending?.delivery).toEqual(
      expect.objectContaining({
        status: 'pending',
        mail: expect.objectContaining({
          status: 'pending',
          reason: expect.stringContaining('503 ServiceUnavailable: try later'),
        }),
      }),
    );

    // The last attempt: given up, on the row and in the poison queue.
    const last = { ...retries[0]![0], attempt: 5 };
    await run('voicemail', last);
    const failed = await row(job.callId);
    expect(failed?.status).toBe('stored');
    expect(failed?.blobName).toMatch(/\.wav$/);
    expect(failed?.delivery?.status).toBe('failed');
    expect(failed?.delivery?.reason).toMatch(/^mail: gave up after 5 attempts: Graph POST .*503/);
    expect(retries).toHaveLength(1);
    const poison = new QueueClient(bot.azurite.connectionString, 'ivr-voicemail-poison');
    const kept = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems
      .map((m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as VoicemailJob)
      .filter((m) => m.callId === job.callId);
    expect(kept).toEqual([
      expect.objectContaining({
        attempt: 5,
        reason: (failed?.delivery?.reason ?? '').slice('mail: '.length),
      }),
    ]);
  } finally {
    spy.mockRestore();
  }
}, 40_000);

test('a refusal no retry mends (no Mail.Send on the mailbox) fails the mail at once', async () => {
  bot.graph.responders.push((r) =>
    r.action === 'sendMail'
      ? {
          status: 403,
          body: {
            error: {
              code: 'ErrorAccessDenied',
              message: 'Access is denied. Check credentials and try again.',
            },
          },
        }
      : undefined,
  );
  const job = recordingJob('vm-plain', 2);
  await run('recordings', job);
  const done = await waitForRow(job.callId, settled);
  expect(mails()).toHaveLength(1);
  expect(done.status).toBe('stored');
  expect(done.delivery).toEqual(
    expect.objectContaining({
      status: 'failed',
      attempts: 1,
      reason: expect.stringMatching(/^mail: Graph POST .* 403 ErrorAccessDenied: Access is denied/),
    }),
  );
}, 40_000);
