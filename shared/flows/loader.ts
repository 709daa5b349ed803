import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import type { z } from 'zod';
import { webhookUrlProblem } from '../net/webhookUrl';
import {
  FLOW_LIMITS,
  flowFileSchema,
  type FlowFile,
  type FlowLimits,
  type FlowNode,
  type NodeOf,
} from './schema';
import { BUILT_IN_VARIABLES, isBuiltInVariable, templateNames } from './variables';

export { FLOW_LIMITS, type FlowLimits } from './schema';

/**
 * Options of the validating functions. `limits` raises or lowers the file size, node and prompt
 * limits (tests, tools); the per-array limits are part of the schema and stay fixed.
 */
export interface FlowValidationOptions {
  limits?: Partial<Pick<FlowLimits, 'fileBytes' | 'nodes' | 'prompts'>>;
  /** IVR_LOCAL_DEV_HTTP: a voicemail webhook may point at a loopback host (local runs only). */
  allowLoopbackUrls?: boolean;
}

/** More problems than this in one file are summed up in one last problem: a log stays readable. */
export const MAX_PROBLEMS_PER_FILE = 100;

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
  /** The stored version (flows put through the admin API); absent for a flow file. */
  version?: number;
  /** Prompt names reachable from each entry node, in a stable order. */
  promptsByEntry: ReadonlyMap<string, readonly string[]>;
  /** A flow file's text, kept as its last known good across restarts. */
  text?: string;
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
    case 'record': {
      // Every way out of a recording waits for the caller (they speak, press, or stay silent).
      const { stopTone, maxDuration, silence, failure, noInput } = node.next;
      const edge = (to: string, outcome: string) => ({ to, path: ['next', outcome], waitsForCaller: true });
      return [
        edge(stopTone, 'stopTone'),
        edge(maxDuration, 'maxDuration'),
        edge(silence, 'silence'),
        edge(failure, 'failure'),
        ...(noInput !== undefined ? [edge(noInput, 'noInput')] : []),
      ];
    }
    case 'transfer':
      return [{ to: node.fallback, path: ['fallback'], waitsForCaller: false }];
    case 'hangup':
      return [];
    case 'collect':
      return [
        { to: node.next, path: ['next'], waitsForCaller: true },
        { to: node.fallback, path: ['fallback'], waitsForCaller: true },
      ];
    case 'branch':
      return [
        ...node.cases.map((c, i) => ({
          to: c.next,
          path: ['cases', String(i), 'next'],
          waitsForCaller: false,
        })),
        { to: node.default, path: ['default'], waitsForCaller: false },
      ];
    case 'http':
      // A request waits for no caller: a loop of requests without a caller's key would never end.
      return HTTP_OUTCOMES.flatMap((outcome) => {
        const to = node.next[outcome];
        return to === undefined ? [] : [{ to, path: ['next', outcome], waitsForCaller: false }];
      });
  }
}

/** How an http node's request can end; each has its own next node, failure catching the rest. */
export const HTTP_OUTCOMES = [
  'success',
  'clientError',
  'serverError',
  'timeout',
  'invalidAnswer',
  'failure',
] as const;
export type HttpOutcome = (typeof HTTP_OUTCOMES)[number];

/** Variables a node reads; a soft read (promptsBy) has a fallback when the variable is unset. */
export function nodeReads(node: FlowNode): Array<{ name: string; path: string[]; soft?: true }> {
  const reads: Array<{ name: string; path: string[]; soft?: true }> = [];
  const template = (text: string, path: string[]) => {
    const t = templateNames(text);
    if ('names' in t) for (const name of t.names) reads.push({ name, path });
  };
  switch (node.type) {
    case 'play':
      if (node.promptsBy)
        reads.push({ name: node.promptsBy.variable, path: ['promptsBy', 'variable'], soft: true });
      break;
    case 'branch':
      node.cases.forEach((c, i) => reads.push({ name: c.variable, path: ['cases', String(i), 'variable'] }));
      break;
    case 'http':
      template(node.url, ['url']);
      node.headers.forEach((h, i) => {
        if ('value' in h) template(h.value, ['headers', String(i), 'value']);
      });
      for (const [field, value] of Object.entries(node.body ?? {})) template(value, ['body', field]);
      break;
    default:
      break;
  }
  return reads;
}

/** Variables a node sets, and on which of its ways out they are set. */
export function nodeWrites(node: FlowNode): { names: string[]; onEdge: string } | null {
  if (node.type === 'collect') return { names: [node.into], onEdge: 'next' };
  if (node.type === 'http') return { names: Object.keys(node.map), onEdge: 'success' };
  return null;
}

export function nodePrompts(node: FlowNode): Array<{ name: string; path: string[] }> {
  switch (node.type) {
    case 'play':
      return [
        ...node.prompts.map((name, i) => ({ name, path: ['prompts', String(i)] })),
        ...Object.entries(node.promptsBy?.cases ?? {}).flatMap(([value, names]) =>
          names.map((name, i) => ({ name, path: ['promptsBy', 'cases', value, String(i)] })),
        ),
      ];
    case 'menu':
      return [
        { name: node.prompt, path: ['prompt'] },
        ...(node.noInputPrompt ? [{ name: node.noInputPrompt, path: ['noInputPrompt'] }] : []),
        ...(node.invalidPrompt ? [{ name: node.invalidPrompt, path: ['invalidPrompt'] }] : []),
      ];
    case 'record':
      return [
        ...(node.prompt ? [{ name: node.prompt, path: ['prompt'] }] : []),
        ...(node.noInputPrompt ? [{ name: node.noInputPrompt, path: ['noInputPrompt'] }] : []),
      ];
    case 'hangup':
      return node.prompt ? [{ name: node.prompt, path: ['prompt'] }] : [];
    case 'transfer':
    case 'branch':
      return [];
    case 'collect':
      return [
        { name: node.prompt, path: ['prompt'] },
        ...(node.noInputPrompt ? [{ name: node.noInputPrompt, path: ['noInputPrompt'] }] : []),
        ...(node.invalidPrompt ? [{ name: node.invalidPrompt, path: ['invalidPrompt'] }] : []),
      ];
    case 'http':
      return node.holdPrompt ? [{ name: node.holdPrompt, path: ['holdPrompt'] }] : [];
  }
}

function jsonPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, key, i) => {
    // Items of a node's arrays are indexes: $.nodes.x.cases[0], as in the schema's own problems.
    if (
      typeof key === 'string' &&
      /^\d+$/.test(key) &&
      (path[i - 1] === 'cases' || path[i - 1] === 'headers')
    )
      return `${acc}[${key}]`;
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

function limitsOf(options: FlowValidationOptions | undefined): FlowLimits {
  return { ...FLOW_LIMITS, ...options?.limits };
}

/** Counts what the schema cannot bound per array, before parsing: a file over a limit costs no more. */
function countProblems(raw: unknown, file: string, limits: FlowLimits): FlowProblem[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  const problems: FlowProblem[] = [];
  for (const [key, limit, unit] of [
    ['nodes', limits.nodes, 'node'],
    ['prompts', limits.prompts, 'prompt'],
  ] as const) {
    const value = (raw as Record<string, unknown>)[key];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    const count = Object.keys(value).length;
    if (count > limit)
      problems.push({ file, path: `$.${key}`, message: `${count} ${key}, over the ${limit}-${unit} limit` });
  }
  return problems;
}

function capProblems(problems: FlowProblem[], file: string): FlowProblem[] {
  if (problems.length <= MAX_PROBLEMS_PER_FILE) return problems;
  const more = problems.length - (MAX_PROBLEMS_PER_FILE - 1);
  return [
    ...problems.slice(0, MAX_PROBLEMS_PER_FILE - 1),
    { file, path: '', message: `and ${more} more problems` },
  ];
}

/** A throw while validating (a bug, a pathological input) is this file's problem, never the caller's. */
function crashed(file: string, err: unknown): { problems: FlowProblem[] } {
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { problems: [{ file, path: '', message: `could not be validated: ${reason}` }] };
}

/** Validates a parsed flow file: limits, the schema, then the references and the graph. */
export function validateFlow(
  raw: unknown,
  file: string,
  options?: FlowValidationOptions,
): { flow?: LoadedFlow; problems: FlowProblem[] } {
  try {
    const result = validateParsed(raw, file, limitsOf(options), options?.allowLoopbackUrls ?? false);
    return { ...result, problems: capProblems(result.problems, file) };
  } catch (err) {
    return crashed(file, err);
  }
}

function validateParsed(
  raw: unknown,
  file: string,
  limits: FlowLimits,
  allowLoopbackUrls: boolean,
): { flow?: LoadedFlow; problems: FlowProblem[] } {
  const tooMany = countProblems(raw, file, limits);
  if (tooMany.length > 0) return { problems: tooMany };
  const parsed = flowFileSchema.safeParse(raw);
  if (!parsed.success) return { problems: zodProblems(file, parsed.error) };
  const flow = parsed.data;
  const problems: FlowProblem[] = [];
  const add = (path: PropertyKey[], message: string) =>
    problems.push({ file, path: jsonPath(path), message });
  // Own keys only: a reference to "constructor" or "toString" must not find Object.prototype's.
  const hasNode = (id: string) => Object.hasOwn(flow.nodes, id);
  const noNode = (id: string) => `no node named "${id}"${didYouMean(id, Object.keys(flow.nodes))}`;
  overlappingRanges(flow, add);

  // Entry points: every answer action, and the outbound start.
  const entries: Array<{ start: string; path: PropertyKey[] }> = [];
  flow.rules.forEach((rule, i) => {
    if (rule.then.type === 'answer')
      entries.push({ start: rule.then.start, path: ['rules', i, 'then', 'start'] });
    for (const key of ['open', 'closed'] as const) {
      const name = rule.when[key];
      if (name !== undefined && !Object.hasOwn(flow.schedules, name))
        add(
          ['rules', i, 'when', key],
          `no schedule named "${name}"${didYouMean(name, Object.keys(flow.schedules))}`,
        );
    }
  });
  if (flow.default.type === 'answer') entries.push({ start: flow.default.start, path: ['default', 'start'] });
  recordingsProblems(flow.recordings, allowLoopbackUrls, add);
  if (flow.outbound) entries.push({ start: flow.outbound.start, path: ['outbound', 'start'] });

  for (const e of entries) if (!hasNode(e.start)) add(e.path, noNode(e.start));
  checkVariableNames(flow, add);
  for (const [id, node] of Object.entries(flow.nodes)) {
    for (const edge of nodeEdges(node)) {
      if (!hasNode(edge.to)) add(['nodes', id, ...edge.path], noNode(edge.to));
    }
    for (const p of nodePrompts(node)) {
      // A play node's prompt index is an array index: $.nodes.x.prompts[1], as in the schema's own problems.
      const path = node.type === 'play' && p.path[0] === 'prompts' ? [p.path[0], Number(p.path[1])] : p.path;
      if (!Object.hasOwn(flow.prompts, p.name))
        add(
          ['nodes', id, ...path],
          `no prompt named "${p.name}"${didYouMean(p.name, Object.keys(flow.prompts))}`,
        );
    }
    if (node.type === 'collect' && node.minDigits > node.maxDigits)
      add(['nodes', id, 'minDigits'], `minDigits (${node.minDigits}) is over maxDigits (${node.maxDigits})`);
    if (node.type === 'http')
      checkHttpNode(flow, node, (path, message) => add(['nodes', id, ...path], message));
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

  // Every reference resolves from here on. The walks below use explicit stacks: a long chain
  // of nodes must not overflow the call stack of the process that serves every number.
  const successors = (id: string) => nodeEdges(flow.nodes[id]!).map((e) => e.to);
  const reachable = new Set(
    preorder(
      entries.map((e) => e.start),
      successors,
    ),
  );
  for (const id of Object.keys(flow.nodes)) {
    if (!reachable.has(id))
      add(['nodes', id], 'node is unreachable from every entry (answer rules, default, outbound)');
  }

  // A cycle made only of edges that do not wait for the caller would spin forever.
  const loop = findLoop(Object.keys(flow.nodes), (id) =>
    nodeEdges(flow.nodes[id]!)
      .filter((e) => !e.waitsForCaller)
      .map((e) => e.to),
  );
  if (loop) add(['nodes', loop[0]!], `loop that waits for no caller input: ${describeLoop(loop)}`);
  if (problems.length > 0) return { problems };
  checkVariablesSet(flow, entries, reachable, add);
  if (problems.length > 0) return { problems };

  const promptsByEntry = new Map<string, string[]>();
  for (const e of entries) {
    const names = new Set<string>();
    for (const id of preorder([e.start], successors))
      for (const p of nodePrompts(flow.nodes[id]!)) names.add(p.name);
    promptsByEntry.set(e.start, [...names]);
  }
  return { flow: { id: basename(file).replace(/\.json$/i, ''), file, flow, promptsByEntry }, problems: [] };
}

/** Voicemail delivery needs the audio kept, a usable webhook URL, and transcripts something to go with. */
function recordingsProblems(
  recordings: FlowFile['recordings'],
  allowLoopbackUrls: boolean,
  add: (path: PropertyKey[], message: string) => void,
): void {
  const { deliver, transcribe, persist } = recordings;
  if (deliver && !persist)
    add(
      ['recordings', 'deliver'],
      'delivering voicemail needs persist: true (the audio must be stored first)',
    );
  if (transcribe && !deliver)
    add(['recordings', 'transcribe'], 'transcripts go with delivered messages: set recordings.deliver too');
  const url = deliver?.webhook?.url;
  const problem = url === undefined ? null : webhookUrlProblem(url, allowLoopbackUrls);
  if (problem) add(['recordings', 'deliver', 'webhook', 'url'], `the webhook URL ${problem}`);
}

/**
 * Nodes reachable from `starts`, in the order a recursive depth-first walk would visit them
 * (so prompt lists keep their order), with an explicit stack instead of recursion.
 */
function preorder(starts: readonly string[], next: (id: string) => readonly string[]): string[] {
  const seen = new Set<string>();
  const order: string[] = [];
  // Pushed in reverse and checked when popped: the same order as recursion.
  const stack = [...starts].reverse();
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    order.push(id);
    const out = next(id);
    for (let i = out.length - 1; i >= 0; i--) if (!seen.has(out[i]!)) stack.push(out[i]!);
  }
  return order;
}

/** The first cycle found by a depth-first walk from each node in turn, as ids with the first repeated last. */
function findLoop(ids: readonly string[], next: (id: string) => readonly string[]): string[] | undefined {
  const done = new Set<string>();
  for (const root of ids) {
    if (done.has(root)) continue;
    // The current path, each node with its successors and how many of them were tried.
    const path: Array<{ id: string; out: readonly string[]; tried: number }> = [];
    const onPath = new Map<string, number>();
    const enter = (id: string) => {
      onPath.set(id, path.length);
      path.push({ id, out: next(id), tried: 0 });
    };
    enter(root);
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      if (top.tried === top.out.length) {
        path.pop();
        onPath.delete(top.id);
        done.add(top.id);
        continue;
      }
      const to = top.out[top.tried++]!;
      const at = onPath.get(to);
      if (at !== undefined) return [...path.slice(at).map((f) => f.id), to];
      if (!done.has(to)) enter(to);
    }
  }
  return undefined;
}

/** A loop as "a -> b -> a"; a very long one keeps its ends and says how long it is. */
function describeLoop(loop: readonly string[]): string {
  const LONG = 12;
  if (loop.length <= LONG) return loop.join(' -> ');
  return `${[...loop.slice(0, 5), '...', ...loop.slice(-5)].join(' -> ')} (${loop.length - 1} nodes)`;
}

/** Parses and validates one file's text. */
export function validateFlowText(
  text: string,
  file: string,
  options?: FlowValidationOptions,
): { flow?: LoadedFlow; problems: FlowProblem[] } {
  const { fileBytes } = limitsOf(options);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > fileBytes) return { problems: [tooBig(file, bytes, fileBytes)] };
  const parsed = parseFlowText(text);
  if ('problem' in parsed) return { problems: [{ file, path: '', message: parsed.problem }] };
  return validateFlow(parsed.value, file, options);
}

/**
 * JSON with comments and trailing commas (JSONC, as editors write it), parsed by jsonc-parser;
 * a syntax error says where, by line and column.
 */
export function parseFlowText(text: string): { value: unknown } | { problem: string } {
  // Plain JSON first: the common case, and V8's parser takes any depth (jsonc-parser recurses).
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    // JSONC, or an error to locate.
  }
  const errors: ParseError[] = [];
  let value: unknown;
  try {
    value = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false });
  } catch (err) {
    if (err instanceof RangeError) return { problem: 'not valid JSON: nested too deeply' };
    throw err;
  }
  const first = errors[0];
  if (!first) {
    if (value === undefined) return { problem: 'not valid JSON: the text is empty' };
    return { value };
  }
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return {
    problem: `not valid JSON at line ${line}, column ${column}: ${humanParseError(printParseErrorCode(first.error))}`,
  };
}

function humanParseError(code: string): string {
  // "CommaExpected" -> "comma expected"
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** `; did you mean "x"?` when a known name is a likely misspelling of `name`, else nothing. */
export function didYouMean(name: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  // A third of the name's length (at least 2 edits): further than that is another name, not a typo.
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))
    ? `; did you mean "${best}"?`
    : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** Two open ranges of one day that overlap are a mistake (which one was meant?): refused. */
function overlappingRanges(flow: FlowFile, add: (path: PropertyKey[], message: string) => void): void {
  for (const [name, schedule] of Object.entries(flow.schedules)) {
    for (const [day, ranges] of Object.entries(schedule.weekly)) {
      const sorted = (ranges ?? [])
        .map((r, i) => ({ r, i, from: r.slice(0, 5), to: r.slice(6) }))
        .sort((x, y) => (x.from < y.from ? -1 : x.from > y.from ? 1 : x.i - y.i));
      for (let k = 1; k < sorted.length; k++) {
        const [a, b] = [sorted[k - 1]!, sorted[k]!];
        if (b.from < a.to)
          add(['schedules', name, 'weekly', day, Math.max(a.i, b.i)], `${b.r} overlaps ${a.r} on ${day}`);
      }
    }
  }
}

function tooBig(file: string, bytes: number, limit: number): FlowProblem {
  return { file, path: '', message: `file is ${bytes} bytes, over the ${limit}-byte limit` };
}

/**
 * Reads a flow file, refusing one over the size limit before reading it. The size is taken
 * from the open descriptor and the read is bounded, so a file that grows meanwhile is refused too.
 */
function readFlowFile(file: string, limit: number): { text: string } | { problem: FlowProblem } {
  const cannotRead = (err: unknown): { problem: FlowProblem } => ({
    problem: { file, path: '', message: `cannot read the file: ${(err as Error).message}` },
  });
  let fd: number;
  try {
    // stat first: opening a FIFO named *.json would block the load.
    const stat = statSync(file);
    if (stat.isFile() && stat.size > limit) return { problem: tooBig(file, stat.size, limit) };
    if (!stat.isFile() && !stat.isDirectory()) return cannotRead(new Error('not a regular file'));
    fd = openSync(file, 'r');
  } catch (err) {
    return cannotRead(err);
  }
  try {
    const opened = fstatSync(fd);
    if (opened.isFile() && opened.size > limit) return { problem: tooBig(file, opened.size, limit) };
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    // It grew after the check: refuse it with its size now.
    if (length > limit) return { problem: tooBig(file, fstatSync(fd).size, limit) };
    return { text: buffer.toString('utf8', 0, length) };
  } catch (err) {
    return cannotRead(err);
  } finally {
    closeSync(fd);
  }
}

/** Every flow of a directory, indexed by number and aliases. Invalid files are reported, never half-applied. */
export interface FlowCatalog {
  byIdentity: ReadonlyMap<string, LoadedFlow>;
  byId: ReadonlyMap<string, LoadedFlow>;
  problems: FlowProblem[];
}

/** Flow files of a folder: not the JSON Schemas, nor the flow tests (`npm run flows -- test`). */
export function isFlowFileName(name: string): boolean {
  return name.endsWith('.json') && !name.endsWith('.schema.json') && !name.endsWith('.test.json');
}

export function loadFlowDirectory(dir: string, options?: FlowValidationOptions): FlowCatalog {
  const byIdentity = new Map<string, LoadedFlow>();
  const byId = new Map<string, LoadedFlow>();
  const problems: FlowProblem[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).filter(isFlowFileName).sort();
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
    try {
      const problem = addFlowFile(file, options, byIdentity, byId);
      if (problem) problems.push(...problem);
    } catch (err) {
      // Whatever goes wrong with one file is that file's problem: the other numbers still load.
      problems.push(...crashed(file, err).problems);
    }
  }
  return { byIdentity, byId, problems };
}

/** Validates one file and indexes it; returns its problems, or nothing once it is in the catalog. */
function addFlowFile(
  file: string,
  options: FlowValidationOptions | undefined,
  byIdentity: Map<string, LoadedFlow>,
  byId: Map<string, LoadedFlow>,
): FlowProblem[] | undefined {
  const read = readFlowFile(file, limitsOf(options).fileBytes);
  if ('problem' in read) return [read.problem];
  const result = validateFlowText(read.text, file, options);
  if (!result.flow) return result.problems;
  const loaded = { ...result.flow, text: read.text };
  const f = loaded.flow;
  const identities = [f.number, ...f.aliases, ...(f.applicationInstanceId ? [f.applicationInstanceId] : [])];
  const clash = identities.find((id) => byIdentity.has(id));
  if (clash) {
    const path =
      clash === f.number
        ? '$.number'
        : f.aliases.includes(clash)
          ? `$.aliases[${f.aliases.indexOf(clash)}]`
          : '$.applicationInstanceId';
    return [{ file, path, message: `"${clash}" is already configured by ${byIdentity.get(clash)!.file}` }];
  }
  for (const id of identities) byIdentity.set(id, loaded);
  byId.set(loaded.id, loaded);
  return undefined;
}

type AddProblem = (path: PropertyKey[], message: string) => void;

/** Every variable the flow can set: the built-ins, outbound request variables, collect and http nodes. */
function knownVariables(flow: FlowFile): Set<string> {
  const known = new Set<string>([...BUILT_IN_VARIABLES, ...Object.keys(flow.outbound?.variables ?? {})]);
  for (const node of Object.values(flow.nodes))
    for (const name of nodeWrites(node)?.names ?? []) known.add(name);
  return known;
}

/** Names are checked before the graph: a built-in is never overwritten, a read names a variable that exists. */
function checkVariableNames(flow: FlowFile, add: AddProblem): void {
  const known = [...knownVariables(flow)];
  const builtIn = (name: string) =>
    `"${name}" is a built-in variable (${BUILT_IN_VARIABLES.join(', ')}): it cannot be set`;
  for (const name of Object.keys(flow.outbound?.variables ?? {}))
    if (isBuiltInVariable(name)) add(['outbound', 'variables', name], builtIn(name));
  for (const [id, node] of Object.entries(flow.nodes)) {
    if (node.type === 'collect' && isBuiltInVariable(node.into))
      add(['nodes', id, 'into'], builtIn(node.into));
    if (node.type === 'http')
      for (const name of Object.keys(node.map))
        if (isBuiltInVariable(name)) add(['nodes', id, 'map', name], builtIn(name));
    for (const read of nodeReads(node))
      if (!known.includes(read.name))
        add(['nodes', id, ...read.path], `no variable named "${read.name}"${didYouMean(read.name, known)}`);
  }
  flow.rules.forEach((rule, i) =>
    rule.when.variables?.forEach((test, j) => {
      if (!isBuiltInVariable(test.variable))
        add(
          ['rules', i, 'when', 'variables', j, 'variable'],
          `a rule knows only the built-in variables (${BUILT_IN_VARIABLES.join(', ')}), not "${test.variable}"`,
        );
    }),
  );
}

/**
 * Every variable read is set on every path that reaches the read: the variables set on
 * arrival at a node are those set on every way in (a forward "must" analysis, to a fixed point).
 * A collect sets its variable only on `next`, an http node its map only on `success`.
 * promptsBy is exempt: it plays `prompts` when its variable is unset.
 */
function checkVariablesSet(
  flow: FlowFile,
  entries: ReadonlyArray<{ start: string; path: PropertyKey[] }>,
  reachable: ReadonlySet<string>,
  add: AddProblem,
): void {
  const reads = Object.values(flow.nodes).some((n) => nodeReads(n).some((r) => !r.soft));
  if (!reads) return;
  const incoming = new Set<string>(BUILT_IN_VARIABLES);
  const outbound = new Set<string>([
    ...BUILT_IN_VARIABLES,
    ...Object.entries(flow.outbound?.variables ?? {})
      .filter(([, v]) => v.required)
      .map(([name]) => name),
  ]);
  // null: no way in seen yet (the top of the lattice: everything).
  const setAt = new Map<string, Set<string> | null>([...reachable].map((id) => [id, null]));
  const meet = (id: string, arriving: ReadonlySet<string>): boolean => {
    const current = setAt.get(id);
    if (current === undefined) return false;
    if (current === null) {
      setAt.set(id, new Set(arriving));
      return true;
    }
    let changed = false;
    for (const name of current)
      if (!arriving.has(name)) {
        current.delete(name);
        changed = true;
      }
    return changed;
  };
  const work: string[] = [];
  for (const e of entries) {
    const isOutbound = e.path[0] === 'outbound';
    meet(e.start, isOutbound ? outbound : incoming);
    work.push(e.start);
  }
  while (work.length > 0) {
    const id = work.pop()!;
    const node = flow.nodes[id]!;
    const here = setAt.get(id) ?? new Set<string>();
    const writes = nodeWrites(node);
    for (const edge of nodeEdges(node)) {
      const leaving =
        writes && edge.path.at(-1) === writes.onEdge ? new Set([...here, ...writes.names]) : here;
      if (meet(edge.to, leaving)) work.push(edge.to);
    }
  }
  for (const id of reachable) {
    const node = flow.nodes[id]!;
    const here = setAt.get(id) ?? new Set<string>();
    for (const read of nodeReads(node))
      if (!read.soft && !here.has(read.name))
        add(
          ['nodes', id, ...read.path],
          `variable "${read.name}" may be unset here: some path to "${id}" does not set it (a collect sets its variable on next, an http node its map on success)`,
        );
  }
}

/** An http node: an https URL on the flow's allow list, templates well formed, no body on GET or DELETE. */
function checkHttpNode(
  flow: FlowFile,
  node: NodeOf<'http'>,
  add: (path: PropertyKey[], message: string) => void,
): void {
  const templates: Array<[string, PropertyKey[]]> = [
    [node.url, ['url']],
    ...node.headers.flatMap((h, i): Array<[string, PropertyKey[]]> =>
      'value' in h ? [[h.value, ['headers', i, 'value']]] : [],
    ),
    ...Object.entries(node.body ?? {}).map(([k, v]): [string, PropertyKey[]] => [v, ['body', k]]),
  ];
  for (const [text, path] of templates) {
    const t = templateNames(text);
    if ('problem' in t) add(path, t.problem);
  }
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(node.url)?.[0] ?? node.url;
  if (/[{}]/.test(origin)) return add(['url'], 'the scheme and host of a url are fixed: no {variable} there');
  let url: URL;
  try {
    url = new URL(node.url.replace(/\{[A-Za-z][A-Za-z0-9_]*\}/g, 'x'));
  } catch {
    return add(['url'], 'not an absolute URL');
  }
  if (url.protocol !== 'https:') return add(['url'], `an http node calls https only (got ${url.protocol})`);
  if (url.username || url.password)
    return add(['url'], 'a url carries no credentials: use a header fromSetting');
  const allowed = flow.http?.allowedHosts ?? [];
  const host = url.hostname.toLowerCase();
  if (!allowed.some((h) => h.toLowerCase() === host))
    add(
      ['url'],
      `host "${url.hostname}" is not on http.allowedHosts${allowed.length ? ` (${allowed.join(', ')})` : ' (empty)'}`,
    );
  const seen = new Set<string>();
  node.headers.forEach((h, i) => {
    const name = h.header.toLowerCase();
    if (seen.has(name)) add(['headers', i, 'header'], `header "${h.header}" is given twice`);
    seen.add(name);
  });
  if (node.body && (node.method === 'GET' || node.method === 'DELETE'))
    add(['body'], `a ${node.method} request has no body: use POST, PUT or PATCH, or {variable} in the url`);
}
