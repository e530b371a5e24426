// `dirtyspec mutants`: the suite against every mutant of the reference implementation.
// A mutant is killed when its verdict is "does not conform"; the suite is only as good
// as the mutants it kills. Each mutant runs with a seed derived from its name, so a
// kill table is reproducible.
import { writeFile } from 'node:fs/promises';
import { requirements } from '../../spec/requirements.ts';
import { PROFILES } from '../adapters/types.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import { DECLARED_TARGETS } from '../mutants/declared-targets.ts';
import { mutants as zoo, type BugClass, type Mutant } from '../mutants/index.ts';
import { unique } from '../report/common.ts';
import { htmlMutantsReport } from '../report/html.ts';
import { Progress, UsageError, choiceFlags, elapsed, intFlag, parseFlags, reportFileFlag, type Io } from './args.ts';
import { DEFAULT_MAX_COMMANDS, DEFAULT_TIMEOUT_MS, MAX_COMMANDS, MAX_RUNS, MAX_TIMEOUT_MS, runProfileSafely } from './run.ts';

/** Sequences per mutant when --runs is not given. */
export const DEFAULT_MUTANT_RUNS = 1000;

export const MUTANTS_HELP = `usage: dirtyspec mutants [--profile NAME]... [--mutant NAME]... [--runs N]
                         [--timeout MS] [--max-commands N] [--matrix] [--json FILE]
                         [--html FILE]

Runs the conformance suite against every mutant of the reference implementation (a
deliberate fault each) and prints which ones it kills. Each mutant's seed is a hash of
its name, so the table is reproducible.

  --profile NAME     only the mutants of this profile (${PROFILES.join(', ')}); repeatable
  --mutant NAME      only this mutant (see dirtyspec list); repeatable
  --runs N           sequences per mutant (default ${DEFAULT_MUTANT_RUNS})
  --timeout MS       time limit of one adapter call (default ${DEFAULT_TIMEOUT_MS})
  --max-commands N   longest command sequence of one run (default ${DEFAULT_MAX_COMMANDS})
  --matrix           also print the requirement matrix: for every requirement ID, the
                     mutants that target it (declared) and the mutants whose kill names
                     it (from this run's counterexamples; a crash kill counts for the
                     IDs its mutant targets)
  --json FILE        also write the table and the matrix as JSON
  --html FILE        also write one self-contained HTML file: the table, and each kill's
                     counterexample beside the machine diagrams
  -h, --help         this text

exit status: 0 every mutant killed, 1 a mutant survived,
             2 a run was undecided (a crash mutant killed by its crash is a kill),
             or a usage error`;

const FLAGS = {
  profile: { type: 'string', multiple: true },
  mutant: { type: 'string', multiple: true },
  runs: { type: 'string' },
  timeout: { type: 'string' },
  'max-commands': { type: 'string' },
  matrix: { type: 'boolean' },
  json: { type: 'string' },
  html: { type: 'string' },
} as const;

/** FNV-1a over the UTF-16 code units of `name`: a fixed 32-bit seed per mutant. */
export function mutantSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface MutantOutcome {
  readonly mutant: Mutant;
  readonly result: ProfileResult;
}

export interface MutantRow {
  readonly name: string;
  readonly class: BugClass;
  readonly profile: string;
  readonly killed: boolean;
  readonly verdict: ProfileResult['verdict'];
  /** Seconds the run took: to the kill and its shrunk counterexample when killed, else the whole run. */
  readonly seconds: number;
  /** Steps of the shrunk counterexample; null when not killed. */
  readonly counterexampleLength: number | null;
  readonly requirements: readonly string[];
  readonly seed: number;
  readonly undecided?: string;
}

export function mutantRow({ mutant, result }: MutantOutcome): MutantRow {
  const crashed = mutant.fault === 'crash' && result.verdict === 'undecided' && / threw: /.test(result.undecided?.message ?? '');
  const killed = result.verdict === 'does-not-conform' || crashed;
  return {
    name: mutant.name,
    class: mutant.bugClass,
    profile: mutant.profile,
    killed,
    verdict: result.verdict,
    seconds: result.seconds,
    counterexampleLength: killed ? ((crashed ? result.undecided?.steps.length : result.counterexample?.steps.length) ?? 0) : null,
    requirements: killed ? (crashed ? ['crash'] : unique(result.counterexample?.violation.req ?? [])) : [],
    seed: result.seed,
    ...(result.undecided === undefined ? {} : { undecided: result.undecided.message }),
  };
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : Math.round(((s[mid - 1]! + s[mid]!) / 2) * 100) / 100;
}

export function summaryLine(rows: readonly MutantRow[]): string {
  const killed = rows.filter((r) => r.killed);
  const med = median(killed.map((r) => r.seconds));
  const longest = killed.length === 0 ? '-' : String(Math.max(...killed.map((r) => r.counterexampleLength ?? 0)));
  const crashes = killed.filter((r) => r.verdict === 'undecided').length;
  const undecided = rows.filter((r) => r.verdict === 'undecided' && !r.killed).length;
  return `killed ${killed.length} of ${rows.length} mutants${crashes > 0 ? ` (${crashes} by the crash it causes)` : ''}; median seconds ${med ?? '-'}; longest counterexample ${longest}${undecided > 0 ? `; ${undecided} undecided (exit status 2)` : ''}`;
}

/**
 * The exit status: 2 when a run was undecided (a crash mutant killed by its crash is a
 * kill, not an undecided run), else 1 when a mutant survived, else 0.
 */
export function mutantsStatus(rows: readonly MutantRow[]): 0 | 1 | 2 {
  return rows.some((r) => r.verdict === 'undecided' && !r.killed) ? 2 : rows.every((r) => r.killed) ? 0 : 1;
}

/** The kill table as aligned text, a line per mutant, then undecided reasons and the summary. */
export function killTable(rows: readonly MutantRow[]): string {
  const header = ['mutant', 'class', 'profile', 'killed', 'seconds', 'steps', 'requirements'];
  const cells = rows.map((r) => [
    r.name,
    String(r.class),
    r.profile,
    r.killed ? 'yes' : r.verdict === 'undecided' ? 'UNDECIDED' : 'NO',
    r.killed ? r.seconds.toFixed(2) : '-',
    r.counterexampleLength === null ? '-' : String(r.counterexampleLength),
    r.requirements.length > 0 ? r.requirements.join(', ') : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c
      .map((x, i) => (i === c.length - 1 ? x : i === 4 || i === 5 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...cells.map(line)];
  const undecided = rows.filter((r) => r.undecided !== undefined && !r.killed);
  if (undecided.length > 0) out.push('', ...undecided.map((r) => `${r.name}: UNDECIDED: ${r.undecided}`));
  const crashed = rows.filter((r) => r.undecided !== undefined && r.killed);
  if (crashed.length > 0) out.push('', ...crashed.map((r) => `${r.name}: killed by the crash it causes: ${r.undecided}`));
  const survived = rows.filter((r) => r.verdict === 'conforms');
  if (survived.length > 0) out.push('', `survived (the suite did not find their fault): ${survived.map((r) => r.name).join(', ')}`);
  out.push('', summaryLine(rows));
  return `${out.join('\n')}\n`;
}

/** A line of the requirement matrix. */
export interface MatrixRow {
  readonly requirement: string;
  /** The mutants that declare the ID among their targets. */
  readonly mutants: readonly string[];
  /** The mutants killed with a counterexample that names the ID (a crash kill: the IDs its mutant targets). */
  readonly killedBy: readonly string[];
}

/** The IDs a mutant declares it targets: its own `targets`, else those its directed test names (declared-targets.ts). */
export function targetsOf(m: Mutant): readonly string[] {
  return m.targets ?? DECLARED_TARGETS[m.name] ?? [];
}

/** Every requirement ID of the catalogue, in its order. */
export const REQUIREMENT_IDS: readonly string[] = Object.keys(requirements);

/**
 * The requirement matrix of a mutants run: a row per ID of `ids`, with the `zoo` mutants
 * that target it and the run's `rows` whose kill is attributed to it. A kill names the
 * requirements of its violation; a crash kill names none, so it counts for the IDs its
 * mutant declares (the crash is the fault those requirements forbid).
 */
export function requirementMatrix(rows: readonly MutantRow[], zoo: readonly Mutant[], ids: readonly string[] = REQUIREMENT_IDS): MatrixRow[] {
  const targets = new Map(zoo.map((m) => [m.name, targetsOf(m)] as const));
  const attributed = rows.filter((r) => r.killed).map((r) => ({ name: r.name, ids: new Set(r.verdict === 'undecided' ? (targets.get(r.name) ?? []) : r.requirements) }));
  return ids.map((requirement) => ({
    requirement,
    mutants: zoo.filter((m) => targetsOf(m).includes(requirement)).map((m) => m.name),
    killedBy: attributed.filter((a) => a.ids.has(requirement)).map((a) => a.name),
  }));
}

/** The requirement matrix as aligned text, then how many IDs a kill reaches and which do not. */
export function matrixText(matrix: readonly MatrixRow[]): string {
  const header = ['requirement', 'mutants', 'killed by'];
  const cells = matrix.map((r) => [r.requirement, r.mutants.length > 0 ? r.mutants.join(', ') : '-', r.killedBy.length > 0 ? r.killedBy.join(', ') : '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c
      .map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const without = matrix.filter((r) => r.killedBy.length === 0).map((r) => r.requirement);
  const out = [line(header), ...cells.map(line), '', `requirements killed by a mutant: ${matrix.length - without.length} of ${matrix.length}`];
  if (without.length > 0) out.push(`without a kill (${without.length}): ${without.join(' ')}`);
  return `${out.join('\n')}\n`;
}

export function mutantsJson(rows: readonly MutantRow[], matrix?: readonly MatrixRow[]): string {
  return `${JSON.stringify(matrix === undefined ? { mutants: rows } : { mutants: rows, matrix }, null, 2)}\n`;
}

export async function mutantsCommand(argv: readonly string[], io: Io): Promise<number> {
  const flags = parseFlags(argv, FLAGS);
  if (flags.booleans.has('help')) {
    io.out(`${MUTANTS_HELP}\n`);
    return 0;
  }
  const profiles = choiceFlags(flags, 'profile', PROFILES);
  const names = choiceFlags(
    flags,
    'mutant',
    zoo.map((m) => m.name),
  );
  const runs = intFlag(flags, 'runs', 1, MAX_RUNS, DEFAULT_MUTANT_RUNS);
  const timeoutMs = intFlag(flags, 'timeout', 1, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS);
  const maxCommands = intFlag(flags, 'max-commands', 1, MAX_COMMANDS, DEFAULT_MAX_COMMANDS);
  const json = reportFileFlag(flags, 'json');
  const html = reportFileFlag(flags, 'html');
  const selected = zoo.filter((m) => (profiles.length === 0 || profiles.includes(m.profile)) && (names.length === 0 || names.includes(m.name)));
  if (selected.length === 0) throw new UsageError(`no mutant matches ${[...profiles.map((p) => `--profile ${p}`), ...names.map((n) => `--mutant ${n}`)].join(' ')}`);

  const progress = new Progress(io);
  const started = performance.now();
  const rows: MutantRow[] = [];
  const outcomes: MutantOutcome[] = [];
  for (const [i, mutant] of selected.entries()) {
    const result = await runProfileSafely(
      mutant.adapter,
      {
        runs,
        seed: mutantSeed(mutant.name),
        timeoutMs,
        maxCommands,
        onProgress: (done) => progress.update(() => `dirtyspec mutants: ${i + 1}/${selected.length} ${mutant.name}, run ${done}/${runs}, ${elapsed(started)}`),
      },
      io,
    );
    rows.push(mutantRow({ mutant, result }));
    outcomes.push({ mutant, result });
  }
  progress.clear();
  io.out(killTable(rows));
  const matrix = requirementMatrix(rows, selected);
  if (flags.booleans.has('matrix')) io.out(`\n${matrixText(matrix)}`);
  let status: number = mutantsStatus(rows);
  if (json !== undefined) {
    try {
      await writeFile(json, mutantsJson(rows, matrix));
    } catch (e) {
      io.err(`dirtyspec mutants: could not write the --json report to ${json}: ${(e as Error).message}\n`);
      status = 2;
    }
  }
  if (html !== undefined) {
    const entries = outcomes.map(({ mutant, result }, i) => ({ name: mutant.name, bugClass: mutant.bugClass, profile: mutant.profile, description: mutant.description, killed: rows[i]!.killed, result }));
    try {
      const text = await htmlMutantsReport(entries, { runs, summary: summaryLine(rows), ...(maxCommands === DEFAULT_MAX_COMMANDS ? {} : { maxCommands }) });
      await writeFile(html, text);
    } catch (e) {
      io.err(`dirtyspec mutants: could not write the --html report to ${html}: ${(e as Error).message}\n`);
      status = 2;
    }
  }
  return status;
}
