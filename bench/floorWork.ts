import { Agent, request as httpsRequest } from 'node:https';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { TableClient } from '@azure/data-tables';

/**
 * The floor's work for one notification, shared by the two floors the bench measures: the
 * bare one (floor.ts, its own node:http server) and the same work behind the Functions
 * programming model (floorFunction.ts, served by the local host like the bot).
 * Per notification: verify the RS256 callback token with jose against the platform's JWKS,
 * ONE conditional insert of a ~2 KB entity into Table storage, ONE https POST of `answer` to
 * Graph (keep-alive agent, bounded pool). Nothing else: no flows, no logging.
 */

export interface FloorSettings {
  openIdUrl: string;
  audience: string;
  storage: string;
  table: string;
  graphBase: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  maxSockets: number;
}

export interface FloorWork {
  /** The status to answer: 401, 202 (answered, or not an incoming call, or a repeat) or 500. */
  handle(authorization: string | null | undefined, readBody: () => Promise<string>): Promise<number>;
}

function setting(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

/** FLOOR_OPENID_URL, FLOOR_AUDIENCE, FLOOR_STORAGE, FLOOR_TABLE, FLOOR_GRAPH_BASE, FLOOR_TOKEN_URL, FLOOR_CLIENT_ID, FLOOR_CLIENT_SECRET, FLOOR_MAX_SOCKETS (default 64). */
export function floorSettings(env: NodeJS.ProcessEnv = process.env): FloorSettings {
  return {
    openIdUrl: setting(env, 'FLOOR_OPENID_URL'),
    audience: setting(env, 'FLOOR_AUDIENCE'),
    storage: setting(env, 'FLOOR_STORAGE'),
    table: setting(env, 'FLOOR_TABLE'),
    graphBase: setting(env, 'FLOOR_GRAPH_BASE').replace(/\/+$/, ''),
    tokenUrl: setting(env, 'FLOOR_TOKEN_URL'),
    clientId: setting(env, 'FLOOR_CLIENT_ID'),
    clientSecret: setting(env, 'FLOOR_CLIENT_SECRET'),
    maxSockets: Number(env.FLOOR_MAX_SOCKETS ?? 64),
  };
}

const ISSUERS = ['https://graph.microsoft.com', 'https://api.botframework.com'];
const CALL_URL = /^\/(?:communications|app)\/calls\/([^/?#]+)$/i;
const PADDING = 'x'.repeat(1800);

function post(agent: Agent, url: URL, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': Buffer.byteLength(body),
        },
        timeout: 5000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('Graph request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Start-up work (a bot does it once per instance too): keys, a Graph token, the table. */
export async function startFloorWork(s: FloorSettings): Promise<FloorWork> {
  const agent = new Agent({ keepAlive: true, maxSockets: s.maxSockets });
  const config = (await (await fetch(s.openIdUrl)).json()) as { jwks_uri: string };
  const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.jwks_uri));
  const tokenRes = await fetch(s.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: s.clientId,
      client_secret: s.clientSecret,
      scope: 'https://graph.microsoft.com/.default',
    }),
  });
  if (!tokenRes.ok) throw new Error(`token endpoint answered ${tokenRes.status}`);
  const graphToken = ((await tokenRes.json()) as { access_token: string }).access_token;
  const table = TableClient.fromConnectionString(s.storage, s.table, { allowInsecureConnection: true });
  await table.createTable();

  return {
    async handle(authorization, readBody) {
      const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!m) return 401;
      try {
        const { payload } = await jwtVerify(m[1]!, jwks, {
          algorithms: ['RS256'],
          issuer: ISSUERS,
          audience: s.audience,
          clockTolerance: 60,
          requiredClaims: ['exp', 'nbf'],
        });
        if (typeof payload.tid !== 'string') throw new Error('no tid');
      } catch {
        return 401;
      }
      const body = JSON.parse(await readBody()) as {
        value?: Array<{ resourceUrl?: string; resourceData?: { state?: string } }>;
      };
      const n = body.value?.[0];
      const callId = CALL_URL.exec(n?.resourceUrl ?? '')?.[1];
      if (!callId || n?.resourceData?.state !== 'incoming') return 202;
      const id = decodeURIComponent(callId);
      try {
        await table.createEntity({
          partitionKey: `i_${id}`,
          rowKey: 'call',
          clientContext: 'a'.repeat(43),
          state: 'incoming',
          context: PADDING,
        });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 409) return 202; // a repeat: already handled
        throw err;
      }
      const answer = JSON.stringify({
        callbackUri: 'https://bot.contoso.com/api/calls',
        acceptedModalities: ['audio'],
        mediaConfig: {
          '@odata.type': '#microsoft.graph.serviceHostedMediaConfig',
          preFetchMedia: [
            {
              uri: 'https://media.example.com/hello.wav',
              resourceId: '4d8a7e0f-3f5b-5b5e-9b1c-7f0e9c1a2b3c',
            },
            { uri: 'https://media.example.com/menu.wav', resourceId: '9a1b2c3d-4e5f-5a6b-8c7d-0e1f2a3b4c5d' },
          ],
        },
      });
      const status = await post(
        agent,
        new URL(`${s.graphBase}/communications/calls/${callId}/answer`),
        graphToken,
        answer,
      );
      return status >= 200 && status < 300 ? 202 : 500;
    },
  };
}
