import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { flowDiagram } from '../shared/flows/diagram';
import { formatProblem, parseFlowText, validateFlowText } from '../shared/flows/loader';
import { FlowTestFileError, formatCaseResult, runFlowTests } from '../sim/flowTest';

/**
 * npm run flows -- <command>: flows as code against a deployed app or the local host.
 * The app's URL and function key come from --url/--key or IVR_ADMIN_URL/IVR_FUNCTION_KEY.
 * Exit codes: 0 done, 1 a problem with the flow (invalid, stale, different, a test failed), 2 usage,
 * 3 the app could not be reached or failed.
 */

const USAGE = `usage: npm run flows -- <command> [options]
  validate <file...>             check files locally (schema and semantic checks)
  diagram <file> [--markdown]    print a Mermaid flowchart of a flow
  push <file> [--comment c] [--if-match v]   store a file as the number's new version
  pull <number> [--out file]     print (or write) the number's current flow
  diff <file>                    compare a file with the deployed version of its number
  history <number>               list the number's versions
  rollback <number> <version>    make an old version current again (as a new version)
  test <file.test.json> [--time-scale s] [--seed n]   run a flow's test cases in the simulator
options: --url <app url> --key <function key> --json`;

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

class Exit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function parseArgs(argv: string[]): { positional: string[]; flags: Record<string, string | true> } {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) positional.push(a);
    else if (['json', 'markdown'].includes(a.slice(2))) flags[a.slice(2)] = true;
    else {
      const value = argv[++i];
      if (value === undefined) throw new Exit(2, `${a} needs a value`);
      flags[a.slice(2)] = value;
    }
  }
  return { positional, flags };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Exit(2, `cannot read ${file}: ${(err as Error).message}`);
  }
}

export async function main(argv: string[], io: Io): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof Exit) {
      io.err(err.message);
      return err.code;
    }
    io.err(`failed: ${(err as Error).message}`);
    return 3;
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  const { positional, flags } = parseArgs(rest);
  const json = flags.json === true;
  const print = (value: unknown, text: () => string) =>
    io.out(json ? JSON.stringify(value, null, 2) : text());
  const base = String(flags.url ?? io.env.IVR_ADMIN_URL ?? 'http://127.0.0.1:7071').replace(/\/+$/, '');
  const key = flags.key ?? io.env.IVR_FUNCTION_KEY;
  const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
    let res: Response;
    try {
      res = await (io.fetch ?? fetch)(`${base}/api/${path}`, {
        method,
        headers: { ...(typeof key === 'string' ? { 'x-functions-key': key } : {}), ...headers },
        ...(body !== undefined ? { body } : {}),
      });
    } catch (err) {
      throw new Exit(3, `cannot reach ${base}: ${(err as Error).message}`);
    }
    if (res.status === 401)
      throw new Exit(2, `${base} refused the function key (pass --key or IVR_FUNCTION_KEY)`);
    if (res.status >= 500) throw new Exit(3, `${base} failed: HTTP ${res.status}`);
    return res;
  };
  const apiError = async (res: Response): Promise<never> => {
    const body = (await res.json().catch(() => null)) as {
      error?: { code: string; message: string; problems?: Array<{ path: string; message: string }> };
    } | null;
    const e = body?.error;
    if (json) io.out(JSON.stringify(body ?? { status: res.status }, null, 2));
    const lines = [`${e?.code ?? res.status}: ${e?.message ?? 'request failed'}`];
    for (const p of e?.problems ?? []) lines.push(`  ${p.path}: ${p.message}`);
    throw new Exit(res.status === 404 || res.status === 400 || res.status === 412 ? 1 : 3, lines.join('\n'));
  };
  const number = (value: string | undefined) => {
    if (!value) throw new Exit(2, USAGE);
    return encodeURIComponent(value.startsWith('+') ? value : `+${value}`);
  };

  switch (command) {
    case 'validate': {
      if (positional.length === 0) throw new Exit(2, USAGE);
      const results = positional.map((file) => ({ file, ...validateFlowText(readText(file), file) }));
      print(
        results.map((r) => ({ file: r.file, valid: Boolean(r.flow), problems: r.problems })),
        () =>
          results
            .map((r) => (r.flow ? `${r.file}: valid` : r.problems.map(formatProblem).join('\n')))
            .join('\n'),
      );
      return results.every((r) => r.flow) ? 0 : 1;
    }
    case 'diagram': {
      const file = positional[0];
      if (!file) throw new Exit(2, USAGE);
      const result = validateFlowText(readText(file), file);
      if (!result.flow) throw new Exit(1, result.problems.map(formatProblem).join('\n'));
      const diagram = flowDiagram(result.flow.flow);
      print({ diagram }, () => (flags.markdown ? `\`\`\`mermaid\n${diagram}\`\`\`` : diagram.trimEnd()));
      return 0;
    }
    case 'push': {
      const file = positional[0];
      if (!file) throw new Exit(2, USAGE);
      const text = readText(file);
      const local = validateFlowText(text, file);
      if (!local.flow) throw new Exit(1, local.problems.map(formatProblem).join('\n'));
      const query = new URLSearchParams({ author: userInfo().username });
      if (typeof flags.comment === 'string') query.set('comment', flags.comment);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (typeof flags['if-match'] === 'string') headers['if-match'] = `"${flags['if-match']}"`;
      const res = await call('PUT', `numbers/${number(local.flow.flow.number)}?${query}`, text, headers);
      if (!res.ok) return apiError(res);
      const stored = (await res.json()) as { number: string; version: number };
      print(stored, () => `${stored.number}: stored as version ${stored.version}`);
      return 0;
    }
    case 'pull': {
      const res = await call('GET', `numbers/${number(positional[0])}`);
      if (!res.ok) return apiError(res);
      const text = await res.text();
      const meta = {
        version: Number(res.headers.get('etag')?.replace(/"/g, '')),
        source: res.headers.get('x-flow-source'),
      };
      if (typeof flags.out === 'string') {
        writeFileSync(flags.out, text);
        print(
          { ...meta, file: flags.out },
          () => `wrote version ${meta.version} (${meta.source}) to ${String(flags.out)}`,
        );
      } else io.out(json ? JSON.stringify({ ...meta, text }, null, 2) : text);
      return 0;
    }
    case 'diff': {
      const file = positional[0];
      if (!file) throw new Exit(2, USAGE);
      const local = parseFlowText(readText(file));
      if ('problem' in local) throw new Exit(1, `${file}: ${local.problem}`);
      const n = (local.value as { number?: unknown }).number;
      if (typeof n !== 'string') throw new Exit(1, `${file}: no number`);
      const res = await call('GET', `numbers/${number(n)}`);
      if (!res.ok) return apiError(res);
      const remote = parseFlowText(await res.text());
      const changes = diffJson('problem' in remote ? undefined : remote.value, local.value);
      print({ number: n, version: res.headers.get('etag'), changes }, () =>
        changes.length === 0
          ? `${file} is the deployed version ${res.headers.get('etag')} of ${n}`
          : changes.map((c) => `${c.path}\n  - ${c.deployed}\n  + ${c.local}`).join('\n'),
      );
      return changes.length === 0 ? 0 : 1;
    }
    case 'history': {
      const res = await call('GET', `numbers/${number(positional[0])}/versions`);
      if (!res.ok) return apiError(res);
      const body = (await res.json()) as {
        versions: Array<{
          version: number;
          at: string;
          author: string | null;
          comment: string | null;
          deleted: boolean;
        }>;
      };
      print(body, () =>
        body.versions.length === 0
          ? 'no stored versions (the number runs its file)'
          : body.versions
              .map(
                (v) =>
                  `${v.version}\t${v.at}\t${v.author ?? '-'}\t${v.deleted ? '(deleted) ' : ''}${v.comment ?? ''}`,
              )
              .join('\n'),
      );
      return 0;
    }
    case 'rollback': {
      const version = Number(positional[1]);
      if (!Number.isInteger(version) || version < 1) throw new Exit(2, USAGE);
      const res = await call(
        'POST',
        `numbers/${number(positional[0])}/rollback`,
        JSON.stringify({ version }),
        { 'content-type': 'application/json' },
      );
      if (!res.ok) return apiError(res);
      const stored = (await res.json()) as { number: string; version: number };
      print(
        stored,
        () => `${stored.number}: version ${version} is current again, as version ${stored.version}`,
      );
      return 0;
    }
    case 'test': {
      const file = positional[0];
      if (!file) throw new Exit(2, USAGE);
      const positive = (name: string, fallback: number) => {
        const v = flags[name] === undefined ? fallback : Number(flags[name]);
        if (!(v > 0)) throw new Exit(2, `--${name} must be a positive number`);
        return v;
      };
      let results;
      try {
        results = await runFlowTests(file, {
          timeScale: positive('time-scale', 0.05),
          seed: positive('seed', 1),
          ...(json ? {} : { onCase: (r) => io.out(formatCaseResult(r)) }),
        });
      } catch (err) {
        if (err instanceof FlowTestFileError) throw new Exit(2, err.message);
        throw err;
      }
      const failed = results.filter((r) => !r.passed);
      if (json) io.out(JSON.stringify({ file, passed: failed.length === 0, cases: results }, null, 2));
      else io.out(`${results.length - failed.length} of ${results.length} cases passed`);
      return failed.length === 0 ? 0 : 1;
    }
    default:
      throw new Exit(2, command ? `unknown command "${command}"\n${USAGE}` : USAGE);
  }
}

/** Leaf-by-leaf differences between two JSON values, by JSON path. */
export function diffJson(
  deployed: unknown,
  local: unknown,
  path = '$',
): Array<{ path: string; deployed: string; local: string }> {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (isObj(deployed) && isObj(local) && Array.isArray(deployed) === Array.isArray(local)) {
    const keys = [...new Set([...Object.keys(deployed), ...Object.keys(local)])];
    return keys.flatMap((k) =>
      diffJson(
        deployed[k],
        local[k],
        Array.isArray(local)
          ? `${path}[${k}]`
          : /^[A-Za-z_$][\w$]*$/.test(k)
            ? `${path}.${k}`
            : `${path}[${JSON.stringify(k)}]`,
      ),
    );
  }
  const a = JSON.stringify(deployed) ?? '(absent)';
  const b = JSON.stringify(local) ?? '(absent)';
  return a === b ? [] : [{ path, deployed: a, local: b }];
}

if (require.main === module) {
  void main(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  }).then((code) => (process.exitCode = code));
}
