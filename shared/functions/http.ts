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
  // Decoded straight to text (no copy into a Buffer first). UTF-8 takes at least one byte per
  // UTF-16 unit and at most three, so only a body near the limit needs its bytes counted.
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) return tooLarge();
  if (text.length * 3 > MAX_BODY_BYTES && Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) return tooLarge();
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return {
      ok: false,
      response: jsonError(400, 'BadRequest', `the body is not valid JSON: ${(err as Error).message}`),
    };
  }
}
