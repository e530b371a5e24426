// Profile vfio-type1: the uAPI a container offers, as its VFIO_CHECK_EXTENSION answers say
// (spec/vfio/args.ts Type1Uapi). Manual clear (11) is the RFC's and never merged: a container
// answering 0 runs without it (GET_BITMAP_NOCLEAR and CLEAR_BITMAP drawn only as refusals,
// VFIO-CLEAR-3..6 not reached) and one answering 1 is held to the whole manual-clear
// contract. VFIO_UNMAP_ALL (9) and VFIO_UPDATE_VADDR (10) came with Linux v5.12: answered 0,
// ALL and VADDR are unknown UNMAP_DMA flags; 10 answered 1, the kit sends no UNMAP_DMA with
// VADDR and holds MAP_DMA with VADDR to its refusals (VFIO-MAP-10). Each first answer holds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioType1Adapter } from '../adapters/types.ts';
import { ClearDoesNothingContainer, ClearWithoutOfferContainer, ExtensionAnswerChangesContainer, SizeZeroOverflowsContainer, UnmapAllWithoutOfferContainer } from '../mutants/vfio-uapi-variants.ts';
import { type ProfileResult, runProfile } from './run-profile.ts';

const SEEDS = [1, 2, 3, 4, 5];
const MANUAL_CLEAR_RULES = ['VFIO-CLEAR-3', 'VFIO-CLEAR-4', 'VFIO-CLEAR-5', 'VFIO-CLEAR-6'];

const campaign = (adapter: VfioType1Adapter, seed: number, runs = 100): Promise<ProfileResult> => runProfile(adapter, { runs, seed, timeoutMs: 2000, maxCommands: 30 });
const failure = (r: ProfileResult) => `${r.verdict}: ${r.counterexample?.violation.req.join(' ')} ${r.counterexample?.violation.expected} / ${r.counterexample?.violation.actual}`;

/** Every seed of SEEDS conforms; returns the requirements no seed reached. `each` sees every seed's result. */
async function conformsOnSeeds(adapter: VfioType1Adapter, each?: (r: ProfileResult, seed: number) => void): Promise<Set<string>> {
  let unreached: Set<string> | undefined;
  for (const seed of SEEDS) {
    const r = await campaign(adapter, seed);
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${failure(r)}`);
    each?.(r, seed);
    const u = new Set(r.unreached ?? []);
    unreached = unreached === undefined ? u : new Set([...unreached].filter((id) => u.has(id)));
  }
  return unreached!;
}

/** The first seed of 1..20 on which `adapter` does not conform, with the rules its counterexample names. */
async function firstFailure(adapter: VfioType1Adapter): Promise<{ seed: number; req: readonly string[] }> {
  for (let seed = 1; seed <= 20; seed++) {
    const r = await campaign(adapter, seed);
    if (r.verdict === 'does-not-conform') return { seed, req: r.counterexample!.violation.req };
    assert.is(r.verdict, 'conforms', `seed ${seed}: ${failure(r)}`);
  }
  throw new Error('conforms on seeds 1-20');
}

test('[VFIO-CLEAR-1] [VFIO-CLEAR-2] a container without manual clear (11 answered 0, the flags refused) conforms on seeds 1-5; VFIO-CLEAR-3..6 are not reached', async () => {
  const unreached = await conformsOnSeeds(referenceVfioType1Adapter('no-manual-clear', undefined, 'strict', { manualClear: false }));
  for (const id of MANUAL_CLEAR_RULES) assert.ok(unreached.has(id), `${id} reached without manual clear`);
  // With it (the strict reference), every one of them is reached.
  const r = await campaign(referenceVfioType1Adapter(), 1);
  for (const id of MANUAL_CLEAR_RULES) assert.not.ok((r.unreached ?? []).includes(id), `${id} not reached with manual clear`);
});

test('[VFIO-CLEAR-2] a container that answers 11 with 0 but takes CLEAR_BITMAP does not conform, naming VFIO-CLEAR-2', async () => {
  const f = await firstFailure(referenceVfioType1Adapter('clear-without-offer', ClearWithoutOfferContainer));
  assert.ok(f.req.includes('VFIO-CLEAR-2'), `seed ${f.seed}: ${f.req.join(' ')}`);
});

test('[VFIO-CLEAR-5] a container that answers 11 with 1 and takes CLEAR_BITMAP without clearing does not conform, as before', async () => {
  const f = await firstFailure(referenceVfioType1Adapter('clear-does-nothing', ClearDoesNothingContainer));
  assert.ok(f.req.includes('VFIO-CLEAR-5'), `seed ${f.seed}: ${f.req.join(' ')}`);
});

test('[VFIO-UNMAP-1] a container with the uAPI before v5.12 (9 answered 0, ALL and VADDR unknown UNMAP_DMA flags) conforms on seeds 1-5', async () => {
  await conformsOnSeeds(referenceVfioType1Adapter('before-v5.12', undefined, 'strict', { unmapAll: false }));
});

test('[VFIO-UNMAP-1] a container that answers 9 with 0 but takes VFIO_DMA_UNMAP_FLAG_ALL does not conform, naming VFIO-UNMAP-1', async () => {
  const f = await firstFailure(referenceVfioType1Adapter('unmap-all-without-offer', UnmapAllWithoutOfferContainer));
  assert.ok(f.req.includes('VFIO-UNMAP-1'), `seed ${f.seed}: ${f.req.join(' ')}`);
});

// VFIO-MAP-10's transitions: -EINVAL over a mapping (#3) and -ENOENT over none (#4), tracking off and on.
const MAP10 = ['tracking.off --MAP_DMA#3', 'tracking.off --MAP_DMA#4', 'tracking.on --MAP_DMA#3', 'tracking.on --MAP_DMA#4'];

test("[VFIO-MAP-10] [VFIO-UNMAP-3] upstream Linux's uAPI (9 and 10 answered 1, 11 answered 0) conforms on seeds 1-5 with no UNMAP_DMA with VADDR sent; MAP_DMA with VADDR takes all four of VFIO-MAP-10's transitions on each seed", async () => {
  const unreached = await conformsOnSeeds(referenceVfioType1Adapter('linux-uapi', undefined, 'strict', { manualClear: false, updateVaddr: true }), (r, seed) => {
    const missing = r.transitionCoverage.vfioType1!.missing.filter((k) => MAP10.includes(k));
    assert.equal(missing, [], `seed ${seed}: ${missing.join(', ')} not taken in 100 sequences`);
  });
  assert.not.ok(unreached.has('VFIO-MAP-10'));
  assert.ok(unreached.has('VFIO-UNMAP-3'));
});

test('[VFIO-EXT-1] an optional extension answered 0 and then 1 does not conform, naming VFIO-EXT-1', async () => {
  const f = await firstFailure(referenceVfioType1Adapter('answer-changes', ExtensionAnswerChangesContainer, 'strict', { unmapAll: false }));
  assert.ok(f.req.includes('VFIO-EXT-1'), `seed ${f.seed}: ${f.req.join(' ')}`);
});

test('[VFIO-MAP-3] [VFIO-UNMAP-7] [VFIO-DIRTY-6] a container with the range checks of the addressable-limit series (Linux v6.18: -EOVERFLOW past 2^64, a report ending at 2^64 taken) conforms on seeds 1-5', async () => {
  await conformsOnSeeds(referenceVfioType1Adapter('addressable-limit', undefined, 'strict', { rangeChecks: 'addressable-limit' }));
});

test('[VFIO-DIRTY-7] a container with those checks that answers a report of size 0 with -EOVERFLOW does not conform, naming VFIO-DIRTY-7', async () => {
  const f = await firstFailure(referenceVfioType1Adapter('size-zero-overflows', SizeZeroOverflowsContainer));
  assert.ok(f.req.includes('VFIO-DIRTY-7'), `seed ${f.seed}: ${f.req.join(' ')}`);
});

test.run();
