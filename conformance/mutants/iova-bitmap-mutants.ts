// Faulty variants of the reference IOVA bitmap window, one overridden step each: the
// real iova_bitmap fixes (docs/BUG-CLASSES) run backwards.
import { IovaBitmap, WINDOW_STOP } from '../../impl/iova-bitmap/iova-bitmap.ts';
import { referenceIovaBitmapAdapter } from '../adapters/reference.ts';
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

export const iovaBitmapMutants: readonly Mutant[] = [
  {
    name: 'iova-bitmap-ignores-pgoff',
    bugClass: 'boundary-arithmetic',
    profile: 'iova-bitmap',
    description: 'The bit position ignores the bitmap\'s offset into its first user page, so a bitmap that does not start on a page boundary is written at the wrong place and past its first pinned page. Class boundary-arithmetic: unaligned start.',
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
    description: 'The word index is offset / (64 * page_size) in u64: from page size 2^58 the divisor wraps to 0 and the division faults instead of the page size being handled (the real divide-by-zero). Class bad-input-accepted: a page size from the user that overflows. Killed by the crash it causes.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-page-size-overflow', DivideByPageSizeIovaBitmap),
    fault: 'crash',
  },
];
