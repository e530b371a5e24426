// SPDX-License-Identifier: MIT
/*
 * The domain operations around io-pgtable-arm.c, in the manner of Linux
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (v6.12: arm_smmu_attach_dev, the CD
 * writes, arm_smmu_set_dirty_tracking, arm_smmu_tlb_inv_range_domain) and
 * drivers/iommu/iommufd/io_pagetable.c (iopt_set_dirty_tracking, which clears stale
 * dirty state before tracking starts). The SMMU is the kit's: its ID registers come
 * with the domain, its command queue is the kit's submit callback.
 */
#include "arm-smmu-domain.h"

/* ARM IHI 0070 E.a §6.3.1: SMMU_IDR0.HTTU, bits 7:6; §6.3.4: SMMU_IDR3.BBML, bits 12:11. */
#define IDR0_HTTU GENMASK(7, 6)
#define IDR0_HTTU_ACCESS_DIRTY 2
#define IDR3_BBML GENMASK(12, 11)

/* arm-smmu-v3.h: context descriptor word 0 and word 1 (ARM IHI 0070 E.a §5.4). */
#define CTXDESC_CD_0_TCR_T0SZ GENMASK_ULL(5, 0)
#define CTXDESC_CD_0_TCR_IPS GENMASK_ULL(34, 32)
#define CTXDESC_CD_0_V BIT_ULL(31)
#define CTXDESC_CD_0_AA64 BIT_ULL(41)
#define CTXDESC_CD_0_TCR_HD_BIT 42
#define CTXDESC_CD_0_TCR_HA_BIT 43
#define CTXDESC_CD_0_TCR_HD BIT_ULL(CTXDESC_CD_0_TCR_HD_BIT)
#define CTXDESC_CD_0_TCR_HA BIT_ULL(CTXDESC_CD_0_TCR_HA_BIT)
#define CTXDESC_CD_0_ASID GENMASK_ULL(63, 48)
#define CTXDESC_CD_1_TTB0_MASK GENMASK_ULL(51, 4)

#define IOVA_LIMIT (1ULL << 48)

struct arm_smmu_stream {
	u32 sid;
	__le64 *cdptr;
};

struct arm_smmu_domain {
	struct arm_lpae_io_pgtable *pgtbl;
	struct io_pgtable_cfg cfg;
	u32 asid, idr0, idr3;
	bool dirty_capable, page_granular, tracking;
	struct arm_smmu_stream *streams;
	int nr_streams;
	struct arm_lpae_split_list split;
};

static void arm_smmu_cmdq_issue(const struct dirtyspec_cmd *cmds, u32 n)
{
	dirtyspec_current->submit(dirtyspec_current->ctx, cmds, n);
}

/* arm_smmu_tlb_inv_range_domain: CMD_TLBI_NH_VA over the range, then CMD_SYNC. */
static void arm_smmu_tlb_inv_walk(unsigned long iova, size_t size, void *cookie)
{
	struct arm_smmu_domain *d = (struct arm_smmu_domain *)cookie;
	struct dirtyspec_cmd cmds[2] = {};

	cmds[0].op = DIRTYSPEC_CMD_TLBI_NH_VA;
	cmds[0].asid = d->asid;
	cmds[0].iova = iova;
	cmds[0].size = size;
	cmds[1].op = DIRTYSPEC_CMD_SYNC;
	arm_smmu_cmdq_issue(cmds, 2);
}

static const struct iommu_flush_ops arm_smmu_flush_ops = { arm_smmu_tlb_inv_walk };

/* arm_smmu_tlb_inv_context: CMD_TLBI_NH_ASID, then CMD_SYNC. */
static void arm_smmu_tlb_inv_context(struct arm_smmu_domain *d)
{
	struct dirtyspec_cmd cmds[2] = {};

	cmds[0].op = DIRTYSPEC_CMD_TLBI_NH_ASID;
	cmds[0].asid = d->asid;
	cmds[1].op = DIRTYSPEC_CMD_SYNC;
	arm_smmu_cmdq_issue(cmds, 2);
}

struct arm_smmu_domain *arm_smmu_domain_alloc(u32 asid, u32 idr0, u32 idr3, bool dirty_capable, bool page_granular)
{
	struct arm_smmu_domain *d = kzalloc(sizeof(*d), GFP_KERNEL);

	if (!d)
		return NULL;
	d->asid = asid;
	d->idr0 = idr0;
	d->idr3 = idr3;
	d->dirty_capable = dirty_capable;
	d->page_granular = page_granular;
	/* IOMMU_HWPT_ALLOC_DIRTY_TRACKING gives the page table the HD quirk. */
	d->cfg.quirks = dirty_capable ? IO_PGTABLE_QUIRK_ARM_HD : 0;
	d->cfg.bbml = FIELD_GET(IDR3_BBML, idr3) != 0;
	d->cfg.tlb = &arm_smmu_flush_ops;
	d->cfg.cookie = d;
	d->pgtbl = arm_lpae_alloc_pgtable(&d->cfg);
	if (!d->pgtbl) {
		kfree(d);
		return NULL;
	}
	return d;
}

/* The CDs and tables are the kit's memory: they end with its sequence. */
void arm_smmu_domain_free(struct arm_smmu_domain *d)
{
	arm_lpae_free_pgtable(d->pgtbl);
	kfree(d->streams);
	kfree(d->split.v);
	kfree(d);
}

int arm_smmu_map(struct arm_smmu_domain *d, unsigned long iova, phys_addr_t paddr, size_t size, int prot)
{
	return arm_lpae_map(d->pgtbl, iova, paddr, size, prot);
}

size_t arm_smmu_unmap(struct arm_smmu_domain *d, unsigned long iova, size_t size, struct iommu_dirty_bitmap *dirty)
{
	return arm_lpae_unmap(d->pgtbl, iova, size, dirty);
}

int arm_smmu_split_block(struct arm_smmu_domain *d, unsigned long iova)
{
	return arm_lpae_split_block(d->pgtbl, iova);
}

int arm_smmu_merge_pages(struct arm_smmu_domain *d, unsigned long iova, int level)
{
	return arm_lpae_merge_pages(d->pgtbl, iova, level);
}

/* iommufd's IOMMU_HWPT_GET_DIRTY_BITMAP reaches the driver only while tracking is on. */
int arm_smmu_read_and_clear_dirty(struct arm_smmu_domain *d, unsigned long iova, size_t size, unsigned long flags, struct iommu_dirty_bitmap *dirty)
{
	if (!d->tracking)
		return -EINVAL;
	return arm_lpae_read_and_clear_dirty(d->pgtbl, iova, size, flags, dirty);
}

/* Writes the stream's CD (HA and HD while tracking) and points its STE at it. */
int arm_smmu_attach_dev(struct arm_smmu_domain *d, u32 sid)
{
	struct arm_smmu_stream *s = NULL;
	struct dirtyspec_cmd cmds[2] = {};
	u64 cd0;

	for (int i = 0; i < d->nr_streams; i++)
		if (d->streams[i].sid == sid)
			s = &d->streams[i];
	if (!s) {
		struct arm_smmu_stream *v = krealloc(d->streams, (d->nr_streams + 1) * sizeof(*v), GFP_KERNEL);
		__le64 *cdptr;

		if (!v)
			return -ENOMEM;
		d->streams = v;
		cdptr = (__le64 *)iommu_alloc_pages_sz(GFP_KERNEL, SZ_4K);
		if (!cdptr)
			return -ENOMEM;
		s = &d->streams[d->nr_streams++];
		s->sid = sid;
		s->cdptr = cdptr;
	}
	cd0 = CTXDESC_CD_0_V | CTXDESC_CD_0_AA64 | FIELD_PREP(CTXDESC_CD_0_TCR_T0SZ, 64 - 48) | FIELD_PREP(CTXDESC_CD_0_TCR_IPS, 5) |
	      FIELD_PREP(CTXDESC_CD_0_ASID, d->asid);
	if (d->tracking)
		cd0 |= CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD;
	/* Word 1 (the table) before word 0 (valid), as arm_smmu_write_cd_entry orders them. */
	WRITE_ONCE(s->cdptr[1], cpu_to_le64(arm_lpae_pgd(d->pgtbl) & CTXDESC_CD_1_TTB0_MASK));
	WRITE_ONCE(s->cdptr[0], cpu_to_le64(cd0));
	dirtyspec_current->attach_stream(dirtyspec_current->ctx, sid, __pa(s->cdptr));
	cmds[0].op = DIRTYSPEC_CMD_CFGI_CD;
	cmds[0].stream_id = sid;
	cmds[1].op = DIRTYSPEC_CMD_SYNC;
	arm_smmu_cmdq_issue(cmds, 2);
	return 0;
}

/* HA and HD in every CD of the domain, then CMD_CFGI_CD for each and one CMD_SYNC. */
static int arm_smmu_set_ha_hd(struct arm_smmu_domain *d, bool on)
{
	struct dirtyspec_cmd *cmds = kcalloc(d->nr_streams + 1, sizeof(*cmds), GFP_KERNEL);

	if (!cmds)
		return -ENOMEM;
	for (int i = 0; i < d->nr_streams; i++) {
		if (on) {
			set_bit(CTXDESC_CD_0_TCR_HA_BIT, &d->streams[i].cdptr[0]);
			set_bit(CTXDESC_CD_0_TCR_HD_BIT, &d->streams[i].cdptr[0]);
		} else {
			clear_bit(CTXDESC_CD_0_TCR_HA_BIT, &d->streams[i].cdptr[0]);
			clear_bit(CTXDESC_CD_0_TCR_HD_BIT, &d->streams[i].cdptr[0]);
		}
		cmds[i].op = DIRTYSPEC_CMD_CFGI_CD;
		cmds[i].stream_id = d->streams[i].sid;
	}
	cmds[d->nr_streams].op = DIRTYSPEC_CMD_SYNC;
	arm_smmu_cmdq_issue(cmds, d->nr_streams + 1);
	kfree(cmds);
	return 0;
}

/*
 * IOMMU_HWPT_SET_DIRTY_TRACKING. On: HA/HD in every CD before any leaf is made clean,
 * clear the stale dirty state of the whole domain, invalidate the ASID, then (page
 * granular) split every block. Off: merge back what was split, deepest first, make
 * every DBM leaf writable-dirty (without HD nothing would record a write), invalidate,
 * then HA/HD off.
 */
int arm_smmu_set_dirty_tracking(struct arm_smmu_domain *d, bool enable)
{
	int ret;

	if (enable == d->tracking)
		return 0;
	if (enable) {
		if (!d->dirty_capable || FIELD_GET(IDR0_HTTU, d->idr0) != IDR0_HTTU_ACCESS_DIRTY)
			return -EOPNOTSUPP;
		if ((ret = arm_smmu_set_ha_hd(d, true)))
			return ret;
		arm_lpae_read_and_clear_dirty(d->pgtbl, 0, IOVA_LIMIT, 0, NULL);
		arm_smmu_tlb_inv_context(d);
		if (d->page_granular && (ret = arm_lpae_split_all_blocks(d->pgtbl, &d->split)))
			return ret;
		d->tracking = true;
		return 0;
	}
	if (d->page_granular) {
		for (int i = d->split.n - 1; i >= 0; i--)
			arm_lpae_merge_pages(d->pgtbl, d->split.v[i].iova, d->split.v[i].level);
		d->split.n = 0;
	}
	arm_lpae_mark_all_writeable_dirty(d->pgtbl);
	arm_smmu_tlb_inv_context(d);
	if ((ret = arm_smmu_set_ha_hd(d, false)))
		return ret;
	d->tracking = false;
	return 0;
}
