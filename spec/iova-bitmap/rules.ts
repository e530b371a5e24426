// The rules of the IOVA bitmap window, as abstract operations: which arguments are
// refused and with which errno, which bits a recording sets whatever the window, and the
// windows a walk over the whole range visits. Implementations are checked against these.
//
// Requirements:
//   IOVA-BITMAP-2  a recording sets the bit of every page it touches, and no other
//   IOVA-BITMAP-4  a user bitmap smaller than ALIGN(npages, 64) / 8 bytes is refused
//   IOVA-BITMAP-5  argument checks: page_size, u64 values, length 0, alignment, iova + length overflow
//   IOVA-BITMAP-6  a walk pins one window at a time, never more than its budget of user pages;
//                  a bitmap page that cannot be pinned is -EFAULT
//   IOVA-BITMAP-7  a recording that crosses a pinned page goes on at bit 0 of the next pinned page
//   IOVA-BITMAP-8  a recording that reaches past the window is finished after the window moves
//   IOVA-BITMAP-9  the part of a recording outside the bitmap is an error, never a write
//   IOVA-BITMAP-10 iova_bitmap_for_each walks the range window by window, in order, exactly once
// Sources: Linux v6.12.117 drivers/iommu/iommufd/io_pagetable.c (iommufd_check_iova_range);
//   drivers/iommu/iommufd/iova_bitmap.c (iova_bitmap_set, iova_bitmap_for_each,
//   iova_bitmap_advance_to); Linux fixes a4ab7dedaee0 "iommufd/iova_bitmap: Bounds check
//   mapped::pages access", 2780025e01e2 "Handle recording beyond the mapped pages",
//   4bbcbc6ea2fa "Consider page offset for the pages to be pinned", f38044e5ef58
//   "vfio/iova_bitmap: Fix PAGE_SIZE unaligned bitmaps", b058ea3ab5af "vfio/iova_bitmap:
//   refactor iova_bitmap_set() to better handle page boundaries"; include/uapi/linux/vfio.h
//   (GET_BITMAP checks). Bug classes boundary-arithmetic and bad-input-accepted
//   (docs/BUG-CLASSES).
import {
  hex,
  iovaBitmapBytes,
  iovaBitmapPgshift,
  iovaBitmapWindowBytes,
  iovaBitmapWindowLength,
  iovaBitmapWindowPages,
  IOVA_BITMAP_MAX_PINNED_PAGES,
  IOVA_BITMAP_USER_PAGE_SIZE,
  IovaBitmapArgumentError,
  isU64,
  U64_MAX,
} from './index-math.ts';

/** Linux errno values the rules name (include/uapi/asm-generic/errno-base.h, errno.h). */
export const EFAULT = 14;
export const EINVAL = 22;
export const EOVERFLOW = 75;

export type IovaBitmapCheck = { readonly errno: 0 } | { readonly errno: number; readonly field: string; readonly message: string };

export interface IovaBitmapArgs {
  readonly iova: bigint;
  readonly length: bigint;
  readonly pageSize: bigint;
  /** Bytes of user bitmap from its first byte (VFIO's bitmap.size). */
  readonly bitmapBytes: number;
}

const refuse = (errno: number, field: string, rule: string): IovaBitmapCheck => ({ errno: -errno, field, message: `${field}: ${rule}` });

/**
 * IOVA-BITMAP-5, IOVA-BITMAP-1, IOVA-BITMAP-4: the errno for a request to record into a
 * bitmap, checked in this order:
 *   1. page_size not a power of two in [4 KiB, 2^63]: -EINVAL;
 *   2. iova or length not a u64: -EINVAL;
 *   3. length 0: -EINVAL;
 *   4. iova + length - 1 past 2^64 - 1: -EOVERFLOW (iommufd_check_iova_range);
 *   5. iova or length not a multiple of page_size: -EINVAL;
 *   6. the bitmap smaller than ALIGN(npages, 64) / 8 bytes: -EINVAL (VFIO GET_BITMAP).
 *
 * Length 0 is refused as VFIO refuses it and as Linux v6.12.117 iommufd does since
 * "iommufd: Reject a zero-length dirty bitmap request"; earlier iommufd let length 0 at
 * iova 0 through (length - 1 wraps to ULONG_MAX and passes the overflow check).
 * @req IOVA-BITMAP-5 IOVA-BITMAP-1 IOVA-BITMAP-4
 * @source Linux v6.12.117 drivers/iommu/iommufd/io_pagetable.c iommufd_check_iova_range; Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c verify_bitmap_size
 */
export function iovaBitmapCheckArgs(args: IovaBitmapArgs): IovaBitmapCheck {
  const { iova, length, pageSize, bitmapBytes } = args;
  let pgshift: number;
  try {
    pgshift = iovaBitmapPgshift(pageSize);
  } catch (e) {
    return refuse(EINVAL, 'page_size', (e as IovaBitmapArgumentError).message.replace(/^page_size: /, ''));
  }
  if (!isU64(iova)) return refuse(EINVAL, 'iova', `must be a u64, got ${String(iova)}`);
  if (!isU64(length)) return refuse(EINVAL, 'length', `must be a u64, got ${String(length)}`);
  if (length === 0n) return refuse(EINVAL, 'length', 'must not be 0');
  if (iova + length - 1n > U64_MAX) return refuse(EOVERFLOW, 'length', `iova ${hex(iova)} + length ${hex(length)} wraps past 2^64`);
  if ((iova & (pageSize - 1n)) !== 0n) return refuse(EINVAL, 'iova', `${hex(iova)} is not a multiple of page_size ${hex(pageSize)}`);
  if ((length & (pageSize - 1n)) !== 0n) return refuse(EINVAL, 'length', `${hex(length)} is not a multiple of page_size ${hex(pageSize)}`);
  const need = iovaBitmapBytes(length, pgshift);
  if (!Number.isSafeInteger(bitmapBytes) || bitmapBytes < need) {
    return refuse(EINVAL, 'bitmap.size', `${need} bytes needed for ${hex(length)} bytes at page_size ${hex(pageSize)}, ${bitmapBytes} given`);
  }
  return { errno: 0 };
}

/** What one recording must do to a bitmap: the bits it sets (inclusive, none if undefined) and its errno. */
export interface IovaBitmapSetOutcome {
  readonly bits: { readonly first: number; readonly last: number } | undefined;
  readonly errno: number;
}

/**
 * IOVA-BITMAP-2, IOVA-BITMAP-7, IOVA-BITMAP-8, IOVA-BITMAP-9: recording [iova, iova + length)
 * into the bitmap of [base, base + bitmapLength) at 1 << pgshift per bit:
 *   1. a length that is 0 or not a u64, or an iova that is not a u64, sets nothing: -EINVAL;
 *   2. the range is cut to the bitmap's range; if anything was cut the result is -EINVAL,
 *      and no bit outside the bitmap is written (IOVA-BITMAP-9);
 *   3. every bit from the page holding the first byte to the page holding the last byte of
 *      the cut range is set, whatever the window and the pinned pages (IOVA-BITMAP-7, -8):
 *      a partial page counts as dirty. Bits are only set, never cleared.
 * @req IOVA-BITMAP-2 IOVA-BITMAP-7 IOVA-BITMAP-8 IOVA-BITMAP-9
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_set, iova_bitmap_advance_to; Linux commits f38044e5ef58, b058ea3ab5af, 2780025e01e2
 */
export function iovaBitmapSetBits(base: bigint, bitmapLength: bigint, pgshift: number, iova: bigint, length: bigint): IovaBitmapSetOutcome {
  if (!isU64(iova) || !isU64(length) || length === 0n) return { bits: undefined, errno: -EINVAL };
  const end = base + bitmapLength;
  const first = iova > base ? iova : base;
  const last = iova + length < end ? iova + length : end; // exclusive
  const errno = iova < base || iova + length > end ? -EINVAL : 0;
  if (first >= last) return { bits: undefined, errno: -EINVAL };
  const shift = BigInt(pgshift);
  return { bits: { first: Number((first - base) >> shift), last: Number((last - 1n - base) >> shift) }, errno };
}

/** One window of a walk: the IOVA range it stands for and the user pages it pins. */
export interface IovaBitmapWindow {
  readonly iova: bigint;
  readonly length: bigint;
  /** Index of the window's first byte in the bitmap. */
  readonly firstByte: number;
  /** Bytes of bitmap the window covers. */
  readonly bytes: number;
  /** Offset of the window's first byte in its user page. */
  readonly pgoff: number;
  /** User pages pinned, at most the budget. */
  readonly pages: number;
}

/**
 * IOVA-BITMAP-10, IOVA-BITMAP-6: the windows iova_bitmap_for_each visits for the bitmap of
 * [iova, iova + length) at page size 1 << pgshift, stored `offset` bytes into user memory
 * (any alignment), pinning at most `maxPinned` pages at a time:
 *   1. the walk covers ceil(npages / 8) bytes of bitmap, starting at byte 0;
 *   2. a window starting at bitmap byte b has pgoff = (offset + b) % 4096, pins the pages
 *      holding its bytes (IOVA-BITMAP-6) and covers npages * 4096 - pgoff bytes, or what is left;
 *   3. it stands for IOVA [iova + ((8 b) << pgshift), + (8 bytes) << pgshift), cut at the end
 *      of the range; the next window starts at the byte after it.
 * The windows are contiguous, in order, and together are exactly [iova, iova + length).
 * @req IOVA-BITMAP-10 IOVA-BITMAP-6
 * @source Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c iova_bitmap_for_each, iova_bitmap_get
 */
export function* iovaBitmapWindows(iova: bigint, length: bigint, pgshift: number, offset: number, maxPinned = IOVA_BITMAP_MAX_PINNED_PAGES): Generator<IovaBitmapWindow> {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new IovaBitmapArgumentError('offset', `must be a non-negative integer, got ${offset}`);
  const shift = BigInt(pgshift);
  const pages = ((length - 1n) >> shift) + 1n;
  const totalBytes = Number((pages + 7n) / 8n);
  const end = iova + length;
  for (let firstByte = 0; firstByte < totalBytes; ) {
    const pgoff = (offset + firstByte) % IOVA_BITMAP_USER_PAGE_SIZE;
    const remaining = totalBytes - firstByte;
    const bytes = iovaBitmapWindowBytes(pgoff, remaining, maxPinned);
    const start = iova + (BigInt(firstByte * 8) << shift);
    yield { iova: start, length: iovaBitmapWindowLength(bytes, pgshift, end - start), firstByte, bytes, pgoff, pages: iovaBitmapWindowPages(pgoff, remaining, maxPinned) };
    firstByte += bytes;
  }
}
