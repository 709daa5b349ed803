import type { Simulator } from './simulator';
import type { CallSummary } from './platform';

/**
 * Turns a finished call into what users read: the simulator's timeline (platform, caller,
 * the bot's requests) followed by what only the bot knows, from its call record: which rule
 * decided, the nodes and keys, and where each recording was stored.
 */

interface BotRecord {
  decision?: { type: string; rule?: string };
  nodesVisited?: string[];
  digits?: string[];
  failures?: Array<{ what: string; message?: string }>;
  variables?: Record<string, string>;
  lookups?: Array<{ node: string; outcome: string; status?: number }>;
  recordings?: Array<{
    status: string;
    blobName: string | null;
    bytes: number | null;
    durationSeconds: number | null;
    error: string | null;
  }>;
}

export function describeResult(summary: CallSummary): string {
  const r = summary.resultInfo;
  const code = `${r.code}/${r.subcode ?? 0}`;
  if (summary.answeredBy) return `answered by ${summary.answeredBy} (${code})`;
  return `${r.message ?? 'ended'} (${code})`;
}

export function callReport(
  sim: Simulator,
  summary: CallSummary,
  record: Record<string, unknown> | null,
  container: string,
): string {
  const rec = (record ?? {}) as BotRecord;
  const end = summary.timeline.at(-1)?.t ?? 0;
  const lines = [sim.formatTimeline(summary.callId)];
  lines.push(`   result:    ${describeResult(summary)} after ${end.toFixed(1)} s`);
  if (rec.decision)
    lines.push(
      `   decision:  ${rec.decision.type}${rec.decision.rule ? ` (rule: ${rec.decision.rule})` : ''}`,
    );
  if (rec.nodesVisited?.length) lines.push(`   nodes:     ${rec.nodesVisited.join(' > ')}`);
  if (rec.digits?.length) lines.push(`   keys:      ${rec.digits.join(' ')}`);
  for (const l of rec.lookups ?? [])
    lines.push(`   lookup:    ${l.node}: ${l.outcome}${l.status !== undefined ? ` (${l.status})` : ''}`);
  if (rec.variables)
    lines.push(
      `   variables: ${Object.entries(rec.variables)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  for (const r of rec.recordings ?? []) {
    lines.push(
      r.status === 'stored'
        ? `   recording: stored in blob ${container}/${r.blobName} (${r.bytes} bytes${r.durationSeconds != null ? `, ${r.durationSeconds} s` : ''})`
        : `   recording: ${r.status}${r.error ? ` (${r.error})` : ''}`,
    );
  }
  for (const f of rec.failures ?? [])
    lines.push(`   failed:    ${f.what}${f.message ? `: ${f.message}` : ''}`);
  if (!record) lines.push('   (the bot has no record of this call)');
  return lines.join('\n');
}
