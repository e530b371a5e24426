// The catalogue is complete and load-bearing: every transition and guard cites
// requirements that exist, every requirement is encoded somewhere in spec/, and a test
// names every requirement.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
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
  test(`[PTE-1] every transition of ${name} cites existing requirements and a source`, () => {
    const ts = machineTransitions(machine);
    assert.ok(ts.length > 0);
    for (const t of ts) {
      assert.ok(t.meta, `${name}: ${t.key} has no meta`);
      assert.ok(t.meta!.req.length > 0, `${name}: ${t.key} names no requirement`);
      for (const id of t.meta!.req) assert.ok(isRequirementId(id), `${name}: ${t.key} names unknown ${id}`);
      assert.ok(t.meta!.source.length > 0, `${name}: ${t.key} has no source`);
    }
  });
  test(`[PTE-1] every named guard of ${name} cites an existing requirement`, () => {
    for (const t of machineTransitions(machine)) {
      for (const id of t.guardReqs) assert.ok(isRequirementId(id), `${name}: ${t.key} guard names unknown ${id}`);
      if (t.guarded) assert.ok(t.guardReqs.length > 0 || t.meta!.req.length > 0, `${name}: ${t.key} guard has no requirement`);
    }
  });
}

test('[PTE-1] every requirement is encoded by a machine, a spec/ abstract operation or a model/ property', () => {
  const used = new Set<string>();
  for (const machine of Object.values(specMachines)) for (const t of machineTransitions(machine)) t.meta?.req.forEach((id) => used.add(id));
  const specText = [...files(join(root, 'spec'), (f) => f.endsWith('.ts')), ...files(join(root, 'model'), (f) => f.endsWith('.ts'))]
    .filter((f) => !f.endsWith('.test.ts') && !f.endsWith('requirements.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  for (const id of Object.keys(requirements)) {
    assert.ok(used.has(id) || new RegExp(`\\b${id}\\b`).test(specText), `${id} is in the catalogue but nothing in spec/ encodes it`);
  }
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

test('[PTE-1] a test names every requirement, by its tag [ID]', () => {
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
