import type { RecordingMeta } from '../storage/recordStore';

/**
 * What a voicemail says to people: the mail (subject, text body, audio attached or linked)
 * and the webhook's data, from the recording's row. Pure: no I/O, no clock.
 */

export interface VoicemailFacts {
  caller: string;
  number: string;
  /** The recording's time in the number's time zone, e.g. "Tue, Mar 10, 2026, 10:00 AM PDT". */
  localTime: string;
  timeZone: string;
  durationSeconds: number | null;
  node: string;
  transcript: string | null;
}

export function voicemailFacts(
  meta: RecordingMeta,
  timeZone: string,
  transcript: string | null,
): VoicemailFacts {
  return {
    caller: meta.caller ?? 'an unknown caller',
    number: meta.number ?? 'unknown number',
    localTime: localTimeOf(meta.recordedAt, timeZone),
    timeZone,
    durationSeconds: meta.durationSeconds,
    node: meta.node,
    transcript,
  };
}

export function localTimeOf(iso: string, timeZone: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
  }).format(at);
}

export function durationText(seconds: number | null): string {
  if (seconds === null) return 'unknown length';
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

export function subjectOf(facts: VoicemailFacts, prefix = 'Voicemail'): string {
  return `${prefix} from ${facts.caller} (${durationText(facts.durationSeconds)})`;
}

/** The mail's text body: plain text, so nothing a caller says can become markup. */
export function mailText(
  facts: VoicemailFacts,
  audio: { attached: true } | { link: string; expiresAt: string },
): string {
  const lines = [
    `From: ${facts.caller}`,
    `To: ${facts.number}`,
    `When: ${facts.localTime}`,
    `Length: ${durationText(facts.durationSeconds)}`,
    `Left at: ${facts.node}`,
    '',
    facts.transcript === null
      ? '(no transcript)'
      : `Transcript:\n${facts.transcript || '(nothing recognised)'}`,
    '',
    'attached' in audio
      ? 'The recording is attached.'
      : `The recording is too large to attach. Listen until ${audio.expiresAt}: ${audio.link}`,
  ];
  return lines.join('\n');
}

export interface GraphMailMessage {
  subject: string;
  body: { contentType: 'text'; content: string };
  toRecipients: Array<{ emailAddress: { address: string } }>;
  attachments?: Array<{
    '@odata.type': '#microsoft.graph.fileAttachment';
    name: string;
    contentType: string;
    contentBytes: string;
  }>;
}

/** The sendMail body (parameter names as the v1.0 metadata spells them). */
export function sendMailBody(message: GraphMailMessage): {
  Message: GraphMailMessage;
  SaveToSentItems: boolean;
} {
  // Not kept in the sending mailbox: the recording already lives in Blob storage.
  return { Message: message, SaveToSentItems: false };
}

export function attachmentName(meta: RecordingMeta): string {
  const stamp = meta.recordedAt.replace(/[^0-9]/g, '').slice(0, 14);
  return `voicemail-${stamp}-${meta.seq}.wav`;
}

/**
 * The webhook's `data`: the facts as fields, a one-line `text`, and an Adaptive Card a Teams
 * Workflows "post card in a chat or channel" action can post as it is.
 */
export function webhookData(meta: RecordingMeta, facts: VoicemailFacts, language: string | null) {
  const text = `Voicemail from ${facts.caller} to ${facts.number}, ${facts.localTime}, ${durationText(facts.durationSeconds)}${
    facts.transcript ? `: "${facts.transcript}"` : ''
  }`;
  return {
    callId: meta.callId,
    recordingSeq: meta.seq,
    caller: meta.caller,
    number: meta.number,
    recordedAt: meta.recordedAt,
    localTime: facts.localTime,
    timeZone: facts.timeZone,
    durationSeconds: meta.durationSeconds,
    node: meta.node,
    blobName: meta.blobName,
    transcript: facts.transcript,
    transcriptLanguage: facts.transcript === null ? null : language,
    text,
    card: {
      type: 'AdaptiveCard',
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      version: '1.4',
      body: [
        {
          type: 'TextBlock',
          size: 'Medium',
          weight: 'Bolder',
          text: `Voicemail from ${facts.caller}`,
          wrap: true,
        },
        {
          type: 'FactSet',
          facts: [
            { title: 'To', value: facts.number },
            { title: 'When', value: facts.localTime },
            { title: 'Length', value: durationText(facts.durationSeconds) },
            { title: 'Left at', value: facts.node },
          ],
        },
        { type: 'TextBlock', text: facts.transcript ?? '(no transcript)', wrap: true },
      ],
    },
  };
}
