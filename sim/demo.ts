import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { webhookProblem } from '../shared/webhooks/signing';
import { projectRoot } from '../host/projectRoot';
import { startStack, type Stack } from './stack';
import { callReport } from './report';
import type { CallerScriptInput } from './people';
import type { EndpointScriptInput } from './endpoints';

/**
 * npm run demo: the product end to end with no tenant, no phone line and no network.
 * Azurite, the bot's local host and the Graph simulator start on free ports; sample calls
 * run against the demo flows (sim/demo/flows); each call's timeline is printed; all stops.
 */

const ROOT = projectRoot(__dirname);
const FRONT_DESK = '+14255550100';
/** The on-call engineer of the outbound alert: misses the first ring, answers the redial. */
const ON_CALL_ENGINEER = '+12065550199';
const AFTER_HOURS = '+14255550101';
const ORDER_LINE = '+14255550102';
/** What the simulated Speech service hears in the e-mailed voicemail. */
const SPOKEN_MESSAGE = 'Hi, this is Dana Smith. I need to move my cleaning on Thursday. Please call me back.';

interface Scenario {
  title: string;
  script: CallerScriptInput;
  /** The message left is e-mailed with a transcript: wait for the mail and print it. */
  mailed?: boolean;
}

const listenThroughMenu = [{ waitFor: 'promptEnd' as const }, { waitFor: 'promptEnd' as const }];

export const scenarios: Scenario[] = [
  {
    title: 'Menu choice: opening hours, then the front desk (transfer)',
    script: {
      from: '+12065550123',
      to: FRONT_DESK,
      actions: [
        ...listenThroughMenu,
        { after: 1, press: '1' },
        { waitFor: 'promptEnd' },
        { waitFor: 'prompt' },
        { after: 1, press: '3' },
      ],
    },
  },
  {
    title: 'Voicemail ended with #',
    script: {
      from: '+12065550124',
      to: FRONT_DESK,
      actions: [
        ...listenThroughMenu,
        { after: 1, press: '2' },
        { waitFor: 'beep' },
        { after: 0.5, speak: 6 },
        { after: 0.5, press: '#' },
      ],
    },
  },
  {
    title: 'After hours: redirected, two on-call phones ring at once',
    script: { from: '+12065550125', to: AFTER_HOURS, actions: [] },
  },
  {
    title: 'Blocked caller rejected',
    script: { from: '+14255550666', to: FRONT_DESK, actions: [] },
  },
  {
    title: 'Caller hangs up in the middle of a message',
    script: {
      from: '+12065550126',
      to: FRONT_DESK,
      actions: [
        ...listenThroughMenu,
        { after: 1, press: '2' },
        { waitFor: 'beep' },
        { after: 0.5, speak: 3 },
        { after: 0.2, hangUp: true },
      ],
    },
  },
  {
    title:
      'Order line: enters an order number, hears it is delayed (HTTP lookup), leaves a message that is e-mailed with a transcript',
    mailed: true,
    script: {
      from: '+12065550127',
      to: ORDER_LINE,
      actions: [
        { waitFor: 'promptEnd' },
        { after: 1, press: '4711#' },
        { waitFor: 'beep' },
        { after: 0.5, speak: 8 },
        { after: 0.5, press: '#' },
      ],
    },
  },
];

/** The order desk the flow's http node asks (orders.contoso.example), and the key it expects. */
export const ORDERS_API_KEY = 'demo-orders-key';
export const orderEndpoints: EndpointScriptInput[] = [
  {
    host: 'orders.contoso.example',
    path: '/api/orders/4711',
    method: 'GET',
    expectHeaders: { 'x-api-key': ORDERS_API_KEY },
    answer: { body: { number: '4711', status: 'delayed', eta: '2026-03-20' }, delaySeconds: 1 },
  },
  {
    host: 'orders.contoso.example',
    path: '/api/orders/*',
    answer: { status: 404, body: { error: 'no such order' } },
  },
];

interface ReceivedHook {
  id: string;
  event: string;
  problem: string | null;
  body: string;
}

/** A webhook receiver on loopback, checking each signature as a customer would. */
async function startReceiver(
  secret: string,
): Promise<{ url: string; hooks: ReceivedHook[]; server: Server }> {
  const hooks: ReceivedHook[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      hooks.push({
        id: header('x-ivr-delivery-id') ?? '',
        event: header('x-ivr-event') ?? '',
        problem: webhookProblem(
          { body, timestamp: header('x-ivr-timestamp'), signature: header('x-ivr-signature') },
          [secret],
          Math.floor(Date.now() / 1000),
        ),
        body,
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, hooks, server };
}

interface OutboundStatus {
  state: string;
  outcome: string | null;
  digits: string[];
  attempts: Array<{ n: number; callId: string | null; outcome: string | null; code?: number }>;
  webhook: { status: string; deliveryId: string; attempts: number } | null;
}

/** An alert placed through POST /api/outbound-calls, redialled, acknowledged with 1, and its webhook. */
async function outboundAlert(stack: Stack, receiver: { url: string; hooks: ReceivedHook[] }): Promise<void> {
  console.log(
    `=== ${scenarios.length + 1}. Outbound alert: no answer, redialled, acknowledged with 1  (${FRONT_DESK} calls ${ON_CALL_ENGINEER})`,
  );
  const res = await fetch(`${stack.bots[0]!.url}/api/outbound-calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'demo-alert-1' },
    body: JSON.stringify({ from: FRONT_DESK, to: ON_CALL_ENGINEER, callbackUrl: receiver.url }),
  });
  if (res.status !== 202) throw new Error(`the alert was refused: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const until = Date.now() + 60_000;
  let status: OutboundStatus;
  for (;;) {
    status = (await (await fetch(`${stack.bots[0]!.url}/api/outbound-calls/${id}`)).json()) as OutboundStatus;
    if (status.webhook && status.webhook.status !== 'pending') break;
    if (Date.now() > until) throw new Error(`the alert did not finish: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const attempt of status.attempts) {
    console.log(
      `   attempt ${attempt.n}: ${attempt.outcome ?? '?'}${attempt.code ? ` (${attempt.code})` : ''}`,
    );
    if (attempt.callId) console.log(stack.sim.formatTimeline(attempt.callId));
  }
  console.log(`   outcome:   ${status.outcome ?? '?'}; keys: ${status.digits.join(' ') || '(none)'}`);
  const hooks = receiver.hooks.filter((h) => h.id === status.webhook?.deliveryId);
  for (const h of hooks)
    console.log(
      `   webhook:   ${h.event} ${h.id.slice(0, 24)}… ${h.problem ? `REFUSED: ${h.problem}` : 'signature verified'}; ${status.webhook?.status} after ${status.webhook?.attempts} attempt(s)`,
    );
  if (hooks.length !== 1 || hooks[0]!.problem || status.outcome !== 'answered') process.exitCode = 1;
  console.log('');
}

/** Waits for the bot to mail the call's voicemail and prints the mail as the simulator took it. */
async function mailReport(stack: Stack, callId: string, mailsBefore: number): Promise<string> {
  const end = Date.now() + 30_000;
  let delivery: { status?: string; reason?: string | null } | undefined;
  while (Date.now() < end) {
    const record = await stack.callRecord(callId);
    const recordings = (record?.recordings ?? []) as Array<{ delivery?: typeof delivery }>;
    delivery = recordings[0]?.delivery;
    if (delivery?.status === 'delivered' || delivery?.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const mail = stack.sim.mails[mailsBefore];
  if (delivery?.status !== 'delivered' || !mail)
    return `   delivery:  ${delivery?.status ?? 'not done'}${delivery?.reason ? ` (${delivery.reason})` : ''}`;
  const transcript = /Transcript:\n(.*)/.exec(mail.body)?.[1] ?? '(none)';
  return [
    `   mailed:    from ${mail.from} to ${mail.to.join(', ')}: "${mail.subject}"`,
    ...mail.attachments.map((a) => `   attached:  ${a.name} (${a.contentType}, ${a.bytes} bytes)`),
    `   transcript: ${transcript}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log('graph-ivr demo: starting Azurite, the bot (local host) and the Graph simulator...');
  let stack: Stack | null = null;
  const timeScale = Number(process.env.DEMO_TIME_SCALE ?? 0.05);
  const secret = randomBytes(24).toString('base64url');
  const receiver = await startReceiver(secret);
  try {
    stack = await startStack({
      // Signs the outbound alert's webhook; the order desk's http node sends its API key from
      // an app setting (never from the flow file).
      botEnv: { IVR_WEBHOOK_SECRET: secret, IVR_SECRET_ORDERS_API_KEY: ORDERS_API_KEY },
      scaleBotTimers: true,
      flowsDir: join(ROOT, 'sim', 'demo', 'flows'),
      sim: {
        timeScale,
        // Graph's 15 s answer deadline kept in real time: scaled it would be 750 ms, which a
        // bot on a machine busy with other work can miss. The demo shows flows, not the deadline.
        answerDeadlineSeconds: 15 / timeScale,
        seed: 1,
        endpoints: orderEndpoints,
        // The front desk picks up after 4 s; of the two on-call phones the second is quicker.
        targets: {
          '+14255550150': { answerAfter: 4 },
          '+14255550177': { answerAfter: 9 },
          '+14255550178': { answerAfter: 5 },
          [ON_CALL_ENGINEER]: [
            { never: true },
            { answerAfter: 3, actions: [{ waitFor: 'promptEnd' }, { after: 1, press: '1' }] },
          ],
        },
      },
    });
    console.log(
      `bot on ${stack.botUrl}, Graph simulator on ${stack.sim.graphBaseUrl}; times below are simulated seconds\n`,
    );
    let n = 0;
    for (const s of scenarios) {
      n++;
      const from =
        typeof s.script.from === 'string' ? s.script.from : `Teams user ${s.script.from.teamsUser}`;
      console.log(`=== ${n}. ${s.title}  (${from} calls ${s.script.to})`);
      if (s.mailed) stack.sim.scriptTranscripts({ text: SPOKEN_MESSAGE });
      const mailsBefore = stack.sim.mails.length;
      const { done } = stack.sim.placeCall(s.script);
      const summary = await done;
      const record = await stack.callRecord(summary.callId);
      console.log(callReport(stack.sim, summary, record, 'recordings'));
      console.log(`${s.mailed ? `${await mailReport(stack, summary.callId, mailsBefore)}\n` : ''}`);
    }
    await outboundAlert(stack, receiver);
    const bad = stack.sim.requests.filter((r) => r.issues.length > 0);
    console.log(
      `${stack.sim.requests.length} Graph requests, ${bad.length} refused by the CSDL/limits check; ${stack.sim.notifications.length} notifications signed and delivered.`,
    );
    console.log(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (bad.length > 0) process.exitCode = 1;
  } finally {
    await stack?.stop();
    receiver.server.closeAllConnections();
    receiver.server.close();
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`demo failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}
