// More faulty VFIO type1 containers: the argument checks, the refusal order, the
// dirty-page ioctls and the capabilities of Linux v6.12.117 drivers/vfio/vfio_iommu_type1.c
// (vfio_dma_do_map, vfio_dma_do_unmap, vfio_iommu_type1_dirty_pages, verify_bitmap_size,
// vfio_iommu_migration_build_caps, vfio_iommu_type1_check_extension) and the manual-clear
// series, each done wrong in one place, as a kernel developer could: a check left out, a
// mask too wide, a bound off by one, a wrong order. The reference's checks are inline, so
// most mutants wrap the ioctl: they let through (or reshape) exactly the input the missing
// check would have refused, and the reference does the rest.
import { VfioType1Container, type DirtyBitmapRange, type VfioBitmap } from '../../impl/vfio/type1-container.ts';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { Adapter, VfioType1Adapter, VfioType1Config, VfioType1Instance } from '../adapters/types.ts';
import type { Probe } from './probe.ts';
import type { BugClass, Mutant } from './types.ts';

const PG = 0x1000;
const READ = 1;
const WRITE = 2;
const RW = READ | WRITE;
const UNMAP_GET_DIRTY = 1 << 0;
const UNMAP_ALL = 1 << 1;
const UNMAP_VADDR = 1 << 2;
const START = 1 << 0;
const STOP = 1 << 1;
const GET = 1 << 2;
const NOCLEAR = 1 << 3;
const CLEAR = 1 << 4;
const EINVAL = 22;
const EPERM = 1;
const EFAULT = 14;
const ENOSPC = 28;
const IOVA_LIMIT = 2 ** 48;
const DIRTY_BITMAP_PAGES_MAX = 2 ** 31 - 1;

type Result = ReturnType<VfioType1Container['unmapDma']>;
/** The container's private state, as a mutant that reaches past a check needs it. */
type Internals = { tracking: boolean; dmaAvail: number; manualClear: boolean };
const internals = (c: VfioType1Container) => c as unknown as Internals;

const bytesFor = (size: number) => Math.ceil(size / PG / 64) * 8;

// ---- MAP_DMA ------------------------------------------------------------------------

/** MAP_DMA ignores flags outside READ | WRITE instead of refusing them. */
export class MapIgnoresUnknownFlagsContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the mask test `flags & ~(READ | WRITE)` is missing:
  // VFIO_DMA_MAP_FLAG_VADDR (1 << 2) and any other bit are silently dropped and the map goes through.
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    return super.mapDma((flags & RW) !== 0 ? flags & RW : flags, vaddr, iova, size);
  }
}

/** MAP_DMA checks iova and size for alignment, but not vaddr. */
export class MapVaddrUnalignedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): `(size | iova) & mask` without vaddr: an unaligned vaddr
  // is taken, and the pages pinned are those of the page it falls in.
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    return super.mapDma(flags, vaddr - (vaddr % PG), iova, size);
  }
}

/** MAP_DMA checks that iova + size does not wrap, but not vaddr + size. */
export class MapVaddrWrapUncheckedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `vaddr + size - 1 < vaddr` test is missing: a wrapping
  // vaddr reaches the pinning, which fails: -EFAULT where the kernel says -EINVAL.
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    const wraps = size > 0 && BigInt(vaddr) + BigInt(size) > 1n << 64n;
    return super.mapDma(flags, wraps ? IOVA_LIMIT : vaddr, iova, size);
  }
}

/** MAP_DMA checks the entry limit before the overlap. */
export class MapLimitBeforeOverlapContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the two refusals swapped: a map that overlaps a mapping
  // in a full container gets -ENOSPC, not -EEXIST; a caller that retries after an unmap
  // (as it should for -ENOSPC) maps over a live mapping's IOVA.
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    const r = super.mapDma(flags, vaddr, iova, size);
    return r.errno === -17 && internals(this).dmaAvail === 0 ? { errno: -ENOSPC } : r;
  }
}

/** MAP_DMA lets one mapping past dma_entry_limit. */
export class MapLimitOffByOneContainer extends VfioType1Container {
  // FAULT (class boundary-arithmetic): `if (iommu->dma_avail < 0)` after the decrement instead of
  // `if (!iommu->dma_avail)` before it: a full container takes one mapping more.
  constructor(...args: ConstructorParameters<typeof VfioType1Container>) {
    super(args[0], { dmaEntryLimit: (args[1]?.dmaEntryLimit ?? 0xffff) + 1 });
  }
  override getInfo(): ReturnType<VfioType1Container['getInfo']> {
    const i = super.getInfo();
    return { ...i, capDmaAvail: { ...i.capDmaAvail, avail: i.capDmaAvail.avail - 1 } };
  }
}

/** MAP_DMA does not check the valid IOVA ranges: io-pgtable refuses the map instead, with -ERANGE. */
export class MapRangeUncheckedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): vfio_iommu_iova_dma_valid is not called: a map past the
  // IOVA range reaches arm_lpae_map_pages, whose `iova >> ias` test answers -ERANGE, an errno
  // the MAP_DMA uAPI does not have.
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    const r = super.mapDma(flags, vaddr, iova, size);
    const before = (flags & ~RW) === 0 && flags !== 0 && size > 0 && size % PG === 0 && iova % PG === 0 && vaddr % PG === 0 && iova + size <= 2 ** 64 && vaddr + size <= 2 ** 64;
    const free = !this.mappings.some((d) => d.iova < iova + size && iova < d.iova + d.size) && this.getInfo().capDmaAvail.avail > 0;
    return r.errno === -EINVAL && before && free && iova + size > IOVA_LIMIT ? { errno: -34 } : r;
  }
}

/** MAP_DMA ignores a failure to pin the process pages. */
export class MapIgnoresPinFailureContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): vaddr_get_pfns's error is not propagated: the map of
  // addresses that cannot be pinned returns 0 (and maps what can be).
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    const r = super.mapDma(flags, vaddr, iova, size);
    return r.errno === -EFAULT ? { errno: 0 } : r;
  }
}

/** MAP_DMA while tracking loses the error of the dirty bitmap's allocation. */
export class MapTrackingNoSizeLimitContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): vfio_dma_bitmap_alloc fails (more than
  // DIRTY_BITMAP_PAGES_MAX pages), the error path removes the mapping, but `ret` is
  // overwritten on the way out: the caller is told 0 for a mapping that does not exist.
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    const r = super.mapDma(flags, vaddr, iova, size);
    const valid = (flags & ~RW) === 0 && flags !== 0 && size % PG === 0 && iova % PG === 0 && vaddr % PG === 0 && iova + size <= IOVA_LIMIT && vaddr + size <= IOVA_LIMIT;
    const free = !this.mappings.some((d) => d.iova < iova + size && iova < d.iova + d.size);
    return r.errno === -EINVAL && this.dirtyPageTracking && size / PG > DIRTY_BITMAP_PAGES_MAX && valid && free ? { errno: 0 } : r;
  }
}

/** A read-only MAP_DMA is mapped writable. */
export class MapReadOnlyWritableContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the prot is built as IOMMU_READ | IOMMU_WRITE whatever
  // the flags: the device writes through a mapping the process gave read-only.
  override mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    return super.mapDma(flags === READ ? RW : flags, vaddr, iova, size);
  }
}

// ---- UNMAP_DMA ----------------------------------------------------------------------

/** UNMAP_DMA ignores unknown flags. */
export class UnmapIgnoresUnknownFlagsContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the flag mask test is missing: bits past VADDR are dropped.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    return super.unmapDma(flags & (UNMAP_GET_DIRTY | UNMAP_ALL | UNMAP_VADDR), iova, size, bitmap);
  }
}

/** UNMAP_DMA takes GET_DIRTY_BITMAP together with ALL, and unmaps everything without a bitmap. */
export class UnmapDirtyWithAllContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the test that GET_DIRTY_BITMAP excludes ALL is missing:
  // the caller asked for the dirty pages and gets none, though everything is unmapped.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    return (flags & (UNMAP_GET_DIRTY | UNMAP_ALL)) === (UNMAP_GET_DIRTY | UNMAP_ALL) && (flags & UNMAP_VADDR) === 0 ? super.unmapDma(flags & ~UNMAP_GET_DIRTY, iova, size) : super.unmapDma(flags, iova, size, bitmap);
  }
}

/** UNMAP_DMA takes VADDR (as v5.12's VFIO_UPDATE_VADDR), though the container does not offer it. */
export class UnmapTakesVaddrContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the mask has VFIO_DMA_UNMAP_FLAG_VADDR while
  // VFIO_CHECK_EXTENSION(VFIO_UPDATE_VADDR) says 0: the call returns 0 and unmaps nothing.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    if (flags === UNMAP_VADDR) return { errno: 0, unmapped: 0 };
    return super.unmapDma(flags, iova, size, bitmap);
  }
}

/** UNMAP_DMA with GET_DIRTY_BITMAP does not check the bitmap's size. */
export class UnmapBitmapSizeUncheckedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): verify_bitmap_size is called on the DIRTY_PAGES path only:
  // an unmap writes ALIGN(npages, 64) / 8 bytes into whatever buffer it was given.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    const fixed = (flags & UNMAP_GET_DIRTY) !== 0 && bitmap !== undefined && size > 0 ? { ...bitmap, size: bytesFor(size) } : bitmap;
    return super.unmapDma(flags, iova, size, fixed);
  }
}

/** UNMAP_DMA does not check that iova is page-aligned. */
export class UnmapIovaUnalignedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): `if (iova & (pgsize - 1))` is missing: the range is taken
  // from the page iova falls in.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    return super.unmapDma(flags, iova - (iova % PG), size, bitmap);
  }
}

/** UNMAP_DMA with ALL ignores iova and size instead of refusing non-zero ones. */
export class UnmapAllIgnoresRangeContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `iova || size` test under ALL is missing: a caller
  // that meant one range unmaps everything.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    return (flags & UNMAP_ALL) !== 0 && iova % PG === 0 ? super.unmapDma(flags, 0, 0, bitmap) : super.unmapDma(flags, iova, size, bitmap);
  }
}

/** UNMAP_DMA of size 0 returns 0 with nothing unmapped. */
export class UnmapSizeZeroContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): `if (!size)` is missing: an empty unmap succeeds.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    if (size === 0 && flags === 0 && iova % PG === 0) return { errno: 0, unmapped: 0 };
    return super.unmapDma(flags, iova, size, bitmap);
  }
}

/** UNMAP_DMA with GET_DIRTY_BITMAP while tracking is off unmaps and returns an empty bitmap. */
export class UnmapDirtyWhileOffContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `!iommu->dirty_page_tracking` test is missing: the
  // caller gets a bitmap of zeros it takes for "nothing dirty".
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    if (flags !== UNMAP_GET_DIRTY || this.dirtyPageTracking || bitmap === undefined || bitmap.pgsize !== PG || !(bitmap.size >= bytesFor(size) && bitmap.size > 0)) return super.unmapDma(flags, iova, size, bitmap);
    const r = super.unmapDma(0, iova, size);
    return r.errno === 0 ? { ...r, bitmap: new Uint8Array(bytesFor(size)) } : r;
  }
}

/** UNMAP_DMA with GET_DIRTY_BITMAP does not check bitmap.pgsize. */
export class UnmapAnyPgsizeContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the pgsize test is on the DIRTY_PAGES path only: an unmap
  // with a 2 MiB bitmap pgsize gets a bitmap of 4 KiB pages.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    return super.unmapDma(flags, iova, size, bitmap === undefined || bitmap.pgsize === 0 ? bitmap : { ...bitmap, pgsize: PG });
  }
}

/** UNMAP_DMA lets a range bisect a mapping (v1 semantics): it unmaps what lies wholly inside. */
export class UnmapBisectsContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the v2 no-bisection test is missing: a range that starts
  // or ends inside a mapping returns 0, and the mapping it cuts stays mapped whole.
  private unmapping = false;
  protected override bisects(iova: number, size: number): boolean {
    return this.unmapping ? false : super.bisects(iova, size);
  }
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    this.unmapping = true;
    try {
      return super.unmapDma(flags, iova, size, bitmap);
    } finally {
      this.unmapping = false;
    }
  }
}

/** UNMAP_DMA returns the size asked for, not the bytes it unmapped. */
export class UnmapReportsAskedSizeContainer extends VfioType1Container {
  // FAULT (class boundary-arithmetic): `unmap->size = size` at the end, not the sum of the
  // mappings removed: holes in the range count as unmapped.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    const r = super.unmapDma(flags, iova, size, bitmap);
    return r.errno === 0 && (flags & UNMAP_ALL) === 0 ? { ...r, unmapped: size } : r;
  }
}

/** UNMAP_DMA's bitmap is relative to each mapping's start, not to the range's iova. */
export class UnmapBitmapPerMappingContainer extends VfioType1Container {
  // FAULT (class wrong-address): update_user_bitmap is given the vfio_dma's iova as the base
  // instead of the unmap range's: a mapping that does not start at iova has its pages reported
  // at the wrong bits.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    const first = this.mappings.find((d) => d.iova >= iova && d.iova + d.size <= iova + size);
    const r = super.unmapDma(flags, iova, size, bitmap);
    if (r.bitmap === undefined || first === undefined || first.iova === iova) return r;
    const shift = (first.iova - iova) / PG;
    const out = new Uint8Array(r.bitmap.length);
    for (let i = shift; i < r.bitmap.length * 8; i++) if ((r.bitmap[i >> 3]! & (1 << (i & 7))) !== 0) out[(i - shift) >> 3]! |= 1 << ((i - shift) & 7);
    return { ...r, bitmap: out };
  }
}

// ---- DIRTY_PAGES ----------------------------------------------------------------------

type DirtyResult = ReturnType<VfioType1Container['dirtyPages']>;

/** DIRTY_PAGES with an unknown flag alone returns 0. */
export class DirtyIgnoresUnknownFlagsContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the mask test is missing and the dispatch (START, else
  // STOP, else GET_BITMAP, ...) falls off its end with ret still 0: an unknown request succeeds.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    const known = START | STOP | GET | NOCLEAR | CLEAR;
    return flags !== 0 && (flags & known) === 0 ? { errno: 0 } : super.dirtyPages(flags, range);
  }
}

/** DIRTY_PAGES with several flags does the lowest one. */
export class DirtyLowestFlagContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `__ffs(flags) != __fls(flags)` test is missing: START | STOP starts.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    return super.dirtyPages(flags & -flags || flags, range);
  }
}

/** START while tracking starts again: the dirty state gathered so far is dropped. */
export class StartTwiceClearsContainer extends VfioType1Container {
  // FAULT (class over-clear): the `if (iommu->dirty_page_tracking)` early return is missing:
  // the bitmaps are allocated anew (the domain re-enables tracking and clears stale state),
  // and the pages dirtied before the second START are never reported.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    if (flags === START && this.dirtyPageTracking && this.hardwareDirtyTracking) {
      this.domain.setDirtyTracking(false);
      this.domain.setDirtyTracking(true);
      return { errno: 0 };
    }
    return super.dirtyPages(flags, range);
  }
}

/** START does not check that every mapping fits a dirty bitmap. */
export class StartNoSizeLimitContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): vfio_dma_bitmap_alloc_all's -EINVAL is not checked:
  // tracking starts over a mapping no bitmap can cover.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    if (flags !== START || this.dirtyPageTracking || !this.mappings.some((d) => d.size / PG > DIRTY_BITMAP_PAGES_MAX)) return super.dirtyPages(flags, range);
    const ok = this.domain.setDirtyTracking(true) === 0;
    const st = internals(this) as Internals & { hwTracking: boolean };
    st.tracking = true;
    st.hwTracking = ok;
    return { errno: 0 };
  }
}

/** STOP while tracking is off is -EINVAL. */
export class StopWhileOffRefusedContainer extends VfioType1Container {
  // FAULT (class valid-input-refused): STOP is not idempotent: `if (!iommu->dirty_page_tracking) return -EINVAL`.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    return flags === STOP && !this.dirtyPageTracking ? { errno: -EINVAL } : super.dirtyPages(flags, range);
  }
}

/** A bitmap operation whose range wraps past 2^64 is answered as if it did not. */
export class DirtyWrapUncheckedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `range.iova + range.size < range.iova` test is missing: the
  // walk finds no mapping up there and answers an empty bitmap (CLEAR_BITMAP: 0).
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    if (range === undefined || !(range.size > 0 && BigInt(range.iova) + BigInt(range.size) >= 1n << 64n)) return super.dirtyPages(flags, range);
    const ok =
      (flags === GET || ((flags === NOCLEAR || flags === CLEAR) && this.dirtyLogManualClear)) &&
      this.dirtyPageTracking &&
      range.bitmap.pgsize === PG &&
      range.bitmap.size >= bytesFor(range.size) &&
      range.bitmap.size <= 2 ** 28 &&
      range.iova % PG === 0 &&
      range.size % PG === 0;
    if (!ok) return super.dirtyPages(flags, range);
    return flags === CLEAR ? { errno: 0 } : { errno: 0, bitmap: new Uint8Array(bytesFor(range.size)) };
  }
}

/** A bitmap operation of size 0 is answered with an empty bitmap. */
export class DirtySizeZeroContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `!range.size` test is missing.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    if (range?.size === 0 && (flags === GET || flags === NOCLEAR) && this.dirtyPageTracking) return { errno: 0, bitmap: new Uint8Array(8) };
    return super.dirtyPages(flags, range);
  }
}

/** A bitmap operation does not check that iova and size are page-aligned. */
export class DirtyUnalignedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `(iova | size) & (pgsize - 1)` test is missing: the
  // range is widened to whole pages.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    if (range === undefined || (range.iova % PG === 0 && range.size % PG === 0) || range.size === 0) return super.dirtyPages(flags, range);
    const iova = range.iova - (range.iova % PG);
    const size = Math.ceil((range.iova + range.size - iova) / PG) * PG;
    return super.dirtyPages(flags, { ...range, iova, size, bitmap: { ...range.bitmap, size: Math.max(range.bitmap.size, bytesFor(size)) } });
  }
}

/** GET_BITMAP while tracking is off returns an empty bitmap. */
export class GetWhileOffContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `!iommu->dirty_page_tracking` test is missing for
  // GET_BITMAP: the caller gets zeros and takes them for "nothing dirty".
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    if ((flags === GET || flags === NOCLEAR) && !this.dirtyPageTracking && range !== undefined) {
      const st = internals(this);
      st.tracking = true;
      try {
        const r = super.dirtyPages(flags, range);
        return r.bitmap === undefined ? r : { ...r, bitmap: new Uint8Array(r.bitmap.length) };
      } finally {
        st.tracking = false;
      }
    }
    return super.dirtyPages(flags, range);
  }
}

/** GET_BITMAP lets the range bisect a mapping: it reports the mappings wholly inside. */
export class GetBisectsContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): vfio_iova_dirty_bitmap's test that the range starts and
  // ends on mapping edges is missing: the mapping cut by the range is silently left out.
  private getting = false;
  protected override bisects(iova: number, size: number): boolean {
    return this.getting ? false : super.bisects(iova, size);
  }
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    this.getting = flags === GET || flags === NOCLEAR;
    try {
      return super.dirtyPages(flags, range);
    } finally {
      this.getting = false;
    }
  }
}

/** GET_BITMAP is refused once manual clear was negotiated. */
export class GetRefusedAfterManualClearContainer extends VfioType1Container {
  // FAULT (class valid-input-refused): the manual-clear series read as "GET_BITMAP_NOCLEAR
  // replaces GET_BITMAP": once negotiated, GET_BITMAP is -EINVAL, and a VMM that still
  // reads-and-clears in some path (the final sync) gets no bitmap.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    const r = super.dirtyPages(flags, range);
    return flags === GET && this.dirtyLogManualClear && r.errno === 0 ? { errno: -EINVAL } : r;
  }
}

/** START while tracking is on is -EBUSY. */
export class StartWhileOnBusyContainer extends VfioType1Container {
  // FAULT (class valid-input-refused): START is not idempotent: `if (iommu->dirty_page_tracking) return -EBUSY`.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    return flags === START && this.dirtyPageTracking ? { errno: -16 } : super.dirtyPages(flags, range);
  }
}

/** UNMAP_DMA with GET_DIRTY_BITMAP over a range with no mapping is -EINVAL. */
export class UnmapDirtyEmptyRefusedContainer extends VfioType1Container {
  // FAULT (class valid-input-refused): the bitmap path starts with `dma = vfio_find_dma(...);
  // if (!dma) return -EINVAL`: an unmap with a bitmap over a hole, valid and a no-op, is refused.
  override unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): Result {
    const r = super.unmapDma(flags, iova, size, bitmap);
    return flags === UNMAP_GET_DIRTY && r.errno === 0 && r.unmapped === 0 ? { errno: -EINVAL, unmapped: 0 } : r;
  }
}

/** CHECK_EXTENSION negotiates manual clear under RFC v1's number 9 and answers 0 for 11. */
export class ManualClearRfc1NumberContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the extension number of RFC v1 (9, since taken by
  // VFIO_UNMAP_ALL): asking for VFIO_UNMAP_ALL turns manual clear on, and 11 is unknown. A
  // container answering 0 for 11 offers no manual clear (as upstream Linux), so after
  // asking for 9 it takes GET_BITMAP_NOCLEAR and CLEAR_BITMAP it said it does not offer.
  override checkExtension(extension: number): number {
    if (extension === 11) return 0;
    if (extension === 9) internals(this).manualClear = true;
    return super.checkExtension(extension);
  }
}

/** NOCLEAR and CLEAR_BITMAP are taken without manual clear negotiated. */
export class ClearUnnegotiatedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the mask holds GET_BITMAP_NOCLEAR and CLEAR_BITMAP
  // whether or not VFIO_DIRTY_LOG_MANUAL_CLEAR was negotiated (as in the v2 series' mask).
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    const st = internals(this);
    const was = st.manualClear;
    st.manualClear = true;
    try {
      return super.dirtyPages(flags, range);
    } finally {
      st.manualClear = was;
    }
  }
}

/** CLEAR_BITMAP while tracking is off returns 0. */
export class ClearWhileOffContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the `!dirty_page_tracking` test is on GET only.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    const r = super.dirtyPages(flags, range);
    return flags === CLEAR &&
      !this.dirtyPageTracking &&
      r.errno === -EINVAL &&
      range !== undefined &&
      range.size > 0 &&
      range.iova % PG === 0 &&
      range.size % PG === 0 &&
      range.bitmap.pgsize === PG &&
      range.bitmap.size >= bytesFor(range.size) &&
      range.bitmap.size <= 2 ** 28 &&
      this.dirtyLogManualClear
      ? { errno: 0 }
      : r;
  }
}

/** CLEAR_BITMAP refuses a selection that covers part of a block leaf. */
export class ClearPartBlockRefusedContainer extends VfioType1Container {
  // FAULT (class valid-input-refused): a driver that cannot clear part of a huge leaf refuses the
  // whole call (-EINVAL) instead of leaving the block dirty: the selected pages of every
  // other mapping stay uncleared and the caller, told its arguments are wrong, retries nothing.
  override dirtyPages(flags: number, range?: DirtyBitmapRange): DirtyResult {
    if (flags !== CLEAR || range === undefined || !this.dirtyPageTracking || !this.hardwareDirtyTracking) return super.dirtyPages(flags, range);
    const BLOCK = 0x20_0000;
    const data = range.bitmap.data ?? new Uint8Array(0);
    const bit = (at: number) => {
      const i = (at - range.iova) / PG;
      return i >= 0 && ((data[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
    };
    for (const d of this.mappings) {
      if (d.iova % BLOCK !== 0 || d.size % BLOCK !== 0 || d.vaddr % BLOCK !== 0) continue;
      for (let b = d.iova; b < d.iova + d.size; b += BLOCK) {
        let n = 0;
        for (let at = b; at < b + BLOCK; at += PG) if (at < range.iova + range.size && bit(at)) n++;
        if (n > 0 && n < BLOCK / PG) return { errno: -EINVAL };
      }
    }
    return super.dirtyPages(flags, range);
  }
}

/** VFIO_CHECK_EXTENSION(VFIO_DIRTY_LOG_MANUAL_CLEAR) answers 1 but negotiates nothing. */
export class ExtensionNotNegotiatedContainer extends VfioType1Container {
  // FAULT (class state-not-carried): the check answers from the capability table and never
  // sets iommu->dirty_log_manual_clear: NOCLEAR and CLEAR_BITMAP stay refused.
  override checkExtension(extension: number): number {
    if (extension !== 11) return super.checkExtension(extension);
    return 1;
  }
}

/** VFIO_CHECK_EXTENSION(VFIO_UPDATE_VADDR) answers 1. */
export class ExtensionClaimsVaddrContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): VFIO_UPDATE_VADDR (10) is in the list of extensions the
  // container reports, though MAP and UNMAP refuse VADDR: a VMM relying on it loses its mappings' vaddr.
  override checkExtension(extension: number): number {
    return extension === 10 ? 1 : super.checkExtension(extension);
  }
}

/** VFIO_CHECK_EXTENSION(VFIO_UNMAP_ALL) answers 0, yet UNMAP_DMA takes VFIO_DMA_UNMAP_FLAG_ALL. */
export class UnmapAllUnannouncedContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): a partial backport of Linux v5.12's unmap-all series:
  // vfio_dma_do_unmap and the flag mask have c19650995374, check_extension lacks the
  // VFIO_UNMAP_ALL case of c98fe7c2a203. A container answering 0 offers the uAPI before
  // v5.12, where ALL is an unknown flag: a VMM that trusts the answer never sends it, one
  // that does not gets every mapping removed.
  override checkExtension(extension: number): number {
    return extension === 9 ? 0 : super.checkExtension(extension);
  }
}

/** VFIO_CHECK_EXTENSION of an extension the container does not know is -ENOTTY, not 0. */
export class ExtensionUnknownErrorContainer extends VfioType1Container {
  // FAULT (class valid-input-refused): the port's check_extension has no default case and the
  // ioctl falls through to the `default: return -ENOTTY` of vfio_iommu_type1_ioctl: a VMM
  // probing an extension (VFIO_UPDATE_VADDR, another IOMMU type) gets an error, not 0.
  override checkExtension(extension: number): number {
    return [1, 3, 9, 11].includes(extension) ? super.checkExtension(extension) : -25;
  }
}

/** GET_INFO's migration capability reports the whole page-size bitmap. */
export class InfoPgsizeBitmapContainer extends VfioType1Container {
  // FAULT (class boundary-arithmetic): cap_mig.pgsize_bitmap = iommu->pgsize_bitmap, without
  // `1 << __ffs(...)`: the caller may pick 2 MiB bitmap pages, which every bitmap call refuses.
  override getInfo(): ReturnType<VfioType1Container['getInfo']> {
    const i = super.getInfo();
    return { ...i, capMigration: { ...i.capMigration, pgsizeBitmap: i.iovaPgsizes } };
  }
}

// ---- vfio_dma_rw (the emulated device's CPU-side access) -----------------------------

/** vfio_dma_rw dirties `copied >> pgshift` pages from `offset >> pgshift`: the count before commit 2c5af98592f6. */
export class RwDirtyCountContainer extends VfioType1Container {
  // FAULT (class boundary-arithmetic): bitmap_set(dma->bitmap, offset >> pgshift, *copied >> pgshift),
  // as Linux had it from d6a4c185660c until 2c5af98592f6 (<20200915003251.14343-1-yan.y.zhao@intel.com>):
  // a chunk that does not start on a page, or does not end on one, dirties too few pages;
  // 2 bytes at PAGE_SIZE - 1 dirty none, and both pages are lost to the migration.
  protected override rwDirtyPages(offset: number, copied: number): [number, number] {
    return [Math.floor(offset / PG), Math.floor(copied / PG)];
  }
}

/** vfio_dma_rw lets a write through a mapping without VFIO_DMA_MAP_FLAG_WRITE. */
export class RwWriteReadOnlyContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the test is `!(dma->prot & IOMMU_READ)` alone (the
  // write half of the permission check left out): an emulated device writes into memory
  // the user mapped read-only.
  protected override rwPermitted(prot: number, _write: boolean): boolean {
    return (prot & READ) !== 0;
  }
}

/** vfio_dma_rw copies the whole access in the mapping of its first byte, without clipping it to the mapping's end. */
export class RwNoClipContainer extends VfioType1Container {
  // FAULT (class boundary-arithmetic): `if (count > dma->size - offset)` left out: the copy
  // runs past the mapping's end in the process memory after its vaddr, so an access into a
  // hole succeeds, and one into the next mapping neither checks its permission nor dirties it.
  protected override rwChunkLength(_size: number, _offset: number, count: number): number {
    return count;
  }
}

/** vfio_dma_rw returns 0 when a chunk is refused after earlier chunks were copied. */
export class RwPartialSuccessContainer extends VfioType1Container {
  // FAULT (class bad-input-accepted): the chunk's
  // `*copied ? 0 : -EFAULT` moved to the loop: an access that ran into a hole or a
  // read-only mapping after copying something is answered 0, and the device believes
  // bytes were written that never were.
  override dmaRw(iova: number, length: number, write: boolean): { errno: number; copied: number } {
    const r = super.dmaRw(iova, length, write);
    return r.errno !== 0 && r.copied > 0 ? { errno: 0, copied: r.copied } : r;
  }
}

// ---- the zoo entries and their directed probes ----------------------------------------

const V = { iova: 0x10_0000n, size: 0x4000n, vaddr: 0x8000_0000n };
const vbm = (size: bigint) => ({ pgsize: 0x1000n, size: ((size / 0x1000n + 63n) / 64n) * 8n });

type Steps = (c: VfioType1Instance) => Promise<unknown>;

/** A container with one 4-page read-write mapping at V (and, with `track`, manual clear negotiated and tracking on, the mapping's dirty state cleared). */
async function setUp(adapter: VfioType1Adapter, config: VfioType1Config, track: boolean, map = true): Promise<VfioType1Instance> {
  const c = await adapter.create(config);
  if (map && (await c.mapDma(RW, V.vaddr, V.iova, V.size)).errno !== 0) throw new Error('the set-up map failed');
  if (track) {
    await c.checkExtension(11);
    if ((await c.dirtyPages(START)).errno !== 0) throw new Error('START failed');
    await c.dirtyPages(GET, { ...V, bitmap: vbm(V.size) });
  }
  return c;
}

const pagesOf = (r: { errno: number; bitmap?: Uint8Array }, iova: bigint) => (r.bitmap === undefined ? r.errno : dirtyBitmapPages(r.bitmap, Number(iova)));

/** The probes' vfio_dma_rw: the adapter's, which the reference and these mutants have. */
const rw = (c: VfioType1Instance, iova: bigint, length: number, write = true) => {
  if (c.dmaRw === undefined) throw new Error('the adapter has no dmaRw');
  return c.dmaRw(iova, length, write);
};

interface Spec {
  readonly name: string;
  readonly bugClass: BugClass;
  readonly targets: readonly string[];
  readonly description: string;
  readonly Impl: typeof VfioType1Container;
  /** The probe: after `what`, the sequence, from a container set up with `track` (default true) and `config`. */
  readonly what: string;
  readonly steps: Steps;
  readonly reference: unknown;
  readonly mutant: unknown;
  readonly track?: boolean;
  readonly map?: boolean;
  readonly config?: VfioType1Config;
}

const specs: readonly Spec[] = [
  {
    name: 'vfio-map-ignores-unknown-flags',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-1'],
    description: 'MAP_DMA drops flags outside READ | WRITE (VADDR included) instead of refusing them with -EINVAL. Class bad-input-accepted: a flag mask test left out.',
    Impl: MapIgnoresUnknownFlagsContainer,
    what: 'MAP_DMA(READ | WRITE | VADDR) is accepted',
    steps: async (c) => (await c.mapDma(7, V.vaddr + 0x10_0000n, 0x20_0000n, 0x1000n)).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-map-vaddr-unaligned',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-2'],
    description: 'MAP_DMA checks iova and size for page alignment but not vaddr. Class bad-input-accepted: one operand missing from the alignment test.',
    Impl: MapVaddrUnalignedContainer,
    what: 'MAP_DMA with vaddr 0x80100010 is accepted',
    steps: async (c) => (await c.mapDma(RW, V.vaddr + 0x10_0010n, 0x20_0000n, 0x1000n)).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-map-vaddr-wrap-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-3'],
    description: 'MAP_DMA checks iova + size for wrapping but not vaddr + size: the wrapping vaddr fails later, in the pinning, with -EFAULT instead of -EINVAL. Class bad-input-accepted: a wrap test left out.',
    Impl: MapVaddrWrapUncheckedContainer,
    what: 'MAP_DMA with vaddr + size past 2^64 is -EFAULT',
    steps: async (c) => (await c.mapDma(RW, (1n << 64n) - 0x1000n, 0x20_0000n, 0x2000n)).errno,
    reference: -EINVAL,
    mutant: -EFAULT,
  },
  {
    name: 'vfio-map-limit-before-overlap',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-4'],
    description:
      'MAP_DMA checks dma_avail before the overlap: an overlapping map in a full container is -ENOSPC, not -EEXIST. Class bad-input-accepted: two refusals in the wrong order, so the caller is told the wrong thing about its input.',
    Impl: MapLimitBeforeOverlapContainer,
    what: 'an overlapping MAP_DMA in a full container is -ENOSPC',
    steps: async (c) => (await c.mapDma(RW, V.vaddr, V.iova, 0x1000n)).errno,
    reference: -17,
    mutant: -ENOSPC,
    track: false,
    config: { hwDirty: true, dmaEntryLimit: 1 },
  },
  {
    name: 'vfio-map-limit-off-by-one',
    bugClass: 'boundary-arithmetic',
    targets: ['VFIO-MAP-5'],
    description: 'MAP_DMA tests dma_avail after the decrement: a container at dma_entry_limit takes one mapping more. Class boundary-arithmetic: an off-by-one at a limit.',
    Impl: MapLimitOffByOneContainer,
    what: 'a second MAP_DMA with dma_entry_limit 1 is accepted',
    steps: async (c) => (await c.mapDma(RW, V.vaddr + 0x10_0000n, 0x20_0000n, 0x1000n)).errno,
    reference: -ENOSPC,
    mutant: 0,
    track: false,
    config: { hwDirty: true, dmaEntryLimit: 1 },
  },
  {
    name: 'vfio-map-range-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-6'],
    description:
      'MAP_DMA does not check the valid IOVA ranges: a map past them is refused only by io-pgtable, with -ERANGE, an errno MAP_DMA does not have. Class bad-input-accepted: the range check left to a lower layer, which answers differently.',
    Impl: MapRangeUncheckedContainer,
    what: 'MAP_DMA at 2^48 is -ERANGE',
    steps: async (c) => (await c.mapDma(RW, V.vaddr + 0x10_0000n, 1n << 48n, 0x1000n)).errno,
    reference: -EINVAL,
    mutant: -34,
    track: false,
  },

  {
    name: 'vfio-map-ignores-pin-failure',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-7'],
    description: 'MAP_DMA does not propagate the failure to pin the process pages: process addresses that cannot be pinned map with 0. Class bad-input-accepted: an error path that returns success.',
    Impl: MapIgnoresPinFailureContainer,
    what: 'MAP_DMA of process addresses past the pinnable limit returns 0',
    steps: async (c) => (await c.mapDma(RW, c.vaddrLimit, 0x20_0000n, 0x1000n)).errno,
    reference: -EFAULT,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-map-tracking-no-size-limit',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-8'],
    description: 'MAP_DMA while tracking does not check that a dirty bitmap can cover the new mapping (more than INT_MAX pages): it is mapped with no bitmap behind it. Class bad-input-accepted: vfio_dma_bitmap_alloc left unchecked.',
    Impl: MapTrackingNoSizeLimitContainer,
    what: 'MAP_DMA of 2^31 pages while tracking is accepted',
    steps: async (c) => (await c.mapDma(RW, 0n, 0x1000_0000_0000n, 0x800_0000_0000n)).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-map-readonly-writable',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-9'],
    description: 'A MAP_DMA with READ only is mapped IOMMU_READ | IOMMU_WRITE: the device writes through it. Class bad-input-accepted: a permission the caller did not grant is given.',
    Impl: MapReadOnlyWritableContainer,
    what: 'the device writes through a read-only mapping',
    steps: async (c) => {
      await c.mapDma(READ, V.vaddr + 0x10_0000n, 0x20_0000n, 0x1000n);
      return (await c.deviceDmaWrite(0x20_0000n)).ok;
    },
    reference: false,
    mutant: true,
    track: false,
  },
  {
    name: 'vfio-unmap-ignores-unknown-flags',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-1'],
    description: 'UNMAP_DMA drops flags outside GET_DIRTY_BITMAP, ALL and VADDR. Class bad-input-accepted: a flag mask test left out.',
    Impl: UnmapIgnoresUnknownFlagsContainer,
    what: 'UNMAP_DMA with flag 1 << 3 unmaps',
    steps: async (c) => (await c.unmapDma(8, V.iova, V.size)).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-unmap-dirty-with-all',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-2'],
    description: 'UNMAP_DMA takes GET_DIRTY_BITMAP together with ALL: everything is unmapped and no bitmap is written, so the dirty pages are lost. Class bad-input-accepted: a flag combination the uAPI forbids is taken.',
    Impl: UnmapDirtyWithAllContainer,
    what: 'UNMAP_DMA(GET_DIRTY_BITMAP | ALL) unmaps everything',
    steps: async (c) => (await c.unmapDma(3, 0n, 0n, vbm(V.size))).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-unmap-takes-vaddr',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-3'],
    description:
      'UNMAP_DMA takes VADDR (the v5.12 VFIO_UPDATE_VADDR flag) in a container that does not offer VFIO_UPDATE_VADDR: it returns 0 and unmaps nothing. Class bad-input-accepted: a flag of an extension the container says it lacks.',
    Impl: UnmapTakesVaddrContainer,
    what: 'UNMAP_DMA(VADDR) returns 0',
    steps: async (c) => (await c.unmapDma(UNMAP_VADDR, V.iova, V.size)).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-unmap-bitmap-size-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-4'],
    description: 'UNMAP_DMA with GET_DIRTY_BITMAP never calls verify_bitmap_size: a bitmap of 0 bytes is written as if it held the range. Class bad-input-accepted: a user buffer too small for what is written into it.',
    Impl: UnmapBitmapSizeUncheckedContainer,
    what: 'UNMAP_DMA(GET_DIRTY_BITMAP) with a 0-byte bitmap unmaps',
    steps: async (c) => (await c.unmapDma(UNMAP_GET_DIRTY, V.iova, V.size, { pgsize: 0x1000n, size: 0n })).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-unmap-iova-unaligned',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-5'],
    description: 'UNMAP_DMA does not check that iova is a multiple of the page size: the range is taken from the page it falls in. Class bad-input-accepted: an alignment test left out.',
    Impl: UnmapIovaUnalignedContainer,
    what: 'UNMAP_DMA at iova + 0x10 unmaps',
    steps: async (c) => (await c.unmapDma(0, V.iova + 0x10n, V.size)).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-unmap-all-ignores-range',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-6'],
    description: 'UNMAP_DMA with ALL ignores a non-zero iova and size instead of refusing them: a caller that meant one range loses every mapping. Class bad-input-accepted: the argument test of a flag left out.',
    Impl: UnmapAllIgnoresRangeContainer,
    what: 'UNMAP_DMA(ALL) with a range unmaps everything',
    steps: async (c) => (await c.unmapDma(UNMAP_ALL, V.iova, 0x1000n)).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-unmap-size-zero',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-7'],
    description: 'UNMAP_DMA of size 0 returns 0 instead of -EINVAL. Class bad-input-accepted: a zero-size test left out.',
    Impl: UnmapSizeZeroContainer,
    what: 'UNMAP_DMA of size 0 returns 0',
    steps: async (c) => (await c.unmapDma(0, V.iova, 0n)).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-unmap-dirty-while-off',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-8'],
    description: 'UNMAP_DMA with GET_DIRTY_BITMAP while tracking is off unmaps and returns a bitmap of zeros, which the caller reads as nothing dirty. Class bad-input-accepted: a state test left out.',
    Impl: UnmapDirtyWhileOffContainer,
    what: 'UNMAP_DMA(GET_DIRTY_BITMAP) while tracking is off unmaps',
    steps: async (c) => (await c.unmapDma(UNMAP_GET_DIRTY, V.iova, V.size, vbm(V.size))).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-unmap-any-pgsize',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-9'],
    description: 'UNMAP_DMA with GET_DIRTY_BITMAP does not check bitmap.pgsize: a 2 MiB pgsize gets a bitmap of 4 KiB pages, whose bits the caller reads as 2 MiB each. Class bad-input-accepted: a page size the bitmap does not use.',
    Impl: UnmapAnyPgsizeContainer,
    what: 'UNMAP_DMA(GET_DIRTY_BITMAP) with a 2 MiB bitmap pgsize unmaps',
    steps: async (c) => (await c.unmapDma(UNMAP_GET_DIRTY, V.iova, V.size, { pgsize: 0x20_0000n, size: 8n })).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-unmap-bisects',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-10'],
    description: 'UNMAP_DMA lets a range start or end inside a mapping (the v1 semantics): it returns 0 and the mapping it cuts stays mapped whole. Class bad-input-accepted: the v2 no-bisection test left out.',
    Impl: UnmapBisectsContainer,
    what: 'UNMAP_DMA of the first page of a 4-page mapping returns 0',
    steps: async (c) => {
      const r = await c.unmapDma(0, V.iova, 0x1000n);
      return [r.errno, r.unmapped];
    },
    reference: [-EINVAL, 0n],
    mutant: [0, 0n],
    track: false,
  },
  {
    name: 'vfio-unmap-reports-asked-size',
    bugClass: 'boundary-arithmetic',
    targets: ['VFIO-UNMAP-11'],
    description: 'UNMAP_DMA returns the size it was asked for, not the bytes of the mappings it removed: holes count as unmapped. Class boundary-arithmetic: the wrong extent reported.',
    Impl: UnmapReportsAskedSizeContainer,
    what: 'UNMAP_DMA over 4 mapped pages and 4 unmapped ones says 8 pages',
    steps: async (c) => {
      const r = await c.unmapDma(0, V.iova, 2n * V.size);
      return [r.errno, r.unmapped];
    },
    reference: [0, V.size],
    mutant: [0, 2n * V.size],
    track: false,
  },
  {
    name: 'vfio-unmap-bitmap-per-mapping',
    bugClass: 'wrong-address',
    targets: ['VFIO-UNMAP-12'],
    description: "UNMAP_DMA's bitmap takes each mapping's start as bit 0, not the range's iova: a dirty page of a mapping that does not start at iova is reported at the wrong IOVA. Class wrong-address: the wrong base.",
    Impl: UnmapBitmapPerMappingContainer,
    what: 'a dirty page at 0x101000 is reported at 0xff000',
    steps: async (c) => {
      await c.deviceDmaWrite(V.iova + 0x1000n);
      return pagesOf(await c.unmapDma(UNMAP_GET_DIRTY, V.iova - 0x2000n, V.size + 0x2000n, vbm(V.size + 0x2000n)), V.iova - 0x2000n);
    },
    reference: [0x10_1000],
    mutant: [0xf_f000],
  },
  {
    name: 'vfio-dirty-ignores-unknown-flags',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-1'],
    description: 'DIRTY_PAGES drops flags outside START, STOP, GET_BITMAP (and the manual-clear ones). Class bad-input-accepted: a flag mask test left out.',
    Impl: DirtyIgnoresUnknownFlagsContainer,
    what: 'DIRTY_PAGES(1 << 5) returns 0',
    steps: async (c) => (await c.dirtyPages(32)).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-dirty-lowest-flag',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-2'],
    description: 'DIRTY_PAGES with more than one flag does the lowest one instead of refusing (the __ffs != __fls test left out): START | STOP starts. Class bad-input-accepted: an ambiguous request taken.',
    Impl: DirtyLowestFlagContainer,
    what: 'DIRTY_PAGES(START | STOP) starts tracking',
    steps: async (c) => (await c.dirtyPages(START | STOP)).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-start-twice-clears',
    bugClass: 'over-clear',
    targets: ['VFIO-DIRTY-3'],
    description: 'START while tracking is on starts again: the bitmaps are allocated anew and the pages dirtied before it are never reported. Class over-clear: a second START clears what nobody read.',
    Impl: StartTwiceClearsContainer,
    what: 'a page written before a second START is not reported',
    steps: async (c) => {
      await c.deviceDmaWrite(V.iova);
      await c.dirtyPages(START);
      return pagesOf(await c.dirtyPages(GET, { ...V, bitmap: vbm(V.size) }), V.iova);
    },
    reference: [0x10_0000],
    mutant: [],
  },
  {
    name: 'vfio-start-no-size-limit',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-4'],
    description: 'START does not check that every mapping fits a dirty bitmap: tracking starts over a mapping of more than INT_MAX pages. Class bad-input-accepted: vfio_dma_bitmap_alloc_all left unchecked.',
    Impl: StartNoSizeLimitContainer,
    what: 'START with a mapping of 2^31 pages returns 0',
    steps: async (c) => {
      await c.mapDma(RW, 0n, 0x1000_0000_0000n, 0x800_0000_0000n);
      return (await c.dirtyPages(START)).errno;
    },
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-stop-while-off-refused',
    bugClass: 'valid-input-refused',
    targets: ['VFIO-DIRTY-5'],
    description: 'STOP while tracking is off is -EINVAL instead of an idempotent 0: a VMM that stops twice (migration cancelled, then failed) sees an error. Class valid-input-refused: a request the uAPI allows answered with an error.',
    Impl: StopWhileOffRefusedContainer,
    what: 'STOP while off is -EINVAL',
    steps: async (c) => (await c.dirtyPages(STOP)).errno,
    reference: 0,
    mutant: -EINVAL,
    track: false,
  },
  {
    name: 'vfio-dirty-wrap-unchecked',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-6'],
    description: 'A bitmap operation whose iova + size wraps past 2^64 is not refused: the walk finds nothing and answers an empty bitmap. Class bad-input-accepted: a wrap test left out.',
    Impl: DirtyWrapUncheckedContainer,
    what: 'GET_BITMAP of 2 pages at 2^64 - 4096 returns 0',
    steps: async (c) => (await c.dirtyPages(GET, { iova: (1n << 64n) - 0x1000n, size: 0x2000n, bitmap: vbm(0x2000n) })).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-dirty-size-zero',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-7'],
    description: 'GET_BITMAP of size 0 returns an empty bitmap instead of -EINVAL. Class bad-input-accepted: a zero-size test left out.',
    Impl: DirtySizeZeroContainer,
    what: 'GET_BITMAP of size 0 returns 0',
    steps: async (c) => (await c.dirtyPages(GET, { iova: V.iova, size: 0n, bitmap: { pgsize: 0x1000n, size: 8n } })).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-dirty-unaligned',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-10'],
    description: 'A bitmap operation does not check that iova and size are page multiples: the range is widened to whole pages. Class bad-input-accepted: an alignment test left out.',
    Impl: DirtyUnalignedContainer,
    what: 'GET_BITMAP of size 0x3ff0 returns 0',
    steps: async (c) => (await c.dirtyPages(GET, { iova: V.iova, size: V.size - 0x10n, bitmap: vbm(V.size) })).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-get-while-off',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-11'],
    description: 'GET_BITMAP while tracking is off returns a bitmap of zeros instead of -EINVAL: the caller reads "nothing dirty". Class bad-input-accepted: a state test left out.',
    Impl: GetWhileOffContainer,
    what: 'GET_BITMAP while off returns 0',
    steps: async (c) => (await c.dirtyPages(GET, { ...V, bitmap: vbm(V.size) })).errno,
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-get-bisects',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-DIRTY-12'],
    description: 'GET_BITMAP lets its range cut a mapping: the mapping it cuts is silently left out of the report. Class bad-input-accepted: the whole-mappings test left out.',
    Impl: GetBisectsContainer,
    what: 'GET_BITMAP over the first 2 pages of a mapping returns 0',
    steps: async (c) => (await c.dirtyPages(GET, { iova: V.iova, size: 0x2000n, bitmap: vbm(0x2000n) })).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-get-refused-after-manual-clear',
    bugClass: 'valid-input-refused',
    targets: ['VFIO-DIRTY-13'],
    description:
      'Once manual clear is negotiated, GET_BITMAP is refused (-EINVAL), as if GET_BITMAP_NOCLEAR replaced it: a VMM that reads-and-clears in its final sync gets no bitmap. Class valid-input-refused: a request the uAPI allows answered with an error.',
    Impl: GetRefusedAfterManualClearContainer,
    what: 'GET_BITMAP after the manual-clear negotiation is -EINVAL',
    steps: async (c) => (await c.dirtyPages(GET, { ...V, bitmap: vbm(V.size) })).errno,
    reference: 0,
    mutant: -EINVAL,
  },
  {
    name: 'vfio-start-while-on-busy',
    bugClass: 'valid-input-refused',
    targets: ['VFIO-DIRTY-3'],
    description: 'START while tracking is on is -EBUSY instead of an idempotent 0. Class valid-input-refused: a request the uAPI allows answered with an error.',
    Impl: StartWhileOnBusyContainer,
    what: 'a second START is -EBUSY',
    steps: async (c) => (await c.dirtyPages(START)).errno,
    reference: 0,
    mutant: -16,
  },
  {
    name: 'vfio-unmap-dirty-empty-refused',
    bugClass: 'valid-input-refused',
    targets: ['VFIO-UNMAP-12'],
    description: 'UNMAP_DMA with GET_DIRTY_BITMAP over a range that holds no mapping is -EINVAL instead of 0 with nothing unmapped. Class valid-input-refused: a request the uAPI allows answered with an error.',
    Impl: UnmapDirtyEmptyRefusedContainer,
    what: 'UNMAP_DMA(GET_DIRTY_BITMAP) over a hole is -EINVAL',
    steps: async (c) => (await c.unmapDma(UNMAP_GET_DIRTY, 0x40_0000n, 0x1000n, vbm(0x1000n))).errno,
    reference: 0,
    mutant: -EINVAL,
  },
  {
    name: 'vfio-manual-clear-rfc1-number',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-CLEAR-2'],
    description:
      "VFIO_CHECK_EXTENSION takes RFC v1's number 9 for manual clear (since VFIO_UNMAP_ALL) and answers 0 for VFIO_DIRTY_LOG_MANUAL_CLEAR (11): it offers no manual clear, yet asking for UNMAP_ALL turns it on, and GET_BITMAP_NOCLEAR and CLEAR_BITMAP are taken. Class bad-input-accepted: flags of an extension not offered.",
    Impl: ManualClearRfc1NumberContainer,
    what: 'CLEAR_BITMAP after VFIO_CHECK_EXTENSION(9) returns 0',
    steps: async (c) => {
      await c.checkExtension(9);
      await c.dirtyPages(START);
      return (await c.dirtyPages(CLEAR, { ...V, bitmap: { ...vbm(V.size), data: new Uint8Array(8).fill(0xff) } })).errno;
    },
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },

  {
    name: 'vfio-clear-unnegotiated',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-CLEAR-2'],
    description:
      'GET_BITMAP_NOCLEAR and CLEAR_BITMAP are taken before VFIO_DIRTY_LOG_MANUAL_CLEAR was negotiated (the v2 series mask): a client that never asked for manual clear gets its state cleared. Class bad-input-accepted: flags of an extension not negotiated.',
    Impl: ClearUnnegotiatedContainer,
    what: 'CLEAR_BITMAP without negotiation returns 0',
    steps: async (c) => {
      await c.dirtyPages(START);
      return (await c.dirtyPages(CLEAR, { ...V, bitmap: { ...vbm(V.size), data: new Uint8Array(8).fill(0xff) } })).errno;
    },
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-clear-while-off',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-CLEAR-3'],
    description: 'CLEAR_BITMAP while tracking is off returns 0 instead of -EINVAL. Class bad-input-accepted: a state test left out.',
    Impl: ClearWhileOffContainer,
    what: 'CLEAR_BITMAP while off returns 0',
    steps: async (c) => {
      await c.checkExtension(11);
      return (await c.dirtyPages(CLEAR, { ...V, bitmap: { ...vbm(V.size), data: new Uint8Array(8).fill(0xff) } })).errno;
    },
    reference: -EINVAL,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-clear-part-block-refused',
    bugClass: 'valid-input-refused',
    targets: ['VFIO-CLEAR-6'],
    description:
      'CLEAR_BITMAP refuses (-EINVAL) a selection that covers part of a 2 MiB block leaf instead of leaving the block dirty: nothing selected is cleared and the caller is told its arguments are wrong. Class valid-input-refused: a request the uAPI allows answered with an error.',
    Impl: ClearPartBlockRefusedContainer,
    what: 'CLEAR_BITMAP of one page of a 2 MiB block is -EINVAL',
    steps: async (c) => {
      const B = { iova: 0x20_0000n, size: 0x20_0000n };
      await c.mapDma(RW, 0x8020_0000n, B.iova, B.size);
      const data = new Uint8Array(64);
      data[0] = 1;
      return (await c.dirtyPages(CLEAR, { ...B, bitmap: { ...vbm(B.size), data } })).errno;
    },
    reference: 0,
    mutant: -EINVAL,
  },

  {
    name: 'vfio-extension-not-negotiated',
    bugClass: 'state-not-carried',
    targets: ['VFIO-CLEAR-1'],
    description: 'VFIO_CHECK_EXTENSION(VFIO_DIRTY_LOG_MANUAL_CLEAR) answers 1 but never records the negotiation: GET_BITMAP_NOCLEAR and CLEAR_BITMAP stay refused. Class state-not-carried: a negotiation answered but not kept.',
    Impl: ExtensionNotNegotiatedContainer,
    what: 'GET_BITMAP_NOCLEAR after the extension check is -EINVAL',
    steps: async (c) => {
      await c.checkExtension(11);
      await c.dirtyPages(START);
      return (await c.dirtyPages(NOCLEAR, { ...V, bitmap: vbm(V.size) })).errno;
    },
    reference: 0,
    mutant: -EINVAL,
    track: false,
  },
  {
    name: 'vfio-extension-claims-vaddr',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-MAP-10'],
    description:
      'VFIO_CHECK_EXTENSION(VFIO_UPDATE_VADDR) answers 1, though MAP_DMA and UNMAP_DMA refuse VADDR as an unknown flag: MAP_DMA(VADDR) over no mapping is -EINVAL where the offer makes it -ENOENT. Class bad-input-accepted: a capability claimed whose requests are refused.',
    Impl: ExtensionClaimsVaddrContainer,
    what: 'VFIO_CHECK_EXTENSION(10) is 1',
    steps: async (c) => c.checkExtension(10),
    reference: 0,
    mutant: 1,
    track: false,
  },
  {
    name: 'vfio-unmap-all-unannounced',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-UNMAP-1'],
    description:
      'VFIO_CHECK_EXTENSION(VFIO_UNMAP_ALL) answers 0 (the uAPI before v5.12, where ALL is an unknown UNMAP_DMA flag), yet UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_ALL removes every mapping: a partial backport. Class bad-input-accepted: a flag of an extension not offered.',
    Impl: UnmapAllUnannouncedContainer,
    what: 'VFIO_CHECK_EXTENSION(9) is 0',
    steps: async (c) => c.checkExtension(9),
    reference: 1,
    mutant: 0,
    track: false,
  },
  {
    name: 'vfio-extension-unknown-error',
    bugClass: 'valid-input-refused',
    targets: ['VFIO-EXT-1'],
    description:
      'VFIO_CHECK_EXTENSION of an extension the container does not know (VFIO_UPDATE_VADDR, VFIO_SPAPR_TCE_IOMMU, 0) returns -ENOTTY instead of 0: the check has no default case and the ioctl falls through. Class valid-input-refused: a request the uAPI allows answered with an error.',
    Impl: ExtensionUnknownErrorContainer,
    what: 'VFIO_CHECK_EXTENSION(2) is -ENOTTY',
    steps: async (c) => c.checkExtension(2),
    reference: 0,
    mutant: -25,
    track: false,
  },
  {
    name: 'vfio-info-pgsize-bitmap',
    bugClass: 'boundary-arithmetic',
    targets: ['VFIO-INFO-1'],
    description:
      "GET_INFO's migration capability reports the IOMMU's whole page-size bitmap instead of its smallest page size (1 << __ffs left out): a caller may pick 2 MiB bitmap pages, which every bitmap call refuses. Class boundary-arithmetic: a bitmap of sizes where one size was meant.",
    Impl: InfoPgsizeBitmapContainer,
    what: 'the migration capability says 4 KiB | 2 MiB | 1 GiB',
    steps: async (c) => (await c.getInfo()).migration.pgsizeBitmap,
    reference: 0x1000n,
    mutant: 0x4020_1000n,
    track: false,
  },
  {
    name: 'vfio-rw-dirty-count',
    bugClass: 'boundary-arithmetic',
    targets: ['VFIO-RW-3'],
    description:
      'vfio_dma_rw dirties `copied >> pgshift` pages from `offset >> pgshift` (Linux before commit 2c5af98592f6 "vfio/type1: fix dirty bitmap calculation in vfio_dma_rw"): a 2-byte write at PAGE_SIZE - 1 dirties no page, and an unaligned write of n pages misses its last. Class boundary-arithmetic: a page count taken from the length alone, not from where the bytes start and end.',
    Impl: RwDirtyCountContainer,
    what: 'a 2-byte write at PAGE_SIZE - 1 is reported as no page',
    steps: async (c) => {
      await rw(c, V.iova + 0xfffn, 2);
      return pagesOf(await c.dirtyPages(GET, { ...V, bitmap: vbm(V.size) }), V.iova);
    },
    reference: [Number(V.iova), Number(V.iova) + PG],
    mutant: [],
  },
  {
    name: 'vfio-rw-write-readonly',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-RW-2'],
    description: 'vfio_dma_rw checks a mapping for VFIO_DMA_MAP_FLAG_READ only: a write into a read-only mapping goes through instead of -EPERM. Class bad-input-accepted: half of a permission test left out.',
    Impl: RwWriteReadOnlyContainer,
    what: 'a write into a read-only mapping returns 0',
    steps: async (c) => {
      await c.mapDma(READ, V.vaddr + 0x10_0000n, 0x20_0000n, 0x1000n);
      return (await rw(c, 0x20_0000n, 4)).errno;
    },
    reference: -EPERM,
    mutant: 0,
  },
  {
    name: 'vfio-rw-no-clip',
    bugClass: 'boundary-arithmetic',
    targets: ['VFIO-RW-1'],
    description:
      "vfio_dma_rw copies the whole access in the mapping of its first byte, not clipped to that mapping's end: an access running into a hole succeeds, and one running into the next mapping skips its permission check and dirties none of its pages. Class boundary-arithmetic: a copy bounded by the request, not by the mapping.",
    Impl: RwNoClipContainer,
    what: 'an 8-byte write across the end of the mapping into a hole returns 0',
    steps: async (c) => (await rw(c, V.iova + V.size - 4n, 8)).errno,
    reference: -EINVAL,
    mutant: 0,
  },
  {
    name: 'vfio-rw-partial-success',
    bugClass: 'bad-input-accepted',
    targets: ['VFIO-RW-4'],
    description:
      "vfio_dma_rw answers 0 when a chunk is refused after earlier chunks were copied (the chunk's `*copied ? 0 : -EFAULT` moved to the loop): the emulated device is told that bytes were written into a hole or a read-only mapping. Class bad-input-accepted: an access that runs out of its mappings taken as done.",
    Impl: RwPartialSuccessContainer,
    what: 'a write from the mapping into a hole returns 0',
    steps: async (c) => (await rw(c, V.iova + V.size - 0x1000n, 0x2000)).errno,
    reference: -EINVAL,
    mutant: 0,
  },
];

export const vfioArgMutants: readonly Mutant[] = specs.map((s) => ({ name: s.name, bugClass: s.bugClass, profile: 'vfio-type1', description: s.description, targets: s.targets, adapter: referenceVfioType1Adapter(s.name, s.Impl) }));

export const vfioArgProbes: readonly Probe[] = specs.map((s) => ({
  mutant: s.name,
  title: `${s.targets.map((t) => `[${t}]`).join(' ')} mutant ${s.name} deviates from the reference: ${s.what}`,
  reference: referenceVfioType1Adapter(),
  run: async (adapter: Adapter) => s.steps(await setUp(adapter as VfioType1Adapter, s.config ?? { hwDirty: true }, s.track ?? true, s.map ?? true)),
  want: { reference: s.reference, mutant: s.mutant },
}));
