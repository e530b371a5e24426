// SPDX-License-Identifier: MIT
/*
 * An ARM LPAE stage-1 page table (4 KiB granule, 48-bit IOVA, levels 0 to 3) in the
 * manner of Linux drivers/iommu/io-pgtable-arm.c (v6.12: arm_lpae_map_pages,
 * __arm_lpae_unmap, arm_lpae_read_and_clear_dirty, __arm_lpae_iopte_walk_dirty), with the
 * block split and merge that page-granular dirty tracking needs. This is an example
 * written for dirtyspec, not the kernel's file; it is built with dirtyspec/linux.h, so
 * every descriptor access below is an access to the kit's memory, and the kit may let
 * the SMMU write between any two of them.
 *
 * Live leaves are only replaced with xchg or cmpxchg, or changed with the atomic bit
 * operations: the SMMU may set AF or clear AP[2] (dirty) at any time.
 */
#include "io-pgtable-arm.h"

/* The one line a kernel file changes (dirtyspec/linux.h): was `typedef u64 arm_lpae_iopte;`. */
typedef dirtyspec_word arm_lpae_iopte;

#define ARM_LPAE_MAX_LEVELS 4
#define ARM_LPAE_GRANULE SZ_4K
#define ARM_LPAE_PTES_PER_TABLE 512
#define ARM_LPAE_IAS 48

#define ARM_LPAE_LVL_SHIFT(l) (12 + 9 * (3 - (l)))
#define ARM_LPAE_BLOCK_SIZE(l) (1UL << ARM_LPAE_LVL_SHIFT(l))
#define ARM_LPAE_LVL_IDX(a, l) (((a) >> ARM_LPAE_LVL_SHIFT(l)) & (ARM_LPAE_PTES_PER_TABLE - 1))

#define ARM_LPAE_PTE_TYPE_MASK 3ULL
#define ARM_LPAE_PTE_TYPE_BLOCK 1ULL
#define ARM_LPAE_PTE_TYPE_TABLE 3ULL
#define ARM_LPAE_PTE_TYPE_PAGE 3ULL
#define ARM_LPAE_PTE_VALID BIT_ULL(0)
#define ARM_LPAE_PTE_AP_UNPRIV BIT_ULL(6)
#define ARM_LPAE_PTE_AP_RDONLY_BIT 7
#define ARM_LPAE_PTE_AP_RDONLY BIT_ULL(ARM_LPAE_PTE_AP_RDONLY_BIT)
#define ARM_LPAE_PTE_SH_IS (3ULL << 8)
#define ARM_LPAE_PTE_AF_BIT 10
#define ARM_LPAE_PTE_AF BIT_ULL(ARM_LPAE_PTE_AF_BIT)
#define ARM_LPAE_PTE_nG BIT_ULL(11)
#define ARM_LPAE_PTE_DBM BIT_ULL(51)
#define ARM_LPAE_PTE_ADDR_MASK GENMASK_ULL(47, 12)
/* What a merge needs equal in every page: all but the output address, AF, AP[2] and the type. */
#define ARM_LPAE_PTE_MERGE_MASK (~(ARM_LPAE_PTE_ADDR_MASK | ARM_LPAE_PTE_AF | ARM_LPAE_PTE_AP_RDONLY | ARM_LPAE_PTE_TYPE_MASK))

struct arm_lpae_io_pgtable {
	struct io_pgtable_cfg cfg;
	arm_lpae_iopte *pgd;
};

static bool iopte_valid(u64 pte)
{
	return pte & ARM_LPAE_PTE_VALID;
}

static bool iopte_table(u64 pte, int lvl)
{
	return lvl < ARM_LPAE_MAX_LEVELS - 1 && (pte & ARM_LPAE_PTE_TYPE_MASK) == ARM_LPAE_PTE_TYPE_TABLE;
}

/* io-pgtable-arm.c iopte_writeable_dirty: DBM set and AP[2] clear. */
static bool iopte_writeable_dirty(u64 pte)
{
	return (pte & (ARM_LPAE_PTE_AP_RDONLY | ARM_LPAE_PTE_DBM)) == ARM_LPAE_PTE_DBM;
}

static phys_addr_t iopte_to_paddr(u64 pte)
{
	return pte & ARM_LPAE_PTE_ADDR_MASK;
}

static arm_lpae_iopte *iopte_deref(u64 pte)
{
	return (arm_lpae_iopte *)__va(iopte_to_paddr(pte));
}

static arm_lpae_iopte *alloc_table(void)
{
	return (arm_lpae_iopte *)iommu_alloc_pages_sz(GFP_ATOMIC, SZ_4K);
}

static bool range_ok(u64 iova, u64 size)
{
	return size != 0 && iova < (1ULL << ARM_LPAE_IAS) && size <= (1ULL << ARM_LPAE_IAS) - iova;
}

static void tlb_flush(struct arm_lpae_io_pgtable *data, unsigned long iova, size_t size)
{
	data->cfg.tlb->tlb_flush_walk(iova, size, data->cfg.cookie);
}

/* arm_lpae_prot_to_pte + arm_lpae_init_pte for a leaf at `lvl`. */
static u64 arm_lpae_prot_to_pte(struct arm_lpae_io_pgtable *data, int prot, int lvl, phys_addr_t paddr)
{
	u64 pte = lvl == ARM_LPAE_MAX_LEVELS - 1 ? ARM_LPAE_PTE_TYPE_PAGE : ARM_LPAE_PTE_TYPE_BLOCK;

	pte |= ARM_LPAE_PTE_nG | ARM_LPAE_PTE_AP_UNPRIV | ARM_LPAE_PTE_SH_IS | ARM_LPAE_PTE_AF;
	if (!(prot & IOMMU_WRITE))
		pte |= ARM_LPAE_PTE_AP_RDONLY;
	else if (data->cfg.quirks & IO_PGTABLE_QUIRK_ARM_HD)
		pte |= ARM_LPAE_PTE_DBM; /* writable-dirty from the start */
	return pte | paddr;
}

static bool table_empty(arm_lpae_iopte *table, int lvl)
{
	for (int i = 0; i < ARM_LPAE_PTES_PER_TABLE; i++) {
		arm_lpae_iopte pte = READ_ONCE(table[i]);

		if (iopte_valid(pte) && !(iopte_table(pte, lvl) && table_empty(iopte_deref(pte), lvl + 1)))
			return false;
	}
	return true;
}

static void free_table(arm_lpae_iopte *table, int lvl)
{
	for (int i = 0; i < ARM_LPAE_PTES_PER_TABLE && lvl < ARM_LPAE_MAX_LEVELS - 1; i++) {
		arm_lpae_iopte pte = READ_ONCE(table[i]);

		if (iopte_table(pte, lvl))
			free_table(iopte_deref(pte), lvl + 1);
	}
	iommu_free_pages(table);
}

/*
 * __arm_lpae_map for one leaf: walk down, installing missing tables with cmpxchg
 * (arm_lpae_install_table), then write the leaf into the invalid entry.
 */
static int install_leaf(struct arm_lpae_io_pgtable *data, unsigned long iova, int target, u64 leaf)
{
	arm_lpae_iopte *table = data->pgd;
	arm_lpae_iopte *ptep;
	u64 pte, old;

	for (int lvl = 0; lvl < target; lvl++) {
		ptep = table + ARM_LPAE_LVL_IDX(iova, lvl);
		pte = READ_ONCE(*ptep);
		if (!iopte_valid(pte)) {
			arm_lpae_iopte *cptep = alloc_table();
			u64 new_pte;

			if (!cptep)
				return -ENOMEM;
			new_pte = __pa(cptep) | ARM_LPAE_PTE_TYPE_TABLE;
			old = cmpxchg64_relaxed(ptep, 0ULL, new_pte);
			if (old) {
				iommu_free_pages(cptep);
				pte = old;
			} else {
				pte = new_pte;
			}
		}
		if (!iopte_table(pte, lvl))
			return -EEXIST; /* a block covers this range already */
		table = iopte_deref(pte);
	}
	ptep = table + ARM_LPAE_LVL_IDX(iova, target);
	old = READ_ONCE(*ptep);
	if (iopte_table(old, target)) {
		/* A block replaces an empty table (arm_lpae_init_pte frees it); a table with leaves is -EEXIST. */
		if (!table_empty(iopte_deref(old), target + 1))
			return -EEXIST;
		WRITE_ONCE(*ptep, leaf);
		/* __arm_lpae_unmap: io_pgtable_tlb_flush_walk before the free, so no walk cache points at the table. */
		tlb_flush(data, iova & ~(ARM_LPAE_BLOCK_SIZE(target) - 1), ARM_LPAE_BLOCK_SIZE(target));
		free_table(iopte_deref(old), target + 1);
		return 0;
	}
	if (iopte_valid(old))
		return -EEXIST;
	WRITE_ONCE(*ptep, leaf); /* the entry is invalid: the SMMU cannot be updating it */
	return 0;
}

int arm_lpae_map(struct arm_lpae_io_pgtable *data, unsigned long iova, phys_addr_t paddr, size_t size, int prot)
{
	size_t done = 0;

	/*
	 * __iommu_map (iommu_map_nosync in later kernels): alignment (and size 0) first; arm_lpae_map_pages: an address past the
	 * input or output size, then prot; a range crossing 2^48 fails at a later chunk.
	 */
	if (!IS_ALIGNED(iova, SZ_4K) || !IS_ALIGNED(paddr, SZ_4K) || !IS_ALIGNED(size, SZ_4K) || size == 0)
		return -EINVAL;
	if (iova >= (1ULL << ARM_LPAE_IAS) || paddr >= (1ULL << ARM_LPAE_IAS))
		return -ERANGE;
	if (!(prot & (IOMMU_READ | IOMMU_WRITE)) || (prot & ~(IOMMU_READ | IOMMU_WRITE)))
		return -EINVAL;
	if (!range_ok(iova, size) || size > (1ULL << ARM_LPAE_IAS) - paddr)
		return -ERANGE;
	while (done < size) {
		unsigned long at = iova + done;
		phys_addr_t pa = paddr + done;
		int lvl = 3, ret;

		/* The biggest block that alignment and the remaining size allow. */
		for (int l = 1; l <= 2; l++) {
			size_t bsz = ARM_LPAE_BLOCK_SIZE(l);

			if (IS_ALIGNED(at, bsz) && IS_ALIGNED(pa, bsz) && size - done >= bsz) {
				lvl = l;
				break;
			}
		}
		ret = install_leaf(data, at, lvl, arm_lpae_prot_to_pte(data, prot, lvl, pa));
		if (ret) {
			if (done)
				arm_lpae_unmap(data, iova, done, NULL);
			return ret;
		}
		done += ARM_LPAE_BLOCK_SIZE(lvl);
	}
	return 0;
}

/* The entry for iova at the deepest level reached: a leaf, or an invalid entry. */
static arm_lpae_iopte *lookup(struct arm_lpae_io_pgtable *data, unsigned long iova, int *lvlp, u64 *ptep_val)
{
	arm_lpae_iopte *table = data->pgd;

	for (int lvl = 0;; lvl++) {
		arm_lpae_iopte *ptep = table + ARM_LPAE_LVL_IDX(iova, lvl);
		u64 pte = READ_ONCE(*ptep);

		if (!iopte_valid(pte) || !iopte_table(pte, lvl)) {
			*lvlp = lvl;
			*ptep_val = pte;
			return ptep;
		}
		table = iopte_deref(pte);
	}
}

/* Fill a new (not yet live) table with the pages or blocks of `blk`, one level down. */
static void fill_children(arm_lpae_iopte *table, u64 blk, int clvl)
{
	u64 attrs = blk & ~ARM_LPAE_PTE_TYPE_MASK & ~iopte_to_paddr(blk);
	u64 type = clvl == ARM_LPAE_MAX_LEVELS - 1 ? ARM_LPAE_PTE_TYPE_PAGE : ARM_LPAE_PTE_TYPE_BLOCK;
	phys_addr_t oa = iopte_to_paddr(blk);

	for (int i = 0; i < ARM_LPAE_PTES_PER_TABLE; i++)
		WRITE_ONCE(table[i], attrs | type | (oa + (u64)i * ARM_LPAE_BLOCK_SIZE(clvl)));
}

int arm_lpae_split_block(struct arm_lpae_io_pgtable *data, unsigned long iova)
{
	arm_lpae_iopte *ptep, *table;
	u64 blk, old, table_pte;
	unsigned long base;
	size_t size;
	int lvl;

	if (iova >= (1ULL << ARM_LPAE_IAS))
		return -EINVAL;
	ptep = lookup(data, iova, &lvl, &blk);
	if (!iopte_valid(blk))
		return -ENOENT;
	if (lvl == ARM_LPAE_MAX_LEVELS - 1)
		return -EINVAL;
	size = ARM_LPAE_BLOCK_SIZE(lvl);
	base = ALIGN_DOWN(iova, size);
	table = alloc_table();
	if (!table)
		return -ENOMEM;
	table_pte = __pa(table) | ARM_LPAE_PTE_TYPE_TABLE;
	if (data->cfg.bbml) {
		/* 1. The new table from the block as read; it is not live yet. */
		fill_children(table, blk, lvl + 1);
#ifndef DIRTYSPEC_FAULT
		/* 2. Swap it in and see what the block really was by then. */
		old = xchg_relaxed(ptep, table_pte);
#else
		/*
		 * DELIBERATE FAULT (make's faulty build): the table goes in with a plain store,
		 * as if nothing could have changed the block since it was read. A DMA write
		 * between the read and this store clears AP[2] in the block, and the store
		 * throws that dirty state away: a lost dirty page.
		 */
		WRITE_ONCE(*ptep, table_pte);
		old = blk;
#endif
		/* 3. Carry to every page what the SMMU did to the block in between. */
		if (old != blk) {
			bool set_af = (old & ARM_LPAE_PTE_AF) && !(blk & ARM_LPAE_PTE_AF);
			bool set_dirty = iopte_writeable_dirty(old) && !iopte_writeable_dirty(blk);

			for (int i = 0; i < ARM_LPAE_PTES_PER_TABLE && (set_af || set_dirty); i++) {
				if (set_af)
					set_bit(ARM_LPAE_PTE_AF_BIT, &table[i]);
				if (set_dirty)
					clear_bit(ARM_LPAE_PTE_AP_RDONLY_BIT, &table[i]);
			}
		}
		/* 4. Drop the cached translation of the block. */
		tlb_flush(data, base, size);
	} else {
		/* Break-before-make: invalidate, flush, build from the now stable value, install. */
		old = xchg_relaxed(ptep, 0ULL);
		tlb_flush(data, base, size);
		fill_children(table, old, lvl + 1);
		WRITE_ONCE(*ptep, table_pte);
	}
	return 0;
}

size_t arm_lpae_unmap(struct arm_lpae_io_pgtable *data, unsigned long iova, size_t size, struct iommu_dirty_bitmap *dirty)
{
	unsigned long at = iova, end = iova + size;
	size_t unmapped = 0;

	if (!range_ok(iova, size) || !IS_ALIGNED(iova, SZ_4K) || !IS_ALIGNED(size, SZ_4K))
		return 0;
	while (at < end) {
		u64 pte, old;
		int lvl;
		arm_lpae_iopte *ptep = lookup(data, at, &lvl, &pte);
		size_t lsz = ARM_LPAE_BLOCK_SIZE(lvl);

		if (!iopte_valid(pte)) {
			at = ALIGN_DOWN(at, lsz) + lsz; /* a hole: the next entry at this level */
			continue;
		}
		if (!IS_ALIGNED(at, lsz) || end - at < lsz) {
			/* The range covers part of a block: split it, then look again. */
			if (arm_lpae_split_block(data, at))
				return unmapped;
			continue;
		}
		/* xchg, so that dirty state the SMMU set up to the last moment is seen. */
		old = xchg_relaxed(ptep, 0ULL);
		if (dirty && iopte_writeable_dirty(old))
			iommu_dirty_bitmap_record(dirty, at, lsz);
		unmapped += lsz;
		at += lsz;
	}
	tlb_flush(data, iova, size);
	return unmapped;
}

/* The block the pages of `table` merge into (clean), or 0 if they cannot merge. */
static u64 merged_block(arm_lpae_iopte *table, u64 child0, int lvl)
{
	int clvl = lvl + 1;
	phys_addr_t oa = iopte_to_paddr(child0);
	u64 attrs, blk;

	if (!iopte_valid(child0) || iopte_table(child0, clvl) || !IS_ALIGNED(oa, ARM_LPAE_BLOCK_SIZE(lvl)))
		return 0;
	attrs = child0 & ARM_LPAE_PTE_MERGE_MASK;
	/* Without DBM, AP[2] is the permission (read-only or writable), not dirty state: it must agree too. */
	u64 perm = (child0 & ARM_LPAE_PTE_DBM) ? 0 : ARM_LPAE_PTE_AP_RDONLY;
	for (int i = 1; i < ARM_LPAE_PTES_PER_TABLE; i++) {
		u64 c = READ_ONCE(table[i]);

		if (!iopte_valid(c) || iopte_table(c, clvl) || (c & ARM_LPAE_PTE_MERGE_MASK) != attrs || (c & perm) != (child0 & perm) ||
		    iopte_to_paddr(c) != oa + (u64)i * ARM_LPAE_BLOCK_SIZE(clvl))
			return 0;
	}
	blk = attrs | (child0 & ARM_LPAE_PTE_AF) | ARM_LPAE_PTE_TYPE_BLOCK | oa;
	/* A DBM page starts the block clean; a read-only one keeps AP[2]. */
	if (child0 & (ARM_LPAE_PTE_DBM | ARM_LPAE_PTE_AP_RDONLY))
		blk |= ARM_LPAE_PTE_AP_RDONLY;
	return blk;
}

static bool any_child_dirty(arm_lpae_iopte *table)
{
	for (int i = 0; i < ARM_LPAE_PTES_PER_TABLE; i++)
		if (iopte_writeable_dirty(READ_ONCE(table[i])))
			return true;
	return false;
}

int arm_lpae_merge_pages(struct arm_lpae_io_pgtable *data, unsigned long iova, int level)
{
	arm_lpae_iopte *table = data->pgd, *ptep = NULL;
	u64 pte = 0, blk;
	unsigned long base;
	size_t size;

	if (level != 1 && level != 2)
		return -EINVAL;
	if (iova >= (1ULL << ARM_LPAE_IAS))
		return -EINVAL;
	for (int l = 0; l <= level; l++) {
		ptep = table + ARM_LPAE_LVL_IDX(iova, l);
		pte = READ_ONCE(*ptep);
		if (!iopte_valid(pte))
			return -ENOENT;
		if (!iopte_table(pte, l))
			return l == level ? -EINVAL : -ENOENT;
		table = iopte_deref(pte);
	}
	size = ARM_LPAE_BLOCK_SIZE(level);
	base = ALIGN_DOWN(iova, size);
	blk = merged_block(table, READ_ONCE(table[0]), level);
	if (!blk)
		return -EINVAL;
	if (data->cfg.bbml) {
		/* Swap the block in, flush the pages' translations, then fold in their dirty state. */
		xchg_relaxed(ptep, blk);
		tlb_flush(data, base, size);
		if (any_child_dirty(table))
			clear_bit(ARM_LPAE_PTE_AP_RDONLY_BIT, ptep);
	} else {
		xchg_relaxed(ptep, 0ULL);
		tlb_flush(data, base, size);
		WRITE_ONCE(*ptep, any_child_dirty(table) ? blk & ~ARM_LPAE_PTE_AP_RDONLY : blk);
	}
	iommu_free_pages(table);
	return 0;
}

/*
 * __arm_lpae_iopte_walk_dirty with io_pgtable_visit_dirty: every writable-dirty leaf overlapping
 * [start, end) is recorded whole; unless NO_CLEAR, one wholly inside the range is made
 * writable-clean (set AP[2], atomically) and gathered for the invalidation. A leaf
 * reaching outside the range is reported and left dirty (Linux clears it too, and loses
 * the dirty state of its pages outside the range).
 */
static void walk_dirty(arm_lpae_iopte *table, unsigned long table_base, int lvl, unsigned long start, unsigned long end, bool clear,
		       struct iommu_dirty_bitmap *dirty, struct iommu_iotlb_gather *gather)
{
	size_t lsz = ARM_LPAE_BLOCK_SIZE(lvl);
	unsigned long first = start > table_base ? (start - table_base) / lsz : 0;
	unsigned long limit = min(end, table_base + lsz * ARM_LPAE_PTES_PER_TABLE);
	unsigned long last = (limit - 1 - table_base) / lsz;

	for (unsigned long i = first; i <= last && i < ARM_LPAE_PTES_PER_TABLE; i++) {
		u64 pte = READ_ONCE(table[i]);
		unsigned long at = table_base + i * lsz;

		if (!iopte_valid(pte))
			continue;
		if (iopte_table(pte, lvl)) {
			walk_dirty(iopte_deref(pte), at, lvl + 1, start, end, clear, dirty, gather);
			continue;
		}
		if (!iopte_writeable_dirty(pte))
			continue;
		if (dirty)
			iommu_dirty_bitmap_record(dirty, at, lsz);
		if (clear && at >= start && at + lsz <= end) {
			set_bit(ARM_LPAE_PTE_AP_RDONLY_BIT, &table[i]);
			iommu_iotlb_gather_add_range(gather, at, lsz);
		}
	}
}

int arm_lpae_read_and_clear_dirty(struct arm_lpae_io_pgtable *data, unsigned long iova, size_t size, unsigned long flags, struct iommu_dirty_bitmap *dirty)
{
	struct iommu_iotlb_gather gather;

	if (!range_ok(iova, size))
		return -EINVAL;
	if (flags & ~IOMMU_DIRTY_NO_CLEAR)
		return -EINVAL;
	iommu_iotlb_gather_init(&gather);
	walk_dirty(data->pgd, 0, 0, iova, iova + size, !(flags & IOMMU_DIRTY_NO_CLEAR), dirty, &gather);
	/* One invalidation over what was cleared, then CMD_SYNC, before returning. */
	if (!iommu_iotlb_gather_empty(&gather))
		tlb_flush(data, gather.start, gather.end - gather.start + 1);
	return 0;
}

static int split_list_push(struct arm_lpae_split_list *list, unsigned long iova, int level)
{
	if (list->n == list->cap) {
		int cap = list->cap ? list->cap * 2 : 16;
		struct arm_lpae_split *v = krealloc(list->v, cap * sizeof(*v), GFP_KERNEL);

		if (!v)
			return -ENOMEM;
		list->v = v;
		list->cap = cap;
	}
	list->v[list->n].iova = iova;
	list->v[list->n].level = level;
	list->n++;
	return 0;
}

/* Splits every block at level `target` under `table`, recording each split. */
static int split_all_in(struct arm_lpae_io_pgtable *data, arm_lpae_iopte *table, unsigned long table_base, int lvl, int target,
			struct arm_lpae_split_list *list)
{
	size_t lsz = ARM_LPAE_BLOCK_SIZE(lvl);

	for (int i = 0; i < ARM_LPAE_PTES_PER_TABLE; i++) {
		u64 pte = READ_ONCE(table[i]);
		unsigned long at = table_base + (unsigned long)i * lsz;
		int ret;

		if (!iopte_valid(pte))
			continue;
		if (iopte_table(pte, lvl)) {
			if (lvl < target && (ret = split_all_in(data, iopte_deref(pte), at, lvl + 1, target, list)))
				return ret;
			continue;
		}
		if (lvl == target && arm_lpae_split_block(data, at) == 0 && (ret = split_list_push(list, at, lvl)))
			return ret;
	}
	return 0;
}

/* Every block to pages, level 1 first, then level 2: what enabling page-granular tracking splits. */
int arm_lpae_split_all_blocks(struct arm_lpae_io_pgtable *data, struct arm_lpae_split_list *list)
{
	int ret;

	for (int level = 1; level <= 2; level++)
		if ((ret = split_all_in(data, data->pgd, 0, 0, level, list)))
			return ret;
	return 0;
}

static void mark_dirty_in(arm_lpae_iopte *table, int lvl)
{
	for (int i = 0; i < ARM_LPAE_PTES_PER_TABLE; i++) {
		u64 pte = READ_ONCE(table[i]);

		if (!iopte_valid(pte))
			continue;
		if (iopte_table(pte, lvl))
			mark_dirty_in(iopte_deref(pte), lvl + 1);
		else if ((pte & ARM_LPAE_PTE_DBM) && (pte & ARM_LPAE_PTE_AP_RDONLY))
			clear_bit(ARM_LPAE_PTE_AP_RDONLY_BIT, &table[i]);
	}
}

void arm_lpae_mark_all_writeable_dirty(struct arm_lpae_io_pgtable *data)
{
	mark_dirty_in(data->pgd, 0);
}

phys_addr_t arm_lpae_pgd(struct arm_lpae_io_pgtable *data)
{
	return __pa(data->pgd);
}

struct arm_lpae_io_pgtable *arm_lpae_alloc_pgtable(const struct io_pgtable_cfg *cfg)
{
	struct arm_lpae_io_pgtable *data = kzalloc(sizeof(*data), GFP_KERNEL);

	if (!data)
		return NULL;
	data->cfg = *cfg;
	data->pgd = alloc_table();
	if (!data->pgd) {
		kfree(data);
		return NULL;
	}
	return data;
}

/* The tables are the kit's: they go with its memory at the end of the sequence. */
void arm_lpae_free_pgtable(struct arm_lpae_io_pgtable *data)
{
	kfree(data);
}
