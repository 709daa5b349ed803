import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { projectRoot } from '../host/projectRoot';
import { startAzurite } from './azurite';
import { tryBind } from './ports';
import type { CallSummary } from './platform';
import { callReport } from './report';
import { startStack, type Stack } from './stack';

/**
 * npm run dev: the local authoring loop in one command. Azurite (data on disk under .azurite/),
 * the Graph simulator and the bot's local host on 7071, wired together (certificates, keys,
 * settings); `tsc --watch` recompiles and the bot restarts after each clean compile; the flows
 * folder is watched (IVR_FLOWS_WATCH). Each finished call's timeline is printed.
 */

export interface DevOptions {
  root?: string;
  flowsDir?: string;
  /** Azurite's data folder (default <root>/.azurite, git-ignored). */
  dataDir?: string;
  timeScale?: number;
  /** The bot's port (default 7071, or a free one when taken). */
  port?: number;
  /** The bot's date and time at start (IVR_TEST_NOW), to try schedules. */
  at?: string;
  /** Run `tsc --watch` and restart the bot after each clean compile (default true). */
  compile?: boolean;
  out?: (line: string) => void;
}

export interface Dev {
  stack: Stack;
  /** The simulator's control API (POST /_sim/calls...). */
  simUrl: string;
  botUrl: string;
  stop(): Promise<void>;
}

export async function startDev(options: DevOptions = {}): Promise<Dev> {
  const root = options.root ?? projectRoot(__dirname);
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dataDir = options.dataDir ?? join(root, '.azurite');
  mkdirSync(dataDir, { recursive: true });
  const wanted = options.port ?? 7071;
  const timeScale = options.timeScale ?? 0.25;
  const stack = await startStack({
    flowsDir: options.flowsDir ?? join(root, 'flows'),
    azurite: () => startAzurite({ location: dataDir }),
    ...((await tryBind(wanted)) ? { botPort: wanted } : {}),
    // Graph's 15 s answer deadline in real time: a bot restarting on save must not miss it.
    sim: { timeScale, seed: 1, answerDeadlineSeconds: 15 / timeScale },
    scaleBotTimers: true,
    botEnv: { IVR_FLOWS_WATCH: 'true', ...(options.at ? { IVR_TEST_NOW: options.at } : {}) },
    log: (line) => out(line),
  });
  const simUrl = stack.sim.httpUrl;
  const botUrl = stack.bots[0]!.url;

  // Every call that ends gets its timeline printed, whoever placed it.
  const reported = new Set<string>();
  let stopped = false;
  const reporter = setInterval(() => {
    for (const call of stack.sim.calls) {
      if (call.state !== 'terminated' || reported.has(call.id)) continue;
      reported.add(call.id);
      const timeline = stack.sim.timeline(call.id);
      const summary: CallSummary = {
        callId: call.id,
        direction: call.direction,
        answered: timeline.some((e) => e.text === 'established'),
        resultInfo: call.resultInfo ?? { code: 0, subcode: 0, message: 'ended' },
        durationSeconds: timeline.at(-1)?.t ?? 0,
        ...(call.answeredBy ? { answeredBy: call.answeredBy } : {}),
        recordings: [],
        timeline,
      };
      void stack.callRecord(call.id).then(
        (record) =>
          !stopped && out(`=== call ${call.id}\n${callReport(stack.sim, summary, record, 'recordings')}`),
        () => undefined,
      );
    }
  }, 500);

  let tsc: ChildProcess | null = null;
  if (options.compile !== false) {
    let first = true;
    tsc = spawn(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.json',
        '--watch',
        '--preserveWatchOutput',
      ],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    createInterface({ input: tsc.stdout! }).on('line', (line) => {
      if (!line.trim()) return;
      out(`[tsc] ${line}`);
      // "Found 0 errors. Watching for file changes.": a clean compile; the first is the start.
      if (/Found 0 errors/.test(line)) {
        if (first) first = false;
        else void restartBot();
      }
    });
  }
  const restartBot = async () => {
    if (stopped) return;
    out('[dev] compiled: restarting the bot');
    await stack.stopBot(0);
    if (!stopped) await stack.startBot(0);
  };

  return {
    stack,
    simUrl,
    botUrl,
    async stop() {
      stopped = true;
      clearInterval(reporter);
      if (tsc && tsc.exitCode === null) {
        const child = tsc;
        await new Promise<void>((ok) => {
          child.once('exit', () => ok());
          child.kill('SIGTERM');
        });
      }
      await stack.stop();
    },
  };
}

/** How to place a test call and use the admin CLI against the running stack. */
export function instructions(dev: Dev, root: string): string {
  const caller = join(root, 'sim', 'demo', 'callers', 'voicemail.json');
  return [
    `bot (local host): ${dev.botUrl}/api    Graph simulator: ${dev.simUrl}`,
    `place a call (a voicemail to +14255550100, flows/contoso-main.json):`,
    `  curl -s -X POST ${dev.simUrl}/_sim/calls -H 'content-type: application/json' -d @${caller}`,
    `  or your own caller script (sim/README.md "Scripts"); the timeline prints here when the call ends`,
    `  a call's state and timeline: curl -s ${dev.simUrl}/_sim/calls/<callId>`,
    `manage flows: npm run flows -- validate|push|diagram ... --url ${dev.botUrl}`,
    `edit flows/*.json: reloaded on save; edit the TypeScript: recompiled, the bot restarts. Ctrl-C stops everything.`,
  ].join('\n');
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      'time-scale': { type: 'string' },
      port: { type: 'string' },
      at: { type: 'string' },
      flows: { type: 'string' },
    },
    strict: true,
  });
  const root = projectRoot(__dirname);
  const timeScale = values['time-scale'] === undefined ? undefined : Number(values['time-scale']);
  if (timeScale !== undefined && !(timeScale > 0 && timeScale <= 1)) {
    console.error('--time-scale must be above 0 and at most 1');
    process.exit(2);
  }
  console.log('graph-ivr dev: starting Azurite (.azurite/), the Graph simulator and the bot...');
  startDev({
    root,
    ...(timeScale !== undefined ? { timeScale } : {}),
    ...(values.port ? { port: Number(values.port) } : {}),
    ...(values.at ? { at: values.at } : {}),
    ...(values.flows ? { flowsDir: resolve(values.flows) } : {}),
  }).then(
    (dev) => {
      console.log(instructions(dev, root));
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        console.log('\nstopping...');
        void dev.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: Error) => {
      console.error(`dev failed to start: ${err.message}`);
      process.exit(1);
    },
  );
}
