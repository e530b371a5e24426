// The requirement catalogue: every rule the machines and abstract operations encode,
// with the source it comes from. Machines name these IDs in the `meta.req` of each
// transition and in the `params.req` of each guard; tests name them in their titles.
// `spec/requirements.test.ts` checks that every ID used exists here, that every ID here
// is used by a machine or an abstract operation, and that a test names each one.

import { kvmDirtyLogRequirements } from './kvm/dirty-log/requirements.ts';
import { kvmDirtyRingRequirements } from './kvm/dirty-ring/requirements.ts';
import { contractRequirements } from './contracts/requirements.ts';

export interface Requirement {
  readonly text: string;
  readonly source: string;
}

// The sources, as docs/SOURCES.md lists them. Kernel files as of Linux v6.12.117; ARM
// documents with their revision; mailing-list threads by message ID (<...>).
const LINUX = 'Linux v6.12.117';
const IO_PGTABLE_ARM = `${LINUX} drivers/iommu/io-pgtable-arm.c`;
const ARM_SMMU_V3 = `${LINUX} drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c`;
const IO_PAGETABLE = `${LINUX} drivers/iommu/iommufd/io_pagetable.c`;
const IOVA_BITMAP = `${LINUX} drivers/iommu/iommufd/iova_bitmap.c`;
const VFIO_TYPE1 = `${LINUX} drivers/vfio/vfio_iommu_type1.c`;
const VFIO_H = `${LINUX} include/uapi/linux/vfio.h`;
/** Steve Sistare's series of v5.12: VFIO_UNMAP_ALL and VFIO_UPDATE_VADDR. */
const UNMAP_ALL = 'Linux v5.12 c98fe7c2a203 "vfio: option to unmap all" and c19650995374 "vfio/type1: implement unmap all" (<1611939252-7240-1-git-send-email-steven.sistare@oracle.com>)';
const UPDATE_VADDR = 'Linux v5.12 441e8106a238 "vfio: interfaces to update vaddr" and c3cbab24db38 "vfio/type1: implement interfaces to update vaddr" (same series)';
const SMMU_V3 = 'ARM IHI 0070 E.a (SMMUv3)';
const ARM_ARM = 'ARM DDI 0487 I.a (VMSAv8-64)';
const HTTU_RFC = 'Keqian Zhu, RFC "vfio/iommu_type1: Implement dirty log tracking based on smmuv3 HTTU", 28 Jan 2021, <20210128151742.18840-1-zhukeqian1@huawei.com>';
const MANUAL_CLEAR_V2 = 'patch 11/11 "vfio/iommu_type1: Add support for manual dirty log clear" of v2, <20210310090614.26668-12-zhukeqian1@huawei.com>';
const HWDBM_RFC2 = 'Keqian Zhu, RFC v2 "vfio/iommu_type1: Implement dirty log tracking based on IOMMU HWDBM", 7 May 2021, <20210507103608.39440-1-zhukeqian1@huawei.com>';
const QEMU_RFC = 'Kunkun Jiang, QEMU RFC "vfio/migration: Support manual clear vfio dirty log", 10 Mar 2021, <20210310094106.2191-1-jiangkunkun@huawei.com>';
const QEMU_RFC2 = 'its v2, 8 May 2021, <20210508093105.2558-1-jiangkunkun@huawei.com>';
const GUNTHORPE = 'Jason Gunthorpe in "Re: [RFC v2 0/4] vfio/hisilicon: add acc live migration driver", 12 Feb 2022, <20220212000117.GS4160@nvidia.com>';
const MERGE_PATCH = '__arm_lpae_merge_page of patch 05/11 "iommu/arm-smmu-v3: Merge a span of page when stop dirty log", <20210310090614.26668-6-zhukeqian1@huawei.com>';

export const requirements = {
  // Descriptor encoding (spec/descriptor/encoding.ts)
  'PTE-1': { text: 'Descriptor bits: type 1:0, AP[1] 6, AP[2] 7, SH 9:8, AF 10, nG 11, OA 47:12, DBM 51, XN 54:53.', source: `${ARM_ARM} D8.3; ${IO_PGTABLE_ARM} ARM_LPAE_PTE_*` },
  'PTE-2': { text: 'A valid leaf decodes by DBM and AP[2]: 0/1 read-only, 0/0 writable, 1/1 writable-clean, 1/0 writable-dirty.', source: `${SMMU_V3} §3.13.3; ${IO_PGTABLE_ARM} iopte_writeable_dirty; the state table of ${HTTU_RFC}` },
  'PTE-3': { text: 'Encoding a leaf from a protection: AF set; read-only sets AP[2]; writable with the HD quirk sets DBM and starts writable-dirty.', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'PTE-4': { text: '4 KiB granule, 48-bit IOVA, 4 levels of 512 entries; blocks at L1 (1 GiB) and L2 (2 MiB), pages at L3.', source: `${ARM_ARM} D8.2; ${IO_PGTABLE_ARM}` },
  'PTE-5': { text: 'iopte_writeable_dirty(pte) is (pte & (AP_RDONLY|DBM)) == DBM.', source: `${IO_PGTABLE_ARM} iopte_writeable_dirty` },

  // Leaf descriptor machine (spec/descriptor/leaf-machine.ts)
  'MAP-1': { text: 'Mapping an invalid entry with read-only protection gives a read-only leaf.', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'MAP-2': { text: 'Mapping with write permission and the HD quirk gives a writable-dirty leaf (DBM=1, AP[2]=0).', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte (IO_PGTABLE_QUIRK_ARM_HD)` },
  'MAP-3': { text: 'Mapping with write permission without the HD quirk gives a plain writable leaf (DBM=0, AP[2]=0).', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'MAP-4': { text: 'Mapping over a valid leaf fails with -EEXIST and leaves it unchanged.', source: `${IO_PGTABLE_ARM} arm_lpae_init_pte` },
  'MAP-5': { text: 'The AF of a new leaf is as mapped (Linux always sets it).', source: `${IO_PGTABLE_ARM} arm_lpae_prot_to_pte` },
  'MAP-6': {
    text: 'A map whose iova, paddr or size is not a multiple of 4 KiB (the smallest page size) is -EINVAL and changes nothing; a map of size 0 maps nothing and returns 0 or -EINVAL.',
    source: `${LINUX} drivers/iommu/iommu.c __iommu_map (iommu_map_nosync in later kernels) (IS_ALIGNED(iova | paddr | size, min_pagesz), checked first; with size 0 the map loop runs no time and returns 0); ${VFIO_TYPE1} vfio_dma_do_map (a caller above it refuses size 0 with -EINVAL, VFIO-MAP-2): either answer, nothing mapped`,
  },
  'MAP-7': {
    text: 'A map reaching past the 48-bit input address size (iova + size > 2^48) or the 48-bit output address size (paddr + size > 2^48) is -ERANGE and leaves nothing mapped, not even the part below the limit.',
    source: `${IO_PGTABLE_ARM} arm_lpae_map_pages (WARN_ON(iaext || paddr >> cfg->oas): -ERANGE for the chunk that starts past the limit) and ${LINUX} drivers/iommu/iommu.c __iommu_map (iommu_map_nosync in later kernels) (the chunks mapped before it are unmapped again); DEPARTS for an output range that crosses 2^48 inside one last-level table, which Linux maps since it checks each chunk's first address only, paddr_to_iopte folding the address's bits 51:48 into descriptor bits 15:12 (so a page at 2^48 + 0x2000 is encoded as 0x3000) (the kit sends such a crossing only at a 2 MiB boundary of the IOVA, where Linux agrees)`,
  },
  'MAP-8': {
    text: "A map whose prot has neither IOMMU_READ nor IOMMU_WRITE maps nothing and is -EINVAL (0 from io-pgtable on kernels before v6.11, whose map did nothing and succeeded: with ->map (v5.12) __iommu_map went on to the next page; with ->map_pages it never advanced and looped without end, as 6093cd582f8e's message says, so no caller used such a prot). The checks come in this order: alignment and size (MAP-6), then an iova or paddr at or past 2^48 (MAP-7), then prot, then a range that crosses 2^48 (MAP-7: Linux checks the first address of each chunk, and the first chunk lies below the limit): a call with two faults answers the first one's errno.",
    source: `${IO_PGTABLE_ARM} arm_lpae_map_pages (the -ERANGE test, then "if (!(iommu_prot & (IOMMU_READ | IOMMU_WRITE))) return -EINVAL" since Linux v6.11 commit 6093cd582f8e "iommu: Do not return 0 from map_pages if it doesn't do anything", <2-v1-1211e1294c27+4b1-iommu_no_prot_jgg@nvidia.com>; before it Linux v5.12 arm_lpae_map returned 0 having mapped nothing, and __iommu_map went on to the next page; arm_lpae_map_pages returned 0 with *mapped 0, and __iommu_map looped; backported to 6.10.y); ${LINUX} drivers/iommu/iommu.c __iommu_map (iommu_map_nosync in later kernels) (the alignment test before any map_pages)`,
  },
  'UNMAP-1': { text: 'Unmapping a leaf makes it invalid, whatever its dirty state.', source: `${IO_PGTABLE_ARM} __arm_lpae_unmap` },
  'UNMAP-2': {
    text: 'An unmap whose iova or size is not a multiple of 4 KiB, whose size is 0, or whose iova is at or past 2^48 unmaps 0 bytes, reports no dirty page and changes nothing.',
    source: `${LINUX} drivers/iommu/iommu.c __iommu_unmap (IS_ALIGNED(iova | size, min_pagesz) else 0; a loop that runs no time for size 0); ${IO_PGTABLE_ARM} arm_lpae_unmap_pages (WARN_ON(iaext): 0)`,
  },
  'FAULT-1': { text: 'Any DMA through an invalid entry is a translation fault and changes nothing.', source: `${SMMU_V3} §7.3 F_TRANSLATION` },
  'FAULT-2': { text: 'A DMA write through a read-only leaf is a permission fault.', source: `${SMMU_V3} §7.3 F_PERMISSION` },
  'FAULT-3': { text: 'With HD=0 a DMA write through a writable-clean leaf is a permission fault.', source: `${SMMU_V3} §3.13.3` },
  'FAULT-4': { text: 'With AF=0 and HA=0 any DMA is an access flag fault; it takes priority over a permission fault.', source: `${SMMU_V3} §7.3 F_ACCESS; ${ARM_ARM} D8.15 fault priority` },
  'HTTU-1': {
    text: 'With HA=1 a DMA through a leaf with AF=0 sets AF atomically in memory and proceeds; an access that takes a permission fault changes no dirty state, and may set AF or leave it clear.',
    source: `${SMMU_V3} §3.13.2; ARM IHI 0070 G.b §3.13.2 ("If access to a descriptor causes a permission fault, it is UNKNOWN whether the AF flag of the descriptor is updated to 1"); QEMU target/arm/ptw.c get_phys_addr_lpae at qemu/qemu 9c2ff9cdc9b3 leaves it clear (the permission check comes before the arm_casq_ptw update of AF and DBM)`,
  },
  'HTTU-2': {
    text: 'With HD=1 a DMA write through a writable-clean leaf atomically clears AP[2] (writable-dirty) before the write is performed.',
    source: `${SMMU_V3} §3.13.3; ${HTTU_RFC} ("smmu can change TTD from writable_clean to writable_dirty")`,
  },
  'HTTU-3': { text: 'DMA reads never change dirty state.', source: `${SMMU_V3} §3.13.3` },
  'HTTU-4': { text: 'A write through a writable-dirty or a plain writable leaf is performed and changes nothing.', source: `${SMMU_V3} §3.13.3` },
  'HTTU-5': { text: 'Hardware updates are atomic read-modify-writes of the 64-bit descriptor (compare-exchange): they never overwrite a concurrent software change.', source: `${SMMU_V3} §3.13.1` },
  'CLEAR-1': { text: 'Clearing dirty state sets AP[2] on a writable-dirty leaf, making it writable-clean.', source: `${IO_PGTABLE_ARM} io_pgtable_visit_dirty (iopte_set_writeable_clean: set_bit AP_RDONLY)` },
  'CLEAR-2': { text: 'Clearing dirty state leaves read-only, plain writable and writable-clean leaves unchanged.', source: `${IO_PGTABLE_ARM} iopte_writeable_dirty` },
  'CLEAR-4': {
    text: 'A leaf only partly inside the range is reported (its pages in range) but not cleared: clearing it would forget the dirty pages outside the range.',
    source: `dirtyspec design: a clear must not forget dirty pages it was not asked to clear (NOLOSS-2), and clearing a leaf that reaches outside the range would; DEPARTS from ${IO_PGTABLE_ARM} io_pgtable_visit_dirty, which clears every dirty leaf it records, whole`,
  },
  'CLEAR-3': {
    text: 'Software marking a writable-clean leaf dirty clears AP[2]; other leaves are unchanged.',
    source: 'dirtyspec design (TRACK-6): once HD is off, a write through a writable-clean leaf faults (FAULT-3), so disabling first marks such leaves dirty',
  },
  'CLEAR-5': {
    text: 'A read-and-clear of size 0, or whose range reaches past 2^48 (iova + size - 1 >= 2^48), is -EINVAL, reports nothing and clears nothing; a domain without dirty ops answers its own errno first where its contract has one.',
    source: `${IO_PGTABLE_ARM} arm_lpae_read_and_clear_dirty (WARN_ON(!size), WARN_ON((iova + size - 1) & ~(BIT(cfg->ias) - 1)): -EINVAL before the walk); ${IO_PAGETABLE} iommu_read_and_clear_dirty (-EOPNOTSUPP without dirty_ops, before the driver is called)`,
  },
  'SPLIT-1': {
    text: 'Splitting a block carries its state into every page: a writable-dirty block gives writable-dirty pages, a clean one clean pages.',
    source: `${IO_PGTABLE_ARM} arm_lpae_split_blk_unmap (every page takes iopte_prot(blk_pte), DBM and AP[2] included); ${GUNTHORPE}: "If the dirty bit is set in the old entry then it has to sprinkle it into the new entries with atomics"`,
  },
  'SPLIT-2': {
    text: 'The split swaps the block for the table with an atomic exchange and looks at the old value, since hardware can dirty the block between a read and a store.',
    source: `${IO_PGTABLE_ARM} arm_lpae_install_table (compare-exchange against the block value, the old value checked by arm_lpae_split_blk_unmap); ${GUNTHORPE} ("atomically replace a large entry with a pointer to a small entry")`,
  },
  'SPLIT-3': {
    text: 'splitBlock where no leaf maps the IOVA is -ENOENT; where a page (a level-3 leaf) maps it is -EINVAL; at an IOVA at or past 2^48 it is -EINVAL; each changes nothing.',
    source: `dirtyspec design: a split asked where there is no block is the caller's mistake, and the two cases get errnos a caller can tell apart; DEPARTS from the HTTU series, whose split_block answers 0 bytes for an unmapped entry (WARN_ON(!pte)), which arm_smmu_split_block turns into -EFAULT, and the size (success) for a page ("If it is smallest granule, then nothing to do"): patch 04/11 of v2, <20210310090614.26668-5-zhukeqian1@huawei.com>, and RFC v4 03/13 and 10/13, <20210507102211.8836-4-zhukeqian1@huawei.com>`,
  },
  'MERGE-1': {
    text: 'Merging pages into a block makes the block writable-dirty if any page was writable-dirty.',
    source: `dirtyspec design: a merge must not lose a page dirtied before it (NOLOSS-1); DEPARTS from ${MERGE_PATCH}, which builds the block from the mapping's prot, not from its pages`,
  },
  'MERGE-2': {
    text: "Merging pages none of which was dirty keeps the first page's state for the block.",
    source: `dirtyspec design: merging clean pages reports nothing new (PRECISION-1); DEPARTS from ${MERGE_PATCH}, which builds the block from the mapping's prot`,
  },
  'MERGE-3': {
    text: "mergePages at a level other than 1 or 2, or at an IOVA at or past 2^48, is -EINVAL (checked first); where nothing maps the span and no table is left there it is -ENOENT (-EINVAL where an emptied table is left: whether empty tables are freed is the implementation's); where a block of that level already maps the span it is -EINVAL; each changes nothing.",
    source: `dirtyspec design: a merge where there is no table of pages is refused, telling nothing apart from a block; DEPARTS from ${MERGE_PATCH}, whose merge_page answers 0 bytes for an unmapped entry (WARN_ON(!pte), then -EFAULT in arm_smmu_merge_page) and the size (success) where a leaf already is`,
  },

  // IOTLB entry machine (spec/iotlb/iotlb-entry-machine.ts)
  'IOTLB-1': {
    text: "A walk that ends at a valid leaf may cache it with the state it had after the walk's own updates. An SMMU under test may also fill an entry without an access (prefetch, speculation), from a valid leaf with AF=1, in its state.",
    source: `${SMMU_V3} §16.2 (caching); ARM IHI 0070 G.b §3.21.1 (TLB caching follows Armv8-A, prefetch included), §4.2.2 CMD_PREFETCH_ADDR; ARM DDI 0487 M.a.a D8.16 RSQBCS`,
  },
  'IOTLB-2': {
    text: 'A walk that ends in a translation, address size or access flag fault caches nothing; a walk whose access takes a permission fault may cache its leaf once the leaf has AF=1, and never while AF is 0.',
    source: `ARM IHI 0070 G.b §3.21.1 (TLB caching follows Armv8-A); ARM DDI 0487 M.a.a D8.16 RXCLRD (translation, address size and access flag faults are never cached), D8.15 RJVXRH (a permission-faulting entry is permitted to be cached), D8.5.1.2 IRGQLZ (not while hardware has not set AF)`,
  },
  'IOTLB-3': { text: 'A DMA read through a cached entry does not walk and does not touch memory.', source: `${SMMU_V3} §16.2` },
  'IOTLB-4': { text: 'A DMA write through a cached writable-dirty or writable entry does not touch memory.', source: `${SMMU_V3} §3.13.3` },
  'IOTLB-5': { text: 'A DMA write through a cached writable-clean entry with HD=1 must update the in-memory descriptor (re-walk and atomic update) before writing; the entry becomes writable-dirty.', source: `${SMMU_V3} §3.13.3` },
  'IOTLB-6': {
    text: "A DMA write through a cached read-only entry, or a writable-clean entry with HD=0, is a permission fault. The HD of an access through an entry is the CD's, or the one the entry was filled with until a TLB invalidation drops it (IOTLB-5 alike).",
    source: `${SMMU_V3} §7.3; ARM IHI 0070 G.b §5.4.1 (HA and HD are CD fields "permitted to be cached as part of a translation or TLB entry"; changing them needs a TLB invalidation besides CMD_CFGI_CD)`,
  },
  'IOTLB-7': {
    text: 'HAZARD: after software clears a leaf cached as writable-dirty, the entry is stale; a write through it completes without setting dirty in memory and is lost.',
    source: `${GUNTHORPE} ("the flush is to allow the IOTLB to see the cleared D bit"); ${IO_PAGETABLE} iommu_read_and_clear_dirty (iommu_iotlb_sync after the clear); ${LINUX} drivers/iommu/amd/iommu.c amd_iommu_set_dirty_tracking ("Flush IOTLB to mark IOPTE dirty on the next translation(s)")`,
  },
  'IOTLB-8': { text: 'HAZARD: after software unmaps a cached leaf the entry still translates until invalidated.', source: `${SMMU_V3} §16.2; ${IO_PGTABLE_ARM} __arm_lpae_unmap (io_pgtable_tlb_add_page: the invalidation is only gathered)` },
  'IOTLB-9': { text: 'A TLB invalidation (CMD_TLBI_NH_VA / CMD_TLBI_NH_ASID) completed by CMD_SYNC removes the entry; a TLBI is complete only after a following CMD_SYNC.', source: `${SMMU_V3} §4.4, §4.7 CMD_SYNC` },
  'IOTLB-10': { text: 'Software changes that keep the cached state correct (set dirty, split, merge carrying state) leave the cached entry usable.', source: `${SMMU_V3} §16.2` },
  'IOTLB-11': { text: 'A bounded IOTLB may evict an entry at any time; an evicted entry behaves as absent.', source: `${SMMU_V3} §16.2` },
  'IOTLB-12': {
    text: 'A page-table page is freed only after every walk that went through it may no longer be cached: the driver unlinks it, invalidates what it translates (CMD_TLBI_NH_VA with Leaf = 0, or CMD_TLBI_NH_ASID) and completes that with CMD_SYNC, then frees it. A walk cache may hold the pointer to a table until then, and the SMMU would walk a freed page as a table.',
    source: `${SMMU_V3} §4.4, §16.2; ${IO_PGTABLE_ARM} __arm_lpae_unmap (io_pgtable_tlb_flush_walk before __arm_lpae_free_pgtable)`,
  },

  // Domain tracking lifecycle (spec/domain/tracking-machine.ts)
  'TRACK-1': {
    text: 'Enabling tracking needs SMMU_IDR0.HTTU = access+dirty; otherwise -EOPNOTSUPP and nothing changes.',
    source: `${ARM_SMMU_V3} arm_smmu_dbm_capable; ${IO_PAGETABLE} iopt_set_dirty_tracking (-EOPNOTSUPP without dirty_ops); ${LINUX} include/linux/iommu.h`,
  },
  'TRACK-2': {
    text: 'Enabling sets HA and HD in the context descriptor of every stream of the domain (then CFGI_CD + CMD_SYNC), before clearing stale state, so no write faults on a clean leaf.',
    source: `${SMMU_V3} §5.4 CD HA bit 43, HD bit 42 (${LINUX} arm-smmu-v3.h CTXDESC_CD_0_TCR_HA, CTXDESC_CD_0_TCR_HD); dirtyspec design: HD is on before any leaf is made clean, so no write faults; DEPARTS from ${ARM_SMMU_V3} arm_smmu_set_dirty_tracking, which does nothing (arm_smmu_domain_finalise chooses IO_PGTABLE_QUIRK_ARM_HD at allocation, and arm_smmu_make_s1_cd sets HA and HD from it in the context descriptor at attach)`,
  },
  'TRACK-3': { text: 'Enabling clears stale dirty state (read-and-clear without recording over the domain) and invalidates the TLB before it returns.', source: `${IO_PAGETABLE} iopt_set_dirty_tracking, iopt_clear_dirty_data` },
  'TRACK-4': {
    text: 'Enabling with the page-granular policy splits every block into pages (carrying dirty state).',
    source: 'patch 04/11 "iommu/arm-smmu-v3: Split block descriptor when start dirty log" of v2 of the HTTU series (Keqian Zhu, 10 Mar 2021, <20210310090614.26668-1-zhukeqian1@huawei.com>)',
  },
  'TRACK-5': {
    text: 'Enabling while on is idempotent; disabling while off is idempotent.',
    source: `dirtyspec design; DEPARTS from ${IO_PAGETABLE} iopt_set_dirty_tracking, which runs iopt_clear_dirty_data on every enable, tracking on or not, and forgets what was not yet reported (the linux-upstream contract's TRACK-U3 and hazard H-U6)`,
  },
  'TRACK-6': {
    text: 'Disabling with the page-granular policy merges back into blocks what enabling split, where its pages can still merge (no other pages), then marks writable-clean leaves writable-dirty so writes need no HD, invalidates the TLB (a cached clean entry would fault once HD is off), then clears HA/HD in every context descriptor.',
    source: `patch 05/11 "iommu/arm-smmu-v3: Merge a span of page when stop dirty log", <20210310090614.26668-6-zhukeqian1@huawei.com> (merge, then iommu_flush_iotlb_all); dirtyspec design for the rest: once HD is off a write through a writable-clean leaf faults (FAULT-3); DEPARTS from that patch's arm_smmu_stop_dirty_log, which leaves HD on; ARM IHI 0070 G.b §5.4.1 also asks for a TLB invalidation after a change of CD.HA/HD, which TRACK-6 does not require: every leaf is writable-dirty by then, so an entry that keeps HD=1 (IOTLB-6) changes nothing`,
  },
  'TRACK-7': {
    text: 'A stream attached while tracking is on gets HA and HD in its context descriptor; one attached while off does not.',
    source: `${ARM_SMMU_V3} arm_smmu_make_s1_cd (every CD of a domain with IO_PGTABLE_QUIRK_ARM_HD gets HA and HD, a stream attached later included); DEPARTS for a stream attached while off: Linux sets them whether tracking is on or not`,
  },

  // VFIO type1 container (spec/vfio/type1-machine.ts, spec/vfio/args.ts)
  'VFIO-MAP-1': {
    text: 'MAP_DMA with a flag other than READ and WRITE, or with neither, is -EINVAL; VADDR included where the container does not offer VFIO_UPDATE_VADDR (CHECK_EXTENSION(10) is 0), except that where it offers VFIO_UNMAP_ALL (9 is 1) VADDR alone may instead be looked up as VFIO-MAP-10 says (-ENOENT over no mapping), as Linux v6.3+ answers with an emulated group attached. Where it offers VFIO_UPDATE_VADDR, VADDR alone is valid and VADDR with READ or WRITE is -EINVAL.',
    source: `${VFIO_TYPE1} vfio_iommu_type1_map_dma (mask READ | WRITE | VADDR), vfio_dma_do_map ((prot && set_vaddr) || (!prot && !set_vaddr)); before v5.12 the mask is READ | WRITE (${UPDATE_VADDR})`,
  },
  'VFIO-MAP-2': { text: 'MAP_DMA with size 0, or iova, size or vaddr not a multiple of the smallest page size, is -EINVAL.', source: `${VFIO_TYPE1} vfio_dma_do_map` },
  'VFIO-MAP-3': {
    text: "MAP_DMA whose iova + size or vaddr + size wraps past 2^64 is -EINVAL; or, from the addressable-limit series (v6.18), -EOVERFLOW, checked right after size 0 and before the flags' READ/WRITE combination and the alignment (the ioctl's flag mask still first).",
    source: `${VFIO_TYPE1} vfio_dma_do_map; Linux 6012379ede6a drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map (check_add_overflow)`,
  },
  'VFIO-MAP-4': { text: 'MAP_DMA overlapping an existing mapping is -EEXIST.', source: `${VFIO_TYPE1} vfio_dma_do_map (vfio_find_dma)` },
  'VFIO-MAP-5': { text: 'MAP_DMA when the container holds dma_entry_limit mappings already is -ENOSPC.', source: `${VFIO_TYPE1} vfio_dma_do_map (dma_avail)` },
  'VFIO-MAP-6': { text: 'MAP_DMA outside every valid IOVA range (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) is -EINVAL.', source: `${VFIO_TYPE1} vfio_iommu_iova_dma_valid` },
  'VFIO-MAP-7': { text: 'MAP_DMA of process addresses that cannot be pinned is -EFAULT, and nothing stays mapped.', source: `${VFIO_TYPE1} vaddr_get_pfns, vfio_pin_map_dma` },
  'VFIO-MAP-8': { text: 'MAP_DMA while tracking, of more than DIRTY_BITMAP_PAGES_MAX (INT_MAX) pages, is -EINVAL: no dirty bitmap can cover it; nothing stays mapped.', source: `${VFIO_TYPE1} vfio_dma_bitmap_alloc` },
  'VFIO-MAP-10': {
    text: 'Where the container offers VFIO_UPDATE_VADDR: MAP_DMA with VADDR alone, after the size, alignment and wrap checks (VFIO-MAP-2, -3), is -ENOENT where no mapping meets the range and -EINVAL where one does whose vaddr is valid (only a mapping UNMAP_DMA with VADDR invalidated, exactly the range, takes a new vaddr); it maps nothing and changes nothing.',
    source: `${VFIO_TYPE1} vfio_dma_do_map (set_vaddr: vfio_find_dma none -ENOENT; !dma->vaddr_invalid || dma->iova != iova || dma->size != size -EINVAL), since ${UPDATE_VADDR}; dirtyspec design: the kit never invalidates a vaddr (vaddr updates are not modelled), so it checks only these refusals`,
  },
  'VFIO-MAP-9': {
    text: 'A valid MAP_DMA maps the range as one new mapping (never merged with its neighbours) with the requested permissions and returns 0; while tracking, its writes are recorded from the start.',
    source: `${VFIO_TYPE1} vfio_dma_do_map, vfio_link_dma`,
  },
  'VFIO-UNMAP-1': {
    text: 'UNMAP_DMA with a flag other than GET_DIRTY_BITMAP (1<<0), ALL (1<<1), VADDR (1<<2) is -EINVAL; where the container offers neither VFIO_UNMAP_ALL nor VFIO_UPDATE_VADDR (CHECK_EXTENSION(9) and (10) are 0, as before v5.12), ALL and VADDR are such flags.',
    source: `${VFIO_TYPE1} vfio_iommu_type1_unmap_dma (mask GET_DIRTY_BITMAP | ALL | VADDR; before ${UNMAP_ALL} and ${UPDATE_VADDR}, GET_DIRTY_BITMAP alone)`,
  },
  'VFIO-UNMAP-2': { text: 'UNMAP_DMA with GET_DIRTY_BITMAP together with ALL or VADDR is -EINVAL.', source: `${VFIO_H}; ${VFIO_TYPE1} vfio_iommu_type1_unmap_dma` },
  'VFIO-UNMAP-3': {
    text: 'UNMAP_DMA with VADDR is -EINVAL where the container does not offer VFIO_UPDATE_VADDR (CHECK_EXTENSION(10) is 0); where it offers VFIO_UNMAP_ALL (9 is 1), VADDR without GET_DIRTY_BITMAP may be -EBUSY instead, as Linux v6.3+ answers with an emulated group attached. Where it offers VFIO_UPDATE_VADDR, the kit sends no VADDR (vaddr updates are not modelled).',
    source: `DEPARTS from ${VFIO_TYPE1} vfio_iommu_type1_unmap_dma, which takes VFIO_DMA_UNMAP_FLAG_VADDR (${UPDATE_VADDR}) and offers VFIO_UPDATE_VADDR; as kernels before v5.12, whose mask lacks the flag; -EBUSY: ${VFIO_TYPE1} vfio_dma_do_unmap ("Cannot update vaddr if mdev is present") with vfio_iommu_type1_check_extension answering 10 with 0 while an emulated group is attached (since ef3a3f6a294b)`,
  },
  'VFIO-UNMAP-4': { text: 'UNMAP_DMA with GET_DIRTY_BITMAP and a bitmap of 0 bytes, more than DIRTY_BITMAP_SIZE_MAX, or fewer than ALIGN(size/pgsize, 64)/8 is -EINVAL.', source: `${VFIO_TYPE1} verify_bitmap_size` },
  'VFIO-UNMAP-5': { text: 'UNMAP_DMA with iova not a multiple of the smallest page size is -EINVAL.', source: `${VFIO_TYPE1} vfio_dma_do_unmap` },
  'VFIO-UNMAP-6': { text: 'UNMAP_DMA with ALL and a non-zero iova or size is -EINVAL.', source: `${VFIO_H} (VFIO_DMA_UNMAP_FLAG_ALL); ${VFIO_TYPE1} vfio_dma_do_unmap` },
  'VFIO-UNMAP-7': {
    text: 'UNMAP_DMA without ALL, with size 0, size not a multiple of the smallest page size, or iova + size wrapping, is -EINVAL; from the addressable-limit series (v6.18) the wrap alone is -EOVERFLOW.',
    source: `${VFIO_TYPE1} vfio_dma_do_unmap; Linux 6012379ede6a drivers/vfio/vfio_iommu_type1.c vfio_dma_do_unmap (check_add_overflow)`,
  },
  'VFIO-UNMAP-8': { text: 'UNMAP_DMA with GET_DIRTY_BITMAP while tracking is off is -EINVAL.', source: `${VFIO_TYPE1} vfio_dma_do_unmap` },
  'VFIO-UNMAP-9': { text: 'UNMAP_DMA with GET_DIRTY_BITMAP and bitmap.pgsize other than the smallest page size is -EINVAL.', source: `${VFIO_TYPE1} vfio_dma_do_unmap` },
  'VFIO-UNMAP-10': { text: 'UNMAP_DMA (not ALL) whose range starts or ends inside a mapping (bisects it) is -EINVAL.', source: `${VFIO_TYPE1} vfio_dma_do_unmap (v2 semantics)` },
  'VFIO-UNMAP-11': {
    text: 'A valid UNMAP_DMA removes every mapping inside the range (every mapping with ALL), stops their translation, and returns 0 with the bytes unmapped; a range holding no mapping unmaps 0 bytes.',
    source: `${VFIO_TYPE1} vfio_dma_do_unmap`,
  },
  'VFIO-UNMAP-12': {
    text: 'UNMAP_DMA with GET_DIRTY_BITMAP while tracking returns, relative to iova, the dirty pages of every mapping it removes, up to the moment they stop being translated (without hardware tracking: all their pages).',
    source: `${VFIO_H}; ${VFIO_TYPE1} update_user_bitmap`,
  },
  'VFIO-DIRTY-1': {
    text: 'DIRTY_PAGES with a flag outside START, STOP, GET_BITMAP (and, once negotiated, GET_BITMAP_NOCLEAR, CLEAR_BITMAP) is -EINVAL.',
    source: `${VFIO_TYPE1} vfio_iommu_type1_dirty_pages (mask START | STOP | GET_BITMAP: upstream never merged manual clear)`,
  },
  'VFIO-DIRTY-2': { text: 'DIRTY_PAGES with no flag or more than one flag is -EINVAL: exactly one operation per call.', source: `${VFIO_TYPE1} vfio_iommu_type1_dirty_pages (__ffs != __fls)` },
  'VFIO-DIRTY-3': { text: 'START turns tracking on for every mapping, present and future, and returns 0; while on it does nothing and returns 0.', source: `${VFIO_TYPE1} vfio_iommu_type1_dirty_pages, vfio_dma_bitmap_alloc_all` },
  'VFIO-DIRTY-4': { text: 'START while a mapping has more than DIRTY_BITMAP_PAGES_MAX pages is -EINVAL and tracking stays off.', source: `${VFIO_TYPE1} vfio_dma_bitmap_alloc` },
  'VFIO-DIRTY-5': { text: 'STOP turns tracking off and drops the dirty state not yet reported (the bitmaps are freed), returning 0; while off it does nothing and returns 0.', source: `${VFIO_TYPE1} vfio_dma_bitmap_free_all` },
  'VFIO-DIRTY-6': {
    text: "A bitmap operation whose iova + size reaches 2^64 is -EINVAL (range.iova + range.size < range.iova in u64: a range ending exactly at 2^64 included). From the addressable-limit series (v6.18) only a range whose last byte is past 2^64 - 1 is refused, with -EOVERFLOW, after size 0 and before the bitmap's checks; one ending exactly at 2^64 is checked as any other.",
    source: `${VFIO_TYPE1} vfio_iommu_type1_dirty_pages; Linux 6012379ede6a drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_dirty_pages (check_add_overflow(range.iova, range.size - 1))`,
  },
  'VFIO-DIRTY-7': { text: 'A bitmap operation with size 0 is -EINVAL.', source: `${VFIO_TYPE1} verify_bitmap_size (npages 0), vfio_iommu_type1_dirty_pages` },
  'VFIO-DIRTY-8': { text: 'A bitmap operation whose bitmap.size is 0, larger than DIRTY_BITMAP_SIZE_MAX, or smaller than ALIGN(size/pgsize, 64)/8 bytes is -EINVAL.', source: `${VFIO_TYPE1} verify_bitmap_size` },
  'VFIO-DIRTY-9': { text: "A bitmap operation whose bitmap.pgsize is not the container's smallest page size is -EINVAL.", source: `${VFIO_TYPE1} vfio_iommu_type1_dirty_pages` },
  'VFIO-DIRTY-10': { text: 'A bitmap operation whose iova or size is not a multiple of the smallest page size is -EINVAL.', source: `${VFIO_TYPE1} vfio_iommu_type1_dirty_pages` },
  'VFIO-DIRTY-11': { text: 'GET_BITMAP or GET_BITMAP_NOCLEAR while tracking is off is -EINVAL.', source: `${VFIO_TYPE1} vfio_iommu_type1_dirty_pages` },
  'VFIO-DIRTY-12': { text: 'GET_BITMAP or GET_BITMAP_NOCLEAR whose range starts or ends inside a mapping is -EINVAL: it must cover whole mappings (holes allowed).', source: `${VFIO_TYPE1} vfio_iova_dirty_bitmap` },
  'VFIO-DIRTY-13': {
    text: 'GET_BITMAP reports every page of the range dirtied since it was last cleared (bit i of u64 word i/64 = page iova + i*pgsize, ALIGN(npages,64)/8 bytes) and clears what it reports, also after manual clear was negotiated.',
    source: `${VFIO_TYPE1} vfio_iova_dirty_bitmap; ${QEMU_RFC} and ${QEMU_RFC2}, linux-headers/linux/vfio.h: GET_BITMAP_NOCLEAR is "almost same as GET_BITMAP" without the clear`,
  },
  'VFIO-DIRTY-14': {
    text: "Without hardware dirty tracking, while the group of an IOMMU-backed device that pins no pages is attached (the container's device), every mapped page of the range is reported dirty, every time.",
    source: `${VFIO_TYPE1} update_user_bitmap (num_non_pinned_groups && dma->iommu_mapped: bitmap_set of the whole mapping), vfio_iommu_type1_attach_group (num_non_pinned_groups++)`,
  },
  'VFIO-DETACH-1': {
    text: "Without hardware dirty tracking, detaching the device's group while tracking (another group, an emulated one, keeps the container) must not lose what the device wrote and no report returned: the next clearing report over each mapping holds those pages. Linux makes every page of every mapping dirty (the kit allows that, and asks no more than the device's writes). While no such group is attached, a report holds only the pages dirtied through the container (vfio_dma_rw writes) and those a detach left: any other mapped page is a false dirty. Attaching the group again brings back VFIO-DIRTY-14.",
    source: `${VFIO_TYPE1} vfio_iommu_type1_detach_group (num_non_pinned_groups--, then vfio_iommu_populate_bitmap_full while dirty_page_tracking), from commit d0a78f91761f "vfio/iommu_type1: Populate full dirty when detach non-pinned group" (Linux v5.12, <20210115092643.728-2-zhukeqian1@huawei.com> is its v2), which fixed d6a4c185660c (v5.8): before it the detach left only pinned pages in the scope and the device's writes were never reported`,
  },
  'VFIO-CLEAR-1': {
    text: 'VFIO_CHECK_EXTENSION(VFIO_DIRTY_LOG_MANUAL_CLEAR = 11) returns 1 and negotiates manual clear for the container (idempotent), or, where the container does not offer manual clear (as upstream Linux), 0 every time and negotiates nothing; GET_BITMAP_NOCLEAR and CLEAR_BITMAP are then refused (VFIO-CLEAR-2). Once negotiated they are taken: refusing them as unknown fails this rule.',
    source: `${MANUAL_CLEAR_V2} (11; 9 in the RFC, <20210128151742.18840-12-zhukeqian1@huawei.com>); ${QEMU_RFC}`,
  },
  'VFIO-CLEAR-2': {
    text: 'GET_BITMAP_NOCLEAR (1<<3) or CLEAR_BITMAP (1<<4) before manual clear was negotiated, or on a container that does not offer it (CHECK_EXTENSION(11) is 0), is -EINVAL (outside the flag mask).',
    source: `flag values from ${QEMU_RFC} and ${QEMU_RFC2}, linux-headers/linux/vfio.h (GET_BITMAP_NOCLEAR 1<<3, CLEAR_BITMAP 1<<4; the kernel patches v1 and v2 have CLEAR_BITMAP at 1<<3 and no NOCLEAR, a numbering the spec DEPARTS from: spec/vfio/type1-machine.ts); dirtyspec design: a client that did not negotiate gets an error, not a clear; DEPARTS from vfio_iommu_type1_dirty_pages in ${MANUAL_CLEAR_V2}, whose mask takes CLEAR_BITMAP whether or not manual clear was negotiated`,
  },
  'VFIO-CLEAR-3': { text: 'CLEAR_BITMAP while tracking is off is -EINVAL.', source: `vfio_iommu_type1_dirty_pages in ${MANUAL_CLEAR_V2} (!dirty_page_tracking: -EINVAL)` },
  'VFIO-CLEAR-4': { text: 'GET_BITMAP_NOCLEAR reports like GET_BITMAP but clears nothing: a second call reports the same pages and any new ones.', source: `${QEMU_RFC} and ${QEMU_RFC2}, linux-headers/linux/vfio.h; ${HWDBM_RFC2}` },
  'VFIO-CLEAR-5': {
    text: 'CLEAR_BITMAP clears exactly the pages whose bits are set (any sub-range of a mapping), re-protects them in hardware and invalidates the TLB before returning: a write after the return is reported by the next report; pages whose bits are clear keep their dirty state.',
    source: `vfio_iova_dirty_log_clear in ${MANUAL_CLEAR_V2}; QEMU vfio_log_clear_one_range (64-page slices) in patch 3/3 of ${QEMU_RFC} and ${QEMU_RFC2}; the invalidation: ${GUNTHORPE}`,
  },
  'VFIO-CLEAR-6': {
    text: 'A block leaf only partly selected by CLEAR_BITMAP stays dirty (reported again): clearing it would forget pages not selected.',
    source: `dirtyspec design (CLEAR-4): a clear must not forget pages it was not asked to clear (NOLOSS-2); DEPARTS from ${IO_PGTABLE_ARM} io_pgtable_visit_dirty, which clears every dirty leaf it records, whole`,
  },
  'VFIO-EXT-1': {
    text: "VFIO_CHECK_EXTENSION returns 1 for VFIO_TYPE1_IOMMU (1) and VFIO_TYPE1v2_IOMMU (3), 0 for unknown extensions; for VFIO_UNMAP_ALL (9) and VFIO_UPDATE_VADDR (10) 1 or 0, the uAPI the container offers: its first answer is held for the container's life, and the calls the extension governs must follow it (VFIO-UNMAP-1, VFIO-MAP-1, VFIO-MAP-10). The strict reference offers 9 and not 10. 9, the number RFC v1 gave manual clear, negotiates nothing.",
    source: `${VFIO_H}; ${VFIO_TYPE1} vfio_iommu_type1_check_extension (VFIO_UNMAP_ALL: 1 since ${UNMAP_ALL}; VFIO_UPDATE_VADDR: 1 since ${UPDATE_VADDR}, 0 while emulated devices are attached since ef3a3f6a294b "vfio/type1: exclude mdevs from VFIO_UPDATE_VADDR")`,
  },
  'VFIO-INFO-1': {
    text: 'GET_INFO returns VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, the page sizes, and the migration capability (id 2, version 1): flags 0, pgsize_bitmap the smallest page size only, max_dirty_bitmap_size DIRTY_BITMAP_BYTES(INT_MAX) = 2^28.',
    source: `${VFIO_TYPE1} vfio_iommu_type1_get_info, vfio_iommu_migration_build_caps`,
  },
  // vfio_dma_rw, the CPU-side access of an emulated (mdev) device (spec/vfio/dma-rw.ts)
  'VFIO-RW-1': {
    text: "vfio_dma_rw of length 0 is -EINVAL. Otherwise it copies chunk by chunk: each chunk starts at the first byte not yet copied, lies in the mapping holding that byte and ends at that mapping's end or the access's end, whichever comes first (an access may span adjacent mappings); a chunk whose first byte is in no mapping is -EINVAL; 0 once every byte is copied.",
    source: `${VFIO_TYPE1} vfio_iommu_type1_dma_rw (the loop over chunks), vfio_iommu_type1_dma_rw_chunk (vfio_find_dma(iommu, user_iova, 1): none is -EINVAL; count clipped to dma->size - offset); ${LINUX} drivers/vfio/vfio_main.c vfio_dma_rw (len <= 0: -EINVAL)`,
  },
  'VFIO-RW-2': {
    text: 'A chunk in a mapping without VFIO_DMA_MAP_FLAG_READ, or a write chunk in one without VFIO_DMA_MAP_FLAG_WRITE, is -EPERM (a write-only mapping refuses writes too).',
    source: `${VFIO_TYPE1} vfio_iommu_type1_dma_rw_chunk ((write && !(dma->prot & IOMMU_WRITE)) || !(dma->prot & IOMMU_READ): -EPERM)`,
  },
  'VFIO-RW-3': {
    text: 'While tracking, a write chunk of `copied` bytes at `offset` in its mapping dirties pages offset >> pgshift through (offset + copied - 1) >> pgshift of it (2 bytes at PAGE_SIZE - 1 dirty 2 pages): the next report over the mapping holds them (GET_BITMAP, GET_BITMAP_NOCLEAR, UNMAP_DMA with GET_DIRTY_BITMAP) until one clears them (GET_BITMAP, UNMAP_DMA, CLEAR_BITMAP for the selected ones); STOP drops them. A read, or a write while tracking is off, dirties nothing. Without hardware dirty tracking every mapped page is reported anyway (VFIO-DIRTY-14).',
    source: `${VFIO_TYPE1} vfio_iommu_type1_dma_rw_chunk (bitmap_set(dma->bitmap, offset >> pgshift, ((offset + *copied - 1) >> pgshift) - (offset >> pgshift) + 1) since commit 2c5af98592f6 "vfio/type1: fix dirty bitmap calculation in vfio_dma_rw", <20200915003251.14343-1-yan.y.zhao@intel.com>, which fixed *copied >> pgshift pages), vfio_iova_dirty_bitmap (bitmap_clear after the report); vfio_iova_dirty_log_clear in ${MANUAL_CLEAR_V2} (bitmap_clear of the selected bits)`,
  },
  'VFIO-RW-4': {
    text: "A refused access returns the refused chunk's errno even when chunks before it were copied, and copies and dirties nothing at or past that chunk; the chunks before it may or may not have been copied and dirtied (Linux copies them; an implementation that checks the whole range first copies none), so their pages are neither owed by a report nor a false dirty in one.",
    source: `${VFIO_TYPE1} vfio_iommu_type1_dma_rw (the loop breaks at the first chunk that fails and returns its errno; the chunks before it stay copied and marked); dirtyspec design: the order of the checks and the copy is the implementation's`,
  },

  // Dirty bitmaps (spec/bitmap/dirty-bitmap.ts)
  'BITMAP-1': { text: 'A dirty bitmap has one bit per page, bit i of u64 word i/64 is page iova + i*pgsize, and is ALIGN(npages, 64)/8 bytes long.', source: `${VFIO_H} (struct vfio_bitmap); ${VFIO_TYPE1} update_user_bitmap` },
  'BITMAP-2': { text: 'Recording a leaf marks the pages of it that lie inside the reported range, and no others.', source: `${IOVA_BITMAP} iova_bitmap_set` },

  // The IOVA bitmap window (spec/iova-bitmap/index-math.ts, spec/iova-bitmap/rules.ts)
  'IOVA-BITMAP-1': {
    text: 'The bitmap page size (one bit each) is a power of two from 4 KiB to 2^63, else -EINVAL naming page_size; pgshift = log2(page_size).',
    source: `${IOVA_BITMAP} iova_bitmap_alloc (__ffs); DEPARTS: iommufd takes the lowest set bit of any non-zero page size`,
  },
  'IOVA-BITMAP-2': {
    text: 'Bit n = (iova - base) >> pgshift is bit n%64 of little-endian u64 word n/64 (bit n%8 of byte n/8); a recording sets the bit of every page it touches, a partial page included, and clears none.',
    source: `${IOVA_BITMAP} (struct iova_bitmap_map, iova_bitmap_set); ${VFIO_H} (struct vfio_bitmap)`,
  },
  'IOVA-BITMAP-3': {
    text: 'The word index is (offset >> pgshift) / 64, never offset / (64 * page_size): that product wraps to 0 in u64 for every page_size from 2^58 (from 2^61 where the bitmap is counted in bytes, BITS_PER_TYPE(u8) = 8, as since d18411ec3057 "iommufd/iova_bitmap: Switch iova_bitmap::bitmap to an u8 array") and divides by zero (and a page_size formed as the int 1 << pgshift, as before e24c15510592, is already wrong from 2^31).',
    source: `Linux commit cb30dfa75d55 "iommufd: Don't overflow during division for dirty tracking" (syzbot 093a8a8b859472e6c257), in ${IOVA_BITMAP} iova_bitmap_offset_to_index; the int shift: Linux commit e24c15510592 (CVE-2025-21724, 1 << pgshift made 1UL)`,
  },
  'IOVA-BITMAP-4': { text: 'A range of length bytes needs ALIGN(npages, 64)/8 bytes of bitmap, npages = ((length - 1) >> pgshift) + 1; a smaller bitmap is -EINVAL.', source: `${VFIO_H} (GET_BITMAP); ${VFIO_TYPE1} verify_bitmap_size` },
  'IOVA-BITMAP-5': {
    text: 'Arguments, in order: iova and length must be u64 values, length not 0 (-EINVAL); iova + length - 1 past 2^64 - 1 is -EOVERFLOW; iova or length not a multiple of page_size is -EINVAL.',
    source: `${IO_PAGETABLE} iommufd_check_iova_range (length 0 refused since "iommufd: Reject a zero-length dirty bitmap request"; earlier kernels let length 0 at iova 0 through)`,
  },
  'IOVA-BITMAP-6': {
    text: 'At most 512 user pages of bitmap (PAGE_SIZE / sizeof(struct page *)) are pinned at a time; the bitmap may start at any byte (pgoff); a window pins the pages its bytes touch and covers npages * 4096 - pgoff bytes of bitmap (2 MiB = 64 GiB at 4 KiB); a page that cannot be pinned is -EFAULT.',
    source: `${IOVA_BITMAP} iova_bitmap_get (-EFAULT; the walk returned it in Linux v6.2..v6.10, whose iova_bitmap_for_each pinned each window before its callback; from 53e6b65693b6 "iommufd/iova_bitmap: Remove iterator logic" (v6.11) iova_bitmap_set pins and drops the error, so under the linux contract an unpinnable page is a caller obligation, spec/iova-bitmap/contracts.ts); Linux commit 4bbcbc6ea2fa "iommufd/iova_bitmap: Consider page offset for the pages to be pinned"; Joao Martins in "Re: [PATCH V2 vfio 05/11] vfio: Add an IOVA bitmap support", 20 Jul 2022, <028506a9-d5f8-04e9-7427-5a39e0772987@oracle.com>`,
  },
  'IOVA-BITMAP-7': {
    text: 'A recording that crosses the end of a pinned page goes on at bit 0 of the next pinned page (only the first page starts at pgoff).',
    source: 'Linux commits f38044e5ef58 "vfio/iova_bitmap: Fix PAGE_SIZE unaligned bitmaps" and b058ea3ab5af "vfio/iova_bitmap: refactor iova_bitmap_set() to better handle page boundaries"',
  },
  'IOVA-BITMAP-8': {
    text: 'A recording that reaches past the pinned window (a huge page across a window edge) is finished after the window moves, never dropped.',
    source: `Linux commits a4ab7dedaee0 "iommufd/iova_bitmap: Bounds check mapped::pages access" and 2780025e01e2 "iommufd/iova_bitmap: Handle recording beyond the mapped pages"; ${IOVA_BITMAP} iova_bitmap_set (iova_bitmap_advance_to)`,
  },
  'IOVA-BITMAP-9': {
    text: "The part of a recording outside the bitmap's range is -EINVAL and never written (no byte of user memory outside the bitmap changes); the part inside is still recorded.",
    source: `${IOVA_BITMAP} iova_bitmap_advance_to (-EINVAL past mapped_total_index, which iova_bitmap_set, returning void, drops: under the linux contract recording only inside the range is a caller obligation, spec/iova-bitmap/contracts.ts); dirtyspec design (the hardened contract): the error is reported and the part inside the bitmap is still recorded`,
  },
  'IOVA-BITMAP-10': {
    text: "iova_bitmap_for_each walks the whole range window by window, in order, each window once, the windows together exactly [iova, iova + length), except that a window may start past pages the callback's recordings already set beyond the previous one; a callback error stops the walk and is returned, else the first recording error; nothing stays pinned.",
    source: `Linux v6.2..v6.10 iova_bitmap_for_each (drivers/vfio/iova_bitmap.c, then drivers/iommu/iommufd/iova_bitmap.c: window by window, iova_bitmap_advance between callbacks, the callback's error returned; v6.8..v6.10 iova_bitmap_set_ahead moves past what it set ahead); the first recording error and the unpinning: dirtyspec design (the hardened contract). DEPARTS from ${IOVA_BITMAP} iova_bitmap_for_each, one callback over the whole range since 53e6b65693b6 (v6.11), windows pinned inside iova_bitmap_set and left pinned until iova_bitmap_free, whose result ${IO_PAGETABLE} iommu_read_and_clear_dirty does not return: the linux contract (spec/iova-bitmap/contracts.ts) checks only the callback's result and the pin budget`,
  },

  // The properties every implementation is judged by (model/ghost.ts)
  'NOLOSS-1': {
    text: 'A report over R includes every page of R written (while tracking) before the call started and not reported-and-cleared since.',
    source: 'dirtyspec design: the property pre-copy migration rests on: a page written and never reported is never copied again',
  },
  'NOLOSS-2': {
    text: 'A page written while a reporting call runs is in that report or a later one; a clear never forgets pages it was not asked to clear.',
    source: 'dirtyspec design: a write racing a report is caught by that report or the next, and a clear forgets only what it was asked to, else the page is never copied again',
  },
  'NOLOSS-3': { text: 'Unmapping while tracking reports the dirty pages it removes.', source: `${VFIO_H} VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP; ${VFIO_TYPE1} vfio_dma_do_unmap (update_user_bitmap before vfio_remove_dma)` },
  'PRECISION-1': {
    text: 'A page reported but not written since its last clear is a false dirty, allowed only where the spec makes its leaf dirty (a block written elsewhere, a new writable mapping, a merge of a dirty page).',
    source: 'dirtyspec design: a false dirty costs a copy, not correctness, so it is judged apart from loss and allowed only where the spec makes the leaf dirty',
  },
  ...kvmDirtyLogRequirements,
  ...kvmDirtyRingRequirements,
  ...contractRequirements,
} as const satisfies Record<string, Requirement>;

export type RequirementId = keyof typeof requirements;

export function isRequirementId(id: string): id is RequirementId {
  return Object.hasOwn(requirements, id);
}

/**
 * The requirement tags `[ID]` in the test titles of a test file's source: the first
 * argument of each `test(...)` call, a string literal. Tags elsewhere in the file (an
 * expected report, a comment) do not make it a test of that requirement.
 */
export function testTitleTags(source: string): string[] {
  const out: string[] = [];
  for (const t of source.matchAll(/\btest(?:\.only|\.skip)?\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)) {
    for (const m of t[2]!.matchAll(/\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\]/g)) out.push(m[1]!);
  }
  return out;
}
