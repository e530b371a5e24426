/*
 * A VFIO type1 container, after Linux drivers/vfio/vfio_iommu_type1.c, with the uAPI of
 * include/uapi/linux/vfio.h and the dirty-log manual-clear extension as the spec fixes it
 * (spec/vfio/type1-machine.ts: GET_BITMAP reads and clears, GET_BITMAP_NOCLEAR only
 * reads, CLEAR_BITMAP clears exactly the pages whose bits are set).
 *
 * Each successful MAP_DMA is one `struct vfio_dma`, never merged with its neighbours,
 * kept sorted by IOVA (the kernel keeps them in an rb-tree, iommu->dma_list).
 *
 * Dirty state. The kernel's type1 keeps a bitmap per vfio_dma (vfio_dma_bitmap_alloc)
 * filled from pinned pages; here the device sits behind an IOMMU that records dirty
 * state in hardware (SMMUv3 HTTU), so the per-vfio_dma bitmap stands for the dirty bits
 * of its 4 KiB leaf descriptors:
 *   - it exists while tracking is on with hardware dirty tracking (allocated at START,
 *     or at MAP_DMA while tracking, as vfio_dma_bitmap_alloc is), and is dropped at STOP;
 *   - START begins with every page clean (the driver clears stale dirty state);
 *   - a page mapped while tracking starts dirty: the Arm io-pgtable gives writable leaves
 *     DBM with AP[2] clear (arm_lpae_prot_to_pte with IO_PGTABLE_QUIRK_ARM_HD), which the
 *     hardware reads as writable-dirty;
 *   - a device write through a writable mapping sets its page's bit;
 *   - read-only mappings never become dirty.
 * Without hardware dirty tracking every mapped page is reported dirty on every report,
 * as type1 does while a group has no pinned-page scope (update_user_bitmap with
 * iommu->num_non_pinned_groups; VFIO-DIRTY-14).
 *
 * Departures the spec makes too: no VFIO_UPDATE_VADDR (MAP and UNMAP with VADDR are
 * -EINVAL, as before v5.12); vaddr stands for the address the pages are pinned at;
 * argsz and copy_{from,to}_user are not modelled (a CLEAR_BITMAP data array shorter than
 * the range reads as zeros).
 */
#include "vfio_type1.h"

/*
 * Build options for the uAPI offered (the kit asks VFIO_CHECK_EXTENSION and holds the
 * container to its answers):
 *   -DVFIO_TYPE1_NO_MANUAL_CLEAR  no manual clear, as upstream Linux (which never merged
 *                                 the RFC): CHECK_EXTENSION(11) is 0 and GET_BITMAP_NOCLEAR
 *                                 and CLEAR_BITMAP stay outside the flag mask;
 *   -DVFIO_TYPE1_BEFORE_V5_12     no VFIO_UNMAP_ALL: CHECK_EXTENSION(9) is 0 and UNMAP_DMA's
 *                                 mask is GET_DIRTY_BITMAP alone (Linux before c19650995374).
 */
#ifdef VFIO_TYPE1_NO_MANUAL_CLEAR
#define OFFERS_MANUAL_CLEAR 0
#else
#define OFFERS_MANUAL_CLEAR 1
#endif
#ifdef VFIO_TYPE1_BEFORE_V5_12
#define OFFERS_UNMAP_ALL 0
#else
#define OFFERS_UNMAP_ALL 1
#endif

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The Arm LPAE 4 KiB-granule page sizes: 4 KiB pages, 2 MiB and 1 GiB blocks. */
#define PGSIZE_BITMAP (UINT64_C(0x1000) | UINT64_C(0x200000) | UINT64_C(0x40000000))
/* 1 << __ffs(pgsize_bitmap): the smallest page size, the only one dirty tracking uses. */
#define PGSIZE UINT64_C(0x1000)
/* The SMMU's 48-bit input addresses: the one valid IOVA range, and the pinnable vaddrs. */
#define IOVA_LIMIT (UINT64_C(1) << 48)
/* vfio_iommu_type1.c: bitmap_set() takes an int, so a bitmap has at most INT_MAX pages. */
#define DIRTY_BITMAP_PAGES_MAX ((uint64_t)INT_MAX)
/* DIRTY_BITMAP_BYTES(DIRTY_BITMAP_PAGES_MAX): 2^28 bytes, 8 TiB of IOVA at 4 KiB. */
#define DIRTY_BITMAP_SIZE_MAX (dirty_bitmap_bytes(DIRTY_BITMAP_PAGES_MAX))

struct vfio_dma {
	uint64_t iova, size, vaddr;
	uint32_t prot;
	/* One bit per page while hardware dirty tracking is on; NULL otherwise. */
	uint8_t *bitmap;
};

struct vfio_container {
	/* The vfio_dma list, sorted by iova. */
	struct vfio_dma *dmas;
	size_t count, cap;
	/* iommu->dma_avail: mappings still allowed. */
	uint32_t dma_avail;
	/* The IOMMU can record dirty state in hardware (HTTU). */
	bool hw_dirty;
	/* iommu->dirty_page_tracking, and whether it is the hardware's or the fallback. */
	bool tracking;
	bool hw_tracking;
	/* VFIO_DIRTY_LOG_MANUAL_CLEAR was negotiated. */
	bool manual_clear;
	/*
	 * The device's group is out of the container (VFIO_GROUP_UNSET_CONTAINER), an emulated
	 * group keeping it: without hardware tracking the dirty scope is then the bitmap's
	 * pages (vfio_dma_rw writes, and every page a detach while tracking marked), not every
	 * mapped page (num_non_pinned_groups 0).
	 */
	bool group_out;
};

/* DIRTY_BITMAP_BYTES(n): ALIGN(n, 64) / 8, without a sum that could wrap. */
static uint64_t dirty_bitmap_bytes(uint64_t npages)
{
	return (npages / 64 + (npages % 64 != 0)) * 8;
}

static void bitmap_set_bit(uint8_t *bitmap, uint64_t i)
{
	bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
}

static bool bitmap_test_bit(const uint8_t *bitmap, uint64_t i)
{
	return (bitmap[i / 8] >> (i % 8) & 1) != 0;
}

static void bitmap_clear_bit(uint8_t *bitmap, uint64_t i)
{
	bitmap[i / 8] &= (uint8_t)~(1u << (i % 8));
}

static uint64_t dma_last(const struct vfio_dma *d)
{
	return d->iova + d->size - 1;
}

/* Whether [iova, iova + size) runs past 2^64: iova + size - 1 < iova in u64. */
static bool range_wraps(uint64_t iova, uint64_t size)
{
	return size > 0 && size - 1 > UINT64_MAX - iova;
}

/*
 * VFIO_IOMMU_DIRTY_PAGES's check, range.iova + range.size < range.iova (no - 1): a range
 * ending exactly at 2^64 wraps too.
 */
static bool dirty_range_wraps(uint64_t iova, uint64_t size)
{
	return iova + size < iova;
}

/* __ffs(pgsize) as the ioctls use it to count pages (0 for 0, where upstream is undefined). */
static unsigned pgshift_of(uint64_t pgsize)
{
	unsigned s = 0;

	if (pgsize == 0)
		return 0;
	while ((pgsize >> s & 1) == 0)
		s++;
	return s;
}

/*
 * verify_bitmap_size(size >> pgshift, bitmap->size) without its npages == 0 clause (a
 * zero size is refused on its own): bytes non-zero, at most DIRTY_BITMAP_SIZE_MAX and
 * enough for the range (VFIO-UNMAP-4, VFIO-DIRTY-8).
 */
static bool bitmap_size_ok(uint64_t size, const struct vfio_bitmap *bitmap)
{
	const uint64_t npages = size >> pgshift_of(bitmap->pgsize);

	return bitmap->size > 0 && bitmap->size <= DIRTY_BITMAP_SIZE_MAX && bitmap->size >= dirty_bitmap_bytes(npages);
}

/*
 * The v2 "no bisection" rule (vfio_dma_do_unmap, vfio_iova_dirty_bitmap): the range
 * [iova, last] must not start or end strictly inside a mapping.
 */
static bool bisects(const struct vfio_container *c, uint64_t iova, uint64_t last)
{
	for (size_t i = 0; i < c->count; i++) {
		const struct vfio_dma *d = &c->dmas[i];

		if (d->iova < iova && iova <= dma_last(d))
			return true;
		if (d->iova <= last && last < dma_last(d))
			return true;
	}
	return false;
}

/* The mapping holding `iova` (vfio_find_dma), or NULL. */
static struct vfio_dma *find_dma(struct vfio_container *c, uint64_t iova)
{
	for (size_t i = 0; i < c->count; i++)
		if (c->dmas[i].iova <= iova && iova <= dma_last(&c->dmas[i]))
			return &c->dmas[i];
	return NULL;
}

/*
 * vfio_dma_bitmap_alloc for hardware dirty tracking: one bit per page. `dirty`: the
 * pages start dirty (a writable mapping made while tracking); read-only ones never are.
 */
static int dma_bitmap_alloc(struct vfio_dma *d, bool dirty)
{
	const uint64_t npages = d->size / PGSIZE;
	const size_t bytes = (size_t)dirty_bitmap_bytes(npages);

	d->bitmap = calloc(bytes > 0 ? bytes : 1, 1);
	if (d->bitmap == NULL)
		return -ENOMEM;
	if (dirty && (d->prot & VFIO_DMA_MAP_FLAG_WRITE) != 0) {
		/* Whole bytes at once: a mapping may have DIRTY_BITMAP_PAGES_MAX (2^31 - 1) pages. */
		memset(d->bitmap, 0xff, (size_t)(npages / 8));
		for (uint64_t i = npages & ~(uint64_t)7; i < npages; i++)
			bitmap_set_bit(d->bitmap, i);
	}
	return 0;
}

static void dma_bitmap_free(struct vfio_dma *d)
{
	free(d->bitmap);
	d->bitmap = NULL;
}

struct vfio_container *vfio_container_create(bool hw_dirty, uint32_t dma_entry_limit)
{
	struct vfio_container *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->dma_avail = dma_entry_limit;
	c->hw_dirty = hw_dirty;
	return c;
}

void vfio_container_free(struct vfio_container *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->count; i++)
		dma_bitmap_free(&c->dmas[i]);
	free(c->dmas);
	free(c);
}

uint64_t vfio_vaddr_limit(const struct vfio_container *c)
{
	(void)c;
	return IOVA_LIMIT;
}

/* vfio_iommu_type1_check_extension. */
int vfio_check_extension(struct vfio_container *c, int64_t extension)
{
	switch (extension) {
	case VFIO_DIRTY_LOG_MANUAL_CLEAR:
		/* Asking is negotiating (VFIO-CLEAR-1): NOCLEAR and CLEAR_BITMAP join the flag mask. */
		if (!OFFERS_MANUAL_CLEAR)
			return 0;
		c->manual_clear = true;
		return 1;
	case VFIO_UNMAP_ALL:
		return OFFERS_UNMAP_ALL;
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
		return 1;
	default:
		/* VFIO_UPDATE_VADDR (10) among them: not offered. */
		return 0;
	}
}

/* vfio_iommu_type1_get_info and vfio_iommu_migration_build_caps (VFIO-INFO-1). */
void vfio_get_info(const struct vfio_container *c, struct vfio_info *info)
{
	memset(info, 0, sizeof(*info));
	info->ret = 0;
	info->flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	info->iova_pgsizes = PGSIZE_BITMAP;
	info->migration_flags = 0;
	info->migration_pgsize_bitmap = PGSIZE; /* 1 << __ffs(iommu->pgsize_bitmap) */
	info->max_dirty_bitmap_size = DIRTY_BITMAP_SIZE_MAX;
	info->dma_avail = c->dma_avail;
	info->iova_start = 0;
	info->iova_end = IOVA_LIMIT - 1;
}

/*
 * VFIO_IOMMU_MAP_DMA (vfio_iommu_type1_map_dma, vfio_dma_do_map). The checks in the
 * spec's order (spec/vfio/type1-machine.ts, mapDma); where two give the same errno the
 * order does not show.
 */
int vfio_map_dma(struct vfio_container *c, uint32_t flags, uint64_t vaddr, uint64_t iova, uint64_t size)
{
	const uint32_t prot = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	struct vfio_dma d = { iova, size, vaddr, flags & prot, NULL };
	size_t at;

	/* 1. VFIO-MAP-1: READ and/or WRITE, nothing else (no VFIO_DMA_MAP_FLAG_VADDR here). */
	if ((flags & ~prot) != 0 || (flags & prot) == 0)
		return -EINVAL;
	/* 2. VFIO-MAP-2: if (!size || (size | iova | vaddr) & (pgsize - 1)) return -EINVAL; */
	if (size == 0 || ((size | iova | vaddr) & (PGSIZE - 1)) != 0)
		return -EINVAL;
	/* 3. VFIO-MAP-3: if (iova + size - 1 < iova || vaddr + size - 1 < vaddr) return -EINVAL; */
	if (range_wraps(iova, size) || range_wraps(vaddr, size))
		return -EINVAL;
	/* 4. VFIO-MAP-4: if (vfio_find_dma(iommu, iova, size)) return -EEXIST; */
	for (size_t i = 0; i < c->count; i++)
		if (c->dmas[i].iova <= iova + size - 1 && iova <= dma_last(&c->dmas[i]))
			return -EEXIST;
	/* 5. VFIO-MAP-5: if (!iommu->dma_avail) return -ENOSPC; */
	if (c->dma_avail == 0)
		return -ENOSPC;
	/* 6. VFIO-MAP-6: vfio_iommu_iova_dma_valid: inside the one IOVA range. */
	if (iova + size - 1 >= IOVA_LIMIT)
		return -EINVAL;
	/*
	 * 7. VFIO-MAP-7: vfio_pin_map_dma cannot pin past the process's memory: -EFAULT.
	 *    Compared by the last byte: vaddr + size is exactly 2^64 (0 in u64) for a range
	 *    ending at the top of the address space, which step 3 lets through.
	 */
	if (vaddr + size - 1 >= IOVA_LIMIT)
		return -EFAULT;
	/* 8. VFIO-MAP-8: while tracking, vfio_dma_bitmap_alloc must be able to cover it. */
	if (c->tracking && size / PGSIZE > DIRTY_BITMAP_PAGES_MAX)
		return -EINVAL;

	/* 9. VFIO-MAP-9: map, then link it into the list (vfio_link_dma). */
	if (c->count == c->cap) {
		size_t cap = c->cap == 0 ? 16 : c->cap * 2;
		struct vfio_dma *grown = realloc(c->dmas, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		c->dmas = grown;
		c->cap = cap;
	}
	/* With hardware tracking the new mapping may start dirty; without, its bitmap starts clean. */
	if (c->tracking && dma_bitmap_alloc(&d, c->hw_tracking) != 0)
		return -ENOMEM;
	for (at = 0; at < c->count && c->dmas[at].iova < iova; at++)
		;
	memmove(&c->dmas[at + 1], &c->dmas[at], (c->count - at) * sizeof(c->dmas[0]));
	c->dmas[at] = d;
	c->count++;
	c->dma_avail--;
	return 0;
}

/* Removes mapping `i` from the list (vfio_remove_dma). */
static void remove_dma(struct vfio_container *c, size_t i)
{
	dma_bitmap_free(&c->dmas[i]);
	memmove(&c->dmas[i], &c->dmas[i + 1], (c->count - i - 1) * sizeof(c->dmas[0]));
	c->count--;
	c->dma_avail++;
}

/*
 * ORs the dirty pages of mapping `d` into `out`, a bitmap whose bit 0 is the page at
 * `base`: every page without hardware tracking (VFIO-DIRTY-14), else the pages whose
 * bits are set. `clear`: those bits are cleared as they are read (read-and-clear).
 */
static void report_dma(const struct vfio_container *c, struct vfio_dma *d, uint8_t *out, uint64_t base, bool clear)
{
	const uint64_t npages = d->size / PGSIZE;
	const uint64_t first = (d->iova - base) / PGSIZE;

	for (uint64_t i = 0; i < npages; i++) {
		if (!c->hw_tracking && !c->group_out) {
			/* VFIO-DIRTY-14; a clearing report drops the bitmap's pages too. */
			bitmap_set_bit(out, first + i);
			if (clear && d->bitmap != NULL)
				bitmap_clear_bit(d->bitmap, i);
		} else if (d->bitmap != NULL && bitmap_test_bit(d->bitmap, i)) {
			bitmap_set_bit(out, first + i);
			if (clear)
				bitmap_clear_bit(d->bitmap, i);
		}
	}
}

static int new_report(struct dirty_report *report, uint64_t size)
{
	report->len = (size_t)dirty_bitmap_bytes(size / PGSIZE);
	report->bytes = calloc(report->len > 0 ? report->len : 1, 1);
	return report->bytes == NULL ? -ENOMEM : 0;
}

/*
 * VFIO_IOMMU_UNMAP_DMA (vfio_iommu_type1_unmap_dma, vfio_dma_do_unmap). The checks in
 * the spec's order (spec/vfio/type1-machine.ts, unmapDma); all refusals are -EINVAL.
 */
int vfio_unmap_dma(struct vfio_container *c, uint32_t flags, uint64_t iova, uint64_t size, const struct vfio_bitmap *bitmap, uint64_t *unmapped, struct dirty_report *report)
{
	const uint32_t known = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP |
			       (OFFERS_UNMAP_ALL ? VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR : 0);
	const bool get_dirty = (flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) != 0;
	const bool all = (flags & VFIO_DMA_UNMAP_FLAG_ALL) != 0;
	const bool vaddr = (flags & VFIO_DMA_UNMAP_FLAG_VADDR) != 0;
	uint64_t last;
	size_t i;

	*unmapped = 0;
	/* 1. VFIO-UNMAP-1..3: known flags; GET_DIRTY_BITMAP with neither ALL nor VADDR; no VADDR here. */
	if ((flags & ~known) != 0)
		return -EINVAL;
	if (get_dirty && (all || vaddr))
		return -EINVAL;
	if (vaddr)
		return -EINVAL;
	/* 2. VFIO-UNMAP-4: the user's bitmap can hold the range (verify_bitmap_size). */
	if (get_dirty && (bitmap == NULL || !bitmap_size_ok(size, bitmap)))
		return -EINVAL;
	/* 3. VFIO-UNMAP-5..7: iova aligned; ALL with iova and size 0; else size non-zero, aligned, no wrap. */
	if ((iova & (PGSIZE - 1)) != 0)
		return -EINVAL;
	if (all && (iova != 0 || size != 0))
		return -EINVAL;
	if (!all && (size == 0 || (size & (PGSIZE - 1)) != 0 || range_wraps(iova, size)))
		return -EINVAL;
	/*
	 * 4. VFIO-UNMAP-8, -9: a dirty bitmap only while tracking, at the smallest page size:
	 *    if (unmap->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP && (!iommu->dirty_page_tracking
	 *        || bitmap.pgsize != pgsize)) return -EINVAL;
	 */
	if (get_dirty && (!c->tracking || bitmap->pgsize != PGSIZE))
		return -EINVAL;
	/* 5. VFIO-UNMAP-10: no bisection (type1v2: "may not unmap a partial mapping"). */
	last = all ? UINT64_MAX : iova + size - 1;
	if (!all && bisects(c, iova, last))
		return -EINVAL;

	/*
	 * 6. VFIO-UNMAP-11, -12: unmap each mapping inside the range, recording its dirty pages
	 *    up to the moment it goes (update_user_bitmap before vfio_remove_dma), so a write
	 *    before the unmap is never lost (NOLOSS-3).
	 */
	if (get_dirty && new_report(report, size) != 0)
		return -ENOMEM;
	for (i = 0; i < c->count;) {
		struct vfio_dma *d = &c->dmas[i];

		if (!all && !(d->iova >= iova && dma_last(d) <= last)) {
			i++;
			continue;
		}
		if (get_dirty)
			report_dma(c, d, report->bytes, iova, true);
		*unmapped += d->size;
		remove_dma(c, i);
	}
	return 0;
}

/* START (VFIO-DIRTY-3, -4): hardware tracking if the IOMMU can, else the all-dirty fallback. */
static int start_tracking(struct vfio_container *c)
{
	if (c->tracking)
		return 0;
	/* vfio_dma_bitmap_alloc_all: no bitmap can hold more than INT_MAX pages. */
	for (size_t i = 0; i < c->count; i++)
		if (c->dmas[i].size / PGSIZE > DIRTY_BITMAP_PAGES_MAX)
			return -EINVAL;
	{
		/* Every page starts clean: the driver clears stale dirty state (TRACK-3); without
		 * hardware tracking the bitmap holds the pages dirtied through the container. */
		for (size_t i = 0; i < c->count; i++) {
			if (dma_bitmap_alloc(&c->dmas[i], false) != 0) {
				while (i-- > 0)
					dma_bitmap_free(&c->dmas[i]);
				return -ENOMEM;
			}
		}
	}
	c->hw_tracking = c->hw_dirty;
	c->tracking = true;
	return 0;
}

/* STOP (VFIO-DIRTY-5): what was not reported goes with the tracking. */
static int stop_tracking(struct vfio_container *c)
{
	for (size_t i = 0; i < c->count; i++)
		dma_bitmap_free(&c->dmas[i]);
	c->tracking = false;
	c->hw_tracking = false;
	return 0;
}

/*
 * CLEAR_BITMAP (VFIO-CLEAR-5, -6): for every mapping meeting the range, each page whose
 * bit is set in the user's bitmap is made clean; no other page loses its dirty state.
 * Pages outside any mapping, and bits past the data, are ignored. (With HTTU this is a
 * read-and-clear over each run of set bits followed by a TLB invalidation; here the
 * IOMMU is the bitmap, so clearing the bit is the whole of it.)
 */
static void clear_bitmap(struct vfio_container *c, uint64_t iova, uint64_t size, const struct vfio_bitmap *bitmap)
{
	const uint64_t last = iova + size - 1;

	for (size_t i = 0; i < c->count; i++) {
		struct vfio_dma *d = &c->dmas[i];
		const uint64_t from = d->iova > iova ? d->iova : iova;
		const uint64_t to = dma_last(d) < last ? dma_last(d) : last;

		for (uint64_t at = from; at <= to && from <= to; at += PGSIZE) {
			const uint64_t bit = (at - iova) / PGSIZE;

			if (bit / 8 < bitmap->data_len && bitmap_test_bit(bitmap->data, bit))
				bitmap_clear_bit(d->bitmap, (at - d->iova) / PGSIZE);
		}
	}
}

static unsigned popcount32(uint32_t x)
{
	unsigned n = 0;

	for (; x != 0; x &= x - 1)
		n++;
	return n;
}

/* VFIO_IOMMU_DIRTY_PAGES (vfio_iommu_type1_dirty_pages). */
int vfio_dirty_pages(struct vfio_container *c, uint32_t flags, bool has_range, uint64_t iova, uint64_t size, const struct vfio_bitmap *bitmap, struct dirty_report *report)
{
	const uint32_t manual = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR | VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP;
	const uint32_t mask = VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP | VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP | manual;
	bool noclear;

	/*
	 * 1. Flags: known (VFIO-DIRTY-1), the manual-clear ones only once negotiated
	 *    (VFIO-CLEAR-2), exactly one (VFIO-DIRTY-2).
	 */
	if ((flags & ~mask) != 0)
		return -EINVAL;
	if ((flags & manual) != 0 && !c->manual_clear)
		return -EINVAL;
	if (popcount32(flags) != 1)
		return -EINVAL;
	if (flags == VFIO_IOMMU_DIRTY_PAGES_FLAG_START)
		return start_tracking(c);
	if (flags == VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP)
		return stop_tracking(c);
	if (!has_range || bitmap == NULL)
		return VFIO_NEEDS_RANGE;

	/*
	 * 2. The range and the bitmap, in the kernel's order (VFIO-DIRTY-6..10):
	 *    if (iova + size < iova) return -EINVAL;       wraps (ending at 2^64 too)
	 *    if (!verify_bitmap_size(...)) return -EINVAL; size 0, bitmap too small or too large
	 *    if (range.bitmap.pgsize != pgsize) return -EINVAL;
	 *    if (iova & (pgsize - 1) || size & (pgsize - 1)) return -EINVAL;
	 */
	if (dirty_range_wraps(iova, size) || size == 0 || !bitmap_size_ok(size, bitmap) || bitmap->pgsize != PGSIZE)
		return -EINVAL;
	if (((iova | size) & (PGSIZE - 1)) != 0)
		return -EINVAL;
	/* 3. Only while tracking (VFIO-DIRTY-11, VFIO-CLEAR-3). */
	if (!c->tracking)
		return -EINVAL;
	if (flags == VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP) {
		/* No bisection check: QEMU clears 64-page slices of a mapping. */
		clear_bitmap(c, iova, size, bitmap);
		return 0;
	}
	/* 4. Whole mappings only (VFIO-DIRTY-12), then the report (VFIO-DIRTY-13, VFIO-CLEAR-4). */
	if (bisects(c, iova, iova + size - 1))
		return -EINVAL;
	if (new_report(report, size) != 0)
		return -ENOMEM;
	noclear = flags == VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR;
	for (size_t i = 0; i < c->count; i++) {
		struct vfio_dma *d = &c->dmas[i];

		if (d->iova >= iova && dma_last(d) <= iova + size - 1)
			report_dma(c, d, report->bytes, iova, !noclear);
	}
	return 0;
}

/*
 * The device writes at `iova`: the IOMMU translates through a writable mapping or
 * faults; with hardware tracking the write marks the page dirty (HTTU sets the leaf's
 * dirty state before the write completes).
 */
bool vfio_device_dma_write(struct vfio_container *c, uint64_t iova)
{
	struct vfio_dma *d = find_dma(c, iova);

	if (d == NULL || (d->prot & VFIO_DMA_MAP_FLAG_WRITE) == 0)
		return false;
	if (c->hw_tracking)
		bitmap_set_bit(d->bitmap, (iova - d->iova) / PGSIZE);
	return true;
}

int vfio_dma_rw(struct vfio_container *c, uint64_t iova, uint64_t length, bool write)
{
	if (length == 0)
		return -EINVAL; /* vfio_main.c vfio_dma_rw: len <= 0 */
	while (length > 0) {
		struct vfio_dma *d = find_dma(c, iova);
		uint64_t offset, count;

		if (d == NULL)
			return -EINVAL;
		if ((write && (d->prot & VFIO_DMA_MAP_FLAG_WRITE) == 0) || (d->prot & VFIO_DMA_MAP_FLAG_READ) == 0)
			return -EPERM;
		offset = iova - d->iova;
		count = length < d->size - offset ? length : d->size - offset;
		/*
		 * The copy itself (copy_to_user at vaddr + offset) has nothing to model here. The
		 * pages it touched: offset >> 12 through (offset + count - 1) >> 12 (Linux commit
		 * 2c5af98592f6), in the same bitmap the IOMMU's dirty state lives in. Without
		 * hardware tracking every page is reported anyway.
		 */
#ifndef DIRTYSPEC_FAULT
		if (write && c->tracking)
			for (uint64_t i = offset / PGSIZE; i <= (offset + count - 1) / PGSIZE; i++)
				bitmap_set_bit(d->bitmap, i);
#else
		/*
		 * The count before 2c5af98592f6: bitmap_set(dma->bitmap, offset >> pgshift,
		 * *copied >> pgshift), as many pages as whole pages were copied, from the first:
		 * 2 bytes at offset PAGE_SIZE - 1 mark none, a page and a byte from mid-page one.
		 */
		if (write && c->tracking)
			for (uint64_t i = offset / PGSIZE; i < offset / PGSIZE + count / PGSIZE; i++)
				bitmap_set_bit(d->bitmap, i);
#endif
		iova += count;
		length -= count;
	}
	return 0;
}

/*
 * The device's group leaves the container (vfio_iommu_type1_detach_group): while tracking
 * without hardware tracking, every page of every mapping becomes dirty
 * (vfio_iommu_populate_bitmap_full, VFIO-DETACH-1). -EINVAL if it is out already.
 */
int vfio_detach_device(struct vfio_container *c)
{
	if (c->group_out)
		return -EINVAL;
	c->group_out = true;
	if (c->tracking && !c->hw_tracking)
		for (size_t i = 0; i < c->count; i++)
			for (uint64_t p = 0; p < c->dmas[i].size / PGSIZE; p++)
				bitmap_set_bit(c->dmas[i].bitmap, p);
	return 0;
}

/* The device's group joins again (num_non_pinned_groups++): every mapped page is reported again. -EINVAL if it is in. */
int vfio_attach_device(struct vfio_container *c)
{
	if (!c->group_out)
		return -EINVAL;
	c->group_out = false;
	return 0;
}
