/** What a request under /communications/calls asks for, as far as request validation cares. */
export type CallsRequest =
  | { kind: 'action'; action: string; callId: string }
  | { kind: 'create' }
  | { kind: 'delete'; callId: string }
  | { kind: 'get'; callId: string; operationId?: string }
  | { kind: 'unknown' };

const UNKNOWN: CallsRequest = { kind: 'unknown' };

/**
 * Classifies `method path` relative to the Graph root, e.g. "POST /v1.0/communications/calls/{id}/answer".
 * Path segments are matched case-insensitively, as Graph does; a query string is ignored.
 */
export function classifyCallsRequest(method: string, path: string): CallsRequest {
  const segments = decodeSegments(path.split(/[?#]/)[0] ?? '');
  if (segments === undefined) return UNKNOWN;
  if (segments[0]?.toLowerCase() === 'v1.0') segments.shift();
  const [communications, calls, callId, member, operationId, ...extra] = segments;
  if (communications?.toLowerCase() !== 'communications' || calls?.toLowerCase() !== 'calls') return UNKNOWN;
  if (extra.length > 0) return UNKNOWN;

  const verb = method.toUpperCase();
  if (callId === undefined) return verb === 'POST' ? { kind: 'create' } : UNKNOWN;
  if (member === undefined) {
    if (verb === 'DELETE') return { kind: 'delete', callId };
    return verb === 'GET' ? { kind: 'get', callId } : UNKNOWN;
  }
  if (operationId === undefined) {
    // OData lets clients namespace-qualify a bound action: .../microsoft.graph.answer.
    return verb === 'POST'
      ? { kind: 'action', action: member.slice(member.lastIndexOf('.') + 1), callId }
      : UNKNOWN;
  }
  return verb === 'GET' && member.toLowerCase() === 'operations'
    ? { kind: 'get', callId, operationId }
    : UNKNOWN;
}

/** Non-empty, percent-decoded segments; undefined when the path holds a malformed escape. */
function decodeSegments(path: string): string[] | undefined {
  try {
    return path
      .split('/')
      .filter((segment) => segment !== '')
      .map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}
