import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startBotHarness, incomingCall, callUpdate, operationDone } from '../test/support/botHarness';
import { startStack } from '../sim/stack';
import { projectRoot } from '../host/projectRoot';

/**
 * npm run bench: figures for the hot path (the notification request), on the real pieces
 * (local host, Azurite, JWT validation, CSDL-checking Graph stand-in). Prints, never asserts.
 *   BENCH_CALLS=200 npm run bench
 */

const CALLS = Number(process.env.BENCH_CALLS ?? 200);
const STACK_CALLS = Number(process.env.BENCH_STACK_CALLS ?? 60);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const fmt = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${ms.toFixed(1)} ms`);

function importCost(): { functionsMs: number; heapMb: number } {
  // A fresh process, as a cold start: what importing every function file costs.
  const root = projectRoot(__dirname);
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const t=process.hrtime.bigint();for(const f of require('fs').readdirSync('dist/functions').filter(f=>f.endsWith('.js')))require('./dist/functions/'+f);` +
        `const ms=Number(process.hrtime.bigint()-t)/1e6;console.log(JSON.stringify({ms,heap:process.memoryUsage().heapUsed/1048576}))`,
    ],
    { cwd: root, encoding: 'utf8' },
  );
  const r = JSON.parse(out.trim()) as { ms: number; heap: number };
  return { functionsMs: r.ms, heapMb: r.heap };
}

async function main(): Promise<void> {
  const cold = importCost();
  // A line that always answers, so every call walks the same path whatever the clock says.
  const bot = await startBotHarness({
    flows: {
      'bench.json': {
        number: '+14255550190',
        prompts: { hello: 'https://media.example.com/hello.wav', menu: 'https://media.example.com/menu.wav' },
        default: { type: 'answer', start: 'hello' },
        nodes: {
          hello: { type: 'play', prompts: ['hello'], next: 'menu' },
          menu: { type: 'menu', prompt: 'menu', options: { '1': 'bye' }, fallback: 'bye' },
          bye: { type: 'hangup' },
        },
      },
    },
  });
  const times = { incoming: [] as number[], established: [] as number[], completion: [] as number[] };
  const rssBefore = process.memoryUsage().rss;
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < CALLS) {
      const i = next++;
      const callId = `bench-${i.toString().padStart(6, '0')}-0000-0000-000000000000`;
      let t = performance.now();
      const res = await bot.notify(incomingCall(callId, { to: '+14255550190', from: '+12065550123' }));
      times.incoming.push(performance.now() - t);
      if (res.status !== 202) throw new Error(`incoming answered ${res.status}`);
      t = performance.now();
      await bot.notify(callUpdate(callId, { state: 'established' }));
      times.established.push(performance.now() - t);
      const play = bot.graph.requests.filter((r) => r.callId === callId && r.action === 'playPrompt').pop();
      if (play) {
        t = performance.now();
        await bot.notify(
          operationDone(callId, `op-${i}`, {
            status: 'completed',
            clientContext: (play.body as { clientContext: string }).clientContext,
          }),
        );
        times.completion.push(performance.now() - t);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (Date.now() - started) / 1000;
  const rssAfter = process.memoryUsage().rss;
  await bot.stop();

  const row = (name: string, v: number[]) =>
    console.log(
      `${name.padEnd(40)} n=${String(v.length).padStart(4)}  p50 ${fmt(pct(v, 50)).padStart(9)}  p95 ${fmt(pct(v, 95)).padStart(9)}  p99 ${fmt(pct(v, 99)).padStart(9)}  max ${fmt(Math.max(...v)).padStart(9)}`,
    );
  console.log(
    `graph-ivr bench: ${CALLS} calls, ${CONCURRENCY} at a time, local host + Azurite + JWT validation + CSDL-checked Graph stand-in`,
  );
  row('incoming -> answer sent (202)', times.incoming);
  row('established -> first prompt sent', times.established);
  row('prompt completed -> next step sent', times.completion);
  console.log(
    `throughput: ${((times.incoming.length + times.established.length + times.completion.length) / elapsed).toFixed(0)} notifications/s`,
  );
  console.log(
    `cold import of all function files: ${fmt(cold.functionsMs)}, heap ${cold.heapMb.toFixed(1)} MiB`,
  );
  console.log(`RSS growth over the run: ${((rssAfter - rssBefore) / 1048576).toFixed(1)} MiB`);
  console.log('deadline for comparison: Graph needs answer/reject/redirect within 15000 ms');
  await fullStack(row);
}

/**
 * The product as deployed locally: bot process (compiled local host, real token and JWT
 * paths) behind the simulator, real time (time scale 1). Latencies are read off the
 * simulator's timeline: from the incoming notification to the bot's answer arriving.
 */
async function fullStack(row: (name: string, v: number[]) => void): Promise<void> {
  const stack = await startStack({
    flowsDir: join(projectRoot(__dirname), 'sim', 'demo', 'flows'),
    sim: { timeScale: 1, seed: 1 },
  });
  try {
    await stack.sim.placeCall({ from: '+14255550666', to: '+14255550100' }).done; // warm the instance
    const answer: number[] = [];
    const firstPrompt: number[] = [];
    let next = 0;
    const started = Date.now();
    const worker = async () => {
      while (next < STACK_CALLS) {
        next++;
        const { done } = stack.sim.placeCall({
          from: '+12065550123',
          to: '+14255550100',
          actions: [{ waitFor: 'prompt' }, { after: 0.1, hangUp: true }],
        });
        const summary = await done;
        const bot = summary.timeline.filter((e) => e.actor === 'bot');
        const established = summary.timeline.find((e) => e.actor === 'platform' && e.text === 'established');
        const prompt = bot.find((e) => e.text.startsWith('playPrompt'));
        if (bot[0]) answer.push(bot[0].t * 1000);
        if (established && prompt) firstPrompt.push((prompt.t - established.t) * 1000);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const refused = stack.sim.requests.filter((r) => r.issues.length > 0).length;
    console.log(
      `\nfull stack: ${STACK_CALLS} calls, ${CONCURRENCY} at a time, bot process + simulator (TLS token, signed notifications), real time`,
    );
    row('incoming notification -> answer at Graph', answer);
    row('established -> first prompt at Graph', firstPrompt);
    console.log(
      `${((Date.now() - started) / 1000).toFixed(1)} s; ${refused} Graph requests refused by the CSDL check`,
    );
  } finally {
    await stack.stop();
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
