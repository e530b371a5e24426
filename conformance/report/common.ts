// What the three report formats share: labels, the replay command, trace lines,
// coverage figures and requirement texts. Pure functions of a ProfileResult.
import { isRequirementId, requirements } from '../../spec/requirements.ts';
import type { TraceStep } from '../engine/commands.ts';
import type { ProfileResult, Verdict } from '../engine/run-profile.ts';

/** What a report needs beyond the results: how the run was invoked, for the replay command. */
export interface ReportContext {
  /** The --adapter module as the user gave it; absent for the reference adapters. */
  readonly adapterModule?: string;
  /** The --exec command as the user gave it. */
  readonly execCommand?: string;
  /** The --lib library as the user gave it. */
  readonly libPath?: string;
  /** --max-commands when it is not the default: the replay path depends on it, so the replay command repeats it. */
  readonly maxCommands?: number;
  /** --timeout when not the default: a replay needs the same limit. */
  readonly timeoutMs?: number;
  /** --runs of the run: a replay without a path repeats the whole search, which needs it. */
  readonly runs?: number;
  /** --verbose: requirement texts whole, not cut to one line. */
  readonly verbose?: boolean;
}

export type ViolationKind = NonNullable<ProfileResult['counterexample']>['violation']['kind'];

export function kindLabel(kind: ViolationKind): string {
  switch (kind) {
    case 'loss':
      return 'LOST DIRTY PAGE';
    case 'precision':
      return 'FALSE DIRTY PAGE';
    case 'spec':
      return 'SPEC VIOLATION';
    default:
      return `VIOLATION (${String(kind)})`;
  }
}

export function verdictLabel(verdict: Verdict): string {
  return verdict === 'conforms' ? 'conforms' : verdict === 'does-not-conform' ? 'DOES NOT CONFORM' : 'UNDECIDED';
}

/** The verdict of several profiles: undecided beats does-not-conform beats conforms. */
export function overallVerdict(results: readonly ProfileResult[]): Verdict {
  if (results.some((r) => r.verdict === 'undecided')) return 'undecided';
  if (results.some((r) => r.verdict === 'does-not-conform')) return 'does-not-conform';
  return 'conforms';
}

/** The exit status for a verdict: 0 conforms, 1 does not conform, 2 undecided. */
export function exitStatus(verdict: Verdict): 0 | 1 | 2 {
  return verdict === 'conforms' ? 0 : verdict === 'does-not-conform' ? 1 : 2;
}

export function requirementText(id: string): string {
  return isRequirementId(id) ? requirements[id].text : '(not in the requirement catalogue)';
}

/** Shortens to at most `max` characters at a word boundary, with an ellipsis when cut. */
export function shorten(text: string, max = 70): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.]+$/, '')}…`;
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command that replays a failure of `result`, or undefined when there is nothing to replay. */
export function replayCommand(result: ProfileResult, ctx: ReportContext = {}): string | undefined {
  if (result.replay === undefined) return undefined;
  const words = ['npx', 'dirtyspec', 'run', '--profile', result.name];
  if (ctx.adapterModule !== undefined) words.push('--adapter', shellQuote(ctx.adapterModule));
  if (ctx.execCommand !== undefined) words.push('--exec', shellQuote(ctx.execCommand));
  if (ctx.libPath !== undefined) words.push('--lib', shellQuote(ctx.libPath));
  // The contract, unless it is the run's default (the declared one, else strict).
  if (result.contract !== undefined && (result.contract.name !== 'strict' || result.contract.declared !== undefined)) words.push('--contract', result.contract.name);
  words.push('--seed', String(result.replay.seed));
  if (result.replay.path !== '') words.push('--replay', `'${result.replay.path.replace(/'/g, `'\\''`)}'`);
  else if (ctx.runs !== undefined) words.push('--runs', String(ctx.runs));
  if (ctx.maxCommands !== undefined) words.push('--max-commands', String(ctx.maxCommands));
  if (ctx.timeoutMs !== undefined) words.push('--timeout', String(ctx.timeoutMs));
  return words.join(' ');
}

/** One line of a trace, numbered from 1, without indentation. */
export function traceLine(step: TraceStep, index: number, width = 1): string {
  const n = `${String(index + 1).padStart(width)}.`;
  const req = step.req.length > 0 ? `  [${unique(step.req).join(', ')}]` : '';
  return `${n} ${step.op}  -> implementation: ${step.answer}  | spec: ${step.expected}${req}`;
}

/** A crash's lines (the process under test died or hung in the last step's call): how it ended, the call as sent, the tail of its standard error. */
export function crashLines(crash: NonNullable<ProfileResult['counterexample']>['crash']): string[] {
  if (crash === undefined) return [];
  const call = crash.call.length > 400 ? `${crash.call.slice(0, 400)}... (${crash.call.length} characters)` : crash.call;
  return [
    `crash: ${crash.status}, in the call ${call} (the same in a fresh process each time)`,
    `standard error (tail):${crash.stderr === '' ? ' (empty)' : ''}`,
    ...(crash.stderr === '' ? [] : crash.stderr.split('\n').map((l) => `  | ${l}`)),
  ];
}

export function traceLines(steps: readonly TraceStep[]): string[] {
  const width = String(steps.length).length;
  return steps.map((s, i) => traceLine(s, i, width));
}

export function configLine(config: object): string {
  return Object.entries(config)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

export function coveragePercent(covered: number, total: number): number {
  return total === 0 ? 100 : Math.floor((covered / total) * 100);
}

/** `ids` without repeats, in first-seen order. */
export function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

/** Requirement IDs in catalogue-reading order: by prefix, then numerically (IOTLB-2 before IOTLB-10). */
export function compareRequirementIds(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export function sortedRequirements(r: ProfileResult): ProfileResult['requirements'] {
  return [...r.requirements].sort((a, b) => compareRequirementIds(a.id, b.id));
}

/** The violation in one line: `LOST DIRTY PAGE [NOLOSS-1]: expected ...; got ...`. */
export function violationSummary(v: NonNullable<ProfileResult['counterexample']>['violation']): string {
  return `${kindLabel(v.kind)} [${unique(v.req).join(', ')}]: expected ${v.expected}; got ${v.actual}`;
}

/** Why a counterexample may not be the shortest: shrinking ran out of its time. */
export function shrinkStoppedText(s: NonNullable<ProfileResult['shrinkStopped']>): string {
  return `shrinking stopped after ${s.seconds} s and ${s.attempts} attempts (--shrink-time): the shortest failing sequence found by then; a shorter one may exist`;
}
