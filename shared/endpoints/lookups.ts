import type { InvocationContext } from '@azure/functions';
import { getApp, invocationLogger } from '../app';
import { secretSetting } from '../config/settings';
import { lookupMessageSchema, performLookup } from '../lookups/httpLookup';
import { parseQueueMessage } from './queueMessage';

/**
 * An http node's request from the lookup queue: sent, then its result fed back into the call
 * (which goes on to the node its outcome names). A repeat of a message sends the request
 * again (at least once, as every queue), but its result changes the call only once: the
 * call takes one result per request seq. Headers are never logged.
 */
export async function ivrLookupsHandler(message: unknown, context: InvocationContext): Promise<void> {
  const app = getApp();
  const log = invocationLogger(context);
  // A malformed message can never succeed: dropped (the call's watchdog timer moves it on).
  const lookup = parseQueueMessage(lookupMessageSchema, message, log, 'lookup message');
  if (!lookup) return;
  const { clientContext, seq, callId, node, request } = lookup;
  const startedAt = Date.now();
  const result = await performLookup(request, {
    secret: (name) => secretSetting(name),
    allowLocalHttp: app.settings.IVR_LOCAL_DEV_HTTP,
    testHosts: app.testLookupHosts,
  });
  log.info('lookup done', {
    callId,
    node,
    seq,
    method: request.method,
    host: hostOf(request.url),
    status: result.status ?? null,
    problem: result.problem ?? null,
    message: result.message ?? null,
    ms: Date.now() - startedAt,
  });
  await app.calls(log).handleLookupResult({ clientContext, seq }, result);
}

/** The host alone: a url's path and query can carry a caller's entry. */
function hostOf(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}
