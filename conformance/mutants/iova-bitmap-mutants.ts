// Faulty variants of the reference IOVA bitmap window, one overridden step each: the
// real iova_bitmap fixes (BUG-CLASSES.md) run backwards.
import { IovaBitmap, WINDOW_STOP } from '../../impl/iova-bitmap/iova-bitmap.ts';
import { referenceIovaBitmapAdapter } from '../adapters/reference.ts';
import type { Mutant } from './types.ts';

/** The position ignores pgoff: a bitmap starting part-way into a page runs past its first pinned page. */
export class NoPgoffIovaBitmap extends IovaBitmap {
  // FAULT (class 1): "Fix PAGE_SIZE unaligned bitmaps" undone.
  protected override windowPosition(bit: number, windowBit: number): number {
    return bit - windowBit;
  }
}

/** A recording that reaches past the pinned window stops there: the rest is dropped. */
export class DropPastWindowIovaBitmap extends IovaBitmap {
  // FAULT (class 1): the part of a huge page beyond the window is never recorded.
  protected override moveWindow(bit: number): number {
    return this.pinnedPages > 0 ? WINDOW_STOP : super.moveWindow(bit);
  }
}

export const iovaBitmapMutants: readonly Mutant[] = [
  {
    name: 'iova-bitmap-ignores-pgoff',
    bugClass: 1,
    profile: 'iova-bitmap',
    description: 'The bit position ignores the bitmap\'s offset into its first user page, so a bitmap that does not start on a page boundary is written at the wrong place and past its first pinned page. Class 1: unaligned start.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-ignores-pgoff', NoPgoffIovaBitmap),
  },
  {
    name: 'iova-bitmap-drops-past-window',
    bugClass: 1,
    profile: 'iova-bitmap',
    description: 'A recording that reaches past the pinned window stops at its edge instead of moving the window: a dirty huge page across a window edge loses its tail. Class 1: a block reported across a window edge.',
    adapter: referenceIovaBitmapAdapter('iova-bitmap-drops-past-window', DropPastWindowIovaBitmap),
  },
];
