// The HTML report: its structure (a section per profile or mutant, a row per step, the
// violating step marked, the machines as inline SVG with the path highlighted), escaping
// of everything that comes from the run, self-containment (no URL it would fetch), and
// a size that grows with the counterexample, not with the commands run.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { smmuTables } from '../../model/run-context.ts';
import type { TakenTransition, TransitionTable } from '../../model/transition-table.ts';
import { machineTransitions, specMachines } from '../../spec/machines.ts';
import type { AnyStateMachine } from 'xstate';
import type { Io } from '../cli/args.ts';
import { main } from '../cli/main.ts';
import type { TraceStep } from '../engine/commands.ts';
import type { ProfileResult } from '../engine/run-profile.ts';
import { conforming, failing, undecided } from './fixtures.ts';
import { htmlMutantsReport, htmlRunReport, type MutantReportEntry } from './html.ts';
import { inlineSvg } from './html/diagrams.ts';
import { dotHtml, dotString, machineGraph, placePath } from './html/machine-graph.ts';
import { csp, esc } from './html/page.ts';
import { HEAD_ROWS, MAX_ROWS, rowShown, transitionText } from './html/trace.ts';

/** The shared transitions of a table entry that takes `key`, one that takes the fewest others with it. */
function taken(table: TransitionTable<AnyStateMachine>, key: string): readonly TakenTransition[] {
  let best: readonly TakenTransition[] | undefined;
  for (const [, , entry] of table.entries()) if (entry.transitions.includes(key) && (best === undefined || entry.taken.length < best.length)) best = entry.taken;
  if (best === undefined) throw new Error(`no entry takes ${key}`);
  return best;
}
const leaf = smmuTables().leaf as unknown as TransitionTable<AnyStateMachine>;
const iotlb = smmuTables().iotlb as unknown as TransitionTable<AnyStateMachine>;

const MAP_DIRTY = 'invalid --MAP#0';
const CLEAR = 'valid.permission.writableDirty --CLEAR_DIRTY#0';
const HTTU_WRITE = 'valid.permission.writableClean --DMA_WRITE#1';
const TLB_WRITE = 'cached.writableClean --DMA_WRITE#0';

/** A failing smmu profile whose steps carry real transitions: map, clear, then a write that must dirty the leaf. */
const steps: TraceStep[] = [
  { op: 'map(0x0, 1 pages, rw, pa page-aligned)', answer: '0', expected: '0', req: ['MAP-2', 'MAP-5'], transitions: taken(leaf, MAP_DIRTY) },
  { op: 'readAndClearDirty(0x0, 1 pages)', answer: '0, dirty [0x0]', expected: '0, dirty [0x0]', req: ['CLEAR-1'], transitions: taken(leaf, CLEAR) },
  { op: 'dmaWrite(stream #0) -> 0x0 <b>&', answer: 'ok pa=0x1000', expected: 'ok pa=0x1000', req: ['HTTU-2', 'IOTLB-5'], transitions: [...taken(leaf, HTTU_WRITE), ...taken(iotlb, TLB_WRITE)] },
];
const lost: ProfileResult = {
  ...failing,
  counterexample: { ...failing.counterexample!, steps, violation: { kind: 'loss', req: ['HTTU-2'], expected: 'leaf 0x0 L3 writableDirty', actual: 'leaf 0x0 L3 writableClean <i>"x"</i>' } },
};

const html = await htmlRunReport([conforming, lost, undecided], { runs: 67 });

const count = (text: string, re: RegExp): number => [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`))].length;
/** The HTML of the element with this id, up to the closing tag of the same name at its depth (sections do not nest). */
function sectionOf(doc: string, id: string): string {
  const start = doc.indexOf(`<section class="profile" id="${id}"`);
  assert.ok(start >= 0, `no section ${id}`);
  return doc.slice(start, doc.indexOf('</section>', start));
}

test('a run report: a summary row and a section per profile with its verdict, requirements and coverage', () => {
  assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">'));
  assert.ok(html.trimEnd().endsWith('</html>'));
  assert.is(count(html, /<section class="profile"/), 3);
  assert.is(count(html, /<section class="profile" id="p-smmu-driver"/), 2, 'two results of one profile keep their order');
  assert.match(html, /<h1>dirtyspec run <span class="badge v-undecided">UNDECIDED<\/span><\/h1>/);
  const hw = sectionOf(html, 'p-smmu-hw');
  assert.match(hw, /data-verdict="conforms"/);
  assert.is(count(hw, /<tr class="req v-pass" data-req="[A-Z0-9-]+">/), conforming.requirements.length);
  assert.match(hw, /<td><code>iotlbEntry<\/code><\/td><td class="num">34\/36<\/td>/);
  assert.match(hw, /staleDirty --EVICT#0<br>staleUnmapped --EVICT#0/);
  assert.not.match(hw, /class="counterexample"/);
});

test('a failure: the violation, a row per step, the last one marked violating, config and replay command', () => {
  const s = sectionOf(html, 'p-smmu-driver');
  assert.match(s, /<div class="violation" data-kind="loss">\n<div><span class="kind">LOST DIRTY PAGE<\/span> <code>\[HTTU-2\]<\/code><\/div>/);
  const rows = [...s.matchAll(/<tr class="step( violating)?" data-step="(\d+)"( data-violating="true")?/g)];
  assert.equal(
    rows.map((r) => [r[2], r[1] !== undefined, r[3] !== undefined]),
    [
      ['1', false, false],
      ['2', false, false],
      ['3', true, true],
    ],
  );
  assert.match(s, /<span class="mark">violation<\/span>/);
  assert.match(s, /leafDescriptor<\/span> permission\.writableClean → permission\.writableDirty <span class="ev">DMA_WRITE<\/span>/);
  assert.match(s, /config: <code>httu=2 bbml=2 iotlbCapacity=1/);
  assert.match(s, /npx dirtyspec run --profile smmu-driver --seed 7 --replay &#39;12:0:0:3:4&#39;/);
});

test('the machines the steps went through as inline SVG: the path highlighted, the violating step marked', () => {
  const s = sectionOf(html, 'p-smmu-driver');
  const ce = s.slice(s.indexOf('<div class="counterexample"'), s.indexOf('<h3>Requirements'));
  assert.equal(
    [...ce.matchAll(/<figure class="machine" data-machine="(\w+)">/g)].map((m) => m[1]),
    ['leafDescriptor', 'iotlbEntry'],
  );
  assert.is(count(ce, /<svg /), 2);
  // Taken arrows: MAP and CLEAR_DIRTY (steps 1, 2), the leaf's DMA_WRITE and the entry's (step 3, violating).
  const edges = [...ce.matchAll(/<g id="([^"]+)" class="edge ([^"]+)">\n<title>([^<]*)<\/title>/g)].map((m) => ({ id: m[1]!, classes: m[2]!.replace(/&#45;/g, '-').split(' '), title: m[3]! }));
  const takenEdges = edges.filter((e) => e.classes.includes('taken'));
  assert.ok(takenEdges.length >= 4, `${takenEdges.length} taken edges`);
  const bad = edges.filter((e) => e.classes.includes('violating'));
  assert.is(bad.length, 2, 'one violating arrow per machine');
  for (const e of bad) assert.ok(e.classes.includes('step-3') && e.classes.includes('taken'), e.id);
  assert.ok(
    bad.some((e) => /writableClean&#45;&gt;.*writableDirty/.test(e.title)),
    bad.map((e) => e.title).join(' | '),
  );
  assert.ok(takenEdges.some((e) => e.classes.includes('step-1') && !e.classes.includes('violating')));
  // The violating step's target states are marked; states visited on the way too.
  assert.is(count(ce, /class="node state visited violating">\n<title>[^<]*writableDirty<\/title>/), 2);
  assert.ok(count(ce, /class="node state visited"/) >= 1);
  // Each taken line is labelled with its steps; the violating one with a cross.
  assert.match(ce, /✗ #3/);
  assert.match(ce, /#1/);
});

test('everything from the run is escaped: adapter names, operations, answers, violation text', () => {
  assert.ok(html.includes('acme &lt;driver&gt; &amp; &quot;co&quot;'));
  assert.not.ok(html.includes('acme <driver>'));
  assert.ok(html.includes('dmaWrite(stream #0) -&gt; 0x0 &lt;b&gt;&amp;'));
  assert.ok(html.includes('writableClean &lt;i&gt;&quot;x&quot;&lt;/i&gt;'));
  assert.not.match(html, /<b>&|<i>"x"/);
  assert.is(esc(`<a href="x" onclick='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  assert.is(dotString('a "b" \\ c\nd'), '"a \\"b\\" \\\\ c\\nd"');
  assert.is(dotHtml('<B>&"'), '&lt;B&gt;&amp;&quot;');
});

test('self-contained: a CSP that forbids every request, no URL to fetch, one inline script and style', () => {
  assert.ok(html.includes(`<meta http-equiv="Content-Security-Policy" content="${esc(csp())}">`));
  assert.match(csp(), /default-src 'none'/);
  assert.match(csp(), /script-src 'sha256-[A-Za-z0-9+/]+=*'/, 'the inline script is allowed by its hash, nothing else');
  assert.not.match(csp(), /script-src[^;]*unsafe-inline/);
  assert.not.match(html, /\s(?:src|href|xlink:href)="(?!#)/, 'only in-page links');
  const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
  assert.ok(
    urls.every((u) => u === 'http://www.w3.org/2000/svg' || u === 'http://www.w3.org/1999/xlink'),
    urls.join(' '),
  );
  assert.is(count(html, /<script\b/), 1);
  assert.is(count(html, /<script>/), 1, 'inline, not loaded');
  assert.is(count(html, /<link\b|<img\b|<iframe\b|@import|url\(/), 0);
  assert.not.match(html, /<\?xml|<!DOCTYPE svg|<!-- Generated by graphviz/);
});

test('the size grows with the counterexample, not with the commands run: a 10,000-step trace stays under 2 MB', async () => {
  const many = (n: number): ProfileResult => ({ ...lost, commands: n, runs: n, counterexample: { ...lost.counterexample!, steps: Array.from({ length: n }, (_, i) => steps[i % steps.length]!) } });
  const small = await htmlRunReport([{ ...lost, commands: 10 }]);
  const big = await htmlRunReport([{ ...lost, commands: 10_000_000, runs: 1_000_000 }]);
  assert.ok(Math.abs(big.length - small.length) < 40, `${small.length} vs ${big.length}`);
  const long = await htmlRunReport([many(10_000)]);
  assert.ok(Buffer.byteLength(long) < 2_000_000, `${Buffer.byteLength(long)} bytes`);
  assert.is(count(long, /<tr class="step/), MAX_ROWS, 'the first and the last rows only');
  assert.match(long, new RegExp(`… steps ${HEAD_ROWS + 1} to ${10_000 - (MAX_ROWS - HEAD_ROWS)} not shown`));
  assert.match(long, /<tr class="step violating" data-step="10000" data-violating="true"/);
  assert.ok(rowShown(1, 10_000) && rowShown(HEAD_ROWS, 10_000) && !rowShown(HEAD_ROWS + 1, 10_000) && rowShown(10_000, 10_000) && rowShown(5, 6));
});

test('coverage diagrams: a transition not taken is a faint line, an arrow with none taken is dashed and marked uncovered', async () => {
  const hw = sectionOf(html, 'p-smmu-hw');
  const cov = hw.slice(hw.indexOf('<details class="coverage-diagrams">'));
  assert.is(count(cov, /<figure class="machine"/), 3);
  assert.not.match(cov, /class="edge[^"]*(taken|uncovered)/, 'each arrow of the fixture has a covered line');
  assert.match(cov, /fill="#b6bcc4"[^>]*>EVICT \/ IOTLB&#45;11<\/text>/, 'the EVICT lines not taken are faint');
  const missing = ['staleDirty --INVALIDATE#0', 'staleDirty --EVICT#0'];
  const doc = await htmlRunReport([{ ...conforming, transitionCoverage: { iotlbEntry: { covered: 41, total: 43, missing } } }]);
  const uncovered = [...doc.matchAll(/<g id="[^"]+" class="edge transition uncovered">\n<title>([^<]*)<\/title>/g)].map((m) => m[1]);
  assert.equal(uncovered, ['p&#45;smmu&#45;hw&#45;cov&#45;iotlbEntry&#45;s&#45;staleDirty&#45;&gt;p&#45;smmu&#45;hw&#45;cov&#45;iotlbEntry&#45;s&#45;absent']);
});

test('the graph of each machine has every transition on an arrow line, and a trace is placed on the arrow leaving its active state', () => {
  for (const machine of Object.values(specMachines) as AnyStateMachine[]) {
    const g = machineGraph(machine);
    const onGraph = new Set(g.edges.flatMap((e) => e.lines.flatMap((l) => [...l.keys])));
    for (const t of machineTransitions(machine)) assert.ok(onGraph.has(t.key), `${machine.id}: ${t.key}`);
  }
  const g = machineGraph(specMachines.leafDescriptor);
  const path = placePath(g, steps, 2);
  assert.is(path.unplaced, 0);
  assert.equal([...path.violatingStates], ['valid.permission.writableDirty']);
  const lines = [...path.lines].map(([id, s]) => `${g.edges[Number(id.split('/')[0])]!.from}->${g.edges[Number(id.split('/')[0])]!.to} ${id.split('/')[1]} ${s.join(',')}`);
  assert.ok(lines.includes('valid.permission.writableClean->valid.permission.writableDirty DMA_WRITE 3'), lines.join('\n'));
  assert.ok(lines.includes('valid.permission.writableDirty->valid.permission.writableClean CLEAR_DIRTY 2'), lines.join('\n'));
  assert.equal(transitionText(taken(leaf, CLEAR)[0]!), { machine: 'leafDescriptor', from: 'permission.writableDirty', to: 'permission.writableClean', event: 'CLEAR_DIRTY' });
  assert.equal(transitionText(taken(iotlb, 'absent --DMA_READ#0')[0]!), { machine: 'iotlbEntry', from: 'absent', to: undefined, event: 'DMA_READ' });
  assert.match(inlineSvg('<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="100pt" height="50pt"\n viewBox="0 0 100 50"><!-- c -->\n<g/></svg>\n'), /^<svg role="img" style="max-width:125px"\n viewBox="0 0 100 50"><g\/><\/svg>$/);
});

const killed: MutantReportEntry = { name: 'clear-<x>', bugClass: 'stale-iotlb', profile: 'smmu-driver', description: 'Clears & forgets <b>.', killed: true, result: lost };
const survived: MutantReportEntry = { name: 'quiet', bugClass: 'false-dirty', profile: 'smmu-hw', description: 'Hides.', killed: false, result: conforming };
const crashed: MutantReportEntry = {
  name: 'oops',
  bugClass: 'bad-input-accepted',
  profile: 'iova-bitmap',
  description: 'Divides by zero.',
  killed: true,
  result: { ...undecided, name: 'iova-bitmap', undecided: { message: 'oops iova_bitmap_alloc threw: RangeError: Division by zero', steps: undecided.undecided!.steps } },
};

test('a mutants report: the kill table, then a section per mutant, each kill with its counterexample or crash marked', async () => {
  const doc = await htmlMutantsReport([killed, survived, crashed], { runs: 50, summary: 'killed 2 of 3 mutants' });
  assert.match(doc, /<title>dirtyspec mutants: killed 2 of 3<\/title>/);
  assert.is(count(doc, /<tr data-state="(killed|survived)">/), 3);
  assert.equal(
    [...doc.matchAll(/<section class="mutant" id="([^"]+)" data-mutant="([^"]+)" data-state="(\w+)">/g)].map((m) => [m[1], m[2], m[3]]),
    [
      ['m-clear-_x_', 'clear-&lt;x&gt;', 'killed'],
      ['m-quiet', 'quiet', 'survived'],
      ['m-oops', 'oops', 'killed'],
    ],
  );
  assert.ok(doc.includes('Clears &amp; forgets &lt;b&gt;.'));
  assert.match(doc, /The suite did not find this fault in 200 runs/);
  assert.match(doc, /npx dirtyspec mutants --mutant &#39;clear-&lt;x&gt;&#39; --runs 50/);
  const crash = doc.slice(doc.indexOf('id="m-oops"'));
  assert.match(crash, /killed by the crash it causes:<\/b> oops iova_bitmap_alloc threw/);
  assert.match(crash, /<tr class="step violating" data-step="2" data-violating="true" tabindex="0"><td class="n num">2<br><span class="mark">crash<\/span><\/td><td class="mono">the implementation threw<\/td>/);
  assert.is(count(doc, /<tr class="step violating"/), 2, 'the kill and the crash');
  assert.match(doc, /each with the seed its name hashes to/);
  const other = await htmlMutantsReport([killed], { runs: 50, summary: 'killed 1 of 1 mutants', seedsByName: false });
  assert.not.match(other, /npx dirtyspec mutants/, 'no replay command that would run another seed');
  assert.match(other, /each with the seed shown in its section/);
});

function capture(): { io: Io; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t), errIsTTY: false }, out: () => out, err: () => err };
}

test('an undecided run with a replay path: its shrunk steps and the replay command; random and directed runs apart', async () => {
  const doc = await htmlRunReport([
    { ...undecided, replay: { seed: 9, path: '3:1@A' } },
    { ...conforming, runs: 1083, directedRuns: 83 },
  ]);
  assert.match(doc, /<h3>Steps \(1, shrunk: the replay command runs them again\)<\/h3>/);
  assert.match(doc, /<div class="replay mono">npx dirtyspec run --profile smmu-driver --seed 9 --replay &#39;3:1@A&#39;<\/div>/);
  assert.match(doc, / · 1000 random \+ 83 directed runs · /);
});

test('run --html and mutants --html write the file; a file that cannot be written is exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-html-'));
  try {
    const run = capture();
    mkdirSync(join(dir, 'sub'));
    assert.is(await main(['run', '--profile', 'vfio-type1', '--runs', '3', '--seed', '1', '--html', join(dir, 'sub', 'run.html')], run.io), 0, run.err());
    const doc = readFileSync(join(dir, 'sub', 'run.html'), 'utf8');
    assert.match(doc, /<section class="profile" id="p-vfio-type1" data-profile="vfio-type1" data-verdict="conforms">/);
    assert.match(doc, /<figure class="machine" data-machine="vfioType1">/);
    const mut = capture();
    assert.is(await main(['mutants', '--mutant', 'vfio-bitmap-size-short', '--runs', '300', '--html', join(dir, 'mutants.html')], mut.io), 0, mut.err());
    const m = readFileSync(join(dir, 'mutants.html'), 'utf8');
    assert.match(m, /data-mutant="vfio-bitmap-size-short" data-state="killed"/);
    assert.match(m, /<tr class="step violating"[^>]*>/);
    assert.match(m, /class="edge[^"]*taken/);
    const bad = capture();
    assert.is(await main(['run', '--profile', 'iova-bitmap', '--runs', '1', '--seed', '1', '--html', join(dir, 'mutants.html', 'x.html')], bad.io), 2);
    assert.match(bad.err(), /--html .*mutants\.html\/x\.html: .*mutants\.html is not a folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
