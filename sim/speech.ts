import type { Reply, RequestContext, Route } from './server';
import { bearerToken } from './server';
import type { Signer } from './signing';

/**
 * A stand-in for Azure AI Speech's fast transcription API
 * (`POST /speechtotext/transcriptions:transcribe?api-version=2024-11-15`): it checks what the
 * real service checks first (an Entra ID token for Cognitive Services, the api-version, a
 * multipart body with an `audio` file and a `definition` naming the locales) and answers with
 * a scripted transcript in the service's shape.
 */

export const SPEECH_AUDIENCE = 'https://cognitiveservices.azure.com';
export const SPEECH_API_VERSION = '2024-11-15';

/** What the next transcription answers: a text, or a failure status (and, optionally, a delay). */
export type SpeechAnswer = { text: string; delayMs?: number } | { status: number; delayMs?: number };

export interface TranscriptionRecord {
  time: number;
  status: number;
  locales: string[];
  audioBytes: number;
  text?: string;
  problem?: string;
}

export class SpeechService {
  private readonly answers: SpeechAnswer[] = [];
  readonly log: TranscriptionRecord[] = [];

  constructor(
    private readonly signer: Signer,
    private readonly onChange: () => void,
    /** Used when nothing is scripted. */
    private readonly defaultText = 'Hello, this is a simulated voicemail. Please call me back.',
  ) {}

  /** Queues answers for the next transcriptions, in order. */
  script(...answers: SpeechAnswer[]): void {
    this.answers.push(...answers);
  }

  routes(): Route[] {
    return [
      {
        method: 'POST',
        path: /^\/speechtotext\/transcriptions:transcribe$/,
        handle: (ctx) => this.transcribe(ctx),
      },
    ];
  }

  private async transcribe(ctx: RequestContext): Promise<Reply> {
    const refuse = (status: number, code: string, message: string, locales: string[] = []): Reply => {
      this.record({ status, locales, audioBytes: 0, problem: message });
      return { status, body: { error: { code, message } } };
    };
    const claims = this.signer.verify(bearerToken(ctx.headers) ?? '');
    const now = Math.floor(Date.now() / 1000);
    if (!claims || claims.aud !== SPEECH_AUDIENCE || typeof claims.exp !== 'number' || claims.exp <= now)
      return refuse(401, 'Unauthorized', `a bearer token for ${SPEECH_AUDIENCE} is required`);
    if (ctx.query.get('api-version') !== SPEECH_API_VERSION)
      return refuse(400, 'InvalidArgument', `api-version must be ${SPEECH_API_VERSION}`);
    const boundary = /^multipart\/form-data;\s*boundary="?([^";]+)"?/i.exec(
      String(ctx.headers['content-type'] ?? ''),
    )?.[1];
    if (!boundary) return refuse(415, 'UnsupportedMediaType', 'the body must be multipart/form-data');
    const parts = parseMultipart(ctx.body, boundary);
    const audio = parts.get('audio');
    const definitionText = parts.get('definition')?.toString('utf8');
    if (!audio || audio.length < 44 || audio.subarray(0, 4).toString('latin1') !== 'RIFF')
      return refuse(400, 'InvalidArgument', 'an audio part holding a WAV file is required');
    let locales: string[] = [];
    try {
      const definition = JSON.parse(definitionText ?? '{}') as { locales?: unknown };
      if (definition.locales !== undefined) {
        if (!Array.isArray(definition.locales) || !definition.locales.every((l) => typeof l === 'string'))
          throw new Error('locales must be an array of strings');
        locales = definition.locales as string[];
      }
    } catch (e) {
      return refuse(400, 'InvalidArgument', `definition: ${(e as Error).message}`);
    }
    if (locales.some((l) => !/^[a-z]{2,3}-[A-Z]{2}$/.test(l)))
      return refuse(400, 'InvalidArgument', `unsupported locale in ${locales.join(', ')}`, locales);
    const answer = this.answers.shift() ?? { text: this.defaultText };
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if ('status' in answer) {
      this.record({ status: answer.status, locales, audioBytes: audio.length, problem: 'scripted failure' });
      return {
        status: answer.status,
        body: { error: { code: 'InternalServerError', message: 'scripted failure' } },
      };
    }
    this.record({ status: 200, locales, audioBytes: audio.length, text: answer.text });
    const durationMilliseconds = Math.round((Math.max(0, audio.length - 44) / 32_000) * 1000);
    return {
      status: 200,
      body: {
        durationMilliseconds,
        combinedPhrases: [{ text: answer.text }],
        phrases: [
          {
            offsetMilliseconds: 0,
            durationMilliseconds,
            text: answer.text,
            locale: locales[0] ?? 'en-US',
            confidence: 0.93,
          },
        ],
      },
    };
  }

  private record(entry: Omit<TranscriptionRecord, 'time'>): void {
    this.log.push({ time: Date.now(), ...entry });
    this.onChange();
  }
}

/** The parts of a multipart/form-data body by name (the last part of a name wins). */
export function parseMultipart(body: Buffer, boundary: string): Map<string, Buffer> {
  const parts = new Map<string, Buffer>();
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd >= 0) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
      if (name !== undefined) parts.set(name, part.subarray(headerEnd + 4));
    }
    at = next;
  }
  return parts;
}
