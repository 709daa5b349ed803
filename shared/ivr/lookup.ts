import type { HttpOutcome } from '../flows/loader';
import type { NodeOf } from '../flows/schema';
import { fillTemplate, VARIABLE_VALUE_LIMIT } from '../flows/variables';

/**
 * An http node, the pure part: the request it sends (variables filled in, secret headers
 * named, never resolved) and what its result means for the flow (an outcome and the values
 * mapped from the answer). The request itself runs off the notification path, in
 * shared/lookups/.
 */

/** A header: a literal value, or the name of the app setting holding it (read when sent). */
export type LookupHeader = { name: string; value: string } | { name: string; fromSetting: string };

export interface LookupRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: LookupHeader[];
  /** JSON text, for POST, PUT and PATCH. */
  body?: string;
  timeoutMs: number;
}

/** What came back, as the lookup worker reports it to the call. */
export interface LookupAnswer {
  /** The HTTP status, when an answer came. */
  status?: number;
  /** The parsed JSON of a 2xx answer. */
  answer?: unknown;
  /** timeout: no whole answer in time; failed: no answer (refused address, connection, setting); badAnswer: a 2xx not JSON or too big. */
  problem?: 'timeout' | 'failed' | 'badAnswer';
  /** Why, for the call's failures; never a header value. */
  message?: string;
}

/** The request of an http node, its templates filled from the call's variables. */
export function lookupRequest(
  node: NodeOf<'http'>,
  variable: (name: string) => string | undefined,
): LookupRequest {
  const body = node.body
    ? JSON.stringify(
        Object.fromEntries(Object.entries(node.body).map(([k, v]) => [k, fillTemplate(v, variable)])),
      )
    : undefined;
  return {
    method: node.method,
    url: fillTemplate(node.url, variable, encodeURIComponent),
    headers: node.headers.map((h) =>
      'value' in h
        ? { name: h.header, value: fillTemplate(h.value, variable) }
        : { name: h.header, fromSetting: h.fromSetting },
    ),
    ...(body !== undefined ? { body } : {}),
    timeoutMs: Math.round(node.timeoutSeconds * 1000),
  };
}

/** What a result means: the outcome, the variables it sets (on success only), and why it failed. */
export function lookupOutcome(
  node: NodeOf<'http'>,
  result: LookupAnswer,
): { outcome: HttpOutcome; values: Record<string, string>; detail: string | null } {
  const fail = (outcome: HttpOutcome, detail: string) => ({ outcome, values: {}, detail });
  if (result.problem === 'timeout') return fail('timeout', result.message ?? 'no answer in time');
  if (result.problem === 'failed' || result.status === undefined)
    return fail('failure', result.message ?? 'no answer');
  const status = result.status;
  if (status >= 400 && status <= 499) return fail('clientError', `answered ${status}`);
  if (status >= 500 && status <= 599) return fail('serverError', `answered ${status}`);
  if (status < 200 || status > 299) return fail('failure', `answered ${status}`);
  const fields = Object.entries(node.map);
  if (fields.length === 0) return { outcome: 'success', values: {}, detail: null };
  if (result.problem === 'badAnswer') return fail('invalidAnswer', result.message ?? 'not JSON');
  const values: Record<string, string> = {};
  for (const [name, { field, type }] of fields) {
    const value = fieldOf(result.answer, field);
    const text = typed(value, type);
    if (text === null)
      return fail(
        'invalidAnswer',
        value === undefined ? `field "${field}" is missing` : `field "${field}" is not ${typeName(type)}`,
      );
    values[name] = text;
  }
  return { outcome: 'success', values, detail: null };
}

/** A dotted path into parsed JSON: own properties only, array items by index. */
export function fieldOf(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(key)) return undefined;
      current = current[Number(key)];
    } else {
      if (!Object.hasOwn(current, key)) return undefined;
      current = (current as Record<string, unknown>)[key];
    }
  }
  return current;
}

function typed(value: unknown, type: 'string' | 'number' | 'integer' | 'boolean'): string | null {
  switch (type) {
    case 'string':
      return typeof value === 'string' && value.length <= VARIABLE_VALUE_LIMIT ? value : null;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? String(value) : null;
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : null;
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : null;
  }
}

function typeName(type: string): string {
  if (type === 'string') return `a string of at most ${VARIABLE_VALUE_LIMIT} characters`;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
