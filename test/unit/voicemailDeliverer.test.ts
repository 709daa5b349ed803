import { GraphError } from '../../shared/graph/graphClient';
import type { Logger } from '../../shared/logging';
import type {
  RecordingMeta,
  VersionedRecording,
  VersionedRecordStore,
} from '../../shared/storage/recordStore';
import {
  MAIL_CLAIM_MS,
  VoicemailDeliverer,
  webhookDeliveryId,
  type VoicemailDelivererDeps,
} from '../../shared/voicemail/deliverer';
import type { VoicemailJob } from '../../shared/voicemail/job';
import { voicemailJobFor } from '../../shared/voicemail/plan';
import { WebhookError, type NewDelivery } from '../../shared/webhooks/outbox';
import { flowFileSchema } from '../../shared/flows/schema';

/**
 * The delivery's bookkeeping against an in-memory row with ETags: claims, resumption after a
 * crash, what is never sent twice, and what the last attempt records. The real storage,
 * Graph and Speech paths are in test/integration/voicemail.test.ts.
 */

class MemoryRows implements VersionedRecordStore {
  rows = new Map<string, VersionedRecording>();
  private n = 0;

  put(meta: RecordingMeta): void {
    this.rows.set(`${meta.callId}/${meta.seq}`, { meta: structuredClone(meta), etag: `e${++this.n}` });
  }
  get(callId: string, seq = 1): RecordingMeta {
    return this.rows.get(`${callId}/${seq}`)!.meta;
  }
  async getRecordingVersion(callId: string, seq: number) {
    const r = this.rows.get(`${callId}/${seq}`);
    return r ? structuredClone(r) : null;
  }
  async replaceRecording(meta: RecordingMeta, etag: string) {
    const key = `${meta.callId}/${meta.seq}`;
    if (this.rows.get(key)?.etag !== etag) return false;
    this.put(meta);
    return true;
  }
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const T0 = Date.parse('2026-03-10T17:05:00.000Z');

function stored(callId: string, bytes = 1000): RecordingMeta {
  return {
    callId,
    seq: 1,
    number: '+14255550100',
    caller: '+12065550124',
    node: 'voicemail',
    recordedAt: '2026-03-10T17:00:00.000Z',
    completionReason: null,
    status: 'stored',
    blobName: `+14255550100/2026-03-10/${callId}-1.wav`,
    bytes,
    durationSeconds: 3,
    expiresAt: null,
    error: null,
  };
}

function job(callId: string, over: Partial<VoicemailJob> = {}): VoicemailJob {
  return {
    callId,
    seq: 1,
    deliver: { mail: { to: ['frontdesk@contoso.com'] } },
    transcribe: null,
    timeZone: 'America/Los_Angeles',
    attempt: 1,
    ...over,
  };
}

function setup(over: Partial<VoicemailDelivererDeps> = {}) {
  const rows = new MemoryRows();
  const sent: unknown[] = [];
  const hooks: NewDelivery[] = [];
  let now = T0;
  const deps: VoicemailDelivererDeps = {
    records: rows,
    audio: {
      read: async () => Buffer.from('RIFF....WAVE'),
      readLink: async (name, expires) => `https://store.example/${name}?se=${expires.toISOString()}&sp=r`,
    },
    sendMail: async (body) => void sent.push(body),
    transcriber: null,
    webhooks: { send: async (d) => void hooks.push(d) },
    attachmentMaxBytes: 3_000_000,
    linkDays: 7,
    maxAudioBytes: 16 * 1024 * 1024,
    log: silent,
    now: () => new Date(now),
    ...over,
  };
  return {
    rows,
    sent,
    hooks,
    deliverer: new VoicemailDeliverer(deps),
    advance: (ms: number) => void (now += ms),
  };
}

test('a sending claim left by an attempt that died is honoured until it lapses, then the mail is sent', async () => {
  const { rows, sent, deliverer, advance } = setup();
  rows.put({
    ...stored('c1'),
    delivery: {
      status: 'pending',
      channels: ['mail'],
      attempts: 1,
      reason: null,
      updatedAt: new Date(T0).toISOString(),
      transcript: null,
      mail: { status: 'sending', to: ['frontdesk@contoso.com'], since: new Date(T0).toISOString() },
      webhook: null,
    },
  });
  await expect(deliverer.deliver(job('c1', { attempt: 2 }))).resolves.toEqual({
    retry: 'another attempt is sending this mail',
  });
  expect(sent).toEqual([]);
  advance(MAIL_CLAIM_MS);
  await expect(deliverer.deliver(job('c1', { attempt: 3 }))).resolves.toEqual({ status: 'done' });
  expect(sent).toHaveLength(1);
  expect(rows.get('c1').delivery).toEqual(
    expect.objectContaining({
      status: 'delivered',
      attempts: 3,
      mail: expect.objectContaining({ status: 'sent' }),
    }),
  );
});

test('two workers racing on one job: the one whose claim is written sends, the other waits', async () => {
  const { rows, sent, deliverer } = setup();
  rows.put(stored('c2'));
  // Another worker claims the mail just before this one's claim is written.
  let raced = false;
  const original = rows.replaceRecording.bind(rows);
  rows.replaceRecording = async (meta, etag) => {
    if (!raced && meta.delivery?.mail?.status === 'sending') {
      raced = true;
      const current = rows.get('c2');
      rows.put({
        ...current,
        delivery: {
          ...current.delivery!,
          mail: { status: 'sending', to: ['frontdesk@contoso.com'], since: new Date(T0).toISOString() },
        },
      });
    }
    return original(meta, etag);
  };
  await expect(deliverer.deliver(job('c2'))).resolves.toEqual({
    retry: 'another attempt is sending this mail',
  });
  expect(sent).toEqual([]);
  expect(rows.get('c2').delivery?.mail?.status).toBe('sending');
});

test('nothing is sent twice: a delivered row ends a redelivered job at once', async () => {
  const { rows, sent, hooks, deliverer } = setup();
  rows.put(stored('c3'));
  const both = job('c3', {
    deliver: { mail: { to: ['a@contoso.com'] }, webhook: { url: 'https://hooks.contoso.com/vm' } },
  });
  await deliverer.deliver(both);
  expect(sent).toHaveLength(1);
  expect(hooks.map((h) => h.id)).toEqual([webhookDeliveryId('c3', 1)]);
  // The webhook is still on its way: the delivery stays pending, and a rerun adds nothing.
  expect(rows.get('c3').delivery?.status).toBe('pending');
  await deliverer.deliver(both);
  expect(sent).toHaveLength(1);
  expect(hooks).toHaveLength(1);
  await deliverer.webhookOutcome('c3', 1, {
    deliveryId: webhookDeliveryId('c3', 1),
    event: 'voicemail.received',
    status: 'delivered',
    attempts: 2,
    at: '2026-03-10T17:06:00.000Z',
    httpStatus: 202,
  });
  expect(rows.get('c3').delivery).toEqual(
    expect.objectContaining({
      status: 'delivered',
      webhook: expect.objectContaining({ status: 'delivered', attempts: 2, httpStatus: 202 }),
    }),
  );
});

test('transcripts asked for without a Speech endpoint: delivered, the transcript marked off', async () => {
  const { rows, sent, deliverer } = setup();
  rows.put(stored('c4'));
  await deliverer.deliver(job('c4', { transcribe: { language: 'fr-FR' } }));
  expect(rows.get('c4').delivery?.transcript).toEqual({
    status: 'off',
    language: 'fr-FR',
    reason: 'no Speech endpoint is configured (IVR_SPEECH_ENDPOINT)',
  });
  expect(JSON.stringify(sent)).toContain('(no transcript)');
});

test('no sending mailbox configured, or a webhook URL refused: each channel fails with its reason', async () => {
  const { rows, hooks, deliverer } = setup({
    sendMail: null,
    webhooks: {
      send: async () => {
        throw new WebhookError('callbackUrl must not point at a private address');
      },
    },
  });
  rows.put(stored('c5'));
  await deliverer.deliver(
    job('c5', { deliver: { mail: { to: ['a@contoso.com'] }, webhook: { url: 'https://10.0.0.1/x' } } }),
  );
  expect(hooks).toEqual([]);
  expect(rows.get('c5').delivery).toEqual(
    expect.objectContaining({
      status: 'failed',
      reason:
        'mail: no sending mailbox is configured (IVR_MAIL_SENDER); webhook: callbackUrl must not point at a private address',
    }),
  );
});

test('a transient Graph failure leaves the mail pending for the next attempt; giving up fails what is still open', async () => {
  const { rows, deliverer } = setup({
    sendMail: async () => {
      throw new GraphError(504, 'GatewayTimeout', 'slow', 'POST', '/users/x/sendMail');
    },
  });
  rows.put(stored('c6'));
  const result = await deliverer.deliver(job('c6'));
  expect(result).toEqual({ retry: 'Graph POST /users/x/sendMail failed: 504 GatewayTimeout: slow' });
  expect(rows.get('c6').delivery?.mail?.status).toBe('pending');
  await deliverer.giveUp(job('c6', { attempt: 5 }), 'gave up after 5 attempts: slow');
  expect(rows.get('c6')).toEqual(
    expect.objectContaining({
      status: 'stored',
      delivery: expect.objectContaining({ status: 'failed', reason: 'mail: gave up after 5 attempts: slow' }),
    }),
  );
});

test('a recording that is no longer stored is not delivered, and the row says why', async () => {
  const { rows, sent, deliverer } = setup();
  rows.put({ ...stored('c7'), status: 'deleted' });
  await deliverer.deliver(job('c7'));
  expect(sent).toEqual([]);
  expect(rows.get('c7').delivery).toEqual(
    expect.objectContaining({ status: 'failed', reason: 'the recording is deleted' }),
  );
});

test("the job takes the number's time zone: its own, else its first schedule's, else UTC", () => {
  const base = {
    number: '+14255550100',
    prompts: {},
    default: { type: 'reject' },
    recordings: { deliver: { mail: { to: ['a@contoso.com'] } } },
  };
  const parse = (extra: object) => flowFileSchema.parse({ ...base, ...extra });
  expect(voicemailJobFor(parse({}), 'c', 1)?.timeZone).toBe('UTC');
  const scheduled = {
    schedules: { office: { timeZone: 'Europe/Paris', weekly: { mon: ['09:00-17:00'] } } },
  };
  expect(voicemailJobFor(parse(scheduled), 'c', 1)?.timeZone).toBe('Europe/Paris');
  expect(
    voicemailJobFor(
      parse({ ...scheduled, recordings: { ...base.recordings, timeZone: 'Asia/Tokyo' } }),
      'c',
      1,
    ),
  ).toEqual({
    callId: 'c',
    seq: 1,
    deliver: { mail: { to: ['a@contoso.com'] } },
    transcribe: null,
    timeZone: 'Asia/Tokyo',
    attempt: 1,
  });
  expect(voicemailJobFor(flowFileSchema.parse({ ...base, recordings: {} }), 'c', 1)).toBeNull();
});

test('an operator replays a failed delivery: only the channel that failed is tried again', async () => {
  let refuse = true;
  const sent: unknown[] = [];
  const { rows, hooks, deliverer } = setup({
    sendMail: async (body) => {
      if (refuse)
        throw new GraphError(403, 'ErrorAccessDenied', 'Access is denied.', 'POST', '/users/x/sendMail');
      sent.push(body);
    },
  });
  rows.put(stored('c8'));
  const both = job('c8', {
    deliver: { mail: { to: ['a@contoso.com'] }, webhook: { url: 'https://hooks.contoso.com/vm' } },
  });
  await deliverer.deliver(both);
  await deliverer.webhookOutcome('c8', 1, {
    deliveryId: webhookDeliveryId('c8', 1),
    event: 'voicemail.received',
    status: 'delivered',
    attempts: 1,
    at: '2026-03-10T17:06:00.000Z',
  });
  expect(rows.get('c8').delivery?.status).toBe('failed');
  // Without `replay`, a job finds the delivery over.
  refuse = false;
  await deliverer.deliver(both);
  expect(sent).toEqual([]);
  await deliverer.deliver({ ...both, replay: true });
  expect(sent).toHaveLength(1);
  expect(hooks).toHaveLength(1);
  expect(rows.get('c8').delivery).toEqual(
    expect.objectContaining({
      status: 'delivered',
      reason: null,
      mail: expect.objectContaining({ status: 'sent' }),
      webhook: expect.objectContaining({ status: 'delivered' }),
    }),
  );
});
