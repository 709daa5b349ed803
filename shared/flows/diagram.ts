import type { FlowFile, FlowNode, IncomingAction, NodeOf, Rule } from './schema';

/**
 * A flow as a Mermaid flowchart, paste-ready for GitHub or Azure DevOps markdown: the
 * incoming-call rules in order (with their schedules), the outbound entry, every node, and
 * every way out of each node (digits, no input, invalid, max attempts, each recording outcome,
 * transfer failure).
 */

/** Mermaid labels go in double quotes: quotes and markup characters become entities. */
function label(text: string): string {
  return `"${text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;')}"`;
}

function conditions(rule: Rule, flow: FlowFile): string {
  const w = rule.when;
  const parts: string[] = [];
  if (w.callerIn) parts.push(`caller in ${w.callerIn.join(', ')}`);
  if (w.callerNotIn) parts.push(`caller not in ${w.callerNotIn.join(', ')}`);
  const hours = (name: string) => {
    const s = flow.schedules[name];
    if (!s) return name;
    const days = Object.entries(s.weekly)
      .map(([day, ranges]) => `${day} ${(ranges ?? []).join(' ')}`)
      .join('; ');
    return `${name} (${s.timeZone}: ${days || 'never'}${s.holidays.length ? `; ${s.holidays.length} holidays` : ''})`;
  };
  if (w.open) parts.push(`open: ${hours(w.open)}`);
  if (w.closed) parts.push(`closed: ${hours(w.closed)}`);
  for (const t of w.variables ?? []) parts.push(describeTest(t));
  return parts.join(' and ');
}

export function flowDiagram(flow: FlowFile): string {
  const ids = new Map<string, string>();
  Object.keys(flow.nodes).forEach((id, i) => ids.set(id, `n${i}`));
  const ref = (id: string) => ids.get(id) ?? `missing_${id.replace(/\W/g, '_')}`;
  const lines = ['flowchart TD'];
  const edge = (from: string, to: string, text?: string) =>
    lines.push(text === undefined ? `  ${from} --> ${to}` : `  ${from} -- ${label(text)} --> ${to}`);
  let endings = 0;
  const action = (a: IncomingAction): string => {
    if (a.type === 'answer') return ref(a.start);
    const id = `end${endings++}`;
    if (a.type === 'reject') lines.push(`  ${id}[/${label(`reject (${a.reason})`)}/]`);
    else {
      const targets = a.targets.map((t) =>
        'phone' in t ? t.phone : 'user' in t ? `user ${t.user}` : `app ${t.applicationInstance}`,
      );
      lines.push(`  ${id}[/${label(`redirect to ${targets.join(', ')}`)}/]`);
    }
    return id;
  };

  lines.push(`  incoming((${label(`incoming call to ${flow.number}`)}))`);
  let from = 'incoming';
  flow.rules.forEach((rule, i) => {
    const id = `rule${i}`;
    lines.push(`  ${id}{${label(`${rule.name ?? `rule ${i + 1}`}: ${conditions(rule, flow)}`)}}`);
    edge(from, id, i === 0 ? undefined : 'no match');
    edge(id, action(rule.then), rule.then.type === 'answer' ? 'match: answer' : 'match');
    from = id;
  });
  edge(from, action(flow.default), flow.rules.length > 0 ? 'no rule matches' : 'answer');
  if (flow.outbound) {
    lines.push(`  outbound((${label('outbound call')}))`);
    edge('outbound', ref(flow.outbound.start), 'answered');
  }

  for (const [id, node] of Object.entries(flow.nodes)) {
    lines.push(`  ${ref(id)}${shape(id, node)}`);
    nodeEdges(ref(id), node, ref, edge, () => `end${endings++}`, lines);
  }
  return `${lines.join('\n')}\n`;
}

function shape(id: string, node: FlowNode): string {
  switch (node.type) {
    case 'play':
      return `[${label(`${id}: play ${node.prompts.join(', ')}`)}]`;
    case 'menu':
      return `{{${label(`${id}: menu ${node.prompt} (${node.maxAttempts} attempts)`)}}}`;
    case 'record':
      return `[(${label(`${id}: record up to ${node.maxRecordDurationSeconds} s`)})]`;
    case 'transfer': {
      const t = node.target;
      return `[[${label(`${id}: transfer to ${'phone' in t ? t.phone : `user ${t.user}`}`)}]]`;
    }
    case 'hangup':
      return `([${label(`${id}: hang up${node.prompt ? ` after ${node.prompt}` : ''}`)}])`;
    case 'collect':
      return `{{${label(`${id}: collect ${node.minDigits}-${node.maxDigits} digits into ${node.into} after ${node.prompt}`)}}}`;
    case 'branch':
      return `{${label(`${id}: branch`)}}`;
    case 'http': {
      const mapped = Object.keys(node.map);
      return `[/${label(`${id}: ${node.method} ${node.url}${mapped.length ? ` -> ${mapped.join(', ')}` : ''}`)}/]`;
    }
  }
}

/** A branch case as text: "status = shipped", "amount 10..100". */
function describeTest(c: Omit<NodeOf<'branch'>['cases'][number], 'next'>): string {
  const parts: string[] = [];
  if (c.equals !== undefined) parts.push(`= ${c.equals}`);
  if (c.in !== undefined) parts.push(`in ${c.in.join(', ')}`);
  if (c.matches !== undefined) parts.push(`matches ${c.matches}`);
  if (c.min !== undefined || c.max !== undefined) parts.push(`${c.min ?? '…'}..${c.max ?? '…'}`);
  return `${c.variable} ${parts.join(' and ')}`;
}

function nodeEdges(
  from: string,
  node: FlowNode,
  ref: (id: string) => string,
  edge: (from: string, to: string, text?: string) => void,
  newEnd: () => string,
  lines: string[],
): void {
  switch (node.type) {
    case 'play':
      return void edge(from, ref(node.next));
    case 'menu':
      for (const [digits, to] of Object.entries(node.options)) edge(from, ref(to), digits);
      if (node.maxAttempts > 1) {
        edge(from, from, 'no input: prompt again');
        edge(from, from, 'invalid: prompt again');
      }
      return void edge(from, ref(node.fallback), `no input / invalid, max attempts (${node.maxAttempts})`);
    case 'record': {
      const n = node.next;
      edge(from, ref(n.stopTone), `stop tone ${node.stopTones.join(' ')}`.trim());
      edge(from, ref(n.maxDuration), 'max duration');
      edge(from, ref(n.silence), n.noInput === undefined ? 'silence / no input' : 'silence');
      edge(from, ref(n.failure), 'failure');
      if (node.maxAttempts > 1) edge(from, from, 'no input: ask again');
      if (n.noInput !== undefined) edge(from, ref(n.noInput), `no input, max attempts (${node.maxAttempts})`);
      return;
    }
    case 'transfer': {
      const done = newEnd();
      lines.push(`  ${done}([${label('transferred')}])`);
      edge(from, done, 'accepted');
      return void edge(from, ref(node.fallback), 'transfer failed');
    }
    case 'hangup':
      return;
    case 'collect':
      edge(from, ref(node.next), `valid entry: ${node.into}`);
      if (node.maxAttempts > 1) {
        edge(from, from, 'no input: prompt again');
        edge(from, from, 'invalid: prompt again');
      }
      return void edge(from, ref(node.fallback), `no input / invalid, max attempts (${node.maxAttempts})`);
    case 'branch':
      for (const c of node.cases) edge(from, ref(c.next), describeTest(c));
      return void edge(from, ref(node.default), 'default');
    case 'http': {
      const n = node.next;
      edge(from, ref(n.success), 'success');
      for (const [outcome, text] of [
        ['clientError', '4xx'],
        ['serverError', '5xx'],
        ['timeout', `timeout (${node.timeoutSeconds} s)`],
        ['invalidAnswer', 'invalid answer'],
      ] as const) {
        const to = n[outcome];
        if (to !== undefined) edge(from, ref(to), text);
      }
      return void edge(from, ref(n.failure), 'failure');
    }
  }
}
