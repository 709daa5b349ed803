import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  classifyCallsRequest,
  loadCsdl,
  validateActionBody,
  validateEntity,
  validateGraphLimits,
} from '../sim/graph/csdl';
import { TokenService } from '../sim/identity';
import type { RequestContext, Reply } from '../sim/server';
import { Signer } from '../sim/signing';
import { createTlsMaterial, type TlsMaterial } from '../sim/tls';

/**
 * The Graph side of the bench, in the bench process, over TLS on 127.0.0.1:
 *  - Entra ID's token endpoint (the simulator's TokenService) for the bot's @azure/identity,
 *  - the calling platform's callback-token keys (OpenID configuration + JWKS), shared by the bot and the floor,
 *  - /v1.0/communications/calls…, recording each request with its arrival time (performance.now()
 *    when the request's headers are in), answering as Graph does. Bodies are checked against the
 *    CSDL after the measurements (checking them inline would slow the arrivals being timed),
 * and, over plain http, the recordings a `recordResponse` completion points at.
 */

export const APP_ID = '11111111-2222-3333-4444-555555555555';
export const TENANT_ID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
export const CLIENT_SECRET = 'bench-client-secret';

export interface GraphRequest {
  at: number;
  method: string;
  path: string;
  action: string | null;
  callId: string | null;
  body: unknown;
  authorized: boolean;
  /** Operation id this stand-in returned (media actions). */
  operationId: string | null;
}

export interface GraphStandIn {
  origin: string;
  graphBaseUrl: string;
  openIdConfigUrl: string;
  tokenUrl: string;
  caCertPath: string;
  requests: GraphRequest[];
  /** Answer POSTs per call id, with arrival times. */
  answers: Map<string, number[]>;
  /** Notification bearer token, signed like the platform's. */
  callbackToken(): string;
  /** Recordings served over http at `<recordingBase>/<name>`, with the access token they require. */
  recordingBase: string;
  addRecording(name: string, data: Buffer, accessToken: string): void;
  recordingDownloads: number;
  /** CSDL and limits check of every recorded request body (slow: run after the measurements). */
  validate(): { checked: number; refused: number; examples: string[] };
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const payload = Buffer.isBuffer(body)
    ? body
    : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(status, {
    'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json',
    'content-length': String(payload.length),
    ...headers,
  });
  res.end(payload);
}

export async function startGraphStandIn(): Promise<GraphStandIn> {
  const tls: TlsMaterial = await createTlsMaterial();
  const signer = await Signer.create();
  const tokens = new TokenService(signer, {
    tenantId: TENANT_ID,
    clientId: APP_ID,
    clientSecret: CLIENT_SECRET,
    accessTokenLifetimeSeconds: 3600,
  });
  const identityRoutes = tokens.routes();
  const requests: GraphRequest[] = [];
  const answers = new Map<string, number[]>();
  let opSeq = 0;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const at = performance.now();
    void (async () => {
      const url = new URL(req.url ?? '/', 'https://placeholder');
      const method = (req.method ?? 'GET').toUpperCase();
      const body = await readBody(req);
      if (url.pathname.startsWith('/v1.0/')) {
        const kind = classifyCallsRequest(method, url.pathname);
        const text = body.toString('utf8');
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          return send(res, 400, { error: { code: 'BadRequest', message: 'body is not JSON' } });
        }
        const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
        const entry: GraphRequest = {
          at,
          method,
          path: url.pathname,
          action: kind.kind === 'action' ? kind.action : kind.kind,
          callId: 'callId' in kind ? kind.callId : null,
          body: parsed,
          authorized: tokens.isValid(bearer),
          operationId: null,
        };
        requests.push(entry);
        if (!entry.authorized)
          return send(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'no valid token' } });
        if (kind.kind === 'action' && kind.action === 'answer') {
          const list = answers.get(kind.callId) ?? [];
          list.push(at);
          answers.set(kind.callId, list);
        }
        const clientContext = (parsed as { clientContext?: string } | undefined)?.clientContext;
        if (
          kind.kind === 'action' &&
          ['playPrompt', 'recordResponse', 'cancelMediaProcessing'].includes(kind.action)
        ) {
          entry.operationId = `op-${++opSeq}`;
          return send(res, 200, {
            '@odata.type':
              kind.action === 'recordResponse'
                ? '#microsoft.graph.recordOperation'
                : kind.action === 'playPrompt'
                  ? '#microsoft.graph.playPromptOperation'
                  : '#microsoft.graph.commsOperation',
            id: entry.operationId,
            status: 'running',
            clientContext,
          });
        }
        if (kind.kind === 'action' && kind.action === 'subscribeToTone') {
          entry.operationId = `op-${++opSeq}`;
          return send(res, 200, { id: entry.operationId, status: 'completed', clientContext });
        }
        if (kind.kind === 'create')
          return send(res, 201, { ...(parsed as object), id: randomUUID(), state: 'establishing' });
        if (kind.kind === 'delete') return send(res, 204);
        if (kind.kind === 'action') return send(res, 202);
        return send(res, 404, { error: { code: 'NotFound', message: `nothing at ${url.pathname}` } });
      }
      // Identity and callback keys: the simulator's own routes.
      const ctx: RequestContext = {
        method,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        origin: `https://${req.headers.host ?? '127.0.0.1'}`,
      };
      for (const r of identityRoutes) {
        const m = url.pathname.match(r.path);
        if (m && r.method === method) {
          const reply: Reply = await r.handle(ctx, m);
          return send(res, reply.status, reply.body, reply.headers);
        }
      }
      send(res, 404, { error: { code: 'NotFound', message: `nothing at ${url.pathname}` } });
    })().catch((err: Error) => {
      if (!res.headersSent) send(res, 500, { error: { code: 'InternalServerError', message: err.message } });
      else res.end();
    });
  };

  const https: Server = createHttpsServer(
    { key: tls.key, cert: tls.cert, keepAliveTimeout: 30_000 },
    handler,
  );
  await new Promise<void>((ok) => https.listen(0, '127.0.0.1', ok));
  const origin = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;

  // Recordings: plain http on loopback (the bot runs with IVR_LOCAL_DEV_HTTP=true).
  const recordings = new Map<string, { data: Buffer; token: string }>();
  const state = { downloads: 0 };
  const media: Server = createHttpServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').replace(/^\/recordings\//, '').split('?')[0] ?? '');
    const rec = recordings.get(name);
    if (!rec) return send(res, 404);
    if (req.headers.authorization !== `Bearer ${rec.token}`) return send(res, 401);
    state.downloads++;
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(rec.data.length) });
    res.end(rec.data);
  });
  await new Promise<void>((ok) => media.listen(0, '127.0.0.1', ok));
  const recordingBase = `http://127.0.0.1:${(media.address() as AddressInfo).port}/recordings`;

  return {
    origin,
    graphBaseUrl: `${origin}/v1.0`,
    openIdConfigUrl: `${origin}/v1/.well-known/OpenIdConfiguration`,
    tokenUrl: `${origin}/${TENANT_ID}/oauth2/v2.0/token`,
    caCertPath: tls.caCertPath,
    requests,
    answers,
    callbackToken: () => signer.callbackToken(APP_ID, TENANT_ID),
    recordingBase,
    addRecording: (name, data, token) => recordings.set(name, { data, token }),
    get recordingDownloads() {
      return state.downloads;
    },
    validate() {
      const model = loadCsdl();
      let refused = 0;
      const examples: string[] = [];
      for (const r of requests) {
        const kind = classifyCallsRequest(r.method, r.path);
        const issues =
          kind.kind === 'action'
            ? [
                ...validateActionBody(model, kind.action, r.body),
                ...validateGraphLimits(kind.action, r.body, { allowHttpLoopback: true }),
              ]
            : kind.kind === 'create'
              ? [
                  ...validateEntity(model, 'graph.call', r.body),
                  ...validateGraphLimits('create', r.body, { allowHttpLoopback: true }),
                ]
              : [];
        if (issues.length > 0) {
          refused++;
          if (examples.length < 3)
            examples.push(
              `${r.method} ${r.path}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
            );
        }
      }
      return { checked: requests.length, refused, examples };
    },
    async close() {
      for (const s of [https, media]) {
        s.closeAllConnections();
        await new Promise<void>((ok) => s.close(() => ok()));
      }
      await tls.dispose();
    },
  };
}
