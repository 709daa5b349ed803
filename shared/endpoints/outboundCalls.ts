import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { getApp, invocationLogger } from '../app';
import { E164 } from '../flows/schema';
import { jsonError, readJsonBody } from '../functions/http';
import { OutboundRequestError } from '../ivr/callService';

export const outboundCallRequestSchema = z.strictObject({
  from: z.string().regex(E164, 'from must be a configured number in E.164'),
  to: z.string().regex(E164, 'to must be an E.164 number'),
});

/** POST /api/outbound-calls {from, to}: places a call that runs the outbound entry of from's flow. */
export async function outboundCallsHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const parsed = outboundCallRequestSchema.safeParse(body.value);
  if (!parsed.success) {
    return jsonError(
      400,
      'BadRequest',
      parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
    );
  }
  try {
    const result = await getApp().calls(invocationLogger(context)).placeCall(parsed.data);
    if (result.failure) return jsonError(502, 'GraphRequestFailed', result.failure);
    return { status: 202, jsonBody: { clientContext: result.clientContext, callId: result.callId } };
  } catch (err) {
    if (err instanceof OutboundRequestError) return jsonError(400, 'BadRequest', err.message);
    throw err;
  }
}
