import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { z } from 'zod';
import { guardedLookup, UnsafeAddressError } from '../net/addressGuard';
import { webhookUrlProblem } from '../net/webhookUrl';
import { signWebhook, WEBHOOK_HEADERS } from './signing';

/**
 * Signed webhook deliveries from the `ivr-webhooks` queue: outbound call outcomes and
 * voicemail notices. One attempt per queue message; the queue function schedules the next
 * attempt after a growing wait, so nothing sleeps in a function.
 */

/** Attempts in all, and the wait before each retry (seconds): about 2.5 hours end to end. */
export const WEBHOOK_ATTEMPTS = 6;
export const WEBHOOK_RETRY_DELAYS_SECONDS = [10, 60, 300, 1800, 7200] as const;
/** Bodies stay well inside a queue message (64 KiB, base64-encoded). */
export const WEBHOOK_MAX_BODY_CHARS = 40_000;

/** Whom to tell how a delivery ended: an outbound call, a recording... (see App.webhookOutcomes). */
export const webhookSubjectSchema = z.object({
  kind: z.string().regex(/^[a-z][a-zA-Z]{0,31}$/),
  key: z.string().min(1).max(512),
});
export type WebhookSubject = z.infer<typeof webhookSubjectSchema>;

export const webhookJobSchema = z.object({
  /** The delivery id, the same on every attempt. */
  id: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/),
  event: z.string().regex(/^[a-z][a-zA-Z.]{0,63}$/),
  url: z.string().max(2048),
  /** The exact JSON text sent and signed: identical on every attempt. */
  body: z.string().max(WEBHOOK_MAX_BODY_CHARS),
  attempt: z.number().int().min(1).max(WEBHOOK_ATTEMPTS),
  subject: webhookSubjectSchema.optional(),
});
export type WebhookJob = z.infer<typeof webhookJobSchema>;

export type WebhookAttempt =
  | { status: 'delivered'; httpStatus: number }
  | { status: 'retry'; reason: string; httpStatus?: number }
  | { status: 'failed'; reason: string; httpStatus?: number };

/** How a delivery ended, told to its subject. */
export interface WebhookOutcome {
  deliveryId: string;
  event: string;
  status: 'delivered' | 'failed';
  attempts: number;
  at: string;
  httpStatus?: number;
  reason?: string;
}

export interface PostOptions {
  /** Signs every attempt; an attempt without a secret fails (nothing unsigned is sent). */
  secret: string | undefined;
  timeoutMs: number;
  allowLoopback?: boolean;
  /** The system resolver by default; every address it gives is checked. */
  lookup?: LookupFunction;
  /** Extra trust anchors (tests, local runs). */
  ca?: string | Buffer;
  nowSeconds?: () => number;
}

/**
 * One signed POST of a delivery. 2xx is delivered. 410 Gone, an unsafe address or an invalid
 * URL end the delivery; anything else (other statuses, timeouts, connection errors) is worth
 * another attempt, as receivers are often briefly down or misconfigured. Redirects are not
 * followed: the signed body goes only where it was addressed.
 */
export async function postWebhook(job: WebhookJob, options: PostOptions): Promise<WebhookAttempt> {
  const allowLoopback = options.allowLoopback ?? false;
  const problem = webhookUrlProblem(job.url, allowLoopback);
  if (problem) return { status: 'failed', reason: `callback URL ${problem}` };
  const secret = options.secret;
  if (!secret) return { status: 'failed', reason: 'no webhook secret is configured (IVR_WEBHOOK_SECRET)' };
  const url = new URL(job.url);
  const timestamp = Math.floor(options.nowSeconds?.() ?? Date.now() / 1000);
  const body = Buffer.from(job.body);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (attempt: WebhookAttempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(attempt);
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'user-agent': 'graph-ivr-webhooks/1',
        [WEBHOOK_HEADERS.id]: job.id,
        [WEBHOOK_HEADERS.event]: job.event,
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.signature]: signWebhook(secret, timestamp, job.body),
      },
      // A fresh connection through the checked lookup, never a pooled socket.
      agent: false,
      lookup: guardedLookup(options.lookup, allowLoopback),
      ...(options.ca ? { ca: options.ca } : {}),
    });
    const timer = setTimeout(
      () => settle({ status: 'retry', reason: `no answer within ${options.timeoutMs} ms` }),
      options.timeoutMs,
    );
    req.on('error', (err) =>
      settle(
        err instanceof UnsafeAddressError
          ? { status: 'failed', reason: err.message }
          : { status: 'retry', reason: `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}` },
      ),
    );
    req.on('response', (res: IncomingMessage) => {
      const httpStatus = res.statusCode ?? 0;
      // The answer's body is not needed: read none of it.
      res.destroy();
      if (httpStatus >= 200 && httpStatus < 300) return settle({ status: 'delivered', httpStatus });
      if (httpStatus === 410)
        return settle({ status: 'failed', reason: 'receiver answered 410 Gone', httpStatus });
      const redirect = httpStatus >= 300 && httpStatus < 400 ? ' (redirects are not followed)' : '';
      settle({ status: 'retry', reason: `receiver answered ${httpStatus}${redirect}`, httpStatus });
    });
    req.end(body);
  });
}

/** A delivery's body: its id, event and time with the event's data, as one JSON text. */
export function webhookBody(id: string, event: string, createdAt: string, data: unknown): string {
  return JSON.stringify({ id, event, createdAt, data });
}
