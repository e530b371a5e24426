// The rfc-2021 example adapter (the driver with the 2021 HTTU RFC applied) against the
// rfc-2021 contract: its hazard scenarios and the variant rules' scenarios of
// spec/contracts/simulate.test.ts, played on the adapter with the kit's SMMU, give the
// answers, the leaves and the missed pages the contract's simulation predicts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contracts } from '../../../spec/contracts/index.ts';
import { simulate } from '../../../spec/contracts/simulate.ts';
import type { HazardStep } from '../../../spec/contracts/types.ts';
import { play } from './play.ts';
import { rfc2021Adapter } from './rfc-2021.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
const rfc = contracts['rfc-2021'];
const adapter = rfc2021Adapter();
const S = 10;
const create = (httu: 0 | 1 | 2, bbml: 0 | 1 | 2): HazardStep => ({ op: 'create', httu, bbml, dirtyCapable: httu === 2, pageGranular: true });
const RFC = create(2, 2);
const attach: HazardStep = { op: 'attach', stream: S };
const on: HazardStep = { op: 'setDirtyTracking', enable: true };
const off: HazardStep = { op: 'setDirtyTracking', enable: false };
const map = (iova: number, size: number, write = true, pa: 'block-aligned' | 'page-aligned' = 'page-aligned'): HazardStep => ({ op: 'map', iova, size, write, pa });
const dma = (iova: number): HazardStep => ({ op: 'dmaWrite', iova, stream: S });
const rc = (iova: number, size: number, noClear = false): HazardStep => ({ op: 'readAndClearDirty', iova, size, noClear });
const unmap = (iova: number, size: number): HazardStep => ({ op: 'unmap', iova, size });
const split = (iova: number): HazardStep => ({ op: 'splitBlock', iova });
const merge = (iova: number): HazardStep => ({ op: 'mergePages', iova, level: 2 });

/** The adapter's answers and its final leaves equal the contract simulation's, step for step. */
async function matchesSimulation(steps: readonly HazardStep[]): Promise<void> {
  const sim = simulate(rfc, steps);
  const got = await play(adapter, steps);
  for (const [i, s] of sim.steps.entries()) {
    const g = got.steps[i]!;
    const at = `step ${i} ${s.op}`;
    assert.is(g.errno, s.errno, `${at}: errno`);
    if (s.dma !== undefined) assert.is(g.dma, s.dma, `${at}: DMA`);
    if (s.unmapped !== undefined) assert.is(g.unmapped, s.unmapped, `${at}: bytes unmapped`);
    if (s.reported !== undefined && s.errno === 0) assert.equal(g.reported, s.reported, `${at}: pages reported`);
  }
  assert.equal(
    got.leaves,
    sim.leaves.map((l) => ({ iova: l.iova, size: l.size, state: l.state })),
    'the leaves in memory are the simulation leaves',
  );
}

for (const h of rfc.hazards) {
  test(`[${h.req.join(', ')}] ${h.id}: the adapter plays "${h.title}" as the contract simulation does`, async () => {
    await matchesSimulation(h.steps);
    assert.equal(simulate(rfc, h.steps).misses, [h.misses]);
  });
}

test('[CREATE-R1, TRACK-R1] the HD quirk follows HTTU alone, and every CD has HA and HD from attach on', async () => {
  await matchesSimulation([RFC, attach, map(0, PAGE), dma(0)]);
  await matchesSimulation([create(1, 2), attach, map(0, PAGE), dma(0)]);
  const { cdWord0 } = await play(adapter, [create(1, 2), attach]);
  assert.is(cdWord0.get(S)! & (3n << 42n), 3n << 42n);
});

test('[TRACK-R2] start is -ENODEV without HTTU = 2 and -EBUSY while on; it splits the writable-dirty block, not the read-only one; with BBML 0 the block stays', async () => {
  await matchesSimulation([create(1, 2), attach, on]);
  await matchesSimulation([RFC, attach, map(0, MiB2, false, 'block-aligned'), map(MiB2, MiB2, true, 'block-aligned'), on, on]);
  await matchesSimulation([create(2, 0), attach, map(0, MiB2, true, 'block-aligned'), on]);
});

test('[TRACK-R3, MERGE-R2] stop is -EINVAL while off, and merges a contiguous run into a writable-dirty block', async () => {
  await matchesSimulation([RFC, attach, off]);
  await matchesSimulation([RFC, attach, on, map(MiB2, MiB2, true, 'block-aligned'), split(MiB2), rc(MiB2, MiB2), off]);
});

test('[SPLIT-R1, SPLIT-R2] a read-only block stays a block (0); a writable-dirty one splits into writable-dirty pages; BBML 0 is -ENODEV', async () => {
  await matchesSimulation([RFC, attach, map(0, MiB2, false, 'block-aligned'), split(0)]);
  await matchesSimulation([RFC, attach, map(0, MiB2, true, 'block-aligned'), split(0)]);
  await matchesSimulation([create(2, 0), attach, map(0, MiB2, true, 'block-aligned'), split(0)]);
});

test('[MERGE-R1] merging where a block is returns 0, where nothing is -EFAULT, and with BBML 0 -ENODEV', async () => {
  await matchesSimulation([RFC, attach, map(0, MiB2, true, 'block-aligned'), merge(0), merge(MiB2)]);
  await matchesSimulation([create(2, 0), attach, map(0, MiB2, true, 'block-aligned'), merge(0)]);
});

test('[CLEAR-R1, CLEAR-R2] the dirty log is -EINVAL over a hole and while off; a clear reports, clears and flushes', async () => {
  await matchesSimulation([RFC, attach, on, map(0, PAGE), dma(0), rc(0, 2 * PAGE, true)]);
  await matchesSimulation([RFC, attach, map(0, PAGE), rc(0, PAGE, true)]);
  await matchesSimulation([RFC, attach, on, map(0, PAGE), dma(0), rc(0, PAGE), dma(0), rc(0, PAGE), rc(0, PAGE)]);
});

test('[UNMAP-1, UNMAP-R1] unmapping a dirty page reports nothing; a partial block unmap splits the block', async () => {
  await matchesSimulation([RFC, attach, on, map(0, PAGE), dma(0), unmap(0, PAGE)]);
  await matchesSimulation([RFC, attach, map(0, MiB2, true, 'block-aligned'), unmap(PAGE, PAGE)]);
});

test.run();
