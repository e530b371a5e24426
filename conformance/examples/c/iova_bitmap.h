/*
 * Profile iova-bitmap: the IOVA bitmap window of Linux drivers/iommu/iommufd/iova_bitmap.c
 * (formerly drivers/vfio/iova_bitmap.c). The kernel records dirty IOVA ranges straight
 * into a bitmap in user memory, pinning at most a budget of user pages of it at a time
 * (a "window") and moving the window as recordings need.
 *
 * The user memory is the kit's: reached only through `struct user_buffer`, 4 KiB pages
 * that must be pinned before they are written (pin_user_pages_fast / unpin_user_pages).
 */
#ifndef DIRTYSPEC_IOVA_BITMAP_H
#define DIRTYSPEC_IOVA_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#define USER_PAGE_SIZE 4096u

/* The user's bitmap memory (conformance/adapters/types.ts, KitUserBuffer). */
struct user_buffer {
	void *ctx;
	/* Pins one page; false if it cannot be pinned. */
	bool (*pin)(void *ctx, uint64_t page);
	void (*unpin)(void *ctx, uint64_t page);
	/* ORs `mask` into byte `offset` of a pinned page. */
	void (*or_byte)(void *ctx, uint64_t page, unsigned offset, unsigned mask);
	/* Sets bytes [start, end) of a pinned page to `value`. */
	void (*fill_bytes)(void *ctx, uint64_t page, unsigned start, unsigned end, unsigned value);
	/* Reads byte `offset` of a pinned page (the kit answers 0 and reports a stray read otherwise). */
	unsigned (*read_byte)(void *ctx, uint64_t page, unsigned offset);
};

struct iova_bitmap;

/* The arguments of iova_bitmap_alloc as the kit gives them. */
struct iova_bitmap_args {
	uint64_t iova, length, page_size;
	/* Byte offset of the bitmap in the user buffer: any alignment. */
	int64_t offset;
	/* Bytes the user says the bitmap has, and bytes of the whole buffer. */
	int64_t bitmap_size, buffer_size;
	/* Most user pages pinned at once (the kernel: PAGE_SIZE / sizeof(struct page *) = 512). */
	int64_t max_pinned_pages;
};

/*
 * iova_bitmap_alloc: 0 and a bitmap in *out, or a negative errno (-EINVAL, -EOVERFLOW).
 * Pins nothing yet.
 */
int iova_bitmap_alloc(const struct iova_bitmap_args *args, const struct user_buffer *buffer, struct iova_bitmap **out);

/* iova_bitmap_set: records [iova, iova + length) as dirty. 0 or a negative errno. */
int iova_bitmap_set(struct iova_bitmap *bitmap, uint64_t iova, uint64_t length);

/*
 * The callback of iova_bitmap_for_each: one IOVA range of the walk, whose bits are pinned
 * (it records with iova_bitmap_set); 0 goes on, a negative errno stops the walk.
 */
typedef int (*iova_bitmap_fn_t)(struct iova_bitmap *bitmap, uint64_t iova, uint64_t length, void *opaque);

/*
 * iova_bitmap_for_each: walks [iova, iova + length) window by window, in order, each
 * window once (Linux v6.1 drivers/vfio/iova_bitmap.c iova_bitmap_for_each): pins a
 * window, calls `fn` with the IOVA range it covers, unpins, moves on. Returns `fn`'s
 * first non-zero result, else the first error of a recording made during the walk (or a
 * window that could not be pinned), else 0. Nothing is pinned when it returns.
 */
int iova_bitmap_for_each(struct iova_bitmap *bitmap, void *opaque, iova_bitmap_fn_t fn);

/* iova_bitmap_free: unpins whatever the window holds and frees the bitmap. */
void iova_bitmap_free(struct iova_bitmap *bitmap);

/*
 * Frees the bitmap without touching the user buffer: for a bitmap whose buffer is gone
 * (the kit replaced the instance; its pins went with the old buffer).
 */
void iova_bitmap_abandon(struct iova_bitmap *bitmap);

#endif
