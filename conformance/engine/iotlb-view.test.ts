// smmu-hw with the adapter's IOTLB view (SmmuHw.iotlbEntries): the kit follows the
// implementation's IOTLB as it follows its own in smmu-driver, and without the view it
// keeps accepting an eviction before any access.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { SmmuHw, SmmuHwAdapter, SmmuIotlbEntry } from '../adapters/types.ts';
import { findMutant } from '../mutants/index.ts';
import { runProfile } from './run-profile.ts';
import { createSystem } from './system.ts';

const quick = { runs: 1, timeoutMs: 2000, maxCommands: 30 };
/** The directed test that evicts an entry left stale by an unmap without TLBI. */
const evictStaleUnmapped = { seed: 0, path: 'directed:iotlbEntry/staleUnmapped --EVICT#0' };
const config = { httu: 2, bbml: 2, iotlbCapacity: 2, dirtyCapable: true, pageGranular: false } as const;

/** `adapter` with its SMMU's IOTLB view replaced by `view` (absent when undefined). */
function withView(adapter: SmmuHwAdapter, view?: (hw: SmmuHw) => () => unknown): SmmuHwAdapter {
  return {
    ...adapter,
    async create(memory, cfg) {
      const { iotlbEntries, ...rest } = await adapter.create(memory, cfg);
      if (view === undefined) return rest;
      // A view may answer anything: the kit checks its shape.
      return { ...rest, iotlbEntries: view({ ...rest, ...(iotlbEntries === undefined ? {} : { iotlbEntries }) }) as () => readonly SmmuIotlbEntry[] };
    },
  };
}

test('[IOTLB-11] smmu-hw with the IOTLB view: an eviction that writes its entry back is blamed on the eviction', async () => {
  const mutant = findMutant('hw-evict-writes-back')!.adapter as SmmuHwAdapter;
  const r = await runProfile(mutant, { ...quick, ...evictStaleUnmapped });
  assert.is(r.verdict, 'does-not-conform');
  assert.ok(r.counterexample!.violation.req.includes('IOTLB-11'), r.counterexample!.violation.req.join(' '));
});

test('[IOTLB-11] smmu-hw without the IOTLB view: the same fault is caught, blamed on the access that needed the room', async () => {
  const mutant = withView(findMutant('hw-evict-writes-back')!.adapter as SmmuHwAdapter);
  const r = await runProfile(mutant, { ...quick, ...evictStaleUnmapped });
  assert.is(r.verdict, 'does-not-conform');
  assert.not.ok(r.counterexample!.violation.req.includes('IOTLB-11'), r.counterexample!.violation.req.join(' '));
});

test('[IOTLB-11] smmu-hw: the reference passes the eviction of a stale entry with its view and without it', async () => {
  for (const adapter of [referenceSmmuHwAdapter(), withView(referenceSmmuHwAdapter())]) {
    const r = await runProfile(adapter, { ...quick, ...evictStaleUnmapped });
    assert.is(r.verdict, 'conforms');
  }
});

test("smmu-hw: the system reads the adapter's IOTLB view, the entries of the domain's ASID only, and has none without it", async () => {
  const other = { asid: 7, base: 0, level: 3, state: 'writable' };
  const sys = await createSystem(
    withView(referenceSmmuHwAdapter(), (hw) => () => [...hw.iotlbEntries!(), other]),
    config,
    { timeoutMs: 2000 },
  );
  assert.is(await sys.attach(0), 0);
  assert.is(await sys.map(0, 0x8000_0000, 0x2000, 3), 0);
  assert.is(await sys.setDirtyTracking(true), 0);
  assert.ok((await sys.dma(0, 0x1000, true)).ok);
  assert.equal(sys.tlb(), [{ base: 0x1000, level: 3, state: 'writableDirty' }]);
  const without = await createSystem(withView(referenceSmmuHwAdapter()), config, { timeoutMs: 2000 });
  assert.is(without.tlb(), undefined);
});

test('smmu-hw: a malformed IOTLB view, or one that throws, makes the run undecided, naming the field', async () => {
  const cases: [unknown, RegExp][] = [
    [{}, /expected an array/],
    [[{ asid: 1, base: 0x1000, level: 4, state: 'writable' }], /level must be 1, 2 or 3/],
    [[{ asid: 1, base: 0x1000, level: 2, state: 'writable' }], /base must be a non-negative integer aligned/],
    [[{ asid: 1, base: 0, level: 3, state: 'dirty' }], /state must be one of readOnly, writable, writableClean, writableDirty/],
    [[{ base: 0, level: 3, state: 'writable' }], /asid must be an integer/],
  ];
  for (const [answer, message] of cases) {
    const r = await runProfile(
      withView(referenceSmmuHwAdapter(), () => () => answer),
      { ...quick, seed: 1, directed: false },
    );
    assert.is(r.verdict, 'undecided', JSON.stringify(answer));
    assert.match(r.undecided!.message, message);
  }
  const threw = await runProfile(
    withView(referenceSmmuHwAdapter(), () => () => {
      throw new Error('no view today');
    }),
    { ...quick, seed: 1, directed: false },
  );
  assert.is(threw.verdict, 'undecided');
  assert.match(threw.undecided!.message, /iotlbEntries threw: Error: no view today/);
});

test.run();
