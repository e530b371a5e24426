// The requirement catalogue: every rule the machines and abstract operations encode,
// with the source it comes from. Machines name these IDs in the `meta.req` of each
// transition and in the `params.req` of each guard; tests name them in their titles.
// `spec/requirements.test.ts` checks that every ID used exists here, that every ID here
// is used by a machine or an abstract operation, and that a test names each one.

export interface Requirement {
  readonly text: string;
  readonly source: string;
}

const IO_PGTABLE_ARM = 'Linux drivers/iommu/io-pgtable-arm.c';
const SMMU_V3 = 'ARM IHI 0070 (SMMUv3)';
const ARM_ARM = 'ARM DDI 0487 (VMSAv8-64)';

export const requirements = {
  // Descriptor encoding (spec/descriptor/encoding.ts)
  'PTE-1': { text: 'Descriptor bits: type 1:0, AP[1] 6, AP[2] 7, SH 9:8, AF 10, nG 11, OA 47:12, DBM 51, XN 54:53.', source: `${ARM_ARM} D8.3; ${IO_PGTABLE_ARM} ARM_LPAE_PTE_*` },
  'PTE-2': { text: 'A valid leaf decodes by DBM and AP[2]: 0/1 read-only, 0/0 writable, 1/1 writable-clean, 1/0 writable-dirty.', source: `${SMMU_V3} §3.13.3; seed 003` },
  'PTE-3': { text: 'Encoding a leaf from a protection: AF set; read-only sets AP[2]; writable with the HD quirk sets DBM and starts writable-dirty.', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'PTE-4': { text: '4 KiB granule, 48-bit IOVA, 4 levels of 512 entries; blocks at L1 (1 GiB) and L2 (2 MiB), pages at L3.', source: `${ARM_ARM} D8.2; ${IO_PGTABLE_ARM}` },
  'PTE-5': { text: 'iopte_writeable_dirty(pte) is (pte & (AP_RDONLY|DBM)) == DBM.', source: `${IO_PGTABLE_ARM} iopte_writeable_dirty` },

  // Leaf descriptor machine (spec/descriptor/leaf-machine.ts)
  'MAP-1': { text: 'Mapping an invalid entry with read-only protection gives a read-only leaf.', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'MAP-2': { text: 'Mapping with write permission and the HD quirk gives a writable-dirty leaf (DBM=1, AP[2]=0).', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte (IO_PGTABLE_QUIRK_ARM_HD)` },
  'MAP-3': { text: 'Mapping with write permission without the HD quirk gives a plain writable leaf (DBM=0, AP[2]=0).', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'MAP-4': { text: 'Mapping over a valid leaf fails with -EEXIST and leaves it unchanged.', source: `${IO_PGTABLE_ARM} arm_lpae_init_pte` },
  'MAP-5': { text: 'The AF of a new leaf is as mapped (Linux always sets it).', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'UNMAP-1': { text: 'Unmapping a leaf makes it invalid, whatever its dirty state.', source: `${IO_PGTABLE_ARM} __arm_lpae_unmap` },
  'FAULT-1': { text: 'Any DMA through an invalid entry is a translation fault and changes nothing.', source: `${SMMU_V3} §7.3 F_TRANSLATION` },
  'FAULT-2': { text: 'A DMA write through a read-only leaf is a permission fault.', source: `${SMMU_V3} §7.3 F_PERMISSION` },
  'FAULT-3': { text: 'With HD=0 a DMA write through a writable-clean leaf is a permission fault.', source: `${SMMU_V3} §3.13.3; DOMAIN.md §1` },
  'FAULT-4': { text: 'With AF=0 and HA=0 any DMA is an access flag fault; it takes priority over a permission fault.', source: `${SMMU_V3} §7.3 F_ACCESS; ${ARM_ARM} D8.15 fault priority` },
  'HTTU-1': { text: 'With HA=1 a DMA through a leaf with AF=0 sets AF atomically in memory and proceeds; an access that takes a permission fault updates nothing.', source: `${SMMU_V3} §3.13.2; QEMU target/arm/ptw.c get_phys_addr_lpae (permission check before the AF/DBM update)` },
  'HTTU-2': { text: 'With HD=1 a DMA write through a writable-clean leaf atomically clears AP[2] (writable-dirty) before the write is performed.', source: `${SMMU_V3} §3.13.3; seed 003` },
  'HTTU-3': { text: 'DMA reads never change dirty state.', source: `${SMMU_V3} §3.13.3; DOMAIN.md §1` },
  'HTTU-4': { text: 'A write through a writable-dirty or a plain writable leaf is performed and changes nothing.', source: `${SMMU_V3} §3.13.3` },
  'HTTU-5': { text: 'Hardware updates are atomic read-modify-writes of the 64-bit descriptor (compare-exchange): they never overwrite a concurrent software change.', source: `${SMMU_V3} §3.13.1; DOMAIN.md §1` },
  'CLEAR-1': { text: 'Clearing dirty state sets AP[2] on a writable-dirty leaf, making it writable-clean.', source: `${IO_PGTABLE_ARM} __arm_lpae_iopte_walk_dirty (set_bit AP_RDONLY)` },
  'CLEAR-2': { text: 'Clearing dirty state leaves read-only, plain writable and writable-clean leaves unchanged.', source: `${IO_PGTABLE_ARM} iopte_writeable_dirty` },
  'CLEAR-4': { text: 'A leaf only partly inside the range is reported (its pages in range) but not cleared: clearing it would forget the dirty pages outside the range.', source: 'DESIGN.md (a clear must not forget pages it was not asked to clear); DEPARTS from Linux io_pgtable_visit_dirty, which clears the whole leaf' },
  'CLEAR-3': { text: 'Software marking a writable-clean leaf dirty clears AP[2]; other leaves are unchanged.', source: 'dirtyspec tracking lifecycle (TRACK-6)' },
  'SPLIT-1': { text: 'Splitting a block carries its state into every page: a writable-dirty block gives writable-dirty pages, a clean one clean pages.', source: 'seed 004 (Gunthorpe: the D bit is replicated on split); seed 003' },
  'SPLIT-2': { text: 'The split swaps the block for the table with an atomic exchange and looks at the old value, since hardware can dirty the block between a read and a store.', source: 'seed 004; DOMAIN.md §1' },
  'MERGE-1': { text: 'Merging pages into a block makes the block writable-dirty if any page was writable-dirty.', source: 'seed 003 (merge_page); DOMAIN.md §1' },
  'MERGE-2': { text: 'Merging pages none of which was dirty keeps the first page\'s state for the block.', source: 'seed 003 (merge_page)' },

  // IOTLB entry machine (spec/iotlb/iotlb-entry-machine.ts)
  'IOTLB-1': { text: 'A walk that ends at a valid leaf may cache it with the state it had after the walk\'s own updates.', source: `${SMMU_V3} §16.2 (caching)` },
  'IOTLB-2': { text: 'Faulting walks are not cached.', source: `${SMMU_V3} §16.2` },
  'IOTLB-3': { text: 'A DMA read through a cached entry does not walk and does not touch memory.', source: `${SMMU_V3} §16.2` },
  'IOTLB-4': { text: 'A DMA write through a cached writable-dirty or writable entry does not touch memory.', source: `${SMMU_V3} §3.13.3; DOMAIN.md §1` },
  'IOTLB-5': { text: 'A DMA write through a cached writable-clean entry with HD=1 must update the in-memory descriptor (re-walk and atomic update) before writing; the entry becomes writable-dirty.', source: `${SMMU_V3} §3.13.3` },
  'IOTLB-6': { text: 'A DMA write through a cached read-only entry, or a writable-clean entry with HD=0, is a permission fault.', source: `${SMMU_V3} §7.3` },
  'IOTLB-7': { text: 'HAZARD: after software clears a leaf cached as writable-dirty, the entry is stale; a write through it completes without setting dirty in memory and is lost.', source: 'seed 004 (Gunthorpe: the flush lets the IOTLB see the cleared D bit); Intel VT-d / AMD drivers' },
  'IOTLB-8': { text: 'HAZARD: after software unmaps a cached leaf the entry still translates until invalidated.', source: `${SMMU_V3} §16.2; ${IO_PGTABLE_ARM} (tlb_add_page on unmap)` },
  'IOTLB-9': { text: 'A TLB invalidation (CMD_TLBI_NH_VA / CMD_TLBI_NH_ASID) completed by CMD_SYNC removes the entry; a TLBI is complete only after a following CMD_SYNC.', source: `${SMMU_V3} §4.4, §4.7 CMD_SYNC` },
  'IOTLB-10': { text: 'Software changes that keep the cached state correct (set dirty, split, merge carrying state) leave the cached entry usable.', source: `${SMMU_V3} §16.2; seed 004` },
  'IOTLB-11': { text: 'A bounded IOTLB may evict an entry at any time; an evicted entry behaves as absent.', source: `${SMMU_V3} §16.2` },

  // Domain tracking lifecycle (spec/domain/tracking-machine.ts)
  'TRACK-1': { text: 'Enabling tracking needs SMMU_IDR0.HTTU = access+dirty; otherwise -EOPNOTSUPP and nothing changes.', source: 'Linux arm-smmu-v3.c (arm_smmu_dbm_capable); include/linux/iommu.h' },
  'TRACK-2': { text: 'Enabling sets HA and HD in the context descriptor of every stream of the domain (then CFGI_CD + CMD_SYNC), before clearing stale state, so no write faults on a clean leaf.', source: `${SMMU_V3} §5.4 CD HA bit 43, HD bit 42; Linux arm-smmu-v3.c` },
  'TRACK-3': { text: 'Enabling clears stale dirty state (read-and-clear without recording over the domain) and invalidates the TLB before it returns.', source: 'Linux drivers/iommu/iommufd/io_pagetable.c (iopt_clear_dirty_data)' },
  'TRACK-4': { text: 'Enabling with the page-granular policy splits every block into pages (carrying dirty state).', source: 'seed 003 (split on start of dirty log)' },
  'TRACK-5': { text: 'Enabling while on is idempotent; disabling while off is idempotent.', source: 'Linux iommufd iopt_set_dirty_tracking' },
  'TRACK-6': { text: 'Disabling with the page-granular policy merges pages back into blocks where possible, then marks writable-clean leaves writable-dirty so writes need no HD, invalidates the TLB (a cached clean entry would fault once HD is off), then clears HA/HD in every context descriptor.', source: 'seed 003 (merge on stop of dirty log); DOMAIN.md §1' },
  'TRACK-7': { text: 'A stream attached while tracking is on gets HA and HD in its context descriptor; one attached while off does not.', source: 'BUG-CLASSES.md class 3 (device attached after tracking started)' },

  // Dirty bitmaps (spec/bitmap/dirty-bitmap.ts)
  'BITMAP-1': { text: 'A dirty bitmap has one bit per page, bit i of u64 word i/64 is page iova + i*pgsize, and is ALIGN(npages, 64)/8 bytes long.', source: 'include/uapi/linux/vfio.h (struct vfio_bitmap); DOMAIN.md §2' },
  'BITMAP-2': { text: 'Recording a leaf marks the pages of it that lie inside the reported range, and no others.', source: 'drivers/iommu/iommufd/iova_bitmap.c (iova_bitmap_set)' },

  // The properties every implementation is judged by (model/ghost.ts)
  'NOLOSS-1': { text: 'A report over R includes every page of R written (while tracking) before the call started and not reported-and-cleared since.', source: 'DESIGN.md (the no-loss property)' },
  'NOLOSS-2': { text: 'A page written while a reporting call runs is in that report or a later one; a clear never forgets pages it was not asked to clear.', source: 'DESIGN.md (the no-loss property)' },
  'NOLOSS-3': { text: 'Unmapping while tracking reports the dirty pages it removes.', source: 'include/uapi/linux/vfio.h VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP; BUG-CLASSES.md class 3' },
  'PRECISION-1': { text: 'A page reported but not written since its last clear is a false dirty, allowed only where the spec makes its leaf dirty (a block written elsewhere, a new writable mapping, a merge of a dirty page).', source: 'DESIGN.md (precision)' },
} as const satisfies Record<string, Requirement>;

export type RequirementId = keyof typeof requirements;

export function isRequirementId(id: string): id is RequirementId {
  return Object.hasOwn(requirements, id);
}
