// The HTML report (`dirtyspec run --html FILE`, `dirtyspec mutants --html FILE`): one
// self-contained file, no network and no external assets (a Content-Security-Policy
// forbids both), readable offline. Per profile the verdict, every requirement's verdict
// and the transition coverage (a table, and the machines drawn with the uncovered
// transitions faint); for a failure the violation, the counterexample as a step table
// beside the machine diagrams (inline SVG laid out by Graphviz) with the path taken
// highlighted and the violating step marked, and the replay command. The mutants report
// has a section per mutant, each kill shown the same way. Everything from the run is
// escaped; the size grows with the counterexamples shown, not with the commands run.
import type { ProfileResult } from '../engine/run-profile.ts';
import type { BugClass } from '../mutants/types.ts';
import { configLine, coveragePercent, crashLines, kindLabel, overallVerdict, replayCommand, requirementText, shellQuote, shrinkStoppedText, sortedRequirements, unique, verdictLabel, type ReportContext } from './common.ts';
import { runsText, unionCoverage } from './human.ts';
import { diagramFigure, machineById } from './html/diagrams.ts';
import { badge, esc, page, slug } from './html/page.ts';
import { traceSection } from './html/trace.ts';

const VERDICT_CLASS = { conforms: 'conforms', 'does-not-conform': 'does-not-conform', undecided: 'undecided' } as const;

function verdictBadge(r: ProfileResult): string {
  return badge(VERDICT_CLASS[r.verdict], verdictLabel(r.verdict));
}

function stats(r: ProfileResult): string {
  return `adapter <code>${esc(r.adapter)}</code> · ${runsText(r)} · ${r.commands} commands · ${r.seconds} s · seed ${r.seed}`;
}

function coverageTable(r: ProfileResult): string {
  const rows = Object.entries(r.transitionCoverage).map(([machine, c]) => {
    const pct = coveragePercent(c.covered, c.total);
    const missing = c.missing.length === 0 ? '' : `<details><summary>${c.missing.length} not taken</summary><div class="missing mono">${c.missing.map(esc).join('<br>')}</div></details>`;
    return `<tr><td><code>${esc(machine)}</code></td><td class="num">${c.covered}/${c.total}</td><td><span class="bar" title="${pct}%"><span style="width:${pct}%"></span></span> ${pct}%</td><td>${missing}</td></tr>`;
  });
  if (rows.length === 0) return '<p class="missing">This profile steps no spec machine.</p>';
  return `<table class="coverage"><thead><tr><th>machine</th><th class="num">transitions</th><th>covered</th><th>missing</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

async function coverageDiagrams(r: ProfileResult, prefix: string): Promise<string> {
  const figures: string[] = [];
  for (const [id, c] of Object.entries(r.transitionCoverage)) {
    const machine = machineById(id);
    if (machine === undefined) continue;
    figures.push(await diagramFigure({ machine, prefix: `${prefix}-cov-${slug(id)}`, missing: c.missing, caption: `${esc(id)} <span class="missing">${c.covered}/${c.total} transitions covered; the faint ones were not taken</span>` }));
  }
  return figures.length === 0 ? '' : `<details class="coverage-diagrams"><summary>the machines with their coverage</summary>\n${figures.join('\n')}\n</details>`;
}

function requirementsTable(r: ProfileResult): string {
  const rows = sortedRequirements(r).map(
    (q) => `<tr class="req v-${q.verdict}" data-req="${esc(q.id)}"><td>${badge(q.verdict, q.verdict === 'pass' ? 'pass' : q.verdict.toUpperCase())}</td><td><code>${esc(q.id)}</code></td><td>${esc(requirementText(q.id))}</td></tr>`,
  );
  const unreached = (r.unreached ?? []).map((id) => `<tr class="req v-unreached" data-req="${esc(id)}"><td>${badge('unreached', 'not reached')}</td><td><code>${esc(id)}</code></td><td>${esc(requirementText(id))}</td></tr>`);
  const failing = r.requirements.filter((q) => q.verdict !== 'pass').length;
  const summary = `${r.requirements.length} requirements${failing > 0 ? `, ${failing} not passed` : ', all passed'}${unreached.length > 0 ? `; ${unreached.length} not reached by this run` : ''}`;
  return `<details${failing > 0 ? ' open' : ''}><summary>${summary}</summary><table class="requirements"><thead><tr><th>verdict</th><th>ID</th><th>requirement</th></tr></thead><tbody>${[...rows, ...unreached].join('')}</tbody></table></details>`;
}

type Counterexample = NonNullable<ProfileResult['counterexample']>;

export function violationBox(v: Counterexample['violation']): string {
  return [
    `<div class="violation" data-kind="${esc(v.kind)}">`,
    `<div><span class="kind">${esc(kindLabel(v.kind))}</span> <code>[${esc(unique(v.req).join(', '))}]</code></div>`,
    `<div><b>expected:</b> <span class="mono">${esc(v.expected)}</span></div>`,
    `<div><b>got:</b> <span class="mono">${esc(v.actual)}</span></div>`,
    '</div>',
  ].join('\n');
}

/** The failure or the undecided reason of a result, with its trace; '' when it conforms. */
export async function outcomeSection(r: ProfileResult, prefix: string, replay: string | undefined, crash = false): Promise<string> {
  const out: string[] = [];
  const ce = r.counterexample;
  if (ce !== undefined) {
    out.push(violationBox(ce.violation));
    if (ce.crash !== undefined) out.push(`<div class="crash"><pre class="mono">${esc(crashLines(ce.crash).join('\n'))}</pre></div>`);
    out.push(`<h3>Counterexample (${ce.steps.length} step${ce.steps.length === 1 ? '' : 's'}, shrunk)</h3>`);
    if (r.shrinkStopped !== undefined) out.push(`<p>${esc(shrinkStoppedText(r.shrinkStopped))}</p>`);
    out.push(await traceSection({ prefix: `${prefix}-ce`, steps: ce.steps, ...(ce.steps.length > 0 ? { violating: ce.steps.length - 1 } : {}) }));
    out.push(`<p>config: <code>${esc(configLine(ce.config))}</code></p>`);
  } else if (r.verdict === 'does-not-conform') out.push('<div class="violation">DOES NOT CONFORM, but the engine recorded no counterexample</div>');
  if (r.undecided !== undefined) {
    const u = r.undecided;
    out.push(`<div class="undecided-box"><b>${crash ? 'killed by the crash it causes' : 'UNDECIDED'}:</b> ${esc(u.message)}</div>`);
    out.push(
      `<h3>${crash ? `Steps up to the crash (${u.steps.length}${r.replay !== undefined ? ', shrunk' : ''})` : r.replay !== undefined ? `Steps (${u.steps.length}, shrunk: the replay command runs them again)` : `Steps so far (${u.steps.length})`}</h3>`,
    );
    const lastRow = crash ? { op: 'the implementation threw', answer: u.message, expected: 'an answer', violating: true } : { op: 'the run stopped here', answer: u.message, expected: '-', violating: false };
    out.push(await traceSection({ prefix: `${prefix}-ud`, steps: u.steps, lastRow }, crash ? 'crash' : 'violation'));
  } else if (r.verdict === 'undecided') out.push('<div class="undecided-box">UNDECIDED: the engine gave no reason</div>');
  if (replay !== undefined) out.push(`<p>replay:</p><div class="replay mono">${esc(replay)}</div>`);
  return out.join('\n');
}

/** A result's anchor: the profile, and the contract when it is not strict (one profile may run under several contracts). */
function anchorOf(r: ProfileResult): string {
  return `p-${slug(r.name)}${r.contract === undefined || r.contract.name === 'strict' ? '' : `-${slug(r.contract.name)}`}`;
}

/** The contract's part of a result, apart from the verdict: refused configurations, pages excused by the contract's design, its hazards with their scenarios. */
function contractSection(r: ProfileResult): string {
  const c = r.contract;
  if (c === undefined || (c.refused.length === 0 && c.hazards.length === 0 && Object.keys(c.excused).length === 0)) return '';
  const out = [`<h3>Contract <code>${esc(c.name)}</code>: outside the verdict</h3>`];
  if (c.refused.length > 0) {
    const rows = c.refused.map((x) => `<tr><td class="mono">${esc(x.config)}</td><td class="num">${x.errno}</td><td class="num">${x.sequences}</td></tr>`).join('');
    out.push(
      `<p>create refused, as the contract allows (those sequences ran nothing):</p><table class="refused"><thead><tr><th>configuration</th><th class="num">errno</th><th class="num">sequences</th></tr></thead><tbody>${rows}</tbody></table>`,
    );
  }
  const excused = Object.entries(c.excused);
  if (excused.length > 0) out.push(`<p>pages lost by the contract's design in these runs, not charged: ${excused.map(([rule, n]) => `<code>${esc(rule)}</code> ${n}`).join(', ')}</p>`);
  if (c.hazards.length > 0) {
    out.push(`<h4>Hazards of <code>${esc(c.name)}</code> (the contract allows them: not part of the verdict)</h4>`, '<div class="hazards">');
    for (const h of c.hazards) {
      const shown = h.onImplementation === 'demonstrated' ? 'demonstrated on the implementation' : h.onImplementation === 'not-shown' ? 'not shown by the implementation' : 'not run on the implementation';
      const steps = h.scenario.map((s, i) => `<li${i === h.misses.atStep ? ' class="violating"' : ''}><code>${esc(s)}</code></li>`).join('');
      out.push(
        `<details class="hazard" data-hazard="${esc(h.id)}" data-shown="${h.onImplementation}"><summary><b>${esc(h.id)}</b> (${esc(h.nature)}; ${h.req.map((id) => `<code>${esc(id)}</code>`).join(', ')}): ${esc(h.title)} — ${esc(shown)}</summary>`,
        `<p>${esc(h.note ?? '')}${h.note === undefined ? '' : ' · '}the contract's simulation ${h.bySimulation ? 'misses' : 'does not miss'} the pages at step ${h.misses.atStep + 1}; source: ${esc(h.source)}</p><ol class="scenario">${steps}</ol></details>`,
      );
    }
    out.push('</div>');
  }
  return out.join('\n');
}

async function profileSection(r: ProfileResult, ctx: ReportContext): Promise<string> {
  const prefix = anchorOf(r);
  const contract = r.contract === undefined ? '' : ` <span class="contract">contract <code>${esc(r.contract.name)}</code>${r.contract.declared === undefined ? '' : ` (declared: <code>${esc(r.contract.declared)}</code>)`}</span>`;
  return [
    `<section class="profile" id="${prefix}" data-profile="${esc(r.name)}"${r.contract === undefined ? '' : ` data-contract="${esc(r.contract.name)}"`} data-verdict="${r.verdict}">`,
    `<header><h2>profile <code>${esc(r.name)}</code>${contract}</h2>${verdictBadge(r)}<span class="meta">${stats(r)}</span></header>`,
    await outcomeSection(r, prefix, replayCommand(r, ctx)),
    '<h3>Requirements</h3>',
    requirementsTable(r),
    '<h3>Transition coverage</h3>',
    coverageTable(r),
    await coverageDiagrams(r, prefix),
    contractSection(r),
    '</section>',
  ].join('\n');
}

function summaryTable(results: readonly ProfileResult[]): string {
  const rows = results.map((r) => {
    const cov = Object.entries(r.transitionCoverage)
      .map(([m, c]) => `${esc(m)} ${coveragePercent(c.covered, c.total)}%`)
      .join(', ');
    return `<tr><td><a href="#${anchorOf(r)}"><code>${esc(r.name)}</code>${r.contract === undefined || r.contract.name === 'strict' ? '' : ` (${esc(r.contract.name)})`}</a></td><td><code>${esc(r.adapter)}</code></td><td>${verdictBadge(r)}</td><td class="num">${r.runs}</td><td class="num">${r.commands}</td><td class="num">${r.seconds}</td><td class="num">${r.seed}</td><td>${cov || '-'}</td></tr>`;
  });
  return `<table class="summary"><thead><tr><th>profile</th><th>adapter</th><th>verdict</th><th class="num">runs</th><th class="num">commands</th><th class="num">seconds</th><th class="num">seed</th><th>transition coverage</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** `dirtyspec run --html FILE`. */
export async function htmlRunReport(results: readonly ProfileResult[], ctx: ReportContext = {}): Promise<string> {
  const verdict = overallVerdict(results);
  const union = Object.entries(unionCoverage(results)).map(([m, c]) => `${esc(m)} ${c.covered}/${c.total} (${coveragePercent(c.covered, c.total)}%)`);
  const sections: string[] = [];
  for (const r of results) sections.push(await profileSection(r, ctx));
  const commands = results.reduce((n, r) => n + r.commands, 0);
  const body = [
    `<h1>dirtyspec run ${badge(VERDICT_CLASS[verdict], verdictLabel(verdict))}</h1>`,
    `<p class="meta">${results.length} profile${results.length === 1 ? '' : 's'} · ${commands} commands${ctx.runs === undefined ? '' : ` · --runs ${ctx.runs}`}${ctx.execCommand !== undefined ? ` · --exec <code>${esc(shellQuote(ctx.execCommand))}</code>` : ctx.adapterModule === undefined ? ' · the reference implementation' : ` · --adapter <code>${esc(shellQuote(ctx.adapterModule))}</code>`}</p>`,
    results.length === 0 ? '<p>No profiles were run.</p>' : summaryTable(results),
    union.length === 0 ? '' : `<p class="meta">transition coverage over all profiles: ${union.join(', ')}</p>`,
    ...sections,
  ].join('\n');
  return page(`dirtyspec run: ${verdictLabel(verdict)}`, body);
}

/** A mutant's run as the mutants report shows it. */
export interface MutantReportEntry {
  readonly name: string;
  readonly bugClass: BugClass;
  readonly profile: string;
  readonly description: string;
  readonly killed: boolean;
  readonly result: ProfileResult;
}

export interface MutantsReportContext {
  readonly runs: number;
  readonly maxCommands?: number;
  /** The kill table's summary line. */
  readonly summary: string;
  /**
   * Whether each mutant ran with the seed its name hashes to, as `dirtyspec mutants` runs
   * it (default true): only then does the report print the command that repeats the run.
   */
  readonly seedsByName?: boolean;
}

function mutantState(e: MutantReportEntry): 'killed' | 'survived' | 'undecided' {
  return e.killed ? 'killed' : e.result.verdict === 'undecided' ? 'undecided' : 'survived';
}

function mutantReplay(e: MutantReportEntry, ctx: MutantsReportContext): string {
  return ['npx', 'dirtyspec', 'mutants', '--mutant', shellQuote(e.name), '--runs', String(ctx.runs), ...(ctx.maxCommands === undefined ? [] : ['--max-commands', String(ctx.maxCommands)])].join(' ');
}

async function mutantSection(e: MutantReportEntry, ctx: MutantsReportContext): Promise<string> {
  const state = mutantState(e);
  const prefix = `m-${slug(e.name)}`;
  const crash = e.killed && e.result.verdict === 'undecided';
  const r = e.result;
  const body = state === 'survived' ? `<p>The suite did not find this fault in ${r.runs} runs (${r.commands} commands).</p>` : await outcomeSection(r, prefix, ctx.seedsByName === false ? undefined : mutantReplay(e, ctx), crash);
  return [
    `<section class="mutant" id="${prefix}" data-mutant="${esc(e.name)}" data-state="${state}">`,
    `<header><h2><code>${esc(e.name)}</code></h2>${badge(state, state)}<span class="meta">class <code>${esc(e.bugClass)}</code> · profile <code>${esc(e.profile)}</code> · ${stats(r)}</span></header>`,
    `<p>${esc(e.description)}</p>`,
    body,
    '</section>',
  ].join('\n');
}

/** `dirtyspec mutants --html FILE`: the kill table, then a section per mutant. */
export async function htmlMutantsReport(entries: readonly MutantReportEntry[], ctx: MutantsReportContext): Promise<string> {
  const rows = entries.map((e) => {
    const state = mutantState(e);
    const ce = e.result.counterexample;
    const steps = e.killed ? (ce?.steps.length ?? e.result.undecided?.steps.length ?? 0) : undefined;
    const req = e.killed ? (ce === undefined ? ['crash'] : unique(ce.violation.req)) : [];
    return `<tr data-state="${state}"><td><a href="#m-${slug(e.name)}"><code>${esc(e.name)}</code></a></td><td><code>${esc(e.bugClass)}</code></td><td><code>${esc(e.profile)}</code></td><td>${badge(state, state)}</td><td class="num">${e.killed ? e.result.seconds.toFixed(2) : '-'}</td><td class="num">${steps ?? '-'}</td><td>${req.length === 0 ? '-' : esc(req.join(', '))}</td></tr>`;
  });
  const sections: string[] = [];
  for (const e of entries) sections.push(await mutantSection(e, ctx));
  const killed = entries.filter((e) => e.killed).length;
  const body = [
    `<h1>dirtyspec mutants ${badge(killed === entries.length ? 'killed' : 'survived', `killed ${killed} of ${entries.length}`)}</h1>`,
    `<p class="meta">${esc(ctx.summary)} · --runs ${ctx.runs} per mutant, each with ${ctx.seedsByName === false ? 'the seed shown in its section' : 'the seed its name hashes to'}</p>`,
    `<table class="kill-table"><thead><tr><th>mutant</th><th class="num">class</th><th>profile</th><th>killed</th><th class="num">seconds</th><th class="num">steps</th><th>requirements</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
    ...sections,
  ].join('\n');
  return page(`dirtyspec mutants: killed ${killed} of ${entries.length}`, body);
}
