/**
 * Azure AI Speech fast transcription (`POST {endpoint}/speechtotext/transcriptions:transcribe`,
 * api-version 2024-11-15): one synchronous multipart request with the audio and a definition
 * naming the locale, authenticated with an Entra ID token of the app's identity (no key).
 */

export const SPEECH_SCOPE = 'https://cognitiveservices.azure.com/.default';
export const FAST_TRANSCRIPTION_API_VERSION = '2024-11-15';

export class TranscriptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TranscriptionError';
  }
}

export interface TranscriberOptions {
  /** The Speech resource's endpoint, e.g. https://contoso-speech.cognitiveservices.azure.com */
  endpoint: string;
  getToken: () => Promise<string>;
  timeoutMs: number;
}

export type Transcriber = (audio: Buffer, language: string) => Promise<string>;

interface FastTranscriptionResult {
  combinedPhrases?: Array<{ text?: unknown }>;
}

export function speechTranscriber(options: TranscriberOptions): Transcriber {
  const url = `${options.endpoint.replace(/\/+$/, '')}/speechtotext/transcriptions:transcribe?api-version=${FAST_TRANSCRIPTION_API_VERSION}`;
  return async (audio, language) => {
    const token = await options.getToken();
    const form = new FormData();
    form.append('audio', new Blob([new Uint8Array(audio)], { type: 'audio/wav' }), 'voicemail.wav');
    form.append('definition', JSON.stringify({ locales: [language] }));
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: form,
        redirect: 'error',
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (err) {
      const e = err as Error;
      throw new TranscriptionError(
        e.name === 'TimeoutError'
          ? `Speech did not answer within ${options.timeoutMs} ms`
          : `Speech: ${e.message}`,
      );
    }
    const text = await res.text();
    if (!res.ok) throw new TranscriptionError(`Speech answered ${res.status}: ${errorMessage(text)}`);
    let body: FastTranscriptionResult;
    try {
      body = JSON.parse(text) as FastTranscriptionResult;
    } catch {
      throw new TranscriptionError('Speech answered with something other than JSON');
    }
    // combinedPhrases holds the whole transcript (per channel); an empty list is silence.
    return (body.combinedPhrases ?? [])
      .map((p) => (typeof p.text === 'string' ? p.text.trim() : ''))
      .filter(Boolean)
      .join(' ');
  };
}

function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
    const message = body.error?.message ?? body.message;
    if (typeof message === 'string') return message.slice(0, 300);
  } catch {
    // not JSON: the start of the text
  }
  return text.slice(0, 200) || '(no body)';
}
