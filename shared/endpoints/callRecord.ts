import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../app';
import { jsonError } from '../functions/http';

/** GET /api/calls/{callId}: a finished call's record, or where a call in progress is. */
export async function callRecordHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const callId = request.params.callId ?? '';
  if (!/^[A-Za-z0-9-]{1,128}$/.test(callId))
    return jsonError(400, 'BadRequest', 'callId must be 1-128 letters, digits or dashes');
  const status = await getApp().calls(invocationLogger(context)).getCallStatus(callId);
  if (!status) return jsonError(404, 'NotFound', `no call ${callId} is known`);
  return { status: 200, jsonBody: status };
}
