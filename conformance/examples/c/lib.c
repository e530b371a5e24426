/*
 * The same implementation as a library for `dirtyspec run --lib` (the C ABI of
 * conformance/lib/dirtyspec.h): iova_bitmap.c and vfio_type1.c unchanged, with the
 * kit's callbacks in place of protocol.c's JSON lines. `make` builds it as
 * build/libdirtyspec-c.so (and build/libdirtyspec-c-faulty.so).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirtyspec.h"
#include "iova_bitmap.h"
#include "vfio_type1.h"

/* ---- iova-bitmap: the kit's user buffer through its callbacks ---------------------- */

static bool lib_pin(void *ctx, uint64_t page)
{
	const struct dirtyspec_kit *kit = ctx;

	return kit->pin(kit->ctx, page);
}

static void lib_unpin(void *ctx, uint64_t page)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->unpin(kit->ctx, page);
}

static void lib_or_byte(void *ctx, uint64_t page, unsigned offset, unsigned mask)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->or_byte(kit->ctx, page, offset, mask);
}

static void lib_fill_bytes(void *ctx, uint64_t page, unsigned start, unsigned end, unsigned value)
{
	const struct dirtyspec_kit *kit = ctx;

	kit->fill_bytes(kit->ctx, page, start, end, value);
}

int dirtyspec_hello(uint32_t kit_abi, struct dirtyspec_hello *hello)
{
	if (kit_abi != DIRTYSPEC_ABI_VERSION)
		return -EPROTO;
	hello->abi = DIRTYSPEC_ABI_VERSION;
	hello->profiles = DIRTYSPEC_PROFILE_IOVA_BITMAP | DIRTYSPEC_PROFILE_VFIO_TYPE1;
	hello->name = "dirtyspec-c-example";
	return 0;
}

int dirtyspec_iova_bitmap_create(const struct dirtyspec_kit *kit, const struct dirtyspec_iova_bitmap_args *args, void **instance)
{
	const struct user_buffer buffer = { (void *)kit, lib_pin, lib_unpin, lib_or_byte, lib_fill_bytes };
	struct iova_bitmap_args a = {
		.iova = args->iova,
		.length = args->length,
		.page_size = args->page_size,
		.offset = args->offset,
		.bitmap_size = args->bitmap_size,
		.buffer_size = args->buffer_size,
		.max_pinned_pages = args->max_pinned_pages,
	};
	struct iova_bitmap *b = NULL;
	int ret;

	if (a.max_pinned_pages < 1)
		return -EINVAL;
	ret = iova_bitmap_alloc(&a, &buffer, &b);
	if (ret == 0)
		*instance = b;
	return ret;
}

int dirtyspec_iova_bitmap_set(void *bitmap, uint64_t iova, uint64_t length)
{
	return iova_bitmap_set(bitmap, iova, length);
}

void dirtyspec_iova_bitmap_free(void *bitmap)
{
	iova_bitmap_free(bitmap);
}

void dirtyspec_iova_bitmap_destroy(void *bitmap)
{
	iova_bitmap_abandon(bitmap);
}

/* ---- vfio-type1 ------------------------------------------------------------------ */

int dirtyspec_vfio_type1_create(const struct dirtyspec_kit *kit, const struct dirtyspec_vfio_type1_config *config, void **instance, uint64_t *vaddr_limit)
{
	struct vfio_container *c = vfio_container_create(config->hw_dirty, config->dma_entry_limit);

	(void)kit;
	if (c == NULL)
		return -ENOMEM;
	*instance = c;
	*vaddr_limit = vfio_vaddr_limit(c);
	return 0;
}

int dirtyspec_vfio_type1_check_extension(void *container, int64_t extension)
{
	return vfio_check_extension(container, extension);
}

void dirtyspec_vfio_type1_get_info(void *container, struct dirtyspec_vfio_info *out)
{
	struct vfio_info info;

	vfio_get_info(container, &info);
	memset(out, 0, sizeof(*out));
	out->errno_value = info.ret;
	out->flags = info.flags;
	out->iova_pgsizes = info.iova_pgsizes;
	out->migration_flags = info.migration_flags;
	out->migration_pgsize_bitmap = info.migration_pgsize_bitmap;
	out->max_dirty_bitmap_size = info.max_dirty_bitmap_size;
	out->dma_avail = info.dma_avail;
	out->n_iova_ranges = 1;
	out->iova_ranges[0].start = info.iova_start;
	out->iova_ranges[0].end = info.iova_end;
}

int dirtyspec_vfio_type1_map_dma(void *container, uint32_t flags, uint64_t vaddr, uint64_t iova, uint64_t size)
{
	return vfio_map_dma(container, flags, vaddr, iova, size);
}

static void to_vfio_bitmap(const struct dirtyspec_vfio_bitmap *from, struct vfio_bitmap *to)
{
	to->pgsize = from->pgsize;
	to->size = from->size;
	to->data = from->data;
	to->data_len = (size_t)from->data_len;
}

/* The implementation's report into the kit's bitmap: len says how many bytes it has, at most cap are copied. */
static void answer(struct dirty_report *report, struct dirtyspec_bitmap *out)
{
	out->len = 0;
	if (report->bytes == NULL)
		return;
	memcpy(out->bytes, report->bytes, report->len < out->cap ? report->len : out->cap);
	out->len = report->len;
	free(report->bytes);
}

int dirtyspec_vfio_type1_unmap_dma(void *container, uint32_t flags, uint64_t iova, uint64_t size, const struct dirtyspec_vfio_bitmap *bitmap, uint64_t *unmapped,
				   struct dirtyspec_bitmap *out)
{
	struct vfio_bitmap b;
	struct dirty_report report = { NULL, 0 };
	int ret;

	if (bitmap != NULL)
		to_vfio_bitmap(bitmap, &b);
	ret = vfio_unmap_dma(container, flags, iova, size, bitmap != NULL ? &b : NULL, unmapped, &report);
	answer(&report, out);
	return ret;
}

int dirtyspec_vfio_type1_dirty_pages(void *container, uint32_t flags, const struct dirtyspec_vfio_range *range, struct dirtyspec_bitmap *out)
{
	struct vfio_bitmap b;
	struct dirty_report report = { NULL, 0 };
	int ret;

	if (range != NULL)
		to_vfio_bitmap(&range->bitmap, &b);
	ret = vfio_dirty_pages(container, flags, range != NULL, range != NULL ? range->iova : 0, range != NULL ? range->size : 0, range != NULL ? &b : NULL, &report);
	answer(&report, out);
	/* A bitmap operation without its range: the kit never asks that (protocol.c answers it with an error). */
	return ret == VFIO_NEEDS_RANGE ? -EINVAL : ret;
}

int dirtyspec_vfio_type1_device_dma_write(void *container, uint64_t iova)
{
	return vfio_device_dma_write(container, iova) ? 1 : 0;
}

void dirtyspec_vfio_type1_destroy(void *container)
{
	vfio_container_free(container);
}
