// Contract faults: ways to get a driver contract other than strict wrong, each run under
// the contract it breaks (the adapter declares it: `contract`). The linux-upstream ones
// are the linux-upstream example adapter (conformance/examples/linux-upstream/, written
// from how upstream Linux behaves) with one step of the upstream code changed; each
// subclass overrides exactly one step and says what is wrong with a `FAULT (class <name>)`
// comment (the class names are BUG_CLASSES in ./types.ts).
import type { Adapter, KitMemory, SmmuDriverAdapter } from '../adapters/types.ts';
import type { HazardStep } from '../../spec/contracts/types.ts';
import { play } from '../examples/linux-upstream/play.ts';
import { linuxUpstreamAdapter } from '../examples/linux-upstream/adapter.ts';
import { ArmLpaeIoPgtableV612, linuxV612Adapter } from '../examples/linux-upstream/io-pgtable-arm-v6.12.ts';
import { ArmSmmuDomain, CTXDESC_CD_0_TCR_HD, iommuPgsize } from '../examples/linux-upstream/arm-smmu-v3.ts';
import {
  ARM_LPAE_MAX_LEVELS,
  ARM_LPAE_PTE_AP_RDONLY,
  ARM_LPAE_PTE_DBM,
  ArmLpaeIoPgtable,
  blockSize,
  EINVAL,
  IOMMU_DIRTY_NO_CLEAR,
  type IommuDirtyBitmap,
  type IoPgtableCfg,
  type IoPgtableFlushOps,
  type IoPgtableWalkData,
  type IommuIotlbGather,
  iommuDirtyBitmapRecord,
  iommuIotlbGatherInit,
  iopteDeref,
  iopteLeaf,
  iopteTable,
  iopteWriteableDirty,
  lvlIdx,
} from '../examples/linux-upstream/io-pgtable-arm.ts';
import { type DirtyLogBitmap, RfcIoPgtable, type RfcIoPgtableCfg, RfcSmmuDomain, rfc2021Adapter } from '../examples/linux-upstream/rfc-2021.ts';
import type { Mutant } from './types.ts';

const MiB2 = 0x20_0000;

// ---- linux-upstream ---------------------------------------------------------------------

/** IOMMU_HWPT_SET_DIRTY_TRACKING with enable does not clear the areas' dirty state first. */
export class UpstreamEnableWithoutClearDomain extends ArmSmmuDomain {
  // FAULT (class false-dirty): iopt_set_dirty_tracking without iopt_clear_dirty_data: every leaf
  // mapped writable-dirty or written before tracking started is in the first report.
  protected override clearDirtyData(): number {
    return 0;
  }
}

/** The dirty walk starts every table at the index of the range start, not of its cursor. */
class WalkFromRangeStartPgtable extends ArmLpaeIoPgtable {
  private rangeStart = 0;

  override readAndClearDirty(iova: number, size: number, flags: number, dirty: IommuDirtyBitmap): number {
    this.rangeStart = iova;
    return super.readAndClearDirty(iova, size, flags, dirty);
  }

  // FAULT (class boundary-arithmetic): ARM_LPAE_LVL_IDX(iova, lvl) of the range start instead of
  // walk_data->addr: every table after the first is entered at the range start's offset, so
  // a range starting n pages into a table skips the first n pages of every later table.
  protected override walkStartIndex(_walkData: IoPgtableWalkData, lvl: number): number {
    return lvlIdx(this.rangeStart, lvl);
  }
}

/** The dirty walk advances its cursor only over dirty leaves. */
class CursorSkipsCleanPgtable extends ArmLpaeIoPgtable {
  // FAULT (class wrong-address): `walk_data->addr += size` inside the writable-dirty branch of
  // io_pgtable_visit_dirty: after a clean leaf the cursor stays behind, so the next dirty
  // leaf is recorded at the clean one's address.
  protected override visitDirty(walkData: IoPgtableWalkData, ptep: number, lvl: number): number {
    const pte = this.memory.load(ptep);
    if (iopteLeaf(pte, lvl)) {
      if (iopteWriteableDirty(pte)) {
        const size = blockSize(lvl);
        iommuDirtyBitmapRecord(walkData.dirty, walkData.addr, size);
        if ((walkData.flags & IOMMU_DIRTY_NO_CLEAR) === 0) this.setWriteableClean(ptep);
        walkData.addr += size;
      }
      return 0;
    }
    if (!iopteTable(pte, lvl)) return -EINVAL;
    return this.walkDirty(walkData, iopteDeref(pte), lvl + 1);
  }
}

/** The dirty walk steps over an unmapped entry instead of failing. */
class WalkSkipsHolePgtable extends ArmLpaeIoPgtable {
  // FAULT (class bad-input-accepted): io_pgtable_visit_dirty's `if (WARN_ON(!iopte_table(pte, lvl)))
  // return -EINVAL` replaced by a step over the entry, as AMD's iommu_v1_read_and_clear_dirty
  // (drivers/iommu/amd/io_pgtable.c) steps over a PTE that is not present: a range with a
  // hole is read and cleared whole and returns 0, where upstream ends it with -EINVAL (CLEAR-U3).
  protected override visitDirty(walkData: IoPgtableWalkData, ptep: number, lvl: number): number {
    const pte = this.memory.load(ptep);
    if (!iopteLeaf(pte, lvl) && !iopteTable(pte, lvl)) {
      walkData.addr += blockSize(lvl);
      return 0;
    }
    return super.visitDirty(walkData, ptep, lvl);
  }
}

/** A partial unmap of a block splits it, as before v6.13. */
export class SplitMakesCleanPgtable extends ArmLpaeIoPgtableV612 {
  // FAULT (class state-not-carried): the table arm_lpae_split_blk_unmap puts in a cut block's
  // place takes AP[2] set (writable-clean) instead of the block's own attributes, which
  // iopte_prot keeps (AP[2] and DBM): a dirty block's pages come out clean, and the writes
  // that dirtied them are never reported.
  private splitting = false;
  protected override unmapPartialBlock(...args: Parameters<ArmLpaeIoPgtableV612['unmapPartialBlock']>): number {
    this.splitting = true;
    try {
      return super.unmapPartialBlock(...args);
    } finally {
      this.splitting = false;
    }
  }
  protected override initPteEntries(paddr: number, prot: bigint, lvl: number, numEntries: number, ptep: number): void {
    super.initPteEntries(paddr, this.splitting ? prot | ARM_LPAE_PTE_AP_RDONLY : prot, lvl, numEntries, ptep);
  }
}

/** __iommu_unmap steps over a chunk that unmapped nothing. */
export class UpstreamUnmapSkipsHoleDomain extends ArmSmmuDomain {
  // FAULT (class bad-input-accepted): `if (!unmapped_page) break;` in __iommu_unmap made a step
  // of the chunk's size: an unmap over a hole goes on past it and returns the bytes after it
  // too, where upstream stops at the hole (WARN_ON(!pte) in __arm_lpae_unmap, UNMAP-U2).
  protected override iommuUnmapGathered(iova: number, size: number, gather: IommuIotlbGather): number {
    if (iova % 0x1000 !== 0 || size % 0x1000 !== 0) return 0;
    let unmapped = 0;
    for (let done = 0; done < size; ) {
      const { pgsize, count } = iommuPgsize(iova, iova, size - done);
      const unmappedPage = this.pgtbl.unmapPages(iova, pgsize, count, gather);
      const step = unmappedPage === 0 ? pgsize : unmappedPage;
      iova += step;
      done += step;
      unmapped += unmappedPage;
    }
    return unmapped;
  }
}

/** Read-and-clear is refused while tracking is off. */
export class UpstreamClearRefusedWhileOffDomain extends ArmSmmuDomain {
  private tracking = false;

  protected override armSmmuSetDirtyTracking(enable: boolean): number {
    this.tracking = enable;
    return 0;
  }

  // FAULT (class valid-input-refused): arm_smmu_read_and_clear_dirty given Intel VT-d's
  // `if (!dmar_domain->dirty_tracking && dirty->bitmap) return -EINVAL;`
  // (intel_iommu_read_and_clear_dirty): the SMMUv3 driver keeps no tracking state and reads
  // the leaves whether tracking is on or off (CLEAR-U1); this one refuses a report while off.
  override readAndClearDirty(iova: number, size: number, flags: number, record: (iova: number, length: number) => void): number {
    if (!this.tracking && this.hasDirtyOps) return -EINVAL;
    return super.readAndClearDirty(iova, size, flags, record);
  }
}

function domainWithPgtable(Pgtable: new (memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps) => ArmLpaeIoPgtable): typeof ArmSmmuDomain {
  return class extends ArmSmmuDomain {
    protected override allocPgtable(memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps): ArmLpaeIoPgtable {
      return new Pgtable(memory, cfg, tlb);
    }
  };
}

/** iommu_unmap returns without syncing its gather. */
export class UpstreamUnmapWithoutTlbiDomain extends ArmSmmuDomain {
  // FAULT (class stale-iotlb): __iommu_unmap without the iommu_iotlb_sync after it: the leaves are
  // gone from memory but the IOTLB keeps translating them, writes included.
  override iommuUnmap(iova: number, size: number): number {
    return this.iommuUnmapGathered(iova, size, iommuIotlbGatherInit());
  }
}

/** arm_smmu_make_s1_cd sets HA but not HD. */
export class UpstreamCdWithoutHdDomain extends ArmSmmuDomain {
  // FAULT (class scope-change): the CD of a dirty-tracking domain gets the access flag update but
  // not the dirty state update: a write through a writable-clean leaf is a permission fault
  // instead of setting it dirty, for every device of the domain.
  protected override makeS1Cd(): [bigint, bigint] {
    const [w0, w1] = super.makeS1Cd();
    return [w0 & ~CTXDESC_CD_0_TCR_HD, w1];
  }
}

/** A dirty-tracking domain is allocated whatever the SMMU's HTTU. */
class DirtyWithoutHttuDomain extends ArmSmmuDomain {
  // FAULT (class bad-input-accepted): arm_smmu_dbm_capable answers yes without looking at
  // ARM_SMMU_FEAT_HD: IOMMU_HWPT_ALLOC_DIRTY_TRACKING on an SMMU without HTTU = 2 gets a
  // domain whose writes are never recorded (DBM leaves the hardware does not update).
  static override dbmCapable(): boolean {
    return true;
  }
}

function upstreamMutant(name: string, bugClass: Mutant['bugClass'], Domain: typeof ArmSmmuDomain, description: string): Mutant {
  return { name, bugClass, profile: 'smmu-driver', description, adapter: linuxUpstreamAdapter(name, Domain) };
}

export const linuxUpstreamMutants: readonly Mutant[] = [
  upstreamMutant(
    'upstream-enable-without-clear',
    'false-dirty',
    UpstreamEnableWithoutClearDomain,
    'linux-upstream: enabling dirty tracking skips iopt_clear_dirty_data, so the first report returns every page mapped writable-dirty or written before tracking started (TRACK-U2). Class false-dirty: stale dirty state reported as new.',
  ),
  upstreamMutant(
    'upstream-walk-index-from-range-start',
    'boundary-arithmetic',
    domainWithPgtable(WalkFromRangeStartPgtable),
    "linux-upstream: the dirty walk enters each table at the index of the range start instead of the walk's cursor, so a range starting n pages into a table skips the first n pages of every later table, though no block excuses it (CLEAR-U2 allows a skip only after a block the range starts inside, H-U5). Class boundary-arithmetic: an index computed from the wrong base at a table edge.",
  ),
  upstreamMutant(
    'upstream-walk-cursor-skips-clean',
    'wrong-address',
    domainWithPgtable(CursorSkipsCleanPgtable),
    "linux-upstream: io_pgtable_visit_dirty advances the walk's cursor only over writable-dirty leaves, so after a clean leaf the next dirty one is recorded at the clean one's address. Class wrong-address: a cursor that does not advance over clean pages.",
  ),
  upstreamMutant(
    'upstream-unmap-without-tlbi',
    'stale-iotlb',
    UpstreamUnmapWithoutTlbiDomain,
    'linux-upstream: iommu_unmap never syncs the gather its unmap filled, so no TLBI follows the cleared leaves and the IOTLB keeps translating (and absorbing writes to) pages that are unmapped. Class stale-iotlb: a descriptor changed in memory without the invalidation the contract keeps (IOTLB rules, UNMAP-1).',
  ),
  upstreamMutant(
    'upstream-cd-without-hd',
    'scope-change',
    UpstreamCdWithoutHdDomain,
    "linux-upstream: arm_smmu_make_s1_cd sets HA but not HD in a dirty-tracking domain's CDs (TRACK-U1), so a device writing through a writable-clean leaf takes a permission fault instead of dirtying it. Class scope-change: a device of the domain whose CD lacks dirty state update.",
  ),
  upstreamMutant(
    'upstream-dirty-domain-without-httu',
    'bad-input-accepted',
    DirtyWithoutHttuDomain,
    'linux-upstream: IOMMU_HWPT_ALLOC_DIRTY_TRACKING is accepted on an SMMU without HTTU = 2 (arm_smmu_dbm_capable ignores ARM_SMMU_FEAT_HD), instead of -EOPNOTSUPP (CREATE-U1): the domain maps DBM leaves the hardware never updates. Class bad-input-accepted: a request the hardware cannot honour let through.',
  ),
  upstreamMutant(
    'upstream-walk-skips-hole',
    'bad-input-accepted',
    domainWithPgtable(WalkSkipsHolePgtable),
    "linux-upstream: io_pgtable_visit_dirty steps over an unmapped entry, as AMD's iommu_v1_read_and_clear_dirty does, instead of ending the walk with -EINVAL (CLEAR-U3): a range with a hole is read and cleared past it and returns 0. Class bad-input-accepted: a range upstream refuses taken.",
  ),
  upstreamMutant(
    'upstream-clear-refused-while-off',
    'valid-input-refused',
    UpstreamClearRefusedWhileOffDomain,
    "linux-upstream: arm_smmu_read_and_clear_dirty refuses a report while tracking is off with -EINVAL, as Intel's intel_iommu_read_and_clear_dirty does, where the SMMUv3 driver keeps no tracking state and reports the leaves as they are (CLEAR-U1). Class valid-input-refused: a call upstream answers refused.",
  ),
  upstreamMutant(
    'upstream-split-makes-clean',
    'state-not-carried',
    domainWithPgtable(SplitMakesCleanPgtable),
    "linux-upstream: as v6.11 and v6.12 have it (a block an unmap cuts is split, arm_lpae_split_blk_unmap), but the table that replaces the block takes AP[2] set instead of the block's attributes: a dirty block's pages come out writable-clean (UNMAP-U1). Class state-not-carried: a split that does not carry the block's dirty state to its pages.",
  ),
  upstreamMutant(
    'upstream-unmap-skips-hole',
    'bad-input-accepted',
    UpstreamUnmapSkipsHoleDomain,
    'linux-upstream: __iommu_unmap steps over a chunk that unmapped nothing (a hole) and goes on, where upstream stops there and returns the bytes before it (UNMAP-U2). Class bad-input-accepted: an unmap over a hole taken whole.',
  ),
];

// ---- rfc-2021 ---------------------------------------------------------------------------
// The rfc-2021 example adapter (conformance/examples/linux-upstream/rfc-2021.ts, the
// driver with the 2021 HTTU RFC applied) with one step changed: the reference does not
// play rfc-2021.

/** The split's pages take the block's attributes without DBM. */
class SplitDropsDbmPgtable extends RfcIoPgtable {
  // FAULT (class state-not-carried): iopte_prot with the v5.12 ARM_LPAE_PTE_ATTR_HI_MASK (XN only),
  // as the RFC's first version had it before v2 patch 02/11 added DBM: the pages of a split
  // writable-dirty block are plain writable, so the next clear makes them read-only and the
  // device's writes fault instead of being tracked.
  protected override splitProt(blkPte: bigint): bigint {
    return super.splitProt(blkPte) & ~ARM_LPAE_PTE_DBM;
  }
}

/** The pages a partial unmap keeps of a block take its attributes without DBM. */
class UnmapSplitDropsDbmPgtable extends RfcIoPgtable {
  private splittingForUnmap = false;

  protected override unmapPartialBlock(gather: IommuIotlbGather | undefined, iova: number, size: number, pgcount: number, blkLvl: number, ptep: number, blkPte: bigint): number {
    this.splittingForUnmap = true;
    try {
      return super.unmapPartialBlock(gather, iova, size, pgcount, blkLvl, ptep, blkPte);
    } finally {
      this.splittingForUnmap = false;
    }
  }

  // FAULT (class state-not-carried): in arm_lpae_split_blk_unmap, iopte_prot with the v5.12
  // ARM_LPAE_PTE_ATTR_HI_MASK (XN only), the RFC before v2 patch 02/11 added DBM, where the
  // split_block path was fixed: the pages a partial unmap keeps of a writable block lose DBM,
  // so a writable-dirty block leaves plain writable pages, which the next clear makes
  // read-only, and a writable-clean one leaves read-only pages: the device's writes fault.
  protected override initPteEntries(paddr: number, prot: bigint, lvl: number, numEntries: number, ptep: number): void {
    super.initPteEntries(paddr, this.splittingForUnmap ? prot & ~ARM_LPAE_PTE_DBM : prot, lvl, numEntries, ptep);
  }
}

/** The merged block is built writable-clean. */
class MergeCleanBlockPgtable extends RfcIoPgtable {
  // FAULT (class state-not-carried): the block built from prot gets AP[2] as well as DBM, as if a
  // fresh block had no dirty state to keep: the pages written since the last clear are folded
  // into a clean block and never reported (MERGE-R2 builds it writable-dirty for this reason).
  protected override mergeProt(iommuProt: number): bigint {
    const pte = super.mergeProt(iommuProt);
    return (pte & ARM_LPAE_PTE_DBM) !== 0n ? pte | ARM_LPAE_PTE_AP_RDONLY : pte;
  }
}

/** merge_page of an entry that is a leaf already fails. */
class MergeOfLeafFailsPgtable extends RfcIoPgtable {
  // FAULT (class valid-input-refused): __arm_lpae_merge_page's "The size is too small, already
  // merged" (`if (iopte_leaf(pte, lvl)) return size;`) answered with 0 bytes, as if a leaf
  // there were nothing to merge: __arm_smmu_merge_page then returns -EFAULT for a block that
  // is already one, where the RFC succeeds and changes nothing (MERGE-R1).
  protected override mergeAt(iova: number, paddr: number, size: number, lvl: number, table: number, prot: bigint): number {
    if (lvl < ARM_LPAE_MAX_LEVELS && iopteLeaf(this.memory.load(table + lvlIdx(iova, lvl) * 8), lvl)) return 0;
    return super.mergeAt(iova, paddr, size, lvl, table, prot);
  }
}

/** sync_dirty_log steps over an unmapped entry instead of failing. */
class SyncSkipsHolePgtable extends RfcIoPgtable {
  // FAULT (class bad-input-accepted): __arm_lpae_sync_dirty_log's `if (WARN_ON(!pte)) return
  // -EINVAL` made a `return 0`: a range with a hole is synced (and its dirty leaves cleared)
  // and GET_BITMAP returns 0, where the RFC refuses it with -EINVAL before anything (CLEAR-R1).
  protected override syncAt(iova: number, size: number, lvl: number, table: number, bitmap: DirtyLogBitmap): number {
    if (lvl < ARM_LPAE_MAX_LEVELS && this.memory.load(table + lvlIdx(iova, lvl) * 8) === 0n) return 0;
    return super.syncAt(iova, size, lvl, table, bitmap);
  }
}

function rfcDomainWithPgtable(Pgtable: new (memory: KitMemory, cfg: RfcIoPgtableCfg, tlb: IoPgtableFlushOps) => RfcIoPgtable): typeof RfcSmmuDomain {
  return class extends RfcSmmuDomain {
    protected override allocPgtable(memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps): RfcIoPgtable {
      return new Pgtable(memory, { ...cfg, bbml: ((this.smmu.idr3 >>> 11) & 3) as 0 | 1 | 2 }, tlb);
    }
  };
}

/** iommu_clear_dirty_log returns without flushing the IOTLB. */
class RfcClearWithoutFlushDomain extends RfcSmmuDomain {
  // FAULT (class stale-iotlb): no iommu_flush_iotlb_all after the leaves were made read-only: an IOTLB
  // entry cached writable-dirty keeps absorbing the device's writes, which never reach the
  // descriptor and are never reported (CLEAR-R2).
  protected override flushAfterClear(): void {}
}

/** Stop merges back every 2 MiB region start split, without walking it for a contiguous run. */
class RfcStopMergesOverHoleDomain extends RfcSmmuDomain {
  private readonly split = new Set<number>();

  protected override startSplits(): void {
    for (const a of this.areas) for (let b = a.iova - (a.iova % MiB2); b <= a.last; b += MiB2) if (this.pgtbl.iovaToPhys(b) % MiB2 === 0 && a.iova <= b && b + MiB2 - 1 <= a.last) this.split.add(b);
    super.startSplits();
  }

  // FAULT (class wrong-address): arm_smmu_merge_page trusted to what start split instead of the
  // iova_to_phys walk for a contiguous run: a region with a page unmapped since start is
  // merged whole, and the unmapped page translates again to its old frame.
  protected override stopMerges(): void {
    for (const base of this.split) {
      const area = this.areas.find((a) => a.iova <= base + MiB2 - 1 && base <= a.last);
      const paddr = this.pgtbl.iovaToPhys(base);
      if (area !== undefined && paddr !== 0) this.iommuMergePage(base, paddr, MiB2, area.prot);
    }
    this.split.clear();
  }
}

function rfcMutant(name: string, bugClass: Mutant['bugClass'], Domain: typeof RfcSmmuDomain, description: string): Mutant {
  return { name, bugClass, profile: 'smmu-driver', description, adapter: rfc2021Adapter(name, Domain) };
}

export const rfc2021Mutants: readonly Mutant[] = [
  rfcMutant(
    'rfc-split-drops-dbm',
    'state-not-carried',
    rfcDomainWithPgtable(SplitDropsDbmPgtable),
    "rfc-2021: the split's pages take the block's attributes through an ATTR_HI_MASK without DBM (the RFC before v2 patch 02/11): a writable-dirty block splits into plain writable pages, which the next clear makes read-only, so the device's writes fault (SPLIT-R2). Class state-not-carried: a split that does not give the pages the block's dirty-state bits.",
  ),
  rfcMutant(
    'rfc-unmap-split-drops-dbm',
    'state-not-carried',
    rfcDomainWithPgtable(UnmapSplitDropsDbmPgtable),
    "rfc-2021: the pages a partial unmap keeps of a block (arm_lpae_split_blk_unmap on the RFC's v5.12 base) take its attributes through an ATTR_HI_MASK without DBM, as split_block's did before v2 patch 02/11: a kept page of a writable block is left plain writable or read-only instead of carrying the block's DBM and AP[2], so after a clear the device's writes to it fault (UNMAP-1: the split on partial unmap keeps the block's state). Class state-not-carried: a split that does not give the pages the block's dirty-state bits.",
  ),
  rfcMutant(
    'rfc-merge-clean-block',
    'state-not-carried',
    rfcDomainWithPgtable(MergeCleanBlockPgtable),
    'rfc-2021: merge_page builds the block writable-clean (DBM and AP[2]) instead of from prot as a writable-dirty block (MERGE-R2), so a page written since the last clear is folded into a clean block and never reported. Class state-not-carried: a merge whose block does not become dirty when one of its pages was.',
  ),
  rfcMutant(
    'rfc-clear-without-flush',
    'stale-iotlb',
    RfcClearWithoutFlushDomain,
    'rfc-2021: iommu_clear_dirty_log makes the dirty leaves read-only but never calls iommu_flush_iotlb_all (CLEAR-R2): an IOTLB entry cached writable-dirty absorbs the next writes, which are lost. Class stale-iotlb: clearing without a TLB invalidation.',
  ),
  rfcMutant(
    'rfc-stop-merges-over-hole',
    'wrong-address',
    RfcStopMergesOverHoleDomain,
    'rfc-2021: stopping the dirty log merges back every 2 MiB region that start split, without the iova_to_phys walk for a contiguous run (TRACK-R3), so a page unmapped while tracking is mapped again by the block, to its old frame. Class wrong-address: a block whose output addresses are not what the pages map.',
  ),
  rfcMutant(
    'rfc-merge-of-block-fails',
    'valid-input-refused',
    rfcDomainWithPgtable(MergeOfLeafFailsPgtable),
    'rfc-2021: __arm_lpae_merge_page answers an entry that is a leaf already ("already merged") with 0 bytes, so merging a region that is one block fails with -EFAULT, where the RFC succeeds and changes nothing (MERGE-R1). Class valid-input-refused: a merge the RFC takes refused.',
  ),
  rfcMutant(
    'rfc-sync-skips-hole',
    'bad-input-accepted',
    rfcDomainWithPgtable(SyncSkipsHolePgtable),
    'rfc-2021: __arm_lpae_sync_dirty_log steps over an unmapped entry instead of failing with -EINVAL (CLEAR-R1): GET_BITMAP over a range with a hole reports and clears the leaves around it and returns 0. Class bad-input-accepted: a range the RFC refuses taken.',
  ),
];

/** The zoo's contract mutants, each declaring the contract it runs under. */
export const contractMutants: readonly Mutant[] = [...linuxUpstreamMutants, ...rfc2021Mutants];

// ---- directed probes: one scenario (the contracts' vocabulary) through the mutant and its base ----

/** A directed probe of a contract mutant: what one step of a scenario observes through the base adapter and through the mutant. */
export interface ContractProbe {
  readonly mutant: string;
  /** `[ID] mutant NAME deviates from the reference: what differs`. */
  readonly title: string;
  /** The adapter the mutant mutates: the linux-upstream or rfc-2021 example. */
  readonly reference: SmmuDriverAdapter;
  run(adapter: Adapter): Promise<unknown>;
  readonly want: { readonly reference: unknown; readonly mutant: unknown };
}

const S = 10;
const UP: HazardStep = { op: 'create', httu: 2, bbml: 0, dirtyCapable: true, pageGranular: false };
const RFC: HazardStep = { op: 'create', httu: 2, bbml: 2, dirtyCapable: true, pageGranular: true };
const attach: HazardStep = { op: 'attach', stream: S };
const on: HazardStep = { op: 'setDirtyTracking', enable: true };
const map = (iova: number, size: number, pa: 'page-aligned' | 'block-aligned' = 'page-aligned'): HazardStep => ({ op: 'map', iova, size, write: true, pa });
const dma = (iova: number): HazardStep => ({ op: 'dmaWrite', iova, stream: S });
const rc = (iova: number, size: number): HazardStep => ({ op: 'readAndClearDirty', iova, size, noClear: false });

/** A probe observing `pick` of the played scenario's step `at`. */
function probe(mutant: string, title: string, reference: SmmuDriverAdapter, steps: readonly HazardStep[], at: number, pick: 'reported' | 'dma' | 'errno' | 'unmapped', want: ContractProbe['want']): ContractProbe {
  return {
    mutant,
    title: `${title.slice(0, title.indexOf(']') + 1)} mutant ${mutant} deviates from the reference: ${title.slice(title.indexOf(']') + 2)}`,
    reference,
    async run(adapter) {
      const step = (await play(adapter as SmmuDriverAdapter, steps)).steps[at]!;
      return step[pick];
    },
    want,
  };
}

const upstream = linuxUpstreamAdapter();
const rfc = rfc2021Adapter();

export const contractProbes: readonly ContractProbe[] = [
  probe('upstream-enable-without-clear', '[TRACK-U2, PRECISION-1] a page mapped before tracking started is in the first report', upstream, [UP, attach, map(0, 0x1000), on, rc(0, 0x1000)], 4, 'reported', { reference: [], mutant: [0] }),
  probe(
    'upstream-walk-index-from-range-start',
    '[CLEAR-U2, NOLOSS-1] a range starting one page into a table misses the first page of the next table',
    upstream,
    [UP, attach, map(0, 2 * MiB2), rc(0, 2 * MiB2), dma(MiB2), rc(0x1000, 2 * MiB2 - 0x1000)],
    5,
    'reported',
    { reference: [MiB2], mutant: [] },
  ),
  probe('upstream-walk-cursor-skips-clean', "[CLEAR-U2, BITMAP-1] after a clean page the dirty one is reported at the clean one's address", upstream, [UP, attach, map(0, 0x2000), rc(0, 0x2000), dma(0x1000), rc(0, 0x2000)], 5, 'reported', {
    reference: [0x1000],
    mutant: [0],
  }),
  probe('upstream-unmap-without-tlbi', '[UNMAP-1, IOTLB-5] a DMA write after the unmap still translates through the IOTLB', upstream, [UP, attach, map(0, 0x1000), dma(0), { op: 'unmap', iova: 0, size: 0x1000 }, dma(0)], 5, 'dma', {
    reference: 'fault',
    mutant: 'ok',
  }),
  probe('upstream-cd-without-hd', '[TRACK-U1, HTTU-2] a write through a writable-clean leaf faults instead of dirtying it', upstream, [UP, attach, map(0, 0x1000), rc(0, 0x1000), dma(0)], 4, 'dma', { reference: 'ok', mutant: 'fault' }),
  probe('upstream-dirty-domain-without-httu', '[CREATE-U1] a dirty-tracking domain is created on an SMMU without HTTU = 2', upstream, [{ ...UP, httu: 1 } as HazardStep], 0, 'errno', { reference: -95, mutant: 0 }),
  probe('rfc-split-drops-dbm', '[SPLIT-R2, HTTU-2] after start split the block and a clear, a write faults', rfc, [RFC, attach, map(0, MiB2, 'block-aligned'), on, rc(0, MiB2), dma(0)], 5, 'dma', { reference: 'ok', mutant: 'fault' }),
  probe(
    'rfc-unmap-split-drops-dbm',
    '[UNMAP-1, HTTU-2] after a partial unmap split the block and a clear, a write to a kept page faults',
    rfc,
    [RFC, attach, on, map(0, MiB2, 'block-aligned'), { op: 'unmap', iova: 0, size: 0x1000 }, rc(0x1000, MiB2 - 0x1000), dma(0x1000)],
    6,
    'dma',
    { reference: 'ok', mutant: 'fault' },
  ),
  probe(
    'rfc-merge-clean-block',
    '[MERGE-R2, NOLOSS-1] a page written before the merge is not in the next report',
    rfc,
    [RFC, attach, on, map(MiB2, MiB2, 'block-aligned'), { op: 'splitBlock', iova: MiB2 }, rc(MiB2, MiB2), dma(MiB2 + 0x1000), { op: 'mergePages', iova: MiB2, level: 2 }, rc(MiB2, MiB2)],
    8,
    'reported',
    { reference: Array.from({ length: 512 }, (_, i) => MiB2 + i * 0x1000), mutant: [] },
  ),
  probe('rfc-clear-without-flush', '[CLEAR-R2, IOTLB-7] a write after a clear goes through the cached entry and is not reported', rfc, [RFC, attach, on, map(0, 0x1000), dma(0), rc(0, 0x1000), dma(0), rc(0, 0x1000)], 7, 'reported', {
    reference: [0],
    mutant: [],
  }),
  probe(
    'rfc-stop-merges-over-hole',
    '[TRACK-R3, FAULT-1] a page unmapped while tracking translates again after stop',
    rfc,
    [RFC, attach, map(0, MiB2, 'block-aligned'), on, { op: 'unmap', iova: 0x5000, size: 0x1000 }, { op: 'setDirtyTracking', enable: false }, dma(0x5000)],
    6,
    'dma',
    { reference: 'fault', mutant: 'ok' },
  ),
  probe('upstream-walk-skips-hole', '[CLEAR-U3] a read-and-clear over a hole returns 0', upstream, [UP, attach, map(0, 0x1000), map(0x2000, 0x1000), rc(0, 0x3000)], 4, 'errno', { reference: -22, mutant: 0 }),
  probe('upstream-clear-refused-while-off', '[CLEAR-U1] a read-and-clear while tracking is off is refused', upstream, [UP, attach, map(0, 0x1000), rc(0, 0x1000)], 3, 'errno', { reference: 0, mutant: -22 }),
  probe(
    'upstream-split-makes-clean',
    '[UNMAP-U1] after v6.12 splits a dirty block to unmap its first page, its second page is reported',
    linuxV612Adapter(),
    [UP, attach, map(0, MiB2, 'block-aligned'), { op: 'unmap', iova: 0, size: 0x1000 }, rc(0x1000, 0x1000)],
    4,
    'reported',
    {
      reference: [0x1000],
      mutant: [],
    },
  ),
  probe('upstream-unmap-skips-hole', '[UNMAP-U2] an unmap over a hole goes on past it', upstream, [UP, attach, map(0, 0x1000), map(0x2000, 0x1000), { op: 'unmap', iova: 0, size: 0x3000 }], 4, 'unmapped', {
    reference: 0x1000,
    mutant: 0x2000,
  }),
  probe('rfc-merge-of-block-fails', '[MERGE-R1] merging a region that is one block already fails', rfc, [RFC, attach, map(0, MiB2, 'block-aligned'), { op: 'mergePages', iova: 0, level: 2 }], 3, 'errno', { reference: 0, mutant: -14 }),
  probe('rfc-sync-skips-hole', '[CLEAR-R1] GET_BITMAP over a hole returns 0', rfc, [RFC, attach, on, map(0, 0x1000), map(0x2000, 0x1000), rc(0, 0x3000)], 5, 'errno', { reference: -22, mutant: 0 }),
];
