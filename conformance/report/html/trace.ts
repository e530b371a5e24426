// A trace in the HTML report: the steps as a table (operation, the implementation's
// answer, the spec's expectation, the machine transitions the spec model took, the
// requirements) next to the diagrams of the machines it went through, the path drawn on
// them and the violating step marked in both. A long trace shows its first and last rows
// only, so the report's size is bounded whatever the number of steps.
import { machineTransitions, specMachines } from '../../../spec/machines.ts';
import type { TakenTransition } from '../../../model/transition-table.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { compareRequirementIds, unique } from '../common.ts';
import { diagramFigure, machineById } from './diagrams.ts';
import { esc } from './page.ts';

/** Rows of a trace the report shows at most: the first HEAD_ROWS and the last MAX_ROWS - HEAD_ROWS. */
export const MAX_ROWS = 400;
export const HEAD_ROWS = 40;

/** Whether the 1-based step `n` of `total` is shown. */
export function rowShown(n: number, total: number): boolean {
  return total <= MAX_ROWS || n <= HEAD_ROWS || n > total - (MAX_ROWS - HEAD_ROWS);
}

export interface TraceView {
  /** Unique in the document (ids of the diagrams' elements start with it). */
  readonly prefix: string;
  readonly steps: readonly TraceStep[];
  /** The 0-based index of the violating step, if one is. */
  readonly violating?: number;
  /** A last row after the steps (a crash, or where the run stopped undecided); `violating` marks it. */
  readonly lastRow?: { readonly op: string; readonly answer: string; readonly expected: string; readonly violating: boolean };
}

/** Shortens a dotted state path for a table cell: `valid.permission.writableDirty` is `permission.writableDirty`. */
function shortState(path: string): string {
  const parts = path.split('.');
  return parts.length >= 3 ? parts.slice(-2).join('.') : path;
}

const isWithin = (path: string, ancestor: string): boolean => ancestor === '' || path === ancestor || path.startsWith(`${ancestor}.`);

const eventOf = (key: string): { source: string; event: string } => {
  const m = /^(.*) --(.+)#\d+$/.exec(key);
  return m === null ? { source: '', event: key } : { source: m[1] === '(root)' ? '' : m[1]!, event: m[2]! };
};

/** `machine: from → to EVENT`, or `from (stays) EVENT`, for one taken transition. */
export function transitionText(t: TakenTransition): { machine: string; from: string; to: string | undefined; event: string } {
  const { source, event } = eventOf(t.transition);
  const from = t.from.filter((s) => isWithin(s, source));
  const changed = t.to.filter((s) => !t.from.includes(s));
  // In a parallel state, what this transition changed is in its own region (the other regions have transitions of their own).
  const region = source.split('.').slice(0, -1).join('.');
  const own = region === '' ? [] : changed.filter((s) => isWithin(s, region));
  const to = own.length > 0 ? own : changed;
  return { machine: t.machine, from: (from.length > 0 ? from : t.from).map(shortState).join(' + '), to: to.length === 0 ? undefined : to.map(shortState).join(' + '), event };
}

function transitionsCell(step: TraceStep): string {
  const list = step.transitions ?? [];
  if (list.length === 0) return '<span class="missing">-</span>';
  const items = list.map((t) => {
    const x = transitionText(t);
    return `<li><span class="m">${esc(x.machine)}</span> ${esc(x.from)} ${x.to === undefined ? '<span class="m">(stays)</span>' : `→ ${esc(x.to)}`} <span class="ev">${esc(x.event)}</span></li>`;
  });
  return `<ul class="taken">${items.join('')}</ul>`;
}

function row(n: number, step: Pick<TraceStep, 'op' | 'answer' | 'expected'> & Partial<TraceStep>, violating: boolean, mark: string, withTransitions: boolean): string {
  const req = unique(step.req ?? []).sort(compareRequirementIds);
  return [
    `<tr class="step${violating ? ' violating' : ''}" data-step="${n}"${violating ? ' data-violating="true"' : ''} tabindex="0">`,
    `<td class="n num">${n}${violating ? `<br><span class="mark">${esc(mark)}</span>` : ''}</td>`,
    `<td class="mono">${esc(step.op)}</td>`,
    `<td class="mono">${esc(step.answer)}</td>`,
    `<td class="mono">${esc(step.expected)}</td>`,
    ...(withTransitions ? [`<td>${step.transitions === undefined ? '<span class="missing">-</span>' : transitionsCell(step as TraceStep)}</td>`] : []),
    `<td class="mono req">${req.length === 0 ? '-' : req.map((id) => `<span class="id">${esc(id)}</span>`).join(', ')}</td>`,
    '</tr>',
  ].join('');
}

/** The machines a trace took transitions in, in specMachines order. */
export function machinesOf(steps: readonly TraceStep[]): string[] {
  const ids = new Set<string>();
  for (const s of steps) for (const t of s.transitions ?? []) ids.add(t.machine);
  return Object.values(specMachines)
    .map((m) => m.id)
    .filter((id) => ids.has(id));
}

/** The step table and, beside it, the diagrams of the machines the trace went through. */
export async function traceSection(view: TraceView, mark = 'violation'): Promise<string> {
  const total = view.steps.length;
  // No spec machine modelled a step: no diagrams, and no column of transitions; the table takes the whole width.
  const machines = machinesOf(view.steps);
  const withTransitions = machines.length > 0;
  const columns = withTransitions ? 6 : 5;
  const rows: string[] = [];
  view.steps.forEach((step, i) => {
    const n = i + 1;
    if (!rowShown(n, total)) {
      if (n === HEAD_ROWS + 1) rows.push(`<tr class="gap"><td colspan="${columns}">… steps ${n} to ${total - (MAX_ROWS - HEAD_ROWS)} not shown (${total - MAX_ROWS} steps; the JSON report has them all) …</td></tr>`);
      return;
    }
    rows.push(row(n, step, view.violating === i, mark, withTransitions));
  });
  if (view.lastRow !== undefined) rows.push(row(total + 1, view.lastRow, view.lastRow.violating, mark, withTransitions));
  const table = [
    `<table class="trace${withTransitions ? '' : ' plain'}">`,
    `<colgroup><col class="n"><col class="op"><col class="answer"><col class="expected">${withTransitions ? '<col class="taken">' : ''}<col class="req"></colgroup>`,
    `<thead><tr><th class="num">#</th><th>operation</th><th>imple&shy;mentation</th><th>spec expects</th>${withTransitions ? '<th>spec model transitions</th>' : ''}<th>require&shy;ments</th></tr></thead>`,
    `<tbody>${rows.length === 0 ? `<tr><td colspan="${columns}" class="missing">(no steps recorded)</td></tr>` : rows.join('\n')}</tbody>`,
    '</table>',
  ].join('\n');
  const figures: string[] = [];
  for (const id of machines) {
    const machine = machineById(id)!;
    const taken = new Set(view.steps.flatMap((s) => (s.transitions ?? []).filter((t) => t.machine === id).map((t) => t.transition)));
    figures.push(
      await diagramFigure({
        machine,
        prefix: `${view.prefix}-${id}`,
        steps: view.steps,
        ...(view.violating === undefined ? {} : { violating: view.violating }),
        shown: (n) => rowShown(n, total),
        caption: `${esc(id)} <span class="missing">${taken.size} of ${machineTransitions(machine).length} transitions taken</span>`,
      }),
    );
  }
  if (figures.length === 0) {
    return [`<div class="counterexample plain" id="${esc(view.prefix)}">`, '<p class="legend">No spec machine models these steps: the table is the whole trace.</p>', `<div class="steps">${table}</div>`, '</div>'].join('\n');
  }
  const legend = `<p class="legend"><span class="sw" style="background:var(--path)"></span>taken by the spec model (every leaf, entry or container it stepped; each line numbered with its steps) <span class="sw" style="background:var(--bad)"></span>taken by the violating step, its target states in red (a violating step that takes no transition: the states it was judged in). Hover a row to outline its arrows.</p>`;
  return [`<div class="counterexample" id="${esc(view.prefix)}">`, '<div class="ce-grid">', `<div class="steps">${table}</div>`, `<div class="diagrams">${legend}\n${figures.join('\n')}</div>`, '</div>', '</div>'].join('\n');
}
