import { loadMailCsdl, validateSendMail } from '../../sim/graph/mail';
import { startSimulator, type Simulator } from '../../sim';
import { makeWav } from '../../sim/wav';

/**
 * The simulator's Graph sendMail (checked against the mail subset of the v1.0 metadata) and
 * its Speech fast transcription stand-in (token, api-version, multipart body).
 */

let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ botCallbackUrl: 'http://127.0.0.1:9/api/calls', seed: 1 });
}, 30_000);
afterAll(async () => {
  await sim?.stop();
});

// The request of Graph's sendMail page, with a file attachment as its example shows one.
const docsExample = {
  message: {
    subject: 'Meet for lunch?',
    body: { contentType: 'Text', content: 'The new cafeteria is open.' },
    toRecipients: [{ emailAddress: { address: 'frannis@contoso.com' } }],
    ccRecipients: [{ emailAddress: { address: 'danas@contoso.com' } }],
    attachments: [
      {
        '@odata.type': '#microsoft.graph.fileAttachment',
        name: 'attachment.txt',
        contentType: 'text/plain',
        contentBytes: 'SGVsbG8gV29ybGQh',
      },
    ],
  },
  saveToSentItems: 'false',
};

async function sendMail(body: unknown, user = 'voicemail@contoso.com') {
  const res = await fetch(`${sim.graphBaseUrl}/users/${encodeURIComponent(user)}/sendMail`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sim.issueAccessToken()}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.text()) || null };
}

test('the mail subset loads and checks sendMail bodies the way the metadata declares them', () => {
  const model = loadMailCsdl();
  const ok = { ...docsExample, saveToSentItems: false };
  // `Text` is not a member: the enum is case-sensitive, as in the metadata.
  expect(validateSendMail(model, ok)).toEqual([
    {
      path: 'Message.body.contentType',
      message: '"Text" is not a member of microsoft.graph.bodyType (text, html)',
    },
  ]);
  const fixed = { ...ok, message: { ...ok.message, body: { contentType: 'text', content: 'hi' } } };
  expect(validateSendMail(model, fixed)).toEqual([]);
  expect(
    validateSendMail(model, {
      Message: {
        toRecipients: [{ emailAddress: { address: 'a@contoso.com', display: 'A' } }],
        attachments: [{ name: 'x.wav', contentBytes: 'not base64!' }],
      },
    }),
  ).toEqual([
    {
      path: 'Message.toRecipients[0].emailAddress.display',
      message: 'unknown property "display" of microsoft.graph.emailAddress',
    },
    {
      path: 'Message.attachments[0]',
      message:
        'microsoft.graph.attachment is abstract: @odata.type must name a concrete derived type (microsoft.graph.fileAttachment)',
    },
  ]);
  expect(validateSendMail(model, { SaveToSentItems: false })).toEqual([
    { path: 'Message', message: 'required parameter "Message" of sendMail is missing' },
  ]);
  expect(validateSendMail(model, { Message: { subject: 'nobody' } })).toEqual([
    { path: 'Message.toRecipients', message: 'at least one recipient is required' },
  ]);
});

test('sendMail: 202 and the mail kept for the test to read; a bad body is 400 and sends nothing; over 4 MB is 413', async () => {
  const before = sim.mails.length;
  const wav = makeWav(1);
  const sent = await sendMail({
    Message: {
      subject: 'Voicemail from +12065550124 (1 s)',
      body: { contentType: 'text', content: 'From: +12065550124' },
      toRecipients: [{ emailAddress: { address: 'frontdesk@contoso.com' } }],
      attachments: [
        {
          '@odata.type': '#microsoft.graph.fileAttachment',
          name: 'voicemail.wav',
          contentType: 'audio/wav',
          contentBytes: wav.toString('base64'),
        },
      ],
    },
    SaveToSentItems: false,
  });
  expect(sent).toEqual({ status: 202, body: null });
  expect(sim.mails.slice(before)).toEqual([
    {
      from: 'voicemail@contoso.com',
      to: ['frontdesk@contoso.com'],
      subject: 'Voicemail from +12065550124 (1 s)',
      body: 'From: +12065550124',
      bodyType: 'text',
      attachments: [{ name: 'voicemail.wav', contentType: 'audio/wav', bytes: wav.length }],
      saveToSentItems: false,
    },
  ]);
  const bad = await sendMail({ Message: { toRecipients: [{ emailAddress: { address: 1 } }] } });
  expect(bad.status).toBe(400);
  expect(JSON.parse(bad.body!).error.message).toContain(
    'Message.toRecipients[0].emailAddress.address: expected Edm.String',
  );
  const big = await sendMail({
    Message: {
      toRecipients: [{ emailAddress: { address: 'a@contoso.com' } }],
      body: { contentType: 'text', content: 'x'.repeat(4 * 1024 * 1024) },
    },
  });
  expect(big.status).toBe(413);
  expect(sim.mails.length).toBe(before + 1);
});

async function transcribe(
  token: string | null,
  definition: string,
  audio = makeWav(2),
  version = '2024-11-15',
) {
  const form = new FormData();
  form.append('audio', new Blob([new Uint8Array(audio)], { type: 'audio/wav' }), 'm.wav');
  form.append('definition', definition);
  const res = await fetch(
    `${sim.speechEndpoint}/speechtotext/transcriptions:transcribe?api-version=${version}`,
    { method: 'POST', body: form, headers: token ? { authorization: `Bearer ${token}` } : {} },
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function speechToken(): Promise<string> {
  // The token endpoint is served on http too (the https one has a self-signed certificate).
  const res = await fetch(`${sim.httpUrl}/${sim.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: sim.clientId,
      client_secret: sim.clientSecret,
      scope: 'https://cognitiveservices.azure.com/.default',
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

test('Speech: a scripted transcript in the fast transcription shape; no token, a Graph token or a bad request are refused', async () => {
  sim.scriptTranscripts({ text: 'Please call me back.' }, { status: 503 });
  const token = await speechToken();
  const ok = await transcribe(token, '{"locales":["en-US"]}');
  expect(ok.status).toBe(200);
  expect(ok.body).toEqual(
    expect.objectContaining({
      durationMilliseconds: 2000,
      combinedPhrases: [{ text: 'Please call me back.' }],
    }),
  );
  expect((await transcribe(token, '{"locales":["en-US"]}')).status).toBe(503);
  expect((await transcribe(null, '{"locales":["en-US"]}')).status).toBe(401);
  expect((await transcribe(sim.issueAccessToken(), '{"locales":["en-US"]}')).status).toBe(401);
  expect((await transcribe(token, '{"locales":"en-US"}')).status).toBe(400);
  expect((await transcribe(token, '{"locales":["en-US"]}', Buffer.from('not audio'))).status).toBe(400);
  expect((await transcribe(token, '{"locales":["en-US"]}', makeWav(1), '2024-05-15-preview')).status).toBe(
    400,
  );
  expect(sim.transcriptions.map((t) => t.status)).toEqual([200, 503, 401, 401, 400, 400, 400]);
});
