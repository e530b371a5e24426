// The spec document (SPEC.md), generated from the machines, the requirement catalogue,
// the header comments of spec/'s abstract operations, the `[ID]` tags in test titles and
// a reference run (each requirement's status). Nothing in it is kept by hand: `dirtyspec
// spec --check` fails when the committed copy differs from what this generates. The
// output is deterministic (sorted, no timestamps or durations; the run has a fixed seed).
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { machineTransitions, specMachines, type TransitionView } from '../../spec/machines.ts';
import { isRequirementId, requirements, testTitleTags } from '../../spec/requirements.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import { coveragePercent, verdictLabel } from './common.ts';
import { contractSections } from './spec-contracts.ts';

/** The repository root, from this module's location (not the working directory). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Not the project's sources: installed packages, outputs (coverage, reports, dist: a mutation run's sandboxes copy the tests into reports/), scratch work.
const SKIP_DIRS = new Set(['node_modules', 'coverage', 'scratch', 'reports', 'dist']);

function files(dir: string, pick: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (SKIP_DIRS.has(name) || name.startsWith('.')) continue;
    const path = join(dir, name);
    // lstat: a symbolic link is not followed (`make -C conformance/examples/kernel-c` links
    // build/include/dirtyspec to conformance/lib, whose tests would be indexed twice).
    if (lstatSync(path).isDirectory()) out.push(...files(path, pick));
    else if (pick(path)) out.push(path);
  }
  return out;
}

const rel = (root: string, f: string): string => relative(root, f).split(sep).join('/');

/** Requirement ID -> the test files (repo-relative, sorted) whose test titles tag it as `[ID]`. */
export function testIndex(root = REPO_ROOT): Map<string, string[]> {
  const index = new Map<string, Set<string>>();
  for (const f of files(root, (p) => p.endsWith('.test.ts'))) {
    for (const id of testTitleTags(readFileSync(f, 'utf8'))) {
      if (!isRequirementId(id)) continue;
      const set = index.get(id) ?? new Set<string>();
      set.add(rel(root, f));
      index.set(id, set);
    }
  }
  return new Map([...index].map(([id, set]) => [id, [...set].sort()]));
}

/** Expands the requirement IDs a comment names, ranges like `VFIO-MAP-1..8` included; unknown IDs are dropped. */
export function idsIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b([A-Z][A-Z0-9]*(?:-[A-Z][A-Z0-9]*)*)-(\d+)(?:\.\.(\d+))?\b/g)) {
    const [from, to] = [Number(m[2]), m[3] === undefined ? Number(m[2]) : Number(m[3])];
    for (let n = from; n <= to && n - from < 100; n++) {
      const id = `${m[1]}-${n}`;
      if (isRequirementId(id) && !out.includes(id)) out.push(id);
    }
  }
  return out;
}

export interface AbstractOperation {
  readonly file: string;
  readonly summary: string;
  readonly ids: readonly string[];
}

const NOT_OPERATIONS = /(?:^|\/)(?:machines|requirements|rule)\.ts$|-machine\.ts$|\.test\.ts$/;

/** spec/ files other than machines and tests whose header comment names requirement IDs. */
export function abstractOperations(root = REPO_ROOT): AbstractOperation[] {
  const out: AbstractOperation[] = [];
  for (const f of files(join(root, 'spec'), (p) => p.endsWith('.ts'))) {
    const file = rel(root, f);
    if (NOT_OPERATIONS.test(file)) continue;
    const header: string[] = [];
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (!line.startsWith('//')) break;
      header.push(line.replace(/^\/\/\s?/, ''));
    }
    const ids = idsIn(header.join('\n'));
    if (ids.length === 0) continue;
    const summary = (/^(.*?[.:])(?:\s|$)/.exec(header.join(' ').trim())?.[1] ?? header[0] ?? '').replace(/:$/, '.');
    out.push({ file, summary, ids: sortIds(ids) });
  }
  return out;
}

const catalogueOrder = new Map(Object.keys(requirements).map((id, i) => [id, i]));
const sortIds = (ids: Iterable<string>): string[] => [...new Set(ids)].sort((a, b) => (catalogueOrder.get(a) ?? 1e9) - (catalogueOrder.get(b) ?? 1e9) || a.localeCompare(b));

/** Escapes free text for a Markdown table cell. */
function cell(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/([*_])/g, '\\$1')
    .replace(/</g, '&lt;')
    .replace(/\n/g, ' ');
}
const code = (s: string): string => `\`${s}\``;

// ---- Mermaid -------------------------------------------------------------------------

const mid = (path: readonly string[]): string => `s_${path.join('_')}`;

function atomicDescendants(node: AnyStateNode): AnyStateNode[] {
  const children = Object.values(node.states) as AnyStateNode[];
  return children.length === 0 ? [node] : children.flatMap(atomicDescendants);
}

function isWithin(path: string, ancestor: string): boolean {
  return ancestor === '' || path === ancestor || path.startsWith(`${ancestor}.`);
}

/**
 * The arrows of a machine: one per pair of states, with a line per event, `EVENT / IDs`
 * (the union of the requirement IDs of that event's candidates). A transition that stays in its state is a
 * self-loop; one declared on a compound state that stays inside it (or has no target) is
 * drawn from each atomic state below it, since Mermaid draws no loop from a cluster.
 */
export function mermaidEdges(machine: AnyStateMachine): { from: string; to: string; label: string }[] {
  const nodes = new Map<string, AnyStateNode>();
  const collect = (n: AnyStateNode): void => {
    nodes.set(n.path.join('.'), n);
    for (const c of Object.values(n.states) as AnyStateNode[]) collect(c);
  };
  collect(machine.root);
  const edges = new Map<string, { from: string; to: string; event: string; ids: Set<string> }>();
  const add = (from: AnyStateNode, to: AnyStateNode, event: string, ids: readonly string[]): void => {
    const key = `${mid(from.path)}\u0000${mid(to.path)}\u0000${event}`;
    const e = edges.get(key) ?? { from: mid(from.path), to: mid(to.path), event, ids: new Set<string>() };
    ids.forEach((id) => e.ids.add(id));
    edges.set(key, e);
  };
  for (const t of machineTransitions(machine)) {
    const src = nodes.get(t.source === '(root)' ? '' : t.source)!;
    const ids = t.meta?.req ?? [];
    const compound = Object.keys(src.states).length > 0;
    if (t.targets.length === 0) {
      for (const a of compound ? atomicDescendants(src) : [src]) add(a, a, t.event, ids);
      continue;
    }
    for (const target of t.targets) {
      const dst = nodes.get(target)!;
      if (compound && isWithin(target, t.source === '(root)' ? '' : t.source)) {
        for (const a of atomicDescendants(src)) add(a, dst, t.event, ids);
      } else add(src, dst, t.event, ids);
    }
  }
  // Mermaid draws one arrow per pair of states (it drops all but one loop on a state), so
  // the events between one pair share an arrow, a line each.
  const pairs = new Map<string, { from: string; to: string; lines: string[] }>();
  for (const e of edges.values()) {
    const key = `${e.from}\u0000${e.to}`;
    const p = pairs.get(key) ?? { from: e.from, to: e.to, lines: [] };
    p.lines.push(`${e.event} / ${compactIds(sortIds(e.ids)).join(', ')}`);
    pairs.set(key, p);
  }
  return [...pairs.values()].map((p) => ({ from: p.from, to: p.to, label: p.lines.sort().join(MERMAID_BREAK) })).sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}

/** Runs of three or more consecutive IDs of one prefix as `P-a..b` (the header-comment notation `idsIn` reads). */
export function compactIds(ids: readonly string[]): string[] {
  const runs: { prefix: string; from: number; to: number }[] = [];
  for (const id of ids) {
    const m = /^(.*)-(\d+)$/.exec(id)!;
    const [prefix, n] = [m[1]!, Number(m[2])];
    const last = runs[runs.length - 1];
    if (last !== undefined && last.prefix === prefix && last.to + 1 === n) last.to = n;
    else runs.push({ prefix, from: n, to: n });
  }
  return runs.flatMap((r) => (r.to - r.from >= 2 ? [`${r.prefix}-${r.from}..${r.to}`] : Array.from({ length: r.to - r.from + 1 }, (_, i) => `${r.prefix}-${r.from + i}`)));
}

/** The line break inside a Mermaid arrow label. */
export const MERMAID_BREAK = '<br/>';

/** A `stateDiagram-v2` of the machine: compound states nest, parallel regions are split by `--`, every arrow at the top level. */
export function mermaidDiagram(machine: AnyStateMachine): string {
  const lines: string[] = ['stateDiagram-v2'];
  const body = (node: AnyStateNode, indent: string): void => {
    const children = Object.values(node.states) as AnyStateNode[];
    if (node.type !== 'parallel' && node.initial?.target?.[0] !== undefined) {
      lines.push(`${indent}[*] --> ${mid(node.initial.target[0].path)}`);
    }
    children.forEach((child, i) => {
      if (node.type === 'parallel' && i > 0) lines.push(`${indent}--`);
      declare(child, indent);
    });
  };
  const declare = (node: AnyStateNode, indent: string): void => {
    const name = node.key;
    if (Object.keys(node.states).length === 0) {
      lines.push(`${indent}state "${name}" as ${mid(node.path)}`);
      return;
    }
    lines.push(`${indent}state "${name}${node.type === 'parallel' ? ' (parallel)' : ''}" as ${mid(node.path)} {`);
    body(node, `${indent}  `);
    lines.push(`${indent}}`);
  };
  if (machine.root.type === 'parallel') {
    // Mermaid has no concurrency at the top level: the root becomes one composite state.
    lines.push(`  state "${machine.id} (parallel)" as s_${machine.id} {`);
    body(machine.root, '    ');
    lines.push('  }');
  } else body(machine.root, '  ');
  for (const e of mermaidEdges(machine)) lines.push(`  ${e.from} --> ${e.to} : ${e.label}`);
  return lines.join('\n');
}

// ---- The document --------------------------------------------------------------------

const MACHINE_FILES: Record<string, string> = {
  leafDescriptor: 'spec/descriptor/leaf-machine.ts',
  iotlbEntry: 'spec/iotlb/iotlb-entry-machine.ts',
  domainTracking: 'spec/domain/tracking-machine.ts',
  vfioType1: 'spec/vfio/type1-machine.ts',
};

function outcome(t: TransitionView): string {
  const parts: string[] = [];
  parts.push(t.targets.length === 0 ? 'stays' : `→ ${t.targets.map(code).join(' + ')}`);
  if (t.actions.length > 0) parts.push(`then ${t.actions.map(code).join(', ')}`);
  if (t.meta?.forbidden !== undefined) parts.push(`**forbidden**: ${cell(t.meta.forbidden)}`);
  return parts.join('; ');
}

function testsOf(ids: readonly string[], index: Map<string, string[]>): string {
  const set = new Set<string>();
  for (const id of ids) for (const f of index.get(id) ?? []) set.add(f);
  return set.size === 0 ? '-' : [...set].sort().map(code).join('<br>');
}

/** The run a document's status column comes from: its seed, runs per profile and results. */
export interface StatusRun {
  readonly seed: number;
  readonly runs: number;
  readonly results: readonly ProfileResult[];
}

const STATUS_LABEL = { fail: 'FAIL', undecided: 'UNDECIDED', pass: 'pass' } as const;

/** A requirement's status in the run: per verdict the profiles that gave it, worst first; '-' when no profile decides it. */
export function requirementStatus(id: string, run: StatusRun): string {
  const by = { fail: [] as string[], undecided: [] as string[], pass: [] as string[] };
  for (const r of run.results) for (const q of r.requirements) if (q.id === id) by[q.verdict].push(r.name);
  const parts = (['fail', 'undecided', 'pass'] as const).filter((v) => by[v].length > 0).map((v) => `${STATUS_LABEL[v]}: ${by[v].join(', ')}`);
  return parts.length === 0 ? '-' : parts.join('; ');
}

function statusSection(run: StatusRun): string[] {
  const out = [
    `The *Reference run* column is each requirement's verdict in \`dirtyspec run --seed ${run.seed} --runs ${run.runs}\` against the`,
    'built-in reference implementation (every profile, the default `--timeout` and `--max-commands`): `dirtyspec spec`',
    'runs it itself, so the status is that of the code this document was generated from, and `--check` fails when it',
    'changes. A verdict lists the profiles that gave it; `-` means no profile gives the requirement a verdict of its own',
    '(its tests, and any violation that names it, still check it).',
    '',
    '| Profile | Verdict | Runs | Commands | Transition coverage |',
    '|---|---|---|---|---|',
  ];
  for (const r of run.results) {
    const cov = Object.entries(r.transitionCoverage).map(([m, c]) => `${code(m)} ${c.covered}/${c.total} (${coveragePercent(c.covered, c.total)}%)`);
    out.push(`| ${code(r.name)} | ${verdictLabel(r.verdict)} | ${r.runs} | ${r.commands} | ${cov.length === 0 ? '-' : cov.join(', ')} |`);
  }
  out.push('');
  return out;
}

/** A transition key to explain the notation with: the first transition of the first machine. */
function exampleKey(): string {
  return machineTransitions(specMachines.leafDescriptor)[0]!.key;
}

export interface SpecDocOptions {
  readonly root?: string;
  /** The reference run that gives each requirement its status (conformance/cli/spec-status.ts). */
  readonly status: StatusRun;
}

export function specDocument(options: SpecDocOptions): string {
  const root = options.root ?? REPO_ROOT;
  const index = testIndex(root);
  const ops = abstractOperations(root);
  const machines = Object.entries(specMachines) as [string, AnyStateMachine][];
  const encodedBy = new Map<string, Set<string>>();
  const encode = (id: string, by: string): void => void (encodedBy.get(id) ?? encodedBy.set(id, new Set()).get(id)!).add(by);
  const transitionCount = machines.reduce((n, [, m]) => n + machineTransitions(m).length, 0);

  const out: string[] = [
    '<!-- Generated by `dirtyspec spec` from spec/ and the tests: do not edit by hand. -->',
    '<!-- Regenerate with `npx dirtyspec spec`; `npx dirtyspec spec --check` fails when this file is stale. -->',
    '',
    '# dirtyspec: the specification',
    '',
    'This document is generated from the XState v5 machines in `spec/` (the normative text),',
    'the requirement catalogue in `spec/requirements.ts`, the header comments of the abstract',
    'operations in `spec/`, the `[ID]` tags in the titles of the `*.test.ts` files, and a run of the',
    "conformance suite against the reference implementation (each requirement's status in the catalogue).",
    'Where it and the code disagree, the code is right and this file is stale.',
    '',
    `It covers ${machines.length} machines with ${transitionCount} transitions, ${ops.length} abstract operations and ${Object.keys(requirements).length} requirements.`,
    '',
    'Each machine has a diagram and a table. A diagram has one arrow per pair of states, with a line',
    '`EVENT / requirement IDs` per event (`HTTU-1..3` is HTTU-1, HTTU-2 and HTTU-3); a transition that',
    'changes no state is a loop, and one declared on a compound state is drawn from every state inside it.',
    'In a table the rows are in the order the machine tries them: for one source and',
    'event, the first candidate whose guard holds is taken. *Guard* names the requirements of the guard',
    '(`-` for none); *Outcome* is the target state(s) (`stays` for none) and the actions, in order;',
    "*Tests* are the test files whose titles tag any of the row's requirements.",
    'A row marked **forbidden** is a transition no conforming run takes (what it would do, and the requirement it',
    'breaks): transition coverage leaves it out of the count and reports it apart, as checked (the kit stepped the',
    'machine with its event and its check held), never taken.',
    '',
    `Reports (the text report's \`missing:\` lines, the HTML report, \`--json\`) name a transition \`STATE --EVENT#N\`: its source state, its event, and N, the index (from 0) of the candidate transition among those the machine tries, in order, for that event in that state, that is among the table's rows with that source and event; for example \`${exampleKey()}\` is the first row whose source is \`${exampleKey().split(' --')[0]}\` and event \`${/--(.+)#/.exec(exampleKey())![1]}\`.`,
    '',
    '## Contents',
    '',
    ...machines.map(([name]) => `- [Machine \`${name}\`](#machine-${name.toLowerCase()})`),
    '- [Driver contracts](#driver-contracts)',
    '- [Where the reference implementation departs from Linux](#where-the-reference-implementation-departs-from-linux)',
    '- [Abstract operations](#abstract-operations)',
    '- [Requirement catalogue](#requirement-catalogue)',
    '',
  ];

  for (const [name, machine] of machines) {
    const ts = machineTransitions(machine);
    out.push(`## Machine \`${name}\``, '');
    out.push(`Defined in \`${MACHINE_FILES[name] ?? 'spec/'}\` (machine id \`${machine.id}\`): ${ts.length} transitions.`, '');
    out.push('```mermaid', mermaidDiagram(machine), '```', '');
    out.push('| # | Source | Event | Guard | Outcome | Requirements | Source text | Tests |', '|---|---|---|---|---|---|---|---|');
    ts.forEach((t, i) => {
      const ids = t.meta?.req ?? [];
      ids.forEach((id) => encode(id, `machine \`${name}\``));
      const guard = t.guardReqs.length > 0 ? sortIds(t.guardReqs).join(', ') : t.guarded ? '(unnamed)' : '-';
      out.push(`| ${i + 1} | ${code(t.source)} | ${code(t.event)} | ${guard} | ${outcome(t)} | ${ids.join(', ')} | ${cell(t.meta === undefined ? '-' : [...new Set(t.meta.source.split('; '))].join('; '))} | ${testsOf(ids, index)} |`);
    });
    out.push('');
  }

  out.push(...contractSections(root, encode));

  out.push('## Abstract operations', '');
  out.push('Pure functions in `spec/` that encode requirements no machine transition carries (or carries only in part),', 'as their header comments name them.', '');
  out.push('| File | What it is | Requirements | Tests |', '|---|---|---|---|');
  for (const op of ops) {
    op.ids.forEach((id) => encode(id, code(op.file)));
    out.push(`| ${code(op.file)} | ${cell(op.summary)} | ${op.ids.join(', ')} | ${testsOf(op.ids, index)} |`);
  }
  out.push('');

  out.push('## Requirement catalogue', '');
  out.push('Every requirement of `spec/requirements.ts`, in catalogue order.', '');
  out.push(...statusSection(options.status));
  out.push('| ID | Requirement | Source | Encoded by | Tests | Reference run |', '|---|---|---|---|---|---|');
  for (const [id, r] of Object.entries(requirements) as [string, { text: string; source: string }][]) {
    const by = [...(encodedBy.get(id) ?? [])].sort();
    out.push(`| <a id="${id.toLowerCase()}"></a>${id} | ${cell(r.text)} | ${cell(r.source)} | ${by.length === 0 ? '-' : by.join('<br>')} | ${testsOf([id], index)} | ${requirementStatus(id, options.status)} |`);
  }
  out.push('');
  return out.join('\n');
}

/** The 1-based number of the first line where `a` and `b` differ, with both lines; undefined when equal. */
export function firstDifference(a: string, b: string): { line: number; expected: string | undefined; actual: string | undefined } | undefined {
  if (a === b) return undefined;
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return { line: i + 1, expected: la[i], actual: lb[i] };
  }
  return undefined;
}
