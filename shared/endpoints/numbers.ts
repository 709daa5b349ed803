import { readFileSync } from 'node:fs';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { isPossiblePhoneNumber } from 'libphonenumber-js/min';
import { getApp, invocationLogger } from '../app';
import { flowDiagram } from '../flows/diagram';
import { FLOW_LIMITS, validateFlowText, type LoadedFlow } from '../flows/loader';
import { E164 } from '../flows/schema';
import { MAX_BODY_BYTES } from '../functions/http';
import { StaleVersionError, type StoredFlow } from '../storage/flowStore';

/**
 * The admin API of numbers and their flows (function key). Bad input is a 4xx that changes
 * nothing; a flow is stored only once it passes every check the loader makes.
 */

interface Problem {
  path: string;
  message: string;
}

function error(
  status: number,
  code: string,
  message: string,
  problems?: Problem[],
  headers: Record<string, string> = {},
): HttpResponseInit {
  return { status, headers, jsonBody: { error: { code, message, ...(problems ? { problems } : {}) } } };
}

const etag = (version: number) => `"${version}"`;

/** The number of the path: E.164 (a leading + or %2B), a possible number for its country code. */
function numberParam(request: HttpRequest): { number: string } | { response: HttpResponseInit } {
  const raw = (request.params.number ?? '').trim();
  // A "+" sent unencoded in a query-like position may arrive as a space.
  const number = raw.startsWith(' ') ? `+${raw.trimStart()}` : raw;
  if (!E164.test(number) || !isPossiblePhoneNumber(number))
    return {
      response: error(400, 'InvalidNumber', `"${raw}" is not an E.164 phone number such as +14255550100`, [
        { path: 'number', message: 'an E.164 number: +, country code, number (write + as %2B or +)' },
      ]),
    };
  return { number };
}

async function bodyText(request: HttpRequest): Promise<{ text: string } | { response: HttpResponseInit }> {
  const buffer = Buffer.from(await request.arrayBuffer());
  if (buffer.length > MAX_BODY_BYTES)
    return { response: error(413, 'PayloadTooLarge', `the body is over ${MAX_BODY_BYTES} bytes`) };
  return { text: buffer.toString('utf8') };
}

/** If-Match as a version: undefined when absent, 'any' for *, NaN when unreadable. */
function ifMatch(request: HttpRequest): number | 'any' | undefined {
  const header = request.headers.get('if-match');
  if (header === null) return undefined;
  if (header.trim() === '*') return 'any';
  const m = /^(?:W\/)?"?(\d{1,10})"?$/.exec(header.trim());
  return m ? Number(m[1]) : NaN;
}

function who(request: HttpRequest): string | null {
  // App Service authentication names the caller; otherwise what the client says (the CLI: the OS user).
  const name = request.headers.get('x-ms-client-principal-name') ?? request.query.get('author');
  return name ? name.slice(0, 200) : null;
}

/** Checks a flow for a number: the loader's checks, the number itself, identities of other numbers. */
async function checkFlow(
  text: string,
  number: string | null,
): Promise<{ flow: LoadedFlow; problems: [] } | { flow?: undefined; problems: Problem[] }> {
  const result = validateFlowText(text, number ?? 'flow', {
    limits: { fileBytes: FLOW_LIMITS.fileBytes },
    allowLoopbackUrls: getApp().settings.IVR_LOCAL_DEV_HTTP,
  });
  const problems: Problem[] = result.problems.map((p) => ({ path: p.path || '$', message: p.message }));
  if (!result.flow) return { problems };
  const f = result.flow.flow;
  if (number !== null) {
    if (f.number !== number)
      problems.push({ path: '$.number', message: `must be ${number}, the number of the path` });
    const catalog = await getApp().flows();
    const identities: Array<[string, string]> = [
      [f.number, '$.number'],
      ...f.aliases.map((a, i): [string, string] => [a, `$.aliases[${i}]`]),
      ...(f.applicationInstanceId
        ? [[f.applicationInstanceId, '$.applicationInstanceId'] as [string, string]]
        : []),
    ];
    for (const [identity, path] of identities) {
      const owner = catalog.byIdentity.get(identity);
      if (owner && owner.flow.number !== number)
        problems.push({ path, message: `"${identity}" is already routed to ${owner.flow.number}` });
    }
  }
  return problems.length > 0 ? { problems } : { flow: result.flow, problems: [] };
}

/** What the number serves now: its stored head, else its file. */
async function currentOf(
  number: string,
): Promise<{ source: 'store'; stored: StoredFlow } | { source: 'file'; flow: LoadedFlow } | null> {
  const app = getApp();
  const stored = await app.flowStore.head(number);
  if (stored) return stored.deleted ? null : { source: 'store', stored };
  await app.flows();
  const file = app.liveFlows.fileFlow(number);
  return file ? { source: 'file', flow: file } : null;
}

const NOT_FOUND: HttpResponseInit = {
  status: 404,
  jsonBody: { error: { code: 'NotFound', message: 'no such endpoint: see the README' } },
};

/** Routes the group: the path after /api/numbers, with the number decoded (%2B or +). */
export async function numbersHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const rest = (request.params.path ?? '').replace(/^\/+|\/+$/g, '');
  const parts = rest === '' ? [] : rest.split('/');
  const method = request.method.toUpperCase();
  const params = request.params as Record<string, string>;
  if (parts.length === 0) return method === 'GET' ? listNumbersHandler() : methodNotAllowed();
  params.number = safeDecode(parts[0]!);
  if (parts.length === 1)
    return ['GET', 'PUT', 'DELETE'].includes(method) ? numberHandler(request, context) : methodNotAllowed();
  if (parts[1] === 'versions' && parts.length === 2)
    return method === 'GET' ? versionsHandler(request) : methodNotAllowed();
  if (parts[1] === 'versions' && parts.length === 3) {
    params.version = parts[2]!;
    return method === 'GET' ? versionHandler(request) : methodNotAllowed();
  }
  if (parts[1] === 'rollback' && parts.length === 2)
    return method === 'POST' ? rollbackHandler(request, context) : methodNotAllowed();
  return NOT_FOUND;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function methodNotAllowed(): HttpResponseInit {
  return error(405, 'MethodNotAllowed', 'this method is not allowed here');
}

/** GET /api/numbers */
export async function listNumbersHandler(): Promise<HttpResponseInit> {
  return { status: 200, jsonBody: { numbers: await getApp().liveFlows.numbers() } };
}

/** GET | PUT | DELETE /api/numbers/{number} */
export async function numberHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const param = numberParam(request);
  if ('response' in param) return param.response;
  const { number } = param;
  if (request.method === 'GET') {
    const current = await currentOf(number);
    if (!current) return error(404, 'NotFound', `${number} has no flow`);
    if (current.source === 'store') return flowText(current.stored.text, current.stored.version, 'store');
    return flowText(readFileSync(current.flow.file, 'utf8'), 0, 'file');
  }
  const expected = ifMatch(request);
  if (Number.isNaN(expected))
    return error(400, 'InvalidIfMatch', 'If-Match is a version ETag such as "3" (or * for any)');
  if (request.method === 'DELETE') {
    if (!(await currentOf(number))) return error(404, 'NotFound', `${number} has no flow`);
    return write(context, request, number, null, expected, `deleted`);
  }
  const body = await bodyText(request);
  if ('response' in body) return body.response;
  const checked = await checkFlow(body.text, number);
  if (!checked.flow)
    return error(400, 'InvalidFlow', `the flow has ${checked.problems.length} problem(s)`, checked.problems);
  return write(context, request, number, body.text, expected, request.query.get('comment'));
}

function flowText(text: string, version: number, source: string): HttpResponseInit {
  return {
    status: 200,
    body: text,
    headers: { 'content-type': 'application/json', etag: etag(version), 'x-flow-source': source },
  };
}

async function write(
  context: InvocationContext,
  request: HttpRequest,
  number: string,
  text: string | null,
  expected: number | 'any' | undefined,
  comment: string | null,
): Promise<HttpResponseInit> {
  const app = getApp();
  let expectedVersion: number | undefined;
  if (expected === 'any') {
    const head = await app.flowStore.head(number);
    expectedVersion = head?.version ?? 0;
  } else expectedVersion = expected;
  try {
    const stored = await app.flowStore.write({
      number,
      text,
      author: who(request),
      comment: comment ? comment.slice(0, 500) : null,
      expectedVersion,
      at: new Date().toISOString(),
    });
    // This instance sees it at once; the others at their next check.
    await app.liveFlows.refresh().catch(() => false);
    invocationLogger(context).info(text === null ? 'flow deleted' : 'flow stored', {
      number,
      version: stored.version,
      author: stored.author,
    });
    const { text: _omit, ...meta } = stored;
    void _omit;
    return {
      status: stored.version === 1 ? 201 : 200,
      headers: { etag: etag(stored.version) },
      jsonBody: meta,
    };
  } catch (err) {
    if (err instanceof StaleVersionError)
      return error(
        412,
        'PreconditionFailed',
        `If-Match names version ${String(expectedVersion)} but ${number} is at version ${err.current}`,
        undefined,
        { etag: etag(err.current) },
      );
    throw err;
  }
}

/** GET /api/numbers/{number}/versions */
export async function versionsHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const param = numberParam(request);
  if ('response' in param) return param.response;
  const versions = await getApp().flowStore.versions(param.number);
  await getApp().flows();
  if (versions.length === 0 && !getApp().liveFlows.fileFlow(param.number))
    return error(404, 'NotFound', `${param.number} has no flow`);
  return { status: 200, jsonBody: { number: param.number, versions } };
}

function versionParam(request: HttpRequest): number | null {
  const v = request.params.version ?? '';
  return /^[1-9]\d{0,9}$/.test(v) ? Number(v) : null;
}

/** GET /api/numbers/{number}/versions/{version} */
export async function versionHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const param = numberParam(request);
  if ('response' in param) return param.response;
  const version = versionParam(request);
  if (version === null) return error(400, 'InvalidVersion', 'a version is a whole number from 1');
  const stored = await getApp().flowStore.version(param.number, version);
  if (!stored) return error(404, 'NotFound', `${param.number} has no version ${version}`);
  if (stored.deleted) return error(404, 'Deleted', `version ${version} of ${param.number} is a deletion`);
  return flowText(stored.text, stored.version, 'store');
}

/** POST /api/numbers/{number}/rollback {"version": v}: a new version with v's content. */
export async function rollbackHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const param = numberParam(request);
  if ('response' in param) return param.response;
  const expected = ifMatch(request);
  if (Number.isNaN(expected))
    return error(400, 'InvalidIfMatch', 'If-Match is a version ETag such as "3" (or * for any)');
  const body = await bodyText(request);
  if ('response' in body) return body.response;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.text);
  } catch {
    parsed = null;
  }
  const version = (parsed as { version?: unknown } | null)?.version;
  const comment = (parsed as { comment?: unknown } | null)?.comment;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    return error(400, 'BadRequest', 'the body is {"version": n}', [
      { path: '$.version', message: 'a whole number from 1' },
    ]);
  const stored = await getApp().flowStore.version(param.number, version);
  if (!stored) return error(404, 'NotFound', `${param.number} has no version ${version}`);
  if (stored.deleted)
    return error(400, 'BadRequest', `version ${version} is a deletion: nothing to roll back to`);
  const checked = await checkFlow(stored.text, param.number);
  if (!checked.flow)
    return error(400, 'InvalidFlow', `version ${version} no longer passes validation`, checked.problems);
  return write(
    context,
    request,
    param.number,
    stored.text,
    expected,
    typeof comment === 'string' ? comment : `rollback to version ${version}`,
  );
}

/** POST /api/flows/validate: a dry run, the problems and the diagram; nothing is stored. */
export async function validateHandler(request: HttpRequest): Promise<HttpResponseInit> {
  const body = await bodyText(request);
  if ('response' in body) return body.response;
  const checked = await checkFlow(body.text, null);
  return {
    status: 200,
    jsonBody: checked.flow
      ? { valid: true, problems: [], diagram: flowDiagram(checked.flow.flow) }
      : { valid: false, problems: checked.problems },
  };
}
