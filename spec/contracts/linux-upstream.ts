// The linux-upstream contract: what iommufd, arm-smmu-v3 and io-pgtable-arm do as
// merged (SMMUv3 dirty tracking since v6.11; partial-block unmap refused since v6.13, split before;
// read at v6.18 for arm-smmu-v3.c and iommufd, at v6.12 plus the v6.13 diff for
// io-pgtable-arm.c). Dirty tracking is chosen when the domain is allocated and refused
// there without HTTU = 2; HA/HD are on for the domain's life; enabling only clears;
// there is no split, no merge and no unmap that reads dirty state.
import { contractRequirements as R } from './requirements.ts';
import type { Contract, Hazard } from './types.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;

const UPSTREAM_CREATE = { op: 'create', httu: 2, bbml: 0, dirtyCapable: true, pageGranular: false } as const;
const STREAM = 10;

const hazards: readonly Hazard[] = [
  {
    id: 'H-U1',
    title: 'A write after the last read-and-clear and before the unmap is lost: unmap reads no dirty state',
    nature: 'caller-obligation',
    effect: 'lost-write',
    req: ['NOLOSS-3', 'UNMAP-U3'],
    source: R['UNMAP-U3'].source,
    steps: [
      UPSTREAM_CREATE,
      { op: 'attach', stream: STREAM },
      { op: 'setDirtyTracking', enable: true },
      { op: 'map', iova: 0, size: PAGE, write: true, pa: 'page-aligned' },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'unmap', iova: 0, size: PAGE },
    ],
    misses: { atStep: 5, pages: [0] },
    why: 'The entry is cleared with a plain store and nobody reads its old value; iommufd offers no unmap with a bitmap and refuses VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, so the caller must stop the device and read-and-clear before unmapping.',
  },
  {
    id: 'H-U2',
    title: 'A cached writable-dirty IOTLB entry absorbs the writes after a read-and-clear: no TLBI follows the clear',
    nature: 'defect',
    effect: 'lost-write',
    req: ['IOTLB-7', 'CLEAR-U4'],
    source: R['CLEAR-U4'].source,
    steps: [
      UPSTREAM_CREATE,
      { op: 'attach', stream: STREAM },
      { op: 'setDirtyTracking', enable: true },
      { op: 'map', iova: 0, size: PAGE, write: true, pa: 'page-aligned' },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'readAndClearDirty', iova: 0, size: PAGE, noClear: false },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'readAndClearDirty', iova: 0, size: PAGE, noClear: false },
    ],
    misses: { atStep: 7, pages: [0] },
    why: 'iommufd relies on the gather the driver fills (iommu_dirty_bitmap_record) to flush the IOTLB after the walk, but the range is gathered without a page size and arm_smmu_iotlb_sync returns early for such a gather: the entry cached writable-dirty by the first write stays, and the second write completes through it without setting dirty state in memory.',
  },
  {
    id: 'H-U3',
    title: 'Enabling tracking leaves writable-dirty IOTLB entries: the first writes after it are absorbed',
    nature: 'defect',
    effect: 'lost-write',
    req: ['TRACK-3', 'TRACK-U2'],
    source: R['TRACK-U2'].source,
    steps: [
      UPSTREAM_CREATE,
      { op: 'attach', stream: STREAM },
      { op: 'map', iova: 0, size: PAGE, write: true, pa: 'page-aligned' },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'setDirtyTracking', enable: true },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'readAndClearDirty', iova: 0, size: PAGE, noClear: false },
    ],
    misses: { atStep: 6, pages: [0] },
    why: 'iopt_clear_dirty_data makes every leaf writable-clean and syncs a gather that, as in H-U2, carries no page size, so no TLBI is issued; a device that wrote before tracking started keeps its writable-dirty entry.',
  },
  {
    id: 'H-U4',
    title: 'A read-and-clear whose range covers part of a dirty block clears the whole block: the pages outside the range are forgotten',
    nature: 'design',
    effect: 'lost-write',
    req: ['CLEAR-4', 'NOLOSS-2', 'CLEAR-U2'],
    source: R['CLEAR-U2'].source,
    steps: [
      UPSTREAM_CREATE,
      { op: 'attach', stream: STREAM },
      { op: 'map', iova: 0, size: MiB2, write: true, pa: 'block-aligned' },
      { op: 'setDirtyTracking', enable: true },
      { op: 'dmaWrite', iova: PAGE, stream: STREAM },
      { op: 'readAndClearDirty', iova: 0, size: PAGE, noClear: false },
      { op: 'readAndClearDirty', iova: PAGE, size: PAGE, noClear: false },
    ],
    misses: { atStep: 6, pages: [PAGE] },
    why: 'io_pgtable_visit_dirty records the block from the walk cursor and sets AP[2] on the whole leaf; the bitmap only holds the pages inside the range, so the write to the second page is neither reported nor left dirty. A caller whose ranges always cover whole mappings (QEMU queries whole sections) never cuts a block.',
  },
  {
    id: 'H-U5',
    title: 'A read-and-clear whose range starts inside a block skips the leaves up to start + block size',
    nature: 'defect',
    effect: 'lost-write',
    req: ['NOLOSS-1', 'BITMAP-2', 'CLEAR-U2'],
    source: R['CLEAR-U2'].source,
    steps: [
      UPSTREAM_CREATE,
      { op: 'attach', stream: STREAM },
      { op: 'map', iova: 0, size: MiB2, write: true, pa: 'block-aligned' },
      { op: 'map', iova: MiB2, size: MiB2, write: true, pa: 'page-aligned' },
      { op: 'setDirtyTracking', enable: true },
      { op: 'dmaWrite', iova: MiB2, stream: STREAM },
      { op: 'readAndClearDirty', iova: PAGE, size: 2 * MiB2 - PAGE, noClear: false },
    ],
    misses: { atStep: 6, pages: [MiB2] },
    why: 'The walk cursor starts at the range start, one page into the block; after the block it advances by the block size to one page past the next 2 MiB boundary, and the next table is entered at that index, so its first page is never looked at. iommufd lets GET_DIRTY_BITMAP start at any page-aligned IOVA (iommufd_check_iova_range). The page stays dirty and a later aligned report finds it, unless that report is the last. Through iommufd, which calls the op once per area from the start of the area (iopt_for_each_contig_area), the two maps here are two areas and the second is walked from 2 MiB: there it takes one area that continues past the block.',
  },
  {
    id: 'H-U6',
    title: 'Enabling tracking while it is on forgets the writes not yet reported',
    nature: 'caller-obligation',
    effect: 'lost-write',
    req: ['TRACK-5', 'TRACK-U3'],
    source: R['TRACK-U3'].source,
    steps: [
      UPSTREAM_CREATE,
      { op: 'attach', stream: STREAM },
      { op: 'setDirtyTracking', enable: true },
      { op: 'map', iova: 0, size: PAGE, write: true, pa: 'page-aligned' },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'setDirtyTracking', enable: true },
      { op: 'readAndClearDirty', iova: 0, size: PAGE, noClear: false },
    ],
    misses: { atStep: 6, pages: [0] },
    why: 'iommufd keeps no tracking state: IOMMU_HWPT_SET_DIRTY_TRACKING with ENABLE clears the dirty state of every area again, without recording it.',
  },
  {
    id: 'H-U7',
    title: 'A read-and-clear over a hole fails after clearing the leaves before it: a caller that drops the failed report loses them',
    nature: 'caller-obligation',
    effect: 'lost-write',
    req: ['NOLOSS-1', 'CLEAR-U3'],
    source: R['CLEAR-U3'].source,
    steps: [
      UPSTREAM_CREATE,
      { op: 'attach', stream: STREAM },
      { op: 'setDirtyTracking', enable: true },
      { op: 'map', iova: 0, size: PAGE, write: true, pa: 'page-aligned' },
      { op: 'dmaWrite', iova: 0, stream: STREAM },
      { op: 'readAndClearDirty', iova: 0, size: 2 * PAGE, noClear: false },
      { op: 'readAndClearDirty', iova: 0, size: PAGE, noClear: false },
    ],
    misses: { atStep: 6, pages: [0] },
    why: "The driver's walk meets the unmapped second page after clearing the first and returns -EINVAL (the profile's readAndClearDirty is that domain op, over the caller's range). iommufd itself calls the op per contiguous area (iopt_for_each_contig_area) and, at a hole, stops the walk but returns 0: v6.18 iommu_read_and_clear_dirty ignores iova_bitmap_for_each's result, so the bits before the hole reach the user and the areas after it stay dirty for a later report. Through iommufd nothing is lost; a caller of the op that drops a failed report loses the cleared pages.",
  },
];

export const linuxUpstream: Contract = {
  name: 'linux-upstream',
  title: 'Linux upstream: iommufd with arm-smmu-v3 and io-pgtable-arm',
  summary:
    'A domain is dirty-tracking from its allocation (IOMMU_HWPT_ALLOC_DIRTY_TRACKING, refused with -EOPNOTSUPP without HTTU = 2 and coherency); ' +
    'its CDs have HA/HD from attach on; IOMMU_HWPT_SET_DIRTY_TRACKING only clears (enable) or does nothing (disable); no split, no merge; ' +
    'a partial-block unmap is refused; unmap reads no dirty state; read-and-clear works on or off, clears whole leaves, and is followed by no TLBI on SMMUv3.',
  basis:
    'Linux v6.18 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c and drivers/iommu/iommufd/{hw_pagetable,io_pagetable,vfio_compat}.c; ' +
    'drivers/iommu/io-pgtable-arm.c at v6.12 with commit 33729a5fc0ca (v6.13); SMMUv3 dirty tracking merged in v6.11',
  profiles: ['smmu-driver', 'smmu-hw', 'vfio-type1'],
  rules: {
    replaced: [
      {
        id: 'TRACK-1',
        by: ['CREATE-U1', 'TRACK-U4'],
        why: 'Hardware dirty state is checked when a dirty-tracking domain is allocated, not when tracking is enabled; enabling on a domain allocated without it is -EOPNOTSUPP.',
        source: R['CREATE-U1'].source,
      },
      { id: 'TRACK-2', by: ['TRACK-U1', 'TRACK-U2'], why: 'HA and HD are in the CD from attach on; enabling does not write the CDs.', source: R['TRACK-U1'].source },
      { id: 'TRACK-3', by: ['TRACK-U2'], why: 'Enabling clears stale dirty state but issues no TLBI (the gather has no page size).', source: R['TRACK-U2'].source },
      { id: 'TRACK-5', by: ['TRACK-U3'], why: 'Enabling while on clears again; there is no tracking state to make it idempotent.', source: R['TRACK-U3'].source },
      { id: 'TRACK-6', by: ['TRACK-U3'], why: 'Disabling does nothing: HD stays on, so no leaf needs marking and no CD changes.', source: R['TRACK-U3'].source },
      { id: 'TRACK-7', by: ['TRACK-U1'], why: 'A stream attached while tracking is off gets HA and HD too.', source: R['TRACK-U1'].source },
      { id: 'CLEAR-4', by: ['CLEAR-U2'], why: 'A dirty leaf reaching outside the range is cleared whole, not kept dirty.', source: R['CLEAR-U2'].source },
      { id: 'BITMAP-2', by: ['CLEAR-U2'], why: 'A leaf entered in its middle is recorded from the range start for its whole size, past its own end.', source: R['CLEAR-U2'].source },
      { id: 'NOLOSS-3', by: ['UNMAP-U3'], why: "Unmap returns no dirty state; reading it first is the caller's job.", source: R['UNMAP-U3'].source },
    ],
    dropped: [
      { id: 'TRACK-4', why: 'No page-granular policy: enabling splits nothing.', source: 'Linux v6.18 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c arm_smmu_set_dirty_tracking (does nothing)' },
      { id: 'SPLIT-1', why: 'No split operation; a block an unmap cuts is refused (v6.13 on) or split by the unmap (v6.11, v6.12), which UNMAP-U1 rules.', source: R['UNMAP-U1'].source },
      { id: 'SPLIT-2', why: 'No split operation; a block an unmap cuts is refused (v6.13 on) or split by the unmap (v6.11, v6.12), which UNMAP-U1 rules.', source: R['UNMAP-U1'].source },
      { id: 'MERGE-1', why: 'No merge operation.', source: 'Linux v6.12 drivers/iommu/io-pgtable-arm.c arm_lpae_alloc_pgtable (io_pgtable_ops: map_pages, unmap_pages, iova_to_phys, read_and_clear_dirty only)' },
      { id: 'MERGE-2', why: 'No merge operation.', source: 'Linux v6.12 drivers/iommu/io-pgtable-arm.c arm_lpae_alloc_pgtable (io_pgtable_ops: map_pages, unmap_pages, iova_to_phys, read_and_clear_dirty only)' },
      { id: 'SPLIT-3', why: 'No split operation.', source: R['UNMAP-U1'].source },
      { id: 'MERGE-3', why: 'No merge operation.', source: 'Linux v6.12 drivers/iommu/io-pgtable-arm.c arm_lpae_alloc_pgtable (io_pgtable_ops: map_pages, unmap_pages, iova_to_phys, read_and_clear_dirty only)' },
      { id: 'CLEAR-3', why: 'Nothing marks leaves dirty: HD is never turned off.', source: R['TRACK-U3'].source },
    ],
    added: [
      { id: 'CLEAR-U1', why: 'Read-and-clear while tracking is off returns the dirty state instead of -EINVAL.', source: R['CLEAR-U1'].source },
      { id: 'CLEAR-U3', why: 'A hole in the range is -EINVAL after partial work, instead of being skipped.', source: R['CLEAR-U3'].source },
      { id: 'CLEAR-U4', why: 'No TLBI after the clear (the strict contract invalidates what it cleared; see IOTLB-7).', source: R['CLEAR-U4'].source },
      { id: 'UNMAP-U1', why: 'Unmapping part of a block is refused (v6.13 on) or splits it (v6.11, v6.12), where the strict contract always splits.', source: R['UNMAP-U1'].source },
      { id: 'UNMAP-U2', why: 'A hole ends the unmap instead of being skipped.', source: R['UNMAP-U2'].source },
    ],
  },
  capabilities: {
    operations: { splitBlock: false, mergePages: false, clearDirtyByBitmap: false },
    create: {
      hdQuirkFrom: 'config',
      refuses: [
        { when: 'dirtyCapableWithoutHttu2', errno: 'EOPNOTSUPP' },
        { when: 'dirtyCapableWithoutCoherency', errno: 'EOPNOTSUPP' },
      ],
      pageGranular: 'never',
    },
    cdHaHd: 'always-if-hd-quirk',
    setDirtyTracking: {
      refusal: 'EOPNOTSUPP',
      enable: { setsHaHd: false, clearsStale: true, invalidates: false, splits: 'none', ignoresSplitFailure: false },
      disable: { merges: 'none', marksWritableDirty: false, invalidates: false, clearsHaHd: false },
      enableWhileOn: 'clears-again',
      disableWhileOff: 'no-op',
      // Linux v6.18 drivers/iommu/iommufd/io_pagetable.c iopt_set_dirty_tracking: no domain->dirty_ops, -EOPNOTSUPP for enable and disable alike.
      withoutHdQuirk: 'EOPNOTSUPP',
    },
    readAndClear: {
      whenTrackingOff: 'reports',
      partialLeaf: 'record-from-cursor-clear-whole',
      hole: 'einval',
      invalidatesCleared: 'no',
      atomicClear: true,
      reportsPlainWritable: false,
      noClearFlag: true,
      // Linux v6.18 drivers/iommu/iommufd/io_pagetable.c iommu_read_and_clear_dirty: no domain->dirty_ops (arm-smmu-v3 sets them only for IOMMU_HWPT_ALLOC_DIRTY_TRACKING).
      withoutHdQuirk: 'EOPNOTSUPP',
    },
    // Linux v6.12 drivers/iommu/iommu.c __iommu_unmap with iommu_pgsize, io-pgtable-arm.c __arm_lpae_unmap (a table entry at the chunk's size is freed whole).
    unmap: { reportsDirty: false, partialBlock: 'refuse-or-split', hole: 'stop', chunks: 'iommu-pgsize' },
    split: undefined,
    merge: undefined,
  },
  hazards,
};
