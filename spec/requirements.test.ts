// The catalogue is complete and load-bearing: every transition and guard cites
// requirements that exist, every requirement is encoded somewhere in spec/, and a test
// names every requirement.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contracts } from './contracts/index.ts';
import { machineTransitions, specMachines } from './machines.ts';
import { isRequirementId, requirements, testTitleTags } from './requirements.ts';

const root = new URL('..', import.meta.url).pathname;

function files(dir: string, pick: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'coverage' || name === 'scratch') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path, pick));
    else if (pick(path)) out.push(path);
  }
  return out;
}

for (const [name, machine] of Object.entries(specMachines)) {
  test(`every transition of ${name} cites existing requirements and a source`, () => {
    const ts = machineTransitions(machine);
    assert.ok(ts.length > 0);
    for (const t of ts) {
      assert.ok(t.meta, `${name}: ${t.key} has no meta`);
      assert.ok(t.meta!.req.length > 0, `${name}: ${t.key} names no requirement`);
      for (const id of t.meta!.req) assert.ok(isRequirementId(id), `${name}: ${t.key} names unknown ${id}`);
      assert.ok(t.meta!.source.length > 0, `${name}: ${t.key} has no source`);
    }
  });
  test(`every named guard of ${name} cites an existing requirement`, () => {
    for (const t of machineTransitions(machine)) {
      for (const id of t.guardReqs) assert.ok(isRequirementId(id), `${name}: ${t.key} guard names unknown ${id}`);
      if (t.guarded) assert.ok(t.guardReqs.length > 0 || t.meta!.req.length > 0, `${name}: ${t.key} guard has no requirement`);
    }
  });
}

/** An anchor: a doc comment on a function naming the requirements it encodes and their source. */
interface FunctionAnchor {
  readonly fn: string;
  readonly req: string[];
  readonly source: string;
}

/**
 * The anchors of a source file, in the one fixed form (as engine262 anchors its abstract
 * operations): a doc comment directly on a function (a function declaration, a
 * function-valued const or a class method) holding one `@req` line with the requirement
 * IDs and one `@source` line (which may run on over the next lines):
 *
 *     /**
 *      * What it does.
 *      * @req PTE-1 PTE-3
 *      * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c arm_lpae_prot_to_pte
 *      *\/
 *     export function armLpaeProtToPte(...)
 *
 * `stray` counts the `@req` lines that are not on a function: an error, since they encode
 * nothing. An ID named anywhere else (a comment, a constant's doc, a string) is no anchor.
 */
function functionAnchors(text: string): { anchors: FunctionAnchor[]; problems: string[] } {
  const anchors: FunctionAnchor[] = [];
  const problems: string[] = [];
  const fnStart =
    /^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\s*\*?\s*([A-Za-z_$][\w$]*)|(?:const|let)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]*)?=\s*(?:async\s+)?(?:function\b|\(|[A-Za-z_$][\w$]*\s*=>)|(?:(?:public|private|protected|static|override|async)\s+)*\*?\s*([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\()/;
  for (const m of text.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
    const lines = m[1]!.split('\n').map((l) => l.replace(/^\s*\*?\s?/, ''));
    const reqLines = lines.filter((l) => l.startsWith('@req'));
    const sourceAt = lines.findIndex((l) => l.startsWith('@source'));
    if (reqLines.length === 0 && sourceAt < 0) continue;
    const after = text.slice(m.index! + m[0].length);
    const f = fnStart.exec(after);
    const fn = f?.[1] ?? f?.[2] ?? f?.[3];
    const line = text.slice(0, m.index!).split('\n').length;
    if (fn === undefined || ['if', 'for', 'while', 'switch', 'return', 'catch'].includes(fn)) {
      problems.push(`line ${line}: an @req or @source that is not on a function`);
      continue;
    }
    if (reqLines.length !== 1 || sourceAt < 0 || lines.filter((l) => l.startsWith('@source')).length !== 1) {
      problems.push(`${fn} (line ${line}): an anchor has exactly one @req and one @source line`);
      continue;
    }
    const req = reqLines[0]!
      .slice('@req'.length)
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '');
    const rest = lines.slice(sourceAt + 1);
    const end = rest.findIndex((l) => l.startsWith('@') || l.trim() === '');
    const source = [lines[sourceAt]!.slice('@source'.length), ...rest.slice(0, end < 0 ? rest.length : end)].join(' ').replace(/\s+/g, ' ').trim();
    anchors.push({ fn, req, source });
  }
  return { anchors, problems };
}

const anchorFiles = [...files(join(root, 'spec'), (f) => f.endsWith('.ts')), ...files(join(root, 'model'), (f) => f.endsWith('.ts'))].filter((f) => !f.endsWith('.test.ts'));

test('anchors: the fixed form is read from a doc comment on a function, and nowhere else', () => {
  const text = [
    '/** PTE-9: a constant is no function. */',
    'export const X = 1n;',
    '/**',
    ' * Encodes.',
    ' * @req PTE-1 PTE-3',
    ' * @source Linux v6.12.117 drivers/iommu/io-pgtable-arm.c',
    ' *         arm_lpae_prot_to_pte',
    ' */',
    'export function armLpaeProtToPte(prot: number): bigint {',
    '  // @req HTTU-2 in a line comment is nothing',
    '  return 0n;',
    '}',
    'class C {',
    '  /**',
    '   * @req NOLOSS-1',
    '   * @source dirtyspec design: the no-loss property',
    '   */',
    '  endReport(iova: number): void {}',
    '}',
    '/** @req MAP-1 */',
    'export function noSource(): void {}',
    '/**',
    ' * @req MAP-2',
    ' * @source somewhere',
    ' */',
    'export const LIMIT = 3;',
  ].join('\n');
  const { anchors, problems } = functionAnchors(text);
  assert.equal(anchors, [
    { fn: 'armLpaeProtToPte', req: ['PTE-1', 'PTE-3'], source: 'Linux v6.12.117 drivers/iommu/io-pgtable-arm.c arm_lpae_prot_to_pte' },
    { fn: 'endReport', req: ['NOLOSS-1'], source: 'dirtyspec design: the no-loss property' },
  ]);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /noSource .*exactly one @req and one @source/);
  assert.match(problems[1]!, /not on a function/);
});

test('every anchor in spec/ and model/ is on a function, in the fixed form, and names existing requirements', () => {
  let count = 0;
  for (const f of anchorFiles) {
    const { anchors, problems } = functionAnchors(readFileSync(f, 'utf8'));
    assert.equal(problems, [], `${relative(root, f)}: ${problems.join('; ')}`);
    for (const a of anchors) {
      count++;
      assert.ok(a.req.length > 0, `${relative(root, f)} ${a.fn}: @req names no requirement`);
      for (const id of a.req) assert.ok(isRequirementId(id), `${relative(root, f)} ${a.fn}: @req names unknown ${id}`);
      assert.ok(a.source.length > 0, `${relative(root, f)} ${a.fn}: empty @source`);
    }
  }
  assert.ok(count > 0);
});

test("every requirement is encoded by a machine transition, a contract's rule set, or an abstract operation's anchor", () => {
  const used = new Set<string>();
  for (const machine of Object.values(specMachines)) for (const t of machineTransitions(machine)) t.meta?.req.forEach((id) => used.add(id));
  for (const c of Object.values(contracts)) {
    for (const r of c.rules.replaced) r.by.forEach((id) => used.add(id));
    for (const r of c.rules.added) used.add(r.id);
  }
  for (const f of anchorFiles) for (const a of functionAnchors(readFileSync(f, 'utf8')).anchors) a.req.forEach((id) => used.add(id));
  const missing = Object.keys(requirements).filter((id) => !used.has(id));
  assert.equal(missing, [], `in the catalogue, encoded by no machine transition, contract or function anchor (@req): ${missing.join(', ')}`);
});

test('only test titles tag a test: a tag in an expected string or a comment does not', () => {
  const t = 'te' + 'st'; // not written out, so that this file's own titles are not these
  const source = [
    `${t}('[MAP-1] [MAP-2] maps a range', () => {`,
    '  // [UNMAP-1] is mentioned here',
    '  assert.match(out, /LOST [HTTU-2]/);',
    '});',
    `${t}("[CLEAR-1] it\\'s quoted", () => {});`,
    `${t}(\`[FAULT-1] template\`, () => {});`,
  ].join('\n');
  assert.equal(testTitleTags(source), ['MAP-1', 'MAP-2', 'CLEAR-1', 'FAULT-1']);
});

test('a test names every requirement, by its tag [ID]', () => {
  const tests = files(root, (f) => f.endsWith('.test.ts') && !f.endsWith('requirements.test.ts'));
  const named = new Map<string, string[]>();
  for (const f of tests) {
    for (const id of testTitleTags(readFileSync(f, 'utf8'))) {
      const list = named.get(id) ?? [];
      list.push(relative(root, f));
      named.set(id, list);
    }
  }
  const missing = Object.keys(requirements).filter((id) => !named.has(id));
  assert.equal(missing, [], `requirements no test names: ${missing.join(', ')}`);
  const unknown = [...named.keys()].filter((id) => !isRequirementId(id));
  assert.equal(unknown, [], `tests name unknown requirements: ${unknown.join(', ')}`);
});

test.run();
