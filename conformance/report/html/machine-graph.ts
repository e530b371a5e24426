// A spec machine as a Graphviz graph for the HTML report: atomic states as nodes,
// compound and parallel states as clusters, one arrow per pair of states with a line per
// event (`EVENT / requirement IDs`), as the Mermaid diagrams of SPEC.md draw them. A
// path (the transitions a counterexample's steps took, as the trace records them) is
// drawn on top: its arrows and states highlighted, each taken line numbered with its
// steps, the violating step's arrows and target states marked. Uncovered transitions
// (coverage) are drawn faint. Layout is Graphviz's (dot, compiled to WebAssembly by
// @viz-js/viz); this module only writes the DOT text.
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { machineTransitions } from '../../../spec/machines.ts';
import type { TakenTransition } from '../../../model/transition-table.ts';
import { compactIds } from '../spec-doc.ts';

/** One line of an arrow: an event and the transitions of it drawn there. */
interface EdgeLine {
  readonly event: string;
  readonly keys: Set<string>;
  readonly ids: Set<string>;
}

export interface MachineEdge {
  /** Dotted state paths; `from` may be a compound state (the arrow leaves its cluster). */
  readonly from: string;
  readonly to: string;
  readonly lines: EdgeLine[];
}

export interface MachineGraph {
  readonly id: string;
  readonly root: AnyStateNode;
  /** Every state node by dotted path ('' is the root). */
  readonly nodes: ReadonlyMap<string, AnyStateNode>;
  readonly edges: readonly MachineEdge[];
}

const isWithin = (path: string, ancestor: string): boolean => ancestor === '' || path === ancestor || path.startsWith(`${ancestor}.`);
const pathOf = (n: AnyStateNode): string => n.path.join('.');
const children = (n: AnyStateNode): AnyStateNode[] => Object.values(n.states) as AnyStateNode[];
const atomic = (n: AnyStateNode): AnyStateNode[] => (children(n).length === 0 ? [n] : children(n).flatMap(atomic));

/** The arrows of a machine, built from its transitions as the spec document's diagrams are. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const nodes = new Map<string, AnyStateNode>();
  const collect = (n: AnyStateNode): void => {
    nodes.set(pathOf(n), n);
    children(n).forEach(collect);
  };
  collect(machine.root);
  const edges = new Map<string, MachineEdge>();
  const add = (from: AnyStateNode, to: AnyStateNode, event: string, key: string, ids: readonly string[]): void => {
    const k = `${pathOf(from)}\u0000${pathOf(to)}`;
    const edge = edges.get(k) ?? { from: pathOf(from), to: pathOf(to), lines: [] };
    edges.set(k, edge);
    let line = edge.lines.find((l) => l.event === event);
    if (line === undefined) edge.lines.push((line = { event, keys: new Set(), ids: new Set() }));
    line.keys.add(key);
    ids.forEach((id) => line.ids.add(id));
  };
  for (const t of machineTransitions(machine)) {
    const src = nodes.get(t.source === '(root)' ? '' : t.source)!;
    const ids = t.meta?.req ?? [];
    const compound = children(src).length > 0;
    if (t.targets.length === 0) {
      for (const a of compound ? atomic(src) : [src]) add(a, a, t.event, t.key, ids);
      continue;
    }
    for (const target of t.targets) {
      const dst = nodes.get(target)!;
      const landing = atomic(dst)[0]!; // a compound target: the arrow enters its cluster at its first state
      if (compound && isWithin(target, pathOf(src))) for (const a of atomic(src)) add(a, landing, t.event, t.key, ids);
      else add(src, landing, t.event, t.key, ids);
    }
  }
  for (const e of edges.values()) e.lines.sort((a, b) => a.event.localeCompare(b.event));
  return { id: machine.id, root: machine.root, nodes, edges: [...edges.values()].sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to)) };
}

/** Where a path goes on the graph: per arrow line, the steps (1-based) that took it. */
export interface PathOnGraph {
  /** `edgeIndex/event` -> step numbers, ascending. */
  readonly lines: Map<string, number[]>;
  /** Atomic states the path entered or left. */
  readonly states: Set<string>;
  /** The violating step's arrow lines and target states. */
  readonly violatingLines: Set<string>;
  readonly violatingStates: Set<string>;
  /** Transitions of the path the graph has no arrow for (a machine changed since the trace was recorded). */
  readonly unplaced: number;
}

/** The step's transitions of this machine, placed on its arrows: the arrow whose source holds one of the active states. */
export function placePath(graph: MachineGraph, steps: readonly { readonly transitions?: readonly TakenTransition[] }[], violating: number | undefined): PathOnGraph {
  const byKey = new Map<string, { edge: number; line: EdgeLine }[]>();
  graph.edges.forEach((e, edge) => {
    for (const line of e.lines) for (const k of line.keys) (byKey.get(k) ?? byKey.set(k, []).get(k)!).push({ edge, line });
  });
  const out: PathOnGraph = { lines: new Map(), states: new Set(), violatingLines: new Set(), violatingStates: new Set(), unplaced: 0 };
  let unplaced = 0;
  steps.forEach((step, i) => {
    for (const t of step.transitions ?? []) {
      if (t.machine !== graph.id) continue;
      const places = (byKey.get(t.transition) ?? []).filter(({ edge }) => t.from.some((s) => isWithin(s, graph.edges[edge]!.from)));
      if (places.length === 0) unplaced++;
      for (const { edge, line } of places) {
        const e = graph.edges[edge]!;
        const id = `${edge}/${line.event}`;
        const list = out.lines.get(id) ?? [];
        if (list[list.length - 1] !== i + 1) list.push(i + 1);
        out.lines.set(id, list);
        const landed = t.to.filter((s) => isWithin(s, e.to));
        for (const s of [...t.from.filter((s) => isWithin(s, e.from)), ...landed]) out.states.add(s);
        if (i === violating) {
          out.violatingLines.add(id);
          landed.forEach((s) => out.violatingStates.add(s));
        }
      }
    }
  });
  // A violating step that took no transition at all (a report checked, a final bitmap
  // read) was judged in the states the machines stood in: mark those.
  if (violating !== undefined && (steps[violating]?.transitions ?? []).length === 0) {
    for (let i = Math.min(violating, steps.length) - 1; i >= 0; i--) {
      const last = (steps[i]!.transitions ?? []).filter((t) => t.machine === graph.id).at(-1);
      if (last === undefined) continue;
      last.to.forEach((s) => out.violatingStates.add(s));
      break;
    }
  }
  return { ...out, unplaced };
}

export interface DotOptions {
  /** Prefix of every id in the SVG: unique in the HTML document. */
  readonly prefix: string;
  readonly path?: PathOnGraph;
  /** Transition keys not covered: their lines are faint, an arrow with none covered is dashed. */
  readonly missing?: ReadonlySet<string>;
  /** Steps whose rows the report shows: an arrow gets the class `step-N` for each (default: every step). */
  readonly shown?: (step: number) => boolean;
}

const COLOURS = { ink: '#1f2328', muted: '#59636e', faint: '#b6bcc4', path: '#0969da', pathFill: '#ddf4ff', bad: '#cf222e', badFill: '#ffebe9', node: '#f6f8fa' };

/** A DOT double-quoted string. */
export function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Text inside a Graphviz HTML-like label. */
export function dotHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const WRAP = 46;

/** `EVENT / ID, ID` wrapped after a comma at about WRAP characters. */
function lineText(line: EdgeLine): string[] {
  const ids = compactIds([...line.ids].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })));
  const rows: string[] = [];
  let row = `${line.event} /`;
  for (const [i, id] of ids.entries()) {
    const piece = `${id}${i < ids.length - 1 ? ',' : ''}`;
    if (row.length + piece.length + 1 > WRAP && row.length > line.event.length + 2) {
      rows.push(row);
      row = `   ${piece}`;
    } else row = `${row} ${piece}`;
  }
  rows.push(ids.length === 0 ? line.event : row);
  return rows;
}

/** Step numbers as `#3, #7` (at most five, then how many more). */
function stepsText(steps: readonly number[]): string {
  const shown = steps
    .slice(0, 5)
    .map((n) => `#${n}`)
    .join(', ');
  return steps.length > 5 ? `${shown} +${steps.length - 5}` : shown;
}

/** The DOT text of a machine, with a path and coverage drawn on it. */
export function machineDot(graph: MachineGraph, options: DotOptions): string {
  const { prefix, path, missing } = options;
  const nid = (p: string) => dotString(`${prefix}-s-${p}`);
  const out: string[] = [
    `digraph ${dotString(prefix)} {`,
    `  id=${dotString(prefix)}; rankdir=LR; bgcolor="transparent"; nodesep=0.3; ranksep=0.5; fontname="Helvetica,Arial,sans-serif"; fontsize=11; compound=true;`,
    `  node [shape=box, style="rounded,filled", fillcolor="${COLOURS.node}", color="${COLOURS.muted}", fontcolor="${COLOURS.ink}", fontname="Helvetica,Arial,sans-serif", fontsize=11, height=0.3, margin="0.12,0.04"];`,
    `  edge [color="${COLOURS.muted}", fontcolor="${COLOURS.muted}", fontname="Helvetica,Arial,sans-serif", fontsize=8, arrowsize=0.6];`,
  ];
  const stateNode = (n: AnyStateNode, indent: string): void => {
    const p = pathOf(n);
    const classes = ['state'];
    const attrs: string[] = [];
    if (path?.violatingStates.has(p)) {
      classes.push('visited', 'violating');
      attrs.push(`fillcolor="${COLOURS.badFill}"`, `color="${COLOURS.bad}"`, 'penwidth=2.2');
    } else if (path?.states.has(p)) {
      classes.push('visited');
      attrs.push(`fillcolor="${COLOURS.pathFill}"`, `color="${COLOURS.path}"`, 'penwidth=1.6');
    }
    out.push(`${indent}${nid(p)} [id=${nid(p)}, class=${dotString(classes.join(' '))}, label=${dotString(n.key)}${attrs.length > 0 ? `, ${attrs.join(', ')}` : ''}];`);
  };
  // Initial markers where the machine starts: the root, or each region of a parallel root.
  // (Nested compound states are only entered by transitions that name their target.)
  const startsHere = (n: AnyStateNode): boolean => n === graph.root || (n.parent === graph.root && graph.root.type === 'parallel');
  let initials = 0;
  const initialMarker = (n: AnyStateNode, indent: string): void => {
    const first = n.type === 'parallel' || !startsHere(n) ? undefined : (n.initial?.target?.[0] as AnyStateNode | undefined);
    if (first === undefined) return;
    const dot = dotString(`${prefix}-init-${initials++}`);
    out.push(`${indent}${dot} [id=${dot}, shape=point, width=0.09, label="", style=filled, fillcolor="${COLOURS.ink}", color="${COLOURS.ink}"];`);
    out.push(`${indent}${dot} -> ${nid(pathOf(atomic(first)[0]!))} [arrowsize=0.5, class="initial"];`);
  };
  const body = (n: AnyStateNode, indent: string): void => {
    initialMarker(n, indent);
    for (const c of children(n)) {
      if (children(c).length === 0) {
        stateNode(c, indent);
        continue;
      }
      const cid = dotString(`cluster_${prefix}-${pathOf(c)}`);
      out.push(`${indent}subgraph ${cid} {`);
      out.push(`${indent}  id=${cid}; label=${dotString(`${c.key}${c.type === 'parallel' ? ' (parallel)' : ''}`)}; style="rounded,dashed"; color="${COLOURS.faint}"; fontcolor="${COLOURS.muted}"; fontsize=10;`);
      body(c, `${indent}  `);
      out.push(`${indent}}`);
    }
  };
  body(graph.root, '  ');

  graph.edges.forEach((e, i) => {
    const rows: string[] = [];
    const classes = ['transition'];
    let taken = false;
    let violating = false;
    let covered = false;
    for (const line of e.lines) {
      const id = `${i}/${line.event}`;
      const steps = path?.lines.get(id);
      const bad = path?.violatingLines.has(id) ?? false;
      const uncovered = missing !== undefined && [...line.keys].every((k) => missing.has(k));
      if (!uncovered) covered = true;
      const text = lineText(line).map(dotHtml);
      if (steps !== undefined) {
        for (const n of steps) if (options.shown?.(n) ?? true) classes.push(`step-${n}`);
        taken = true;
        violating ||= bad;
        const colour = bad ? COLOURS.bad : COLOURS.path;
        text[0] = `<B>${text[0]}</B>`;
        text.push(`<B>${dotHtml(`${bad ? '✗ ' : ''}${stepsText(steps)}`)}</B>`);
        rows.push(...text.map((t) => `<FONT COLOR="${colour}">${t}</FONT>`));
      } else if (uncovered) rows.push(...text.map((t) => `<FONT COLOR="${COLOURS.faint}">${t}</FONT>`));
      else rows.push(...text);
    }
    const attrs: string[] = [`id=${dotString(`${prefix}-e${i}`)}`];
    if (taken) classes.push('taken');
    if (violating) classes.push('violating');
    if (missing !== undefined && !covered) classes.push('uncovered');
    attrs.push(`class=${dotString([...new Set(classes)].join(' '))}`);
    attrs.push(`label=<${rows.join('<BR ALIGN="LEFT"/>')}<BR ALIGN="LEFT"/>>`);
    if (violating) attrs.push(`color="${COLOURS.bad}"`, 'penwidth=2.6');
    else if (taken) attrs.push(`color="${COLOURS.path}"`, 'penwidth=2.2');
    else if (missing !== undefined && !covered) attrs.push(`color="${COLOURS.faint}"`, 'style=dashed');
    const fromNode = graph.nodes.get(e.from)!;
    const fromCompound = children(fromNode).length > 0;
    const tail = fromCompound ? pathOf(atomic(fromNode)[0]!) : e.from;
    if (fromCompound) attrs.push(`ltail=${dotString(`cluster_${prefix}-${e.from}`)}`);
    out.push(`  ${nid(tail)} -> ${nid(e.to)} [${attrs.join(', ')}];`);
  });
  out.push('}');
  return out.join('\n');
}
