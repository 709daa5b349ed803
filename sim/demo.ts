import { join } from 'node:path';
import { projectRoot } from '../host/projectRoot';
import { startStack, type Stack } from './stack';
import { callReport } from './report';
import type { CallerScriptInput } from './people';

/**
 * npm run demo: the product end to end with no tenant, no phone line and no network.
 * Azurite, the bot's local host and the Graph simulator start on free ports; sample calls
 * run against the demo flows (sim/demo/flows); each call's timeline is printed; all stops.
 */

const ROOT = projectRoot(__dirname);
const FRONT_DESK = '+14255550100';
const AFTER_HOURS = '+14255550101';
const VOICEMAIL_LINE = '+14255550102';
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
    title: 'Voicemail e-mailed to the front desk with a transcript',
    mailed: true,
    script: {
      from: '+12065550127',
      to: VOICEMAIL_LINE,
      actions: [{ waitFor: 'beep' }, { after: 0.5, speak: 8 }, { after: 0.5, press: '#' }],
    },
  },
];

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
  try {
    stack = await startStack({
      scaleBotTimers: true,
      flowsDir: join(ROOT, 'sim', 'demo', 'flows'),
      sim: {
        timeScale: Number(process.env.DEMO_TIME_SCALE ?? 0.05),
        seed: 1,
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
      if (s.mailed) stack.sim.scriptTranscripts({ text: SPOKEN_MESSAGE });
      const mailsBefore = stack.sim.mails.length;
      const { done } = stack.sim.placeCall(s.script);
      const summary = await done;
      const record = await stack.callRecord(summary.callId);
      console.log(callReport(stack.sim, summary, record, 'recordings'));
      console.log(`${s.mailed ? `${await mailReport(stack, summary.callId, mailsBefore)}\n` : ''}`);
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
