import { execFile } from 'node:child_process';
import { createPublicKey, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { parseCliArgs } from '../../sim/cli';
import { loadCsdl, validateEntity } from '../../sim/graph/csdl';
import {
  startSimulator,
  type CommsNotification,
  type CommsNotifications,
  type Simulator,
  type SimulatorOptions,
} from '../../sim';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON from the wire, checked with expect()
type Wire = any;

const TENANT = '0d9f8e7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f';
const APP_ID = 'b0a4d5f2-4c1e-4f3a-9d8b-2e7c6a5b4d3c';
const SECRET = 'test-secret';
const BOT_NUMBER = '+14255550199';
const CALLER = '+14255550100';
const SERVICE_HOSTED = { '@odata.type': '#microsoft.graph.serviceHostedMediaConfig' };
const prompt = (name: string) => ({
  '@odata.type': '#microsoft.graph.mediaPrompt',
  mediaInfo: { uri: `https://cdn.example.com/${name}`, resourceId: name },
});

interface Received {
  notification: CommsNotification;
  verified: boolean;
  token: string;
  path: string;
}

/**
 * A fake bot: an http server that verifies each notification's JWT against the simulator's
 * JWKS (node:crypto here; the jose check runs in a child process below) and records it.
 */
class FakeBot {
  readonly received: Received[] = [];
  onNotification?: (n: CommsNotification) => void;
  private server?: Server;
  private jwks?: { keys: (JsonWebKey & { kid: string })[] };
  url = '';
  sim?: Simulator;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        void this.verify(token).then((verified) => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as CommsNotifications;
          for (const notification of body.value) {
            this.received.push({ notification, verified, token, path: req.url ?? '' });
            if (verified) this.onNotification?.(notification);
          }
          res.writeHead(verified ? 202 : 401).end();
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/calls`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server!.close(() => resolve()));
  }

  forCall(callId: string): CommsNotification[] {
    return this.received
      .filter((r) => r.notification.resourceUrl.includes(callId))
      .map((r) => r.notification);
  }

  private async verify(token: string): Promise<boolean> {
    const [h, p, s] = token.split('.');
    if (!h || !p || !s || !this.sim) return false;
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as {
      alg: string;
      kid: string;
      typ: string;
    };
    this.jwks ??= (await (await fetch(this.sim.jwksUrl)).json()) as {
      keys: (JsonWebKey & { kid: string })[];
    };
    const jwk = this.jwks.keys.find((k) => k.kid === header.kid);
    if (header.alg !== 'RS256' || header.typ !== 'JWT' || !jwk) return false;
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    if (!verifySignature('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')))
      return false;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, number | string>;
    const now = Date.now() / 1000;
    return (
      claims.iss === 'https://graph.microsoft.com' &&
      claims.aud === APP_ID &&
      claims.tid === TENANT &&
      (claims.nbf as number) <= now + 5 &&
      (claims.exp as number) > now &&
      (claims.exp as number) - (claims.iat as number) === 300
    );
  }
}

async function newSimulator(bot: FakeBot, extra: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({
    botCallbackUrl: bot.url,
    botAppId: APP_ID,
    tenantId: TENANT,
    clientId: APP_ID,
    clientSecret: SECRET,
    timeScale: 0.05,
    seed: 7,
    // "long" prompts outlast any scheduling hiccup, so cancelling them is not a race.
    promptDurationMs: (uri) => (uri.includes('long') ? 600_000 : 2000),
    recordingRetentionSeconds: 2,
    ...extra,
  });
  bot.sim = sim;
  return sim;
}

/** A client-credentials token from the simulator's token endpoint (over its http server, inside Jest). */
async function fetchToken(sim: Simulator): Promise<string> {
  const res = await fetch(`${sim.httpUrl}/${TENANT}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      client_id: APP_ID,
      client_secret: SECRET,
      scope: 'https://graph.microsoft.com/.default',
      grant_type: 'client_credentials',
    }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { token_type: string; access_token: string; expires_in: number };
  expect(body.token_type).toBe('Bearer');
  expect(body.expires_in).toBeGreaterThan(0);
  return body.access_token;
}

function graphClient(sim: Simulator, token: () => string) {
  return async (method: string, path: string, body?: unknown, auth = true) => {
    const res = await fetch(`${sim.graphBaseUrl}${path}`, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${token()}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Wire) : undefined };
  };
}

const stateOf = (n: CommsNotification) => (n.resourceData as { state?: string }).state;

describe('Graph calling simulator', () => {
  const bot = new FakeBot();
  let sim: Simulator;
  let token = '';
  let graph: ReturnType<typeof graphClient>;

  const answer = (callId: string) =>
    graph('POST', `/communications/calls/${callId}/answer`, {
      callbackUri: bot.url,
      acceptedModalities: ['audio'],
      mediaConfig: SERVICE_HOSTED,
    });

  /** Places a call and answers it; resolves once established. */
  async function establishedCall(actions: Record<string, unknown>[]) {
    const placed = sim.placeCall({ from: CALLER, to: BOT_NUMBER, actions });
    await sim.waitFor(() => bot.forCall(placed.callId).some((n) => n.changeType === 'created'));
    expect((await answer(placed.callId)).status).toBe(202);
    await sim.waitFor(() => bot.forCall(placed.callId).some((n) => stateOf(n) === 'established'));
    return placed;
  }

  beforeAll(async () => {
    await bot.start();
    sim = await newSimulator(bot);
    token = await fetchToken(sim);
    graph = graphClient(sim, () => token);
  });

  afterAll(async () => {
    await sim.stop();
    await bot.stop();
  });

  afterEach(() => {
    bot.onNotification = undefined;
    sim.setFaults({});
  });

  test('incoming call: created notification shaped like Graph, signed for the bot', async () => {
    const { callId } = sim.placeCall({ from: CALLER, to: BOT_NUMBER });
    await sim.waitFor(() => bot.forCall(callId).length > 0);
    const [received] = bot.received.filter(
      (r) => r.notification.resourceUrl === `/communications/calls/${callId}`,
    );
    expect(received!.verified).toBe(true);
    const n = received!.notification;
    expect(n['@odata.type']).toBe('#microsoft.graph.commsNotification');
    expect(n.changeType).toBe('created');
    const call = n.resourceData as Wire;
    expect(call).toMatchObject({
      '@odata.type': '#microsoft.graph.call',
      id: callId,
      state: 'incoming',
      direction: 'incoming',
      tenantId: TENANT,
      requestedModalities: ['audio'],
      callRoutes: [
        {
          routingType: 'lookup',
          original: { phone: { id: BOT_NUMBER } },
          final: { phone: { id: BOT_NUMBER } },
        },
      ],
      source: { identity: { phone: { id: CALLER } } },
    });
    expect(call.targets[0].identity.applicationInstance.id).toEqual(expect.any(String));
    // The simulator's own notification passes the CSDL it holds the bot's requests to.
    expect(validateEntity(loadCsdl(), 'graph.call', call)).toEqual([]);
    await graph('POST', `/communications/calls/${callId}/reject`, { reason: 'busy' });
    await sim.waitForCallState(callId, 'terminated');
  });

  test('answer → establishing, established; playPrompt completes; DELETE → terminating, terminated 200/7000', async () => {
    const { callId, done } = await establishedCall([]);
    expect(
      bot
        .forCall(callId)
        .filter((n) => n.changeType === 'updated')
        .map(stateOf),
    ).toEqual(['establishing', 'established']);

    const play = await graph('POST', `/communications/calls/${callId}/playPrompt`, {
      prompts: [prompt('greeting.wav')],
      clientContext: 'greet-1',
    });
    expect(play.status).toBe(200);
    expect(play.body).toMatchObject({
      '@odata.type': '#microsoft.graph.playPromptOperation',
      status: 'running',
      clientContext: 'greet-1',
      resultInfo: null,
    });
    expect(play.headers.get('location')).toBe(
      `${sim.graphBaseUrl}/communications/calls/${callId}/operations/${play.body!.id}`,
    );
    const completion = await sim.waitFor(() =>
      bot
        .forCall(callId)
        .find((n) => n.resourceUrl === `/communications/calls/${callId}/operations/${play.body!.id}`),
    );
    expect(completion.changeType).toBe('deleted');
    expect(completion.resourceData).toMatchObject({
      '@odata.type': '#microsoft.graph.playPromptOperation',
      id: play.body!.id,
      clientContext: 'greet-1',
      status: 'completed',
      resultInfo: { code: 200, subcode: 0 },
    });
    expect(
      (await graph('GET', `/communications/calls/${callId}/operations/${play.body!.id}`)).body,
    ).toMatchObject({ status: 'completed' });
    expect((await graph('POST', `/communications/calls/${callId}/keepAlive`)).status).toBe(200);

    expect((await graph('DELETE', `/communications/calls/${callId}`)).status).toBe(204);
    const summary = await done;
    const last = bot.forCall(callId).slice(-2);
    expect(last.map((n) => [n.changeType, stateOf(n)])).toEqual([
      ['updated', 'terminating'],
      ['deleted', 'terminated'],
    ]);
    expect(summary.resultInfo).toMatchObject({ code: 200, subcode: 7000 });
    expect(sim.timeline(callId).map((e) => `${e.actor}: ${e.text}`)).toEqual(
      expect.arrayContaining(['bot: answer', 'bot: playPrompt greeting.wav', 'bot: hang up']),
    );
    expect((await graph('POST', `/communications/calls/${callId}/keepAlive`)).status).toBe(404);
    expect((await graph('GET', `/communications/calls/${callId}`)).body!.error.code).toBe('NotFound');
  });

  test('tones arrive after subscribeToTone with increasing sequenceIds; none before', async () => {
    const { callId, done } = await establishedCall([
      { at: 0, press: '9' },
      { waitFor: 'promptEnd' },
      { after: 0.5, press: '1' },
      { after: 1, press: '2#' },
      { after: 1, hangUp: true },
    ]);
    const sub = await graph('POST', `/communications/calls/${callId}/subscribeToTone`, {
      clientContext: 'tones',
    });
    expect(sub.status).toBe(200);
    expect(sub.body).toMatchObject({ status: 'completed', clientContext: 'tones' });
    await graph('POST', `/communications/calls/${callId}/playPrompt`, { prompts: [prompt('menu.wav')] });
    const summary = await done;
    const tones = bot
      .forCall(callId)
      .map((n) => (n.resourceData as { toneInfo?: { sequenceId: number; tone: string } }).toneInfo)
      .filter((t) => t !== undefined);
    // '9' was pressed before the subscription: no notification for it.
    expect(tones).toEqual([
      { '@odata.type': '#microsoft.graph.toneInfo', sequenceId: 1, tone: 'tone1' },
      { '@odata.type': '#microsoft.graph.toneInfo', sequenceId: 2, tone: 'tone2' },
      { '@odata.type': '#microsoft.graph.toneInfo', sequenceId: 3, tone: 'pound' },
    ]);
    expect(summary.resultInfo).toMatchObject({ code: 200, subcode: 540000 });
    expect(bot.forCall(callId).at(-1)).toMatchObject({
      changeType: 'deleted',
      resourceData: { state: 'terminated' },
    });
  });

  test("recordResponse ended by '#': completion, downloadable WAV of the spoken length, 401 without token", async () => {
    const { callId } = await establishedCall([
      { waitFor: 'beep' },
      { after: 1, speak: 3 },
      { after: 1, press: '#' },
    ]);
    const rec = await graph('POST', `/communications/calls/${callId}/recordResponse`, {
      clientContext: 'rec-1',
      playBeep: true,
      initialSilenceTimeoutInSeconds: 10,
      maxSilenceTimeoutInSeconds: 5,
      maxRecordDurationInSeconds: 30,
      stopTones: ['#'],
    });
    expect(rec.status).toBe(200);
    expect(rec.body).toMatchObject({
      '@odata.type': '#microsoft.graph.recordOperation',
      status: 'running',
      recordingLocation: null,
    });
    const opUrl = `/communications/calls/${callId}/operations/${rec.body!.id}`;
    const done = await sim.waitFor(() => bot.forCall(callId).find((n) => n.resourceUrl === opUrl));
    const data = done.resourceData as Wire;
    expect(data).toMatchObject({
      '@odata.type': '#microsoft.graph.recordOperation',
      status: 'completed',
      clientContext: 'rec-1',
      completionReason: 'stopToneDetected',
      resultInfo: { code: 200, subcode: 8514 },
    });

    const wav = await fetch(data.recordingLocation, {
      headers: { authorization: `Bearer ${data.recordingAccessToken}` },
    });
    expect(wav.status).toBe(200);
    expect(wav.headers.get('content-type')).toBe('application/octet-stream');
    const bytes = Buffer.from(await wav.arrayBuffer());
    expect(bytes.toString('ascii', 0, 4)).toBe('RIFF');
    expect(bytes.toString('ascii', 8, 12)).toBe('WAVE');
    expect([
      bytes.readUInt16LE(20),
      bytes.readUInt16LE(22),
      bytes.readUInt32LE(24),
      bytes.readUInt16LE(34),
    ]).toEqual([1, 1, 16000, 16]);
    const dataBytes = bytes.readUInt32LE(40);
    expect(dataBytes / (16000 * 2)).toBe(3);
    expect(bytes.readUInt32LE(4)).toBe(36 + dataBytes);
    expect(bytes.length).toBe(44 + dataBytes);

    expect((await fetch(data.recordingLocation)).status).toBe(401);
    expect((await fetch(data.recordingLocation, { headers: { authorization: 'Bearer nope' } })).status).toBe(
      401,
    );
    // Same route on the https server (trusting the generated certificate explicitly).
    const viaHttps = await new Promise<number>((resolve, reject) => {
      const url = new URL(data.recordingLocation.replace(sim.httpUrl, sim.httpsUrl));
      httpsRequest(
        url,
        {
          ca: readFileSync(sim.caCertPath),
          headers: { authorization: `Bearer ${data.recordingAccessToken}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    expect(viaHttps).toBe(200);

    // Recordings are discarded a while after the call ends.
    await graph('DELETE', `/communications/calls/${callId}`);
    await sim.waitFor(() => sim.timeline(callId).some((e) => e.text.includes('expired')));
    const expired = await fetch(data.recordingLocation, {
      headers: { authorization: `Bearer ${data.recordingAccessToken}` },
    });
    expect(expired.status).toBe(404);
  });

  test('silence and duration limits end recordings; cancelMediaProcessing fails queued media with 400/8508', async () => {
    const { callId } = await establishedCall([{ waitFor: 'beep' }, { after: 1, speak: 1 }]);
    const record = (extra: Record<string, unknown>) =>
      graph('POST', `/communications/calls/${callId}/recordResponse`, { playBeep: false, ...extra });
    const completionOf = (id: string) =>
      sim.waitFor(
        () =>
          bot.forCall(callId).find((n) => n.resourceUrl.endsWith(`/operations/${id}`))?.resourceData as Wire,
      );

    // Speaks 1 s after the beep for 1 s, then silence: maxSilenceTimeout (3 s after speech) wins over max duration.
    const a = await record({
      initialSilenceTimeoutInSeconds: 5,
      maxSilenceTimeoutInSeconds: 3,
      maxRecordDurationInSeconds: 60,
    });
    expect(await completionOf(a.body!.id)).toMatchObject({
      completionReason: 'maxSilenceTimeout',
      resultInfo: { subcode: 8511 },
    });
    // Nobody speaks any more: initial silence.
    const b = await record({ initialSilenceTimeoutInSeconds: 1 });
    expect(await completionOf(b.body!.id)).toMatchObject({
      status: 'completed',
      completionReason: 'initialSilenceTimeout',
      resultInfo: { subcode: 8510 },
    });

    const play = await graph('POST', `/communications/calls/${callId}/playPrompt`, {
      prompts: [prompt('long.wav'), prompt('long2.wav')],
    });
    const queued = await record({ maxRecordDurationInSeconds: 10 });
    const cancel = await graph('POST', `/communications/calls/${callId}/cancelMediaProcessing`, {
      clientContext: 'stop',
    });
    expect(cancel.body).toMatchObject({
      '@odata.type': '#microsoft.graph.cancelMediaProcessingOperation',
      status: 'completed',
    });
    expect(await completionOf(play.body!.id)).toMatchObject({
      status: 'failed',
      resultInfo: { code: 400, subcode: 8508 },
    });
    expect(await completionOf(queued.body!.id)).toMatchObject({
      status: 'failed',
      completionReason: 'operationCanceled',
      resultInfo: { code: 400, subcode: 8508 },
    });
    await graph('DELETE', `/communications/calls/${callId}`);
  });

  test('schema-breaking requests get 400 with every issue and change nothing; auth and state are enforced', async () => {
    const { callId, done } = sim.placeCall({ from: CALLER, to: BOT_NUMBER });
    await sim.waitFor(() => bot.forCall(callId).length > 0);
    const notificationsBefore = bot.forCall(callId).length;

    const misspelled = await graph('POST', `/communications/calls/${callId}/answer`, {
      callbackUri: bot.url,
      acceptedModalitiez: ['audio'],
      mediaConfig: SERVICE_HOSTED,
    });
    expect(misspelled.status).toBe(400);
    expect(misspelled.body!.error.code).toBe('BadRequest');
    expect(misspelled.body!.error.message).toContain('acceptedModalitiez');

    const target = (i: number) => ({
      '@odata.type': '#microsoft.graph.invitationParticipantInfo',
      identity: {
        '@odata.type': '#microsoft.graph.identitySet',
        phone: { '@odata.type': '#microsoft.graph.identity', id: `+1425555${String(i).padStart(4, '0')}` },
      },
    });
    const tooMany = await graph('POST', `/communications/calls/${callId}/redirect`, {
      targets: Array.from({ length: 26 }, (_, i) => target(i)),
      callbackUri: bot.url,
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body!.error.message).toMatch(/targets: .*25.*26/);

    const httpCallback = await graph('POST', `/communications/calls/${callId}/answer`, {
      callbackUri: 'http://bot.example.com/api/calls',
      acceptedModalities: ['audio'],
      mediaConfig: SERVICE_HOSTED,
    });
    expect(httpCallback.status).toBe(400);
    expect(httpCallback.body!.error.message).toContain('callbackUri');

    const unauthenticated = await graph('POST', `/communications/calls/${callId}/answer`, {}, false);
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.body!.error.code).toBe('InvalidAuthenticationToken');

    const early = await graph('POST', `/communications/calls/${callId}/playPrompt`, {
      prompts: [prompt('early.wav')],
    });
    expect(early.status).toBe(409);
    expect(
      (
        await graph('POST', '/communications/calls/00000000-0000-4000-8000-000000000000/answer', {
          callbackUri: bot.url,
          acceptedModalities: ['audio'],
          mediaConfig: SERVICE_HOSTED,
        })
      ).status,
    ).toBe(404);

    // Nothing changed: still incoming, no notification, rejected requests recorded with their issues.
    expect(sim.call(callId)!.state).toBe('incoming');
    expect(bot.forCall(callId).length).toBe(notificationsBefore);
    const rejected = sim.requests.filter((r) => r.callId === callId && r.status === 400);
    expect(rejected).toHaveLength(3);
    expect(rejected.every((r) => r.issues.length > 0)).toBe(true);

    expect((await answer(callId)).status).toBe(202);
    await sim.waitForCallState(callId, 'established');
    expect((await answer(callId)).status).toBe(409);
    await graph('DELETE', `/communications/calls/${callId}`);
    await done;
  });

  test('missing the 15 s deadline ends the call with 408/1106', async () => {
    const { callId, done } = sim.placeCall({
      from: { teamsUser: 'a1b2c3', displayName: 'Adele' },
      to: BOT_NUMBER,
    });
    const summary = await done;
    expect(summary.answered).toBe(false);
    expect(summary.resultInfo).toMatchObject({ code: 408, subcode: 1106 });
    const last = bot.forCall(callId).at(-1)!;
    expect(last.changeType).toBe('deleted');
    expect(last.resourceData).toMatchObject({
      state: 'terminated',
      resultInfo: { code: 408, subcode: 1106 },
    });
    expect((bot.forCall(callId)[0]!.resourceData as Wire).source.identity.user.id).toBe('a1b2c3');
  });

  test('redirect to two targets: the one that answers first wins', async () => {
    sim.setTargetBehavior('+14255550101', { answerAfter: 8 });
    sim.setTargetBehavior('+14255550102', { answerAfter: 3 });
    const { callId, done } = sim.placeCall({ from: CALLER, to: BOT_NUMBER });
    await sim.waitFor(() => bot.forCall(callId).length > 0);
    const redirect = await graph('POST', `/communications/calls/${callId}/redirect`, {
      targets: ['+14255550101', '+14255550102'].map((id) => ({
        '@odata.type': '#microsoft.graph.invitationParticipantInfo',
        identity: {
          '@odata.type': '#microsoft.graph.identitySet',
          phone: { '@odata.type': '#microsoft.graph.identity', id },
        },
      })),
      timeout: 30,
      callbackUri: bot.url,
    });
    expect(redirect.status).toBe(202);
    const summary = await done;
    expect(summary.answeredBy).toBe('+14255550102');
    expect(summary.resultInfo).toMatchObject({ code: 200, subcode: 0 });
    expect(sim.timeline(callId).map((e) => `${e.actor}: ${e.text}`)).toContain(
      'target: +14255550102 answered the redirected call',
    );
    expect(bot.forCall(callId).at(-1)).toMatchObject({
      changeType: 'deleted',
      resourceData: { state: 'terminated' },
    });
  });

  test('transfer to a busy target keeps the call (500/7000); to an answering one ends it (0/7015)', async () => {
    sim.setTargetBehavior('+14255550777', { busy: true });
    const { callId, done } = await establishedCall([]);
    const transferTo = (id: string) =>
      graph('POST', `/communications/calls/${callId}/transfer`, {
        transferTarget: {
          '@odata.type': '#microsoft.graph.invitationParticipantInfo',
          identity: {
            '@odata.type': '#microsoft.graph.identitySet',
            phone: { '@odata.type': '#microsoft.graph.identity', id },
          },
        },
      });
    expect((await transferTo('+14255550777')).status).toBe(202);
    await sim.waitFor(() =>
      bot.forCall(callId).find((n) => (n.resourceData as Wire).resultInfo?.code === 500),
    );
    expect(sim.call(callId)!.state).toBe('established');
    expect((await transferTo('+14255550888')).status).toBe(202);
    const summary = await done;
    expect(summary.resultInfo).toMatchObject({ code: 0, subcode: 7015 });
    expect(
      bot
        .forCall(callId)
        .filter((n) => n.changeType === 'updated')
        .map(stateOf)
        .slice(2),
    ).toEqual(['transferring', 'established', 'transferring', 'transferAccepted']);
  });

  test('outbound call: 201 establishing, then established at the callbackUri of the request', async () => {
    sim.setTargetBehavior('+14255550333', { answerAfter: 1, actions: [{ at: 1, hangUp: true }] });
    const created = await graph('POST', '/communications/calls', {
      '@odata.type': '#microsoft.graph.call',
      callbackUri: `${bot.url}?leg=out`,
      source: {
        '@odata.type': '#microsoft.graph.participantInfo',
        identity: {
          '@odata.type': '#microsoft.graph.identitySet',
          applicationInstance: { '@odata.type': '#microsoft.graph.identity', id: 'app-instance' },
        },
      },
      targets: [
        {
          '@odata.type': '#microsoft.graph.invitationParticipantInfo',
          identity: {
            '@odata.type': '#microsoft.graph.identitySet',
            phone: { '@odata.type': '#microsoft.graph.identity', id: '+14255550333' },
          },
        },
      ],
      requestedModalities: ['audio'],
      mediaConfig: SERVICE_HOSTED,
      tenantId: TENANT,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ state: 'establishing', direction: 'outgoing' });
    const callId = created.body!.id as string;
    await sim.waitFor(() => bot.forCall(callId).some((n) => stateOf(n) === 'terminated'));
    const leg = bot.received.filter((r) => r.notification.resourceUrl.includes(callId));
    expect(leg.every((r) => r.path === '/api/calls?leg=out')).toBe(true);
    expect(leg.map((r) => stateOf(r.notification))).toEqual(['establishing', 'established', 'terminated']);
  });

  test('outbound calls to busy or silent targets end 486 / 480; an unattended call lapses 408/8537 without keepAlive', async () => {
    // 45 simulated minutes in about half a second.
    const fastBot = new FakeBot();
    await fastBot.start();
    const fast = await newSimulator(fastBot, { timeScale: 0.0002 });
    const fastGraph = graphClient(fast, () => fast.issueAccessToken());
    fast.setTargetBehavior('+14255550486', { busy: true });
    fast.setTargetBehavior('+14255550480', { never: true });
    fast.setTargetBehavior('+14255550408', { answerAfter: 0 });
    const dial = async (number: string, other: Record<string, unknown> = {}) => {
      const res = await fastGraph('POST', '/communications/calls', {
        '@odata.type': '#microsoft.graph.call',
        callbackUri: fastBot.url,
        // A PSTN call comes from an application instance, in its tenant (the create-call page).
        source: {
          '@odata.type': '#microsoft.graph.participantInfo',
          identity: {
            applicationInstance: { '@odata.type': '#microsoft.graph.identity', id: 'app-instance-1' },
          },
        },
        targets: [
          {
            '@odata.type': '#microsoft.graph.invitationParticipantInfo',
            identity: {
              '@odata.type': '#microsoft.graph.identitySet',
              phone: { '@odata.type': '#microsoft.graph.identity', id: number },
            },
          },
        ],
        requestedModalities: ['audio'],
        mediaConfig: SERVICE_HOSTED,
        tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
        ...other,
      });
      expect(res.status).toBe(201);
      const id = res.body!.id as string;
      const end = await fast.waitFor(() => fastBot.forCall(id).find((n) => stateOf(n) === 'terminated'));
      return (end.resourceData as { resultInfo: { code: number; subcode: number } }).resultInfo;
    };
    try {
      expect(await dial('+14255550486')).toMatchObject({ code: 486 });
      expect(await dial('+14255550480')).toMatchObject({ code: 480 });
      expect(await dial('+14255550408')).toMatchObject({ code: 408, subcode: 8537 });
      // A Teams user who declines: 603.
      const user = (id: string) => [
        {
          '@odata.type': '#microsoft.graph.invitationParticipantInfo',
          identity: { user: { '@odata.type': '#microsoft.graph.identity', id } },
        },
      ];
      fast.setTargetBehavior('decliner', { decline: 2 });
      expect(await dial('', { targets: user('decliner') })).toMatchObject({ code: 603 });
      // A meeting is joined (no one rings): established, then it lapses like any unattended call.
      expect(
        await dial('', {
          targets: undefined,
          source: undefined,
          chatInfo: {
            '@odata.type': '#microsoft.graph.chatInfo',
            threadId: '19:meeting_x@thread.v2',
            messageId: '0',
          },
          meetingInfo: {
            '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo',
            joinMeetingId: '123456789',
          },
        }),
      ).toMatchObject({ code: 408, subcode: 8537 });
    } finally {
      await fast.stop();
      await fastBot.stop();
    }
  });

  test('duplicated-notification mode sends every notification twice', async () => {
    sim.setFaults({ duplicateNotifications: true });
    const { callId, done } = await establishedCall([{ at: 0.5, hangUp: true }]);
    await done;
    const sent = sim.notifications.filter((n) => n.callId === callId);
    expect(sent.map((n) => stateOf(n.body.value[0]!))).toEqual([
      'incoming',
      'incoming',
      'establishing',
      'establishing',
      'established',
      'established',
      'terminated',
      'terminated',
    ]);
    expect(sent.filter((n) => n.duplicate)).toHaveLength(4);
  });

  test('throttling fault: 429 with Retry-After for the next request only', async () => {
    sim.setFaults({ throttle: { next: 1, retryAfterSeconds: 2 } });
    const first = await graph('GET', '/communications/calls/00000000-0000-4000-8000-000000000000');
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('2');
    expect(first.body!.error.code).toBe('TooManyRequests');
    expect((await graph('GET', '/communications/calls/00000000-0000-4000-8000-000000000000')).status).toBe(
      404,
    );
  });

  test('a seeded run with random faults replays the same events', async () => {
    async function run() {
      const replayBot = new FakeBot();
      await replayBot.start();
      const replaySim = await newSimulator(replayBot, {
        seed: 1234,
        timeScale: 0.05,
        faults: {
          reorderNotifications: 0.4,
          duplicateNotifications: 0.3,
          notificationDelayMs: { min: 0, max: 3 },
        },
      });
      const replayToken = replaySim.issueAccessToken();
      const g = graphClient(replaySim, () => replayToken);
      const answered = new Set<string>();
      const started = new Set<string>();
      // A bot that reacts to what it is told, once per call (duplicates are ignored).
      replayBot.onNotification = (n) => {
        const callId = n.resourceUrl.split('/')[3]!;
        if (n.changeType === 'created' && !answered.has(callId)) {
          answered.add(callId);
          void g('POST', `/communications/calls/${callId}/answer`, {
            callbackUri: replayBot.url,
            acceptedModalities: ['audio'],
            mediaConfig: SERVICE_HOSTED,
          });
        }
        if (stateOf(n) === 'established' && !n.resourceUrl.includes('/operations/') && !started.has(callId)) {
          started.add(callId);
          void g('POST', `/communications/calls/${callId}/subscribeToTone`, {}).then(() =>
            g('POST', `/communications/calls/${callId}/playPrompt`, { prompts: [prompt('menu.wav')] }),
          );
        }
      };
      const { callId, done } = replaySim.placeCall({
        from: CALLER,
        to: BOT_NUMBER,
        // Gaps of 2.5 s keep each event clear of the 1 s reorder hold window.
        actions: [
          { waitFor: 'promptEnd' },
          { after: 2.5, press: '1' },
          { after: 2.5, press: '2' },
          { after: 2.5, hangUp: true },
        ],
      });
      await done;
      await replaySim.stop(); // also delivers any notification still held back
      const events = {
        callId,
        notifications: replaySim.notifications.map((n) => {
          const v = n.body.value[0]!;
          const d = v.resourceData as Wire;
          return `${v.changeType} ${v.resourceUrl} ${d.state ?? d.status} ${d.toneInfo?.tone ?? ''}${n.duplicate ? ' dup' : ''}${n.reordered ? ' reordered' : ''}`;
        }),
        timeline: replaySim.timeline(callId).map((e) => `${e.actor}: ${e.text}`),
      };
      await replayBot.stop();
      return events;
    }
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(first.notifications.some((n) => n.includes('dup') || n.includes('reordered'))).toBe(true);
  });

  test('scripts are validated with clear errors', () => {
    expect(() => sim.placeCall({ from: '4255550100', to: BOT_NUMBER })).toThrow(/from: .*E\.164/);
    expect(() =>
      sim.placeCall({ from: CALLER, to: BOT_NUMBER, actions: [{ at: 1, press: '1', speak: 2 }] as never }),
    ).toThrow(/actions\.0: give exactly one of "press", "speak", "hangUp" or "waitFor"/);
    expect(() => sim.setTargetBehavior('+1', { never: true, busy: true } as never)).toThrow(
      /exactly one of "answerAfter", "never", "busy" or "decline"/,
    );
  });

  test('the CLI turns flags into simulator options', () => {
    const { options, calls } = parseCliArgs([
      '--bot-callback-url',
      'http://localhost:7071/api/calls',
      '--time-scale',
      '0.1',
      '--seed',
      '42',
      '--throttle-next',
      '3',
      '--retry-after',
      '2',
      '--duplicate-notifications',
      '1',
      '--notification-delay-ms',
      '5-20',
    ]);
    expect(options).toEqual({
      botCallbackUrl: 'http://localhost:7071/api/calls',
      timeScale: 0.1,
      seed: 42,
      faults: {
        throttle: { next: 3, retryAfterSeconds: 2 },
        duplicateNotifications: 1,
        notificationDelayMs: { min: 5, max: 20 },
      },
      targets: {},
    });
    expect(calls).toEqual([]);
    expect(() => parseCliArgs(['--time-scale', '1'])).toThrow('--bot-callback-url is required');
    expect(() => parseCliArgs(['--bot-callback-url', 'http://x', '--seed', 'abc'])).toThrow(
      '--seed expects a number',
    );
  });

  describe('identity, in child processes (they can trust the certificate via NODE_EXTRA_CA_CERTS)', () => {
    const run = (script: string, env: Record<string, string>) =>
      promisify(execFile)(process.execPath, ['-e', script], {
        cwd: process.cwd(),
        env: { ...process.env, NODE_EXTRA_CA_CERTS: sim.caCertPath, ...env },
        timeout: 15_000,
      });

    test('a real ClientSecretCredential gets a token the simulated Graph accepts; a wrong secret gets AADSTS7000215', async () => {
      const script = `
        const { ClientSecretCredential } = require('@azure/identity');
        const cred = (secret) => new ClientSecretCredential(process.env.T, process.env.C, secret, {
          authorityHost: process.env.AUTHORITY, disableInstanceDiscovery: true });
        (async () => {
          const ok = await cred(process.env.S).getToken('https://graph.microsoft.com/.default');
          let bad = '';
          try { await cred('wrong').getToken('https://graph.microsoft.com/.default'); } catch (e) { bad = e.message; }
          console.log(JSON.stringify({ token: ok.token, bad }));
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const { stdout } = await run(script, { T: TENANT, C: APP_ID, S: SECRET, AUTHORITY: sim.authorityHost });
      const { token: msalToken, bad } = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        token: string;
        bad: string;
      };
      expect(bad).toContain('AADSTS7000215');
      const res = await graphClient(sim, () => msalToken)(
        'GET',
        '/communications/calls/00000000-0000-4000-8000-000000000000',
      );
      expect(res.status).toBe(404); // authenticated: the call just does not exist
    });

    test('callback tokens verify with jose against the https OpenID configuration', async () => {
      const tokens = [...new Set(bot.received.map((r) => r.token))].slice(0, 3);
      expect(tokens.length).toBeGreaterThan(0);
      const script = `
        (async () => {
          const jose = await import('jose');
          const config = await (await fetch(process.env.OPENID)).json();
          const jwks = jose.createRemoteJWKSet(new URL(config.jwks_uri));
          for (const t of JSON.parse(process.env.TOKENS)) {
            const { payload, protectedHeader } = await jose.jwtVerify(t, jwks, {
              issuer: ['https://graph.microsoft.com', 'https://api.botframework.com'], audience: process.env.AUD });
            if (payload.tid !== process.env.T || protectedHeader.typ !== 'JWT') throw new Error('bad claims');
          }
          console.log('verified ' + JSON.parse(process.env.TOKENS).length + ' via ' + config.jwks_uri);
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const { stdout } = await run(script, {
        OPENID: sim.openIdConfigUrl,
        TOKENS: JSON.stringify(tokens),
        AUD: APP_ID,
        T: TENANT,
      });
      expect(stdout).toContain(`verified ${tokens.length} via ${sim.httpsUrl}/v1/keys`);
    });
  });
});
