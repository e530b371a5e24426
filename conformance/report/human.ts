// The report a person reads: per profile a header, transition coverage, a line per
// requirement, and on failure the violation, the counterexample as a numbered trace,
// its configuration and the command that replays it.
import type { ProfileResult } from '../engine/run-profile.ts';
import {
  configLine,
  coveragePercent,
  kindLabel,
  overallVerdict,
  replayCommand,
  requirementText,
  shorten,
  sortedRequirements,
  traceLines,
  unique,
  verdictLabel,
  type ReportContext,
} from './common.ts';

const REQ_LABEL = { pass: 'pass', fail: 'FAIL', undecided: 'UNDECIDED' } as const;
const WRAP = 100;

/** Joins `items` with ", " into lines of at most about `width` characters, each prefixed with `indent`. */
function wrapList(items: readonly string[], indent: string, width = WRAP): string[] {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    const next = line === '' ? item : `${line}, ${item}`;
    if (line !== '' && indent.length + next.length > width) {
      lines.push(`${indent}${line},`);
      line = item;
    } else line = next;
  }
  if (line !== '') lines.push(`${indent}${line}`);
  return lines;
}

export function profileHeader(r: ProfileResult): string {
  return `profile ${r.name} (adapter ${r.adapter}): ${verdictLabel(r.verdict)}  — ${r.runs} runs, ${r.commands} commands, ${r.seconds} s, seed ${r.seed}`;
}

export function humanProfile(r: ProfileResult, ctx: ReportContext = {}): string {
  const out: string[] = [profileHeader(r)];
  for (const [machine, c] of Object.entries(r.transitionCoverage)) {
    out.push(`  coverage ${machine} ${c.covered}/${c.total} (${coveragePercent(c.covered, c.total)}%)`);
    if (c.covered === 0 && c.total > 0) out.push('    missing: every transition');
    else if (c.covered < c.total && c.missing.length > 0) out.push('    missing:', ...wrapList(c.missing, '      '));
  }
  const labelWidth = Math.max(0, ...r.requirements.map((q) => REQ_LABEL[q.verdict].length));
  const idWidth = Math.max(0, ...r.requirements.map((q) => q.id.length));
  for (const q of sortedRequirements(r)) {
    out.push(`  ${REQ_LABEL[q.verdict].padEnd(labelWidth)} ${q.id.padEnd(idWidth)}  ${shorten(requirementText(q.id))}`);
  }
  if (r.unreached !== undefined && r.unreached.length > 0) out.push(`  not reached by this run (no verdict): ${r.unreached.join(', ')}`);
  if (r.verdict === 'does-not-conform') out.push(...failureLines(r, ctx));
  if (r.undecided !== undefined) out.push(...undecidedLines(r));
  else if (r.verdict === 'undecided') out.push('  UNDECIDED: the engine gave no reason');
  return out.join('\n');
}

function failureLines(r: ProfileResult, ctx: ReportContext): string[] {
  const out: string[] = [];
  const ce = r.counterexample;
  if (ce === undefined) {
    out.push('  DOES NOT CONFORM, but the engine recorded no counterexample');
  } else {
    const v = ce.violation;
    out.push(`  ${kindLabel(v.kind)} [${unique(v.req).join(', ')}]`);
    out.push(`    expected: ${v.expected}`);
    out.push(`    got:      ${v.actual}`);
    out.push(`  counterexample (${ce.steps.length} step${ce.steps.length === 1 ? '' : 's'}):`);
    if (ce.steps.length === 0) out.push('    (no steps recorded)');
    out.push(...traceLines(ce.steps).map((l) => `    ${l}`));
    out.push(`  config: ${configLine(ce.config)}`);
  }
  const cmd = replayCommand(r, ctx);
  if (cmd !== undefined) out.push(`  replay: ${cmd}`);
  return out;
}

function undecidedLines(r: ProfileResult): string[] {
  const u = r.undecided!;
  const out = [`  UNDECIDED: ${u.message}`];
  out.push(`  steps so far (${u.steps.length}):`);
  if (u.steps.length === 0) out.push('    (none)');
  out.push(...traceLines(u.steps).map((l) => `    ${l}`));
  return out;
}

/** Transition coverage over all the profiles of a run: a transition counts if any profile took it. */
export function unionCoverage(results: readonly ProfileResult[]): Record<string, { covered: number; total: number; missing: string[] }> {
  const out: Record<string, { covered: number; total: number; missing: string[] }> = {};
  for (const r of results) {
    for (const [machine, c] of Object.entries(r.transitionCoverage)) {
      const prev = out[machine];
      const missing = prev === undefined ? [...c.missing] : prev.missing.filter((k) => c.missing.includes(k));
      out[machine] = { covered: c.total - missing.length, total: c.total, missing };
    }
  }
  return out;
}

/** Every profile, a blank line between, the coverage over all of them, and a last line with the overall verdict. */
export function humanReport(results: readonly ProfileResult[], ctx: ReportContext = {}): string {
  const parts = results.map((r) => humanProfile(r, ctx));
  if (results.length > 1) {
    const union = Object.entries(unionCoverage(results)).map(([m, c]) => `${m} ${c.covered}/${c.total} (${coveragePercent(c.covered, c.total)}%)`);
    parts.push(`transition coverage over all profiles: ${union.join(', ')}`);
  }
  const verdict = overallVerdict(results);
  const counts = results.map((r) => `${r.name} ${verdictLabel(r.verdict)}`).join(', ');
  parts.push(`verdict: ${verdictLabel(verdict)} (${counts || 'no profiles'})`);
  return `${parts.join('\n\n')}\n`;
}
