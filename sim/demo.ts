import { join } from 'node:path';
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
const AFTER_HOURS = '+14255550101';

interface Scenario {
  title: string;
  script: CallerScriptInput;
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
    title: 'Order status: enters an order number, hears it is delayed (HTTP lookup), leaves a message',
    script: {
      from: '+12065550127',
      to: FRONT_DESK,
      actions: [
        ...listenThroughMenu,
        { after: 1, press: '4' },
        { waitFor: 'promptEnd' },
        { after: 1, press: '4711#' },
        { waitFor: 'beep' },
        { after: 0.5, speak: 4 },
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

async function main(): Promise<void> {
  const started = Date.now();
  console.log('graph-ivr demo: starting Azurite, the bot (local host) and the Graph simulator...');
  let stack: Stack | null = null;
  try {
    stack = await startStack({
      scaleBotTimers: true,
      // The secret the order desk's http node sends (an app setting, never in the flow file).
      botEnv: { IVR_SECRET_ORDERS_API_KEY: ORDERS_API_KEY },
      flowsDir: join(ROOT, 'sim', 'demo', 'flows'),
      sim: {
        timeScale: Number(process.env.DEMO_TIME_SCALE ?? 0.05),
        seed: 1,
        endpoints: orderEndpoints,
        // The front desk picks up after 4 s; of the two on-call phones the second is quicker.
        targets: {
          '+14255550150': { answerAfter: 4 },
          '+14255550177': { answerAfter: 9 },
          '+14255550178': { answerAfter: 5 },
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
      const { done } = stack.sim.placeCall(s.script);
      const summary = await done;
      const record = await stack.callRecord(summary.callId);
      console.log(`${callReport(stack.sim, summary, record, 'recordings')}\n`);
    }
    const bad = stack.sim.requests.filter((r) => r.issues.length > 0);
    console.log(
      `${stack.sim.requests.length} Graph requests, ${bad.length} refused by the CSDL/limits check; ${stack.sim.notifications.length} notifications signed and delivered.`,
    );
    console.log(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (bad.length > 0) process.exitCode = 1;
  } finally {
    await stack?.stop();
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`demo failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}
