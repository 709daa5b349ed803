import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatProblem, validateFlowText } from '../shared/flows/loader';
import {
  parseCallerScript,
  parseTargetScript,
  ScriptError,
  type CallerScript,
  type TargetScriptInput,
} from './people';
import { startStack, type Stack } from './stack';
import { callReport } from './report';

/**
 * npm run sim -- --flow <flow.json> --script <caller.json> [--targets <targets.json>]
 *                [--time-scale 0.05] [--seed 1]
 * Runs a user's own flow with a user's own caller script in the simulator and prints the
 * call's timeline. Bad files get a clear error and exit code 2 before anything starts.
 */

const USAGE =
  'usage: npm run sim -- --flow <flow.json> --script <caller.json> [--targets <targets.json>] [--time-scale <s>] [--seed <n>]';

class UsageError extends Error {}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path}: not valid JSON: ${(err as Error).message}`);
  }
}

export function loadInputs(argv: string[]): {
  flowFile: string;
  script: CallerScript;
  targets: Record<string, TargetScriptInput>;
  timeScale: number;
  seed: number;
} {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        flow: { type: 'string' },
        script: { type: 'string' },
        targets: { type: 'string' },
        'time-scale': { type: 'string', default: '0.05' },
        seed: { type: 'string', default: '1' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (!values.flow || !values.script) throw new UsageError(USAGE);
  const flowFile = resolve(values.flow);
  const text = (() => {
    try {
      return readFileSync(flowFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the flow ${flowFile}: ${(err as Error).message}`);
    }
  })();
  const checked = validateFlowText(text, flowFile);
  if (!checked.flow)
    throw new UsageError(`invalid flow:\n${checked.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  const scriptPath = resolve(values.script);
  let script: CallerScript;
  try {
    script = parseCallerScript(readJson(scriptPath, 'caller script'));
  } catch (err) {
    if (err instanceof ScriptError) throw new UsageError(`${scriptPath}: ${err.message}`);
    throw err;
  }
  const flow = checked.flow.flow;
  const identities = [flow.number, ...flow.aliases];
  if (!identities.includes(script.to)) {
    throw new UsageError(
      `${scriptPath}: the caller dials ${script.to}, but ${basename(flowFile)} configures ${flow.number}`,
    );
  }
  const targets: Record<string, TargetScriptInput> = {};
  if (values.targets) {
    const raw = readJson(resolve(values.targets), 'targets file');
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new UsageError(`${values.targets}: expected an object of target id -> script`);
    for (const [id, t] of Object.entries(raw)) {
      try {
        parseTargetScript(t);
      } catch (err) {
        if (err instanceof ScriptError)
          throw new UsageError(`${values.targets}: target ${id}: ${err.message}`);
        throw err;
      }
      targets[id] = t as TargetScriptInput;
    }
  }
  const timeScale = Number(values['time-scale']);
  const seed = Number(values.seed);
  if (!(timeScale > 0 && timeScale <= 10))
    throw new UsageError('--time-scale must be a number above 0 and at most 10');
  if (!Number.isInteger(seed)) throw new UsageError('--seed must be an integer');
  return { flowFile, script, targets, timeScale, seed };
}

async function main(): Promise<void> {
  const inputs = loadInputs(process.argv.slice(2));
  // The bot reads a folder of flows: give it one holding just this file.
  const dir = mkdtempSync(join(tmpdir(), 'ivr-sim-flow-'));
  copyFileSync(inputs.flowFile, join(dir, basename(inputs.flowFile)));
  let stack: Stack | null = null;
  try {
    stack = await startStack({
      flowsDir: dir,
      scaleBotTimers: true,
      sim: { timeScale: inputs.timeScale, seed: inputs.seed, targets: inputs.targets },
    });
    const from =
      typeof inputs.script.from === 'string'
        ? inputs.script.from
        : `Teams user ${inputs.script.from.teamsUser}`;
    console.log(`=== ${from} calls ${inputs.script.to} (${basename(inputs.flowFile)}); simulated seconds`);
    const { done } = stack.sim.placeCall(inputs.script);
    const summary = await done;
    console.log(callReport(stack.sim, summary, await stack.callRecord(summary.callId), 'recordings'));
    const refused = stack.sim.requests.filter((r) => r.issues.length > 0);
    for (const r of refused)
      console.log(
        `   refused Graph request ${r.method} ${r.path}: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      );
  } finally {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    if (err instanceof UsageError) {
      console.error(err.message);
      process.exit(2);
    }
    console.error(`sim failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}
