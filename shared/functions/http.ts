import type { HttpRequest, HttpResponseInit } from '@azure/functions';

export const MAX_BODY_BYTES = 1024 * 1024;

export function jsonError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return { status, jsonBody: { error: { code, message } }, headers };
}

/** Reads a JSON body of at most 1 MiB: 413 when larger, 400 when not JSON. */
export async function readJsonBody(
  request: HttpRequest,
): Promise<{ ok: true; value: unknown } | { ok: false; response: HttpResponseInit }> {
  const tooLarge = () => ({
    ok: false as const,
    response: jsonError(413, 'PayloadTooLarge', `the body is over ${MAX_BODY_BYTES} bytes`),
  });
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return tooLarge();
  const buffer = Buffer.from(await request.arrayBuffer());
  if (buffer.length > MAX_BODY_BYTES) return tooLarge();
  try {
    return { ok: true, value: JSON.parse(buffer.toString('utf8')) };
  } catch (err) {
    return {
      ok: false,
      response: jsonError(400, 'BadRequest', `the body is not valid JSON: ${(err as Error).message}`),
    };
  }
}
