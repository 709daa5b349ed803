import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../host/projectRoot';
import {
  startCountingProxy,
  STORAGE_SERVICES,
  type CountingProxy,
  type StorageService,
  type Tally,
} from '../sim/countingProxy';
import { ACCOUNT, KEY, startBenchAzurite, type BenchAzurite } from './azurite';
import { cpuMs, installCleanup, killAll, rssBytes } from './children';
import { startGraphStandIn, type GraphStandIn } from './graphStandIn';
import { established, incomingCall, operationDone, terminated, tone, wav8k } from './notifications';
import { INSTANCE_MEMORY_GB, PRICES, PRICES_LOOKED_UP } from './prices';
import { median, percentile, round, sum } from './stats';
import { postNotification, startBot, startFloor, type Bot, type Target, type TargetName } from './targets';

/**
 * npm run bench: the notification hot path on real pieces (the compiled bot process, Azurite,
 * a TLS Graph stand-in with the platform's keys, RS256-signed notifications), next to a
 * floor process doing only the unavoidable work. Prints figures, asserts nothing except that
 * every incoming call got exactly one answer (exit 1 otherwise). See docs/benchmarks.md.
 *
 *   node dist/bench/run.js [--json out.json] [--rounds 25] [--levels 1,16,64,256] ...
 * Every option is also an environment variable: --memory-calls 3000 = BENCH_MEMORY_CALLS=3000.
 */

// ---- options ------------------------------------------------------------------------------------

function option(name: string, fallback: string): string {
  const flag = `--${name}`;
  const i = process.argv.indexOf(flag);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  const inline = process.argv.find((a) => a.startsWith(`${flag}=`));
  if (inline) return inline.slice(flag.length + 1);
  return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback;
}
const num = (name: string, fallback: number, min: number, max: number): number => {
  const v = Number(option(name, String(fallback)));
  if (!Number.isFinite(v) || v < min || v > max)
    throw new Error(`--${name} must be a number in ${min}-${max}`);
  return v;
};

const OPTIONS = {
  json: option('json', ''),
  levels: option('levels', '1,16,64,256')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n >= 1 && n <= 1024),
  // One round's ratio ranges widely (about 0.9-1.9 at 256 on 2 cores): the median needs many rounds.
  rounds: num('rounds', 25, 1, 50),
  warmupCalls: num('warmup-calls', 3000, 1, 100_000),
  minSamples: num('min-samples', 32, 1, 1024),
  pauseMs: num('pause-ms', 300, 0, 10_000),
  memoryCalls: num('memory-calls', 3000, 0, 100_000),
  memoryConcurrency: num('memory-concurrency', 8, 1, 256),
  countCalls: num('count-calls', 3, 1, 50),
  quietMs: num('quiet-ms', 1500, 100, 10_000),
  importRuns: num('import-runs', 5, 1, 50),
  coldStarts: num('cold-starts', 3, 1, 20),
  floorSockets: num('floor-sockets', 64, 1, 1024),
  maxSeconds: num('max-seconds', 600, 30, 3600),
  verbose: option('verbose', '') !== '',
  // A third target: the floor's work behind the Functions programming model (bench/floorFunction.ts).
  functionsFloor: option('functions-floor', '') !== '',
};

const ROOT = projectRoot(__dirname);
const LATENCY_NUMBER = '+14255550190';
const VOICEMAIL_NUMBER = '+14255550191';
const VOICEMAIL_SECONDS = 30;
const LEVEL_TARGETS = new Set([1, 64, 256]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(stepMs);
  }
  return true;
}

const log = (line: string) => console.log(line);
const progress = (line: string) => process.stderr.write(`· ${line}\n`);

// ---- flows ------------------------------------------------------------------------------------

function writeFlows(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ivr-bench-flows-'));
  const prompts = {
    hello: 'https://media.example.com/hello.wav',
    menu: 'https://media.example.com/menu.wav',
    leave: 'https://media.example.com/leave-a-message.wav',
  };
  // Always answers, whatever the clock: every call walks the same path.
  writeFileSync(
    join(dir, 'bench.json'),
    JSON.stringify({
      number: LATENCY_NUMBER,
      prompts,
      default: { type: 'answer', start: 'hello' },
      nodes: {
        hello: { type: 'play', prompts: ['hello'], next: 'menu' },
        menu: {
          type: 'menu',
          prompt: 'menu',
          options: { '1': 'bye' },
          fallback: 'bye',
          noInputTimeoutSeconds: 60,
        },
        bye: { type: 'hangup' },
      },
    }),
  );
  // The typical flow of the cost estimate: greeting, a menu choice, a voicemail, hang-up.
  writeFileSync(
    join(dir, 'voicemail.json'),
    JSON.stringify({
      number: VOICEMAIL_NUMBER,
      prompts,
      default: { type: 'answer', start: 'hello' },
      nodes: {
        hello: { type: 'play', prompts: ['hello'], next: 'menu' },
        menu: {
          type: 'menu',
          prompt: 'menu',
          options: { '1': 'voicemail' },
          fallback: 'bye',
          noInputTimeoutSeconds: 60,
        },
        voicemail: {
          type: 'record',
          prompt: 'leave',
          maxRecordDurationSeconds: 60,
          stopTones: ['#'],
          next: { stopTone: 'bye', maxDuration: 'bye', silence: 'bye', failure: 'bye' },
        },
        bye: { type: 'hangup' },
      },
      recordings: { persist: true, retentionDays: 30 },
    }),
  );
  return dir;
}

// ---- 6. import cost ------------------------------------------------------------------------------

interface ImportSample {
  ms: number;
  heapMb: number;
}

function importOnce(what: 'functions' | 'sdk' | 'empty'): ImportSample {
  const list =
    `const fs=require('fs'),path=require('path');` +
    `const m=/^(.*)\\/\\*\\.js$/.exec(JSON.parse(fs.readFileSync('package.json','utf8')).main);` +
    `const dir=path.resolve(m[1]);const files=fs.readdirSync(dir).filter(f=>f.endsWith('.js')).sort().map(f=>path.join(dir,f));`;
  const load =
    what === 'functions'
      ? `for(const f of files)require(f);`
      : what === 'sdk'
        ? `require('@azure/functions');`
        : '';
  const script =
    `${list}const t=process.hrtime.bigint();${load}const ms=Number(process.hrtime.bigint()-t)/1e6;` +
    `global.gc();global.gc();process.stdout.write(JSON.stringify({ms,heap:process.memoryUsage().heapUsed/1048576})+'\\n');process.exit(0);`;
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { ms: number; heap: number };
  return { ms: r.ms, heapMb: r.heap };
}

function importCost() {
  const samples = { functions: [] as ImportSample[], sdk: [] as ImportSample[], empty: [] as ImportSample[] };
  importOnce('functions'); // fill the page cache, like a deployed package that has been read once
  for (let i = 0; i < OPTIONS.importRuns; i++) {
    samples.functions.push(importOnce('functions'));
    samples.sdk.push(importOnce('sdk'));
    samples.empty.push(importOnce('empty'));
  }
  const med = (xs: ImportSample[], k: keyof ImportSample) => median(xs.map((x) => x[k]));
  const functionsMs = med(samples.functions, 'ms');
  const sdkMs = med(samples.sdk, 'ms');
  const functionsHeap = med(samples.functions, 'heapMb');
  const sdkHeap = med(samples.sdk, 'heapMb');
  const emptyHeap = med(samples.empty, 'heapMb');
  return {
    runs: OPTIONS.importRuns,
    functionsMs: round(functionsMs),
    sdkMs: round(sdkMs),
    ratioMs: round(functionsMs / sdkMs),
    functionsHeapMb: round(functionsHeap),
    sdkHeapMb: round(sdkHeap),
    emptyHeapMb: round(emptyHeap),
    ratioHeap: round(functionsHeap / sdkHeap),
    ratioHeapOverEmpty: round((functionsHeap - emptyHeap) / (sdkHeap - emptyHeap)),
    samples,
  };
}

// ---- 2-4. answer latency, lost/duplicated, CPU -------------------------------------------------

interface Cpu {
  bot: number;
  floor: number;
  functionsFloor: number;
  azurite: number;
  at: number;
}

interface BurstResult {
  target: TargetName;
  level: number;
  round: number;
  latencies: number[];
  p50: number;
  p99: number;
  max: number;
  lost: number;
  errors: number;
  wallMs: number;
  cpuMs: { target: number; azurite: number };
}

function merge(parts: BurstResult[]): BurstResult {
  const latencies = parts.flatMap((p) => p.latencies);
  return {
    ...parts[0]!,
    latencies,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    lost: sum(parts.map((p) => p.lost)),
    errors: sum(parts.map((p) => p.errors)),
    wallMs: sum(parts.map((p) => p.wallMs)),
    cpuMs: {
      target: sum(parts.map((p) => p.cpuMs.target)),
      azurite: sum(parts.map((p) => p.cpuMs.azurite)),
    },
  };
}

/** Per round, the p99 of one target's burst over another's. */
function ratiosTo(xs: BurstResult[], ys: BurstResult[]): number[] {
  return xs.map((x) => x.p99 / ys.find((y) => y.round === x.round)!.p99);
}

class Bench {
  /** Every incoming call sent, with the phase it belongs to: each must get exactly one answer. */
  readonly incoming = new Map<string, string>();
  bot!: Bot;
  floor!: Target;
  functionsFloor: Target | null = null;
  idleCpuPerSecond = { bot: 0, floor: 0, functionsFloor: 0, azurite: 0 };

  constructor(
    readonly standIn: GraphStandIn,
    readonly azurite: BenchAzurite,
  ) {}

  cpu(): Cpu {
    return {
      bot: cpuMs(this.bot.pid),
      floor: cpuMs(this.floor.pid),
      functionsFloor: this.functionsFloor ? cpuMs(this.functionsFloor.pid) : 0,
      azurite: cpuMs(this.azurite.child.pid),
      at: performance.now(),
    };
  }

  targets(): Target[] {
    return this.functionsFloor ? [this.bot, this.floor, this.functionsFloor] : [this.bot, this.floor];
  }

  async burst(target: Target, level: number, roundNo: number, phase: string): Promise<BurstResult> {
    const ids = Array.from({ length: level }, () => randomUUID());
    const bodies = ids.map((id) => JSON.stringify(incomingCall(id, LATENCY_NUMBER)));
    const tokens = ids.map(() => this.standIn.callbackToken());
    // The floor's calls are its own: a floor that drops one says nothing about the bot.
    for (const id of ids) this.incoming.set(id, target.name === 'bot' ? phase : `${phase} (${target.name})`);
    const before = this.cpu();
    const results = await Promise.all(
      ids.map((_, i) => postNotification(target.url, bodies[i]!, tokens[i]!)),
    );
    // Answers are sent before the 202; a short grace for one that lost the race with it.
    await waitUntil(() => ids.every((id) => this.standIn.answers.has(id)), 2000);
    const after = this.cpu();
    const latencies: number[] = [];
    let lost = 0;
    ids.forEach((id, i) => {
      const at = this.standIn.answers.get(id)?.[0];
      if (at === undefined) lost++;
      else latencies.push(at - results[i]!.sentAt);
    });
    const key = target.name;
    return {
      target: key,
      level,
      round: roundNo,
      latencies,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: Math.max(...latencies),
      lost,
      errors: results.filter((r) => r.status !== 202).length,
      wallMs: after.at - before.at,
      cpuMs: { target: after[key] - before[key], azurite: after.azurite - before.azurite },
    };
  }

  async idleBaseline(ms = 2000): Promise<void> {
    const a = this.cpu();
    await sleep(ms);
    const b = this.cpu();
    const s = (b.at - a.at) / 1000;
    this.idleCpuPerSecond = {
      bot: (b.bot - a.bot) / s,
      floor: (b.floor - a.floor) / s,
      functionsFloor: (b.functionsFloor - a.functionsFloor) / s,
      azurite: (b.azurite - a.azurite) / s,
    };
  }

  async latency() {
    const rounds: BurstResult[] = [];
    const of = (level: number, t: TargetName) => rounds.filter((x) => x.level === level && x.target === t);
    for (const level of OPTIONS.levels) {
      for (let r = 0; r < OPTIONS.rounds; r++) {
        // Rotate who goes first, so none always runs on a machine another just warmed.
        const order = this.targets().map((_, i, all) => all[(i + r) % all.length]!);
        for (const t of order) {
          // Small levels repeat their burst (one after the other) so a round has enough samples for a p99.
          const parts: BurstResult[] = [];
          for (let k = 0; k < Math.ceil(OPTIONS.minSamples / level); k++) {
            parts.push(await this.burst(t, level, r + 1, `latency ${level}`));
            if (level > 1) await sleep(OPTIONS.pauseMs);
          }
          rounds.push(merge(parts));
          await sleep(OPTIONS.pauseMs);
        }
      }
      const ratio = median(ratiosTo(of(level, 'bot'), of(level, 'floor')));
      progress(`${level} at once: median p99 ratio ${ratio.toFixed(2)}`);
    }
    const idle = this.idleCpuPerSecond;
    const cpu = (xs: BurstResult[], t: TargetName) => {
      const calls = sum(xs.map((x) => x.latencies.length + x.lost));
      const wallS = sum(xs.map((x) => x.wallMs)) / 1000;
      const target = sum(xs.map((x) => x.cpuMs.target));
      const azurite = sum(xs.map((x) => x.cpuMs.azurite));
      return {
        calls,
        cpuMs: target,
        perCallMs: round(target / calls, 3),
        perCallNetMs: round(Math.max(0, target - idle[t] * wallS) / calls, 3),
        azuritePerCallMs: round(azurite / calls, 3),
        azuritePerCallNetMs: round(Math.max(0, azurite - idle.azurite * wallS) / calls, 3),
      };
    };
    const levels = OPTIONS.levels.map((level) => {
      const bot = of(level, 'bot');
      const floor = of(level, 'floor');
      const ratios = ratiosTo(bot, floor);
      const functionsFloor = of(level, 'functionsFloor');
      const summary = (xs: BurstResult[]) => ({
        medianP50: round(median(xs.map((x) => x.p50))),
        medianP99: round(median(xs.map((x) => x.p99))),
        pooledP50: round(
          percentile(
            xs.flatMap((x) => x.latencies),
            50,
          ),
        ),
        pooledP99: round(
          percentile(
            xs.flatMap((x) => x.latencies),
            99,
          ),
        ),
        lost: sum(xs.map((x) => x.lost)),
        errors: sum(xs.map((x) => x.errors)),
      });
      return {
        level,
        bot: { ...summary(bot), cpu: cpu(bot, 'bot') },
        floor: { ...summary(floor), cpu: cpu(floor, 'floor') },
        ratioP99Median: round(median(ratios)),
        // The middle half of the per-round ratios: how far one round's figure can be trusted.
        ratioP99Quartiles: [round(percentile(ratios, 25)), round(percentile(ratios, 75))] as const,
        ratioP99PerRound: ratios.map((r) => round(r)),
        ...(functionsFloor.length > 0
          ? {
              functionsFloor: {
                ...summary(functionsFloor),
                cpu: cpu(functionsFloor, 'functionsFloor'),
                // What the programming model alone adds to the floor, and what the bot adds to that.
                ratioP99Median: round(median(ratiosTo(functionsFloor, floor))),
                botRatioP99Median: round(median(ratiosTo(bot, functionsFloor))),
              },
            }
          : {}),
      };
    });
    return {
      levels,
      cpuAllLevels: {
        bot: cpu(
          rounds.filter((x) => x.target === 'bot'),
          'bot',
        ),
        floor: cpu(
          rounds.filter((x) => x.target === 'floor'),
          'floor',
        ),
        ...(this.functionsFloor
          ? {
              functionsFloor: cpu(
                rounds.filter((x) => x.target === 'functionsFloor'),
                'functionsFloor',
              ),
            }
          : {}),
      },
      rounds: rounds.map((r) => ({
        target: r.target,
        level: r.level,
        round: r.round,
        p50: round(r.p50),
        p99: round(r.p99),
        max: round(r.max),
        lost: r.lost,
        errors: r.errors,
        wallMs: round(r.wallMs),
        cpuMs: r.cpuMs,
      })),
    };
  }

  // ---- 7. memory ----

  async memory() {
    const calls = OPTIONS.memoryCalls;
    if (calls === 0) return null;
    const runCalls = async (count: number, phase: string, deadline: number) => {
      let next = 0;
      let done = 0;
      let errors = 0;
      const worker = async () => {
        while (next < count && performance.now() < deadline) {
          next++;
          const id = randomUUID();
          this.incoming.set(id, phase);
          for (const payload of [incomingCall(id, LATENCY_NUMBER), established(id), terminated(id)]) {
            const r = await postNotification(
              this.bot.url,
              JSON.stringify(payload),
              this.standIn.callbackToken(),
            );
            if (r.status !== 202) errors++;
          }
          done++;
          if (done % 1000 === 0) progress(`${phase}: ${done}/${count} calls`);
        }
      };
      await Promise.all(Array.from({ length: OPTIONS.memoryConcurrency }, worker));
      return { done, errors };
    };
    // A fresh bot, warmed with calls of the same kind, so the figure is growth, not start-up.
    const warm = Math.min(300, Math.ceil(calls / 10));
    await runCalls(warm, 'memory warm-up', performance.now() + 60_000);
    await sleep(500);
    const m0 = await this.bot.memory();
    const rss0 = rssBytes(this.bot.pid);
    const started = performance.now();
    const { done, errors } = await runCalls(calls, 'memory', started + 240_000);
    const seconds = (performance.now() - started) / 1000;
    await sleep(500);
    const rss1 = rssBytes(this.bot.pid);
    const m1 = await this.bot.memory();
    return {
      calls: done,
      warmUpCalls: warm,
      concurrency: OPTIONS.memoryConcurrency,
      seconds: round(seconds, 1),
      notificationsPerSecond: round((done * 3) / seconds, 0),
      errors,
      rssBeforeMb: round(rss0 / 1048576, 1),
      rssAfterMb: round(rss1 / 1048576, 1),
      rssGrowthBytesPerCall: round((rss1 - rss0) / done, 0),
      afterGc: {
        gc: m1.gc,
        rssGrowthBytesPerCall: round((m1.rss - m0.rss) / done, 0),
        heapGrowthBytesPerCall: round((m1.heapUsed - m0.heapUsed) / done, 0),
        heapBeforeMb: round(m0.heapUsed / 1048576, 1),
        heapAfterMb: round(m1.heapUsed / 1048576, 1),
      },
    };
  }
}

// ---- 5. storage transactions per kind -----------------------------------------------------------

const KINDS = ['incoming', 'established', 'playCompleted', 'tone', 'voicemail', 'terminated'] as const;
type Kind = (typeof KINDS)[number];
const KIND_LABEL: Record<Kind, string> = {
  incoming: 'incoming call (decision + answer)',
  established: 'established',
  playCompleted: 'playPrompt completed',
  tone: 'tone (toneInfo, menu choice)',
  voicemail: `voicemail (recordResponse, ${VOICEMAIL_SECONDS} s)`,
  terminated: 'terminated',
};

function signature(r: CountingProxy['requests'][number]): string {
  let path = r.path.replace(`/${ACCOUNT}`, '').replace(/'[^']*'/g, "'…'");
  if (r.service === 'blob')
    path = path.split('/').slice(0, 2).join('/') + (path.split('/').length > 2 ? '/…' : '');
  if (r.service === 'queue') path = path.replace(/\/messages\/[^/]+$/, '/messages/…');
  return `${r.service} ${r.method} ${path}${r.query.length ? `?${r.query.join('&')}` : ''} → ${r.status}`;
}

async function transactions(bench: Bench, flowsDir: string) {
  const { standIn, azurite } = bench;
  const proxy = await startCountingProxy({ account: ACCOUNT, key: KEY, ports: azurite.ports });
  const bot = await startBot({
    root: ROOT,
    standIn,
    storageConnectionString: proxy.connectionString,
    flowsDir,
    log: OPTIONS.verbose ? (l) => progress(l) : undefined,
  });
  const recording = wav8k(VOICEMAIL_SECONDS);
  const quiet = async () => {
    const end = performance.now() + 15_000;
    while (performance.now() < end) {
      if (performance.now() - proxy.lastActivity() >= OPTIONS.quietMs) return true;
      await sleep(50);
    }
    return false;
  };
  const lastOp = (callId: string, action: string) =>
    standIn.requests.filter((r) => r.callId === callId && r.action === action).pop();

  const build = (kind: Kind, id: string): unknown => {
    switch (kind) {
      case 'incoming':
        return incomingCall(id, VOICEMAIL_NUMBER);
      case 'established':
        return established(id);
      case 'playCompleted': {
        const op = lastOp(id, 'playPrompt');
        if (!op?.operationId) throw new Error(`call ${id}: the bot sent no playPrompt after established`);
        return operationDone(id, op.operationId, '#microsoft.graph.playPromptOperation', {
          clientContext: (op.body as { clientContext?: string }).clientContext,
          completionReason: 'completedSuccessfully',
        });
      }
      case 'tone':
        return tone(id, 1, '1');
      case 'voicemail': {
        const op = lastOp(id, 'recordResponse');
        if (!op?.operationId)
          throw new Error(`call ${id}: the bot sent no recordResponse after the menu choice`);
        const token = `rec-${randomUUID()}`;
        standIn.addRecording(`${id}.wav`, recording, token);
        return operationDone(id, op.operationId, '#microsoft.graph.recordOperation', {
          clientContext: (op.body as { clientContext?: string }).clientContext,
          completionReason: 'stopToneDetected',
          recordingLocation: `${standIn.recordingBase}/${id}.wav`,
          recordingAccessToken: token,
        });
      }
      case 'terminated':
        return terminated(id);
    }
  };

  const perKind = new Map<
    Kind,
    { tallies: Array<Record<StorageService, Tally>>; replyMs: number[]; signatures: string[] }
  >();
  const errors: string[] = [];
  /** Sends one notification, waits for its reply and for storage to go quiet, counts what it caused. */
  const step = async (kind: Kind, id: string, measure: boolean): Promise<boolean> => {
    const from = proxy.requests.length;
    let payload: unknown;
    try {
      payload = build(kind, id);
    } catch (err) {
      errors.push((err as Error).message);
      return false;
    }
    const res = await postNotification(bot.url, JSON.stringify(payload), standIn.callbackToken());
    if (res.status !== 202) errors.push(`call ${id}: ${kind} answered ${res.status}`);
    if (!(await quiet())) errors.push(`call ${id}: ${kind}: storage never went quiet`);
    // A recording job this notification queued is work it caused: wait until the queue trigger
    // has done it (deleted the message), then for quiet again, so it is counted here and nowhere
    // else. (Timer messages wait for their delay: they belong to whatever fires them.)
    const jobs = (method: string) =>
      proxy.requests
        .slice(from)
        .filter((r) => r.service === 'queue' && r.method === method && r.path.includes('/ivr-recordings/'))
        .length;
    const putMessages = () => jobs('POST');
    const doneMessages = () => jobs('DELETE');
    if (putMessages() > 0) {
      await waitUntil(() => doneMessages() >= putMessages(), 30_000);
      if (!(await quiet())) errors.push(`call ${id}: ${kind}: storage never went quiet`);
    }
    if (!measure) return true;
    const entry = perKind.get(kind) ?? { tallies: [], replyMs: [], signatures: [] };
    entry.tallies.push(proxy.tally(from));
    entry.replyMs.push(res.ms);
    if (entry.signatures.length === 0)
      entry.signatures = proxy.requests
        .slice(from)
        .filter((r) => r.kind !== 'poll')
        .map(signature);
    perKind.set(kind, entry);
    return true;
  };

  const pollsFrom = proxy.requests.length;
  const pollsStarted = performance.now();
  // One whole call first, not counted: tables, queue, container and the Graph token get created.
  const warm = randomUUID();
  bench.incoming.set(warm, 'transactions warm-up');
  for (const kind of KINDS) if (!(await step(kind, warm, false))) break;
  // Then each kind of notification for a handful of calls, one at a time, in call order.
  const ids = Array.from({ length: OPTIONS.countCalls }, () => randomUUID());
  for (const id of ids) bench.incoming.set(id, 'transactions');
  for (const kind of KINDS) for (const id of ids) await step(kind, id, true);
  const pollSeconds = (performance.now() - pollsStarted) / 1000;
  const polls = proxy.requests.slice(pollsFrom).filter((r) => r.kind === 'poll').length;

  // The bot's own account of the calls: ended, with the recording stored.
  let ended = 0;
  let stored = 0;
  for (const id of ids) {
    const s = await bot.callStatus(id);
    if (s.body?.status === 'ended') ended++;
    const recs = (s.body?.recordings ?? []) as Array<{ status?: string }>;
    if (Array.isArray(recs) && recs.some((r) => r.status === 'stored')) stored++;
  }
  const hangups = ids.filter((id) =>
    standIn.requests.some((r) => r.callId === id && r.method === 'DELETE'),
  ).length;

  await bot.stop();
  await proxy.close();

  const kinds = KINDS.map((kind) => {
    const e = perKind.get(kind) ?? { tallies: [], replyMs: [], signatures: [] };
    const n = e.tallies.length;
    const per = {} as Record<StorageService, { reads: number; writes: number }>;
    for (const s of STORAGE_SERVICES)
      per[s] = {
        reads: round(sum(e.tallies.map((t) => t[s].reads)) / n, 2),
        writes: round(sum(e.tallies.map((t) => t[s].writes)) / n, 2),
      };
    const queueMessagesPut = 0;
    return {
      kind,
      label: KIND_LABEL[kind],
      notifications: n,
      ...per,
      queueMessagesPut,
      replyMsMedian: round(median(e.replyMs)),
      requests: e.signatures,
    };
  });
  // Timer messages the flow put on the queue (each is one queue-triggered execution later).
  for (const k of kinds)
    k.queueMessagesPut = k.requests.filter((r) => /^queue POST .*\/messages/.test(r)).length;
  return {
    calls: ids.length,
    quietMs: OPTIONS.quietMs,
    kinds,
    queuePollsPerSecond: round(polls / pollSeconds, 2),
    recordingBytes: recording.length,
    recordingDownloads: standIn.recordingDownloads,
    callsEnded: ended,
    recordingsStored: stored,
    hangups,
    errors,
  };
}

// ---- 8. cost ------------------------------------------------------------------------------------

function cost(tx: Awaited<ReturnType<typeof transactions>>, cpuPerNotificationMs: number) {
  const notifications = tx.kinds.length;
  const queueTriggered = sum(tx.kinds.map((k) => k.queueMessagesPut));
  const executions = notifications + queueTriggered;
  const wallSeconds = sum(tx.kinds.map((k) => k.replyMsMedian)) / 1000;
  const busySeconds = (cpuPerNotificationMs * executions) / 1000;
  const t = (s: StorageService, f: 'reads' | 'writes') => sum(tx.kinds.map((k) => k[s][f]));
  const table = t('table', 'reads') + t('table', 'writes');
  const queue = t('queue', 'reads') + t('queue', 'writes');
  const blobReads = t('blob', 'reads');
  const blobWrites = t('blob', 'writes');
  const gb = tx.recordingBytes / 2 ** 30;
  const months = 30 / 30.4375;
  const per1000 = (perCall: number) => round(perCall * 1000, 4);
  const lines = {
    executions: per1000((executions * PRICES.flexExecutionsPerMillion.usd) / 1e6),
    executionTimeWall: per1000(wallSeconds * INSTANCE_MEMORY_GB * PRICES.flexGbSecond.usd),
    executionTimeBusy: per1000(busySeconds * INSTANCE_MEMORY_GB * PRICES.flexGbSecond.usd),
    tableTransactions: per1000((table * PRICES.tableTransactionsPer10k.usd) / 1e4),
    queueTransactions: per1000((queue * PRICES.queueOperationsPer10k.usd) / 1e4),
    blobTransactions: per1000(
      (blobReads * PRICES.blobReadsPer10k.usd + blobWrites * PRICES.blobWritesPer10k.usd) / 1e4,
    ),
    blobStorage30Days: per1000(gb * months * PRICES.blobGbMonth.usd),
  };
  const common =
    lines.executions +
    lines.tableTransactions +
    lines.queueTransactions +
    lines.blobTransactions +
    lines.blobStorage30Days;
  return {
    assumptions: {
      flow: 'answer, greeting, menu choice, 30 s voicemail (~480 KB), hang-up: the six notifications measured in the transactions section',
      instanceMemoryGb: INSTANCE_MEMORY_GB,
      executionsPerCall: executions,
      wallSecondsPerCall: round(wallSeconds, 4),
      busySecondsPerCall: round(busySeconds, 4),
      perCall: { table, queue, blobReads, blobWrites, recordingBytes: tx.recordingBytes },
      notes: [
        'wall: each notification billed for its own measured reply time, none overlapping (upper bound)',
        'busy: instance billed only while its CPU works, at the CPU ms per incoming notification over all latency bursts (lower bound)',
        'list prices before free grants; queue polling by the host and Graph/Teams charges not included',
      ],
    },
    per1000Calls: {
      ...lines,
      totalWall: round(common + lines.executionTimeWall, 4),
      totalBusy: round(common + lines.executionTimeBusy, 4),
    },
    prices: PRICES,
    pricesLookedUp: PRICES_LOOKED_UP,
  };
}

// ---- report -------------------------------------------------------------------------------------

function machine() {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  return {
    nproc: availableParallelism(),
    node: process.version,
    cpu,
    memoryGb: round(totalmem() / 2 ** 30, 1),
  };
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const padEnd = (s: string | number, n: number) => String(s).padEnd(n);

async function main(): Promise<void> {
  installCleanup();
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${OPTIONS.maxSeconds} s, giving up`);
    killAll();
    process.exit(2);
  }, OPTIONS.maxSeconds * 1000);
  watchdog.unref();
  const started = Date.now();
  const date = new Date().toISOString();
  const m = machine();
  log(
    `graph-ivr bench, ${date.slice(0, 10)}: ${m.nproc} cores (${m.cpu}), ${m.memoryGb} GiB, Node ${m.node}`,
  );

  progress('import cost (fresh processes)');
  const imports = importCost();

  progress('starting the Graph stand-in, Azurite, the bot and the floor');
  const standIn = await startGraphStandIn();
  const flowsDir = writeFlows();
  try {
    const azurite = await startBenchAzurite();
    const bench = new Bench(standIn, azurite);
    const floorOptions = (table: string) => ({
      root: ROOT,
      standIn,
      storageConnectionString: azurite.connectionString,
      table,
      maxSockets: OPTIONS.floorSockets,
    });
    [bench.bot, bench.floor, bench.functionsFloor] = await Promise.all([
      startBot({
        root: ROOT,
        standIn,
        storageConnectionString: azurite.connectionString,
        flowsDir,
        log: OPTIONS.verbose ? (l) => progress(l) : undefined,
      }),
      startFloor(floorOptions('floorcalls')),
      OPTIONS.functionsFloor ? startFloor(floorOptions('functionsfloorcalls'), 'functionsFloor') : null,
    ]);

    // Both processes warmed the same way before anything is counted: the JIT keeps making a
    // process faster for thousands of calls (the bot's CPU per 256-burst fell from 370 to 200 ms
    // over 6,400 calls, the floor's from 220 to 140), and the latency figures are about a warm
    // instance; the cold one has its own figure below.
    progress(`warm-up: ${OPTIONS.warmupCalls} calls each`);
    for (let done = 0; done < OPTIONS.warmupCalls;) {
      const size = Math.min(64, OPTIONS.warmupCalls - done);
      for (const t of bench.targets()) await bench.burst(t, size, 0, 'warm-up');
      done += size;
    }
    await sleep(1000);
    await bench.idleBaseline();

    progress(`answer latency: ${OPTIONS.levels.join(', ')} calls at once, ${OPTIONS.rounds} rounds each`);
    const latency = await bench.latency();

    await bench.bot.stop();
    await bench.floor.stop();
    await bench.functionsFloor?.stop();

    progress(`cold start: ${OPTIONS.coldStarts} fresh bot processes, one call each`);
    const coldStarts: Array<{ listeningMs: number; answerMs: number }> = [];
    for (let i = 0; i < OPTIONS.coldStarts; i++) {
      const spawned = performance.now();
      const bot = await startBot({
        root: ROOT,
        standIn,
        storageConnectionString: azurite.connectionString,
        flowsDir,
      });
      const listening = performance.now();
      const id = randomUUID();
      bench.incoming.set(id, 'cold start');
      const res = await postNotification(
        bot.url,
        JSON.stringify(incomingCall(id, LATENCY_NUMBER)),
        standIn.callbackToken(),
      );
      await waitUntil(() => standIn.answers.has(id), 15_000);
      const answered = standIn.answers.get(id)?.[0];
      if (res.status === 202 && answered !== undefined)
        coldStarts.push({ listeningMs: listening - spawned, answerMs: answered - spawned });
      await bot.stop();
    }
    const coldStart = {
      runs: coldStarts,
      listeningMs: percentile(
        coldStarts.map((c) => c.listeningMs),
        50,
      ),
      firstAnswerMs: percentile(
        coldStarts.map((c) => c.answerMs),
        50,
      ),
    };

    progress(`memory: ${OPTIONS.memoryCalls} calls, ${OPTIONS.memoryConcurrency} at a time, on a fresh bot`);
    bench.bot = await startBot({
      root: ROOT,
      standIn,
      storageConnectionString: azurite.connectionString,
      flowsDir,
      log: OPTIONS.verbose ? (l) => progress(l) : undefined,
    });
    const memory = await bench.memory();
    await bench.bot.stop();

    progress('storage transactions per kind of notification (bot behind the counting proxy)');
    const tx = await transactions(bench, flowsDir);

    // 3. lost and duplicated: every incoming call sent in the whole run.
    await sleep(500);
    const byPhase = new Map<string, { calls: number; lost: number; duplicated: number }>();
    for (const [id, phase] of bench.incoming) {
      const n = standIn.answers.get(id)?.length ?? 0;
      const e = byPhase.get(phase) ?? { calls: 0, lost: 0, duplicated: 0 };
      e.calls++;
      if (n === 0) e.lost++;
      if (n > 1) e.duplicated++;
      byPhase.set(phase, e);
    }
    const ofAFloor = (phase: string) => /\((floor|functionsFloor)\)$/.test(phase);
    const totals = [...byPhase].filter(([phase]) => !ofAFloor(phase)).map(([, t]) => t);
    const floorLost = sum(
      [...byPhase].filter(([phase]) => ofAFloor(phase)).map(([, t]) => t.lost + t.duplicated),
    );
    const lostDup = {
      calls: sum(totals.map((t) => t.calls)),
      lost: sum(totals.map((t) => t.lost)),
      duplicated: sum(totals.map((t) => t.duplicated)),
      byPhase: Object.fromEntries(byPhase),
    };
    const graphCheck = standIn.validate();
    const unauthorized = standIn.requests.filter((r) => !r.authorized).length;

    const costs = cost(tx, latency.cpuAllLevels.bot.perCallNetMs);

    // ---- print ----
    log('\nANSWER LATENCY: incoming notification sent -> answer POST received by the Graph stand-in (ms)');
    log(
      `${padEnd('at once', 8)}${pad('bot p50', 9)}${pad('bot p99', 9)}${pad('floor p50', 11)}${pad('floor p99', 11)}${pad('p99 ratio', 11)}${pad('middle half', 13)}  per round (bot p99 / floor p99)`,
    );
    for (const l of latency.levels)
      log(
        `${padEnd(l.level, 8)}${pad(l.bot.medianP50.toFixed(1), 9)}${pad(l.bot.medianP99.toFixed(1), 9)}${pad(l.floor.medianP50.toFixed(1), 11)}${pad(l.floor.medianP99.toFixed(1), 11)}${pad(l.ratioP99Median.toFixed(2), 11)}${pad(`${l.ratioP99Quartiles[0].toFixed(2)}-${l.ratioP99Quartiles[1].toFixed(2)}`, 13)}  ${l.ratioP99PerRound.map((r) => r.toFixed(2)).join(' ')}`,
      );
    log(
      `(p50/p99: median over ${OPTIONS.rounds} rounds of each round's figure; ratio: median of the per-round ratios; middle half: their 25th-75th percentiles)`,
    );

    if (bench.functionsFloor) {
      log(
        "\nTHE FLOOR BEHIND THE FUNCTIONS PROGRAMMING MODEL (--functions-floor: the floor's work as an HTTP function in the local host)",
      );
      log(
        `${padEnd('at once', 8)}${pad('p50', 9)}${pad('p99', 9)}${pad('its p99 / floor p99', 21)}${pad('bot p99 / its p99', 19)}${pad('CPU ms', 8)}${pad('CPU net', 9)}`,
      );
      for (const l of latency.levels) {
        const f = l.functionsFloor!;
        log(
          `${padEnd(l.level, 8)}${pad(f.medianP50.toFixed(1), 9)}${pad(f.medianP99.toFixed(1), 9)}${pad(f.ratioP99Median.toFixed(2), 21)}${pad(f.botRatioP99Median.toFixed(2), 19)}${pad(f.cpu.perCallMs.toFixed(2), 8)}${pad(f.cpu.perCallNetMs.toFixed(2), 9)}`,
        );
      }
    }

    log(
      '\nCPU PER INCOMING NOTIFICATION (ms; /proc utime+stime around each burst, 10 ms ticks; net = minus the idle rate)',
    );
    log(
      `${padEnd('at once', 8)}${pad('bot', 8)}${pad('bot net', 9)}${pad('floor', 8)}${pad('floor net', 11)}${pad('azurite(bot)', 14)}${pad('azurite(floor)', 16)}`,
    );
    for (const l of latency.levels)
      log(
        `${padEnd(l.level, 8)}${pad(l.bot.cpu.perCallMs.toFixed(2), 8)}${pad(l.bot.cpu.perCallNetMs.toFixed(2), 9)}${pad(l.floor.cpu.perCallMs.toFixed(2), 8)}${pad(l.floor.cpu.perCallNetMs.toFixed(2), 11)}${pad(l.bot.cpu.azuritePerCallNetMs.toFixed(2), 14)}${pad(l.floor.cpu.azuritePerCallNetMs.toFixed(2), 16)}`,
      );
    const all = latency.cpuAllLevels;
    log(
      `${padEnd('all', 8)}${pad(all.bot.perCallMs.toFixed(2), 8)}${pad(all.bot.perCallNetMs.toFixed(2), 9)}${pad(all.floor.perCallMs.toFixed(2), 8)}${pad(all.floor.perCallNetMs.toFixed(2), 11)}${pad(all.bot.azuritePerCallNetMs.toFixed(2), 14)}${pad(all.floor.azuritePerCallNetMs.toFixed(2), 16)}  (${all.bot.calls} + ${all.floor.calls} calls)`,
    );
    log(
      `idle CPU (ms per s): bot ${bench.idleCpuPerSecond.bot.toFixed(1)} (queue polling), floor ${bench.idleCpuPerSecond.floor.toFixed(1)}, ${bench.functionsFloor ? `functions floor ${bench.idleCpuPerSecond.functionsFloor.toFixed(1)}, ` : ''}azurite ${bench.idleCpuPerSecond.azurite.toFixed(1)}`,
    );

    log(
      `\nLOST / DUPLICATED (the bot's calls): ${lostDup.calls} incoming calls, ${lostDup.lost} without an answer, ${lostDup.duplicated} answered more than once` +
        (floorLost ? `; the floor lost or repeated ${floorLost} of its own (not the bot's)` : ''),
    );
    for (const [phase, e] of byPhase)
      if (e.lost || e.duplicated)
        log(`  ${phase}: ${e.calls} calls, ${e.lost} lost, ${e.duplicated} duplicated`);
    const notifErrors = sum(
      latency.levels.flatMap((l) => [l.bot.errors, l.floor.errors, l.functionsFloor?.errors ?? 0]),
    );
    if (notifErrors) log(`  ${notifErrors} notifications not answered 202 in the latency rounds`);

    log(
      `\nSTORAGE TRANSACTIONS PER NOTIFICATION (bot behind a counting proxy; mean of ${tx.calls} calls; reads/writes)`,
    );
    log(
      `${padEnd('notification', 36)}${pad('table', 9)}${pad('queue', 9)}${pad('blob', 9)}${pad('reply ms', 10)}`,
    );
    for (const k of tx.kinds)
      log(
        `${padEnd(k.label, 36)}${pad(`${k.table.reads}/${k.table.writes}`, 9)}${pad(`${k.queue.reads}/${k.queue.writes}`, 9)}${pad(`${k.blob.reads}/${k.blob.writes}`, 9)}${pad(k.replyMsMedian.toFixed(1), 10)}`,
      );
    log(
      `background requests, not counted above (queue polls, the flow catalogue's check and saved copies): ${tx.queuePollsPerSecond}/s; recording ${tx.recordingBytes} bytes, downloaded ${tx.recordingDownloads}x; ${tx.callsEnded}/${tx.calls} calls ended, ${tx.recordingsStored}/${tx.calls} recordings stored, ${tx.hangups}/${tx.calls} hung up`,
    );
    if (OPTIONS.verbose)
      for (const k of tx.kinds) log(`  ${k.kind}:\n    ${k.requests.join('\n    ') || '(none)'}`);
    for (const e of tx.errors) log(`  ! ${e}`);

    log(`\nIMPORT COST (median of ${imports.runs} fresh processes each)`);
    log(
      `all function files: ${imports.functionsMs.toFixed(1)} ms, heap ${imports.functionsHeapMb.toFixed(1)} MiB; @azure/functions alone: ${imports.sdkMs.toFixed(1)} ms, heap ${imports.sdkHeapMb.toFixed(1)} MiB; bare node heap ${imports.emptyHeapMb.toFixed(1)} MiB`,
    );
    log(
      `ratio: time ${imports.ratioMs.toFixed(2)}, heap ${imports.ratioHeap.toFixed(2)} (${imports.ratioHeapOverEmpty.toFixed(2)} over bare node)`,
    );

    log(`\nCOLD START (median of ${coldStart.runs.length} fresh bot processes; from spawn)`);
    log(
      `listening: ${coldStart.listeningMs.toFixed(0)} ms; first call answered (Graph received the answer): ${coldStart.firstAnswerMs.toFixed(0)} ms` +
        ` (runs: ${coldStart.runs.map((r) => r.answerMs.toFixed(0)).join(', ')} ms)`,
    );

    if (memory) {
      log(
        `\nMEMORY: ${memory.calls} calls (incoming + established + terminated), ${memory.concurrency} at a time, ${memory.seconds} s, ${memory.notificationsPerSecond} notifications/s, ${memory.errors} errors`,
      );
      log(
        `bot RSS ${memory.rssBeforeMb} -> ${memory.rssAfterMb} MiB: ${memory.rssGrowthBytesPerCall} bytes/call; after a full GC: RSS ${memory.afterGc.rssGrowthBytesPerCall} bytes/call, heap ${memory.afterGc.heapBeforeMb} -> ${memory.afterGc.heapAfterMb} MiB (${memory.afterGc.heapGrowthBytesPerCall} bytes/call)`,
      );
    }

    const c = costs.per1000Calls;
    log(`\nCOST PER 1,000 CALLS (USD, list prices looked up ${PRICES_LOOKED_UP}; ${costs.assumptions.flow})`);
    log(
      `executions ${c.executions} (${costs.assumptions.executionsPerCall}/call) | execution time ${c.executionTimeWall} wall / ${c.executionTimeBusy} busy (${INSTANCE_MEMORY_GB} GB instance) | table ${c.tableTransactions} | queue ${c.queueTransactions} | blob tx ${c.blobTransactions} | blob storage 30 days ${c.blobStorage30Days}`,
    );
    log(`total: $${c.totalWall} (wall) / $${c.totalBusy} (busy) per 1,000 calls`);
    for (const p of Object.values(PRICES))
      log(`  $${p.usd} per ${p.unit}${p.checked ? '' : ' [TO BE CHECKED]'}: ${p.source}`);

    log(
      `\nGraph requests: ${graphCheck.checked} recorded, ${graphCheck.refused} fail the CSDL/limits check, ${unauthorized} without a valid token`,
    );
    for (const e of graphCheck.examples) log(`  ! ${e}`);

    // ---- targets ----
    const levelRatio = (n: number) => latency.levels.find((l) => l.level === n)?.ratioP99Median;
    const kind = (k: Kind) => tx.kinds.find((x) => x.kind === k)!;
    const rows: Array<[string, string, string, boolean | null]> = [];
    for (const n of OPTIONS.levels.filter((x) => LEVEL_TARGETS.has(x))) {
      const r = levelRatio(n)!;
      rows.push([`answer p99 / floor p99, ${n} at once`, '<= 1.3', r.toFixed(2), r <= 1.3]);
    }
    const inc = kind('incoming');
    rows.push([
      'table reads+writes, incoming decision',
      '0+1',
      `${inc.table.reads}+${inc.table.writes}`,
      inc.table.reads === 0 && inc.table.writes <= 1,
    ]);
    for (const k of ['established', 'tone', 'terminated'] as const) {
      const x = kind(k);
      rows.push([
        `table reads+writes, ${k}`,
        '<= 1+1',
        `${x.table.reads}+${x.table.writes}`,
        x.table.reads <= 1 && x.table.writes <= 1,
      ]);
    }
    const vm = kind('voicemail');
    rows.push([
      `blob writes per voicemail (${tx.recordingBytes} B)`,
      '1',
      String(vm.blob.writes),
      vm.blob.writes === 1,
    ]);
    rows.push([
      'import time ratio (functions / SDK)',
      '<= 1.5',
      imports.ratioMs.toFixed(2),
      imports.ratioMs <= 1.5,
    ]);
    rows.push([
      'lost + duplicated calls',
      '0',
      String(lostDup.lost + lostDup.duplicated),
      lostDup.lost + lostDup.duplicated === 0,
    ]);
    log("\nTARGETS (measured vs the issue's targets)");
    log(`${padEnd('figure', 44)}${padEnd('target', 9)}${padEnd('measured', 10)}`);
    for (const [name, target, measured, ok] of rows)
      log(
        `${padEnd(name, 44)}${padEnd(target, 9)}${padEnd(measured, 10)}${ok === null ? '' : ok ? 'met' : 'NOT MET'}`,
      );
    log(`\nbench took ${((Date.now() - started) / 1000).toFixed(0)} s`);

    const report = {
      date,
      machine: m,
      options: OPTIONS,
      latency,
      idleCpuMsPerSecond: bench.idleCpuPerSecond,
      lostDuplicated: lostDup,
      transactions: tx,
      imports,
      coldStart,
      memory,
      cost: costs,
      graphCheck: { ...graphCheck, unauthorized },
      targets: rows.map(([figure, target, measured, ok]) => ({ figure, target, measured, met: ok })),
      seconds: round((Date.now() - started) / 1000, 1),
    };
    if (OPTIONS.json) {
      writeFileSync(OPTIONS.json, `${JSON.stringify(report, null, 2)}\n`);
      log(`figures written to ${OPTIONS.json}`);
    }
    process.exitCode = lostDup.lost + lostDup.duplicated > 0 ? 1 : 0;
  } finally {
    killAll();
    await standIn.close().catch(() => undefined);
    rmSync(flowsDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    killAll();
    process.exit(1);
  },
);
