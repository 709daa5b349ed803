import { createHash } from 'node:crypto';
import { GraphError } from '../graph/graphClient';
import type { Logger } from '../logging';
import type { RecordingMeta, VersionedRecordStore, VoicemailDeliveryState } from '../storage/recordStore';
import type { WebhookOutcome } from '../webhooks/delivery';
import { WebhookError, type NewDelivery } from '../webhooks/outbox';
import type { VoicemailJob } from './job';
import { RECORDING_SUBJECT, recordingSubjectKey } from './subject';
import {
  attachmentName,
  mailText,
  sendMailBody,
  subjectOf,
  voicemailFacts,
  webhookData,
  type GraphMailMessage,
} from './message';
import type { Transcriber } from './speech';

/**
 * Delivers one stored voicemail: an optional transcript, then a signed webhook and/or an
 * e-mail through Graph sendMail. Each step is recorded on the recording's row with a
 * conditional write (its ETag), before and after, so a redelivered job resumes where the last
 * one stopped: a transcript is made once, a webhook queued once (the same delivery id if a
 * crash repeats it), and a mail is claimed before it is sent. sendMail takes no idempotency
 * key, so a process that dies after Graph took the mail and before the row says so sends it
 * again once the claim has lapsed: a rare duplicate rather than a lost message.
 */

/** A claim on sending a mail lapses after this: longer than one sendMail request can take. */
export const MAIL_CLAIM_MS = 5 * 60_000;
/** A transcript on the row is capped: the row is one table property of at most 32K characters. */
export const TRANSCRIPT_MAX_CHARS = 8000;
/** Graph statuses no retry mends: a bad message, no permission on the mailbox, no such mailbox, too large. */
const FINAL_GRAPH_STATUSES = new Set([400, 403, 404, 413]);

export const VOICEMAIL_EVENT = 'voicemail.received';

export interface VoicemailAudio {
  read(blobName: string, maxBytes: number): Promise<Buffer>;
  readLink(blobName: string, expiresOn: Date): Promise<string>;
}

export interface VoicemailDelivererDeps {
  records: VersionedRecordStore;
  audio: VoicemailAudio;
  /** Sends one sendMail body from the configured mailbox; null when IVR_MAIL_SENDER is unset. */
  sendMail: ((body: ReturnType<typeof sendMailBody>) => Promise<void>) | null;
  /** Null when IVR_SPEECH_ENDPOINT is unset: messages go without a transcript. */
  transcriber: Transcriber | null;
  webhooks: { send(delivery: NewDelivery): Promise<unknown> };
  attachmentMaxBytes: number;
  linkDays: number;
  /** The largest recording read back (IVR_RECORDING_MAX_BYTES). */
  maxAudioBytes: number;
  log: Logger;
  now: () => Date;
}

export type DeliveryResult = { status: 'done' } | { retry: string };

type Mail = NonNullable<VoicemailDeliveryState['mail']>;
type MailAttempt =
  | { status: 'sent'; audio: 'attached' | 'link' }
  | { status: 'failed'; reason: string }
  | { status: 'retry'; reason: string };

export class VoicemailDeliverer {
  constructor(private readonly deps: VoicemailDelivererDeps) {}

  /** One attempt. Throws only when storage itself fails (the queue runs the job again). */
  async deliver(job: VoicemailJob): Promise<DeliveryResult> {
    const { log } = this.deps;
    const at = this.deps.now().toISOString();
    const about = { callId: job.callId, seq: job.seq, attempt: job.attempt };
    let meta = await this.update(job, (m) => {
      if (m.status !== 'stored') {
        if (m.delivery && m.delivery.status !== 'pending') return null;
        const d = m.delivery ?? initialState(job, at);
        return withDelivery(
          m,
          settle({ ...d, status: 'failed', reason: `the recording is ${m.status}` }, at),
        );
      }
      let d = m.delivery ?? initialState(job, at);
      if (d.status === 'failed' && job.replay) d = reopened(d);
      if (d.status !== 'pending') return null;
      return withDelivery(m, { ...d, attempts: Math.max(d.attempts, job.attempt), updatedAt: at });
    });
    if (!meta) {
      log.warn('voicemail delivery found no recording row', about);
      return { status: 'done' };
    }
    if (meta.status !== 'stored' || meta.delivery?.status !== 'pending') return { status: 'done' };

    let audio: Buffer | null = null;
    const readAudio = async (m: RecordingMeta) =>
      (audio ??= await this.deps.audio.read(m.blobName ?? '', this.deps.maxAudioBytes));

    if (job.transcribe && !meta.delivery.transcript) {
      const transcript = await this.transcribe(meta, job.transcribe.language, readAudio);
      meta = await this.change(job, at, (d) => (d.transcript ? null : { ...d, transcript }));
    }

    if (job.deliver.webhook && !meta.delivery?.webhook) {
      const webhook = await this.queueWebhook(job, meta, job.deliver.webhook.url, at);
      meta = await this.change(job, at, (d) => (d.webhook ? null : { ...d, webhook }));
    }

    let retry: string | null = null;
    const mailTo = job.deliver.mail?.to;
    const mail0 = meta.delivery?.mail;
    if (mailTo && mail0?.status !== 'sent' && mail0?.status !== 'failed') {
      let claimed = false;
      meta = await this.change(job, at, (d) => {
        claimed = false;
        const m = d.mail;
        if (m && (m.status === 'sent' || m.status === 'failed' || claimHeld(m, this.deps.now()))) return null;
        claimed = true;
        return { ...d, mail: { status: 'sending', to: mailTo, since: at } };
      });
      if (!claimed) {
        if (meta.delivery?.mail?.status === 'sending') retry = 'another attempt is sending this mail';
      } else {
        const attempt = await this.sendMail(job, meta, readAudio);
        const done = this.deps.now().toISOString();
        const mail: Mail =
          attempt.status === 'sent'
            ? { status: 'sent', to: mailTo, at: done, audio: attempt.audio }
            : {
                status: attempt.status === 'failed' ? 'failed' : 'pending',
                to: mailTo,
                reason: attempt.reason,
              };
        await this.change(job, done, (d) => ({ ...d, mail }));
        if (attempt.status === 'retry') retry = attempt.reason;
        if (attempt.status === 'sent') log.info('voicemail mailed', { ...about, audio: attempt.audio });
        else
          log.warn('voicemail mail not sent', {
            ...about,
            reason: attempt.reason,
            final: attempt.status === 'failed',
          });
      }
    }
    return retry ? { retry } : { status: 'done' };
  }

  /** After the last attempt: every channel still open has failed; the recording itself stays stored. */
  async giveUp(job: VoicemailJob, reason: string): Promise<void> {
    const at = this.deps.now().toISOString();
    await this.change(job, at, (d) => {
      if (d.status !== 'pending') return null;
      const mail = job.deliver.mail;
      const m = d.mail;
      return {
        ...d,
        mail: mail && m?.status !== 'sent' ? { status: 'failed', to: mail.to, reason } : d.mail,
        webhook:
          job.deliver.webhook && !d.webhook
            ? { status: 'failed', deliveryId: webhookDeliveryId(job.callId, job.seq), at, reason }
            : d.webhook,
      };
    });
    this.deps.log.error('voicemail delivery failed', { callId: job.callId, seq: job.seq, reason });
  }

  /** A webhook's outcome, from the `webhooks` function: recorded on the recording's row. */
  async webhookOutcome(callId: string, seq: number, outcome: WebhookOutcome): Promise<void> {
    const at = this.deps.now().toISOString();
    await this.update({ callId, seq }, (m) => {
      const d = m.delivery;
      if (!d || d.webhook?.deliveryId !== outcome.deliveryId || d.webhook.status !== 'queued') return null;
      const webhook = {
        ...d.webhook,
        status: outcome.status,
        at: outcome.at,
        attempts: outcome.attempts,
        ...(outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}),
        ...(outcome.reason ? { reason: outcome.reason } : {}),
      };
      return withDelivery(m, settle({ ...d, webhook }, at));
    });
  }

  private async transcribe(
    meta: RecordingMeta,
    language: string,
    readAudio: (m: RecordingMeta) => Promise<Buffer>,
  ): Promise<NonNullable<VoicemailDeliveryState['transcript']>> {
    const transcriber = this.deps.transcriber;
    if (!transcriber)
      return { status: 'off', language, reason: 'no Speech endpoint is configured (IVR_SPEECH_ENDPOINT)' };
    try {
      const text = await transcriber(await readAudio(meta), language);
      return text.length > TRANSCRIPT_MAX_CHARS
        ? { status: 'done', language, text: `${text.slice(0, TRANSCRIPT_MAX_CHARS)}…`, truncated: true }
        : { status: 'done', language, text };
    } catch (err) {
      // A message without its transcript beats a message late or lost: deliver without it.
      const reason = (err as Error).message;
      this.deps.log.warn('voicemail not transcribed; delivering without a transcript', {
        callId: meta.callId,
        seq: meta.seq,
        reason,
      });
      return { status: 'failed', language, reason };
    }
  }

  private async queueWebhook(
    job: VoicemailJob,
    meta: RecordingMeta,
    url: string,
    at: string,
  ): Promise<NonNullable<VoicemailDeliveryState['webhook']>> {
    const deliveryId = webhookDeliveryId(job.callId, job.seq);
    const transcript = meta.delivery?.transcript;
    const text = transcript?.status === 'done' ? (transcript.text ?? '') : null;
    try {
      await this.deps.webhooks.send({
        id: deliveryId,
        event: VOICEMAIL_EVENT,
        url,
        data: webhookData(meta, voicemailFacts(meta, job.timeZone, text), transcript?.language ?? null),
        subject: { kind: RECORDING_SUBJECT, key: recordingSubjectKey(job.callId, job.seq) },
        createdAt: meta.recordedAt,
      });
      return { status: 'queued', deliveryId, at };
    } catch (err) {
      if (!(err instanceof WebhookError)) throw err;
      return { status: 'failed', deliveryId, at, reason: err.message };
    }
  }

  private async sendMail(
    job: VoicemailJob,
    meta: RecordingMeta,
    readAudio: (m: RecordingMeta) => Promise<Buffer>,
  ): Promise<MailAttempt> {
    const send = this.deps.sendMail;
    if (!send) return { status: 'failed', reason: 'no sending mailbox is configured (IVR_MAIL_SENDER)' };
    const transcript = meta.delivery?.transcript;
    const facts = voicemailFacts(
      meta,
      job.timeZone,
      transcript?.status === 'done' ? (transcript.text ?? '') : null,
    );
    const message: GraphMailMessage = {
      subject: subjectOf(facts, job.deliver.mail?.subject),
      body: { contentType: 'text', content: '' },
      toRecipients: (job.deliver.mail?.to ?? []).map((address) => ({ emailAddress: { address } })),
    };
    let audio: 'attached' | 'link';
    if ((meta.bytes ?? 0) <= this.deps.attachmentMaxBytes) {
      const bytes = await readAudio(meta);
      message.attachments = [
        {
          '@odata.type': '#microsoft.graph.fileAttachment',
          name: attachmentName(meta),
          contentType: 'audio/wav',
          contentBytes: bytes.toString('base64'),
        },
      ];
      message.body.content = mailText(facts, { attached: true });
      audio = 'attached';
    } else {
      const expires = new Date(this.deps.now().getTime() + this.deps.linkDays * 86_400_000);
      const link = await this.deps.audio.readLink(meta.blobName ?? '', expires);
      message.body.content = mailText(facts, {
        link,
        expiresAt: expires.toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      });
      audio = 'link';
    }
    try {
      await send(sendMailBody(message));
      return { status: 'sent', audio };
    } catch (err) {
      const reason = (err as Error).message;
      if (err instanceof GraphError && FINAL_GRAPH_STATUSES.has(err.status))
        return { status: 'failed', reason };
      return { status: 'retry', reason };
    }
  }

  /** Changes the row's delivery state (then settles its status); null from `f`: nothing to change. */
  private async change(
    job: Pick<VoicemailJob, 'callId' | 'seq'>,
    at: string,
    f: (d: VoicemailDeliveryState) => VoicemailDeliveryState | null,
  ): Promise<RecordingMeta> {
    const meta = await this.update(job, (m) => {
      if (!m.delivery) return null;
      const next = f(m.delivery);
      return next ? withDelivery(m, settle({ ...next, updatedAt: at }, at)) : null;
    });
    if (!meta) throw new Error(`the row of recording ${job.seq} of call ${job.callId} is gone`);
    return meta;
  }

  /** Read, change, write conditionally on the ETag; again when someone else wrote in between. */
  private async update(
    job: Pick<VoicemailJob, 'callId' | 'seq'>,
    f: (m: RecordingMeta) => RecordingMeta | null,
  ): Promise<RecordingMeta | null> {
    for (let i = 0; i < 8; i++) {
      const current = await this.deps.records.getRecordingVersion(job.callId, job.seq);
      if (!current) return null;
      const next = f(current.meta);
      if (!next) return current.meta;
      if (await this.deps.records.replaceRecording(next, current.etag)) return next;
    }
    throw new Error(`the row of recording ${job.seq} of call ${job.callId} keeps changing`);
  }
}

/** The same for every attempt of one voicemail, so a repeated send is recognisable by the receiver. */
export function webhookDeliveryId(callId: string, seq: number): string {
  return `vm-${createHash('sha256').update(`${callId}\n${seq}`).digest('hex').slice(0, 40)}`;
}

function initialState(job: VoicemailJob, at: string): VoicemailDeliveryState {
  return {
    status: 'pending',
    channels: [
      ...(job.deliver.mail ? ['mail' as const] : []),
      ...(job.deliver.webhook ? ['webhook' as const] : []),
    ],
    attempts: 0,
    reason: null,
    updatedAt: at,
    transcript: null,
    mail: null,
    webhook: null,
  };
}

/** A failed delivery opened again for a replay: what failed is tried again, what was delivered stays. */
function reopened(d: VoicemailDeliveryState): VoicemailDeliveryState {
  return {
    ...d,
    status: 'pending',
    reason: null,
    mail: d.mail?.status === 'failed' ? null : d.mail,
    webhook: d.webhook?.status === 'failed' ? null : d.webhook,
  };
}

function withDelivery(m: RecordingMeta, delivery: VoicemailDeliveryState): RecordingMeta {
  return { ...m, delivery };
}

function claimHeld(mail: Mail, now: Date): boolean {
  return mail.status === 'sending' && !!mail.since && now.getTime() - Date.parse(mail.since) < MAIL_CLAIM_MS;
}

/** Delivered once every channel took it; failed once every channel is done and one failed. */
export function settle(d: VoicemailDeliveryState, at: string): VoicemailDeliveryState {
  if (d.status === 'failed' && d.reason) return { ...d, updatedAt: at };
  const states = d.channels.map((c) =>
    c === 'mail'
      ? { c, ok: d.mail?.status === 'sent', failed: d.mail?.status === 'failed', reason: d.mail?.reason }
      : {
          c,
          ok: d.webhook?.status === 'delivered',
          failed: d.webhook?.status === 'failed',
          reason: d.webhook?.reason,
        },
  );
  if (states.some((s) => !s.ok && !s.failed)) return { ...d, status: 'pending', reason: null, updatedAt: at };
  const failed = states.filter((s) => s.failed);
  return failed.length === 0
    ? { ...d, status: 'delivered', reason: null, updatedAt: at }
    : {
        ...d,
        status: 'failed',
        reason: failed.map((s) => `${s.c}: ${s.reason ?? 'failed'}`).join('; '),
        updatedAt: at,
      };
}
