import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { z } from 'zod';
import { flowFileSchema, type FlowFile, type FlowNode } from './schema';

/** One problem in one flow file: the file, where (a JSON path), and the rule broken. */
export interface FlowProblem {
  file: string;
  path: string;
  message: string;
}

export class FlowValidationError extends Error {
  constructor(readonly problems: FlowProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'FlowValidationError';
  }
}

export function formatProblem(p: FlowProblem): string {
  return `${p.file}: ${p.path || '(file)'}: ${p.message}`;
}

/** A validated flow, with what the engine needs precomputed once at load. */
export interface LoadedFlow {
  /** File name without .json; stored in call contexts to find the flow again. */
  id: string;
  file: string;
  flow: FlowFile;
  /** Prompt names reachable from each entry node, in a stable order. */
  promptsByEntry: ReadonlyMap<string, readonly string[]>;
}

/** Edges out of a node, with the JSON path of each reference (for error messages). */
export function nodeEdges(node: FlowNode): Array<{ to: string; path: string[]; waitsForCaller: boolean }> {
  switch (node.type) {
    case 'play':
      return [{ to: node.next, path: ['next'], waitsForCaller: false }];
    case 'menu':
      return [
        ...Object.entries(node.options).map(([key, to]) => ({
          to,
          path: ['options', key],
          waitsForCaller: true,
        })),
        { to: node.fallback, path: ['fallback'], waitsForCaller: true },
      ];
    case 'record':
      return Object.entries(node.next).map(([outcome, to]) => ({
        to,
        path: ['next', outcome],
        waitsForCaller: true,
      }));
    case 'transfer':
      return [{ to: node.fallback, path: ['fallback'], waitsForCaller: false }];
    case 'hangup':
      return [];
  }
}

export function nodePrompts(node: FlowNode): Array<{ name: string; path: string[] }> {
  switch (node.type) {
    case 'play':
      return node.prompts.map((name, i) => ({ name, path: ['prompts', String(i)] }));
    case 'menu':
      return [
        { name: node.prompt, path: ['prompt'] },
        ...(node.noInputPrompt ? [{ name: node.noInputPrompt, path: ['noInputPrompt'] }] : []),
        ...(node.invalidPrompt ? [{ name: node.invalidPrompt, path: ['invalidPrompt'] }] : []),
      ];
    case 'record':
    case 'hangup':
      return node.prompt ? [{ name: node.prompt, path: ['prompt'] }] : [];
    case 'transfer':
      return [];
  }
}

function jsonPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    const k = String(key);
    return /^[A-Za-z_$][\w$]*$/.test(k) ? `${acc}.${k}` : `${acc}[${JSON.stringify(k)}]`;
  }, '$');
}

function zodProblems(file: string, error: z.ZodError): FlowProblem[] {
  return error.issues.map((issue) => {
    const nested =
      'issues' in issue && Array.isArray(issue.issues) ? (issue.issues as z.core.$ZodIssue[])[0] : undefined;
    const message = nested && issue.code === 'invalid_key' ? `invalid key: ${nested.message}` : issue.message;
    return { file, path: jsonPath(issue.path), message };
  });
}

/** Validates a parsed flow file: schema first, then the references and the graph. */
export function validateFlow(raw: unknown, file: string): { flow?: LoadedFlow; problems: FlowProblem[] } {
  const parsed = flowFileSchema.safeParse(raw);
  if (!parsed.success) return { problems: zodProblems(file, parsed.error) };
  const flow = parsed.data;
  const problems: FlowProblem[] = [];
  const add = (path: PropertyKey[], message: string) =>
    problems.push({ file, path: jsonPath(path), message });

  // Entry points: every answer action, and the outbound start.
  const entries: Array<{ start: string; path: PropertyKey[] }> = [];
  flow.rules.forEach((rule, i) => {
    if (rule.then.type === 'answer')
      entries.push({ start: rule.then.start, path: ['rules', i, 'then', 'start'] });
    for (const key of ['open', 'closed'] as const) {
      const name = rule.when[key];
      if (name !== undefined && !flow.schedules[name])
        add(['rules', i, 'when', key], `no schedule named "${name}"`);
    }
  });
  if (flow.default.type === 'answer') entries.push({ start: flow.default.start, path: ['default', 'start'] });
  if (flow.outbound) entries.push({ start: flow.outbound.start, path: ['outbound', 'start'] });

  for (const e of entries) if (!flow.nodes[e.start]) add(e.path, `no node named "${e.start}"`);
  for (const [id, node] of Object.entries(flow.nodes)) {
    for (const edge of nodeEdges(node)) {
      if (!flow.nodes[edge.to]) add(['nodes', id, ...edge.path], `no node named "${edge.to}"`);
    }
    for (const p of nodePrompts(node)) {
      // A play node's prompt index is an array index: $.nodes.x.prompts[1], as in the schema's own problems.
      const path = node.type === 'play' ? [p.path[0]!, Number(p.path[1])] : p.path;
      if (!flow.prompts[p.name]) add(['nodes', id, ...path], `no prompt named "${p.name}"`);
    }
    if (node.type === 'menu' && node.terminator) {
      for (const key of Object.keys(node.options)) {
        if (key.includes(node.terminator))
          add(['nodes', id, 'options', key], `an option cannot contain the terminator "${node.terminator}"`);
      }
    }
    if (node.type === 'record' && new Set(node.stopTones).size !== node.stopTones.length) {
      add(['nodes', id, 'stopTones'], 'stop tones must not repeat');
    }
  }
  if (problems.length > 0) return { problems };

  const reachable = new Set<string>();
  const visit = (id: string) => {
    if (reachable.has(id)) return;
    reachable.add(id);
    for (const edge of nodeEdges(flow.nodes[id]!)) visit(edge.to);
  };
  for (const e of entries) visit(e.start);
  for (const id of Object.keys(flow.nodes)) {
    if (!reachable.has(id))
      add(['nodes', id], 'node is unreachable from every entry (answer rules, default, outbound)');
  }

  // A cycle made only of edges that do not wait for the caller would spin forever.
  const onStack = new Set<string>();
  const done = new Set<string>();
  const findLoop = (id: string, trail: string[]): string[] | undefined => {
    if (onStack.has(id)) return [...trail.slice(trail.indexOf(id)), id];
    if (done.has(id)) return undefined;
    onStack.add(id);
    for (const edge of nodeEdges(flow.nodes[id]!)) {
      if (edge.waitsForCaller) continue;
      const loop = findLoop(edge.to, [...trail, id]);
      if (loop) return loop;
    }
    onStack.delete(id);
    done.add(id);
    return undefined;
  };
  for (const id of Object.keys(flow.nodes)) {
    const loop = findLoop(id, []);
    if (loop) {
      add(['nodes', loop[0]!], `loop that waits for no caller input: ${loop.join(' -> ')}`);
      break;
    }
  }
  if (problems.length > 0) return { problems };

  const promptsByEntry = new Map<string, string[]>();
  for (const e of entries) {
    const seen = new Set<string>();
    const names = new Set<string>();
    const walk = (id: string) => {
      if (seen.has(id)) return;
      seen.add(id);
      const node = flow.nodes[id]!;
      for (const p of nodePrompts(node)) names.add(p.name);
      for (const edge of nodeEdges(node)) walk(edge.to);
    };
    walk(e.start);
    promptsByEntry.set(e.start, [...names]);
  }
  return { flow: { id: basename(file).replace(/\.json$/i, ''), file, flow, promptsByEntry }, problems: [] };
}

/** Parses and validates one file's text. */
export function validateFlowText(text: string, file: string): { flow?: LoadedFlow; problems: FlowProblem[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { problems: [{ file, path: '', message: `not valid JSON: ${(err as Error).message}` }] };
  }
  return validateFlow(raw, file);
}

/** Every flow of a directory, indexed by number and aliases. Invalid files are reported, never half-applied. */
export interface FlowCatalog {
  byIdentity: ReadonlyMap<string, LoadedFlow>;
  byId: ReadonlyMap<string, LoadedFlow>;
  problems: FlowProblem[];
}

export function loadFlowDirectory(dir: string): FlowCatalog {
  const byIdentity = new Map<string, LoadedFlow>();
  const byId = new Map<string, LoadedFlow>();
  const problems: FlowProblem[] = [];
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json'))
      .sort();
  } catch (err) {
    return {
      byIdentity,
      byId,
      problems: [
        { file: dir, path: '', message: `cannot read the flows directory: ${(err as Error).message}` },
      ],
    };
  }
  for (const name of files) {
    const file = join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      // One unreadable entry (a directory named *.json, no permission) must not hide the other flows.
      problems.push({ file, path: '', message: `cannot read the file: ${(err as Error).message}` });
      continue;
    }
    const result = validateFlowText(text, file);
    if (!result.flow) {
      problems.push(...result.problems);
      continue;
    }
    const loaded = result.flow;
    const identities = [
      loaded.flow.number,
      ...loaded.flow.aliases,
      ...(loaded.flow.applicationInstanceId ? [loaded.flow.applicationInstanceId] : []),
    ];
    const clash = identities.find((id) => byIdentity.has(id));
    if (clash) {
      const f = loaded.flow;
      const path =
        clash === f.number
          ? '$.number'
          : f.aliases.includes(clash)
            ? `$.aliases[${f.aliases.indexOf(clash)}]`
            : '$.applicationInstanceId';
      problems.push({
        file,
        path,
        message: `"${clash}" is already configured by ${byIdentity.get(clash)!.file}`,
      });
      continue;
    }
    for (const id of identities) byIdentity.set(id, loaded);
    byId.set(loaded.id, loaded);
  }
  return { byIdentity, byId, problems };
}
