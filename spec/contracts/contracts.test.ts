// The contracts as data: every rule they name is in the catalogue, strict is exactly the
// rule set of the SMMU machines and their abstract operations, every rule that differs
// names its source, the capabilities agree with the rules, and the hazards' scenarios
// are well formed.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { machineTransitions, specMachines } from '../machines.ts';
import { isRequirementId, requirements } from '../requirements.ts';
import { CONTRACT_NAMES, STRICT_RULES, allHazards, contractByName, contractRequirements, contracts, effectiveRules, keptRules } from './index.ts';

const root = new URL('../..', import.meta.url).pathname;
const WINDOW = 4 * 0x20_0000;
/** A kernel version or a lore message ID: what a reader can open. */
const CITABLE = /\bLinux v\d+\.\d+|\bv\d+\.\d+\b.*\.c|<[^<>\s]+@[^<>\s]+>/;

const SMMU_MACHINES = ['leafDescriptor', 'iotlbEntry', 'domainTracking'] as const;
const SMMU_FAMILIES = ['PTE', 'MAP', 'UNMAP', 'FAULT', 'HTTU', 'CLEAR', 'SPLIT', 'MERGE', 'IOTLB', 'TRACK', 'BITMAP', 'NOLOSS', 'PRECISION'];

function machineRules(): Set<string> {
  const out = new Set<string>();
  for (const name of SMMU_MACHINES) {
    for (const t of machineTransitions(specMachines[name])) {
      for (const id of t.meta?.req ?? []) out.add(id);
      for (const id of t.guardReqs) out.add(id);
    }
  }
  return out;
}

function sourceOf(dir: string): string {
  return readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => readFileSync(join(root, dir, f), 'utf8'))
    .join('\n');
}

test("every rule a contract names, and every hazard's requirement, is in the catalogue", () => {
  for (const c of Object.values(contracts)) {
    const named = [...keptRules(c), ...c.rules.replaced.flatMap((r) => [r.id, ...r.by]), ...c.rules.dropped.map((r) => r.id), ...c.rules.added.map((r) => r.id), ...c.hazards.flatMap((h) => h.req)];
    for (const id of named) assert.ok(isRequirementId(id), `${c.name}: ${id} is not in spec/requirements.ts`);
  }
});

test('the catalogue spreads every contract requirement, text and source unchanged', () => {
  for (const [id, r] of Object.entries(contractRequirements)) {
    assert.ok(isRequirementId(id), `${id} is missing from spec/requirements.ts`);
    assert.equal(requirements[id as keyof typeof requirements], r);
  }
});

test('strict applies every rule of the leaf, IOTLB and tracking machines', () => {
  const strict = new Set<string>(STRICT_RULES);
  for (const id of machineRules()) assert.ok(strict.has(id), `${id} is cited by an SMMU machine but not a strict rule`);
});

test("strict's rules beyond the machines are the ones the encoding, clear-range, bitmap, walk-cache and ghost code encode", () => {
  const machine = machineRules();
  const text = [sourceOf('spec/descriptor'), sourceOf('spec/bitmap'), readFileSync(join(root, 'model/ghost.ts'), 'utf8'), readFileSync(join(root, 'model/walk-cache.ts'), 'utf8')].join('\n');
  for (const id of STRICT_RULES.filter((r) => !machine.has(r))) assert.ok(new RegExp(`\\b${id}\\b`).test(text), `${id} is a strict rule but neither a machine nor those files encode it`);
});

test('strict is every SMMU requirement of the catalogue, and no variant rule', () => {
  const variant = new Set(Object.keys(contractRequirements));
  const smmu = Object.keys(requirements).filter((id) => SMMU_FAMILIES.includes(id.split('-')[0]!) && !variant.has(id));
  assert.equal([...STRICT_RULES].sort(), smmu.sort());
  assert.equal(effectiveRules(contracts.strict).sort(), [...STRICT_RULES].sort());
  assert.equal(contracts.strict.rules, { replaced: [], dropped: [], added: [] });
  assert.equal(contracts.strict.hazards, []);
});

test('a contract replaces or drops only strict rules, each once, and adds only variant rules', () => {
  const strict = new Set<string>(STRICT_RULES);
  const variant = new Set(Object.keys(contractRequirements));
  for (const c of Object.values(contracts)) {
    const changed = [...c.rules.replaced.map((r) => r.id), ...c.rules.dropped.map((r) => r.id)];
    assert.equal(new Set(changed).size, changed.length, `${c.name} changes a rule twice`);
    for (const id of changed) assert.ok(strict.has(id), `${c.name}: ${id} is not a strict rule`);
    for (const r of c.rules.replaced) {
      assert.ok(r.by.length > 0, `${c.name}: ${r.id} replaced by nothing`);
      for (const id of r.by) assert.ok(variant.has(id), `${c.name}: ${r.id} replaced by ${id}, not a variant rule`);
    }
    for (const r of c.rules.added) assert.ok(variant.has(r.id), `${c.name}: added ${r.id} is not a variant rule`);
  }
});

test('every variant rule is applied by exactly the contract its suffix names', () => {
  const owner = { U: 'linux-upstream', R: 'rfc-2021' } as const;
  for (const id of Object.keys(contractRequirements)) {
    const suffix = /-([UR])\d+$/.exec(id)?.[1] as 'U' | 'R' | undefined;
    assert.ok(suffix !== undefined, `${id}: a variant rule ends in -U<n> or -R<n>`);
    for (const name of CONTRACT_NAMES) {
      const applies = effectiveRules(contracts[name]).includes(id as never);
      assert.is(applies, name === owner[suffix], `${id} ${applies ? 'applied' : 'not applied'} by ${name}`);
    }
  }
});

test('every rule that differs, and every hazard, cites a kernel version or a message ID', () => {
  for (const c of Object.values(contracts)) {
    for (const r of [...c.rules.replaced, ...c.rules.dropped, ...c.rules.added]) {
      assert.match(r.source, CITABLE, `${c.name} ${r.id}: "${r.source}"`);
      assert.ok(r.why.length > 0, `${c.name} ${r.id} says not why`);
    }
    for (const h of c.hazards) assert.match(h.source, CITABLE, `${c.name} ${h.id}: "${h.source}"`);
  }
  for (const [id, r] of Object.entries(contractRequirements)) assert.match(r.source, CITABLE, `${id}: "${r.source}"`);
});

test('the capabilities agree with the rules: no split or merge rule where the operation is missing', () => {
  for (const c of Object.values(contracts)) {
    const ops = c.capabilities.operations;
    assert.is(ops.splitBlock, c.capabilities.split !== undefined, `${c.name}: operations.splitBlock vs split`);
    assert.is(ops.mergePages, c.capabilities.merge !== undefined, `${c.name}: operations.mergePages vs merge`);
    const rules = new Set<string>(effectiveRules(c));
    if (!ops.splitBlock) assert.ok(!rules.has('SPLIT-1') && !rules.has('SPLIT-2'), `${c.name} has no split but applies SPLIT-1/2`);
    if (!ops.mergePages) assert.ok(!rules.has('MERGE-1') && !rules.has('MERGE-2'), `${c.name} has no merge but applies MERGE-1/2`);
    if (!c.capabilities.unmap.reportsDirty) assert.ok(!rules.has('NOLOSS-3'), `${c.name}: unmap reports nothing but NOLOSS-3 applies`);
    if (c.capabilities.cdHaHd !== 'while-tracking') assert.ok(!rules.has('TRACK-2') && !rules.has('TRACK-7'), `${c.name}: HA/HD do not follow tracking but TRACK-2/7 apply`);
    if (c.capabilities.create.pageGranular === 'never') assert.ok(!rules.has('TRACK-4'), `${c.name}: no page-granular policy but TRACK-4 applies`);
  }
});

test('hazards: unique IDs, scenarios that start with create, stay in the window and use only operations the contract has', () => {
  const ids = allHazards().map((h) => h.hazard.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const { contract, hazard } of allHazards()) {
    const c = contracts[contract];
    assert.is(hazard.steps[0]?.op, 'create', `${hazard.id} starts with create`);
    for (const step of hazard.steps) {
      if ('iova' in step) {
        assert.is(step.iova % 0x1000, 0, `${hazard.id}: iova ${step.iova} not page-aligned`);
        const size = 'size' in step ? step.size : 0x1000;
        assert.ok(step.iova >= 0 && step.iova + size <= WINDOW && size % 0x1000 === 0, `${hazard.id}: ${step.op} outside the 8 MiB window`);
      }
      if (step.op === 'splitBlock') assert.ok(c.capabilities.operations.splitBlock, `${hazard.id}: splitBlock under ${contract}`);
      if (step.op === 'mergePages') assert.ok(c.capabilities.operations.mergePages, `${hazard.id}: mergePages under ${contract}`);
    }
    const at = hazard.steps[hazard.misses.atStep];
    assert.ok(at !== undefined && (at.op === 'readAndClearDirty' || at.op === 'unmap'), `${hazard.id}: misses at a report or an unmap`);
    assert.ok(hazard.misses.pages.length > 0, `${hazard.id} misses no page`);
  }
});

test('docs/CONTRACTS.md names every variant rule, every rule a contract replaces or drops, and every hazard', () => {
  const doc = readFileSync(join(root, 'docs/CONTRACTS.md'), 'utf8');
  const mentioned = (id: string) => new RegExp(`\\b${id}\\b`).test(doc);
  for (const id of Object.keys(contractRequirements)) assert.ok(mentioned(id), `${id} is not in docs/CONTRACTS.md`);
  for (const c of Object.values(contracts)) {
    assert.ok(doc.includes(`## ${c.name}`), `no section for ${c.name}`);
    for (const r of [...c.rules.replaced, ...c.rules.dropped]) assert.ok(mentioned(r.id), `${c.name}: ${r.id} is not in docs/CONTRACTS.md`);
    for (const h of c.hazards) assert.ok(doc.includes(`**${h.id}**`), `${h.id} is not in docs/CONTRACTS.md`);
  }
});

test("every requirement whose source says it DEPARTS from Linux is in docs/CONTRACTS.md's one list of departures", () => {
  const doc = readFileSync(join(root, 'docs/CONTRACTS.md'), 'utf8');
  const start = doc.indexOf('## Where the reference implementation departs from Linux');
  assert.ok(start >= 0, 'the departures section');
  const list = doc.slice(start, doc.indexOf('\n## ', start + 3));
  const departing = Object.entries(requirements).filter(([, r]) => r.source.includes('DEPARTS'));
  assert.ok(departing.length >= 10, `${departing.length} requirements say DEPARTS`);
  const missing = departing.map(([id]) => id).filter((id) => !new RegExp(`\\b${id}\\b`).test(list));
  assert.equal(missing, [], `not in the departures list: ${missing.join(' ')}`);
});

test('contractByName finds each contract and refuses an unknown name, naming the known ones', () => {
  for (const name of CONTRACT_NAMES) assert.is(contractByName(name).name, name);
  assert.throws(() => contractByName('linux'), /contract: must be one of strict, linux-upstream, rfc-2021, got "linux"/);
});

test.run();
