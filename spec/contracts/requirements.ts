// The requirements of the contract variants (spec/contracts/): the rules a real driver
// follows where it differs from the kit's strict contract. Spread into the catalogue by
// spec/requirements.ts. `-U` rules are Linux upstream's, `-R` rules the 2021 HTTU RFC's.
//
// Sources read:
// - Linux v6.18 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (arm_smmu_dbm_capable,
//   arm_smmu_capable, arm_smmu_domain_finalise, arm_smmu_domain_alloc_paging_flags,
//   arm_smmu_make_s1_cd, arm_smmu_set_dirty_tracking, arm_smmu_read_and_clear_dirty,
//   arm_smmu_iotlb_sync); SMMUv3 dirty tracking was merged in v6.11 (pull request
//   <20240719112138.GA22869@willie-the-truck>).
// - Linux drivers/iommu/io-pgtable-arm.c at v6.12 (arm_lpae_read_and_clear_dirty,
//   io_pgtable_visit_dirty, __arm_lpae_iopte_walk_dirty, __arm_lpae_unmap,
//   __arm_lpae_clear_pte) and commit 33729a5fc0ca ("iommu/io-pgtable-arm: Remove split
//   on unmap behavior", merged for v6.13, <1-v3-b3a5b5937f56+7bb-arm_no_split_jgg@nvidia.com> (v3 1/3; v1 was <0-v1-8c5f369ec2e5+75-arm_no_split_jgg@nvidia.com>)).
// - Linux v6.18 drivers/iommu/iommufd/hw_pagetable.c (iommufd_hwpt_paging_alloc,
//   iommufd_hwpt_set_dirty_tracking), io_pagetable.c (iopt_set_dirty_tracking,
//   iopt_clear_dirty_data, iommu_read_and_clear_dirty), vfio_compat.c
//   (iommufd_vfio_unmap_dma), include/linux/iommu.h (iommu_dirty_bitmap_record).
// - The HTTU RFC, last iommu version: Keqian Zhu, "[RFC PATCH v4 00/13] iommu/smmuv3:
//   Implement hardware dirty log tracking", 7 May 2021, <20210507102211.8836-1-zhukeqian1@huawei.com>
//   (patches -4 split_block, -5 merge_page, -6 sync_dirty_log, -7 clear_dirty_log,
//   -9 "Enable HTTU for stage1 with io-pgtable mapping", -11 switch_dirty_log; the
//   framework, iommu_switch_dirty_log / iommu_clear_dirty_log, in -2), and its VFIO half,
//   "[RFC PATCH v2 2/3] vfio/iommu_type1: Optimize dirty bitmap population based on iommu
//   HWDBM", <20210507103608.39440-3-zhukeqian1@huawei.com>. Earlier versions: v1 of
//   28 Jan 2021 and v2 <20210310090614.26668-1-zhukeqian1@huawei.com> (same split and
//   merge code).
//
// This file imports nothing but a type (spec/requirements.ts spreads it).
import type { Requirement } from '../requirements.ts';

const SMMU = 'Linux v6.18 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c';
const PGTABLE = 'Linux v6.12 drivers/iommu/io-pgtable-arm.c';
const HW_PAGETABLE = 'Linux v6.18 drivers/iommu/iommufd/hw_pagetable.c';
const IO_PAGETABLE = 'Linux v6.18 drivers/iommu/iommufd/io_pagetable.c';
const NO_SPLIT =
  'Linux v6.13 commit 33729a5fc0ca "iommu/io-pgtable-arm: Remove split on unmap behavior" (__arm_lpae_unmap), <1-v3-b3a5b5937f56+7bb-arm_no_split_jgg@nvidia.com> (v3 1/3; v1 was <0-v1-8c5f369ec2e5+75-arm_no_split_jgg@nvidia.com>)';
const RFC = 'HTTU RFC v4 (Keqian Zhu, Kunkun Jiang, 7 May 2021)';
const RFC_SPLIT = `${RFC} patch 03/13 "iommu/io-pgtable-arm: Add and realize split_block ops", <20210507102211.8836-4-zhukeqian1@huawei.com>`;
const RFC_MERGE = `${RFC} patch 04/13 "iommu/io-pgtable-arm: Add and realize merge_page ops", <20210507102211.8836-5-zhukeqian1@huawei.com>`;
const RFC_SYNC = `${RFC} patch 05/13 "iommu/io-pgtable-arm: Add and realize sync_dirty_log ops", <20210507102211.8836-6-zhukeqian1@huawei.com>`;
const RFC_CLEAR = `${RFC} patch 06/13 "iommu/io-pgtable-arm: Add and realize clear_dirty_log ops", <20210507102211.8836-7-zhukeqian1@huawei.com>`;
const RFC_HTTU = `${RFC} patch 08/13 "iommu/arm-smmu-v3: Enable HTTU for stage1 with io-pgtable mapping", <20210507102211.8836-9-zhukeqian1@huawei.com>`;
const RFC_SWITCH = `${RFC} patch 10/13 "iommu/arm-smmu-v3: Realize switch_dirty_log iommu ops", <20210507102211.8836-11-zhukeqian1@huawei.com>`;
const RFC_FRAMEWORK = `${RFC} patch 01/13 "iommu: Introduce dirty log tracking framework" (iommu_switch_dirty_log, iommu_sync_dirty_log, iommu_clear_dirty_log), <20210507102211.8836-2-zhukeqian1@huawei.com>`;
const RFC_VFIO = 'HWDBM RFC v2 patch 2/3 "vfio/iommu_type1: Optimize dirty bitmap population based on iommu HWDBM" (update_user_bitmap, vfio_dma_do_unmap), <20210507103608.39440-3-zhukeqian1@huawei.com>';

export const contractRequirements = {
  // linux-upstream: iommufd + arm-smmu-v3 + io-pgtable-arm as merged (v6.11 on, v6.13 on for unmap)
  'CREATE-U1': {
    text: 'A domain allocated for dirty tracking (IOMMU_HWPT_ALLOC_DIRTY_TRACKING) is refused with -EOPNOTSUPP unless the SMMU is DBM-capable: SMMU_IDR0.HTTU = 2 (ARM_SMMU_FEAT_HD) and IDR0.COHACC (ARM_SMMU_FEAT_COHERENCY); such a domain gets the HD quirk (DBM on writable leaves) from its allocation on.',
    source: `${HW_PAGETABLE} iommufd_hwpt_paging_alloc (device_iommu_capable IOMMU_CAP_DIRTY_TRACKING); ${SMMU} arm_smmu_dbm_capable, arm_smmu_capable, arm_smmu_domain_finalise (IO_PGTABLE_QUIRK_ARM_HD)`,
  },
  'TRACK-U1': {
    text: 'Every stream attached to a dirty-tracking domain gets HA and HD in its context descriptor at attach, whether tracking is on or off; nothing clears them while the domain lives.',
    source: `${SMMU} arm_smmu_make_s1_cd ("To enable dirty flag update, set both Access flag and dirty state update")`,
  },
  'TRACK-U2': {
    text: 'Enabling tracking read-and-clears every mapped area without recording, then syncs the IOTLB gather, which on SMMUv3 issues no TLBI (the gather has no page size); the driver call that follows does nothing; the result is 0.',
    source: `${IO_PAGETABLE} iopt_set_dirty_tracking, iopt_clear_dirty_data; ${SMMU} arm_smmu_set_dirty_tracking ("Always enabled"), arm_smmu_iotlb_sync (returns when gather->pgsize is 0)`,
  },
  'TRACK-U3': {
    text: 'Enabling while on clears again, forgetting what was not yet reported; disabling, on or off, changes nothing (HD stays on, leaves keep their state); both return 0. iommufd keeps no tracking state.',
    source: `${HW_PAGETABLE} iommufd_hwpt_set_dirty_tracking; ${IO_PAGETABLE} iopt_set_dirty_tracking; ${SMMU} arm_smmu_set_dirty_tracking`,
  },
  'TRACK-U4': {
    text: 'Setting dirty tracking on a domain not allocated for it is -EOPNOTSUPP (it has no dirty_ops) and changes nothing.',
    source: `${IO_PAGETABLE} iopt_set_dirty_tracking; ${SMMU} arm_smmu_domain_finalise (dirty_ops only with IOMMU_HWPT_ALLOC_DIRTY_TRACKING)`,
  },
  'CLEAR-U1': {
    text: 'Read-and-clear works whether tracking is on or off: the SMMUv3 driver keeps no tracking state and returns 0 with the dirty state as the leaves hold it.',
    source: `${SMMU} arm_smmu_read_and_clear_dirty; ${IO_PAGETABLE} iommu_read_and_clear_dirty (no state check; the -EINVAL of a disabled domain is Intel VT-d's intel_iommu_read_and_clear_dirty)`,
  },
  'CLEAR-U2': {
    text: 'Read-and-clear walks from a cursor starting at the range start: the leaf holding the cursor, if writable-dirty, is recorded as [cursor, cursor + leaf size) and cleared whole unless IOMMU_DIRTY_NO_CLEAR; the cursor then advances by the leaf size, so a range starting inside a block skips what lies between the block end and start + block size, and a leaf reaching outside the range is cleared there too. Owed in the bitmap: the pages of the leaf from the cursor to the range end, and the recorded pages in range of a writable-dirty block (that record is their only report: a walk entering the block past them clears them unreported). The other recorded bits (a hole, a clean or read-only leaf, past the range: iova_bitmap_set stops only at the pinned bitmap page), and any page of a writable-dirty leaf in range, are permitted, not required.',
    source: `${PGTABLE} io_pgtable_visit_dirty (iommu_dirty_bitmap_record(walk_data->addr, size); iopte_set_writeable_clean; walk_data->addr += size), __arm_lpae_iopte_walk_dirty; the same in visit_dirty of later kernels`,
  },
  'CLEAR-U3': {
    text: 'An unmapped entry inside the range ends read-and-clear with -EINVAL (and a WARN), after the leaves before it were recorded and cleared.',
    source: `${PGTABLE} io_pgtable_visit_dirty (WARN_ON(!iopte_table) returns -EINVAL)`,
  },
  'CLEAR-U4': {
    text: 'No TLB invalidation follows a read-and-clear on SMMUv3: iommu_dirty_bitmap_record adds the range to the gather without a page size and arm_smmu_iotlb_sync returns early for such a gather.',
    source: `Linux v6.18 include/linux/iommu.h iommu_dirty_bitmap_record (iommu_iotlb_gather_add_range); ${IO_PAGETABLE} iommu_read_and_clear_dirty (iommu_iotlb_sync after the walk); ${SMMU} arm_smmu_iotlb_sync`,
  },
  'UNMAP-U1': {
    text: 'Unmapping part of a block is refused (v6.13 on): the block stays mapped, 0 bytes are unmapped for it (WARN_ONCE "Unmap of a partial large IOPTE is not allowed"), and the unmap stops there. Or (v6.11, v6.12) the block is split: a table of its attributes, AP[2] and DBM included, takes its place minus the part unmapped, so every page keeps the block\'s dirty state; where the block changed since it was read (the SMMU set its dirty state) the compare-exchange fails, 0 bytes are unmapped for it and the unmap stops there, after whatever splits came before it succeeded (a 1 GiB block may be split to 2 MiB blocks and stop at the one cut). The bytes returned, and the level of the block the unmap stopped at, say which ran.',
    source: `${NO_SPLIT}; Linux v6.12.117 drivers/iommu/io-pgtable-arm.c arm_lpae_split_blk_unmap, iopte_prot (ARM_LPAE_PTE_ATTR_HI_MASK holds DBM)`,
  },
  'UNMAP-U2': {
    text: 'An unmapped entry ends an unmap (WARN_ON, 0 bytes for it): the bytes unmapped before it are returned and nothing after it is unmapped.',
    source: `${PGTABLE} __arm_lpae_unmap (WARN_ON(!pte) returns 0); Linux v6.18 drivers/iommu/iommu.c __iommu_unmap (stops at the first 0)`,
  },
  'UNMAP-U3': {
    text: 'Unmap reports no dirty state: each entry is cleared with a plain store and the old value is not read back; the caller must read-and-clear before unmapping.',
    source: `${PGTABLE} __arm_lpae_clear_pte; Linux v6.18 drivers/iommu/iommufd/vfio_compat.c iommufd_vfio_unmap_dma (VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP "is obsoleted": only UNMAP_ALL is accepted)`,
  },

  // rfc-2021: the HTTU dirty-log RFC (never merged; carried by vendor kernels)
  'CREATE-R1': { text: 'Every stage-1 domain gets the HD quirk (DBM on writable leaves) exactly when the SMMU has ARM_SMMU_FEAT_HD (IDR0.HTTU = 2); no allocation flag asks for it and creation is never refused for it.', source: RFC_HTTU },
  'TRACK-R1': {
    text: 'Every stage-1 context descriptor has HA and HD set from its attach on, tracking on or off, and they are never cleared.',
    source: `${RFC_HTTU} (arm_smmu_domain_finalise_s1 adds CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD to every CD)`,
  },
  'TRACK-R2': {
    text: "Enabling tracking: -ENODEV without ARM_SMMU_FEAT_HD, -EBUSY while on; otherwise, for each mapping (one map call's range, a vfio_dma) on its own, it splits the blocks that mapping holds whole (SPLIT-R1; iommu_split_block's iommu_pgsize chunks reach a block's size only inside one mapping), ignoring a split that fails, flushes the whole IOTLB, and returns 0. It does not clear stale dirty state.",
    source: `${RFC_SWITCH} (arm_smmu_switch_dirty_log: "We don't return error even if the split operation fail"); ${RFC_FRAMEWORK} (-EBUSY, iommu_flush_iotlb_all, iommu_split_block); ${RFC_VFIO} (vfio_dma_dirty_log_switch: iommu_switch_dirty_log over dma->iova, dma->size for each vfio_dma)`,
  },
  'TRACK-R3': {
    text: "Disabling tracking: -EINVAL while off; otherwise, for each mapping (one map call's range, a vfio_dma) on its own, it merges every run of that mapping's pages with contiguous output addresses into the largest blocks the alignment allows (whether or not enabling split them), ignoring a merge that fails, flushes the whole IOTLB, and returns 0; a block-sized region that two mappings fill stays pages; HA, HD and the other leaves are left as they are.",
    source: `${RFC_SWITCH} (arm_smmu_merge_page: iova_to_phys runs, cont_size != PAGE_SIZE; "it just effects performace"); ${RFC_FRAMEWORK}; ${RFC_VFIO} (vfio_dma_dirty_log_switch: iommu_switch_dirty_log over dma->iova, dma->size for each vfio_dma)`,
  },
  'SPLIT-R1': {
    text: "Split (told the IOVA and the size) splits only blocks with AP[2] clear (writable-dirty, or writable without DBM); a read-only or writable-clean block stays a block and the call succeeds; it needs SMMU_IDR3.BBML = 1 or 2 (-ENODEV otherwise); with BBML1 it sets the block's nT bit and invalidates before the swap.",
    source: `${RFC_SPLIT} (__arm_lpae_split_block: "if (... (pte & ARM_LPAE_PTE_AP_RDONLY)) return size"); ${RFC_SWITCH} (arm_smmu_split_block: "don't support BBML1/2, can't split block", -ENODEV)`,
  },
  'SPLIT-R2': {
    text: 'The split fills the table from the block as read (every page takes its attributes, DBM and AP[2] included) and installs it with a compare-exchange whose result is not checked ("Race does not exist"): safe only because the blocks it splits are already dirty, which hardware never changes.',
    source: `${RFC_SPLIT} (arm_lpae_do_split_blk, arm_lpae_install_table); patch 02/11 of v2 (ARM_LPAE_PTE_ATTR_HI_MASK takes DBM), <20210310090614.26668-3-zhukeqian1@huawei.com>`,
  },
  'MERGE-R1': {
    text: 'Merge (told the IOVA, the output address, the size and the protection) of an entry that is already a leaf, at that level or above, succeeds and changes nothing; of an unmapped entry fails (-EFAULT, WARN); it needs SMMU_IDR3.BBML = 1 or 2 (-ENODEV otherwise).',
    source: `${RFC_MERGE} (__arm_lpae_merge_page: "The size is too small, already merged", WARN_ON(!pte)); ${RFC_SWITCH} (__arm_smmu_merge_page: -EFAULT, arm_smmu_merge_page: -ENODEV)`,
  },
  'MERGE-R2': {
    text: "The merged block is built from the mapping's protection, not from its pages: a writable block is writable-dirty (DBM, AP[2] clear) whatever its pages were; the pages are not checked for contiguity or equal attributes in the page table (the caller found the run with iova_to_phys), and the table is freed before the IOTLB is flushed.",
    source: `${RFC_MERGE} (__arm_lpae_init_pte with arm_lpae_prot_to_pte(iommu_prot), then __arm_lpae_free_pgtable); ${RFC_SWITCH}`,
  },
  'CLEAR-R1': {
    text: 'Reading the dirty log (sync) reports, for the part inside the range, every leaf with AP[2] clear and clears nothing; an unmapped entry in the range is -EINVAL; while tracking is off it is -EINVAL.',
    source: `${RFC_SYNC} (__arm_lpae_sync_dirty_log); ${RFC_FRAMEWORK} (iommu_sync_dirty_log: !dirty_log_tracking is -EINVAL)`,
  },
  'CLEAR-R2': {
    text: 'Clearing takes a bitmap: a writable-dirty leaf is made writable-clean (by a plain store of the value read) only if every page of it is selected; a selected dirty leaf larger than the piece being cleared is -EINVAL; when any bit was set the whole IOTLB is flushed before the call returns. GET_BITMAP clears exactly what the sync before it reported.',
    source: `${RFC_CLEAR} (__arm_lpae_clear_dirty_log: "Ensure all corresponding bits are set", "Race does not exist"); ${RFC_FRAMEWORK} (iommu_clear_dirty_log: iommu_flush_iotlb_all); ${RFC_VFIO} (vfio_iova_dirty_bitmap: vfio_iommu_dirty_log_clear with dma->bitmap)`,
  },
  'UNMAP-R1': {
    text: "The page-table unmap reports no dirty state; UNMAP_DMA with GET_DIRTY_BITMAP syncs the mapping's dirty log, copies it out, stops the log for it (a merge), and only then unmaps, so a write after the sync is not reported.",
    source: `${RFC_VFIO} (vfio_dma_do_unmap: update_user_bitmap, then vfio_dma_dirty_log_switch(false), then vfio_remove_dma); ${PGTABLE} __arm_lpae_unmap`,
  },
} as const satisfies Record<string, Requirement>;

export type ContractRequirementId = keyof typeof contractRequirements;
