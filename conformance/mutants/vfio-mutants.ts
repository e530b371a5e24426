// Faulty variants of the reference VFIO type1 container, one overridden step each: the
// manual-clear and unmap-with-bitmap paths of the uAPI done wrong.
import { VfioType1Container, type VfioBitmap } from '../../impl/vfio/type1-container.ts';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { Mutant } from './types.ts';

/** GET_BITMAP_NOCLEAR reads and clears, as GET_BITMAP does. */
export class NoClearClearsContainer extends VfioType1Container {
  // FAULT (class over-clear): the no-clear report consumes the dirty state it only had to read.
  protected override report(iova: number, size: number, _noClear: boolean): Uint8Array {
    return super.report(iova, size, false);
  }
}

/** CLEAR_BITMAP clears every page of the range, not only the pages whose bits are set. */
export class ClearWholeRangeContainer extends VfioType1Container {
  // FAULT (class over-clear): a clear forgets pages it was not asked to clear (the wrong extent).
  protected override clearBitmap(iova: number, size: number, _data: Uint8Array): void {
    super.clearBitmap(iova, size, new Uint8Array(Math.ceil(size / 0x1000 / 64) * 8).fill(0xff));
  }
}

/** CLEAR_BITMAP makes the leaves clean but does not invalidate the IOTLB over them. */
export class ClearWithoutTlbiContainer extends VfioType1Container {
  // FAULT (class stale-iotlb): the TLBI + CMD_SYNC after the clear is skipped, so a cached
  // writable-dirty entry lets the next write through without a walk: it is never recorded.
  protected override clearRun(iova: number, size: number): void {
    const domain = this.domain as unknown as { flush: (iova: number, size: number) => void };
    domain.flush = () => {};
    try {
      super.clearRun(iova, size);
    } finally {
      delete (domain as { flush?: unknown }).flush; // back to the prototype's flush
    }
  }
}

/** UNMAP_DMA with GET_DIRTY_BITMAP unmaps but returns an empty bitmap. */
export class UnmapDropsDirtyContainer extends VfioType1Container {
  // FAULT (class scope-change): the dirty pages of what was unmapped are lost.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): { errno: number; unmapped: number; bitmap?: Uint8Array } {
    const r = super.unmapDma(flags, iova, size, bitmap);
    return r.bitmap === undefined ? r : { ...r, bitmap: new Uint8Array(r.bitmap.length) };
  }
}

/** verify_bitmap_size one u64 word short: a bitmap 8 bytes smaller than the range needs is accepted. */
export class BitmapSizeShortContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the size check is off by one word, so the kernel would write past the user's buffer.
  protected override bitmapSizeOk(size: number, bitmap: VfioBitmap): boolean {
    return super.bitmapSizeOk(size, bitmap) || (bitmap.size > 0 && super.bitmapSizeOk(size, { ...bitmap, size: bitmap.size + 8 }));
  }
}

/** A bitmap pgsize other than the smallest page size (any multiple of it) is accepted. */
export class AnyPgsizeContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): bit i no longer means the page the caller thinks it does.
  protected override pgsizeOk(pgsize: number): boolean {
    return pgsize > 0 && pgsize % 0x1000 === 0;
  }
}

const mutant = (name: string, bugClass: Mutant['bugClass'], description: string, Impl: typeof VfioType1Container): Mutant => ({
  name,
  bugClass,
  profile: 'vfio-type1',
  description,
  adapter: referenceVfioType1Adapter(name, Impl),
});

export const vfioMutants: readonly Mutant[] = [
  mutant('vfio-noclear-clears', 'over-clear', 'GET_BITMAP_NOCLEAR clears what it reports, as GET_BITMAP does: a page reported by the no-clear read is missing from the next report. Class over-clear: a read that also clears, so the report and the clear are no longer the caller\'s to order.', NoClearClearsContainer),
  mutant('vfio-clear-whole-range', 'over-clear', 'CLEAR_BITMAP clears every page of the range instead of the pages whose bits are set: dirty pages the caller did not select are lost. Class over-clear: the clear\'s extent is the range, not the selected pages.', ClearWholeRangeContainer),
  mutant('vfio-clear-without-tlbi', 'stale-iotlb', 'CLEAR_BITMAP re-protects the leaves but skips the TLB invalidation: a write through the stale writable-dirty IOTLB entry after the clear is never recorded. Class stale-iotlb: re-protecting without a TLB invalidation.', ClearWithoutTlbiContainer),
  mutant('vfio-unmap-drops-dirty', 'scope-change', 'UNMAP_DMA with GET_DIRTY_BITMAP unmaps but returns a zeroed bitmap: the dirty pages of the unmapped range are lost. Class scope-change: unmap loses dirty state.', UnmapDropsDirtyContainer),
  mutant('vfio-bitmap-size-short', 'bad-input-accepted', 'The bitmap-size check (verify_bitmap_size) accepts a bitmap one u64 word smaller than the range needs. Class bad-input-accepted: a user buffer too small for the range.', BitmapSizeShortContainer),
  mutant('vfio-any-bitmap-pgsize', 'bad-input-accepted', 'A bitmap pgsize other than the container\'s smallest page size is accepted for GET_BITMAP, CLEAR_BITMAP and unmap with a bitmap. Class bad-input-accepted: a page size the bitmap cannot use.', AnyPgsizeContainer),
];
