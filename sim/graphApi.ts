import { randomUUID } from 'node:crypto';
import type { SimClock } from './clock';
import type { Faults } from './faults';
import {
  classifyCallsRequest,
  validateActionBody,
  validateEntity,
  validateGraphLimits,
  type CsdlModel,
  type ValidationIssue,
} from './graph/csdl';
import {
  SEND_MAIL_MAX_BODY_BYTES,
  sendMailUser,
  sentMailOf,
  validateSendMail,
  type SentMail,
} from './graph/mail';
import type { TokenService } from './identity';
import { GraphError, type ActionResult, type Platform } from './platform';
import { bearerToken, type Reply, type RequestContext, type Route } from './server';

/**
 * The Graph request pipeline, in the order the real service applies it: authentication,
 * throttling/availability faults, request validation (CSDL + documented limits), then the
 * platform. A rejected request changes nothing and is recorded with its issues.
 */

export interface GraphRequestRecord {
  seq: number;
  /** Simulated seconds since the simulator started. */
  time: number;
  method: string;
  /** Path under the Graph root, e.g. "/communications/calls/{id}/answer". */
  path: string;
  /** Parsed JSON body (or the raw text when it was not JSON). */
  body: unknown;
  status: number;
  issues: ValidationIssue[];
  callId?: string;
  /** Set when a fault mode answered instead of the platform. */
  fault?: 'throttled' | 'unavailable';
}

export class GraphApi {
  private seq = 0;

  constructor(
    private readonly deps: {
      clock: SimClock;
      platform: Platform;
      tokens: TokenService;
      faults: Faults;
      model: CsdlModel;
      /** The mail subset of the v1.0 metadata: sendMail bodies. */
      mailModel: CsdlModel;
      onMail: (mail: SentMail) => void;
      allowHttpLoopback: boolean;
      graphBaseUrl: () => string;
      onRecord: (record: GraphRequestRecord) => void;
    },
  ) {}

  routes(): Route[] {
    const path = /^\/v1\.0(\/.*)$/;
    return ['GET', 'POST', 'DELETE', 'PATCH', 'PUT'].map((method) => ({
      method,
      path,
      handle: (ctx: RequestContext, m: RegExpMatchArray) => this.handle(ctx, m[1]!),
    }));
  }

  private async handle(ctx: RequestContext, path: string): Promise<Reply> {
    const requestId = randomUUID();
    const clientRequestId = String(ctx.headers['client-request-id'] ?? requestId);
    const text = ctx.body.toString('utf8');
    let body: unknown = text === '' ? undefined : text;
    const request = classifyCallsRequest(ctx.method, path);
    const callId = 'callId' in request ? request.callId : undefined;
    const record = (status: number, extra: Partial<GraphRequestRecord> = {}) =>
      this.deps.onRecord({
        seq: ++this.seq,
        time: this.deps.clock.now(),
        method: ctx.method,
        path,
        body,
        status,
        issues: [],
        ...(callId ? { callId } : {}),
        ...extra,
      });
    const error = (
      status: number,
      code: string,
      message: string,
      headers: Record<string, string> = {},
    ): Reply => ({
      status,
      headers: { 'request-id': requestId, 'client-request-id': clientRequestId, ...headers },
      body: {
        error: {
          code,
          message,
          innerError: {
            date: new Date().toISOString(),
            'request-id': requestId,
            'client-request-id': clientRequestId,
          },
        },
      },
    });

    const reply = await (async (): Promise<Reply> => {
      if (!this.deps.tokens.isValid(bearerToken(ctx.headers))) {
        record(401);
        return error(401, 'InvalidAuthenticationToken', 'Access token is missing, invalid or expired.');
      }
      const fault = this.deps.faults.forRequest();
      if (fault) {
        record(fault.status, { fault: fault.status === 429 ? 'throttled' : 'unavailable' });
        const retryAfter: Record<string, string> =
          fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
        return fault.status === 429
          ? error(
              429,
              'TooManyRequests',
              'Too many requests; retry after the Retry-After interval.',
              retryAfter,
            )
          : error(503, 'ServiceUnavailable', 'The service is temporarily unavailable.', retryAfter);
      }
      const mailUser = sendMailUser(ctx.method, path);
      if (mailUser !== null && ctx.body.length > SEND_MAIL_MAX_BODY_BYTES) {
        body = `(${ctx.body.length} bytes)`;
        record(413);
        return error(
          413,
          'RequestEntityTooLarge',
          `The request body is ${ctx.body.length} bytes, over the 4 MB limit; attach large files with an upload session.`,
        );
      }
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          const issues = [{ path: '', message: 'the body is not valid JSON' }];
          record(400, { issues });
          return error(400, 'BadRequest', formatIssues(issues));
        }
      }
      if (mailUser !== null) {
        const mailIssues = validateSendMail(this.deps.mailModel, body);
        if (mailIssues.length > 0) {
          record(400, { issues: mailIssues });
          return error(400, 'ErrorInvalidParameter', formatIssues(mailIssues));
        }
        record(202);
        this.deps.onMail(sentMailOf(mailUser, body));
        return { status: 202, headers: { 'request-id': requestId, 'client-request-id': clientRequestId } };
      }
      const issues = this.validate(request, body);
      if (issues.length > 0) {
        record(400, { issues });
        return error(400, 'BadRequest', formatIssues(issues));
      }
      let result: ActionResult;
      try {
        result = this.dispatch(request, (body ?? {}) as Record<string, unknown>, ctx.method, path);
      } catch (e) {
        if (!(e instanceof GraphError)) throw e;
        record(e.status);
        return error(e.status, e.code, e.message);
      }
      record(result.status);
      return {
        status: result.status,
        headers: {
          'request-id': requestId,
          'client-request-id': clientRequestId,
          ...(result.location ? { location: `${this.deps.graphBaseUrl()}${result.location}` } : {}),
        },
        ...(result.body === undefined || result.body === null ? {} : { body: result.body as object }),
      };
    })();
    // A slow platform: the request has taken effect, only the answer is late.
    if (this.deps.faults.responseDelayMs > 0)
      await new Promise((resolve) => setTimeout(resolve, this.deps.faults.responseDelayMs));
    return reply;
  }

  private validate(request: ReturnType<typeof classifyCallsRequest>, body: unknown): ValidationIssue[] {
    const limits = { allowHttpLoopback: this.deps.allowHttpLoopback };
    switch (request.kind) {
      case 'create':
        return [
          ...validateEntity(this.deps.model, 'graph.call', body ?? {}),
          ...validateGraphLimits('create', body, limits),
        ];
      case 'action':
        return [
          ...validateActionBody(this.deps.model, request.action, body),
          ...validateGraphLimits(request.action, body, limits),
        ];
      default:
        return [];
    }
  }

  private dispatch(
    request: ReturnType<typeof classifyCallsRequest>,
    body: Record<string, unknown>,
    method: string,
    path: string,
  ): ActionResult {
    const { platform } = this.deps;
    switch (request.kind) {
      case 'create':
        return platform.create(body);
      case 'action':
        return platform.action(request.callId, request.action, body);
      case 'delete':
        return platform.hangUp(request.callId);
      case 'get':
        return request.operationId
          ? platform.getOperation(request.callId, request.operationId)
          : platform.getCall(request.callId);
      case 'unknown':
        throw new GraphError(400, 'BadRequest', `The simulator does not support ${method} ${path}.`);
    }
  }
}

/** Graph's message lists every issue with its path, e.g. "targets: must hold 1 to 25 items, got 26". */
function formatIssues(issues: ValidationIssue[]): string {
  return `Invalid request: ${issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; ')}`;
}
