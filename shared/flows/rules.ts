import type { FlowFile, IncomingAction, Rule, Schedule } from './schema';
import { testPasses } from './variables';

/** Pure rule evaluation: which action an incoming call gets. Time comes in; nothing is read from the clock. */

export interface RuleDecision {
  action: IncomingAction;
  /** Name (or index) of the rule that matched, or "default". */
  matched: string;
}

export function matchesCallerPattern(caller: string | null, pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern === 'anonymous') return caller === null;
  if (caller === null) return false;
  if (pattern === '+*') return caller.startsWith('+');
  return pattern.endsWith('*') ? caller.startsWith(pattern.slice(0, -1)) : caller === pattern;
}

const WEEKDAYS: Record<string, string> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local date, weekday and HH:MM of an instant in a time zone. */
export function localTime(now: Date, timeZone: string): { date: string; day: string; time: string } {
  let fmt = formatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(timeZone, fmt);
  }
  const parts = Object.fromEntries(fmt.formatToParts(now).map((p) => [p.type, p.value]));
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    day: WEEKDAYS[parts.weekday!]!,
    time: `${parts.hour}:${parts.minute}`,
  };
}

export function isOpen(schedule: Schedule, now: Date): boolean {
  const local = localTime(now, schedule.timeZone);
  if (schedule.holidays.includes(local.date)) return false;
  const ranges = schedule.weekly[local.day as keyof Schedule['weekly']] ?? [];
  return ranges.some((r) => {
    const [from, to] = r.split('-') as [string, string];
    return local.time >= from && local.time < to;
  });
}

/** The variables a rule can test: the built-ins, as an incoming call has them. */
export function incomingVariables(flow: FlowFile, caller: string | null): Record<string, string> {
  return { caller: caller ?? '', called: flow.number, number: flow.number };
}

export function ruleMatches(
  rule: Rule,
  flow: FlowFile,
  caller: string | null,
  now: Date,
  variables: Readonly<Record<string, string>> = incomingVariables(flow, caller),
): boolean {
  const w = rule.when;
  if (w.variables && !w.variables.every((t) => testPasses(t, variables[t.variable]))) return false;
  if (w.callerIn && !w.callerIn.some((p) => matchesCallerPattern(caller, p))) return false;
  if (w.callerNotIn && w.callerNotIn.some((p) => matchesCallerPattern(caller, p))) return false;
  if (w.open !== undefined && !isOpen(flow.schedules[w.open]!, now)) return false;
  if (w.closed !== undefined && isOpen(flow.schedules[w.closed]!, now)) return false;
  return true;
}

export function decideIncoming(flow: FlowFile, caller: string | null, now: Date): RuleDecision {
  const variables = incomingVariables(flow, caller);
  for (const [i, rule] of flow.rules.entries()) {
    if (ruleMatches(rule, flow, caller, now, variables))
      return { action: rule.then, matched: rule.name ?? `rules[${i}]` };
  }
  return { action: flow.default, matched: 'default' };
}
