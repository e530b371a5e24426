// The same driver with the 2021 SMMU HTTU dirty-log RFC applied, as a vendor kernel
// carries it on its v5.12 base: split a block, merge pages, sync and clear the dirty log,
// switch the dirty log on and off; HA/HD in every CD; a partial block unmap splits. An
// smmu-driver adapter declaring contract `rfc-2021` (docs/CONTRACTS.md), the base of the
// mutant zoo's rfc-2021 mutants.
//
// Sources (each method names the function it follows):
// - HTTU RFC v4, Keqian Zhu and Kunkun Jiang, 7 May 2021,
//   <20210507102211.8836-1-zhukeqian1@huawei.com>: patch 03/13 split_block
//   (__arm_lpae_split_block, arm_lpae_do_split_blk), 04/13 merge_page
//   (__arm_lpae_merge_page), 05/13 sync_dirty_log, 06/13 clear_dirty_log, 08/13 HA/HD in
//   the CD (arm_smmu_domain_finalise_s1), 10/13 arm_smmu_split_block,
//   arm_smmu_merge_page, arm_smmu_switch_dirty_log; the framework in 01/13
//   (iommu_switch_dirty_log: -EBUSY, -EINVAL; iommu_sync_dirty_log and
//   iommu_clear_dirty_log: -EINVAL while off; iommu_flush_iotlb_all after a clear).
// - Its VFIO half, RFC v2 patch 2/3 <20210507103608.39440-3-zhukeqian1@huawei.com>:
//   GET_BITMAP syncs, then clears with the bitmap it synced; start and stop switch the
//   log per mapping with the mapping's prot.
// - v2 patch 02/11 <20210310090614.26668-3-zhukeqian1@huawei.com>: DBM is in
//   ARM_LPAE_PTE_ATTR_HI_MASK, so a split's pages carry it.
// - Linux v5.12 drivers/iommu/io-pgtable-arm.c arm_lpae_split_blk_unmap (the base the RFC
//   applies to: a partial block unmap splits), as Linux v6.12 still has it.
import type { DirtyBitmap, KitMemory, KitSmmuPort, SmmuDriver, SmmuDriverAdapter, SmmuDriverConfig } from 'dirtyspec/adapters';
import { driverOf } from './adapter.ts';
import { ArmLpaeIoPgtableV612 } from './io-pgtable-arm-v6.12.ts';
import { ArmSmmuDomain, CTXDESC_CD_0_TCR_HA, CTXDESC_CD_0_TCR_HD, IDR0_HTTU_ACCESS_DIRTY, IDR0_HTTU_SHIFT, iommuPgsize } from './arm-smmu-v3.ts';
import { ARM_LPAE_MAX_LEVELS, ARM_LPAE_PTE_AP_RDONLY, ARM_LPAE_PTE_DBM, ARM_LPAE_PTES_PER_TABLE, blockSize, EINVAL, IOMMU_DIRTY_NO_CLEAR, type IoPgtableCfg, type IoPgtableFlushOps, iopteDeref, iopteLeaf, lvlIdx } from './io-pgtable-arm.ts';

const EFAULT = 14;
const EBUSY = 16;
const ENODEV = 19;
const PAGE = 0x1000;
/** SMMU_IDR3.BBML, bits 12:11 (ARM IHI 0070 §6.3.4; arm-smmu-v3.h IDR3_BBML). */
const IDR3_BBML_SHIFT = 11;
/** ARM_LPAE_PTE_NT (RFC 03/13): the block's nT bit, 16. */
const ARM_LPAE_PTE_NT = 1n << 16n;
/** iopte_prot with ARM_LPAE_PTE_ATTR_LO_MASK (0x3ff << 2) and the RFC's ATTR_HI_MASK (XN bits 54:53 and DBM). */
const ARM_LPAE_PTE_ATTR_MASK = (0x3ffn << 2n) | (6n << 52n) | ARM_LPAE_PTE_DBM;
const iopteProt = (pte: bigint) => pte & ARM_LPAE_PTE_ATTR_MASK;
const iopteToPaddr = (pte: bigint) => Number(pte & (((1n << 48n) - 1n) & ~0xfffn));

export interface RfcIoPgtableCfg extends IoPgtableCfg {
  /** cfg->bbml (RFC 03/13): SMMU_IDR3.BBML. */
  readonly bbml: 0 | 1 | 2;
}

/** The bitmap the dirty log is synced into and cleared from: one bit per 4 KiB page from `base`. */
export interface DirtyLogBitmap {
  readonly base: number;
  readonly bits: DirtyBitmap;
}

const testBit = (b: DirtyLogBitmap, page: number) => page >= 0 && page < b.bits.length * 8 && ((b.bits[page >> 3]! >> (page & 7)) & 1) === 1;
function setBits(b: DirtyLogBitmap, iova: number, size: number): void {
  const first = Math.max(iova, b.base);
  const end = Math.min(iova + size, b.base + b.bits.length * 8 * PAGE);
  for (let p = Math.floor((first - b.base) / PAGE); p < Math.ceil((end - b.base) / PAGE); p++) b.bits[p >> 3]! |= 1 << (p & 7);
}

export class RfcIoPgtable extends ArmLpaeIoPgtableV612 {
  constructor(
    memory: KitMemory,
    override readonly cfg: RfcIoPgtableCfg,
    tlb: IoPgtableFlushOps,
  ) {
    super(memory, cfg, tlb);
  }

  // A block an unmap cuts: Linux v5.12 arm_lpae_split_blk_unmap, the function v6.12 still has (ArmLpaeIoPgtableV612).

  /** arm_lpae_split_block (RFC 03/13): the bytes handled; a page-sized request is done already. */
  splitBlock(iova: number, size: number): number {
    if (size === 0 || ![0x1000, 0x20_0000, 0x4000_0000].includes(size)) return 0;
    if (size === blockSize(ARM_LPAE_MAX_LEVELS - 1)) return size; // If it is smallest granule, then nothing to do.
    return this.splitAt(iova, size, this.startLevel, this.pgd);
  }

  /** __arm_lpae_split_block: a writable block (AP[2] clear) is split; a read-only or clean one, a page or a last-level table is left. */
  protected splitAt(iova: number, size: number, lvl: number, table: number): number {
    if (lvl === ARM_LPAE_MAX_LEVELS) return 0;
    const ptep = table + lvlIdx(iova, lvl) * 8;
    const pte = this.memory.load(ptep);
    if (pte === 0n) return 0; // WARN_ON(!pte)
    if (size === blockSize(lvl)) {
      if (iopteLeaf(pte, lvl)) {
        if (lvl === ARM_LPAE_MAX_LEVELS - 1 || (pte & ARM_LPAE_PTE_AP_RDONLY) !== 0n) return size;
        // We find a writable block, split it.
        return this.doSplitBlk(iova, size, pte, lvl + 1, ptep);
      }
      // If it is the last table level, then nothing to do.
      if (lvl === ARM_LPAE_MAX_LEVELS - 2) return size;
      let total = 0;
      const next = blockSize(lvl + 1);
      for (let base = 0; base < size; base += next) total += this.splitAt(iova + base, next, lvl + 1, iopteDeref(pte));
      return total;
    }
    if (iopteLeaf(pte, lvl)) return 0; // WARN "Can't split behind a block."
    return this.splitAt(iova, size, lvl + 1, iopteDeref(pte));
  }

  /** arm_lpae_do_split_blk: the table filled from the block as read, installed by compare-exchange whose result is not looked at ("Race does not exist"). */
  protected doSplitBlk(iova: number, size: number, blkPte: bigint, lvl: number, ptep: number): number {
    if (lvl === ARM_LPAE_MAX_LEVELS) return 0;
    const tablep = this.memory.allocFrame();
    const splitSz = blockSize(lvl);
    const blkPaddr = iopteToPaddr(blkPte);
    const prot = this.splitProt(blkPte);
    for (let i = 0; i < ARM_LPAE_PTES_PER_TABLE; i++) this.initPteEntries(blkPaddr + i * splitSz, prot, lvl, 1, tablep + i * 8);
    let curr = blkPte;
    if (this.cfg.bbml === 1) {
      curr |= ARM_LPAE_PTE_NT;
      this.memory.store(ptep, curr);
      this.tlb.tlbFlushWalk(iova, size, size);
    }
    this.installTable(tablep, ptep, curr);
    // Have splited it into page?
    if (lvl === ARM_LPAE_MAX_LEVELS - 1) return size;
    // Go back to lvl - 1: split the new table's blocks too.
    return this.splitAt(iova, size, lvl - 1, ptep - lvlIdx(iova, lvl - 1) * 8);
  }

  /** The attributes a split's pages take from the block: iopte_prot, DBM and AP[2] included (v2 02/11). */
  protected splitProt(blkPte: bigint): bigint {
    return iopteProt(blkPte);
  }

  /** The merged block's attributes: arm_lpae_prot_to_pte of the mapping's prot (a writable block is writable-dirty with the HD quirk). */
  protected mergeProt(iommuProt: number): bigint {
    return this.protToPte(iommuProt);
  }

  /** arm_lpae_merge_page (RFC 04/13): the bytes handled; prot is the iommu prot of the mapping. */
  mergePage(iova: number, paddr: number, size: number, iommuProt: number): number {
    if (size === 0 || ![0x1000, 0x20_0000, 0x4000_0000].includes(size)) return 0;
    // If it is smallest granule, then nothing to do.
    if (size === blockSize(ARM_LPAE_MAX_LEVELS - 1)) return size;
    return this.mergeAt(iova, paddr, size, this.startLevel, this.pgd, this.mergeProt(iommuProt));
  }

  /** __arm_lpae_merge_page: the block built from prot over the table, which is then freed ("Race does not exist"). */
  protected mergeAt(iova: number, paddr: number, size: number, lvl: number, table: number, prot: bigint): number {
    if (lvl === ARM_LPAE_MAX_LEVELS) return 0;
    const ptep = table + lvlIdx(iova, lvl) * 8;
    const pte = this.memory.load(ptep);
    if (pte === 0n) return 0; // WARN_ON(!pte)
    if (size === blockSize(lvl)) {
      if (iopteLeaf(pte, lvl)) return size;
      if (this.cfg.bbml === 1) {
        this.initPteEntries(paddr, prot | ARM_LPAE_PTE_NT, lvl, 1, ptep);
        this.tlb.tlbFlushWalk(iova, size, 0x1000);
      }
      this.initPteEntries(paddr, prot, lvl, 1, ptep);
      this.freePgtable(lvl + 1, iopteDeref(pte));
      return size;
    }
    if (iopteLeaf(pte, lvl)) return size; // The size is too small, already merged.
    return this.mergeAt(iova, paddr, size, lvl + 1, iopteDeref(pte), prot);
  }

  /** __arm_lpae_sync_dirty_log (RFC 05/13): every leaf with AP[2] clear set in the bitmap; a hole is -EINVAL. */
  syncDirtyLog(iova: number, size: number, bitmap: DirtyLogBitmap): number {
    return this.syncAt(iova, size, this.startLevel, this.pgd, bitmap);
  }

  protected syncAt(iova: number, size: number, lvl: number, table: number, bitmap: DirtyLogBitmap): number {
    if (lvl === ARM_LPAE_MAX_LEVELS) return -EINVAL;
    const pte = this.memory.load(table + lvlIdx(iova, lvl) * 8);
    if (pte === 0n) return -EINVAL; // WARN_ON(!pte)
    if (size === blockSize(lvl)) {
      if (iopteLeaf(pte, lvl)) {
        if ((pte & ARM_LPAE_PTE_AP_RDONLY) === 0n) setBits(bitmap, iova, size); // It is writable, set the bitmap.
        return 0;
      }
      const next = blockSize(lvl + 1);
      for (let base = 0; base < size; base += next) {
        const ret = this.syncAt(iova + base, next, lvl + 1, iopteDeref(pte), bitmap);
        if (ret !== 0) return ret;
      }
      return 0;
    }
    if (iopteLeaf(pte, lvl)) {
      // Though the size is too small, also set bitmap.
      if ((pte & ARM_LPAE_PTE_AP_RDONLY) === 0n) setBits(bitmap, iova, size);
      return 0;
    }
    return this.syncAt(iova, size, lvl + 1, iopteDeref(pte), bitmap);
  }

  /** __arm_lpae_clear_dirty_log (RFC 06/13): a writable leaf whose every page is set becomes read-only by a plain store; a leaf larger than the piece is -EINVAL unless clean. */
  clearDirtyLog(iova: number, size: number, bitmap: DirtyLogBitmap): number {
    return this.clearAt(iova, size, this.startLevel, this.pgd, bitmap);
  }

  protected clearAt(iova: number, size: number, lvl: number, table: number, bitmap: DirtyLogBitmap): number {
    if (lvl === ARM_LPAE_MAX_LEVELS) return -EINVAL;
    const ptep = table + lvlIdx(iova, lvl) * 8;
    const pte = this.memory.load(ptep);
    if (pte === 0n) return -EINVAL; // WARN_ON(!pte)
    if (size === blockSize(lvl)) {
      if (iopteLeaf(pte, lvl)) {
        if ((pte & ARM_LPAE_PTE_AP_RDONLY) !== 0n) return 0;
        // Ensure all corresponding bits are set.
        for (let p = iova; p < iova + size; p += PAGE) if (!testBit(bitmap, Math.floor((p - bitmap.base) / PAGE))) return 0;
        this.clearLeaf(ptep, pte);
        return 0;
      }
      const next = blockSize(lvl + 1);
      for (let base = 0; base < size; base += next) {
        const ret = this.clearAt(iova + base, next, lvl + 1, iopteDeref(pte), bitmap);
        if (ret !== 0) return ret;
      }
      return 0;
    }
    if (iopteLeaf(pte, lvl)) return (pte & ARM_LPAE_PTE_AP_RDONLY) !== 0n ? 0 : -EINVAL; // Though the size is too small, it is already clean.
    return this.clearAt(iova, size, lvl + 1, iopteDeref(pte), bitmap);
  }

  /** "Race does not exist": pte |= AP_RDONLY, then __arm_lpae_set_pte, a plain store of the value read. */
  protected clearLeaf(ptep: number, pte: bigint): void {
    this.memory.store(ptep, pte | ARM_LPAE_PTE_AP_RDONLY);
  }
}

/** The SMMU domain with the RFC: its switch_dirty_log, split_block and merge_page, and the framework's dirty_log_tracking state. */
export class RfcSmmuDomain extends ArmSmmuDomain {
  declare readonly pgtbl: RfcIoPgtable;
  /** domain->dirty_log_tracking (RFC 01/13). */
  protected dirtyLogTracking = false;
  readonly bbml: 0 | 1 | 2;
  /** ARM_SMMU_FEAT_HD */
  readonly featHd: boolean;

  constructor(memory: KitMemory, smmu: KitSmmuPort, config: { asid: number; dirtyTracking: boolean }) {
    super(memory, smmu, config);
    this.bbml = ((smmu.idr3 >>> IDR3_BBML_SHIFT) & 3) as 0 | 1 | 2;
    this.featHd = ((smmu.idr0 >>> IDR0_HTTU_SHIFT) & 3) === IDR0_HTTU_ACCESS_DIRTY;
  }

  protected override allocPgtable(memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps): RfcIoPgtable {
    return new RfcIoPgtable(memory, { ...cfg, bbml: ((this.smmu.idr3 >>> IDR3_BBML_SHIFT) & 3) as 0 | 1 | 2 }, tlb);
  }

  /** arm_smmu_domain_finalise_s1 (RFC 08/13): HA and HD in every stage-1 CD. */
  protected override makeS1Cd(): [bigint, bigint] {
    const [w0, w1] = super.makeS1Cd();
    return [w0 | CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD, w1];
  }

  /** iommu_flush_iotlb_all -> arm_smmu_flush_iotlb_all -> arm_smmu_tlb_inv_context: CMD_TLBI_NH_ASID + CMD_SYNC. */
  protected flushIotlbAll(): void {
    this.smmu.submit([{ op: 'CMD_TLBI_NH_ASID', asid: this.config.asid }, { op: 'CMD_SYNC' }]);
  }

  /** arm_smmu_split_block (RFC 10/13): -ENODEV without BBML1/2, -EFAULT when not all was handled. */
  splitBlock(iova: number, size: number): number {
    if (this.bbml === 0) return -ENODEV; // don't support BBML1/2, can't split block
    const base = iova - (iova % size);
    return this.pgtbl.splitBlock(base, size) === size ? 0 : -EFAULT;
  }

  /** __arm_smmu_merge_page (RFC 10/13): -ENODEV without BBML1/2, -EFAULT when not all was handled. */
  protected mergePageChunk(iova: number, paddr: number, size: number, prot: number): number {
    if (this.bbml === 0) return -ENODEV;
    return this.pgtbl.mergePage(iova, paddr, size, prot) === size ? 0 : -EFAULT;
  }

  /** __iommu_merge_page (RFC 02/13): in the page sizes iommu_pgsize picks, stopping at a failure. */
  protected iommuMergePage(iova: number, paddr: number, size: number, prot: number): number {
    while (size > 0) {
      const { pgsize } = iommuPgsize(iova, paddr, size);
      const ret = this.mergePageChunk(iova, paddr, pgsize, prot);
      if (ret !== 0) return ret;
      iova += pgsize;
      paddr += pgsize;
      size -= pgsize;
    }
    return 0;
  }

  /**
   * The kit's mergePages(iova, level, blockSize): the RFC's caller merges a block it found
   * contiguous, with the mapping's output address and prot; iommu_merge_page flushes the
   * whole IOTLB after the whole procedure (RFC 02/13: "We flush all iotlbs after the whole
   * procedure is completed").
   */
  mergePages(iova: number, blockBytes: number): number {
    const base = iova - (iova % blockBytes);
    const area = this.areas.find((a) => a.iova <= base + blockBytes - 1 && base <= a.last);
    const paddr = this.pgtbl.iovaToPhys(base);
    // The RFC's caller finds what to merge with iova_to_phys and never merges where nothing
    // is mapped; asked to, this glue answers as arm_smmu_merge_page does for a merge that
    // handled nothing (-EFAULT) rather than build a block from no output address.
    if (this.bbml === 0) return -ENODEV; // arm_smmu_merge_page checks BBML1/2 first
    if (area === undefined || paddr === 0) return -EFAULT;
    const ret = this.iommuMergePage(base, paddr, blockBytes, area.prot);
    this.flushIotlbAll();
    return ret;
  }

  /** arm_smmu_merge_page (RFC 10/13): each physically contiguous run of the range merged, failures ignored. */
  protected mergeRuns(iova: number, size: number, prot: number): void {
    while (size > 0) {
      const paddr = this.pgtbl.iovaToPhys(iova);
      let cont = PAGE;
      while (cont < size && paddr + cont === this.pgtbl.iovaToPhys(iova + cont)) cont += PAGE;
      if (cont !== PAGE) this.iommuMergePage(iova, paddr, cont, prot);
      iova += cont;
      size -= cont;
    }
  }

  /**
   * iommu_switch_dirty_log (RFC 01/13) for every mapping with its prot (the VFIO half),
   * then arm_smmu_switch_dirty_log (RFC 10/13): -EBUSY when on, -EINVAL when off,
   * -ENODEV without ARM_SMMU_FEAT_HD; start splits the writable blocks (a failure ignored),
   * stop merges every contiguous run; the whole IOTLB is flushed after either.
   */
  override setDirtyTracking(enable: boolean): number {
    if (enable && this.dirtyLogTracking) return -EBUSY;
    if (!enable && !this.dirtyLogTracking) return -EINVAL;
    if (!this.featHd) return -ENODEV;
    if (enable) this.startSplits();
    else this.stopMerges();
    this.flushIotlbAll();
    this.dirtyLogTracking = enable;
    return 0;
  }

  /** Start: each mapping's writable blocks split (vfio_dma_dirty_log_switch per vfio_dma); "We don't return error even if the split operation fail". */
  protected startSplits(): void {
    for (const a of [...this.areas].sort((x, y) => x.iova - y.iova)) this.iommuSplitBlock(a.iova, a.last - a.iova + 1);
  }

  /** Stop: each mapping's contiguous runs merged, with its prot. */
  protected stopMerges(): void {
    for (const a of [...this.areas].sort((x, y) => x.iova - y.iova)) this.mergeRuns(a.iova, a.last - a.iova + 1, a.prot);
  }

  /** iommu_split_block (RFC 02/13): in the page sizes iommu_pgsize picks, stopping at a failure, then iommu_flush_iotlb_all. */
  protected iommuSplitBlock(iova: number, size: number): number {
    let ret = 0;
    while (size > 0) {
      const { pgsize } = iommuPgsize(iova, iova, size);
      ret = this.splitBlock(iova, pgsize);
      if (ret !== 0) break;
      iova += pgsize;
      size -= pgsize;
    }
    this.flushIotlbAll();
    return ret;
  }

  /** The kit's splitBlock(iova, blockSize): iommu_split_block over the block. */
  splitBlockOp(iova: number, blockBytes: number): number {
    return this.iommuSplitBlock(iova - (iova % blockBytes), blockBytes);
  }

  /**
   * VFIO's GET_BITMAP with HWDBM (the VFIO half): iommu_sync_dirty_log into the bitmap,
   * then, unless IOMMU_DIRTY_NO_CLEAR, iommu_clear_dirty_log with that bitmap, which
   * flushes the whole IOTLB when it cleared anything. -EINVAL while the log is off.
   */
  override readAndClearDirty(iova: number, size: number, flags: number, record: (iova: number, length: number) => void): number {
    if (!this.dirtyLogTracking) return -EINVAL;
    const bitmap: DirtyLogBitmap = { base: iova, bits: new Uint8Array(Math.ceil(Math.ceil(size / PAGE) / 64) * 8) };
    let ret = this.chunked(iova, size, (i, s) => this.pgtbl.syncDirtyLog(i, s, bitmap));
    if (ret !== 0) return ret;
    for (let p = 0; p < size / PAGE; p++) if (testBit(bitmap, p)) record(iova + p * PAGE, PAGE);
    if ((flags & IOMMU_DIRTY_NO_CLEAR) !== 0) return 0;
    // iommu_clear_dirty_log: each run of set bits, in page sizes.
    let flush = false;
    for (let p = 0; p < size / PAGE && ret === 0; ) {
      if (!testBit(bitmap, p)) {
        p++;
        continue;
      }
      let q = p;
      while (q < size / PAGE && testBit(bitmap, q)) q++;
      flush = true;
      ret = this.chunked(iova + p * PAGE, (q - p) * PAGE, (i, s) => this.pgtbl.clearDirtyLog(i, s, bitmap));
      p = q;
    }
    if (flush) this.flushAfterClear();
    return ret;
  }

  /** iommu_clear_dirty_log: iommu_flush_iotlb_all once anything was cleared. */
  protected flushAfterClear(): void {
    this.flushIotlbAll();
  }

  private chunked(iova: number, size: number, op: (iova: number, size: number) => number): number {
    while (size > 0) {
      const { pgsize } = iommuPgsize(iova, iova, size);
      const ret = op(iova, pgsize);
      if (ret !== 0) return ret;
      iova += pgsize;
      size -= pgsize;
    }
    return 0;
  }
}

/** The rfc-2021 adapter, with `Domain` in place of RfcSmmuDomain (the mutants). */
export function rfc2021Adapter(name = 'rfc-2021 (arm-smmu-v3 + io-pgtable-arm with the 2021 HTTU RFC)', Domain: typeof RfcSmmuDomain = RfcSmmuDomain): SmmuDriverAdapter {
  return {
    profile: 'smmu-driver',
    name,
    contract: 'rfc-2021',
    async create(memory: KitMemory, smmu: KitSmmuPort, config: SmmuDriverConfig): Promise<SmmuDriver> {
      // The HD quirk follows ARM_SMMU_FEAT_HD alone (RFC 08/13); nothing is refused.
      const featHd = ((smmu.idr0 >>> IDR0_HTTU_SHIFT) & 3) === IDR0_HTTU_ACCESS_DIRTY;
      const domain = new Domain(memory, smmu, { asid: config.asid, dirtyTracking: featHd });
      return {
        ...driverOf(domain),
        splitBlock: async (iova, size) => domain.splitBlockOp(iova, size),
        mergePages: async (iova, _level, size) => domain.mergePages(iova, size),
      };
    },
  };
}

export default [rfc2021Adapter()];
