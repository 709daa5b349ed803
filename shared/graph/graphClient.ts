import type { TokenCredential } from '@azure/identity';

/**
 * A thin Graph client on fetch: bearer token, JSON, and retries of 429/503/504 that
 * honour Retry-After within a bounded number of attempts and a total time budget
 * (an incoming call must be answered within 15 s).
 */

export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    readonly graphMessage: string | undefined,
    readonly method: string,
    readonly path: string,
  ) {
    super(
      `Graph ${method} ${path} failed: ${status}${code ? ` ${code}` : ''}${graphMessage ? `: ${graphMessage}` : ''}`,
    );
    this.name = 'GraphError';
  }
}

export interface GraphResponse {
  status: number;
  body: unknown;
  location: string | null;
}

export interface GraphClientOptions {
  baseUrl: string;
  getToken: () => Promise<string>;
  maxAttempts: number;
  budgetMs: number;
  requestTimeoutMs: number;
  sleep?: (ms: number) => Promise<void>;
  /** Told about each retry, for logs (never the token). */
  onRetry?: (info: { method: string; path: string; status: number; attempt: number; waitMs: number }) => void;
}

const RETRYABLE = new Set([429, 503, 504]);

export class GraphClient {
  private readonly baseUrl: string;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: GraphClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<GraphResponse> {
    const deadline = Date.now() + this.options.budgetMs;
    const token = await this.options.getToken();
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      let res: Response;
      try {
        res = await fetch(this.baseUrl + path, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : method === 'POST' ? '' : undefined,
          signal: AbortSignal.timeout(Math.max(1, Math.min(this.options.requestTimeoutMs, remaining))),
        });
      } catch (err) {
        // A timeout or a dropped connection: the request may or may not have been applied.
        throw new GraphError(0, (err as Error).name, (err as Error).message, method, path);
      }
      const text = await res.text();
      const parsed = parseJson(text);
      if (res.ok) return { status: res.status, body: parsed, location: res.headers.get('location') };
      if (RETRYABLE.has(res.status) && attempt < this.options.maxAttempts) {
        const waitMs = retryDelayMs(res.headers.get('retry-after'), attempt);
        if (Date.now() + waitMs < deadline) {
          this.options.onRetry?.({ method, path, status: res.status, attempt, waitMs });
          await this.sleep(waitMs);
          continue;
        }
      }
      const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      throw new GraphError(
        res.status,
        error?.code,
        error?.message ?? (parsed ? undefined : text.slice(0, 200)),
        method,
        path,
      );
    }
  }

  post(path: string, body?: unknown): Promise<GraphResponse> {
    return this.request('POST', path, body);
  }

  callAction(callId: string, action: string, body?: unknown): Promise<GraphResponse> {
    return this.post(`/communications/calls/${encodeURIComponent(callId)}/${action}`, body);
  }

  deleteCall(callId: string): Promise<GraphResponse> {
    return this.request('DELETE', `/communications/calls/${encodeURIComponent(callId)}`);
  }
}

/** Retry-After in seconds or as an HTTP date; exponential backoff with jitter when absent. */
export function retryDelayMs(header: string | null, attempt: number): number {
  if (header) {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(header);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  const base = 200 * 2 ** (attempt - 1);
  return base + Math.floor(Math.random() * base);
}

function parseJson(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export interface CredentialSettings {
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  certificatePath?: string;
  authorityHost?: string;
}

/** Builds the app's credential on first use: @azure/identity is heavy to load, and cold starts count. */
export async function createCredential(s: CredentialSettings): Promise<TokenCredential> {
  const identity = await import('@azure/identity');
  const custom =
    s.authorityHost &&
    !/\.(microsoftonline\.(com|us)|chinacloudapi\.cn)$/i.test(new URL(s.authorityHost).hostname);
  const common = {
    ...(s.authorityHost ? { authorityHost: s.authorityHost } : {}),
    // A non-Entra authority (a local simulator) cannot answer MSAL's instance discovery.
    ...(custom ? { disableInstanceDiscovery: true } : {}),
  };
  if (s.certificatePath) {
    return new identity.ClientCertificateCredential(
      s.tenantId,
      s.clientId,
      { certificatePath: s.certificatePath },
      common,
    );
  }
  if (!s.clientSecret) throw new Error('set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH');
  return new identity.ClientSecretCredential(s.tenantId, s.clientId, s.clientSecret, common);
}

/** A token getter over a credential; the credential caches and refreshes the token itself. */
export function tokenGetter(credential: () => Promise<TokenCredential>): () => Promise<string> {
  let cred: Promise<TokenCredential> | null = null;
  return async () => {
    cred ??= credential().catch((err) => {
      cred = null;
      throw err;
    });
    const token = await (await cred).getToken(GRAPH_SCOPE);
    if (!token) throw new Error('no Graph token');
    return token.token;
  };
}
