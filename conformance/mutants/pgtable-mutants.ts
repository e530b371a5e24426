// Driver faults: the reference page-table driver (ArmLpaeIoPgtable) with one protected
// step overridden, run as profile smmu-driver on the reference domain.
// Each subclass overrides exactly one faultable step (tlbi-before-clear: the flush's
// position, so two) and says what is wrong with a `FAULT (class <name>)` comment (docs/BUG-CLASSES).
import { IommuDomain, type PgtableFactory } from '../../impl/domain.ts';
import { ArmLpaeIoPgtable, type DirtyRecord } from '../../impl/pgtable/io-pgtable-arm.ts';
import { GRANULE, PTE_AP_RDONLY, PTE_NG, PTES_PER_TABLE, isWritableDirty } from '../../impl/pgtable/pte.ts';
import { referenceSmmuDriverAdapter } from '../adapters/reference.ts';
import type { Mutant } from './types.ts';

/** read_and_clear_dirty never invalidates what it cleared. */
export class ClearWithoutTlbiPgtable extends ArmLpaeIoPgtable {
  // FAULT (class stale-iotlb): no TLBI + CMD_SYNC after clearing; an IOTLB entry cached as
  // writable-dirty keeps absorbing writes that never reach the descriptor.
  protected override syncGathered(): void {}
}

/** read_and_clear_dirty invalidates the range first, then clears, and not after. */
export class TlbiBeforeClearPgtable extends ArmLpaeIoPgtable {
  // FAULT (class stale-iotlb): the invalidation is ordered before the clear; a DMA between the
  // TLBI and the clear re-caches the leaf as writable-dirty, and nothing drops it after.
  override readAndClearDirty(iova: number, size: number, flags: number, record?: DirtyRecord): number {
    this.flushRange(iova, size);
    return super.readAndClearDirty(iova, size, flags, record);
  }

  protected override syncGathered(): void {}
}

/** A table replaced by a block is freed without invalidating its range first. */
export class FreeTableWithoutFlushPgtable extends ArmLpaeIoPgtable {
  // FAULT (class stale-iotlb): the table is unlinked and freed with no TLBI + CMD_SYNC over
  // what it translated: a walk cache may still hold the pointer to it, and the SMMU would walk
  // the freed page (reused for anything) as a table.
  protected override freeUnlinkedTable(_iova: number, _size: number, table: number, level: number): void {
    this.freeTable(table, level);
  }
}

/** The split installs the table with a plain store and trusts the value it read before. */
export class SplitReadThenStorePgtable extends ArmLpaeIoPgtable {
  // FAULT (class racy-update): read, then plain store instead of an exchange: dirty state the
  // hardware set on the live block between the read and the store is overwritten unseen.
  protected override swapBlockForTable(ptep: number, read: bigint, tablePte: bigint): bigint {
    this.memory.store(ptep, tablePte);
    return read;
  }
}

/** The split that enabling page-granular tracking makes installs each table with a plain store; a split asked for alone still exchanges. */
export class EnableSplitReadThenStorePgtable extends ArmLpaeIoPgtable {
  // FAULT (class racy-update): TRACK-4's split of every block (splitAllBlocks, after HA/HD are
  // on and the stale dirty state cleared) reads each block, then stores the table over it: a
  // DMA write that dirties the block in between is overwritten unseen, though it came after
  // the clear and is owed. The 2021 RFC splits at the start of logging; Jason Gunthorpe asked
  // for that split to be atomic (<20220212000117.GS4160@nvidia.com>).
  private enabling = false;

  override splitAllBlocks(): { iova: number; level: number }[] {
    this.enabling = true;
    try {
      return super.splitAllBlocks();
    } finally {
      this.enabling = false;
    }
  }

  protected override swapBlockForTable(ptep: number, read: bigint, tablePte: bigint): bigint {
    if (!this.enabling) return super.swapBlockForTable(ptep, read, tablePte);
    this.memory.store(ptep, tablePte);
    return read;
  }
}

/** The unmap clears a live leaf with a plain store and reports the value its walk read before. */
export class UnmapReadThenStorePgtable extends ArmLpaeIoPgtable {
  // FAULT (class racy-update): read, then plain store of 0 instead of an exchange: a DMA write
  // the hardware recorded on the live leaf between the walk's read and the store is never reported.
  protected override removeLeaf(ptep: number, read: bigint): bigint {
    this.memory.store(ptep, 0n);
    return read;
  }
}

/** The map stops one page short of a range that does not end on a block boundary. */
export class MapOnePageShortPgtable extends ArmLpaeIoPgtable {
  // FAULT (class boundary-arithmetic): an off-by-one in the length left after the blocks: the
  // last 4 KiB page of an unaligned range is never mapped, yet the call returns 0.
  override map(iova: number, paddr: number, size: number, prot: number): number {
    const short = size > GRANULE && size % (GRANULE * PTES_PER_TABLE) !== 0;
    return super.map(iova, paddr, short ? size - GRANULE : size, prot);
  }
}

/** read_and_clear_dirty walks a length kept in 32 bits. */
export class ClearSizeU32Pgtable extends ArmLpaeIoPgtable {
  // FAULT (class boundary-arithmetic): the caller's size_t is checked, but the walk runs over an
  // unsigned int copy of it: a report of 4 GiB or more walks its size modulo 2^32 (8 GiB: nothing)
  // and returns 0, and the dirty pages past that are neither reported nor cleared.
  override readAndClearDirty(iova: number, size: number, flags: number, record?: DirtyRecord): number {
    const walked = size % 2 ** 32;
    if (walked === 0 && size > 0) return 0;
    return super.readAndClearDirty(iova, walked, flags, record);
  }
}

/** read_and_clear_dirty never walks the upper half of the level-0 table. */
export class ClearLowerHalfPgtable extends ArmLpaeIoPgtable {
  // FAULT (class boundary-arithmetic): the walk's level-0 index is kept in 8 bits (as if the
  // table had 256 entries, not 512): entries 256 to 511, every IOVA from 2^47 up, are never
  // visited, and their dirty pages are never reported.
  protected override lastIndex(tableBase: number, lsz: number, end: number): number {
    const last = super.lastIndex(tableBase, lsz, end);
    return lsz === LEVEL0_SIZE ? Math.min(last, 255) : last;
  }
}

/** What one level-0 entry maps: 512 GiB (4 KiB granule). */
const LEVEL0_SIZE = 2 ** 39;

/** The merge checks that every child is a valid leaf, but not where it points. */
export class MergeIgnoresContiguityPgtable extends ArmLpaeIoPgtable {
  // FAULT (class wrong-address): children with the right attributes but output addresses
  // that are not the block's are merged: pages of the block now translate to other frames.
  protected override childMerges(child: bigint, child0: bigint): boolean {
    return (child & PTE_AP_RDONLY) === (child0 & PTE_AP_RDONLY);
  }
}

/** The split carries a dirty block's state into its first child only. */
export class SplitDirtyFirstPageOnlyPgtable extends ArmLpaeIoPgtable {
  // FAULT (class state-not-carried): the block's dirty state is carried at the granularity of one page:
  // children 1..511 of a writable-dirty block start writable-clean (AP[2] set).
  protected override fillChildren(table: number, block: bigint, childLevel: number): void {
    super.fillChildren(table, block, childLevel);
    if (isWritableDirty(block)) for (let i = 1; i < PTES_PER_TABLE; i++) this.memory.fetchOr(table + i * 8, PTE_AP_RDONLY);
  }
}

/** The merge never folds the children's dirty state into the block. */
export class MergeIgnoresDirtyPgtable extends ArmLpaeIoPgtable {
  // FAULT (class state-not-carried): the block is built clean without looking at what the children
  // gathered up to the swap; their dirty state is thrown away with the table.
  protected override anyChildDirty(): boolean {
    return false;
  }
}

/** The merge folds in the dirty state its children show before the swap, not what the hardware wrote between that look and the swap. */
export class MergeNoLateFoldPgtable extends ArmLpaeIoPgtable {
  // FAULT (class racy-update): with BBML the block is swapped in from a snapshot of the children;
  // a DMA write that dirties a child after the snapshot and before the swap lands in the
  // table the merge then frees. (The reference looks again after the swap: the first call
  // of anyChildDirty in a merge is the snapshot, a later one the look after the swap.)
  private looks = 0;
  override mergePages(iova: number, level: number): number {
    this.looks = 0;
    return super.mergePages(iova, level);
  }
  protected override anyChildDirty(table: number): boolean {
    return this.looks++ === 0 ? super.anyChildDirty(table) : false;
  }
}

/** Leaves are written global (nG = 0). */
export class GlobalLeavesPgtable extends ArmLpaeIoPgtable {
  // FAULT (class stale-iotlb): arm_lpae_prot_to_pte without ARM_LPAE_PTE_nG. The IOTLB tags
  // such an entry global, and CMD_TLBI_NH_ASID (the driver's invalidation of the whole
  // domain, as arm_smmu_tlb_inv_context) leaves it: an entry cached writable-dirty before
  // tracking's stale clear keeps absorbing writes.
  override protToPte(prot: number, level: number, paddr: number): bigint {
    return super.protToPte(prot, level, paddr) & ~PTE_NG;
  }
}

/** A dirty leaf is recorded as one 4 KiB page whatever its size. */
export class Record4kFor2mPgtable extends ArmLpaeIoPgtable {
  // FAULT (class boundary-arithmetic): a dirty 2 MiB / 1 GiB block is reported as its first page only.
  protected override recordLeaf(record: DirtyRecord, iova: number): void {
    record(iova, GRANULE);
  }
}

/** The last page of a range that ends inside an L3 table is not scanned. */
export class LastPageNotScannedPgtable extends ArmLpaeIoPgtable {
  // FAULT (class boundary-arithmetic): off by one in the loop bound: at the page level, when the range
  // ends inside the table, the last entry of the range is skipped. (Restricted to the
  // page level so that the fault loses one page, not a whole subtree.) The L3 fast path
  // (scanPages) takes its bound from here too.
  protected override lastIndex(tableBase: number, lsz: number, end: number): number {
    const last = super.lastIndex(tableBase, lsz, end);
    return lsz === GRANULE && end < tableBase + lsz * PTES_PER_TABLE ? last - 1 : last;
  }
}

/** IOMMU_DIRTY_NO_CLEAR is ignored: every read also clears. */
export class NoClearIgnoredPgtable extends ArmLpaeIoPgtable {
  // FAULT (class over-clear): the no-clear request silently does nothing; the caller relied on
  // the bits staying set and the next report misses them.
  protected override clearRequested(): boolean {
    return true;
  }
}

/** Unmap removes writable-dirty leaves without reporting them. */
export class UnmapDropsDirtyPgtable extends ArmLpaeIoPgtable {
  // FAULT (class scope-change): dirty state of what the unmap removes is thrown away.
  protected override recordUnmappedDirty(): void {}
}

/** Unmap reports every page it removes as dirty, whatever the leaves' state. */
export class UnmapReportsAllPgtable extends ArmLpaeIoPgtable {
  // FAULT (class false-dirty): the unmap's bitmap is filled for the whole range removed, as a
  // driver that cannot tell clean from dirty would: every clean page is sent again.
  override unmap(iova: number, size: number, record?: DirtyRecord): number {
    const n = super.unmap(iova, size, record);
    if (record !== undefined && n > 0) record(iova, n);
    return n;
  }
}

/** A dirty leaf is recorded at its offset in its table, without the table's base IOVA. */
export class RecordWithoutTableBasePgtable extends ArmLpaeIoPgtable {
  // FAULT (class wrong-address): the wrong base: the leaf's index * size is recorded, as if every
  // table started at IOVA 0.
  protected override recordLeaf(record: DirtyRecord, iova: number, size: number): void {
    record(iova % (size * PTES_PER_TABLE), size);
  }
}

type PgtableClass = new (...args: ConstructorParameters<typeof ArmLpaeIoPgtable>) => ArmLpaeIoPgtable;

function factory(Pgtable: PgtableClass): PgtableFactory {
  return (memory, config, flush) => new Pgtable(memory, config, flush);
}

function driverMutant(name: string, bugClass: Mutant['bugClass'], Pgtable: PgtableClass, description: string): Mutant {
  return { name, bugClass, profile: 'smmu-driver', description, adapter: referenceSmmuDriverAdapter(name, IommuDomain, factory(Pgtable)) };
}

export const pgtableMutants: readonly Mutant[] = [
  driverMutant(
    'clear-without-tlbi',
    'stale-iotlb',
    ClearWithoutTlbiPgtable,
    'read_and_clear_dirty sets AP[2] but never issues TLBI + CMD_SYNC: an IOTLB entry cached writable-dirty absorbs later writes, which are lost. Class stale-iotlb: clearing without a TLB invalidation.',
  ),
  driverMutant(
    'tlbi-before-clear',
    'stale-iotlb',
    TlbiBeforeClearPgtable,
    'read_and_clear_dirty invalidates the range before clearing instead of after: a DMA between the TLBI and the clear re-caches the leaf writable-dirty, and the write after the call is lost. Class stale-iotlb: the invalidation ordered before the clear.',
  ),
  driverMutant(
    'split-read-then-store',
    'racy-update',
    SplitReadThenStorePgtable,
    'With BBML, the split installs the table with a plain store and returns the block value it read earlier: hardware dirtying the block between the read and the store is overwritten and never carried to the pages. Class racy-update: a split that reads, then writes, instead of exchanging.',
  ),
  {
    ...driverMutant(
      'enable-split-read-then-store',
      'racy-update',
      EnableSplitReadThenStorePgtable,
      'Enabling page-granular tracking splits every block with a read and then a plain store of the table: a DMA write that dirties a block after the stale clear and before the store is overwritten, and its pages are never reported. Class racy-update: a split that reads, then writes, instead of exchanging.',
    ),
    targets: ['TRACK-4'],
  },
  driverMutant(
    'unmap-read-then-store',
    'racy-update',
    UnmapReadThenStorePgtable,
    'Unmap takes a live leaf out with a plain store of 0 and reports the value its walk read before: a DMA write the hardware recorded between that read and the store is neither reported nor kept. Class racy-update: a read, then a plain store, of a descriptor the hardware updates.',
  ),
  driverMutant(
    'map-one-page-short',
    'boundary-arithmetic',
    MapOnePageShortPgtable,
    'map returns 0 but leaves the last 4 KiB page of a range that does not end on a 2 MiB boundary unmapped (asked for 513 pages, it maps 512). Class boundary-arithmetic: an off-by-one in the length left after the blocks.',
  ),
  driverMutant(
    'clear-size-u32',
    'boundary-arithmetic',
    ClearSizeU32Pgtable,
    "read_and_clear_dirty checks the caller's size but walks a 32-bit copy of it: a report of 8 GiB walks nothing and returns 0, so the dirty pages in it are lost. Class boundary-arithmetic: a length truncated to 32 bits.",
  ),
  driverMutant(
    'free-table-without-flush',
    'stale-iotlb',
    FreeTableWithoutFlushPgtable,
    'a map that puts a block where an empty table was frees the table without invalidating its range (Linux flushes the walk first: io_pgtable_tlb_flush_walk in __arm_lpae_unmap): a walk cache may still point at the freed page. Class stale-iotlb: a translation structure freed while a cache may still hold it.',
  ),
  driverMutant(
    'clear-lower-half',
    'boundary-arithmetic',
    ClearLowerHalfPgtable,
    'read_and_clear_dirty never walks entries 256 to 511 of the level-0 table (an index kept in 8 bits): the dirty pages of every IOVA from 2^47 up are never reported. Class boundary-arithmetic: a table index one bit short.',
  ),
  driverMutant(
    'merge-ignores-contiguity',
    'wrong-address',
    MergeIgnoresContiguityPgtable,
    "merge_page checks that the 512 children are valid leaves with the first one's permission, but not that their output addresses are contiguous: pages remapped elsewhere are folded into a block that translates them to the wrong frames. Class wrong-address: a block whose output addresses are not the pages'.",
  ),
  driverMutant(
    'split-dirty-first-page-only',
    'state-not-carried',
    SplitDirtyFirstPageOnlyPgtable,
    "Splitting a writable-dirty block makes only the first child writable-dirty; children 1..511 start writable-clean. Class state-not-carried: the block's dirty state reaches one page of the 512, losing every dirty page past the first page boundary.",
  ),
  driverMutant(
    'merge-ignores-dirty',
    'state-not-carried',
    MergeIgnoresDirtyPgtable,
    'Merging pages never folds their dirty state into the block (anyChildDirty is always false): the block comes out clean and the table holding the dirty pages is freed. Class state-not-carried: a merge that does not fold in what the hardware set up to the swap.',
  ),
  {
    ...driverMutant(
      'merge-no-late-fold',
      'racy-update',
      MergeNoLateFoldPgtable,
      'With BBML, the merge builds the block from one look at its children and swaps it in, but does not look again after the swap: a DMA write that dirties a child between the look and the swap is freed with the table (a bug planted in an independent driver, which the merge races missed until they were aimed at the read of the written page). Class racy-update: a snapshot, then a swap, with the late change thrown away.',
    ),
    targets: ['MERGE-1'],
  },
  {
    ...driverMutant(
      'global-leaves',
      'stale-iotlb',
      GlobalLeavesPgtable,
      'Stage-1 leaves are written without nG (Linux sets ARM_LPAE_PTE_nG on every one): their IOTLB entries are global, and the invalidation of the whole domain by CMD_TLBI_NH_ASID leaves them cached. Class stale-iotlb: an invalidation that does not reach the entries it must.',
    ),
    targets: ['IOTLB-9'],
  },
  driverMutant(
    'record-4k-for-2m',
    'boundary-arithmetic',
    Record4kFor2mPgtable,
    'read_and_clear_dirty records a dirty leaf as 4096 bytes whatever its size: a dirty 2 MiB block is reported as its first page. Class boundary-arithmetic: a huge page reported at the wrong size.',
  ),
  driverMutant(
    'last-page-not-scanned',
    'boundary-arithmetic',
    LastPageNotScannedPgtable,
    'Off by one in the page-level loop bound: when the range ends inside an L3 table, its last page is neither reported nor cleared. Class boundary-arithmetic: an off-by-one at the range end.',
  ),
  driverMutant(
    'no-clear-ignored',
    'over-clear',
    NoClearIgnoredPgtable,
    'IOMMU_DIRTY_NO_CLEAR is ignored: every read_and_clear_dirty clears, so a caller that read without clearing (to report again later) loses the pages. Class over-clear: a flag that silently does nothing (a no-clear that clears).',
  ),
  driverMutant('unmap-drops-dirty', 'scope-change', UnmapDropsDirtyPgtable, 'Unmap removes writable-dirty leaves without reporting them. Class scope-change: unmap during tracking loses dirty state.'),
  driverMutant(
    'unmap-reports-all-dirty',
    'false-dirty',
    UnmapReportsAllPgtable,
    "Unmap's dirty bitmap holds every page it removed, clean ones too. Class false-dirty: the unmapped range is sent again whole, and a report the kit took on trust (its bitmap was compared with no leaf) passed it.",
  ),
  driverMutant(
    'record-without-table-base',
    'wrong-address',
    RecordWithoutTableBasePgtable,
    'read_and_clear_dirty records a dirty leaf at index * size, forgetting the base IOVA of its table: a page dirty at 0x201000 is reported as 0x1000. Class wrong-address: the wrong base address.',
  ),
];
