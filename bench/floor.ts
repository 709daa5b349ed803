import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { TableClient } from '@azure/data-tables';

/**
 * The floor: the least work any bot must do for one incoming-call notification, as its own
 * small Node process, measured in the same run and on the same machine as the bot.
 * Per POST: verify the RS256 callback token with jose against the platform's JWKS, ONE
 * conditional insert of a ~2 KB entity into Table storage, ONE https POST of `answer` to
 * Graph (keep-alive agent, bounded pool), then 202. Nothing else: no flows, no logging.
 *
 * Settings (environment): FLOOR_PORT, FLOOR_OPENID_URL, FLOOR_AUDIENCE, FLOOR_STORAGE,
 * FLOOR_TABLE, FLOOR_GRAPH_BASE, FLOOR_TOKEN_URL, FLOOR_CLIENT_ID, FLOOR_CLIENT_SECRET,
 * FLOOR_MAX_SOCKETS (default 64). NODE_EXTRA_CA_CERTS trusts the bench's Graph stand-in.
 */

function setting(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const ISSUERS = ['https://graph.microsoft.com', 'https://api.botframework.com'];
const CALL_URL = /^\/(?:communications|app)\/calls\/([^/?#]+)$/i;
const PADDING = 'x'.repeat(1800);

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 1024 * 1024) throw new Error('body over 1 MiB');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

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

async function main(): Promise<void> {
  const port = Number(setting('FLOOR_PORT'));
  const audience = setting('FLOOR_AUDIENCE');
  const graphBase = setting('FLOOR_GRAPH_BASE').replace(/\/+$/, '');
  const agent = new Agent({ keepAlive: true, maxSockets: Number(process.env.FLOOR_MAX_SOCKETS ?? 64) });

  // Start-up work (a bot does it once per instance too): keys, a Graph token, the table.
  const config = (await (await fetch(setting('FLOOR_OPENID_URL'))).json()) as { jwks_uri: string };
  const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.jwks_uri));
  const tokenRes = await fetch(setting('FLOOR_TOKEN_URL'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: setting('FLOOR_CLIENT_ID'),
      client_secret: setting('FLOOR_CLIENT_SECRET'),
      scope: 'https://graph.microsoft.com/.default',
    }),
  });
  if (!tokenRes.ok) throw new Error(`token endpoint answered ${tokenRes.status}`);
  const graphToken = ((await tokenRes.json()) as { access_token: string }).access_token;
  const table = TableClient.fromConnectionString(setting('FLOOR_STORAGE'), setting('FLOOR_TABLE'), {
    allowInsecureConnection: true,
  });
  await table.createTable();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (req.method !== 'POST' || !m) {
      res.writeHead(401).end();
      return;
    }
    try {
      const { payload } = await jwtVerify(m[1]!, jwks, {
        algorithms: ['RS256'],
        issuer: ISSUERS,
        audience,
        clockTolerance: 60,
        requiredClaims: ['exp', 'nbf'],
      });
      if (typeof payload.tid !== 'string') throw new Error('no tid');
    } catch {
      res.writeHead(401).end();
      return;
    }
    const body = JSON.parse((await readBody(req)).toString('utf8')) as {
      value?: Array<{ resourceUrl?: string; resourceData?: { state?: string } }>;
    };
    const n = body.value?.[0];
    const callId = CALL_URL.exec(n?.resourceUrl ?? '')?.[1];
    if (!callId || n?.resourceData?.state !== 'incoming') {
      res.writeHead(202).end();
      return;
    }
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
      if ((err as { statusCode?: number }).statusCode === 409) {
        res.writeHead(202).end(); // a repeat: already handled
        return;
      }
      throw err;
    }
    const answer = JSON.stringify({
      callbackUri: 'https://bot.contoso.com/api/calls',
      acceptedModalities: ['audio'],
      mediaConfig: {
        '@odata.type': '#microsoft.graph.serviceHostedMediaConfig',
        preFetchMedia: [
          { uri: 'https://media.example.com/hello.wav', resourceId: '4d8a7e0f-3f5b-5b5e-9b1c-7f0e9c1a2b3c' },
          { uri: 'https://media.example.com/menu.wav', resourceId: '9a1b2c3d-4e5f-5a6b-8c7d-0e1f2a3b4c5d' },
        ],
      },
    });
    const status = await post(
      agent,
      new URL(`${graphBase}/communications/calls/${callId}/answer`),
      graphToken,
      answer,
    );
    res.writeHead(status >= 200 && status < 300 ? 202 : 500).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok());
  });
  process.stdout.write(`floor ready on ${port}\n`);
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

main().catch((err: Error) => {
  process.stderr.write(`floor failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
