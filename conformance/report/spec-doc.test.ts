// The generated spec document (SPEC.md): every requirement and every transition is in it,
// a Mermaid diagram per machine, deterministic output, and `dirtyspec spec --check`
// passing on a fresh file and failing on a stale one. The committed SPEC.md is checked
// here too, so `npm test` fails when it is stale.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import { PROFILES } from '../adapters/types.ts';
import * as assert from 'uvu/assert';
import { machineTransitions, specMachines } from '../../spec/machines.ts';
import { requirements } from '../../spec/requirements.ts';
import type { Io } from '../cli/args.ts';
import { main } from '../cli/main.ts';
import { conforming, failing, undecided } from './fixtures.ts';
import { DEFAULT_SPEC_PATH, specCommand } from '../cli/spec.ts';
import { STATUS_RUNS, STATUS_SEED, referenceStatusRun } from '../cli/spec-status.ts';
import { MERMAID_BREAK, abstractOperations, compactIds, firstDifference, idsIn, mermaidDiagram, requirementStatus, specDocument, testIndex, type StatusRun } from './spec-doc.ts';

const status = await referenceStatusRun();
const doc = specDocument({ status });

function capture(): { io: Io; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t), errIsTTY: false }, out: () => out, err: () => err };
}

/** The text of one `## ` section, heading included. */
function section(heading: string): string {
  const start = doc.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `no section ${heading}`);
  const next = doc.indexOf('\n## ', start + 1);
  return doc.slice(start + 1, next < 0 ? undefined : next);
}

const cells = (row: string): string[] => row.replace(/^\| | \|$/g, '').split(/ \| /);

test('every requirement ID of the catalogue is in the document, with its text and source', () => {
  const catalogue = section('## Requirement catalogue');
  const rows = catalogue.split('\n').filter((l) => l.startsWith('| <a id='));
  assert.is(rows.length, Object.keys(requirements).length);
  for (const [i, id] of Object.keys(requirements).entries()) {
    assert.ok(rows[i]!.startsWith(`| <a id="${id.toLowerCase()}"></a>${id} | `), `row ${i} is not ${id}: ${rows[i]}`);
    const [, text, source, , tests] = cells(rows[i]!);
    assert.ok(text!.length > 0 && source!.length > 0, id);
    assert.ok(tests !== '-', `${id} lists no tests`);
  }
  assert.match(doc, /PTE-5 \| iopte\\_writeable\\_dirty\(pte\) is \(pte & \(AP\\_RDONLY\\\|DBM\)\) == DBM\. \|/);
});

for (const [name, machine] of Object.entries(specMachines)) {
  test(`every transition of ${name} is a row of its table, in order, with its requirements and tests`, () => {
    const body = section(`## Machine \`${name}\``);
    const rows = body.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    const ts = machineTransitions(machine);
    assert.is(rows.length, ts.length);
    const index = testIndex();
    ts.forEach((t, i) => {
      const [n, source, event, guard, outcome, ids, sourceText, tests] = cells(rows[i]!);
      assert.is(n, String(i + 1));
      assert.is(source, `\`${t.source}\``, t.key);
      assert.is(event, `\`${t.event}\``, t.key);
      if (t.guardReqs.length === 0) assert.is(guard, t.guarded ? '(unnamed)' : '-', t.key);
      for (const g of t.guardReqs) assert.ok(guard!.split(', ').includes(g), `${t.key}: guard ${g}`);
      for (const target of t.targets) assert.ok(outcome!.includes(`\`${target}\``), `${t.key}: target ${target}`);
      for (const action of t.actions) assert.ok(outcome!.includes(`\`${action}\``), `${t.key}: action ${action}`);
      if (t.targets.length === 0) assert.ok(outcome!.startsWith('stays'), t.key);
      assert.is(ids, t.meta!.req.join(', '), t.key);
      assert.ok(sourceText!.length > 0, t.key);
      const expected = [...new Set(t.meta!.req.flatMap((id) => index.get(id) ?? []))].sort();
      assert.is(tests, expected.length === 0 ? '-' : expected.map((f) => `\`${f}\``).join('<br>'), t.key);
    });
  });

  test(`${name} has a Mermaid stateDiagram-v2 with every state and an arrow per state-changing transition`, () => {
    const body = section(`## Machine \`${name}\``);
    const block = /```mermaid\n([\s\S]*?)\n```/.exec(body)?.[1];
    assert.ok(block !== undefined, `${name}: no mermaid block`);
    assert.is(block, mermaidDiagram(machine));
    const lines = block!.split('\n');
    assert.is(lines[0], 'stateDiagram-v2');
    assert.is(lines.filter((l) => l.trimEnd().endsWith('{')).length, lines.filter((l) => l.trim() === '}').length, 'braces balance');
    const declared = new Set(lines.flatMap((l) => /^\s*state "[^"]+" as (s_\w+)/.exec(l)?.[1] ?? []));
    const arrows = lines.filter((l) => / --> /.test(l) && !l.includes('[*]'));
    for (const a of arrows) {
      const m = /^ {2}(s_\w+) --> (s_\w+) : (.+)$/.exec(a);
      assert.ok(m, `${name}: malformed arrow ${a}`);
      assert.ok(declared.has(m![1]!) && declared.has(m![2]!), `${name}: arrow between undeclared states: ${a}`);
      assert.not.match(m![3]!, /[#;]/, 'Mermaid ends a label at # or ;');
      for (const part of m![3]!.split(MERMAID_BREAK)) {
        const p = /^([A-Z_]+) \/ ([A-Z0-9.-]+(?:, [A-Z0-9.-]+)*)$/.exec(part);
        assert.ok(p, `${name}: malformed label line ${part}`);
        for (const id of p![2]!.split(', ')) assert.ok(Object.hasOwn(requirements, id.replace(/\.\.\d+$/, '')), `${name}: ${a}`);
      }
    }
    const pairs = arrows.map((a) => a.split(' : ')[0]);
    assert.is(new Set(pairs).size, pairs.length, 'one arrow per pair of states (Mermaid keeps one loop per state)');
    for (const t of machineTransitions(machine)) {
      for (const target of t.targets) {
        const to = `s_${target.replace(/\./g, '_')}`;
        assert.ok(declared.has(to), `${name}: target ${target} not declared`);
        const line = (a: string) =>
          a.includes(`--> ${to} : `) &&
          a
            .split(' : ')[1]!
            .split(MERMAID_BREAK)
            .some((l) => l.startsWith(`${t.event} / `) && t.meta!.req.every((id) => idsIn(l.split(' / ')[1]!).includes(id)));
        assert.ok(arrows.some(line), `${name}: no arrow for ${t.key}`);
      }
    }
    if (machine.root.type === 'parallel' || lines.some((l) => l.includes('(parallel)')))
      assert.ok(
        lines.some((l) => l.trim() === '--'),
        `${name}: parallel regions need a -- separator`,
      );
  });
}

test('the catalogue gives each requirement its status in the reference run, and names the run', () => {
  const catalogue = section('## Requirement catalogue');
  assert.ok(catalogue.includes(`\`dirtyspec run --seed ${STATUS_SEED} --runs ${STATUS_RUNS}\``), 'the document names the run');
  assert.equal(
    status.results.map((r) => [r.name, r.verdict, r.seed]),
    PROFILES.map((p) => [p, 'conforms', STATUS_SEED]),
  );
  for (const r of status.results) assert.ok(catalogue.includes(`| \`${r.name}\` | conforms | ${r.runs} | ${r.commands} | `), `${r.name}: its line in the run table`);
  const rows = catalogue.split('\n').filter((l) => l.startsWith('| <a id='));
  let decided = 0;
  for (const [i, id] of Object.keys(requirements).entries()) {
    const last = cells(rows[i]!).at(-1)!;
    assert.is(last, requirementStatus(id, status), id);
    if (last !== '-') decided++;
  }
  assert.ok(decided >= 90, `only ${decided} requirements decided by the run`);
  assert.match(rows.find((r) => r.includes('>NOLOSS-1 |'))!, /\| pass: smmu-hw, smmu-driver, vfio-type1, kvm-dirty-log \|$/);
  assert.match(rows.find((r) => r.includes('>VFIO-CLEAR-5 |'))!, /\| pass: vfio-type1 \|$/);
});

test('a requirement status lists the profiles per verdict, worst first, and - when no profile decides it', () => {
  const run: StatusRun = { seed: 7, runs: 10, results: [conforming, failing, undecided] };
  assert.is(requirementStatus('NOLOSS-1', run), 'FAIL: smmu-driver; UNDECIDED: smmu-driver; pass: smmu-hw');
  assert.is(requirementStatus('SPLIT-1', run), 'pass: smmu-driver');
  assert.is(requirementStatus('MAP-2', run), 'UNDECIDED: smmu-driver');
  assert.is(requirementStatus('PTE-5', run), '-');
  const small = specDocument({ status: run });
  assert.match(small, /`dirtyspec run --seed 7 --runs 10`/);
  assert.match(small, /\| `smmu-driver` \| DOES NOT CONFORM \| 67 \| 506 \| `leafDescriptor` 49\/49 \(100%\)/);
});

test('the abstract operations: spec/ files other than machines and tests, with the IDs of their headers', () => {
  const ops = abstractOperations();
  const files = ops.map((o) => o.file);
  assert.equal(files, [...files].sort());
  assert.ok(!files.some((f) => f.endsWith('-machine.ts') || f.endsWith('.test.ts') || f.endsWith('requirements.ts')), files.join(' '));
  assert.ok(files.includes('spec/descriptor/encoding.ts'));
  const args = ops.find((o) => o.file === 'spec/vfio/args.ts');
  assert.ok(args?.ids.includes('VFIO-DIRTY-14') && args.ids.includes('VFIO-MAP-8'));
  const section_ = section('## Abstract operations');
  for (const op of ops) assert.ok(section_.includes(`| \`${op.file}\` |`), op.file);
  assert.equal(idsIn('Requirements: VFIO-MAP-1..3, TRACK-7, NOPE-1, ARM IHI 0070 E.a'), ['VFIO-MAP-1', 'VFIO-MAP-2', 'VFIO-MAP-3', 'TRACK-7']);
  assert.equal(compactIds(['HTTU-1', 'HTTU-2', 'HTTU-3', 'HTTU-5', 'FAULT-2', 'FAULT-3', 'VFIO-MAP-9']), ['HTTU-1..3', 'HTTU-5', 'FAULT-2', 'FAULT-3', 'VFIO-MAP-9']);
});

test("the document explains how reports name a transition (STATE --EVENT#N), as the text report's legend does", () => {
  assert.match(doc, /`STATE --EVENT#N`: its source state, its event, and N, the index \(from 0\) of the candidate transition/);
  // Its example is a real key, and the row it names is in the table.
  const example = /for example `([^`]+ --[A-Z_]+#\d+)`/.exec(doc)?.[1];
  assert.ok(example !== undefined, 'an example key');
  assert.ok(
    machineTransitions(specMachines.leafDescriptor).some((t) => t.key === example),
    example,
  );
});

test('the document is deterministic: two generations are equal and hold no timestamp', () => {
  assert.is(specDocument({ status }), doc);
  assert.not.match(doc, /\b20\d\d-\d\d-\d\dT\d\d:/);
  assert.ok(doc.endsWith('\n'));
});

test('firstDifference names the first differing line', () => {
  assert.is(firstDifference('a\nb\nc', 'a\nb\nc'), undefined);
  assert.equal(firstDifference('a\nb\nc', 'a\nB\nc'), { line: 2, expected: 'b', actual: 'B' });
  assert.equal(firstDifference('a\nb', 'a\nb\nextra'), { line: 3, expected: undefined, actual: 'extra' });
});

test('spec --check passes on a freshly generated file and fails (exit 1) on a modified copy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirtyspec-spec-'));
  try {
    const file = join(dir, 'SPEC.md');
    const w = capture();
    assert.is(await specCommand(['--out', file], w.io), 0);
    assert.match(w.out(), /^wrote .*SPEC\.md \(\d+ lines, \d+ bytes\)\n$/);
    assert.is(readFileSync(file, 'utf8'), doc);

    const ok = capture();
    assert.is(await main(['spec', '--out', file, '--check'], ok.io), 0);
    assert.match(ok.out(), /is up to date/);

    const lines = doc.split('\n');
    const at = lines.findIndex((l) => l.startsWith('| <a id="track-3">'));
    lines[at] = lines[at]!.replace('TRACK-3 |', 'TRACK-3 (edited by hand) |');
    writeFileSync(file, lines.join('\n'));
    const stale = capture();
    assert.is(await main(['spec', '--check', `--out=${file}`], stale.io), 1);
    const column = lines[at]!.indexOf('TRACK-3 (edited') + 'TRACK-3 '.length + 1;
    assert.match(stale.err(), new RegExp(`is stale: first difference at line ${at + 1}, column ${column}\\n`));
    assert.match(stale.err(), /found: {4}…?".*TRACK-3 \(edited by hand\)/);

    rmSync(file);
    const missing = capture();
    assert.is(await specCommand(['--check', '--out', file], missing.io), 1);
    assert.match(missing.err(), /cannot be read \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spec: --help, and a usage error for an unknown flag or an argument', async () => {
  const h = capture();
  assert.is(await main(['spec', '--help'], h.io), 0);
  assert.match(h.out(), /^usage: dirtyspec spec \[--out FILE\] \[--check\]/);
  const bad = capture();
  assert.is(await main(['spec', '--chek'], bad.io), 2);
  assert.match(bad.err(), /unknown flag --chek/);
  const pos = capture();
  assert.is(await main(['spec', 'SPEC.md'], pos.io), 2);
  const empty = capture();
  assert.is(await main(['spec', '--out='], empty.io), 2);
});

test('the committed SPEC.md is up to date (dirtyspec spec --check; regenerate with `npx dirtyspec spec`)', async () => {
  const c = capture();
  const exit = await specCommand(['--check'], c.io);
  assert.is(exit, 0, c.err());
  assert.ok(DEFAULT_SPEC_PATH.endsWith('/SPEC.md'));
  assert.is(readFileSync(DEFAULT_SPEC_PATH, 'utf8'), doc);
});

test.run();
