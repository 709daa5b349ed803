import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { z } from 'zod';
import { isLoopbackHost } from '../config/settings';
import type { LookupAnswer } from '../ivr/lookup';
import { addressProblem, guardedLookup, UnsafeAddressError } from '../net/addressGuard';

/**
 * An http node's request, run by the lookup queue's function: https only, to public
 * addresses only (the name is resolved once and every address checked, as for recordings),
 * no redirects, one deadline for connect, headers and body, a capped answer. Secret header
 * values are read from their app settings here, at send time, and go nowhere else: not into
 * the answer, the errors, the logs or the call's context.
 */

/** The largest answer read; a bigger one is an invalid answer. */
export const LOOKUP_MAX_ANSWER_BYTES = 65_536;
/** The longest a request may take, whatever the message says (a flow allows at most 5 s). */
export const LOOKUP_MAX_TIMEOUT_MS = 5_000;

const headerSchema = z.union([
  z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/),
    value: z.string().max(1024),
  }),
  z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/),
    fromSetting: z.string().regex(/^IVR_SECRET_[A-Z0-9_]{1,100}$/),
  }),
]);

export const lookupMessageSchema = z.strictObject({
  clientContext: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,200}$/, 'a clientContext is 16-200 base64url characters'),
  seq: z.number().int().min(1).max(999_999_999),
  callId: z.string().max(256).nullable(),
  node: z.string().min(1).max(64),
  request: z.strictObject({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    url: z.string().min(1).max(8192),
    headers: z.array(headerSchema).max(20),
    body: z.string().max(65_536).optional(),
    timeoutMs: z.number().int().min(1).max(LOOKUP_MAX_TIMEOUT_MS),
  }),
});
export type LookupMessageInput = z.infer<typeof lookupMessageSchema>;

export interface LookupOptions {
  /** The value of an IVR_SECRET_* app setting, or undefined when it is not set. */
  secret: (name: string) => string | undefined;
  /** Local development (IVR_LOCAL_DEV_HTTP): loopback hosts may be called, nothing else private. */
  allowLocalHttp?: boolean;
  /** Test and dev only (IVR_TEST_LOOKUP_HOSTS): hosts served by a local stand-in, by origin. */
  testHosts?: ReadonlyMap<string, URL>;
  /** Resolves host names (the system resolver by default); every address it gives is checked. */
  lookup?: LookupFunction;
  /** Extra trust anchors for https (tests). */
  ca?: string | Buffer;
}

/** Sends the request and reports what came back; never throws. */
export async function performLookup(
  request: LookupMessageInput['request'],
  options: LookupOptions,
): Promise<LookupAnswer> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return failed('the url is not a URL');
  }
  if (url.protocol !== 'https:') return failed(`the url must be https (got ${url.protocol})`);
  if (url.username || url.password) return failed('the url must not carry credentials');
  const headers: OutgoingHttpHeaders = { accept: 'application/json', 'user-agent': 'graph-ivr' };
  for (const h of request.headers) {
    if ('value' in h) {
      headers[h.name.toLowerCase()] = h.value;
      continue;
    }
    const value = options.secret(h.fromSetting);
    // Named, never shown: the setting's value stays out of every message.
    if (value === undefined) return failed(`the app setting ${h.fromSetting} is not set`);
    if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(value))
      return failed(`the app setting ${h.fromSetting} has characters a header cannot carry`);
    headers[h.name.toLowerCase()] = value;
  }
  if (request.body !== undefined) headers['content-type'] = 'application/json';

  const stand = options.testHosts?.get(url.hostname.toLowerCase());
  const target = stand ?? url;
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const allowLoopback =
    stand !== undefined || (options.allowLocalHttp === true && isLoopbackHost(url.hostname));
  if (isIP(host)) {
    const problem = addressProblem(host, allowLoopback);
    if (problem) return failed(`${url.host} is ${problem}: refused`);
  }
  if (stand) headers.host = url.host;
  const timeoutMs = Math.min(request.timeoutMs, LOOKUP_MAX_TIMEOUT_MS);

  return new Promise<LookupAnswer>((resolve) => {
    let settled = false;
    let res: IncomingMessage | undefined;
    const done = (answer: LookupAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      res?.destroy();
      resolve(answer);
    };
    const send = target.protocol === 'http:' ? httpRequest : httpsRequest;
    const req = send({
      protocol: target.protocol,
      hostname: host,
      port: target.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: request.method,
      headers,
      // A fresh connection through the guarded lookup: never a pooled socket opened without the check.
      agent: false,
      lookup: guardedLookup(options.lookup, allowLoopback),
      // A stand-in's certificate names the stand-in, not the host the Host header carries.
      ...(stand
        ? {
            servername: isIP(host) ? 'localhost' : host,
            checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert),
          }
        : {}),
      ...(options.ca ? { ca: options.ca } : {}),
    });
    const deadline = setTimeout(
      () => done({ problem: 'timeout', message: `no whole answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.on('error', (err) => done(failed(describeError(err))));
    req.on('response', (response) => {
      res = response;
      const status = response.statusCode ?? 0;
      if (status < 200 || status > 299) return done({ status, message: `answered ${status}` });
      const declared = Number(response.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > LOOKUP_MAX_ANSWER_BYTES) return done(tooBig(status));
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > LOOKUP_MAX_ANSWER_BYTES) return done(tooBig(status));
        chunks.push(chunk);
      });
      response.on('error', (err) => done(failed(describeError(err))));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          done({ status, answer: text.trim() === '' ? undefined : (JSON.parse(text) as unknown) });
        } catch {
          done({ status, problem: 'badAnswer', message: 'the answer is not JSON' });
        }
      });
    });
    req.end(request.body);
  });
}

function failed(message: string): LookupAnswer {
  return { problem: 'failed', message };
}

function tooBig(status: number): LookupAnswer {
  return { status, problem: 'badAnswer', message: `the answer is over ${LOOKUP_MAX_ANSWER_BYTES} bytes` };
}

/** A connection error in words: its code and message, which carry no header. */
function describeError(err: Error): string {
  if (err instanceof UnsafeAddressError) return `${err.message}: refused`;
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}: ${err.message}` : err.message;
}
