// The rfc-2021 contract: the HTTU dirty-log RFC of Keqian Zhu and Kunkun Jiang (iommu
// part v4 of 7 May 2021, VFIO part RFC v2 of the same day; v1 of 28 Jan 2021 and v2 of
// 10 Mar 2021 carry the same split and merge code). Never merged upstream; vendor
// kernels carry it. HA/HD are on for every stage-1 domain of an SMMU with HTTU = 2;
// starting the dirty log splits the writable-dirty blocks (BBML1/2 needed, failures
// ignored), stopping it merges every contiguous run; the dirty log is read (sync) and
// cleared by bitmap in two steps.
import { contractRequirements as R } from './requirements.ts';
import type { Contract, Hazard } from './types.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
const STREAM = 10;

const hazards: readonly Hazard[] = [
  {
    id: 'H-R1',
    title: 'A write after the dirty-log sync of UNMAP_DMA and before the unmap is lost: the unmap itself reads no dirty state',
    nature: 'design',
    effect: 'lost-write',
    req: ['NOLOSS-3', 'UNMAP-R1'],
    source: R['UNMAP-R1'].source,
    steps: [
      { op: 'create', httu: 2, bbml: 2, dirtyCapable: true, pageGranular: true },
      { op: 'attach', stream: STREAM },
      { op: 'setDirtyTracking', enable: true },
      { op: 'map', iova: 0, size: PAGE, write: true, pa: 'page-aligned' },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'unmap', iova: 0, size: PAGE },
    ],
    misses: { atStep: 5, pages: [0] },
    why: 'vfio_dma_do_unmap calls update_user_bitmap (iommu_sync_dirty_log) before vfio_dma_dirty_log_switch(false) and vfio_remove_dma; the page-table unmap clears entries without reading them, so a write that lands after the sync (here: with no sync at all, as the driver operation sees it) is reported by nobody.',
  },
  {
    id: 'H-R2',
    title: 'A clear over a range that cuts a dirty block fails after clearing the leaves before it: a caller that drops the failed report loses them',
    nature: 'caller-obligation',
    effect: 'lost-write',
    req: ['CLEAR-4', 'NOLOSS-1', 'CLEAR-R2'],
    source: R['CLEAR-R2'].source,
    steps: [
      { op: 'create', httu: 2, bbml: 0, dirtyCapable: true, pageGranular: true },
      { op: 'attach', stream: STREAM },
      { op: 'map', iova: 0, size: MiB2, write: true, pa: 'page-aligned' },
      { op: 'map', iova: MiB2, size: MiB2, write: true, pa: 'block-aligned' },
      { op: 'setDirtyTracking', enable: true },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'readAndClearDirty', iova: 0, size: MiB2 + PAGE, noClear: false },
      { op: 'readAndClearDirty', iova: 0, size: PAGE, noClear: false },
    ],
    misses: { atStep: 7, pages: [0] },
    why: 'With BBML 0 the split at start fails and is ignored, so the block stays a block. The sync reports the 512 pages (dirty since they were mapped: start clears nothing) and the block\'s first page; iommu_clear_dirty_log then clears the pages and, for the one-page piece of the dirty 2 MiB block, __arm_lpae_clear_dirty_log returns -EINVAL ("size is too small" and the leaf is not clean). VFIO never asks for a range that cuts a mapping, so only a caller of the iommu interface with its own ranges meets it.',
  },
];

export const rfc2021: Contract = {
  name: 'rfc-2021',
  title: 'The 2021 HTTU dirty-log RFC (split_block, merge_page, sync_dirty_log, clear_dirty_log)',
  summary:
    'Every stage-1 domain of an SMMU with HTTU = 2 has the HD quirk and HA/HD in its CDs; start splits the writable-dirty blocks (needs BBML1/2, failures ignored, -EBUSY when on), ' +
    "stop merges every contiguous run into blocks built from the mapping's prot (-EINVAL when off); the dirty log is read by sync (every AP[2]-clear leaf) and cleared by bitmap " +
    '(whole leaves only, -EINVAL for a cut dirty block and nothing cleared after it, a whole-IOTLB flush after); unmap reads no dirty state.',
  basis:
    'RFC v4 <20210507102211.8836-1-zhukeqian1@huawei.com> (patches 01, 03-06, 08, 10) and the VFIO RFC v2 <20210507103608.39440-1-zhukeqian1@huawei.com> (patch 2); ' +
    'v2 of the combined series <20210310090614.26668-1-zhukeqian1@huawei.com>; on Linux v5.12 io-pgtable-arm.c (split on partial unmap)',
  profiles: ['smmu-driver', 'smmu-hw', 'vfio-type1'],
  rules: {
    replaced: [
      { id: 'TRACK-1', by: ['CREATE-R1', 'TRACK-R2'], why: 'The HD quirk follows the hardware, and starting without ARM_SMMU_FEAT_HD is -ENODEV, not -EOPNOTSUPP.', source: R['TRACK-R2'].source },
      { id: 'TRACK-2', by: ['TRACK-R1'], why: 'HA and HD are in every stage-1 CD from attach on; start does not write them.', source: R['TRACK-R1'].source },
      { id: 'TRACK-3', by: ['TRACK-R2'], why: 'Start does not clear stale dirty state (the first sync reports everything written since the mapping).', source: R['TRACK-R2'].source },
      { id: 'TRACK-4', by: ['TRACK-R2', 'SPLIT-R1'], why: 'Start splits only writable-dirty blocks, only with BBML1/2, and ignores a failed split.', source: R['SPLIT-R1'].source },
      { id: 'TRACK-5', by: ['TRACK-R2', 'TRACK-R3'], why: 'Start while on is -EBUSY and stop while off is -EINVAL.', source: R['TRACK-R2'].source },
      { id: 'TRACK-6', by: ['TRACK-R3'], why: 'Stop merges every contiguous run, not only what start split, and leaves HD on (no marking, no CD change).', source: R['TRACK-R3'].source },
      { id: 'TRACK-7', by: ['TRACK-R1'], why: 'A stream attached while tracking is off gets HA and HD too.', source: R['TRACK-R1'].source },
      { id: 'SPLIT-1', by: ['SPLIT-R1'], why: 'A read-only or writable-clean block is not split (the call succeeds and leaves it a block).', source: R['SPLIT-R1'].source },
      { id: 'SPLIT-2', by: ['SPLIT-R2'], why: 'The compare-exchange result is not looked at; nothing the hardware does late is carried.', source: R['SPLIT-R2'].source },
      { id: 'MERGE-1', by: ['MERGE-R2'], why: 'The block is writable-dirty because it is built from prot, whatever its pages were.', source: R['MERGE-R2'].source },
      { id: 'MERGE-2', by: ['MERGE-R2'], why: "Merging clean pages gives a writable-dirty block, not the first page's state.", source: R['MERGE-R2'].source },
      {
        id: 'CLEAR-4',
        by: ['CLEAR-R2'],
        why: 'A dirty leaf only partly selected is not cleared, but the call fails with -EINVAL when the leaf is larger than the piece being cleared, and stops there: the dirty leaves after it stay dirty even where wholly selected (in the same run, in later runs of the bitmap, and, for VFIO CLEAR_BITMAP, in later vfio_dmas, whose ioctl answers the -EINVAL). They are reported again unwritten: a false dirty, not a loss.',
        source: `${R['CLEAR-R2'].source}; HTTU v2 patch 11/11 "vfio/iommu_type1: Add support for manual dirty log clear" (vfio_iova_dirty_log_clear: the first failure returned), <20210310090614.26668-12-zhukeqian1@huawei.com>`,
      },
      { id: 'NOLOSS-3', by: ['UNMAP-R1'], why: 'Unmap returns no dirty state; UNMAP_DMA syncs before unmapping.', source: R['UNMAP-R1'].source },
    ],
    dropped: [
      { id: 'CLEAR-3', why: 'Nothing marks leaves dirty: HD is never turned off.', source: R['TRACK-R1'].source },
      {
        id: 'SPLIT-3',
        why: 'split_block answers 0 bytes for an unmapped entry (WARN_ON(!pte)), which arm_smmu_split_block turns into -EFAULT, and success for a page (the smallest granule: nothing to do); the contract gives these answers no rule.',
        source: R['SPLIT-R1'].source,
      },
      { id: 'MERGE-3', why: 'merge_page answers 0 bytes, then -EFAULT, for an unmapped entry and success over a leaf: MERGE-R1 says what the contract asks of those.', source: R['MERGE-R1'].source },
      {
        id: 'IOTLB-12',
        why: "With BBML2 __arm_lpae_merge_page frees the table right after it writes the block, and the IOTLB is flushed only after (iommu_merge_page's iommu_flush_iotlb_all in v2 patch 05/11, iommu_switch_dirty_log's in v4 patch 01/13; BBML1's io_pgtable_tlb_flush_walk comes before the free): a walk cache may point at the freed page until then. The contract takes the merge as the RFC wrote it (MERGE-R2); an SMMU that caches walks can read the freed page as a table.",
        source: R['MERGE-R2'].source,
      },
      {
        id: 'CLEAR-5',
        why: 'iommu_sync_dirty_log walks a range of size 0 in no chunk and returns 0; past 2^48 there is no leaf, so CLEAR-R1 (-EINVAL over a hole) answers instead.',
        source: R['CLEAR-R1'].source,
      },
    ],
    added: [
      { id: 'MERGE-R1', why: 'Merging where a leaf already is succeeds; merging nothing is an error; BBML1/2 needed.', source: R['MERGE-R1'].source },
      { id: 'CLEAR-R1', why: 'The read (sync) reports AP[2]-clear leaves, is -EINVAL over a hole and while tracking is off.', source: R['CLEAR-R1'].source },
    ],
  },
  capabilities: {
    operations: { splitBlock: true, mergePages: true, clearDirtyByBitmap: true },
    create: { hdQuirkFrom: 'hardware', refuses: [], pageGranular: 'always' },
    cdHaHd: 'always',
    setDirtyTracking: {
      refusal: 'ENODEV',
      enable: { setsHaHd: false, clearsStale: false, invalidates: true, splits: 'writable-dirty-blocks', ignoresSplitFailure: true },
      disable: { merges: 'every-contiguous-run', marksWritableDirty: false, invalidates: true, clearsHaHd: false },
      // VFIO RFC v2 patch 2/3 vfio_dma_dirty_log_switch: iommu_switch_dirty_log(d->domain, enable, dma->iova, dma->size, ...) for each vfio_dma.
      perMapping: true,
      enableWhileOn: { errno: 'EBUSY' },
      disableWhileOff: { errno: 'EINVAL' },
    },
    readAndClear: {
      whenTrackingOff: 'einval',
      partialLeaf: 'einval',
      hole: 'einval',
      invalidatesCleared: 'whole-domain',
      atomicClear: false,
      reportsPlainWritable: true,
      noClearFlag: true,
      // RFC 01/13 iommu_sync_dirty_log: ops->sync_dirty_log per iommu_pgsize chunk; RFC 05/13 __arm_lpae_sync_dirty_log sets a leaf's bits for the chunk ("Though the size is too small, also set bitmap").
      syncChunks: 'iommu-pgsize',
    },
    // Linux v5.12 drivers/iommu/iommu.c __iommu_unmap with iommu_pgsize, io-pgtable-arm.c __arm_lpae_unmap (a table entry at the chunk's size is freed whole; a block the chunk cuts is split by arm_lpae_split_blk_unmap).
    // The split gives up where the hardware changed the block (arm_lpae_split_blk_unmap: `if (pte != blk_pte)` and not a table, 0 bytes; __iommu_unmap stops).
    unmap: { reportsDirty: false, partialBlock: 'split', hole: 'stop', chunks: 'iommu-pgsize', splitGivesUpWhenChanged: true },
    split: { needsBbml: 'ENODEV', applies: 'writable-dirty-blocks', told: 'iova-and-size', swap: 'compare-exchange-result-ignored' },
    merge: { needsBbml: 'ENODEV', told: 'iova-paddr-size-prot', ofLeaf: 'success', ofNothing: { errno: 'EFAULT' }, result: 'from-prot', checksPages: false },
  },
  hazards,
};
