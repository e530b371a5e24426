// Level-1 faults: the reference page-table driver with a step that is wrong only for a
// 1 GiB (level-1) block, run as profile smmu-driver. A kit whose IOVA window holds no 1 GiB
// block passes them; the smmu runs' high region (conformance/engine/commands.ts HIGH) maps,
// writes, splits, reads and unmaps 1 GiB blocks, and kills them.
import { IommuDomain } from '../../impl/domain.ts';
import { ArmLpaeIoPgtable, type DirtyRecord, IOMMU_READ, IOMMU_WRITE } from '../../impl/pgtable/io-pgtable-arm.ts';
import { PTE_AP_RDONLY, PTES_PER_TABLE, isWritableDirty, levelSize } from '../../impl/pgtable/pte.ts';
import { referenceSmmuDriverAdapter } from '../adapters/reference.ts';
import type { Adapter, SmmuDriverAdapter } from '../adapters/types.ts';
import { type Spec, driverSystem, factory, probesOf, zooOf } from './smmu-probe-systems.ts';

/** A dirty leaf is recorded at most 2 MiB long: a dirty 1 GiB block as its first 2 MiB. */
export class Record2mFor1gPgtable extends ArmLpaeIoPgtable {
  // FAULT (class boundary-arithmetic): the size recorded for a dirty leaf is the block size of
  // level 2 at most (ARM_LPAE_BLOCK_SIZE taken at the wrong level in the walk of
  // Linux v6.12 drivers/iommu/io-pgtable-arm.c __arm_lpae_iopte_walk_dirty): right for pages
  // and 2 MiB blocks, and a dirty 1 GiB block loses all but its first 2 MiB.
  protected override recordLeaf(record: DirtyRecord, iova: number, size: number): void {
    record(iova, Math.min(size, levelSize(2)));
  }
}

/** Splitting a 1 GiB block builds its 2 MiB children clean: a dirty 1 GiB block's state is lost. */
export class Split1gDropsDirtyPgtable extends ArmLpaeIoPgtable {
  // FAULT (class state-not-carried): the level-1 split fills its 2 MiB block children with AP[2]
  // set, as a block fresh from a DBM mapping, instead of the block's own AP[2] (Linux v6.12
  // drivers/iommu/io-pgtable-arm.c arm_lpae_split_blk_unmap initialises every child from
  // iopte_prot(blk_pte)); the split of a 2 MiB block into pages carries the state, so only a
  // 1 GiB block loses its dirty state.
  protected override fillChildren(table: number, block: bigint, childLevel: number): void {
    super.fillChildren(table, block, childLevel);
    if (childLevel === 2 && isWritableDirty(block)) for (let i = 0; i < PTES_PER_TABLE; i++) this.memory.fetchOr(table + i * 8, PTE_AP_RDONLY);
  }
}

const G = levelSize(1);
const PA = 4 * G;
const RW = IOMMU_READ | IOMMU_WRITE;

/**
 * A 1 GiB block at 1 GiB, tracking on, a DMA write 3 MiB into it, then `before` (nothing, or a
 * split of the block), then a read-and-clear of the whole block: the level of the leaf at the
 * write, and how many pages the report holds (a Set of 262,144 numbers is not what a probe compares).
 */
async function writeThenReport(adapter: Adapter, split: boolean) {
  const { smmu, driver, leaf, report } = await driverSystem(adapter as SmmuDriverAdapter);
  if ((await driver.map(G, PA, G, RW)) !== 0 || (await driver.setDirtyTracking(true)) !== 0) throw new Error('map or tracking refused');
  if (!smmu.dmaWrite(0, G + 0x30_0000).ok) throw new Error('the DMA write faulted');
  const splitAnswer = split ? await driver.splitBlock!(G, G) : undefined;
  const pages = await report(G, G);
  return { split: splitAnswer, level: leaf(G + 0x30_0000).level, reported: typeof pages === 'number' ? pages : pages.length };
}

const specs: readonly Spec[] = [
  {
    name: 'record-2m-for-1g',
    bugClass: 'boundary-arithmetic',
    targets: ['NOLOSS-1'],
    description:
      'read_and_clear_dirty records a dirty leaf at most 2 MiB long: pages and 2 MiB blocks are reported whole, a dirty 1 GiB block as its first 2 MiB only. Class boundary-arithmetic: a block size taken at the wrong level, wrong only at level 1.',
    adapter: (name) => referenceSmmuDriverAdapter(name, IommuDomain, factory(Record2mFor1gPgtable)),
    reference: referenceSmmuDriverAdapter(),
    what: 'a write 3 MiB into a 1 GiB block is reported as the first 512 pages of the block',
    run: (a) => writeThenReport(a, false),
    want: { reference: { split: undefined, level: 1, reported: G / 0x1000 }, mutant: { split: undefined, level: 1, reported: 512 } },
  },
  {
    name: 'split-1g-drops-dirty',
    bugClass: 'state-not-carried',
    targets: ['SPLIT-1'],
    description:
      "Splitting a writable-dirty 1 GiB block makes its 512 2 MiB children writable-clean (AP[2] set); splitting a 2 MiB block into pages carries the state. Class state-not-carried: the block's dirty state lost by the level-1 split only.",
    adapter: (name) => referenceSmmuDriverAdapter(name, IommuDomain, factory(Split1gDropsDirtyPgtable)),
    reference: referenceSmmuDriverAdapter(),
    what: 'a write to a 1 GiB block is gone once the block is split into 2 MiB blocks',
    run: (a) => writeThenReport(a, true),
    want: { reference: { split: 0, level: 2, reported: G / 0x1000 }, mutant: { split: 0, level: 2, reported: 0 } },
  },
];

export const level1Mutants = zooOf(specs);
export const level1Probes = probesOf(specs);
