// Machine diagrams as inline SVG: the DOT of machine-graph.ts laid out by Graphviz
// (@viz-js/viz, WebAssembly, offline), with the parts of its SVG output an inline
// element does not need removed (XML prolog, doctype, comments, fixed size).
import { instance, type Viz } from '@viz-js/viz';
import type { AnyStateMachine } from 'xstate';
import { specMachines } from '../../../spec/machines.ts';
import type { TraceStep } from '../../engine/commands.ts';
import { machineDot, machineGraph, placePath, type MachineGraph } from './machine-graph.ts';
import { esc } from './page.ts';

let viz: Promise<Viz> | undefined;
/** One Graphviz instance per process (loading the WebAssembly takes a few tens of milliseconds). */
export function graphviz(): Promise<Viz> {
  return (viz ??= instance());
}

const graphs = new Map<string, MachineGraph>();
function graphOf(machine: AnyStateMachine): MachineGraph {
  let g = graphs.get(machine.id);
  if (g === undefined) graphs.set(machine.id, (g = machineGraph(machine)));
  return g;
}

/** The spec machine with this id, if any. */
export function machineById(id: string): AnyStateMachine | undefined {
  return (Object.values(specMachines) as AnyStateMachine[]).find((m) => m.id === id);
}

/** Graphviz's SVG as an element to inline: no prolog or comments, scaled to its box up to its natural width. */
export function inlineSvg(svg: string): string {
  const start = svg.indexOf('<svg');
  if (start < 0) throw new Error('Graphviz returned no <svg> element');
  return svg
    .slice(start)
    .replace(/<!--[\s\S]*?-->\n?/g, '')
    .replace(/^<svg width="([\d.]+)pt" height="([\d.]+)pt"/, (_m, w: string) => `<svg role="img" style="max-width:${Math.ceil(Number(w) * 1.25)}px"`)
    .trimEnd();
}

export interface DiagramRequest {
  readonly machine: AnyStateMachine;
  /** Unique in the document. */
  readonly prefix: string;
  /** A counterexample's steps: the path drawn, the violating step (0-based index) marked. */
  readonly steps?: readonly TraceStep[];
  readonly violating?: number;
  readonly shown?: (step: number) => boolean;
  /** Transition keys not covered. */
  readonly missing?: readonly string[];
  /** HTML (the caller escapes). */
  readonly caption: string;
}

/** A `<figure>` with the machine's diagram as inline SVG. */
export async function diagramFigure(req: DiagramRequest): Promise<string> {
  const graph = graphOf(req.machine);
  const path = req.steps === undefined ? undefined : placePath(graph, req.steps, req.violating);
  const dot = machineDot(graph, {
    prefix: req.prefix,
    ...(path === undefined ? {} : { path }),
    ...(req.missing === undefined ? {} : { missing: new Set(req.missing) }),
    ...(req.shown === undefined ? {} : { shown: req.shown }),
  });
  const svg = inlineSvg((await graphviz()).renderString(dot, { format: 'svg' }));
  const unplaced = path !== undefined && path.unplaced > 0 ? ` <span class="missing">(${path.unplaced} transitions of the trace have no arrow: the machine changed since the run)</span>` : '';
  return `<figure class="machine" data-machine="${esc(req.machine.id)}"><figcaption>${req.caption}${unplaced}</figcaption>\n${svg}\n</figure>`;
}
