import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { isValidPhoneNumber } from 'libphonenumber-js/min';
import { z } from 'zod';
import { getApp, invocationLogger } from '../app';
import { E164 } from '../flows/schema';
import { jsonError, readJsonBody } from '../functions/http';
import { chatInfoSchema } from '../graph/schemas';
import { isContextKey, OutboundRefusal, OutboundRequestError } from '../ivr/callService';
import type { OutboundTarget } from '../ivr/outbound';
import { webhookUrlProblem } from '../net/webhookUrl';

/**
 * POST /api/outbound-calls places a call that runs the outbound entry of `from`'s flow;
 * GET /api/outbound-calls/{id} says where it is and, at the end, its outcome.
 */

const phone = z
  .string()
  .regex(E164, 'expected an E.164 number such as +14255550100')
  .refine((v) => isValidPhoneNumber(v), {
    message: 'not a valid phone number for its country code',
    when: (p) => p.issues.length === 0,
  });
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const guid = (what: string) => z.string().regex(GUID, `expected ${what} (a GUID)`);

/** Scheduled meetings: a join URL, the organizer and chat thread, or a join meeting id and passcode. */
const meetingSchema = z.union(
  [
    z.strictObject({ joinUrl: z.url({ protocol: /^https$/, error: 'expected an https Teams join URL' }) }),
    z.strictObject({
      chatInfo: chatInfoSchema.extend({ '@odata.type': chatInfoSchema.shape['@odata.type'].optional() }),
      organizerMeetingInfo: z.strictObject({
        organizer: z.strictObject({
          user: z.strictObject({ id: guid('the organizer id'), tenantId: guid('a tenant id').optional() }),
        }),
      }),
    }),
    z.strictObject({
      joinMeetingId: z.string().regex(/^\d{6,20}$/, 'expected the digits of the meeting id'),
      passcode: z.string().min(1).max(64).optional(),
    }),
  ],
  { error: 'a meeting is {joinUrl}, {chatInfo, organizerMeetingInfo} or {joinMeetingId, passcode}' },
);

const targetSchema = z.union(
  [
    phone,
    z.strictObject({ phone }),
    z.strictObject({ user: guid("the Teams user's object id"), tenantId: guid('a tenant id').optional() }),
    z.strictObject({ meeting: meetingSchema }),
  ],
  { error: 'to is an E.164 number, {phone}, {user, tenantId} or {meeting}' },
);

export const outboundCallRequestSchema = z.strictObject({
  from: z.string().regex(E164, 'from must be a configured number in E.164'),
  to: targetSchema,
  variables: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), z.string().max(256)).optional(),
  // Checked by webhookUrlProblem below: https, no credentials, no loopback/private address.
  callbackUrl: z.string().min(1).max(2048).optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
});
export type OutboundCallRequest = z.infer<typeof outboundCallRequestSchema>;

/**
 * A Teams join URL names the meeting's chat thread in its path and the organizer (Oid) and
 * tenant (Tid) in its `context` parameter: together the organizerMeetingInfo Graph joins by.
 */
export function parseJoinUrl(joinUrl: string): Extract<OutboundTarget, { kind: 'meeting' }> | null {
  try {
    const url = new URL(joinUrl);
    const m = /^\/l\/meetup-join\/([^/]+)\/([^/]+)/.exec(url.pathname);
    if (!m || !/(^|\.)teams\.(microsoft|live)\.com$/.test(url.hostname)) return null;
    const threadId = decodeURIComponent(m[1]!);
    const messageId = decodeURIComponent(m[2]!);
    const context = JSON.parse(url.searchParams.get('context') ?? '{}') as { Tid?: unknown; Oid?: unknown };
    if (!/^19:.+@thread\.(v2|skype|tacv2)$/.test(threadId) || !/^\d+$/.test(messageId)) return null;
    if (typeof context.Oid !== 'string' || !GUID.test(context.Oid)) return null;
    const tenantId = typeof context.Tid === 'string' && GUID.test(context.Tid) ? context.Tid : undefined;
    return {
      kind: 'meeting',
      chatInfo: { '@odata.type': '#microsoft.graph.chatInfo', threadId, messageId },
      meetingInfo: {
        '@odata.type': '#microsoft.graph.organizerMeetingInfo',
        organizer: {
          user: {
            '@odata.type': '#microsoft.graph.identity',
            id: context.Oid,
            ...(tenantId ? { tenantId } : {}),
          },
        },
      },
    };
  } catch {
    return null;
  }
}

/** The target of a valid request, or the reason it has none (a join URL that is not a Teams meeting's). */
export function targetOf(to: OutboundCallRequest['to']): OutboundTarget | string {
  if (typeof to === 'string') return { kind: 'phone', phone: to };
  if ('phone' in to) return { kind: 'phone', phone: to.phone };
  if ('user' in to) return { kind: 'user', user: to.user, ...(to.tenantId ? { tenantId: to.tenantId } : {}) };
  const m = to.meeting;
  if ('joinUrl' in m)
    return (
      parseJoinUrl(m.joinUrl) ??
      'to.meeting.joinUrl: not a Teams meeting join URL (…/l/meetup-join/<thread>/<message>?context={"Tid","Oid"})'
    );
  if ('joinMeetingId' in m)
    return {
      kind: 'meeting',
      meetingInfo: {
        '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo',
        joinMeetingId: m.joinMeetingId,
        ...(m.passcode ? { passcode: m.passcode } : {}),
      },
    };
  const user = m.organizerMeetingInfo.organizer.user;
  return {
    kind: 'meeting',
    chatInfo: { ...m.chatInfo, '@odata.type': '#microsoft.graph.chatInfo' },
    meetingInfo: {
      '@odata.type': '#microsoft.graph.organizerMeetingInfo',
      organizer: { user: { '@odata.type': '#microsoft.graph.identity', ...user } },
    },
  };
}

const IDEMPOTENCY_HEADER = 'idempotency-key';

function problems(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

export async function outboundCallsHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  if (request.method === 'GET') return outboundCallStatus(request, context);
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const parsed = outboundCallRequestSchema.safeParse(body.value);
  if (!parsed.success) return jsonError(400, 'BadRequest', problems(parsed.error));
  const req = parsed.data;
  const target = targetOf(req.to);
  if (typeof target === 'string') return jsonError(400, 'BadRequest', target);
  if (req.callbackUrl !== undefined) {
    const { settings } = getApp();
    const problem = webhookUrlProblem(req.callbackUrl, settings.IVR_LOCAL_DEV_HTTP);
    if (problem) return jsonError(400, 'BadRequest', `callbackUrl: ${problem}`);
    if (!settings.IVR_WEBHOOK_SECRET)
      return jsonError(
        400,
        'WebhooksNotConfigured',
        'callbackUrl: this app sends no webhooks: its IVR_WEBHOOK_SECRET setting is not set',
      );
  }
  const header = request.headers.get(IDEMPOTENCY_HEADER);
  if (header !== null && (header.length === 0 || header.length > 255))
    return jsonError(400, 'BadRequest', 'Idempotency-Key: 1 to 255 characters');
  if (header !== null && req.idempotencyKey !== undefined && header !== req.idempotencyKey)
    return jsonError(400, 'BadRequest', 'idempotencyKey: differs from the Idempotency-Key header');
  const key = header ?? req.idempotencyKey;
  // The same key with another request is a client bug, not a retry: refused, not replayed.
  const { idempotencyKey: _ignored, ...rest } = req;
  const fingerprint = createHash('sha256').update(JSON.stringify(rest)).digest('base64url');
  try {
    const result = await getApp()
      .calls(invocationLogger(context))
      .placeCall({
        from: req.from,
        target,
        ...(req.variables ? { variables: req.variables } : {}),
        ...(req.callbackUrl ? { callbackUrl: req.callbackUrl } : {}),
        ...(key !== undefined ? { idempotency: { keyHash: hashKey(key), fingerprint } } : {}),
      });
    if (result.failure) return jsonError(502, 'GraphRequestFailed', result.failure);
    return {
      status: 202,
      headers: {
        location: `/api/outbound-calls/${result.clientContext}`,
        ...(result.replayed ? { 'idempotent-replayed': 'true' } : {}),
      },
      jsonBody: { id: result.clientContext, clientContext: result.clientContext, callId: result.callId },
    };
  } catch (err) {
    if (err instanceof OutboundRefusal) return jsonError(err.status, err.code, err.message, err.headers);
    if (err instanceof OutboundRequestError) return jsonError(400, 'BadRequest', err.message);
    throw err;
  }
}

/** Idempotency keys are stored as hashes: a key may be anything a client sends (and safe keys need not be secrets). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url');
}

async function outboundCallStatus(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  if (!isContextKey(id)) return jsonError(404, 'NotFound', 'no such outbound call');
  const status = await getApp().calls(invocationLogger(context)).getOutboundCall(id);
  if (!status) return jsonError(404, 'NotFound', 'no such outbound call');
  return { status: 200, jsonBody: status };
}
