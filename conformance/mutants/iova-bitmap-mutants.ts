// Faulty variants of the reference IOVA bitmap window, one overridden step each: the
// real iova_bitmap fixes (docs/BUG-CLASSES) run backwards.
import { IovaBitmap, WINDOW_STOP, iovaBitmapAlloc, iovaBitmapFree, iovaBitmapSet } from '../../impl/iova-bitmap/iova-bitmap.ts';
import type { UserBuffer } from '../../impl/iova-bitmap/user-buffer.ts';
import { referenceIovaBitmapAdapter } from '../adapters/reference.ts';
import type { IovaBitmapAdapter, IovaBitmapArgs, KitUserBuffer } from '../adapters/types.ts';
import type { Mutant } from './types.ts';

/** The position ignores pgoff: a bitmap starting part-way into a page runs past its first pinned page. */
export class NoPgoffIovaBitmap extends IovaBitmap {
  // FAULT (class boundary-arithmetic): "Fix PAGE_SIZE unaligned bitmaps" (f38044e5ef58) undone.
  protected override windowPosition(bit: number, windowBit: number): number {
    return bit - windowBit;
  }
}

/** A recording that reaches past the pinned window stops there: the rest is dropped. */
export class DropPastWindowIovaBitmap extends IovaBitmap {
  // FAULT (class boundary-arithmetic): the part of a huge page beyond the window is never recorded.
  protected override moveWindow(bit: number): number {
    return this.pinnedPages > 0 ? WINDOW_STOP : super.moveWindow(bit);
  }
}

/** The word index through 64 * page_size in u64: at page sizes from 2^58 the divisor wraps to 0 and the division faults. */
export class DivideByPageSizeIovaBitmap extends IovaBitmap {
  // FAULT (class bad-input-accepted): "Don't overflow during division for dirty tracking" undone: the
  // divisor 64 << pgshift is taken mod 2^64, which is 0 from page size 2^58 up, and the
  // division by zero faults (a divide error on x86; here a RangeError).
  protected override bitIndex(offset: bigint): number {
    const divisor = (64n << BigInt(this.pgshift)) & ((1n << 64n) - 1n);
    return Number((offset / divisor) * 64n + ((offset >> BigInt(this.pgshift)) % 64n));
  }
}

/**
 * The window's word index through an int `1 << pgshift`: from page size 2^31 a window move
 * lands off the bitmap, and a recording that needs one ends there.
 */
export class IntShiftIovaBitmap extends IovaBitmap {
  // FAULT (class boundary-arithmetic): e24c15510592 ("iommufd/iova_bitmap: Fix shift-out-of-bounds
  // in iova_bitmap_offset_to_index()", merged for v6.14, <20250113223820.10713-1-qasdev00@gmail.com>)
  // undone. Before it, iova_bitmap_offset_to_index took pgsize = 1 << pgshift in int: x86
  // shifts an int by pgshift & 31 and the result is sign-extended to unsigned long, so the
  // word index iova / (64 * pgsize) that iova_bitmap_advance_to (v6.11 on) moves the window
  // to is 0 at page size 2^31 and 2^26 * bit from 2^32. Below 2^31 it is right. The window
  // pinned at alloc (word 0) is right at any page size, so a recording inside it is written.
  // A move elsewhere pins a window that does not hold the bit: past the bitmap the pin fails
  // and iova_bitmap_set returns without a word; onto word 0 again Linux goes round for ever.
  // Here both end the recording (WINDOW_STOP), so this mutant is a lost page, not a hang.
  private retried = -1;

  override set(iova: bigint, length: bigint): number {
    this.retried = -1;
    return super.set(iova, length);
  }

  protected override moveWindow(bit: number): number {
    if (this.pgshift < 31) return super.moveWindow(bit);
    // Linux pinned word 0 at alloc; the reference pins at the first recording.
    if (this.windowMoves === 0) return super.moveWindow(0);
    // The window the wrong index gave did not hold the bit: Linux would move to it again.
    if (bit === this.retried) return WINDOW_STOP;
    this.retried = bit;
    const shift = BigInt(this.pgshift);
    const intPgsize = BigInt.asUintN(64, BigInt.asIntN(32, 1n << BigInt(this.pgshift & 31)));
    const byte = ((BigInt(bit) << shift) / BigInt.asUintN(64, 64n * intPgsize)) * 8n;
    const bitmapBytes = (((this.length - 1n) >> shift) + 1n + 7n) / 8n;
    if (byte >= bitmapBytes) return WINDOW_STOP;
    return super.moveWindow(Number(byte) * 8);
  }
}

/** The last bit from the exclusive end, rounded down: a range ending inside a page loses that page. */
export class EndInsidePageIovaBitmap extends IovaBitmap {
  // FAULT (class boundary-arithmetic): last = ((stop - base) >> pgshift) - 1 instead of
  // (stop - 1 - base) >> pgshift: right for a range ending on a page edge, one page short
  // for one ending inside a page (a partial page is dirty too).
  protected override lastBit(stop: bigint): number {
    return Number((stop - this.iova) >> BigInt(this.pgshift)) - 1;
  }
}

const EINVAL = -22;
const U64_MAX = (1n << 64n) - 1n;

/** iova_bitmap_alloc with `pre` checks of its own run before (or instead of) the reference's. */
function allocAdapter(name: string, alloc: (args: IovaBitmapArgs, buffer: UserBuffer) => IovaBitmap | number): IovaBitmapAdapter {
  return {
    profile: 'iova-bitmap',
    name,
    async create(buffer: KitUserBuffer, args: IovaBitmapArgs) {
      const got = alloc(args, buffer as unknown as UserBuffer);
      if (typeof got === 'number') return got;
      return { set: async (iova: bigint, length: bigint) => iovaBitmapSet(got, iova, length), free: async () => iovaBitmapFree(got) };
    },
  };
}

const reference = (args: IovaBitmapArgs, buffer: UserBuffer): IovaBitmap | number => {
  const got = iovaBitmapAlloc(args.iova, args.length, args.pageSize, buffer, args.offset, { maxPinnedPages: args.maxPinnedPages, bitmapSize: args.bitmapSize });
  return got instanceof IovaBitmap ? got : got.errno;
};

/** floor(log2(v)) for a positive v, else 12: the page shift a checkless alloc would take. */
const shiftOf = (v: bigint): number => (v > 0n ? v.toString(2).length - 1 : 12);

// FAULT (class bad-input-accepted): the alignment of iova and length is checked before the
// u64 overflow of iova + length - 1, so a range both unaligned and past 2^64 is -EINVAL
// where the rules say -EOVERFLOW (IOVA-BITMAP-5's order).
const alignmentFirst = (args: IovaBitmapArgs, buffer: UserBuffer): IovaBitmap | number => {
  const size = args.pageSize;
  const sizeOk = size >= 4096n && size <= 1n << 63n && (size & (size - 1n)) === 0n;
  if (sizeOk && args.length !== 0n && ((args.iova & (size - 1n)) !== 0n || (args.length & (size - 1n)) !== 0n)) return EINVAL;
  return reference(args, buffer);
};

// FAULT (class bad-input-accepted): the length is not checked (neither 0 nor a multiple of
// page_size): a partial last page or an empty range is taken as a bitmap.
const noLengthChecks = (args: IovaBitmapArgs, buffer: UserBuffer): IovaBitmap | number => {
  const size = args.pageSize;
  const length = args.length === 0n ? size : (args.length + size - 1n) & ~(size - 1n);
  if (length > U64_MAX || size === 0n) return reference(args, buffer);
  const got = reference({ ...args, length }, buffer);
  return typeof got === 'number' ? got : new IovaBitmap(args.iova, args.length === 0n ? size : args.length, got.pgshift, buffer, args.offset, args.maxPinnedPages);
};

/**
 * The walk goes on past what the callback's recordings set beyond the window, in whole
 * bitmap bytes: the pages after a recording's end in its last byte are never walked.
 */
export class SkipSetAheadIovaBitmap extends IovaBitmap {
  // FAULT (class boundary-arithmetic): Linux v6.8..v6.10 drivers/iommu/iommufd/iova_bitmap.c
  // iova_bitmap_set_ahead (2780025e01e2, removed with the iterator by 53e6b65693b6 in v6.11)
  // moves mapped_base_index past the bytes it set ahead, iova_bitmap_offset_to_index(length
  // - 1) + 1 of them, so the next window starts at the byte after the recording's last bit:
  // a recording that ends inside a byte leaves that byte's later pages out of every window.
  /** The last bit recorded since the walk began (-1: none). */
  private reach = -1;

  override forEach(fn: Parameters<IovaBitmap['forEach']>[0]): number {
    this.reach = -1;
    return super.forEach(fn);
  }

  override set(iova: bigint, length: bigint): number {
    const end = this.iova + this.length;
    const stop = iova + length < end ? iova + length : end;
    if (stop > this.iova && stop > iova) this.reach = Math.max(this.reach, Number((stop - 1n - this.iova) >> BigInt(this.pgshift)));
    return super.set(iova, length);
  }

  protected override nextWindowByte(byte: number, bytes: number): number {
    const next = super.nextWindowByte(byte, bytes);
    return this.reach >= next * 8 ? Math.floor(this.reach / 8) + 1 : next;
  }
}

// FAULT (class bad-input-accepted): no argument is checked at all: every call gets a bitmap.
const noChecks = (args: IovaBitmapArgs, buffer: UserBuffer): IovaBitmap | number => {
  const length = args.length === 0n ? 1n : args.length;
  return new IovaBitmap(args.iova, length, shiftOf(args.pageSize), buffer, args.offset, args.maxPinnedPages);
};

export const iovaBitmapMutants: readonly Mutant[] = [
  {
    name: 'iova-bitmap-ignores-pgoff',
    bugClass: 'boundary-arithmetic',
    profile: 'iova-bitmap',
    description:
      "The bit position ignores the bitmap's offset into its first user page, so a bitmap that does not start on a page boundary is written at the wrong place and past its first pinned page. Class boundary-arithmetic: unaligned start.",
    adapter: referenceIovaBitmapAdapter('iova-bitmap-ignores-pgoff', NoPgoffIovaBitmap),
  },
  {
    name: 'iova-bitmap-drops-past-window',
    bugClass: 'boundary-arithmetic',
    profile: 'iova-bitmap',
    description: 'A recording that reaches past the pinned window stops at its edge instead of moving the window: a dirty huge page across a window edge loses its tail. Class boundary-arithmetic: a block reported across a window edge.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-drops-past-window', DropPastWindowIovaBitmap),
  },
  {
    name: 'iova-bitmap-page-size-overflow',
    bugClass: 'bad-input-accepted',
    profile: 'iova-bitmap',
    description:
      'The word index is offset / (64 * page_size) in u64: from page size 2^58 the divisor wraps to 0 and the division faults instead of the page size being handled (the real divide-by-zero). Class bad-input-accepted: a page size from the user that overflows. Killed by the crash it causes.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-page-size-overflow', DivideByPageSizeIovaBitmap),
    fault: 'crash',
  },
  {
    name: 'iova-bitmap-int-shift',
    bugClass: 'boundary-arithmetic',
    profile: 'iova-bitmap',
    description:
      "The window's word index is iova / (64 * (1 << pgshift)) with the shift taken in int (e24c15510592 undone): from page size 2^31 a window move lands off the bitmap, so a recording past the first window is dropped. Class boundary-arithmetic: an index computed in too narrow a type.",
    adapter: referenceIovaBitmapAdapter('iova-bitmap-int-shift', IntShiftIovaBitmap),
  },
  {
    name: 'iova-bitmap-walk-skips-set-ahead',
    bugClass: 'boundary-arithmetic',
    profile: 'iova-bitmap',
    description:
      "iova_bitmap_for_each's next window starts at the byte after the last bit the callback recorded past its window (Linux v6.8..v6.10's set-ahead): a block across a window edge that ends inside a bitmap byte leaves the rest of that byte's pages out of the walk. Class boundary-arithmetic: a skip counted in bytes for a range counted in bits.",
    adapter: referenceIovaBitmapAdapter('iova-bitmap-walk-skips-set-ahead', SkipSetAheadIovaBitmap),
    targets: ['IOVA-BITMAP-10'],
  },
  {
    name: 'iova-bitmap-end-inside-page',
    bugClass: 'boundary-arithmetic',
    profile: 'iova-bitmap',
    description: 'The last bit of a recording is taken from its exclusive end rounded down, ((end - base) >> pgshift) - 1: a range that ends inside a page drops that page. Class boundary-arithmetic: an off-by-one at the end of a range.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-end-inside-page', EndInsidePageIovaBitmap),
  },
  {
    name: 'iova-bitmap-refusal-order',
    bugClass: 'bad-input-accepted',
    profile: 'iova-bitmap',
    description:
      'iova_bitmap_alloc checks alignment before the u64 overflow of iova + length - 1: a range both unaligned and past 2^64 gets -EINVAL where the rules say -EOVERFLOW. Class bad-input-accepted: two refusals of bad input in the wrong order.',
    adapter: allocAdapter('iova-bitmap-refusal-order', alignmentFirst),
  },
  {
    name: 'iova-bitmap-no-length-checks',
    bugClass: 'bad-input-accepted',
    profile: 'iova-bitmap',
    description:
      'iova_bitmap_alloc checks the page size, overflow, iova and the bitmap, but not the length (0, or not a multiple of page_size): part of the argument checks missing. Class bad-input-accepted: a length from userspace let through.',
    adapter: allocAdapter('iova-bitmap-no-length-checks', noLengthChecks),
  },
  {
    name: 'iova-bitmap-no-arg-checks',
    bugClass: 'bad-input-accepted',
    profile: 'iova-bitmap',
    description: 'iova_bitmap_alloc checks none of its arguments: any page size, length, alignment, overflow or bitmap size gets a bitmap. Class bad-input-accepted: the argument checks missing in full.',
    adapter: allocAdapter('iova-bitmap-no-arg-checks', noChecks),
  },
];
