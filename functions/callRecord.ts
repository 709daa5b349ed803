import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../shared/app';
import { jsonError } from '../shared/functions/http';
import { httpFunction } from '../shared/functions/registry';

/** GET /api/calls/{callId}: the record of a finished call (function key required). */
export async function callRecordHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const callId = request.params.callId ?? '';
  if (!/^[A-Za-z0-9-]{1,128}$/.test(callId))
    return jsonError(400, 'BadRequest', 'callId must be 1-128 letters, digits or dashes');
  const record = await getApp().calls(invocationLogger(context)).getCallRecord(callId);
  if (!record)
    return jsonError(404, 'NotFound', `no record of call ${callId} (calls in progress have none yet)`);
  return { status: 200, jsonBody: record };
}

httpFunction('callRecord', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'calls/{callId}',
  handler: callRecordHandler,
});
