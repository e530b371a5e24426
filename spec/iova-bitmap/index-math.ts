// Index math of the IOVA bitmap: which bit of the user's bitmap stands for an IOVA, how
// many bytes a range needs, and how much of the bitmap (hence of the IOVA range) one
// window of pinned user pages covers. Pure functions, named after the static helpers of
// drivers/iommu/iommufd/iova_bitmap.c. IOVAs, lengths and page sizes are u64 values
// (bigint); bit and byte indexes fit a double (at most 2^52 bits: 2^64 / 4 KiB).
//
// Requirements:
//   IOVA-BITMAP-1  page_size is a power of two from 4 KiB to 2^63; pgshift = log2(page_size)
//   IOVA-BITMAP-2  bit n = (iova - base) >> pgshift is bit n % 64 of u64 word n / 64
//                  (little-endian: byte n / 8, bit n % 8)
//   IOVA-BITMAP-3  the word index is (offset >> pgshift) / 64, never offset / (64 * page_size)
//   IOVA-BITMAP-4  a range of length bytes needs ALIGN(npages, 64) / 8 bytes of bitmap
//   IOVA-BITMAP-6  a window pins at most 512 user pages and starts pgoff bytes into the first
// Sources: Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c (iova_bitmap_offset_to_index,
//   iova_bitmap_index_to_offset, iova_bitmap_get, iova_bitmap_mapped_remaining,
//   iova_bitmap_mapped_length); Linux commit cb30dfa75d55 "iommufd: Don't overflow during
//   division for dirty tracking" (syzbot 093a8a8b859472e6c257); include/uapi/linux/vfio.h
//   (struct vfio_bitmap); the windowed user bitmap as reviewed in "Re: [PATCH V2 vfio 05/11]
//   vfio: Add an IOVA bitmap support" (Joao Martins, 20 Jul 2022,
//   <028506a9-d5f8-04e9-7427-5a39e0772987@oracle.com>).

/** The kernel page size of the user memory holding the bitmap (PAGE_SIZE). */
export const IOVA_BITMAP_USER_PAGE_SIZE = 4096;
/** Bits in one user page of bitmap (BITS_PER_PAGE). */
export const IOVA_BITMAP_BITS_PER_USER_PAGE = IOVA_BITMAP_USER_PAGE_SIZE * 8;
/** IOVA-BITMAP-6: one page of `struct page *` pointers: PAGE_SIZE / sizeof(struct page *). */
export const IOVA_BITMAP_MAX_PINNED_PAGES = 512;
/** IOVA-BITMAP-1: the smallest and largest page size one bit may stand for. */
export const IOVA_BITMAP_MIN_PAGE_SIZE = 1n << 12n;
export const IOVA_BITMAP_MAX_PAGE_SIZE = 1n << 63n;
/** The largest u64. */
export const U64_MAX = (1n << 64n) - 1n;
/** Bits in one bitmap word (BITS_PER_TYPE(u64)). */
const WORD_BITS = 64n;

/** A value from the caller broke a rule; `field` names the uAPI field at fault. */
export class IovaBitmapArgumentError extends RangeError {
  constructor(
    readonly field: string,
    rule: string,
  ) {
    super(`${field}: ${rule}`);
    this.name = 'IovaBitmapArgumentError';
  }
}

/** True for a bigint in [0, 2^64). */
export function isU64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= 0n && value <= U64_MAX;
}

/** `0x…` for messages. */
export function hex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}

/**
 * IOVA-BITMAP-1: pgshift = log2(page_size) for a power of two in [4 KiB, 2^63]; throws
 * IovaBitmapArgumentError naming `page_size` otherwise.
 *
 * DEPARTS: iommufd (iova_bitmap_alloc) takes __ffs(page_size), so a page size that is not
 * a power of two silently behaves as its lowest set bit; the spec rejects it.
 * @req IOVA-BITMAP-1
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_alloc (__ffs); DEPARTS as said above
 */
export function iovaBitmapPgshift(pageSize: bigint): number {
  if (!isU64(pageSize) || pageSize < IOVA_BITMAP_MIN_PAGE_SIZE || pageSize > IOVA_BITMAP_MAX_PAGE_SIZE || (pageSize & (pageSize - 1n)) !== 0n) {
    const got = typeof pageSize === 'bigint' ? hex(pageSize) : String(pageSize);
    throw new IovaBitmapArgumentError('page_size', `must be a power of two from 4096 to 2^63, got ${got}`);
  }
  let shift = 0;
  while (1n << BigInt(shift) !== pageSize) shift++;
  return shift;
}

/**
 * IOVA-BITMAP-2, IOVA-BITMAP-3: the u64 word of the bitmap holding the bit of the page at
 * `offset` bytes past the bitmap's base IOVA: (offset >> pgshift) / 64. It never forms
 * 64 * page_size, which wraps to 0 in u64 for page_size 2^63 (the divide-by-zero syzbot found).
 * @req IOVA-BITMAP-2 IOVA-BITMAP-3
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_offset_to_index; Linux commit cb30dfa75d55
 */
export function iovaBitmapOffsetToIndex(offset: bigint, pgshift: number): bigint {
  return (offset >> BigInt(pgshift)) / WORD_BITS;
}

/**
 * IOVA-BITMAP-2: the bit within its u64 word of the page at `offset`: (offset >> pgshift) % 64.
 * @req IOVA-BITMAP-2
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_set
 */
export function iovaBitmapOffsetToBit(offset: bigint, pgshift: number): number {
  return Number((offset >> BigInt(pgshift)) % WORD_BITS);
}

/**
 * IOVA-BITMAP-2: the byte of the bitmap (little-endian words) holding the page at `offset`, and the bit in it.
 * @req IOVA-BITMAP-2
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_set; Linux v6.12.117 include/uapi/linux/vfio.h struct vfio_bitmap
 */
export function iovaBitmapOffsetToByte(offset: bigint, pgshift: number): { readonly byte: number; readonly bit: number } {
  const n = offset >> BigInt(pgshift);
  return { byte: Number(n / 8n), bit: Number(n % 8n) };
}

/**
 * IOVA-BITMAP-2: the offset from the base IOVA of the first page of word `index`:
 * (index * 64) << pgshift. Unbounded: a caller working in u64 must check it against the range.
 * @req IOVA-BITMAP-2
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_index_to_offset
 */
export function iovaBitmapIndexToOffset(index: bigint, pgshift: number): bigint {
  return (index * WORD_BITS) << BigInt(pgshift);
}

/**
 * IOVA-BITMAP-4: pages of a non-empty range: ((length - 1) >> pgshift) + 1 (no rounding sum that could wrap).
 * @req IOVA-BITMAP-4
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_alloc (mapped_total_index)
 */
export function iovaBitmapPages(length: bigint, pgshift: number): bigint {
  if (length <= 0n) throw new IovaBitmapArgumentError('length', `must be at least one byte, got ${length}`);
  return ((length - 1n) >> BigInt(pgshift)) + 1n;
}

/**
 * IOVA-BITMAP-4: bytes of user bitmap a range of `length` bytes needs: ALIGN(npages, 64) / 8.
 * @req IOVA-BITMAP-4
 * @source Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c verify_bitmap_size (DIRTY_BITMAP_BYTES)
 */
export function iovaBitmapBytes(length: bigint, pgshift: number): number {
  const pages = iovaBitmapPages(length, pgshift);
  return Number(((pages + WORD_BITS - 1n) / WORD_BITS) * 8n);
}

/**
 * IOVA-BITMAP-6: user pages a window pins when its first bitmap byte lies `pgoff` bytes into
 * a user page and `remainingBytes` bytes of bitmap are left: the pages those bytes touch,
 * at most `maxPinned`.
 *
 * DEPARTS: Linux (iova_bitmap_get) pins DIV_ROUND_UP(remaining, PAGE_SIZE) + !!pgoff pages,
 * one more than needed when the tail fits in the first page's slack; the spec pins exactly
 * the pages holding bitmap bytes, so it never touches user memory past the bitmap.
 * @req IOVA-BITMAP-6
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_get; DEPARTS as said above
 */
export function iovaBitmapWindowPages(pgoff: number, remainingBytes: number, maxPinned = IOVA_BITMAP_MAX_PINNED_PAGES): number {
  checkWindow(pgoff, remainingBytes, maxPinned);
  return Math.min(Math.ceil((pgoff + remainingBytes) / IOVA_BITMAP_USER_PAGE_SIZE), maxPinned);
}

/**
 * IOVA-BITMAP-6: bytes of bitmap one window covers: npages * 4096 - pgoff, at most what remains.
 * @req IOVA-BITMAP-6
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_get, iova_bitmap_mapped_remaining
 */
export function iovaBitmapWindowBytes(pgoff: number, remainingBytes: number, maxPinned = IOVA_BITMAP_MAX_PINNED_PAGES): number {
  const pages = iovaBitmapWindowPages(pgoff, remainingBytes, maxPinned);
  return Math.min(pages * IOVA_BITMAP_USER_PAGE_SIZE - pgoff, remainingBytes);
}

/**
 * IOVA-BITMAP-6: IOVA bytes covered by `windowBytes` bytes of bitmap: (bytes * 8) << pgshift,
 * capped to `remainingLength` when given (the window never reaches past the range).
 * 2 MiB of bitmap at 4 KiB pages is 64 GiB.
 * @req IOVA-BITMAP-6
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_mapped_length
 */
export function iovaBitmapWindowLength(windowBytes: number, pgshift: number, remainingLength?: bigint): bigint {
  const length = BigInt(windowBytes * 8) << BigInt(pgshift);
  return remainingLength !== undefined && remainingLength < length ? remainingLength : length;
}

function checkWindow(pgoff: number, remainingBytes: number, maxPinned: number): void {
  if (!Number.isInteger(pgoff) || pgoff < 0 || pgoff >= IOVA_BITMAP_USER_PAGE_SIZE) throw new IovaBitmapArgumentError('pgoff', `must be in [0, 4096), got ${pgoff}`);
  if (!Number.isSafeInteger(remainingBytes) || remainingBytes <= 0) throw new IovaBitmapArgumentError('remainingBytes', `must be a positive integer, got ${remainingBytes}`);
  if (!Number.isInteger(maxPinned) || maxPinned < 1) throw new IovaBitmapArgumentError('maxPinned', `must be a positive integer, got ${maxPinned}`);
}
