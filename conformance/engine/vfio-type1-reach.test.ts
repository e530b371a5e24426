// Profile vfio-type1: which requirements a replayed scenario reaches. A step lists a
// requirement only where its check compared an observation that could have failed it (the
// runner counts the IDs its trace steps list: engine/scenario-profile.ts): a device write
// its mapping's permissions or an unmap's removal, a report a page owed in its range (and
// bits past its range to set), a clear a dirty page to clear or an owed page to keep. Each pair: a scenario that does not
// reach the case leaves the ID not reached, one that does reaches it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { VfioType1Config } from '../adapters/types.ts';
import type { TraceStep } from './commands.ts';
import { replayVfioType1Scenario } from './vfio-type1-profile.ts';

const GET = 1 << 2;
const NOCLEAR = 1 << 3;
const CLEAR = 1 << 4;

// Manual clear negotiated and tracking started, as most generated sequences begin.
const START = [
  { k: 'ext', extension: 11 },
  { k: 'dirty', flags: 1 },
];
/** A read-write mapping of `pages` pages at page `page` of the window (1 MiB + page * 4 KiB). */
const map = (page: number, pages: number, flags = 3) => ({ k: 'map', page, pages, flags, vaddr: 'ok', range: 'ok' });
/** A device write to page `pick` of the only mapping (or anywhere in the window with `mapped` false). */
const dma = (pick: number, mapped = true) => ({ k: 'dma', pick, mapped, offset: 0 });
/** A DIRTY_PAGES bitmap call over `pages` pages at page `page`; CLEAR_BITMAP selects `bits`. */
const bitmap = (flags: number, page: number, pages: number, bits: number[] = []) => ({ k: 'bitmap', flags, page, pages, bitmap: 'ok', range: 'ok', bits, allBits: false });
/** UNMAP_DMA with GET_DIRTY_BITMAP over `pages` pages at page `page`. */
const unmapDirty = (page: number, pages: number) => ({ k: 'unmap', page, pages, flags: 1, bitmap: 'ok', range: 'ok' });
const unmap = (page: number, pages: number) => ({ k: 'unmap', page, pages, flags: 0, bitmap: 'ok', range: 'ok' });

async function trace(ops: object[], config: VfioType1Config = { hwDirty: true }): Promise<TraceStep[]> {
  const steps: TraceStep[] = [];
  await replayVfioType1Scenario(referenceVfioType1Adapter(), { config, ops }, 5000, steps);
  return steps;
}

/** Every requirement the run's steps list (what the runner counts as reached). */
const reached = async (ops: object[], config?: VfioType1Config) => new Set((await trace(ops, config)).flatMap((s) => s.req));

/** The requirements the steps whose op starts with `op` list. */
async function listedBy(op: string, ops: object[], config?: VfioType1Config): Promise<Set<string>> {
  const steps = (await trace(ops, config)).filter((s) => s.op.startsWith(op));
  assert.ok(steps.length > 0, `no step ${op}`);
  return new Set(steps.flatMap((s) => s.req));
}

test('[VFIO-MAP-9] a device write with no mapping anywhere cannot fail the mapping rule: not reached; a write into a mapping lists it', async () => {
  assert.not.ok((await reached([...START, dma(7, false)])).has('VFIO-MAP-9'));
  assert.ok((await listedBy('device DMA write', [...START, map(0, 4), dma(1)])).has('VFIO-MAP-9'));
});

test('[VFIO-MAP-9] a write into a read-only mapping (it must fault) lists the mapping rule, not the unmap rule', async () => {
  const r = await listedBy('device DMA write', [...START, map(0, 4, 1), dma(1)]);
  assert.equal([...r], ['VFIO-MAP-9']);
});

test('[VFIO-UNMAP-11] a device write to a page no mapping ever held says nothing of an unmap: not reached', async () => {
  assert.not.ok((await reached([...START, dma(7, false)])).has('VFIO-UNMAP-11'));
});

test('[VFIO-UNMAP-11] a device write to a page an accepted UNMAP_DMA removed (it must fault) lists the unmap rule', async () => {
  // Page 1 of the window: mapped, unmapped, then written (`mapped` false picks window page 1).
  const r = await listedBy('device DMA write', [...START, map(0, 4), unmap(0, 4), dma(1, false)]);
  assert.equal([...r], ['VFIO-UNMAP-11']);
});

test('[VFIO-DIRTY-13] [NOLOSS-1] a GET_BITMAP over a mapping nothing wrote cannot lose a page: not reached; after a write: pass', async () => {
  const not = await reached([...START, map(0, 4), bitmap(GET, 0, 4)]);
  assert.not.ok(not.has('VFIO-DIRTY-13') || not.has('NOLOSS-1'), [...not].join(', '));
  const r = await listedBy('DIRTY_PAGES GET_BITMAP', [...START, map(0, 4), dma(2), bitmap(GET, 0, 4)]);
  assert.ok(r.has('VFIO-DIRTY-13') && r.has('NOLOSS-1'), [...r].join(', '));
});

test('[VFIO-CLEAR-4] a GET_BITMAP_NOCLEAR over a range with nothing owed: not reached; over an owed page: pass', async () => {
  assert.not.ok((await reached([...START, map(0, 4), dma(2), bitmap(NOCLEAR, 8, 4)])).has('VFIO-CLEAR-4'));
  assert.ok((await reached([...START, map(0, 4), dma(2), bitmap(NOCLEAR, 0, 4)])).has('VFIO-CLEAR-4'));
});

test('[VFIO-CLEAR-5] a CLEAR_BITMAP over a range with no mapping (seed 9) has nothing to clear or keep: not reached; clearing a written page: pass', async () => {
  const not = await reached([...START, bitmap(CLEAR, 8, 16, [0, 1, 2, 3])]);
  assert.not.ok(not.has('VFIO-CLEAR-5') || not.has('NOLOSS-2'), [...not].join(', '));
  assert.ok((await reached([...START, map(0, 4), dma(2), bitmap(CLEAR, 0, 4, [2])])).has('VFIO-CLEAR-5'));
});

test('[VFIO-CLEAR-5] without hardware tracking every mapped page is reported whatever a clear did: a clear of a written page does not reach the rule', async () => {
  assert.not.ok((await reached([...START, map(0, 4), dma(2), bitmap(CLEAR, 0, 4, [2])], { hwDirty: false })).has('VFIO-CLEAR-5'));
});

test('[NOLOSS-2] a CLEAR_BITMAP that selects every owed page of its range keeps none: not reached; one that must keep an owed page: pass', async () => {
  assert.not.ok((await reached([...START, map(0, 4), dma(2), bitmap(CLEAR, 0, 4, [2])])).has('NOLOSS-2'));
  const r = await listedBy('DIRTY_PAGES CLEAR_BITMAP', [...START, map(0, 4), dma(1), dma(2), bitmap(CLEAR, 0, 4, [2])]);
  assert.ok(r.has('NOLOSS-2') && r.has('VFIO-CLEAR-5'), [...r].join(', '));
});

test('[NOLOSS-3] [VFIO-UNMAP-12] UNMAP_DMA with GET_DIRTY_BITMAP over a mapping nothing wrote cannot lose a page: not reached; after a write: pass', async () => {
  const not = await reached([...START, map(0, 4), unmapDirty(0, 4)]);
  assert.not.ok(not.has('NOLOSS-3') || not.has('VFIO-UNMAP-12'), [...not].join(', '));
  const r = await reached([...START, map(0, 4), dma(3), unmapDirty(0, 4)]);
  assert.ok(r.has('NOLOSS-3') && r.has('VFIO-UNMAP-12'), [...r].join(', '));
});

test('[VFIO-DIRTY-14] without hardware tracking, a report over a range holding no whole mapping: not reached; over a mapping: pass', async () => {
  const config = { hwDirty: false };
  assert.not.ok((await reached([...START, map(0, 4), unmap(0, 4), bitmap(NOCLEAR, 0, 4)], config)).has('VFIO-DIRTY-14'));
  assert.ok((await reached([...START, map(0, 4), bitmap(NOCLEAR, 0, 4)], config)).has('VFIO-DIRTY-14'));
});

test('[BITMAP-1] reports over 64 pages have no bit past their range to set: not reached; over 4 pages (60 bits past it): pass', async () => {
  assert.not.ok((await reached([...START, map(0, 64), dma(3), bitmap(NOCLEAR, 0, 64)])).has('BITMAP-1'));
  assert.ok((await reached([...START, map(0, 4), dma(3), bitmap(NOCLEAR, 0, 4)])).has('BITMAP-1'));
});

test.run();
