import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  classifyCallsRequest,
  loadCsdl,
  validateActionBody,
  validateEntity,
  validateGraphLimits,
  type ValidationIssue,
} from '../../sim/graph/csdl';
import { loadMailCsdl, sendMailUser, validateSendMail } from '../../sim/graph/mail';

/**
 * A capturing Graph for integration tests: records every request, checks each body
 * against the official CSDL and the documented limits, and answers as Graph does
 * (or as a test scripts it to).
 */

export interface CapturedRequest {
  method: string;
  path: string;
  action: string | null;
  callId: string | null;
  body: unknown;
  authorization: string | null;
  issues: ValidationIssue[];
}

export type Responder = (req: CapturedRequest) =>
  | {
      status: number;
      body?: unknown;
      headers?: Record<string, string>;
      /** The answer is sent only once this settles: a test orders events without sleeping. */
      after?: Promise<unknown>;
    }
  | undefined;

export interface FakeGraph {
  baseUrl: string;
  requests: CapturedRequest[];
  /** Scripted answers, tried in order before the default; a responder returning undefined passes. */
  responders: Responder[];
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeGraph(): Promise<FakeGraph> {
  const model = loadCsdl();
  const mailModel = loadMailCsdl();
  const requests: CapturedRequest[] = [];
  const responders: Responder[] = [];
  let opSeq = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname.replace(/^\/v1\.0/, '');
      const text = await body(req);
      const parsed: unknown = text ? JSON.parse(text) : undefined;
      const kind = classifyCallsRequest(req.method ?? 'GET', path);
      let issues: ValidationIssue[] = [];
      if (kind.kind === 'action') {
        issues = [
          ...validateActionBody(model, kind.action, parsed),
          ...validateGraphLimits(kind.action, parsed, { allowHttpLoopback: true }),
        ];
      } else if (sendMailUser(req.method ?? 'GET', path) !== null) {
        issues = validateSendMail(mailModel, parsed);
      } else if (kind.kind === 'create') {
        issues = [
          ...validateEntity(model, 'graph.call', parsed),
          ...validateGraphLimits('create', parsed, { allowHttpLoopback: true }),
        ];
      }
      const captured: CapturedRequest = {
        method: req.method ?? 'GET',
        path,
        action:
          kind.kind === 'action'
            ? kind.action
            : sendMailUser(req.method ?? 'GET', path) !== null
              ? 'sendMail'
              : kind.kind,
        callId: 'callId' in kind ? kind.callId : null,
        body: parsed,
        authorization: req.headers.authorization ?? null,
        issues,
      };
      requests.push(captured);
      for (const r of responders) {
        const answer = r(captured);
        if (answer) {
          await answer.after?.catch(() => undefined);
          res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
          return res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
        }
      }
      if (issues.length > 0) {
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            error: { code: 'BadRequest', message: issues.map((i) => `${i.path}: ${i.message}`).join('; ') },
          }),
        );
      }
      if (kind.kind === 'action' && (kind.action === 'playPrompt' || kind.action === 'recordResponse')) {
        opSeq++;
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            '@odata.type':
              kind.action === 'playPrompt'
                ? '#microsoft.graph.playPromptOperation'
                : '#microsoft.graph.recordOperation',
            id: `op-${opSeq}`,
            status: 'running',
            clientContext: (parsed as { clientContext?: string }).clientContext,
          }),
        );
      }
      if (kind.kind === 'action' && kind.action === 'subscribeToTone') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            id: `op-t${++opSeq}`,
            status: 'completed',
            clientContext: (parsed as { clientContext?: string }).clientContext,
          }),
        );
      }
      if (kind.kind === 'create') {
        res.writeHead(201, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({ ...(parsed as object), id: `out-${++opSeq}`, state: 'establishing' }),
        );
      }
      res.writeHead(kind.kind === 'delete' ? 204 : 202);
      res.end();
    })().catch((err: Error) => {
      res.writeHead(500);
      res.end(err.message);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`,
    requests,
    responders,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
