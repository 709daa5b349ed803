import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FaultOptions } from './faults';
import type { CallerScriptInput, TargetScriptInput } from './people';
import { startSimulator, type SimulatorOptions } from './simulator';

/**
 * Runs the simulator as a standalone server for your own bot:
 *   npm run build && node dist/sim/cli.js --bot-callback-url http://localhost:7071/api/calls
 * See sim/README.md.
 */

const USAGE = `Usage: node dist/sim/cli.js --bot-callback-url URL [options]

  --bot-callback-url URL      the bot's calling webhook (incoming calls go there)   [required]
  --bot-app-id ID             audience of callback tokens                            [client id]
  --tenant-id ID / --client-id ID / --client-secret SECRET   accepted credentials
  --host HOST                 listen address                                          [127.0.0.1]
  --http-port N / --https-port N                                                      [free ports]
  --graph-https               serve GRAPH_BASE_URL and recordings over https
  --time-scale X              real seconds per simulated second                       [1]
  --seed N                    PRNG seed, to replay a run                              [random]
  --targets FILE              JSON {"<number or id>": target script, "*": default}
  --call FILE                 caller script to place at start (repeatable)
Faults:
  --throttle-probability P | --throttle-next N   429 with Retry-After (--retry-after S, default 1)
  --unavailable-probability P | --unavailable-next N   503
  --response-delay-ms MS      delay every Graph response
  --duplicate-notifications P --reorder-notifications P   (probability 0..1; 1 = always)
  --notification-delay-ms MS or MIN-MAX
`;

export function parseCliArgs(argv: string[]): { options: SimulatorOptions; calls: CallerScriptInput[] } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'bot-callback-url': { type: 'string' },
      'bot-app-id': { type: 'string' },
      'tenant-id': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'https-port': { type: 'string' },
      'graph-https': { type: 'boolean' },
      'time-scale': { type: 'string' },
      seed: { type: 'string' },
      targets: { type: 'string' },
      call: { type: 'string', multiple: true },
      'throttle-probability': { type: 'string' },
      'throttle-next': { type: 'string' },
      'retry-after': { type: 'string' },
      'unavailable-probability': { type: 'string' },
      'unavailable-next': { type: 'string' },
      'response-delay-ms': { type: 'string' },
      'duplicate-notifications': { type: 'string' },
      'reorder-notifications': { type: 'string' },
      'notification-delay-ms': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) throw new UsageError('');
  const botCallbackUrl = values['bot-callback-url'];
  if (!botCallbackUrl) throw new UsageError('--bot-callback-url is required');

  const num = (flag: keyof typeof values): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n))
      throw new UsageError(`--${flag} expects a number, got "${String(raw)}"`);
    return n;
  };
  const retryAfterSeconds = num('retry-after');
  const faults: FaultOptions = {};
  if (values['throttle-probability'] !== undefined || values['throttle-next'] !== undefined) {
    faults.throttle = {
      probability: num('throttle-probability'),
      next: num('throttle-next'),
      retryAfterSeconds,
    };
  }
  if (values['unavailable-probability'] !== undefined || values['unavailable-next'] !== undefined) {
    faults.unavailable = {
      probability: num('unavailable-probability'),
      next: num('unavailable-next'),
      retryAfterSeconds,
    };
  }
  faults.responseDelayMs = num('response-delay-ms');
  faults.duplicateNotifications = num('duplicate-notifications');
  faults.reorderNotifications = num('reorder-notifications');
  const delay = values['notification-delay-ms'];
  if (delay !== undefined) {
    const range = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(delay);
    faults.notificationDelayMs = range
      ? { min: Number(range[1]), max: Number(range[2]) }
      : num('notification-delay-ms');
  }

  const targets = values.targets ? (readJson(values.targets) as Record<string, TargetScriptInput>) : {};
  const { '*': defaultTargetBehavior, ...perTarget } = targets;
  const options: SimulatorOptions = {
    botCallbackUrl,
    botAppId: values['bot-app-id'],
    tenantId: values['tenant-id'],
    clientId: values['client-id'],
    clientSecret: values['client-secret'],
    host: values.host,
    httpPort: num('http-port'),
    httpsPort: num('https-port'),
    graphOverHttps: values['graph-https'],
    timeScale: num('time-scale'),
    seed: num('seed'),
    faults: dropUndefined(faults),
    defaultTargetBehavior,
    targets: perTarget,
  };
  return {
    options: dropUndefined(options),
    calls: (values.call ?? []).map((file) => readJson(file) as CallerScriptInput),
  };
}

class UsageError extends Error {}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read JSON from ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseCliArgs>;
  try {
    parsed = parseCliArgs(process.argv.slice(2));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(message ? `${message}\n\n${USAGE}` : USAGE);
    process.exit(e instanceof UsageError && !message ? 0 : 2);
  }
  const sim = await startSimulator(parsed.options);
  const http = !sim.graphBaseUrl.startsWith('https:');
  console.log(`Graph calling simulator (seed ${sim.seed}, time scale ${parsed.options.timeScale ?? 1})
  Graph:         ${sim.graphBaseUrl}
  Token URL:     ${sim.tokenUrl}
  Callback keys: ${sim.openIdConfigUrl}
  Control API:   ${sim.httpUrl}/_sim/calls

Bot settings:
  GRAPH_BASE_URL=${sim.graphBaseUrl}
  CALLBACK_OPENID_CONFIG_URL=${sim.openIdConfigUrl}
  AZURE_AUTHORITY_HOST=${sim.authorityHost}
  AZURE_TENANT_ID=${sim.tenantId}
  AZURE_CLIENT_ID=${sim.clientId}
  AZURE_CLIENT_SECRET=${sim.clientSecret}
  BOT_APP_ID=${sim.botAppId}
  NODE_EXTRA_CA_CERTS=${sim.caCertPath}${http ? '\n  IVR_LOCAL_DEV_HTTP=true' : ''}

Place a call:
  curl -X POST ${sim.httpUrl}/_sim/calls -H 'content-type: application/json' \\
    -d '{"from":"+14255550100","to":"+14255550199","actions":[{"waitFor":"promptEnd"},{"after":1,"press":"1"}]}'
`);
  for (const script of parsed.calls) {
    const { callId, done } = sim.placeCall(script);
    void done.then(() => console.log(`\nCall ${callId} ended:\n${sim.formatTimeline(callId)}`));
  }
  const shutdown = () => void sim.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
