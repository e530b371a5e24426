// The variant rules, each shown by a short run of its contract next to the same run under
// strict, and every hazard's scenario: it loses exactly the pages it names at the step it
// names under its contract, and nothing under strict.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allHazards, contracts } from './index.ts';
import { ScenarioError, simulate, type SimResult } from './simulate.ts';
import type { HazardStep } from './types.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
const S = 10;
const { strict } = contracts;
const upstream = contracts['linux-upstream'];
const rfc = contracts['rfc-2021'];

const create = (httu: 0 | 1 | 2, bbml: 0 | 1 | 2, dirtyCapable: boolean, pageGranular: boolean): HazardStep => ({ op: 'create', httu, bbml, dirtyCapable, pageGranular });
const UP = create(2, 0, true, false);
const RFC = create(2, 2, true, true);
const attach: HazardStep = { op: 'attach', stream: S };
const on: HazardStep = { op: 'setDirtyTracking', enable: true };
const off: HazardStep = { op: 'setDirtyTracking', enable: false };
const map = (iova: number, size: number, write = true, pa: 'block-aligned' | 'page-aligned' = 'page-aligned'): HazardStep => ({ op: 'map', iova, size, write, pa });
const write = (iova: number): HazardStep => ({ op: 'dmaWrite', iova, stream: S });
const rc = (iova: number, size: number, noClear = false): HazardStep => ({ op: 'readAndClearDirty', iova, size, noClear });
const unmap = (iova: number, size: number): HazardStep => ({ op: 'unmap', iova, size });

const last = (r: SimResult) => r.steps[r.steps.length - 1]!;
const leaf = (r: SimResult, iova: number) => r.leaves.find((l) => iova >= l.iova && iova < l.iova + l.size);
const range = (from: number, to: number) => Array.from({ length: (to - from) / PAGE }, (_, i) => from + i * PAGE);

// ---- linux-upstream ---------------------------------------------------------------------

test('[CREATE-U1] linux-upstream refuses a dirty-tracking domain without HTTU = 2 with -EOPNOTSUPP; strict creates it', () => {
  assert.is(simulate(upstream, [create(1, 0, true, false)]).steps[0]!.errno, -95);
  assert.is(simulate(strict, [create(1, 0, true, false)]).steps[0]!.errno, 0);
  assert.is(simulate(upstream, [create(2, 0, true, false)]).steps[0]!.errno, 0);
});

test('[TRACK-U1] linux-upstream: a stream attached while tracking is off has HA and HD; under strict it has neither', () => {
  assert.equal(simulate(upstream, [UP, attach]).cds, [{ stream: S, ha: true, hd: true }]);
  assert.equal(simulate(strict, [UP, attach]).cds, [{ stream: S, ha: false, hd: false }]);
});

test('[TRACK-U2] linux-upstream: enabling makes a leaf writable-clean but leaves its writable-dirty IOTLB entry; strict invalidates it', () => {
  const steps = [UP, attach, map(0, PAGE), write(0), on];
  const up = simulate(upstream, steps);
  assert.is(last(up).errno, 0);
  assert.is(leaf(up, 0)!.state, 'writableClean');
  assert.equal(up.tlb, [{ iova: 0, size: PAGE, state: 'writableDirty' }]);
  assert.equal(simulate(strict, steps).tlb, []);
});

test('[TRACK-U3] linux-upstream: enabling while on clears again and disabling changes no leaf and no CD', () => {
  const up = simulate(upstream, [UP, attach, on, map(0, PAGE), write(0), on]);
  assert.is(last(up).errno, 0);
  assert.is(leaf(up, 0)!.state, 'writableClean');
  const st = simulate(strict, [UP, attach, on, map(0, PAGE), write(0), on]);
  assert.is(leaf(st, 0)!.state, 'writableDirty');
  const upOff = simulate(upstream, [UP, attach, on, map(0, PAGE), rc(0, PAGE), off]);
  assert.is(last(upOff).errno, 0);
  assert.is(leaf(upOff, 0)!.state, 'writableClean');
  assert.equal(upOff.cds, [{ stream: S, ha: true, hd: true }]);
  const stOff = simulate(strict, [UP, attach, on, map(0, PAGE), rc(0, PAGE), off]);
  assert.is(leaf(stOff, 0)!.state, 'writableDirty');
  assert.equal(stOff.cds, [{ stream: S, ha: false, hd: false }]);
});

test('[TRACK-U4] linux-upstream: enabling on a domain allocated without dirty tracking is -EOPNOTSUPP', () => {
  assert.is(last(simulate(upstream, [create(2, 0, false, false), attach, on])).errno, -95);
});

test('[CLEAR-U1] linux-upstream: read-and-clear while tracking is off returns 0 with the dirty pages; strict returns -EINVAL', () => {
  const up = last(simulate(upstream, [UP, attach, map(0, PAGE), rc(0, PAGE)]));
  assert.equal([up.errno, up.reported], [0, [0]]);
  assert.is(last(simulate(strict, [UP, attach, map(0, PAGE), rc(0, PAGE)])).errno, -22);
});

test('[CLEAR-U2] linux-upstream: a range starting inside a dirty block records from the range start for the block size and clears the block whole', () => {
  const steps = [UP, attach, map(0, MiB2, true, 'block-aligned'), map(MiB2, PAGE), on, write(PAGE), rc(PAGE, MiB2)];
  const up = simulate(upstream, steps);
  assert.equal(last(up).reported, range(PAGE, MiB2 + PAGE)); // the page at 2 MiB belongs to another leaf
  assert.is(leaf(up, 0)!.state, 'writableClean');
  const st = simulate(strict, steps);
  assert.equal(last(st).reported, range(PAGE, MiB2));
  assert.is(leaf(st, 0)!.state, 'writableDirty'); // CLEAR-4: reported, kept dirty
});

test('[CLEAR-U3] linux-upstream: a hole in the range is -EINVAL after the leaf before it was cleared; strict skips the hole', () => {
  const steps = [UP, attach, on, map(0, PAGE), write(0), rc(0, 2 * PAGE)];
  const up = simulate(upstream, steps);
  assert.is(last(up).errno, -22);
  assert.is(leaf(up, 0)!.state, 'writableClean');
  const st = last(simulate(strict, steps));
  assert.equal([st.errno, st.reported], [0, [0]]);
});

test('[CLEAR-U4] linux-upstream: the writable-dirty IOTLB entry survives the clear; strict invalidates it', () => {
  const steps = [UP, attach, on, map(0, PAGE), write(0), rc(0, PAGE)];
  assert.equal(simulate(upstream, steps).tlb, [{ iova: 0, size: PAGE, state: 'writableDirty' }]);
  assert.equal(simulate(strict, steps).tlb, []);
});

test('[UNMAP-U1] linux-upstream: unmapping one page of a block unmaps nothing and keeps the block; strict splits it', () => {
  const steps = [UP, attach, map(0, MiB2, true, 'block-aligned'), unmap(0, PAGE)];
  const up = simulate(upstream, steps);
  assert.is(last(up).unmapped, 0);
  assert.is(leaf(up, 0)!.size, MiB2);
  const st = simulate(strict, steps);
  assert.is(last(st).unmapped, PAGE);
  assert.is(st.leaves.length, 511);
});

test('[UNMAP-U2] linux-upstream: a hole ends the unmap, so a page after it stays mapped; strict skips the hole', () => {
  const steps = [UP, attach, map(PAGE, PAGE), unmap(0, 2 * PAGE)];
  const up = simulate(upstream, steps);
  assert.equal([last(up).unmapped, up.leaves.length], [0, 1]);
  const st = simulate(strict, steps);
  assert.equal([last(st).unmapped, st.leaves.length], [PAGE, 0]);
});

test('[UNMAP-U3] linux-upstream: unmapping a dirty page while tracking reports nothing; strict reports it', () => {
  const steps = [UP, attach, on, map(0, PAGE), write(0), unmap(0, PAGE)];
  assert.equal(last(simulate(upstream, steps)).reported, []);
  assert.equal(last(simulate(strict, steps)).reported, [0]);
});

// ---- rfc-2021 ---------------------------------------------------------------------------

test('[CREATE-R1] rfc-2021: the HD quirk follows HTTU alone: writable-dirty leaves with HTTU = 2, plain writable ones with HTTU = 1', () => {
  assert.is(simulate(rfc, [create(2, 2, true, true), map(0, PAGE)]).leaves[0]!.state, 'writableDirty');
  assert.is(simulate(rfc, [create(1, 2, false, true), map(0, PAGE)]).leaves[0]!.state, 'writable');
  assert.throws(
    () => simulate(rfc, [create(1, 2, true, true)]),
    (e: unknown) => e instanceof ScenarioError && /hardware decides the HD quirk/.test(e.message),
  );
});

test('[TRACK-R1] rfc-2021: a stream attached while tracking is off has HA and HD', () => {
  assert.equal(simulate(rfc, [RFC, attach]).cds, [{ stream: S, ha: true, hd: true }]);
});

test('[TRACK-R2] rfc-2021: start is -ENODEV without HTTU = 2 and -EBUSY while on; it splits the writable-dirty block, not the read-only one, and clears nothing', () => {
  assert.is(last(simulate(rfc, [create(1, 2, false, true), attach, on])).errno, -19);
  const r = simulate(rfc, [RFC, attach, map(0, MiB2, false, 'block-aligned'), map(MiB2, MiB2, true, 'block-aligned'), on, on]);
  assert.equal([r.steps[4]!.errno, last(r).errno], [0, -16]);
  assert.is(leaf(r, 0)!.size, MiB2);
  assert.equal(
    r.leaves.filter((l) => l.iova >= MiB2).map((l) => `${l.size}:${l.state}`),
    Array(512).fill(`${PAGE}:writableDirty`),
  );
  // BBML 0: the split fails, start still returns 0 and the block stays a block.
  const b0 = simulate(rfc, [create(2, 0, true, true), attach, map(0, MiB2, true, 'block-aligned'), on]);
  assert.equal([last(b0).errno, leaf(b0, 0)!.size], [0, MiB2]);
});

test('[TRACK-R3] rfc-2021: stop is -EINVAL while off, and merges a contiguous run start did not split into a writable-dirty block; strict leaves it pages', () => {
  assert.is(last(simulate(rfc, [RFC, attach, off])).errno, -22);
  const steps: HazardStep[] = [RFC, attach, on, map(MiB2, MiB2, true, 'block-aligned'), { op: 'splitBlock', iova: MiB2 }, rc(MiB2, MiB2), off];
  const r = simulate(rfc, steps);
  assert.is(last(r).errno, 0);
  assert.equal([leaf(r, MiB2)!.size, leaf(r, MiB2)!.state], [MiB2, 'writableDirty']);
  const st = simulate(strict, steps);
  assert.equal([leaf(st, MiB2)!.size, leaf(st, MiB2)!.state], [PAGE, 'writableDirty']);
});

test('[SPLIT-R1] rfc-2021: splitting a read-only block returns 0 and leaves it a block; with BBML 0 split is -ENODEV', () => {
  const r = simulate(rfc, [RFC, map(0, MiB2, false, 'block-aligned'), { op: 'splitBlock', iova: 0 }]);
  assert.equal([last(r).errno, leaf(r, 0)!.size], [0, MiB2]);
  const st = simulate(strict, [RFC, map(0, MiB2, false, 'block-aligned'), { op: 'splitBlock', iova: 0 }]);
  assert.is(leaf(st, 0)!.size, PAGE);
  assert.is(last(simulate(rfc, [create(2, 0, true, true), map(0, MiB2, true, 'block-aligned'), { op: 'splitBlock', iova: 0 }])).errno, -19);
});

test('[SPLIT-R2] rfc-2021: the pages of a split writable-dirty block are all writable-dirty', () => {
  const r = simulate(rfc, [RFC, map(0, MiB2, true, 'block-aligned'), { op: 'splitBlock', iova: 0 }]);
  assert.equal(new Set(r.leaves.map((l) => `${l.size}:${l.state}`)), new Set([`${PAGE}:writableDirty`]));
});

test('[MERGE-R1] rfc-2021: merging where a block is returns 0, where nothing is -EFAULT, and with BBML 0 -ENODEV; strict fails the first two', () => {
  const steps: HazardStep[] = [RFC, map(0, MiB2, true, 'block-aligned'), { op: 'mergePages', iova: 0, level: 2 }, { op: 'mergePages', iova: MiB2, level: 2 }];
  const r = simulate(rfc, steps);
  assert.equal([r.steps[2]!.errno, r.steps[3]!.errno], [0, -14]);
  const st = simulate(strict, steps);
  assert.ok(st.steps[2]!.errno < 0 && st.steps[3]!.errno < 0);
  assert.is(last(simulate(rfc, [create(2, 0, true, true), map(0, MiB2, true, 'block-aligned'), { op: 'mergePages', iova: 0, level: 2 }])).errno, -19);
});

test("[MERGE-R2] rfc-2021: merging clean pages gives a writable-dirty block; strict keeps the first page's state", () => {
  const steps: HazardStep[] = [RFC, attach, on, map(0, MiB2, true, 'block-aligned'), { op: 'splitBlock', iova: 0 }, rc(0, MiB2), { op: 'mergePages', iova: 0, level: 2 }];
  assert.equal(
    simulate(rfc, steps).leaves.map((l) => `${l.size}:${l.state}`),
    [`${MiB2}:writableDirty`],
  );
  assert.equal(
    simulate(strict, steps).leaves.map((l) => `${l.size}:${l.state}`),
    [`${MiB2}:writableClean`],
  );
});

test('[CLEAR-R1] rfc-2021: reading the dirty log is -EINVAL over a hole and while tracking is off', () => {
  assert.is(last(simulate(rfc, [RFC, attach, on, map(0, PAGE), write(0), rc(0, 2 * PAGE, true)])).errno, -22);
  assert.is(last(simulate(rfc, [RFC, attach, map(0, PAGE), rc(0, PAGE, true)])).errno, -22);
  const ok = last(simulate(rfc, [RFC, attach, on, map(0, PAGE), write(0), rc(0, PAGE, true)]));
  assert.equal([ok.errno, ok.reported], [0, [0]]);
});

test('[CLEAR-R2] rfc-2021: a clear over a range that cuts a dirty block is -EINVAL after clearing the pages before it, and the whole IOTLB is flushed', () => {
  const h = rfc.hazards.find((x) => x.id === 'H-R2')!;
  const r = simulate(rfc, h.steps.slice(0, 7));
  assert.is(last(r).errno, -22);
  assert.is(leaf(r, 0)!.state, 'writableClean');
  assert.is(leaf(r, MiB2)!.state, 'writableDirty');
  assert.equal(r.tlb, []);
  assert.is(last(simulate(strict, h.steps.slice(0, 7))).errno, 0);
});

test('[UNMAP-R1] rfc-2021: unmapping a dirty page while tracking reports nothing', () => {
  assert.equal(last(simulate(rfc, [RFC, attach, on, map(0, PAGE), write(0), unmap(0, PAGE)])).reported, []);
});

// ---- the hazards --------------------------------------------------------------------------

for (const { contract, hazard } of allHazards()) {
  test(`${hazard.req.map((id) => `[${id}]`).join(' ')} ${hazard.id} under ${contract}: step ${hazard.misses.atStep} misses the pages it names; strict loses nothing`, () => {
    const r = simulate(contracts[contract], hazard.steps);
    assert.equal(r.misses, [{ atStep: hazard.misses.atStep, pages: [...hazard.misses.pages] }]);
    assert.equal(simulate(strict, hazard.steps).misses, []);
  });
}

test("a scenario the contract's caller would not send is refused, naming the step", () => {
  assert.throws(
    () => simulate(upstream, [UP, { op: 'splitBlock', iova: 0 }]),
    (e: unknown) => e instanceof ScenarioError && /step 1: splitBlock: the contract has no split operation \(contract linux-upstream\)/.test(e.message),
  );
  assert.throws(
    () => simulate(upstream, [create(2, 0, true, true)]),
    (e: unknown) => e instanceof ScenarioError && /no page-granular policy/.test(e.message),
  );
  assert.throws(
    () => simulate(strict, [attach]),
    (e: unknown) => e instanceof ScenarioError && /starts with create/.test(e.message),
  );
});

test.run();
