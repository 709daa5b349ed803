import { randomUUID } from 'node:crypto';
import type { Reply, RequestContext, Route } from './server';
import type { Signer } from './signing';

/**
 * A stand-in for Entra ID's client-credentials flow, enough for @azure/identity's
 * ClientSecretCredential (MSAL) pointed at the simulator with `authorityHost` and
 * `disableInstanceDiscovery: true`: the tenant's OpenID configuration and token endpoint.
 * Also the calling platform's callback-token keys (`/v1/.well-known/OpenIdConfiguration`).
 */

const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
/** Azure AI Speech (voicemail transcripts) takes Entra ID tokens for Cognitive Services. */
const COGNITIVE_SERVICES_SCOPE = 'https://cognitiveservices.azure.com/.default';
const GRAPH_ROLES = [
  'Calls.AccessMedia.All',
  'Calls.Initiate.All',
  'Calls.InitiateGroupCall.All',
  'Calls.JoinGroupCall.All',
];

export interface IdentityOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Lifetime of issued access tokens, in real seconds. */
  accessTokenLifetimeSeconds: number;
  /**
   * A user-assigned managed identity: served on App Service's identity contract
   * (`GET /msi/token`, header X-IDENTITY-HEADER) and trusted as a federated identity
   * credential of the app (its `api://AzureADTokenExchange` token is a client assertion).
   */
  managedIdentity?: ManagedIdentityOptions;
}

export interface ManagedIdentityOptions {
  clientId: string;
  principalId: string;
  /** IDENTITY_HEADER: the secret the endpoint requires. */
  header: string;
}

/** The audience of a managed identity's token used as a federated credential. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What a token request proved: tests check which credential the bot used. */
export interface TokenGrant {
  endpoint: 'token' | 'managedIdentity';
  /** client_secret or client_assertion (token endpoint); the resource (managed identity). */
  detail: string;
}

export class TokenService {
  /** Issued access tokens → expiry (epoch ms). Graph requests must carry one of these. */
  private readonly issued = new Map<string, number>();
  readonly grants: TokenGrant[] = [];

  constructor(
    private readonly signer: Signer,
    private readonly options: IdentityOptions,
  ) {}

  /** An app-only Graph access token, as the token endpoint would issue. */
  issue(): { accessToken: string; expiresIn: number } {
    const { accessToken, expiresAt } = this.appToken('https://graph.microsoft.com', { roles: GRAPH_ROLES });
    this.issued.set(accessToken, expiresAt);
    return { accessToken, expiresIn: this.options.accessTokenLifetimeSeconds };
  }

  /** An app-only token for Azure AI Speech: not a Graph token (Graph refuses it). */
  issueForSpeech(): { accessToken: string; expiresIn: number } {
    const { accessToken } = this.appToken('https://cognitiveservices.azure.com', {});
    return { accessToken, expiresIn: this.options.accessTokenLifetimeSeconds };
  }

  private appToken(aud: string, claims: Record<string, unknown>): { accessToken: string; expiresAt: number } {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.options.accessTokenLifetimeSeconds;
    const accessToken = this.signer.sign({
      aud,
      iss: `https://sts.windows.net/${this.options.tenantId}/`,
      iat: now,
      nbf: now,
      exp,
      appid: this.options.clientId,
      idtyp: 'app',
      ...claims,
      tid: this.options.tenantId,
      uti: randomUUID(),
    });
    return { accessToken, expiresAt: exp * 1000 };
  }

  isValid(token: string | undefined): boolean {
    const expiry = token === undefined ? undefined : this.issued.get(token);
    return expiry !== undefined && expiry > Date.now();
  }

  routes(): Route[] {
    const tenantPath = '/([^/]+)';
    return [
      {
        method: 'GET',
        path: new RegExp(`^${tenantPath}/v2\\.0/\\.well-known/openid-configuration$`),
        handle: (ctx, m) => this.openIdConfiguration(ctx, m[1]!),
      },
      {
        method: 'POST',
        path: new RegExp(`^${tenantPath}/oauth2/v2\\.0/token$`),
        handle: (ctx, m) => this.token(ctx, m[1]!),
      },
      {
        method: 'GET',
        path: new RegExp(`^${tenantPath}/discovery/v2\\.0/keys$`),
        handle: () => ({ status: 200, body: this.signer.jwks() }),
      },
      {
        method: 'GET',
        path: /^\/v1\/\.well-known\/OpenIdConfiguration$/,
        // The shape of https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration.
        handle: (ctx) => ({
          status: 200,
          body: {
            issuer: 'https://api.botframework.com',
            authorization_endpoint: 'https://invalid.botframework.com',
            jwks_uri: `${ctx.origin}/v1/keys`,
            id_token_signing_alg_values_supported: ['RS256'],
            token_endpoint_auth_methods_supported: ['private_key_jwt'],
          },
        }),
      },
      { method: 'GET', path: /^\/v1\/keys$/, handle: () => ({ status: 200, body: this.signer.jwks() }) },
      { method: 'GET', path: /^\/msi\/token$/, handle: (ctx) => this.managedIdentityToken(ctx) },
    ];
  }

  private openIdConfiguration(ctx: RequestContext, tenant: string): Reply {
    if (tenant !== this.options.tenantId) return tenantNotFound(tenant);
    const base = `${ctx.origin}/${tenant}`;
    return {
      status: 200,
      body: {
        issuer: `${base}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        token_endpoint: `${base}/oauth2/v2.0/token`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid', 'ver'],
        request_uri_parameter_supported: false,
        tenant_region_scope: 'NA',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
      },
    };
  }

  private token(ctx: RequestContext, tenant: string): Reply {
    if (tenant !== this.options.tenantId) return tenantNotFound(tenant);
    const form = new URLSearchParams(ctx.body.toString('utf8'));
    // MSAL posts the secret in the form; client_secret_basic is accepted too. Extra
    // parameters MSAL adds (client_info, claims, x-client-* telemetry) are ignored.
    const basic = /^Basic\s+(\S+)$/i.exec(ctx.headers.authorization ?? '')?.[1];
    const [basicId, basicSecret] = basic
      ? Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent)
      : [];
    const clientId = form.get('client_id') ?? basicId;
    const clientSecret = form.get('client_secret') ?? basicSecret;
    if (form.get('grant_type') !== 'client_credentials') {
      return aadError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${form.get('grant_type') ?? ''}'.`,
      );
    }
    if (clientId !== this.options.clientId) {
      return aadError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId ?? ''}' was not found in the directory '${tenant}'.`,
      );
    }
    const assertion = form.get('client_assertion');
    if (assertion !== null) {
      const problem = this.assertionProblem(form.get('client_assertion_type'), assertion);
      if (problem) return aadError(401, 'invalid_client', problem.code, problem.message);
    } else if (clientSecret !== this.options.clientSecret) {
      return aadError(
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      );
    }
    const scopes = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
    const speech = scopes.length === 1 && scopes[0] === COGNITIVE_SERVICES_SCOPE;
    if (!scopes.includes(GRAPH_SCOPE) && !speech) {
      return aadError(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope '${scopes.join(' ')}' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (${GRAPH_SCOPE}).`,
      );
    }
    this.grants.push({
      endpoint: 'token',
      detail: assertion !== null ? 'client_assertion' : 'client_secret',
    });
    const { accessToken, expiresIn } = speech ? this.issueForSpeech() : this.issue();
    return {
      status: 200,
      headers: { 'cache-control': 'no-store' },
      body: {
        token_type: 'Bearer',
        expires_in: expiresIn,
        ext_expires_in: expiresIn,
        access_token: accessToken,
      },
    };
  }

  /** A client assertion must be a token of the federated managed identity, for the exchange audience. */
  private assertionProblem(type: string | null, assertion: string): { code: number; message: string } | null {
    const mi = this.options.managedIdentity;
    if (type !== CLIENT_ASSERTION_TYPE)
      return { code: 50027, message: `Invalid client_assertion_type '${type ?? ''}'.` };
    const claims = this.signer.verify(assertion);
    if (!claims) return { code: 50012, message: 'The client assertion is not a valid signed JWT.' };
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= now)
      return { code: 700024, message: 'Client assertion is not within its valid time range.' };
    if (
      !mi ||
      claims.aud !== TOKEN_EXCHANGE_AUDIENCE ||
      claims.iss !== this.federatedIssuer() ||
      claims.sub !== mi.principalId
    ) {
      return {
        code: 700213,
        message: `No matching federated identity record found for presented assertion subject '${String(claims.sub)}'.`,
      };
    }
    return null;
  }

  private federatedIssuer(): string {
    return `https://login.microsoftonline.com/${this.options.tenantId}/v2.0`;
  }

  /**
   * App Service's identity contract, as ManagedIdentityCredential calls it with
   * IDENTITY_ENDPOINT and IDENTITY_HEADER set. Storage tokens carry what Azurite's OAuth mode
   * checks (an Entra issuer, `aud` the resource, nbf/iat/exp).
   */
  private managedIdentityToken(ctx: RequestContext): Reply {
    const mi = this.options.managedIdentity;
    if (!mi) return { status: 404, body: { error: 'not_found' } };
    if (ctx.headers['x-identity-header'] !== mi.header)
      return { status: 401, body: { error: 'invalid_request', error_description: 'X-IDENTITY-HEADER' } };
    const clientId = ctx.query.get('client_id');
    const resource = (ctx.query.get('resource') ?? '').replace(/\/+$/, '');
    if (ctx.query.get('api-version') !== '2019-08-01' || !resource)
      return {
        status: 400,
        body: { error: 'invalid_request', error_description: 'api-version or resource' },
      };
    if (clientId !== null && clientId !== mi.clientId)
      return { status: 400, body: { error: 'invalid_request', error_description: 'unknown identity' } };
    this.grants.push({ endpoint: 'managedIdentity', detail: resource });
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.options.accessTokenLifetimeSeconds;
    const exchange = resource === TOKEN_EXCHANGE_AUDIENCE;
    const token = this.signer.sign({
      aud: resource,
      iss: exchange ? this.federatedIssuer() : `https://sts.windows.net/${this.options.tenantId}/`,
      iat: now,
      nbf: now,
      exp,
      sub: mi.principalId,
      oid: mi.principalId,
      appid: mi.clientId,
      idtyp: 'app',
      tid: this.options.tenantId,
      uti: randomUUID(),
    });
    return {
      status: 200,
      body: { access_token: token, expires_on: String(exp), resource, token_type: 'Bearer' },
    };
  }
}

function tenantNotFound(tenant: string): Reply {
  return aadError(
    400,
    'invalid_tenant',
    90002,
    `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID.`,
  );
}

/** Entra ID's error body: error, "AADSTSnnnn: …" description, error_codes, trace and correlation ids. */
function aadError(status: number, error: string, code: number, message: string): Reply {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
    },
  };
}
