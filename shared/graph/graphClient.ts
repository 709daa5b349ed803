import type { TokenCredential } from '@azure/identity';
import { KeepAliveTransport, targetOf, type HttpReply, type Target } from './transport';

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
  /** Shared by all clients of the process: one connection pool. */
  transport?: KeepAliveTransport;
  /** Told about each retry, for logs (never the token). */
  onRetry?: (info: { method: string; path: string; status: number; attempt: number; waitMs: number }) => void;
}

const RETRYABLE = new Set([429, 503, 504]);

export class GraphClient {
  private readonly baseUrl: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly transport: KeepAliveTransport;
  private readonly base: Target;

  constructor(private readonly options: GraphClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.transport = options.transport ?? defaultTransport();
    this.base = baseTarget(this.baseUrl);
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<GraphResponse> {
    const deadline = Date.now() + this.options.budgetMs;
    const token = await this.options.getToken();
    const url = { ...this.base, path: this.base.path + path };
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      ...(body !== undefined || method === 'POST' ? { 'content-type': 'application/json' } : {}),
    };
    const payload = body !== undefined ? JSON.stringify(body) : method === 'POST' ? '' : undefined;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      let res: HttpReply;
      try {
        res = await this.transport.send(
          method,
          url,
          headers,
          payload,
          Math.max(1, Math.min(this.options.requestTimeoutMs, remaining)),
        );
      } catch (err) {
        // A timeout or a dropped connection: the request may or may not have been applied.
        throw new GraphError(0, (err as Error).name, (err as Error).message, method, path);
      }
      const parsed = parseJson(res.text);
      if (res.status >= 200 && res.status < 300) {
        return { status: res.status, body: parsed, location: headerOf(res.headers.location) };
      }
      if (RETRYABLE.has(res.status) && attempt < this.options.maxAttempts) {
        const waitMs = retryDelayMs(headerOf(res.headers['retry-after']), attempt);
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
        error?.message ?? (parsed ? undefined : res.text.slice(0, 200)),
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

const bases = new Map<string, Target>();
/** The base URL taken apart once per process: a client is made per invocation. */
function baseTarget(baseUrl: string): Target {
  let base = bases.get(baseUrl);
  if (!base) {
    const t = targetOf(new URL(baseUrl));
    base = { ...t, path: t.path.replace(/\/+$/, '') };
    bases.set(baseUrl, base);
  }
  return base;
}

let sharedTransport: KeepAliveTransport | null = null;
/** The process's Graph connection pool; made ahead of the first call by the warm-up (its TLS context costs milliseconds). */
export function defaultTransport(): KeepAliveTransport {
  sharedTransport ??= new KeepAliveTransport();
  return sharedTransport;
}

function headerOf(value: string | string[] | undefined): string | null {
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
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
  /** Inferred when unset: a secret, else a certificate. */
  kind?: 'secret' | 'certificate' | 'federated';
  clientSecret?: string;
  certificatePath?: string;
  /** PEM text (certificate and private key), e.g. a Key Vault reference. */
  certificate?: string;
  /** Federated: the user-assigned managed identity whose token is the client assertion (unset: system-assigned). */
  managedIdentityClientId?: string;
  authorityHost?: string;
}

/** The audience of a managed identity token used as a federated credential (Entra's fixed value). */
export const TOKEN_EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';

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
  const kind =
    s.kind ?? (s.clientSecret ? 'secret' : s.certificatePath || s.certificate ? 'certificate' : undefined);
  if (kind === 'federated') {
    // No secret anywhere: the app's federated identity credential trusts this managed identity,
    // whose token for the exchange audience is the client assertion (MSAL caches the result).
    const mi = s.managedIdentityClientId
      ? new identity.ManagedIdentityCredential({ clientId: s.managedIdentityClientId })
      : new identity.ManagedIdentityCredential();
    const assertion = async () => {
      const token = await mi.getToken(TOKEN_EXCHANGE_SCOPE);
      if (!token) throw new Error('the managed identity gave no token for the federated credential');
      return token.token;
    };
    return new identity.ClientAssertionCredential(s.tenantId, s.clientId, assertion, common);
  }
  if (kind === 'certificate') {
    return s.certificatePath
      ? new identity.ClientCertificateCredential(
          s.tenantId,
          s.clientId,
          { certificatePath: s.certificatePath },
          common,
        )
      : new identity.ClientCertificateCredential(
          s.tenantId,
          s.clientId,
          { certificate: s.certificate ?? '' },
          common,
        );
  }
  if (!s.clientSecret)
    throw new Error(
      'no Graph credential: set GRAPH_CREDENTIAL=federated, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_CERTIFICATE or AZURE_CLIENT_SECRET',
    );
  return new identity.ClientSecretCredential(s.tenantId, s.clientId, s.clientSecret, common);
}

/** Refresh a token this long before it expires, so no request carries one about to lapse. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * A token getter over a credential, caching the token until shortly before it expires:
 * a request pays no credential call, and concurrent requests share one refresh.
 */
export function tokenGetter(
  credential: () => Promise<TokenCredential>,
  now: () => number = Date.now,
  scope: string = GRAPH_SCOPE,
): () => Promise<string> {
  let cred: Promise<TokenCredential> | null = null;
  let cached: { token: string; refreshAt: number } | null = null;
  let inFlight: Promise<string> | null = null;
  const refresh = async () => {
    cred ??= credential().catch((err) => {
      cred = null;
      throw err;
    });
    const token = await (await cred).getToken(scope);
    if (!token) throw new Error(`no token for ${scope}`);
    const refreshAt = Math.min(
      token.expiresOnTimestamp - TOKEN_REFRESH_MARGIN_MS,
      token.refreshAfterTimestamp ?? Number.POSITIVE_INFINITY,
    );
    cached = { token: token.token, refreshAt };
    return token.token;
  };
  return () => {
    if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
    inFlight ??= refresh().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}
