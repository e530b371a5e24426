// The report a person reads: per profile a header, transition coverage, a line per
// requirement, and on failure the violation, the counterexample as a numbered trace,
// its configuration and the command that replays it.
import { mergeForbidden, type CoverageFigure } from '../../model/run-context.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import { configLine, coveragePercent, crashLines, shrinkStoppedText, kindLabel, overallVerdict, replayCommand, requirementText, shorten, sortedRequirements, traceLines, unique, verdictLabel, type ReportContext } from './common.ts';

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

/** The runs of a result: "1 run", "200 runs", or "1000 random + 83 directed runs". */
export function runsText(r: Pick<ProfileResult, 'runs' | 'directedRuns'>): string {
  const directed = r.directedRuns ?? 0;
  if (directed > 0) return `${r.runs - directed} random + ${directed} directed run${r.runs === 1 ? '' : 's'}`;
  return `${r.runs} run${r.runs === 1 ? '' : 's'}`;
}

/** ", contract NAME" (and the declared one when it differs) for a result of the smmu profiles. */
export function contractText(r: Pick<ProfileResult, 'contract'>): string {
  const c = r.contract;
  // strict, the default, is named on a line of its own (contractLines), so the header stays as it was.
  if (c === undefined || (c.name === 'strict' && c.declared === undefined)) return '';
  return `, contract ${c.name}${c.declared === undefined ? '' : ` (the adapter declares ${c.declared})`}`;
}

export function profileHeader(r: ProfileResult): string {
  return `profile ${r.name} (adapter ${r.adapter}${contractText(r)}): ${verdictLabel(r.verdict)}  — ${runsText(r)}, ${r.commands} command${r.commands === 1 ? '' : 's'}, ${r.seconds} s, seed ${r.seed}`;
}

/** How the text report names a transition in its coverage lines (also in SPEC.md). */
export const COVERAGE_LEGEND =
  'coverage: a missing transition is named STATE --EVENT#N: the source state, the event, and N, the index (from 0) of the candidate transition among those the machine tries, in order, for that event in that state (SPEC.md lists them per machine)';

/** Printed once when a requirement text was cut. */
export const CUT_NOTE = 'requirement texts are cut to one line: --verbose prints them whole, and `dirtyspec list` lists every requirement with its text and source';

/** What a profile's lines used, for the report's notes: a missing transition named, a requirement text cut. */
interface Notes {
  missingNamed: boolean;
  textCut: boolean;
}

/**
 * A profile's lines. Undecided: the reason first (and, when the shrunk sequence is
 * undecided again, its steps and the replay command), then coverage, and the
 * requirements not decided on one line. `sameAs`: an earlier profile of the report with
 * the very same reason and no steps (one handshake failure): referred to, not repeated.
 */
export function humanProfile(r: ProfileResult, ctx: ReportContext = {}, notes: Notes = { missingNamed: false, textCut: false }, sameAs?: string): string {
  const out: string[] = [profileHeader(r)];
  if (sameAs !== undefined) {
    out.push(`  UNDECIDED: the same reason as profile ${sameAs} above`);
    return out.join('\n');
  }
  if (r.undecided !== undefined) out.push(...undecidedLines(r, ctx));
  else if (r.verdict === 'undecided') out.push('  UNDECIDED: the engine gave no reason');
  for (const [machine, c] of Object.entries(r.transitionCoverage)) {
    out.push(`  coverage ${machine} ${c.covered}/${c.total} (${coveragePercent(c.covered, c.total)}%)`);
    if (c.covered === 0 && c.total > 0) out.push('    missing: every transition');
    else if (c.covered < c.total && c.missing.length > 0) {
      out.push('    missing:', ...wrapList(c.missing, '      '));
      notes.missingNamed = true;
    }
    out.push(...forbiddenLines(c.forbidden));
  }
  const decided = sortedRequirements(r).filter((q) => q.verdict !== 'undecided');
  const labelWidth = Math.max(0, ...decided.map((q) => REQ_LABEL[q.verdict].length));
  const idWidth = Math.max(0, ...decided.map((q) => q.id.length));
  for (const q of decided) {
    const full = requirementText(q.id).replace(/\s+/g, ' ').trim();
    const text = ctx.verbose === true ? full : shorten(full);
    if (text !== full) notes.textCut = true;
    out.push(`  ${REQ_LABEL[q.verdict].padEnd(labelWidth)} ${q.id.padEnd(idWidth)}  ${text}`);
  }
  const notDecided = sortedRequirements(r).filter((q) => q.verdict === 'undecided');
  if (notDecided.length > 0) out.push(`  not decided (${notDecided.length} requirement${notDecided.length === 1 ? '' : 's'}; the run was undecided): ${notDecided.map((q) => q.id).join(', ')}`);
  if (r.unreached !== undefined && r.unreached.length > 0) out.push(`  not reached by this run (no verdict): ${r.unreached.join(', ')}`);
  if (r.verdict === 'does-not-conform') out.push(...failureLines(r, ctx));
  out.push(...contractLines(r));
  return out.join('\n');
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * The contract's part of a result, apart from the verdict: the configurations create
 * refused, the pages the contract lost by design in the random runs (not charged), and
 * the contract's hazards, each with its shortest scenario and whether it was shown.
 */
export function contractLines(r: ProfileResult): string[] {
  const c = r.contract;
  if (c === undefined) return [];
  const out: string[] = [];
  if (c.name === 'strict' && c.declared === undefined) out.push("  contract: strict (the kit's own rules; docs/CONTRACTS.md has the others)");
  if (c.refused.length > 0) {
    out.push(`  create refused (as contract ${c.name} allows; those sequences ran nothing):`);
    for (const x of c.refused) out.push(`    ${x.config}: ${x.errno} (${x.sequences} sequence${x.sequences === 1 ? '' : 's'})`);
  }
  const excused = Object.entries(c.excused);
  if (excused.length > 0) out.push(`  pages lost by the contract's design in these runs, not charged: ${excused.map(([rule, n]) => `${rule} ${n}`).join(', ')}`);
  if (c.hazards.length > 0) {
    out.push(`  hazards of contract ${c.name} (not part of the verdict: the contract allows them):`);
    for (const h of c.hazards) {
      const shown = h.onImplementation === 'demonstrated' ? 'demonstrated on the implementation' : h.onImplementation === 'not-shown' ? 'not shown by the implementation' : 'not run on the implementation';
      out.push(`    ${h.id} (${h.nature}; ${h.req.join(', ')}): ${h.title}`);
      out.push(`      ${shown}${h.note === undefined ? '' : ` (${h.note})`}; the contract's simulation ${h.bySimulation ? 'misses' : 'does not miss'} ${h.misses.pages.map(hex).join(', ')} at step ${h.misses.atStep + 1}`);
      h.scenario.forEach((s, i) => out.push(`      ${i + 1}. ${s}`));
    }
  }
  return out;
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
    out.push(...crashLines(ce.crash).map((l) => `    ${l}`));
    out.push(`  counterexample (${ce.steps.length} step${ce.steps.length === 1 ? '' : 's'}):`);
    if (r.shrinkStopped !== undefined) out.push(`    (${shrinkStoppedText(r.shrinkStopped)})`);
    if (ce.steps.length === 0) out.push('    (no steps recorded)');
    out.push(...traceLines(ce.steps).map((l) => `    ${l}`));
    out.push(`  config: ${configLine(ce.config)}`);
  }
  const cmd = replayCommand(r, ctx);
  if (cmd !== undefined) out.push(`  replay: ${cmd}`, ...blockSeedLine(r));
  return out;
}

/** Why the replay's --seed is not the run's: the campaign runs in blocks of 100 runs, each from a seed of its own, and a failure replays as its block's. */
function blockSeedLine(r: ProfileResult): string[] {
  return r.replay === undefined || r.replay.seed === r.seed ? [] : [`  (--seed ${r.replay.seed} is the seed of the block of runs it failed in, which this campaign's --seed ${r.seed} derives: the replay runs that block's sequence alone)`];
}

function undecidedLines(r: ProfileResult, ctx: ReportContext): string[] {
  const u = r.undecided!;
  const out = [`  UNDECIDED: ${u.message}`];
  const cmd = replayCommand(r, ctx);
  if (cmd !== undefined) out.push(`  steps (${u.steps.length}, shrunk: the replay command runs them again):`);
  else if (u.steps.length > 0) out.push(`  steps so far (${u.steps.length}):`);
  out.push(...traceLines(u.steps).map((l) => `    ${l}`));
  if (cmd !== undefined) out.push(`  replay: ${cmd}`, ...blockSeedLine(r));
  return out;
}

const FORBIDDEN_TEXT = { checked: 'checked, never taken', taken: 'TAKEN (a run failed on it)', unchecked: 'not checked (its event never occurred)' } as const;

/** A machine's forbidden transitions (outside the count), by status. */
function forbiddenLines(forbidden: CoverageFigure['forbidden']): string[] {
  if (forbidden === undefined) return [];
  const out: string[] = [];
  for (const status of ['taken', 'checked', 'unchecked'] as const) {
    const keys = Object.keys(forbidden).filter((k) => forbidden[k] === status);
    if (keys.length > 0) out.push(`    forbidden (not counted), ${FORBIDDEN_TEXT[status]}:`, ...wrapList(keys, '      '));
  }
  return out;
}

/** "; 1 forbidden, checked, never taken" for the coverage-over-all-profiles line. */
export function forbiddenNote(forbidden: CoverageFigure['forbidden']): string {
  if (forbidden === undefined) return '';
  const counts = (['taken', 'checked', 'unchecked'] as const).map((s) => [s, Object.values(forbidden).filter((v) => v === s).length] as const).filter(([, n]) => n > 0);
  return counts.map(([s, n]) => `; ${n} forbidden, ${FORBIDDEN_TEXT[s]}`).join('');
}

/** Transition coverage over all the profiles of a run: a transition counts if any profile took it. */
export function unionCoverage(results: readonly ProfileResult[]): Record<string, { covered: number; total: number; missing: string[]; forbidden?: CoverageFigure['forbidden'] }> {
  const out: Record<string, { covered: number; total: number; missing: string[]; forbidden?: CoverageFigure['forbidden'] }> = {};
  for (const r of results) {
    for (const [machine, c] of Object.entries(r.transitionCoverage)) {
      const prev = out[machine];
      const missing = prev === undefined ? [...c.missing] : prev.missing.filter((k) => c.missing.includes(k));
      const forbidden = mergeForbidden(prev?.forbidden, c.forbidden);
      out[machine] = { covered: c.total - missing.length, total: c.total, missing, ...(forbidden === undefined ? {} : { forbidden }) };
    }
  }
  return out;
}

/** Every profile, a blank line between, the coverage over all of them, the notes, and a last line with the overall verdict. */
export function humanReport(results: readonly ProfileResult[], ctx: ReportContext = {}): string {
  const notes: Notes = { missingNamed: false, textCut: false };
  const parts = results.map((r, i) => {
    // The same reason as an earlier profile, with nothing run (one handshake failure): said once.
    const earlier = r.undecided !== undefined && r.undecided.steps.length === 0 && r.replay === undefined ? results.slice(0, i).find((e) => e.undecided?.message === r.undecided!.message) : undefined;
    return humanProfile(r, ctx, notes, earlier?.name);
  });
  if (results.length > 1) {
    const union = Object.entries(unionCoverage(results)).map(([m, c]) => `${m} ${c.covered}/${c.total} (${coveragePercent(c.covered, c.total)}%${forbiddenNote(c.forbidden)})`);
    if (union.length > 0) parts.push(`transition coverage over all profiles: ${union.join(', ')}`);
  }
  const legend = [...(notes.missingNamed ? [COVERAGE_LEGEND] : []), ...(notes.textCut ? [CUT_NOTE] : [])];
  if (legend.length > 0) parts.push(legend.join('\n'));
  const verdict = overallVerdict(results);
  const counts = results.map((r) => `${r.name}${r.contract === undefined || r.contract.name === 'strict' ? '' : ` (${r.contract.name})`} ${verdictLabel(r.verdict)}`).join(', ');
  parts.push(`verdict: ${verdictLabel(verdict)} (${counts || 'no profiles'})`);
  return `${parts.join('\n\n')}\n`;
}
