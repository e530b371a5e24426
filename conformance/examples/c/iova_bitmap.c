/*
 * The IOVA bitmap window, after Linux drivers/iommu/iommufd/iova_bitmap.c.
 *
 * Bit n of the bitmap stands for the page iova + (n << pgshift): bit n % 64 of u64 word
 * n / 64, little-endian, i.e. bit n % 8 of byte n / 8 (IOVA-BITMAP-2). The bitmap may
 * start at any byte of user memory. A window is the run of user pages pinned now: at
 * most `max_pinned_pages` of them, the first bitmap byte `pgoff` bytes into the first
 * page (struct iova_bitmap_map). A recording that meets a bit outside the window moves
 * the window there and goes on, so a range is always recorded whole.
 *
 * Where this departs from the kernel it does so as the spec does (spec/iova-bitmap/):
 *   - page_size must be a power of two (the kernel takes __ffs(page_size));
 *   - a window pins exactly the pages holding bitmap bytes (the kernel may pin one more,
 *     DIV_ROUND_UP(remaining, PAGE_SIZE) + !!pgoff), so nothing past the bitmap is pinned;
 *   - iova_bitmap_set cuts the range to the bitmap's and returns -EINVAL for a range
 *     reaching outside it (the kernel's returns void; its callers never ask for that).
 */
#include "iova_bitmap.h"

#include <errno.h>
#include <stdlib.h>

#define BITS_PER_PAGE ((uint64_t)USER_PAGE_SIZE * 8)

struct iova_bitmap {
	struct user_buffer buffer;
	/* The IOVA range the whole bitmap stands for, 1 << pgshift bytes per bit. */
	uint64_t iova, length;
	unsigned pgshift;
	/* Where the bitmap starts in user memory, and its bytes holding bits of the range. */
	uint64_t offset;
	uint64_t total_bytes;
	uint64_t max_pinned_pages;

	/*
	 * The window (struct iova_bitmap_map): bitmap bytes [mapped_byte, mapped_byte +
	 * mapped_bytes) on user pages [mapped_page, mapped_page + npages), the first byte
	 * pgoff bytes into the first page. npages == 0: nothing pinned.
	 */
	uint64_t mapped_byte, mapped_bytes;
	uint64_t mapped_page, npages;
	unsigned pgoff;

	/* Inside iova_bitmap_for_each: the first error of a recording (0: none yet). */
	bool walking;
	int walk_error;
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ALIGN(npages, 64) / 8 without forming npages + 63, which could wrap. */
static uint64_t bitmap_bytes_for(uint64_t npages)
{
	return (npages / 64 + (npages % 64 != 0)) * 8;
}

int iova_bitmap_alloc(const struct iova_bitmap_args *a, const struct user_buffer *buffer, struct iova_bitmap **out)
{
	const uint64_t mask = a->page_size - 1;
	struct iova_bitmap *b;
	uint64_t npages;
	unsigned pgshift = 0;

	/*
	 * Checked in this order (spec/iova-bitmap/rules.ts, iovaBitmapCheckArgs):
	 * 1. page_size a power of two from 4 KiB to 2^63 (IOVA-BITMAP-1). The kernel takes
	 *    __ffs(page_size), so 3 * 4096 would silently behave as 4096; refuse it instead.
	 */
	if (a->page_size < 4096 || (a->page_size & mask) != 0)
		return -EINVAL;
	while ((UINT64_C(1) << pgshift) != a->page_size)
		pgshift++;
	/* 2. length 0 records nothing: VFIO refuses it (iommufd's length - 1 would wrap). */
	if (a->length == 0)
		return -EINVAL;
	/*
	 * 3. iova + length - 1 must not pass 2^64 - 1: -EOVERFLOW, as iommufd_check_iova_range
	 *    (drivers/iommu/iommufd/io_pagetable.c) does with check_add_overflow.
	 */
	if (a->length - 1 > UINT64_MAX - a->iova)
		return -EOVERFLOW;
	/* 4. Both ends on a page boundary (IOVA-BITMAP-5). */
	if ((a->iova & mask) != 0 || (a->length & mask) != 0)
		return -EINVAL;
	/*
	 * 5. The bitmap inside the buffer, and big enough: ALIGN(npages, 64) / 8 bytes
	 *    (IOVA-BITMAP-4; verify_bitmap_size in drivers/vfio/vfio_iommu_type1.c). npages
	 *    is ((length - 1) >> pgshift) + 1, never length / page_size rounded up by a sum
	 *    that could wrap.
	 */
	if (a->offset < 0 || a->offset > a->buffer_size)
		return -EINVAL;
	npages = ((a->length - 1) >> pgshift) + 1;
	if (a->bitmap_size < 0 || (uint64_t)a->bitmap_size < bitmap_bytes_for(npages))
		return -EINVAL;

	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->buffer = *buffer;
	b->iova = a->iova;
	b->length = a->length;
	b->pgshift = pgshift;
	b->offset = (uint64_t)a->offset;
	b->total_bytes = npages / 8 + (npages % 8 != 0);
	b->max_pinned_pages = (uint64_t)a->max_pinned_pages;
	*out = b;
	return 0;
}

/* iova_bitmap_put: unpins the window. */
static void window_put(struct iova_bitmap *b)
{
	for (uint64_t i = 0; i < b->npages; i++)
		b->buffer.unpin(b->buffer.ctx, b->mapped_page + i);
	b->npages = 0;
}

/*
 * iova_bitmap_get: pins the window whose first bitmap byte is `byte`, after unpinning
 * the old one. -EFAULT if a page cannot be pinned (then nothing is pinned).
 */
static int window_get(struct iova_bitmap *b, uint64_t byte)
{
	const uint64_t addr = b->offset + byte;
	const uint64_t first = addr / USER_PAGE_SIZE;
	const unsigned pgoff = (unsigned)(addr % USER_PAGE_SIZE); /* offset_in_page(addr) */
	const uint64_t remaining = b->total_bytes - byte;
	/* The pages holding the rest of the bitmap, capped at the budget (IOVA-BITMAP-6). */
	const uint64_t npages = min_u64((pgoff + remaining + USER_PAGE_SIZE - 1) / USER_PAGE_SIZE, b->max_pinned_pages);

	window_put(b);
	for (uint64_t i = 0; i < npages; i++) {
		if (!b->buffer.pin(b->buffer.ctx, first + i)) {
			/* pin_user_pages_fast pinned fewer: unpin_user_pages(pages, i), in order. */
			for (uint64_t j = 0; j < i; j++)
				b->buffer.unpin(b->buffer.ctx, first + j);
			return -EFAULT;
		}
	}
	b->mapped_byte = byte;
	b->mapped_page = first;
	b->npages = npages;
	b->pgoff = pgoff;
#ifndef DIRTYSPEC_FAULT
	/*
	 * The window covers the pinned bytes from pgoff on: the first page holds only
	 * PAGE_SIZE - pgoff bytes of bitmap. This is iova_bitmap_mapped_remaining's
	 * `(npages << PAGE_SHIFT) - pgoff`, from "vfio/iova_bitmap: Fix PAGE_SIZE unaligned
	 * bitmaps" (IOVA-BITMAP-7).
	 */
	b->mapped_bytes = min_u64(npages * USER_PAGE_SIZE - pgoff, remaining);
#else
	/*
	 * DELIBERATE FAULT (make's dirtyspec-c-faulty), bug class boundary-arithmetic of
	 * docs/BUG-CLASSES: lost dirty from boundary arithmetic. This is the window length
	 * before Linux f38044e5ef58 "vfio/iova_bitmap: Fix PAGE_SIZE unaligned bitmaps": all
	 * npages << PAGE_SHIFT bytes counted as bitmap, forgetting that the first page starts
	 * pgoff bytes in. With a bitmap that does not start on a page boundary the window
	 * claims pgoff bytes it has not pinned, so a recording near its end writes past the
	 * last pinned page (a stray write to memory the kernel does not own) instead of
	 * moving the window.
	 */
	b->mapped_bytes = min_u64(npages * USER_PAGE_SIZE, remaining);
#endif
	return 0;
}

/*
 * ORs `mask` into byte `byte` of a pinned page as bitmap_set does on the kmap'ed page, a
 * read-modify-write (*p |= mask): read the byte, and write it back only if a bit changes
 * (a page recorded again costs a read, no write).
 */
static void or_bits(struct iova_bitmap *b, uint64_t page, unsigned byte, unsigned mask)
{
	unsigned old;

	/*
	 * A buffer without reads (the --lib ABI, conformance/lib/dirtyspec.h, has none), or a
	 * page the window does not hold (only a faulty window writes there): the kit's OR, so
	 * both channels make the same accesses.
	 */
	if (b->buffer.read_byte == NULL || page < b->mapped_page || page >= b->mapped_page + b->npages) {
		b->buffer.or_byte(b->buffer.ctx, page, byte, mask);
		return;
	}
	old = b->buffer.read_byte(b->buffer.ctx, page, byte);
	if ((old & mask) != mask)
		b->buffer.fill_bytes(b->buffer.ctx, page, byte, byte + 1, old | mask);
}

/*
 * Sets `count` bits from bit `bit` of a pinned page (bitmap_set on the kmap'ed page):
 * the ragged ends a byte at a time, the whole bytes between them in one fill.
 */
static void set_bits(struct iova_bitmap *b, uint64_t page, unsigned bit, uint64_t count)
{
	unsigned byte = bit / 8;
	const unsigned lead = bit % 8;
	uint64_t whole;

	if (lead != 0) {
		const unsigned take = (unsigned)min_u64(8 - lead, count);

		or_bits(b, page, byte, ((1u << take) - 1) << lead);
		count -= take;
		byte++;
	}
	whole = count / 8;
	if (whole > 0) {
		b->buffer.fill_bytes(b->buffer.ctx, page, byte, byte + (unsigned)whole, 0xff);
		byte += (unsigned)whole;
	}
	if (count % 8 != 0)
		or_bits(b, page, byte, (1u << (count % 8)) - 1);
}

static int record(struct iova_bitmap *b, uint64_t iova, uint64_t length);

int iova_bitmap_set(struct iova_bitmap *b, uint64_t iova, uint64_t length)
{
	const int ret = record(b, iova, length);

	/* Inside a walk the first error is kept for iova_bitmap_for_each to return. */
	if (ret != 0 && b->walking && b->walk_error == 0)
		b->walk_error = ret;
	return ret;
}

static int record(struct iova_bitmap *b, uint64_t iova, uint64_t length)
{
	const uint64_t bitmap_last = b->iova + b->length - 1; /* no wrap: alloc checked */
	uint64_t last, from, to, bit, last_bit;
	bool past_2_64, outside;

	/* 1. A length of 0 records nothing (IOVA-BITMAP-9). */
	if (length == 0)
		return -EINVAL;
	/*
	 * 2. Cut the range to the bitmap's; the part outside is an error, never a write
	 *    (IOVA-BITMAP-9). Computed with inclusive ends so that nothing wraps: a range
	 *    running past 2^64 is cut at 2^64 - 1 (and is outside anyway).
	 */
	past_2_64 = length - 1 > UINT64_MAX - iova;
	last = past_2_64 ? UINT64_MAX : iova + length - 1;
	outside = iova < b->iova || past_2_64 || last > bitmap_last;
	from = iova > b->iova ? iova : b->iova;
	to = last < bitmap_last ? last : bitmap_last;
	if (from > to)
		return -EINVAL;
	/*
	 * 3. The bits of the pages holding the first and last byte: a partial page counts as
	 *    dirty (IOVA-BITMAP-2). The index is (offset >> pgshift), never offset / (64 *
	 *    page_size), which divides by zero at page_size 2^63 ("iommufd/iova_bitmap: Don't
	 *    overflow during division for dirty tracking", IOVA-BITMAP-3).
	 */
	bit = (from - b->iova) >> b->pgshift;
	last_bit = (to - b->iova) >> b->pgshift;
	while (bit <= last_bit) {
		const uint64_t window_bit = b->mapped_byte * 8;
		const uint64_t window_end = window_bit + b->mapped_bytes * 8;
		uint64_t pos, page, count;
		unsigned in_page;
		int ret;

		/*
		 * 4. A bit outside the window moves the window to it and the recording goes on
		 *    ("Handle recording beyond the mapped pages", IOVA-BITMAP-8); the kernel's
		 *    iova_bitmap_set does the same through iova_bitmap_advance_to.
		 */
		if (b->npages == 0 || bit < window_bit || bit >= window_end) {
			ret = window_get(b, bit / 8);
			if (ret != 0)
				return ret;
			continue;
		}
		/*
		 * 5. The bit's place among the pinned pages: the first starts pgoff bytes in,
		 *    the next at byte 0 (cur_bit = ... + mapped->pgoff * BITS_PER_BYTE;
		 *    page_idx = cur_bit / BITS_PER_PAGE, IOVA-BITMAP-7). Write to the end of
		 *    that page, of the range, or of the window, whichever comes first.
		 */
		pos = (uint64_t)b->pgoff * 8 + (bit - window_bit);
		page = pos / BITS_PER_PAGE;
		in_page = (unsigned)(pos % BITS_PER_PAGE);
		count = min_u64(min_u64(BITS_PER_PAGE - in_page, last_bit - bit + 1), window_end - bit);
		set_bits(b, b->mapped_page + page, in_page, count);
		bit += count;
	}
	return outside ? -EINVAL : 0;
}

/*
 * The IOVA range of the window whose first bitmap byte is `byte` and which covers `bytes`
 * bytes: from iova + ((8 byte) << pgshift), (8 bytes) << pgshift long, cut at the end of
 * the bitmap's range (iova_bitmap_mapped_iova, iova_bitmap_mapped_length). Nothing
 * wraps: the bits the window covers are compared with the pages left before shifting.
 */
static void window_range(const struct iova_bitmap *b, uint64_t byte, uint64_t bytes, uint64_t *iova, uint64_t *length)
{
	const uint64_t last = b->iova + (b->length - 1); /* no wrap: alloc checked */
	const uint64_t start = b->iova + ((byte * 8) << b->pgshift);
	const uint64_t pages_left = ((last - start) >> b->pgshift) + 1;
	const uint64_t bits = bytes * 8;

	*iova = start;
	*length = bits >= pages_left ? last - start + 1 : bits << b->pgshift;
}

int iova_bitmap_for_each(struct iova_bitmap *b, void *opaque, iova_bitmap_fn_t fn)
{
	int ret = 0;

	b->walking = true;
	b->walk_error = 0;
	for (uint64_t byte = 0; byte < b->total_bytes;) {
		uint64_t iova, length, bytes;

		/* Pin the window (iova_bitmap_get); its range is taken before fn, whose recordings may move it. */
		ret = window_get(b, byte);
		if (ret != 0)
			break;
		bytes = b->mapped_bytes;
		window_range(b, byte, bytes, &iova, &length);
		ret = fn(b, iova, length, opaque);
		if (ret != 0)
			break;
		/* iova_bitmap_advance: the next window starts at the byte after this one. */
		byte += bytes;
	}
	window_put(b);
	b->walking = false;
	return ret != 0 ? ret : b->walk_error;
}

void iova_bitmap_free(struct iova_bitmap *b)
{
	if (b == NULL)
		return;
	window_put(b);
	free(b);
}

void iova_bitmap_abandon(struct iova_bitmap *b)
{
	free(b);
}
