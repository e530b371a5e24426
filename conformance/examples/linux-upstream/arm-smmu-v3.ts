// Linux upstream's SMMUv3 paging domain with dirty tracking, the iommu core calls that
// reach it, and the iommufd calls the kit's smmu-driver operations stand for, written from
// how the upstream code behaves, over the kit's memory and SMMU port.
//
// Sources (each method names the function it follows):
// - Linux v6.12 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_dbm_capable,
//   arm_smmu_capable (IOMMU_CAP_DIRTY_TRACKING), arm_smmu_domain_alloc_user (v6.13 on
//   arm_smmu_domain_alloc_paging_flags: the same checks), arm_smmu_domain_finalise
//   (IO_PGTABLE_QUIRK_ARM_HD and dirty_ops with IOMMU_HWPT_ALLOC_DIRTY_TRACKING),
//   arm_smmu_make_s1_cd ("To enable dirty flag update, set both Access flag and dirty
//   state update"), arm_smmu_attach_dev, arm_smmu_set_dirty_tracking ("Always enabled":
//   returns 0), arm_smmu_read_and_clear_dirty, arm_smmu_tlb_inv_walk,
//   arm_smmu_tlb_inv_page_nosync, arm_smmu_iotlb_sync (returns when gather->pgsize is 0),
//   arm_smmu_tlb_inv_range_domain; drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR0_*,
//   CTXDESC_CD_0_*). v6.18 is the same in these respects (docs/CONTRACTS.md).
// - Linux v6.12 drivers/iommu/iommu.c: iommu_pgsize, __iommu_map, iommu_unmap,
//   __iommu_unmap; include/linux/iommu.h: iommu_iotlb_gather_add_page,
//   iommu_iotlb_gather_is_disjoint, iommu_iotlb_sync.
// - Linux v6.12 drivers/iommu/iommufd/io_pagetable.c: iopt_check_iova (-EEXIST over an
//   area), iopt_set_dirty_tracking, iopt_clear_dirty_data, iopt_read_and_clear_dirty_data;
//   drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_paging_alloc (-EOPNOTSUPP for
//   IOMMU_HWPT_ALLOC_DIRTY_TRACKING without IOMMU_CAP_DIRTY_TRACKING).
import type { KitMemory, KitSmmuPort, SmmuCommand } from 'dirtyspec/adapters';
import { ArmLpaeIoPgtable, EEXIST, EINVAL, EOPNOTSUPP, type IommuDirtyBitmap, type IommuIotlbGather, type IoPgtableCfg, type IoPgtableFlushOps, PGSIZE_BITMAP, iommuIotlbGatherAddRange, iommuIotlbGatherInit } from './io-pgtable-arm.ts';

// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h
export const IDR0_COHACC = 1 << 4;
export const IDR0_HTTU_SHIFT = 6;
export const IDR0_HTTU_ACCESS_DIRTY = 2;
export const CTXDESC_CD_0_TCR_T0SZ_SHIFT = 0n;
export const CTXDESC_CD_0_TCR_TG0_SHIFT = 6n;
export const CTXDESC_CD_0_TCR_IRGN0_SHIFT = 8n;
export const CTXDESC_CD_0_TCR_ORGN0_SHIFT = 10n;
export const CTXDESC_CD_0_TCR_SH0_SHIFT = 12n;
export const CTXDESC_CD_0_TCR_EPD1 = 1n << 30n;
export const CTXDESC_CD_0_V = 1n << 31n;
export const CTXDESC_CD_0_TCR_IPS_SHIFT = 32n;
export const CTXDESC_CD_0_AA64 = 1n << 41n;
export const CTXDESC_CD_0_TCR_HD = 1n << 42n;
export const CTXDESC_CD_0_TCR_HA = 1n << 43n;
export const CTXDESC_CD_0_R = 1n << 45n;
export const CTXDESC_CD_0_A = 1n << 46n;
export const CTXDESC_CD_0_ASET = 1n << 47n;
export const CTXDESC_CD_0_ASID_SHIFT = 48n;
export const CTXDESC_CD_1_TTB0_MASK = ((1n << 52n) - 1n) & ~0xfn;
// drivers/iommu/io-pgtable-arm.c: the stage-1 TCR of a coherent walk at 48 bits, 4 KiB granule.
const ARM_LPAE_TCR_RGN_WBWA = 1n;
const ARM_LPAE_TCR_SH_IS = 3n;
const ARM_LPAE_TCR_TG0_4K = 0n;
const ARM_LPAE_TCR_PS_48_BIT = 5n;

const SZ_4K = 0x1000;

/** __ffs / __fls over addresses up to 2^53. */
function alignmentOf(n: number): number {
  if (n === 0) return Number.POSITIVE_INFINITY;
  let a = 1;
  while (n % (a * 2) === 0) a *= 2;
  return a;
}

/**
 * iommu_pgsize (Linux v6.12 drivers/iommu/iommu.c): the largest supported page size that
 * fits `size` and the alignment of iova | paddr, and how many of them to map or unmap
 * before a larger page size could take over.
 */
export function iommuPgsize(iova: number, paddr: number, size: number): { pgsize: number; count: number } {
  // Page sizes supported by the hardware and small enough for @size; constrained by the
  // maximum alignment (not when iova | paddr is 0).
  const align = Math.min(alignmentOf(iova), alignmentOf(paddr));
  const fits = PGSIZE_BITMAP.filter((p) => p <= size && p <= align);
  const pgsize = fits[fits.length - 1] ?? SZ_4K;
  let count = Math.floor(size / pgsize);
  // Find the next biggest supported page size, if it exists.
  const next = PGSIZE_BITMAP.find((p) => p > pgsize);
  // There's no point trying a bigger page size unless the virtual and physical addresses
  // are similarly offset within the larger page.
  if (next !== undefined && iova % next === paddr % next) {
    // The offset to the next page size alignment boundary.
    const offset = next - (iova % next);
    // If size is big enough to accommodate the larger page, reduce the number of smaller pages.
    if (offset + next <= size) count = Math.floor(offset / pgsize);
  }
  return { pgsize, count };
}

export interface SmmuDomainConfig {
  readonly asid: number;
  /** IOMMU_HWPT_ALLOC_DIRTY_TRACKING */
  readonly dirtyTracking: boolean;
}

/** An IOVA area of the io_pagetable (struct iopt_area): one successful map, less what was unmapped. */
export interface IoptArea {
  iova: number;
  last: number;
  /** The IOMMU_READ / IOMMU_WRITE it was mapped with (iopt_area->iommu_prot). */
  prot: number;
}

/**
 * struct arm_smmu_domain (stage 1, paging) with the iommu core's map and unmap, and the
 * iommufd io_pagetable's area bookkeeping and dirty-tracking calls.
 */
export class ArmSmmuDomain {
  readonly pgtbl: ArmLpaeIoPgtable;
  /** domain->dirty_ops is &arm_smmu_dirty_ops (the domain was allocated for dirty tracking). */
  readonly hasDirtyOps: boolean;
  /** Each attached stream's context descriptor (its master's CD table, SSID 0). */
  protected readonly cds = new Map<number, number>();
  /** iopt->area_itree */
  protected areas: IoptArea[] = [];

  /**
   * arm_smmu_domain_alloc_user / _paging_flags + arm_smmu_domain_finalise, after
   * iommufd_hwpt_paging_alloc's capability check: a domain, or the negative errno.
   */
  static alloc(memory: KitMemory, smmu: KitSmmuPort, config: SmmuDomainConfig, Domain: typeof ArmSmmuDomain = ArmSmmuDomain): ArmSmmuDomain | number {
    if (config.dirtyTracking && !Domain.dbmCapable(smmu.idr0)) return -EOPNOTSUPP;
    return new Domain(memory, smmu, config);
  }

  /** arm_smmu_dbm_capable: ARM_SMMU_FEAT_HD (IDR0.HTTU = 2) and ARM_SMMU_FEAT_COHERENCY (IDR0.COHACC). */
  static dbmCapable(idr0: number): boolean {
    const httu = (idr0 >>> IDR0_HTTU_SHIFT) & 3;
    return httu === IDR0_HTTU_ACCESS_DIRTY && (idr0 & IDR0_COHACC) !== 0;
  }

  constructor(
    readonly memory: KitMemory,
    readonly smmu: KitSmmuPort,
    readonly config: SmmuDomainConfig,
  ) {
    const cfg: IoPgtableCfg = { quirkArmHd: config.dirtyTracking };
    const tlb: IoPgtableFlushOps = {
      tlbFlushWalk: (iova, size, granule) => this.tlbInvRangeDomain(iova, size, granule, false),
      tlbAddPage: (gather, iova, granule) => this.gatherAddPage(gather, iova, granule),
    };
    this.pgtbl = this.allocPgtable(memory, cfg, tlb);
    this.hasDirtyOps = config.dirtyTracking;
  }

  protected allocPgtable(memory: KitMemory, cfg: IoPgtableCfg, tlb: IoPgtableFlushOps): ArmLpaeIoPgtable {
    return new ArmLpaeIoPgtable(memory, cfg, tlb);
  }

  // ---- TLB maintenance (arm-smmu-v3.c) ----

  /** arm_smmu_tlb_inv_range_domain for a stage-1 domain: CMDQ_OP_TLBI_NH_VA over the range, then CMD_SYNC (arm_smmu_cmdq_batch_submit). */
  protected tlbInvRangeDomain(iova: number, size: number, _granule: number, _leaf: boolean): void {
    if (size === 0) return;
    const cmds: SmmuCommand[] = [{ op: 'CMD_TLBI_NH_VA', asid: this.config.asid, iova, size }, { op: 'CMD_SYNC' }];
    this.smmu.submit(cmds);
  }

  /** arm_smmu_tlb_inv_page_nosync -> iommu_iotlb_gather_add_page: sync first if the page is disjoint or of another size. */
  protected gatherAddPage(gather: IommuIotlbGather, iova: number, size: number): void {
    const end = iova + size - 1;
    const disjoint = gather.end !== 0 && (end + 1 < gather.start || iova > gather.end + 1);
    if ((gather.pgsize !== 0 && gather.pgsize !== size) || disjoint) this.iotlbSync(gather);
    gather.pgsize = size;
    iommuIotlbGatherAddRange(gather, iova, size);
  }

  /** iommu_iotlb_sync -> arm_smmu_iotlb_sync (nothing for a gather without page size), then iommu_iotlb_gather_init. */
  protected iotlbSync(gather: IommuIotlbGather): void {
    if (gather.pgsize !== 0) this.tlbInvRangeDomain(gather.start, gather.end - gather.start + 1, gather.pgsize, true);
    Object.assign(gather, iommuIotlbGatherInit());
  }

  // ---- attach (arm-smmu-v3.c) ----

  /** arm_smmu_make_s1_cd: words 0 and 1 of the CD (word 3, the MAIR, the kit's SMMU does not read). */
  protected makeS1Cd(): [bigint, bigint] {
    let w0 =
      (16n << CTXDESC_CD_0_TCR_T0SZ_SHIFT) | // tcr->tsz = 64 - ias
      (ARM_LPAE_TCR_TG0_4K << CTXDESC_CD_0_TCR_TG0_SHIFT) |
      (ARM_LPAE_TCR_RGN_WBWA << CTXDESC_CD_0_TCR_IRGN0_SHIFT) |
      (ARM_LPAE_TCR_RGN_WBWA << CTXDESC_CD_0_TCR_ORGN0_SHIFT) |
      (ARM_LPAE_TCR_SH_IS << CTXDESC_CD_0_TCR_SH0_SHIFT) |
      CTXDESC_CD_0_TCR_EPD1 |
      CTXDESC_CD_0_V |
      (ARM_LPAE_TCR_PS_48_BIT << CTXDESC_CD_0_TCR_IPS_SHIFT) |
      CTXDESC_CD_0_AA64 |
      CTXDESC_CD_0_R |
      CTXDESC_CD_0_A |
      CTXDESC_CD_0_ASET |
      (BigInt(this.config.asid & 0xffff) << CTXDESC_CD_0_ASID_SHIFT);
    // To enable dirty flag update, set both Access flag and dirty state update.
    if (this.pgtbl.cfg.quirkArmHd) w0 |= CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD;
    return [w0, BigInt(this.pgtbl.pgd) & CTXDESC_CD_1_TTB0_MASK];
  }

  /**
   * arm_smmu_attach_dev: the CD is written before the STE points at it (arm_smmu_write_cd_entry:
   * the words a V=0 entry does not use first, then word 0 with V, CMDQ_OP_CFGI_CD + CMD_SYNC);
   * then the STE (arm_smmu_install_ste_for_dev). Attaching a stream already attached is a
   * no-op (the core's __iommu_group_set_domain: the group already has this domain).
   */
  attach(streamId: number): number {
    if (!Number.isInteger(streamId) || streamId < 0) return -EINVAL;
    if (this.cds.has(streamId)) return 0;
    const cd = this.memory.allocFrame();
    this.cds.set(streamId, cd);
    const [w0, w1] = this.makeS1Cd();
    this.memory.store(cd + 8, w1);
    this.memory.store(cd, w0 & ~CTXDESC_CD_0_V);
    this.smmu.submit([{ op: 'CMD_CFGI_CD', streamId }, { op: 'CMD_SYNC' }]);
    this.memory.store(cd, w0);
    this.smmu.submit([{ op: 'CMD_CFGI_CD', streamId }, { op: 'CMD_SYNC' }]);
    this.smmu.attachStream(streamId, cd);
    return 0;
  }

  // ---- the iommu core (iommu.c) ----

  /** __iommu_map: page-size chunks from iommu_pgsize; on failure what this call mapped is unmapped again. */
  iommuMap(iova: number, paddr: number, size: number, prot: number): number {
    if (iova % SZ_4K !== 0 || paddr % SZ_4K !== 0 || size % SZ_4K !== 0) return -EINVAL;
    const origIova = iova;
    const origSize = size;
    let ret = 0;
    while (size > 0) {
      const { pgsize, count } = iommuPgsize(iova, paddr, size);
      const mapped = { bytes: 0 };
      ret = this.pgtbl.mapPages(iova, paddr, pgsize, count, prot, mapped);
      size -= mapped.bytes;
      if (ret !== 0) break;
      iova += mapped.bytes;
      paddr += mapped.bytes;
    }
    // Unroll the mapping in case something went wrong.
    if (ret !== 0) this.iommuUnmap(origIova, origSize - size);
    return ret;
  }

  /** iommu_unmap: __iommu_unmap with a gather, then iommu_iotlb_sync. */
  iommuUnmap(iova: number, size: number): number {
    const gather = iommuIotlbGatherInit();
    const ret = this.iommuUnmapGathered(iova, size, gather);
    this.iotlbSync(gather);
    return ret;
  }

  /** __iommu_unmap: page-size chunks, stopping at the first that unmaps nothing. */
  protected iommuUnmapGathered(iova: number, size: number, gather: IommuIotlbGather): number {
    if (iova % SZ_4K !== 0 || size % SZ_4K !== 0) return 0;
    let unmapped = 0;
    while (unmapped < size) {
      const { pgsize, count } = iommuPgsize(iova, iova, size - unmapped);
      const unmappedPage = this.pgtbl.unmapPages(iova, pgsize, count, gather);
      if (unmappedPage === 0) break;
      iova += unmappedPage;
      unmapped += unmappedPage;
    }
    return unmapped;
  }

  // ---- iommufd (io_pagetable.c) ----

  /** iopt_check_iova, then the area is filled into the domain (iopt_area_fill_domain -> iommu_map) and inserted. */
  map(iova: number, paddr: number, size: number, prot: number): number {
    if (iova % SZ_4K !== 0 || size % SZ_4K !== 0 || size === 0) return -EINVAL;
    const last = iova + size - 1;
    // Check that there is not already a mapping in the range.
    if (this.areas.some((a) => a.iova <= last && iova <= a.last)) return -EEXIST;
    const ret = this.iommuMap(iova, paddr, size, prot);
    if (ret === 0) this.areas.push({ iova, last, prot });
    return ret;
  }

  /** iommu_unmap over the range; the areas lose what was unmapped. Unmap reads no dirty state. */
  unmap(iova: number, size: number): number {
    const unmapped = this.iommuUnmap(iova, size);
    if (unmapped > 0) this.forgetAreas(iova, iova + unmapped - 1);
    return unmapped;
  }

  protected forgetAreas(first: number, last: number): void {
    const out: IoptArea[] = [];
    for (const a of this.areas) {
      if (a.last < first || a.iova > last) out.push(a);
      else {
        if (a.iova < first) out.push({ iova: a.iova, last: first - 1, prot: a.prot });
        if (a.last > last) out.push({ iova: last + 1, last: a.last, prot: a.prot });
      }
    }
    this.areas = out;
  }

  /**
   * iopt_set_dirty_tracking: -EOPNOTSUPP without dirty_ops; enabling first clears the
   * dirty state of every area (iopt_clear_dirty_data); then arm_smmu_set_dirty_tracking,
   * which does nothing. iommufd keeps no tracking state: enabling again clears again.
   */
  setDirtyTracking(enable: boolean): number {
    if (!this.hasDirtyOps) return -EOPNOTSUPP;
    if (enable) {
      const ret = this.clearDirtyData();
      if (ret !== 0) return ret;
    }
    return this.armSmmuSetDirtyTracking(enable);
  }

  /** iopt_clear_dirty_data: read-and-clear over each area without a bitmap, then iommu_iotlb_sync (no TLBI: the gather has no page size). */
  protected clearDirtyData(): number {
    const gather = iommuIotlbGatherInit();
    const dirty: IommuDirtyBitmap = { record: undefined, gather };
    let ret = 0;
    for (const a of [...this.areas].sort((x, y) => x.iova - y.iova)) {
      ret = this.pgtbl.readAndClearDirty(a.iova, a.last - a.iova + 1, 0, dirty);
      if (ret !== 0) break;
    }
    this.iotlbSync(gather);
    return ret;
  }

  /** arm_smmu_set_dirty_tracking: "Always enabled and the dirty bitmap is cleared prior to set_dirty_tracking()". */
  protected armSmmuSetDirtyTracking(_enable: boolean): number {
    return 0;
  }

  /**
   * iopt_read_and_clear_dirty_data -> iommu_read_and_clear_dirty: the driver's
   * read_and_clear_dirty (arm_smmu_read_and_clear_dirty -> the page table's walk) with the
   * caller's bitmap, then iommu_iotlb_sync. -EOPNOTSUPP without dirty_ops; no check of
   * whether tracking is on (the driver keeps no such state).
   */
  readAndClearDirty(iova: number, size: number, flags: number, record: (iova: number, length: number) => void): number {
    if (!this.hasDirtyOps) return -EOPNOTSUPP;
    const gather = iommuIotlbGatherInit();
    const ret = this.pgtbl.readAndClearDirty(iova, size, flags, { record, gather });
    this.iotlbSync(gather);
    return ret;
  }
}
