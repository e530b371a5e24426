// SPDX-License-Identifier: MIT
/*
 * The SMMUv3 domain, the iommu core and iommufd around the upstream page table
 * (io-pgtable-arm.c), written for dirtyspec from what Linux does; each function names
 * the upstream function it follows. The page-table calls go through struct
 * io_pgtable_ops, as arm-smmu-v3.c's do.
 *
 * Sources:
 * - Linux v6.18 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_dbm_capable,
 *   arm_smmu_domain_alloc_paging_flags + arm_smmu_domain_finalise (the HD quirk and
 *   dirty_ops with IOMMU_HWPT_ALLOC_DIRTY_TRACKING), arm_smmu_make_s1_cd (HA and HD
 *   "to enable dirty flag update"), arm_smmu_write_cd_entry / arm_smmu_write_entry,
 *   arm_smmu_attach_dev, arm_smmu_map_pages, arm_smmu_unmap_pages,
 *   arm_smmu_tlb_inv_walk, arm_smmu_tlb_inv_page_nosync, arm_smmu_iotlb_sync (nothing
 *   for a gather without page size), arm_smmu_tlb_inv_range_domain,
 *   arm_smmu_read_and_clear_dirty, arm_smmu_set_dirty_tracking ("Always enabled").
 * - Linux v6.18 drivers/iommu/iommu.c: iommu_pgsize, __iommu_map, iommu_unmap,
 *   __iommu_unmap; include/linux/iommu.h: iommu_iotlb_gather_add_page,
 *   iommu_iotlb_gather_is_disjoint, iommu_iotlb_sync.
 * - Linux v6.18 drivers/iommu/iommufd/: ioas.c conv_iommu_prot (IOMMU_CACHE),
 *   io_pagetable.c iopt_check_iova, iopt_set_dirty_tracking, iopt_clear_dirty_data,
 *   iopt_read_and_clear_dirty_data / iommu_read_and_clear_dirty; hw_pagetable.c
 *   iommufd_hwpt_paging_alloc and iommufd_hwpt_get_dirty_bitmap (flags).
 * The iommufd layer is the same as conformance/examples/linux-upstream/arm-smmu-v3.ts.
 */
#include "arm-smmu-upstream.h"

/* arm-smmu-v3.h: SMMU_IDR0 and the CD (ARM IHI 0070 §6.3.1, §5.4). */
#define IDR0_HTTU GENMASK(7, 6)
#define IDR0_HTTU_ACCESS_DIRTY 2
#define IDR0_COHACC BIT(4)

#define CTXDESC_CD_0_TCR_T0SZ GENMASK_ULL(5, 0)
#define CTXDESC_CD_0_TCR_TG0 GENMASK_ULL(7, 6)
#define CTXDESC_CD_0_TCR_IRGN0 GENMASK_ULL(9, 8)
#define CTXDESC_CD_0_TCR_ORGN0 GENMASK_ULL(11, 10)
#define CTXDESC_CD_0_TCR_SH0 GENMASK_ULL(13, 12)
#define CTXDESC_CD_0_TCR_EPD1 BIT_ULL(30)
#define CTXDESC_CD_0_V BIT_ULL(31)
#define CTXDESC_CD_0_TCR_IPS GENMASK_ULL(34, 32)
#define CTXDESC_CD_0_AA64 BIT_ULL(41)
#define CTXDESC_CD_0_TCR_HD BIT_ULL(42)
#define CTXDESC_CD_0_TCR_HA BIT_ULL(43)
#define CTXDESC_CD_0_R BIT_ULL(45)
#define CTXDESC_CD_0_A BIT_ULL(46)
#define CTXDESC_CD_0_ASET BIT_ULL(47)
#define CTXDESC_CD_0_ASID GENMASK_ULL(63, 48)
#define CTXDESC_CD_1_TTB0_MASK GENMASK_ULL(51, 4)
#define CTXDESC_CD_DWORDS 8

/* include/uapi/linux/iommufd.h */
#define IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR 1

struct iopt_area {
	unsigned long iova, last;
	int iommu_prot;
};

struct arm_smmu_stream {
	u32 sid;
	__le64 *cdptr;
};

struct arm_smmu_domain {
	struct io_pgtable_ops *pgtbl_ops;
	struct io_pgtable_cfg cfg; /* as arm_smmu_domain_finalise filled it */
	unsigned long pgsize_bitmap;
	u16 asid;
	bool has_dirty_ops; /* domain->dirty_ops = &arm_smmu_dirty_ops */
	struct arm_smmu_stream *streams;
	int nr_streams;
	struct iopt_area *areas; /* iopt->area_itree */
	int nr_areas;
};

static void arm_smmu_cmdq_issue(const struct dirtyspec_cmd *cmds, u32 n)
{
	dirtyspec_current->submit(dirtyspec_current->ctx, cmds, n);
}

/* ---- TLB maintenance (arm-smmu-v3.c, include/linux/iommu.h) ---------------------- */

/* arm_smmu_tlb_inv_range_domain, stage 1: CMDQ_OP_TLBI_NH_VA over the range, then CMD_SYNC. */
static void arm_smmu_tlb_inv_range_domain(unsigned long iova, size_t size, size_t granule, bool leaf, struct arm_smmu_domain *d)
{
	struct dirtyspec_cmd cmds[2] = {};

	(void)granule;
	(void)leaf;
	if (!size)
		return;
	cmds[0].op = DIRTYSPEC_CMD_TLBI_NH_VA;
	cmds[0].asid = d->asid;
	cmds[0].iova = iova;
	cmds[0].size = size;
	cmds[1].op = DIRTYSPEC_CMD_SYNC;
	arm_smmu_cmdq_issue(cmds, 2);
}

/* arm_smmu_iotlb_sync: nothing for a gather without page size. */
static void arm_smmu_iotlb_sync(struct arm_smmu_domain *d, struct iommu_iotlb_gather *gather)
{
	if (!gather->pgsize)
		return;
	arm_smmu_tlb_inv_range_domain(gather->start, gather->end - gather->start + 1, gather->pgsize, true, d);
}

/* iommu_iotlb_sync: the driver's iotlb_sync, then the gather starts again. */
static void iommu_iotlb_sync(struct arm_smmu_domain *d, struct iommu_iotlb_gather *gather)
{
	arm_smmu_iotlb_sync(d, gather);
	iommu_iotlb_gather_init(gather);
}

static bool iommu_iotlb_gather_is_disjoint(struct iommu_iotlb_gather *gather, unsigned long iova, size_t size)
{
	unsigned long start = iova, end = start + size - 1;

	return gather->end != 0 && (end + 1 < gather->start || start > gather->end + 1);
}

/* arm_smmu_tlb_inv_page_nosync -> iommu_iotlb_gather_add_page. */
static void arm_smmu_tlb_inv_page_nosync(struct iommu_iotlb_gather *gather, unsigned long iova, size_t granule, void *cookie)
{
	struct arm_smmu_domain *d = (struct arm_smmu_domain *)cookie;

	if ((gather->pgsize && gather->pgsize != granule) || iommu_iotlb_gather_is_disjoint(gather, iova, granule))
		iommu_iotlb_sync(d, gather);
	gather->pgsize = granule;
	iommu_iotlb_gather_add_range(gather, iova, granule);
}

/* arm_smmu_tlb_inv_walk */
static void arm_smmu_tlb_inv_walk(unsigned long iova, size_t size, size_t granule, void *cookie)
{
	arm_smmu_tlb_inv_range_domain(iova, size, granule, false, (struct arm_smmu_domain *)cookie);
}

/* arm_smmu_tlb_inv_context: CMDQ_OP_TLBI_NH_ASID, then CMD_SYNC. */
static void arm_smmu_tlb_inv_context(void *cookie)
{
	struct arm_smmu_domain *d = (struct arm_smmu_domain *)cookie;
	struct dirtyspec_cmd cmds[2] = {};

	cmds[0].op = DIRTYSPEC_CMD_TLBI_NH_ASID;
	cmds[0].asid = d->asid;
	cmds[1].op = DIRTYSPEC_CMD_SYNC;
	arm_smmu_cmdq_issue(cmds, 2);
}

static const struct iommu_flush_ops arm_smmu_flush_ops = {
	arm_smmu_tlb_inv_context,
	arm_smmu_tlb_inv_walk,
	arm_smmu_tlb_inv_page_nosync,
};

/* ---- allocation (arm-smmu-v3.c, iommufd hw_pagetable.c) --------------------------- */

/* arm_smmu_dbm_capable: ARM_SMMU_FEAT_HD (IDR0.HTTU = 2) and ARM_SMMU_FEAT_COHERENCY (IDR0.COHACC). */
static bool arm_smmu_dbm_capable(u32 idr0)
{
	return FIELD_GET(IDR0_HTTU, idr0) == IDR0_HTTU_ACCESS_DIRTY && (idr0 & IDR0_COHACC);
}

/*
 * iommufd_hwpt_paging_alloc (-EOPNOTSUPP for IOMMU_HWPT_ALLOC_DIRTY_TRACKING without
 * IOMMU_CAP_DIRTY_TRACKING), arm_smmu_domain_alloc_paging_flags and
 * arm_smmu_domain_finalise: a stage-1 table of 48 bits, the SMMU's page sizes, a
 * coherent walk, the HD quirk and dirty_ops when tracking was asked for.
 */
int iommufd_hwpt_alloc(u32 asid, u32 idr0, bool dirty_tracking, struct arm_smmu_domain **out)
{
	struct arm_smmu_domain *d;

	if (dirty_tracking && !arm_smmu_dbm_capable(idr0))
		return -EOPNOTSUPP;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->asid = asid;
	d->cfg.pgsize_bitmap = SZ_4K | SZ_2M | SZ_1G;
	d->cfg.ias = 48;
	d->cfg.oas = 48;
	d->cfg.coherent_walk = true;
	d->cfg.tlb = &arm_smmu_flush_ops;
#ifndef KERNEL_UPSTREAM_FAULT
	if (dirty_tracking)
		d->cfg.quirks |= IO_PGTABLE_QUIRK_ARM_HD;
#else
	/*
	 * The deliberate fault (build/libkernel-upstream-faulty.so): the page table is not
	 * given IO_PGTABLE_QUIRK_ARM_HD, so its writable leaves have no DBM; the CDs still
	 * get HA and HD, as if arm_smmu_make_s1_cd looked at the domain's dirty_ops
	 * instead of the page table's quirks. A device write through such a leaf leaves no
	 * dirty state for read-and-clear to find.
	 */
	(void)0;
#endif
	d->pgtbl_ops = alloc_io_pgtable_ops(ARM_64_LPAE_S1, &d->cfg, d);
	if (!d->pgtbl_ops) {
		kfree(d);
		return -ENOMEM;
	}
	d->pgsize_bitmap = d->cfg.pgsize_bitmap;
	d->has_dirty_ops = dirty_tracking;
	*out = d;
	return 0;
}

void iommufd_hwpt_destroy(struct arm_smmu_domain *d)
{
	free_io_pgtable_ops(d->pgtbl_ops);
	kfree(d->streams);
	kfree(d->areas);
	kfree(d);
}

/* ---- attach (arm-smmu-v3.c) --------------------------------------------------------- */

/* arm_smmu_make_s1_cd: words 0, 1 and 3 of the CD from the page table's TCR, TTBR and MAIR. */
static void arm_smmu_make_s1_cd(struct arm_smmu_domain *d, u64 *target)
{
	const struct io_pgtable_cfg *pgtbl_cfg = &io_pgtable_ops_to_pgtable(d->pgtbl_ops)->cfg;
	typeof(&pgtbl_cfg->arm_lpae_s1_cfg.tcr) tcr = &pgtbl_cfg->arm_lpae_s1_cfg.tcr;

	memset(target, 0, CTXDESC_CD_DWORDS * sizeof(u64));
	target[0] = FIELD_PREP(CTXDESC_CD_0_TCR_T0SZ, tcr->tsz) | FIELD_PREP(CTXDESC_CD_0_TCR_TG0, tcr->tg) |
		    FIELD_PREP(CTXDESC_CD_0_TCR_IRGN0, tcr->irgn) | FIELD_PREP(CTXDESC_CD_0_TCR_ORGN0, tcr->orgn) |
		    FIELD_PREP(CTXDESC_CD_0_TCR_SH0, tcr->sh) | CTXDESC_CD_0_TCR_EPD1 | CTXDESC_CD_0_V |
		    FIELD_PREP(CTXDESC_CD_0_TCR_IPS, tcr->ips) | CTXDESC_CD_0_AA64 | CTXDESC_CD_0_R | CTXDESC_CD_0_A |
		    CTXDESC_CD_0_ASET | FIELD_PREP(CTXDESC_CD_0_ASID, d->asid);
	/* To enable dirty flag update, set both Access flag and dirty state update */
#ifndef KERNEL_UPSTREAM_FAULT
	if (pgtbl_cfg->quirks & IO_PGTABLE_QUIRK_ARM_HD)
#else
	if (d->has_dirty_ops)
#endif
		target[0] |= CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD;
	target[1] = pgtbl_cfg->arm_lpae_s1_cfg.ttbr & CTXDESC_CD_1_TTB0_MASK;
	target[3] = pgtbl_cfg->arm_lpae_s1_cfg.mair;
}

static void arm_smmu_sync_cd(u32 sid)
{
	struct dirtyspec_cmd cmds[2] = {};

	cmds[0].op = DIRTYSPEC_CMD_CFGI_CD;
	cmds[0].stream_id = sid;
	cmds[1].op = DIRTYSPEC_CMD_SYNC;
	arm_smmu_cmdq_issue(cmds, 2);
}

/*
 * arm_smmu_write_cd_entry -> arm_smmu_write_entry, for an invalid CD becoming valid:
 * every qword but V first (with V clear only V is used), CFGI_CD + CMD_SYNC, then
 * qword 0 with V, CFGI_CD + CMD_SYNC.
 */
static void arm_smmu_write_cd_entry(u32 sid, __le64 *cdptr, const u64 *target)
{
	bool changed = false;

	for (int i = 0; i < CTXDESC_CD_DWORDS; i++) {
		u64 v = i == 0 ? target[0] & ~CTXDESC_CD_0_V : target[i];

		if (le64_to_cpu(READ_ONCE(cdptr[i])) != v) {
			WRITE_ONCE(cdptr[i], cpu_to_le64(v));
			changed = true;
		}
	}
	if (changed)
		arm_smmu_sync_cd(sid);
	WRITE_ONCE(cdptr[0], cpu_to_le64(target[0]));
	arm_smmu_sync_cd(sid);
}

/*
 * arm_smmu_attach_dev: the CD is written, then the STE points at it
 * (arm_smmu_install_ste_for_dev). Attaching a stream already attached to the domain
 * changes nothing (__iommu_group_set_domain: the group has this domain already).
 */
int iommufd_device_attach(struct arm_smmu_domain *d, u32 sid)
{
	struct arm_smmu_stream *s, *v;
	u64 target[CTXDESC_CD_DWORDS];
	__le64 *cdptr;

	for (int i = 0; i < d->nr_streams; i++)
		if (d->streams[i].sid == sid)
			return 0;
	v = krealloc(d->streams, (d->nr_streams + 1) * sizeof(*v), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	d->streams = v;
	cdptr = (__le64 *)iommu_alloc_pages_sz(GFP_KERNEL, SZ_4K);
	if (!cdptr)
		return -ENOMEM;
	s = &d->streams[d->nr_streams++];
	s->sid = sid;
	s->cdptr = cdptr;
	arm_smmu_make_s1_cd(d, target);
	arm_smmu_write_cd_entry(sid, cdptr, target);
	dirtyspec_current->attach_stream(dirtyspec_current->ctx, sid, __pa(cdptr));
	return 0;
}

/* ---- the iommu core (iommu.c) -------------------------------------------------------- */

/* iommu_pgsize */
static size_t iommu_pgsize(struct arm_smmu_domain *d, unsigned long iova, phys_addr_t paddr, size_t size, size_t *count)
{
	unsigned int pgsize_idx, pgsize_idx_next;
	unsigned long pgsizes;
	size_t offset, pgsize, pgsize_next;
	unsigned long addr_merge = paddr | iova;

	/* the sizes the domain has that fit in size and, unless both are 0, in the alignment of iova | paddr */
	pgsizes = d->pgsize_bitmap & GENMASK(__fls(size), 0);
	if (likely(addr_merge))
		pgsizes &= GENMASK(__ffs(addr_merge), 0);
	if (WARN_ON(!pgsizes))
		abort(); /* the kernel's BUG_ON */

	/* the largest of them */
	pgsize_idx = __fls(pgsizes);
	pgsize = BIT(pgsize_idx);

	/* the next larger size the domain has, if any */
	pgsizes = d->pgsize_bitmap & ~GENMASK(pgsize_idx, 0);
	if (!pgsizes)
		goto out_set_count;
	pgsize_idx_next = __ffs(pgsizes);
	pgsize_next = BIT(pgsize_idx_next);

	/* it can take over only if iova and paddr have the same offset in it */
	if ((iova ^ paddr) & (pgsize_next - 1))
		goto out_set_count;

	/* then count only up to its next boundary, if the range reaches past one more of it */
	offset = pgsize_next - (addr_merge & (pgsize_next - 1));
	if (offset + pgsize_next <= size)
		size = offset;

out_set_count:
	*count = size >> pgsize_idx;
	return pgsize;
}

/* __iommu_unmap: chunks of iommu_pgsize, until `size` bytes or a chunk unmaps nothing. */
static size_t __iommu_unmap(struct arm_smmu_domain *d, unsigned long iova, size_t size, struct iommu_iotlb_gather *iotlb_gather)
{
	size_t unmapped_page, unmapped = 0;
	unsigned int min_pagesz = 1 << __ffs(d->pgsize_bitmap);

	if (!IS_ALIGNED(iova | size, min_pagesz))
		return 0;

	while (unmapped < size) {
		size_t pgsize, count;

		pgsize = iommu_pgsize(d, iova, iova, size - unmapped, &count);
		/* arm_smmu_unmap_pages */
		unmapped_page = d->pgtbl_ops->unmap_pages(d->pgtbl_ops, iova, pgsize, count, iotlb_gather);
		if (!unmapped_page)
			break;

		iova += unmapped_page;
		unmapped += unmapped_page;
	}
	return unmapped;
}

/* iommu_unmap: __iommu_unmap with a gather, then iommu_iotlb_sync. */
static size_t iommu_unmap(struct arm_smmu_domain *d, unsigned long iova, size_t size)
{
	struct iommu_iotlb_gather iotlb_gather;
	size_t ret;

	iommu_iotlb_gather_init(&iotlb_gather);
	ret = __iommu_unmap(d, iova, size, &iotlb_gather);
	iommu_iotlb_sync(d, &iotlb_gather);
	return ret;
}

/* __iommu_map: chunks of iommu_pgsize; on failure what this call mapped is unmapped again. */
static int iommu_map(struct arm_smmu_domain *d, unsigned long iova, phys_addr_t paddr, size_t size, int prot)
{
	unsigned long orig_iova = iova;
	unsigned int min_pagesz = 1 << __ffs(d->pgsize_bitmap);
	size_t orig_size = size;
	int ret = 0;

	if (!IS_ALIGNED(iova | paddr | size, min_pagesz))
		return -EINVAL;

	while (size) {
		size_t pgsize, count, mapped = 0;

		pgsize = iommu_pgsize(d, iova, paddr, size, &count);
		/* arm_smmu_map_pages */
		ret = d->pgtbl_ops->map_pages(d->pgtbl_ops, iova, paddr, pgsize, count, prot, GFP_KERNEL, &mapped);
		/* what was mapped counts even on an error: it is unmapped again below */
		size -= mapped;
		if (ret)
			break;
		iova += mapped;
		paddr += mapped;
	}

	/* on an error, what this call mapped is unmapped */
	if (ret)
		iommu_unmap(d, orig_iova, orig_size - size);
	return ret;
}

/* ---- iommufd (io_pagetable.c, ioas.c, hw_pagetable.c) ------------------------------ */

/* iopt_check_iova, then iopt_area_fill_domain (iommu_map) and the area is inserted. */
int iommufd_ioas_map(struct arm_smmu_domain *d, unsigned long iova, phys_addr_t paddr, size_t size, int prot)
{
	unsigned long last;
	struct iopt_area *v;
	int ret;

	if (!IS_ALIGNED(iova, SZ_4K) || !IS_ALIGNED(size, SZ_4K) || !size)
		return -EINVAL;
	last = iova + size - 1;
	/* an area there already: -EEXIST */
	for (int i = 0; i < d->nr_areas; i++)
		if (d->areas[i].iova <= last && iova <= d->areas[i].last)
			return -EEXIST;
	/* conv_iommu_prot: iommufd always maps with IOMMU_CACHE */
	ret = iommu_map(d, iova, paddr, size, prot | IOMMU_CACHE);
	if (ret)
		return ret;
	v = krealloc(d->areas, (d->nr_areas + 1) * sizeof(*v), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	d->areas = v;
	d->areas[d->nr_areas++] = (struct iopt_area){ iova, last, prot };
	return 0;
}

/* The areas lose [first, last]; an area cut in two keeps both ends. */
static void iopt_forget(struct arm_smmu_domain *d, unsigned long first, unsigned long last)
{
	struct iopt_area *out = kcalloc(d->nr_areas * 2 + 1, sizeof(*out), GFP_KERNEL);
	int n = 0;

	for (int i = 0; i < d->nr_areas; i++) {
		struct iopt_area a = d->areas[i];

		if (a.last < first || a.iova > last) {
			out[n++] = a;
			continue;
		}
		if (a.iova < first)
			out[n++] = (struct iopt_area){ a.iova, first - 1, a.iommu_prot };
		if (a.last > last)
			out[n++] = (struct iopt_area){ last + 1, a.last, a.iommu_prot };
	}
	kfree(d->areas);
	d->areas = out;
	d->nr_areas = n;
}

/* iommu_unmap over the range; unmap reads no dirty state. */
size_t iommufd_ioas_unmap(struct arm_smmu_domain *d, unsigned long iova, size_t size)
{
	size_t unmapped = iommu_unmap(d, iova, size);

	if (unmapped)
		iopt_forget(d, iova, iova + unmapped - 1);
	return unmapped;
}

/* iopt_clear_dirty_data: each area read and cleared with no bitmap, in IOVA order, then iommu_iotlb_sync. */
static int iopt_clear_dirty_data(struct arm_smmu_domain *d)
{
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	unsigned long from = 0;
	int ret = 0;

	iommu_dirty_bitmap_init(&dirty, NULL, &gather);
	for (;;) {
		struct iopt_area *next = NULL;

		for (int i = 0; i < d->nr_areas; i++)
			if (d->areas[i].iova >= from && (!next || d->areas[i].iova < next->iova))
				next = &d->areas[i];
		if (!next)
			break;
		/* arm_smmu_read_and_clear_dirty */
		ret = d->pgtbl_ops->read_and_clear_dirty(d->pgtbl_ops, next->iova, next->last - next->iova + 1, 0, &dirty);
		if (ret)
			break;
		if (next->last == ~0UL)
			break;
		from = next->last + 1;
	}
	iommu_iotlb_sync(d, &gather);
	return ret;
}

/*
 * iopt_set_dirty_tracking: -EOPNOTSUPP without dirty_ops; enabling first clears the
 * dirty state of every area; then arm_smmu_set_dirty_tracking, which returns 0 ("Always
 * enabled and the dirty bitmap is cleared prior to set_dirty_tracking()").
 */
int iommufd_hwpt_set_dirty_tracking(struct arm_smmu_domain *d, bool enable)
{
	int ret;

	if (!d->has_dirty_ops)
		return -EOPNOTSUPP;
	if (enable) {
		ret = iopt_clear_dirty_data(d);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * iommufd_hwpt_get_dirty_bitmap (only ..._NO_CLEAR is a known flag) ->
 * iopt_read_and_clear_dirty_data -> iommu_read_and_clear_dirty: the driver's walk into
 * the caller's bitmap, then iommu_iotlb_sync. -EOPNOTSUPP without dirty_ops; no check
 * that tracking is on (nothing records it).
 */
#ifndef KERNEL_UPSTREAM_IOMMUFD
int iommufd_hwpt_get_dirty_bitmap(struct arm_smmu_domain *d, unsigned long iova, size_t size, unsigned long flags, struct dirtyspec_bitmap *bitmap)
{
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	int ret;

	if (flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)
		return -EOPNOTSUPP;
	if (!d->has_dirty_ops)
		return -EOPNOTSUPP;
	iommu_dirty_bitmap_init(&dirty, bitmap, &gather);
	/* arm_smmu_read_and_clear_dirty */
	ret = d->pgtbl_ops->read_and_clear_dirty(d->pgtbl_ops, iova, size, flags, &dirty);
	iommu_iotlb_sync(d, &gather);
	return ret;
}
#else
/*
 * build/libkernel-upstream-iommufd.so: IOMMU_HWPT_GET_DIRTY_BITMAP as iommufd does it
 * (Linux v6.17 drivers/iommu/iommufd/io_pagetable.c, read at v6.17-rc4; the same since
 * the series merged in v6.7): iommufd_check_iova_range (-EOVERFLOW when iova + length - 1
 * overflows, -EINVAL when not page-aligned), then __iommu_read_and_clear_dirty calls the
 * driver once per area, over the part of the area in the range
 * (iopt_for_each_contig_area), and answers -EINVAL when the areas do not cover the range
 * (iopt_area_contig_done); iommu_read_and_clear_dirty drops that answer (it calls
 * iova_bitmap_for_each without keeping its result and returns 0), and syncs the IOTLB
 * only without IOMMU_DIRTY_NO_CLEAR.
 */
static int __iommu_read_and_clear_dirty(struct arm_smmu_domain *d, unsigned long iova, size_t length, unsigned long flags, struct iommu_dirty_bitmap *dirty)
{
	unsigned long last_iova = iova + length - 1;
	unsigned long cur = iova;
	bool done = false;
	int ret;

	/* iopt_for_each_contig_area: the areas from iova on, while each starts where the last ended */
	for (;;) {
		struct iopt_area *area = NULL;

		for (int i = 0; i < d->nr_areas; i++)
			if (d->areas[i].iova <= cur && cur <= d->areas[i].last)
				area = &d->areas[i];
		if (!area)
			break;
		unsigned long last = min(last_iova, area->last);

		/* arm_smmu_read_and_clear_dirty */
		ret = d->pgtbl_ops->read_and_clear_dirty(d->pgtbl_ops, cur, last - cur + 1, flags, dirty);
		if (ret)
			return ret;
		if (last == last_iova) {
			done = true;
			break;
		}
		cur = last + 1;
	}
	if (!done)
		return -EINVAL;
	return 0;
}

int iommufd_hwpt_get_dirty_bitmap(struct arm_smmu_domain *d, unsigned long iova, size_t size, unsigned long flags, struct dirtyspec_bitmap *bitmap)
{
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	u64 last_iova;

	if (flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)
		return -EOPNOTSUPP;
	/* iommufd_check_iova_range, iova_alignment and page_size 4 KiB */
	if (__builtin_add_overflow((u64)iova, (u64)size - 1, &last_iova))
		return -EOVERFLOW;
	if ((iova & (SZ_4K - 1)) || ((last_iova + 1) & (SZ_4K - 1)))
		return -EINVAL;
	/* iommu_read_and_clear_dirty */
	if (!d->has_dirty_ops)
		return -EOPNOTSUPP;
	iommu_dirty_bitmap_init(&dirty, bitmap, &gather);
	(void)__iommu_read_and_clear_dirty(d, iova, size, flags, &dirty);
	if (!(flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR))
		iommu_iotlb_sync(d, &gather);
	return 0;
}
#endif
