import { z } from 'zod';
import type { RequestContext, Reply, Route } from './server';

/**
 * Scriptable HTTP endpoints for flows' http nodes: the business's own systems (a CRM, an
 * order desk) as a test or the demo wants them to answer: a JSON body, a status, a delay,
 * an answer that is not JSON, a dropped connection. The bot reaches them through
 * IVR_TEST_LOOKUP_HOSTS (the stack sets it), which sends requests for a scripted host to the
 * simulator with that host in the Host header.
 */

const answerSchema = z.strictObject({
  status: z.number().int().min(100).max(599).default(200),
  /** Sent as JSON. */
  body: z.unknown().optional(),
  /** Sent as is (an answer that is not JSON, say); instead of body. */
  raw: z.string().optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /** Simulated seconds before the answer (a slow system, a timeout). */
  delaySeconds: z.number().min(0).max(3600).default(0),
  /** Close the connection without an answer. */
  drop: z.boolean().default(false),
});

export const endpointScriptSchema = z.strictObject({
  host: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/),
  /** An exact path, or a prefix ending in * (the longest matching prefix wins). */
  path: z.string().regex(/^\/\S*$/),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).optional(),
  /** Headers a request must carry (an API key): without them the answer is 401. */
  expectHeaders: z.record(z.string(), z.string()).optional(),
  answer: answerSchema,
});
export type EndpointScriptInput = z.input<typeof endpointScriptSchema>;
type EndpointScript = z.infer<typeof endpointScriptSchema>;

/** A request an endpoint received, headers included (tests check what the bot sent). */
export interface EndpointRequest {
  method: string;
  host: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  status: number | null;
}

export class Endpoints {
  private scripts: EndpointScript[] = [];
  readonly requests: EndpointRequest[] = [];

  constructor(
    private readonly toRealMs: (simSeconds: number) => number,
    private readonly onRequest: () => void,
  ) {}

  /** Adds a script, or replaces the one of the same host, path and method. */
  set(input: EndpointScriptInput): void {
    const script = endpointScriptSchema.parse(input);
    script.host = script.host.toLowerCase();
    this.scripts = this.scripts.filter(
      (s) => !(s.host === script.host && s.path === script.path && s.method === script.method),
    );
    this.scripts.push(script);
  }

  hosts(): string[] {
    return [...new Set(this.scripts.map((s) => s.host))];
  }

  /** One route for every method: it takes requests whose Host is a scripted host. */
  routes(): Route[] {
    return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((method) => ({
      method,
      path: /^\/.*/,
      accepts: (ctx: RequestContext) => this.hosts().includes(hostOf(ctx)),
      handle: (ctx: RequestContext) => this.answer(ctx),
    }));
  }

  private find(ctx: RequestContext): EndpointScript | undefined {
    const host = hostOf(ctx);
    const candidates = this.scripts.filter(
      (s) => s.host === host && (s.method === undefined || s.method === ctx.method),
    );
    const exact = candidates.find((s) => s.path === ctx.path);
    if (exact) return exact;
    return candidates
      .filter((s) => s.path.endsWith('*') && ctx.path.startsWith(s.path.slice(0, -1)))
      .sort((a, b) => b.path.length - a.path.length)[0];
  }

  private async answer(ctx: RequestContext): Promise<Reply> {
    const script = this.find(ctx);
    const record: EndpointRequest = {
      method: ctx.method,
      host: hostOf(ctx),
      path: ctx.path,
      query: ctx.query.toString(),
      headers: { ...ctx.headers },
      body: ctx.body.toString('utf8'),
      status: null,
    };
    this.requests.push(record);
    this.onRequest();
    if (!script) {
      record.status = 404;
      return { status: 404, body: { error: 'no endpoint scripted for this path' } };
    }
    const missing = Object.entries(script.expectHeaders ?? {}).some(
      ([name, value]) => ctx.headers[name.toLowerCase()] !== value,
    );
    if (missing) {
      record.status = 401;
      return { status: 401, body: { error: 'missing or wrong credentials' } };
    }
    const a = script.answer;
    // Unref'd: a slow answer still pending must not keep a finished test run alive.
    if (a.delaySeconds > 0) await new Promise((r) => setTimeout(r, this.toRealMs(a.delaySeconds)).unref());
    if (a.drop) return { status: 0, drop: true };
    record.status = a.status;
    return {
      status: a.status,
      headers: a.raw !== undefined ? { 'content-type': 'text/plain', ...a.headers } : a.headers,
      ...(a.raw !== undefined ? { body: a.raw } : a.body !== undefined ? { body: a.body as object } : {}),
    };
  }
}

function hostOf(ctx: RequestContext): string {
  return (ctx.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
}
