// Variants of the reference container (impl/vfio/type1-container.ts) offering another
// uAPI than the strict reference, for conformance/engine/vfio-type1-uapi.test.ts, here
// because conformance/ reaches impl/ only through the reference adapter and this folder:
// four faulty ones (an answer and the calls it governs disagree, or an answer that
// changes); upstream Linux's uAPI from v5.12, which must conform, is the reference's own
// option (Type1ContainerOptions.updateVaddr). None is in the zoo.
import { type DirtyBitmapRange, VfioType1Container } from '../../impl/vfio/type1-container.ts';

/** Answers 0 for manual clear (11) but takes GET_BITMAP_NOCLEAR and CLEAR_BITMAP: its mask holds them whatever it answered. */
export class ClearWithoutOfferContainer extends VfioType1Container {
  override checkExtension(extension: number): number {
    return extension === 11 ? 0 : super.checkExtension(extension);
  }
  override dirtyPages(flags: number, range?: DirtyBitmapRange) {
    super.checkExtension(11);
    return super.dirtyPages(flags, range);
  }
}

/** Answers 1 for manual clear and takes CLEAR_BITMAP, but clears nothing. */
export class ClearDoesNothingContainer extends VfioType1Container {
  override dirtyPages(flags: number, range?: DirtyBitmapRange) {
    const r = super.dirtyPages(flags === 1 << 4 ? 1 << 3 : flags, range);
    return flags === 1 << 4 ? { errno: r.errno } : r;
  }
}

/** Answers 0 for VFIO_UNMAP_ALL (9) but takes VFIO_DMA_UNMAP_FLAG_ALL. */
export class UnmapAllWithoutOfferContainer extends VfioType1Container {
  override checkExtension(extension: number): number {
    return extension === 9 ? 0 : super.checkExtension(extension);
  }
}

/** The uAPI before v5.12 (built with unmapAll false), but VFIO_UNMAP_ALL answered 0 the first time and 1 after. */
export class ExtensionAnswerChangesContainer extends VfioType1Container {
  private asked = false;
  override checkExtension(extension: number): number {
    if (extension !== 9) return super.checkExtension(extension);
    const first = !this.asked;
    this.asked = true;
    return first ? 0 : 1;
  }
}

/** The addressable-limit range checks (Linux v6.18), but a report of size 0 answered -EOVERFLOW, as a wrap (its v5 patch had no size-0 check before the overflow's). */
export class SizeZeroOverflowsContainer extends VfioType1Container {
  constructor(...args: ConstructorParameters<typeof VfioType1Container>) {
    super(args[0], { ...args[1], rangeChecks: 'addressable-limit' });
  }
  override dirtyPages(flags: number, range?: DirtyBitmapRange) {
    return range !== undefined && range.size === 0 && (flags & (1 | 2)) === 0 ? { errno: -75 } : super.dirtyPages(flags, range);
  }
}
