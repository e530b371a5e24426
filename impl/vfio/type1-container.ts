// The reference VFIO type1 container: DMA mappings kept per MAP_DMA call (as QEMU's
// VFIODMARange), the dirty-page ioctls with the manual-clear extension, on top of one
// IOMMU domain of the SMMU model. Methods take the ioctls' raw numbers and return
// `{ errno }` (0 or a negated Linux errno) plus data; a refused call changes nothing.
// Bitmaps use the kernel layout: bit i of u64 word i / 64 (little-endian bytes: byte
// i >> 3, bit i & 7) is page iova + i * pgsize; ALIGN(npages, 64) / 8 bytes.
//
// Sources: Linux include/uapi/linux/vfio.h, drivers/vfio/vfio_iommu_type1.c
//          (vfio_dma_do_map, vfio_dma_do_unmap, vfio_iommu_type1_dirty_pages,
//          vfio_iova_dirty_bitmap, update_user_bitmap, verify_bitmap_size,
//          vfio_iommu_migration_build_caps, vfio_iommu_type1_dma_rw and
//          vfio_iommu_type1_dma_rw_chunk as of v6.12, with the dirty-page count of commit
//          2c5af98592f6 "vfio/type1: fix dirty bitmap calculation in vfio_dma_rw",
//          <20200915003251.14343-1-yan.y.zhao@intel.com>), drivers/vfio/vfio_main.c
//          vfio_dma_rw (len 0: -EINVAL); the manual-clear RFC (Kunkun Jiang / Keqian Zhu,
//          2021: vfio_iova_dirty_log_clear clears dma->bitmap's selected bits too; QEMU
//          GET_BITMAP_NOCLEAR).
//
// The CPU side (vfio_dma_rw, an emulated device's access): the IOMMU sees none of it, so
// while tracking a write is recorded in software, per mapping, at 4 KiB pages (dma->bitmap)
// and every report of the mapping ORs those pages in: GET_BITMAP and UNMAP_DMA's bitmap
// then forget them, GET_BITMAP_NOCLEAR keeps them, CLEAR_BITMAP forgets the selected ones,
// STOP drops them all. The copy itself always succeeds (the pages are pinned at vaddr).
//
// On a domain playing the 2021 HTTU RFC (lifecycle 'rfc-v4'), whose page-table unmap reports
// no dirty state, UNMAP_DMA syncs each mapping's dirty log before unmapping it, as the RFC's
// VFIO patch does (unmapTracked). On a domain playing Linux v6.18 iommufd (lifecycle
// 'linux-v6.18') the container is the VMM over iommufd, whose own caller obligations it
// keeps: UNMAP_DMA's bitmap is an IOMMU_HWPT_GET_DIRTY_BITMAP of each mapping before its
// IOMMU_IOAS_UNMAP (UNMAP-U3), and CLEAR_BITMAP clears only leaves wholly inside a run of
// set bits (CLEAR-U2: a read-and-clear clears a leaf it enters whole).
//
// Dirty state lives in the page table (HTTU): GET_BITMAP is the domain's read-and-clear,
// GET_BITMAP_NOCLEAR the same with IOMMU_DIRTY_NO_CLEAR, CLEAR_BITMAP a read-and-clear
// without recording over each run of set bits (it clears only leaves wholly inside the
// run, then invalidates the TLB over what it cleared). Without hardware dirty tracking
// (SMMU_IDR0.HTTU < 2, or a domain not allocated for it) every mapped page is reported
// dirty on every report, as type1 does for groups without a pinned-page scope.
//
// The groups (Linux v6.12 vfio_iommu_type1_attach_group, vfio_iommu_type1_detach_group):
// the container's device is IOMMU-backed and pins no pages, so while its group is attached
// it counts in num_non_pinned_groups and the fallback above holds. An emulated group keeps
// the container while the device's group is detached (vfio_iommu_unmap_unpin_reaccount: the
// mappings stay; the domain, which the kit's device no longer writes through, is kept as
// it is). A detach while tracking makes every mapping dirty whole
// (vfio_iommu_populate_bitmap_full, since d0a78f91761f "vfio/iommu_type1: Populate full
// dirty when detach non-pinned group"); then a report holds the CPU side and those pages.
//
// DEPARTS (the spec says so too): no VFIO_UPDATE_VADDR (MAP and UNMAP with VADDR are
// -EINVAL, as before v5.12); vaddr is taken as the physical address the pages are pinned
// at (no process address space); argsz and copy_{from,to}_user are not modelled (no
// -EFAULT for unreadable buffers: a CLEAR_BITMAP data array shorter than the range reads
// as zeros); a missing range for a bitmap operation is a caller error (TypeError).
import { EEXIST, EFAULT, EINVAL, ENOENT, ENOSPC, EOVERFLOW, EPERM } from '../errno.ts';
import type { IommuDomain } from '../domain.ts';
import { IOMMU_DIRTY_NO_CLEAR, IOMMU_READ, IOMMU_WRITE } from '../pgtable/io-pgtable-arm.ts';
import { IOVA_LIMIT } from '../pgtable/pte.ts';
import { createTestbed, type Testbed, type TestbedOptions } from '../testbed.ts';

// include/uapi/linux/vfio.h. spec/vfio/args.ts has them too, with their history: impl/
// imports nothing from spec/ (the layering rule of README.md), so the implementation keeps
// its own copy.
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;
export const VFIO_DIRTY_LOG_MANUAL_CLEAR = 11;

export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_START = 1 << 0;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP = 1 << 1;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP = 1 << 2;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR = 1 << 3;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP = 1 << 4;
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;

/** The ARM LPAE 4 KiB-granule page sizes: 4 KiB pages, 2 MiB and 1 GiB blocks. */
export const TYPE1_PGSIZE_BITMAP = 0x1000 | 0x20_0000 | 0x4000_0000;
const PGSIZE = 0x1000; // 1 << __ffs(pgsize_bitmap)
const DIRTY_BITMAP_PAGES_MAX = 2 ** 31 - 1; // INT_MAX
const DIRTY_BITMAP_SIZE_MAX = Math.ceil(DIRTY_BITMAP_PAGES_MAX / 64) * 8; // 2^28
const DMA_ENTRY_LIMIT = 0xffff; // dma_entry_limit default (U16_MAX)
const U64_LIMIT = 1n << 64n;

/** One MAP_DMA call's mapping (vfio_dma; QEMU's VFIODMARange). Never merged with its neighbours. */
export interface VfioDma {
  readonly iova: number;
  readonly size: number;
  readonly vaddr: number;
  readonly prot: number;
}

/** struct vfio_bitmap: bytes per bit, bytes of the buffer, and (CLEAR_BITMAP) its contents. */
export interface VfioBitmap {
  readonly pgsize: number;
  readonly size: number;
  readonly data?: Uint8Array;
}

/** struct vfio_iommu_type1_dirty_bitmap_get. */
export interface DirtyBitmapRange {
  readonly iova: number;
  readonly size: number;
  readonly bitmap: VfioBitmap;
}

export interface Type1Info {
  readonly errno: 0;
  readonly flags: number;
  readonly iovaPgsizes: number;
  readonly capMigration: { readonly id: 2; readonly version: 1; readonly flags: 0; readonly pgsizeBitmap: number; readonly maxDirtyBitmapSize: number };
  readonly capDmaAvail: { readonly id: 3; readonly version: 1; readonly avail: number };
  readonly capIovaRange: { readonly id: 1; readonly version: 1; readonly ranges: readonly { readonly start: number; readonly end: number }[] };
}

export interface Type1ContainerOptions {
  /** dma_entry_limit: the most mappings the container holds (default 65535). */
  readonly dmaEntryLimit?: number;
  /**
   * Whether the container offers manual clear (VFIO_DIRTY_LOG_MANUAL_CLEAR, default true).
   * false: CHECK_EXTENSION(11) is 0 and negotiates nothing, so GET_BITMAP_NOCLEAR and
   * CLEAR_BITMAP stay outside the flag mask, as in upstream Linux, which never merged it.
   */
  readonly manualClear?: boolean;
  /**
   * Whether the container offers VFIO_UNMAP_ALL (default true). false: the uAPI before
   * Linux v5.12 (c19650995374): CHECK_EXTENSION(9) is 0 and UNMAP_DMA's flag mask is
   * GET_DIRTY_BITMAP alone, so ALL and VADDR are unknown flags.
   */
  readonly unmapAll?: boolean;
  /**
   * Whether the container offers VFIO_UPDATE_VADDR (10; default false), as Linux does from
   * v5.12 (c19650995374, 441e8106a238). true: CHECK_EXTENSION(10) is 1 and MAP_DMA with
   * VFIO_DMA_MAP_FLAG_VADDR alone asks for a new vaddr of a mapping whose vaddr UNMAP_DMA
   * invalidated. No vaddr is ever invalidated here (UNMAP_DMA with VADDR stays refused, and
   * the kit never sends it to a container offering 10), so vfio_dma_do_map's refusals are
   * all it can answer: -EINVAL with READ or WRITE too, or for a bad size, alignment or wrap;
   * -EINVAL where a mapping meets the range; -ENOENT where none does (VFIO-MAP-10).
   */
  readonly updateVaddr?: boolean;
  /**
   * The range checks (default 'v6.12'). 'addressable-limit': Linux from the series "vfio:
   * handle DMA map/unmap up to the addressable limit" (6012379ede6a "vfio/type1: sanitize
   * for overflow using check_*_overflow()", v6.18): a range whose last byte is past
   * 2^64 - 1 is -EOVERFLOW, not -EINVAL, checked right after size 0 (MAP_DMA: before the
   * READ/WRITE combination and the alignment; UNMAP_DMA: where v6.12 refused it;
   * VFIO_IOMMU_DIRTY_PAGES: before the bitmap's checks), and a report range ending exactly
   * at 2^64 no longer counts as wrapping.
   */
  readonly rangeChecks?: 'v6.12' | 'addressable-limit';
}

function u64(name: string, x: number): bigint {
  if (!Number.isInteger(x) || x < 0 || x >= 2 ** 64) throw new RangeError(`${name}: must be an integer in [0, 2^64), got ${x}`);
  return BigInt(x);
}

/** iova + size - 1 < iova in u64. */
function wraps(iova: number, size: number): boolean {
  return size > 0 && u64('iova', iova) + u64('size', size) > U64_LIMIT;
}

/** range.iova + range.size < range.iova in u64 (VFIO_IOMMU_DIRTY_PAGES has no - 1): ending exactly at 2^64 wraps. */
function dirtyRangeWraps(iova: number, size: number): boolean {
  return size > 0 && u64('iova', iova) + u64('size', size) >= U64_LIMIT;
}

function aligned(x: number): boolean {
  return x % PGSIZE === 0;
}

function bitmapBytes(pages: number): number {
  return Math.ceil(pages / 64) * 8;
}

/** __ffs(pgsize) (0 for 0, where the kernel's is undefined). */
function pgshift(pgsize: number): number {
  if (!Number.isInteger(pgsize) || pgsize <= 0) return 0;
  let s = 0;
  while (Math.floor(pgsize / 2 ** s) % 2 === 0) s++;
  return s;
}

/** verify_bitmap_size for a range of `size` bytes, less its npages == 0 clause (a zero size is refused on its own). */
function bitmapSizeOk(size: number, bitmap: VfioBitmap): boolean {
  const npages = Math.floor(size / 2 ** pgshift(bitmap.pgsize));
  return bitmap.size > 0 && bitmap.size <= DIRTY_BITMAP_SIZE_MAX && bitmap.size >= bitmapBytes(npages);
}

/** Marks the pages of [from, to) in a bitmap whose bit 0 is page `base`. */
function setPages(bitmap: Uint8Array, base: number, from: number, to: number): void {
  for (let at = from; at < to; at += PGSIZE) {
    const i = (at - base) / PGSIZE;
    bitmap[i >> 3]! |= 1 << (i & 7);
  }
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

export class VfioType1Container {
  /** The vfio_dma list, sorted by iova. */
  private readonly dmas: VfioDma[] = [];
  private dmaAvail: number;
  private tracking = false;
  /** Tracking is on and the domain records dirty state in hardware; otherwise the all-dirty fallback. */
  private hwTracking = false;
  private manualClear = false;
  /**
   * Per mapping, the pages (indexes from its start) vfio_dma_rw wrote while tracking and no
   * report has cleared since: the CPU-side bits of dma->bitmap. Sparse: a mapping of
   * INT_MAX pages needs no 256 MiB array.
   */
  private readonly cpuDirty = new Map<VfioDma, Set<number>>();
  /**
   * Whether the group of the container's IOMMU-backed device is attached: it can dirty
   * memory directly, so while it is the container's dirty scope is every mapped page
   * (iommu->num_non_pinned_groups > 0, VFIO-DIRTY-14). Another group, an emulated (mdev)
   * one, keeps the container and its mappings while it is detached.
   */
  private deviceAttached = true;
  /** iommu->num_non_pinned_groups: the attached groups that can dirty memory directly and pin no pages (the device's, while attached). */
  private nonPinnedGroups = 1;
  /**
   * The mappings a detach while tracking made dirty whole (vfio_iommu_populate_bitmap_full,
   * VFIO-DETACH-1), until a clearing report over them, each with the pages (indexes from its
   * start) CLEAR_BITMAP has cleared since: the rest stay dirty.
   */
  private readonly fullDirty = new Map<VfioDma, Set<number>>();
  /** The extensions offered (Type1ContainerOptions). */
  private readonly offersManualClear: boolean;
  private readonly offersUnmapAll: boolean;
  private readonly offersUpdateVaddr: boolean;
  /** Type1ContainerOptions.rangeChecks is 'addressable-limit'. */
  private readonly addressableLimit: boolean;

  constructor(
    readonly domain: IommuDomain,
    options: Type1ContainerOptions = {},
  ) {
    this.dmaAvail = options.dmaEntryLimit ?? DMA_ENTRY_LIMIT;
    this.offersManualClear = options.manualClear ?? true;
    this.offersUnmapAll = options.unmapAll ?? true;
    this.offersUpdateVaddr = options.updateVaddr ?? false;
    this.addressableLimit = options.rangeChecks === 'addressable-limit';
  }

  /** The mappings, in IOVA order. */
  get mappings(): readonly VfioDma[] {
    return this.dmas.map((d) => ({ ...d }));
  }

  /** iommu->dirty_page_tracking. */
  get dirtyPageTracking(): boolean {
    return this.tracking;
  }

  /** Whether the tracking is the hardware's (HTTU) rather than the all-dirty fallback. */
  get hardwareDirtyTracking(): boolean {
    return this.hwTracking;
  }

  /** Whether VFIO_DIRTY_LOG_MANUAL_CLEAR was negotiated. */
  get dirtyLogManualClear(): boolean {
    return this.manualClear;
  }

  /** VFIO_CHECK_EXTENSION: 1 for the extensions offered; asking for VFIO_DIRTY_LOG_MANUAL_CLEAR negotiates it. */
  checkExtension(extension: number): number {
    switch (extension) {
      case VFIO_DIRTY_LOG_MANUAL_CLEAR:
        if (!this.offersManualClear) return 0;
        this.manualClear = true;
        return 1;
      case VFIO_UNMAP_ALL:
        return this.offersUnmapAll ? 1 : 0;
      case VFIO_UPDATE_VADDR:
        return this.offersUpdateVaddr ? 1 : 0;
      case VFIO_TYPE1_IOMMU:
      case VFIO_TYPE1v2_IOMMU:
        return 1;
      default:
        return 0;
    }
  }

  /** VFIO_IOMMU_GET_INFO with its capability chain (migration, DMA available, IOVA ranges). */
  getInfo(): Type1Info {
    return {
      errno: 0,
      flags: VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
      iovaPgsizes: TYPE1_PGSIZE_BITMAP,
      capMigration: { id: VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, version: 1, flags: 0, pgsizeBitmap: PGSIZE, maxDirtyBitmapSize: DIRTY_BITMAP_SIZE_MAX },
      capDmaAvail: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1, avail: this.dmaAvail },
      capIovaRange: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1, ranges: [{ start: 0, end: IOVA_LIMIT - 1 }] },
    };
  }

  /** VFIO_IOMMU_MAP_DMA: maps [iova, iova + size) to the pages pinned at vaddr. */
  mapDma(flags: number, vaddr: number, iova: number, size: number): { errno: number } {
    const prot = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    const last = u64('iova', iova) + u64('size', size) - 1n;
    u64('vaddr', vaddr);
    // From the addressable-limit series: after the ioctl's flag mask, size 0, then a range past 2^64 - 1 (-EOVERFLOW).
    if (this.addressableLimit && (flags & ~(prot | VFIO_DMA_MAP_FLAG_VADDR)) === 0) {
      if (size === 0) return { errno: -EINVAL };
      if (wraps(iova, size) || wraps(vaddr, size)) return { errno: -EOVERFLOW };
    }
    // 0. VADDR where VFIO_UPDATE_VADDR is offered (VFIO-MAP-10): a new vaddr, never valid here.
    if (this.offersUpdateVaddr && (flags & VFIO_DMA_MAP_FLAG_VADDR) !== 0) {
      if ((flags & ~VFIO_DMA_MAP_FLAG_VADDR) !== 0 || size === 0 || !aligned(iova) || !aligned(size) || !aligned(vaddr)) return { errno: -EINVAL };
      if (wraps(iova, size) || wraps(vaddr, size)) return { errno: -EINVAL };
      return { errno: this.dmas.some((d) => d.iova < iova + size && iova < d.iova + d.size) ? -EINVAL : -ENOENT };
    }
    // 1. Flags: READ and/or WRITE, nothing else (VFIO-MAP-1).
    if ((flags & ~prot) !== 0 || (flags & prot) === 0) return { errno: -EINVAL };
    // 2. Size and alignment (VFIO-MAP-2), 3. wrap (VFIO-MAP-3).
    if (size === 0 || !aligned(iova) || !aligned(size) || !aligned(vaddr)) return { errno: -EINVAL };
    if (wraps(iova, size) || wraps(vaddr, size)) return { errno: -EINVAL };
    // 4. Overlap (VFIO-MAP-4), 5. entries left (VFIO-MAP-5).
    if (this.dmas.some((d) => d.iova < iova + size && iova < d.iova + d.size)) return { errno: -EEXIST };
    if (this.dmaAvail === 0) return { errno: -ENOSPC };
    // 6. Inside the IOVA range (VFIO-MAP-6), 7. pinnable (VFIO-MAP-7).
    if (last >= BigInt(IOVA_LIMIT)) return { errno: -EINVAL };
    if (vaddr + size > IOVA_LIMIT) return { errno: -EFAULT };
    // 8. While tracking, a dirty bitmap must be able to cover it (VFIO-MAP-8).
    if (this.tracking && size / PGSIZE > DIRTY_BITMAP_PAGES_MAX) return { errno: -EINVAL };
    // 9. Map, then link (VFIO-MAP-9).
    const ret = this.domain.map(iova, vaddr, size, ((flags & VFIO_DMA_MAP_FLAG_READ) !== 0 ? IOMMU_READ : 0) | ((flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0 ? IOMMU_WRITE : 0));
    if (ret !== 0) return { errno: ret };
    const at = this.dmas.findIndex((d) => d.iova > iova);
    this.dmas.splice(at < 0 ? this.dmas.length : at, 0, { iova, size, vaddr, prot: flags & prot });
    this.dmaAvail--;
    return { errno: 0 };
  }

  /** Whether [iova, iova + size) starts or ends inside a mapping (the v2 no-bisection rule). A step of its own for the mutants. */
  protected bisects(iova: number, size: number): boolean {
    const end = iova + size;
    return this.dmas.some((d) => (d.iova < iova && iova < d.iova + d.size) || (d.iova < end && end < d.iova + d.size));
  }

  /** The mappings wholly inside [iova, iova + size) (after the bisection check: every one that meets it). */
  private inside(iova: number, size: number): VfioDma[] {
    return this.dmas.filter((d) => d.iova >= iova && d.iova + d.size <= iova + size);
  }

  /**
   * VFIO_IOMMU_UNMAP_DMA. With VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, `bitmap` is the
   * vfio_bitmap and the result carries the dirty pages of what was unmapped, relative to iova.
   */
  unmapDma(flags: number, iova: number, size: number, bitmap?: VfioBitmap): { errno: number; unmapped: number; bitmap?: Uint8Array } {
    const refuse = (errno: number) => ({ errno: -errno, unmapped: 0 });
    const getDirty = (flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0;
    const all = (flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
    const vaddr = (flags & VFIO_DMA_UNMAP_FLAG_VADDR) !== 0;
    u64('iova', iova);
    u64('size', size);
    // 1. Flags (VFIO-UNMAP-1..3): v5.12's mask, or before it (no VFIO_UNMAP_ALL) GET_DIRTY_BITMAP alone.
    const mask = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | (this.offersUnmapAll ? VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR : 0);
    if ((flags & ~mask) !== 0) return refuse(EINVAL);
    if (getDirty && (all || vaddr)) return refuse(EINVAL);
    if (vaddr) return refuse(EINVAL);
    // 2. The user bitmap (VFIO-UNMAP-4).
    if (getDirty && (bitmap === undefined || !this.bitmapSizeOk(size, bitmap))) return refuse(EINVAL);
    // 3. The range (VFIO-UNMAP-5..7).
    if (!aligned(iova)) return refuse(EINVAL);
    if (all && (iova !== 0 || size !== 0)) return refuse(EINVAL);
    if (!all && (size === 0 || !aligned(size))) return refuse(EINVAL);
    if (!all && wraps(iova, size)) return refuse(this.addressableLimit ? EOVERFLOW : EINVAL);
    // 4. Dirty bitmap only while tracking, at the smallest page size (VFIO-UNMAP-8, -9).
    if (getDirty && (!this.tracking || !this.pgsizeOk(bitmap!.pgsize))) return refuse(EINVAL);
    // 5. No bisection (VFIO-UNMAP-10).
    if (!all && this.bisects(iova, size)) return refuse(EINVAL);
    // 6. Unmap each mapping, recording its dirty pages up to the moment it goes (VFIO-UNMAP-11, -12).
    const victims = all ? [...this.dmas] : this.inside(iova, size);
    const out = getDirty ? new Uint8Array(bitmapBytes(size / PGSIZE)) : undefined;
    let unmapped = 0;
    for (const d of victims) {
      if (this.hwTracking) this.unmapTracked(d, out, iova);
      else {
        this.domain.unmap(d.iova, d.size);
        if (out !== undefined && this.nonPinnedGroups > 0) setPages(out, iova, d.iova, d.iova + d.size); // VFIO-DIRTY-14 fallback
      }
      if (out !== undefined) this.cpuPagesInto(out, iova, d, false);
      if (out !== undefined && !this.hwTracking) this.fullPagesInto(out, iova, d); // VFIO-DETACH-1
      this.cpuDirty.delete(d);
      this.fullDirty.delete(d);
      this.dmas.splice(this.dmas.indexOf(d), 1);
      this.dmaAvail++;
      unmapped += d.size;
    }
    return out === undefined ? { errno: 0, unmapped } : { errno: 0, unmapped, bitmap: out };
  }

  /**
   * One mapping of UNMAP_DMA while hardware tracking is on; with GET_DIRTY_BITMAP its dirty
   * pages go into `out` (bit 0 is page `base`). On a domain whose unmap reports what it
   * removes (lifecycle 'reference': NOLOSS-3) the unmap's own report is the bitmap, up to
   * the moment each leaf goes. On an 'rfc-v4' domain the unmap reads no dirty state
   * (UNMAP-R1), so this is the RFC's order (VFIO RFC v2 2/3
   * <20210507103608.39440-3-zhukeqian1@huawei.com>, vfio_dma_do_unmap): 1. update_user_bitmap
   * syncs the mapping's dirty log (iommu_sync_dirty_log: a read without clearing), 2. "Stop
   * log for removed dma" (vfio_dma_dirty_log_switch(false): the merge of its range),
   * whether or not a bitmap was asked for, 3. vfio_remove_dma unmaps. A step of its own for
   * the mutants.
   */
  protected unmapTracked(d: VfioDma, out: Uint8Array | undefined, base: number): void {
    const record = out === undefined ? undefined : (at: number, len: number) => setPages(out, base, Math.max(at, d.iova), Math.min(at + len, d.iova + d.size));
    const lifecycle = this.domain.options.lifecycle;
    if (lifecycle === 'rfc-v4') {
      if (record !== undefined) this.domain.readAndClearDirty(d.iova, d.size, IOMMU_DIRTY_NO_CLEAR, record);
      this.domain.stopDirtyLogRange(d.iova, d.size);
    } else if (lifecycle === 'linux-v6.18') {
      // The VMM's IOMMU_HWPT_GET_DIRTY_BITMAP over the mapping, then IOMMU_IOAS_UNMAP (QEMU
      // "vfio/iommufd: Query dirty bitmap before DMA unmap",
      // <20250910023701.244356-3-zhenzhong.duan@intel.com>).
      if (record !== undefined) this.domain.readAndClearDirty(d.iova, d.size, 0, record);
    } else {
      this.domain.unmap(d.iova, d.size, record);
      return;
    }
    this.domain.unmap(d.iova, d.size);
  }

  /**
   * VFIO_IOMMU_DIRTY_PAGES: exactly one of START, STOP, GET_BITMAP and, once manual clear
   * is negotiated, GET_BITMAP_NOCLEAR and CLEAR_BITMAP. The bitmap operations take `range`;
   * GET_BITMAP and GET_BITMAP_NOCLEAR return the bitmap, CLEAR_BITMAP reads `range.bitmap.data`.
   */
  dirtyPages(flags: number, range?: DirtyBitmapRange): { errno: number; bitmap?: Uint8Array } {
    const manualClearFlags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR | VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP;
    const mask = VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP | VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP | manualClearFlags;
    // 1. Flags: known (VFIO-DIRTY-1), manual clear negotiated (VFIO-CLEAR-2), exactly one (VFIO-DIRTY-2).
    if ((flags & ~mask) !== 0) return { errno: -EINVAL };
    if ((flags & manualClearFlags) !== 0 && !this.manualClear) return { errno: -EINVAL };
    if (popcount(flags) !== 1) return { errno: -EINVAL };
    if (flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_START) return { errno: this.start() };
    if (flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) return { errno: this.stop() };
    if (range === undefined) throw new TypeError('VFIO_IOMMU_DIRTY_PAGES: a bitmap operation needs a range');
    const { iova, size, bitmap } = range;
    u64('iova', iova);
    u64('size', size);
    // 2. The range and the bitmap, in the kernel's order (VFIO-DIRTY-6..10).
    if (this.addressableLimit) {
      if (size === 0) return { errno: -EINVAL };
      if (wraps(iova, size)) return { errno: -EOVERFLOW };
    }
    if (dirtyRangeWraps(iova, size) && !this.addressableLimit) return { errno: -EINVAL };
    if (size === 0 || !this.bitmapSizeOk(size, bitmap) || !this.pgsizeOk(bitmap.pgsize)) return { errno: -EINVAL };
    if (!aligned(iova) || !aligned(size)) return { errno: -EINVAL };
    // 3. Tracking (VFIO-DIRTY-11, VFIO-CLEAR-3).
    if (!this.tracking) return { errno: -EINVAL };
    if (flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP) {
      this.clearBitmap(iova, size, bitmap.data ?? new Uint8Array(0));
      return { errno: 0 };
    }
    // 4. Whole mappings only (VFIO-DIRTY-12), then report (VFIO-DIRTY-13, VFIO-CLEAR-4).
    if (this.bisects(iova, size)) return { errno: -EINVAL };
    return { errno: 0, bitmap: this.report(iova, size, flags === VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR) };
  }

  /** verify_bitmap_size (VFIO-UNMAP-4, VFIO-DIRTY-8). A step of its own for the mutants. */
  protected bitmapSizeOk(size: number, bitmap: VfioBitmap): boolean {
    return bitmapSizeOk(size, bitmap);
  }

  /** bitmap.pgsize is the smallest page size (VFIO-UNMAP-9, VFIO-DIRTY-9). A step of its own for the mutants. */
  protected pgsizeOk(pgsize: number): boolean {
    return pgsize === PGSIZE;
  }

  /** START (VFIO-DIRTY-3, -4): hardware tracking if the domain can, else the all-dirty fallback. */
  private start(): number {
    if (this.tracking) return 0;
    if (this.dmas.some((d) => d.size / PGSIZE > DIRTY_BITMAP_PAGES_MAX)) return -EINVAL;
    // The domain clears stale dirty state and invalidates the TLB before it returns (TRACK-3).
    this.hwTracking = this.domain.setDirtyTracking(true) === 0;
    this.tracking = true;
    this.cpuDirty.clear();
    this.fullDirty.clear();
    return 0;
  }

  /** STOP (VFIO-DIRTY-5): what was not reported is dropped with the tracking. */
  private stop(): number {
    if (!this.tracking) return 0;
    if (this.hwTracking) this.domain.setDirtyTracking(false);
    this.tracking = false;
    this.hwTracking = false;
    this.cpuDirty.clear();
    this.fullDirty.clear();
    return 0;
  }

  /**
   * The group of the container's IOMMU-backed device leaves the container
   * (VFIO_GROUP_UNSET_CONTAINER: vfio_iommu_type1_detach_group), while an emulated group
   * keeps it and its mappings (vfio_iommu_unmap_unpin_reaccount). The device could write any
   * mapped page and reported none, so while tracking every mapping becomes dirty whole
   * (vfio_iommu_populate_bitmap_full: VFIO-DETACH-1). -EINVAL if it is not attached.
   */
  detachDevice(): number {
    if (!this.deviceAttached) return -EINVAL;
    this.deviceAttached = false;
    this.nonPinnedGroups--;
    if (this.tracking) this.populateBitmapFull();
    return 0;
  }

  /** vfio_iommu_populate_bitmap_full: every mapping dirty whole. A step of its own for the mutants. */
  protected populateBitmapFull(): void {
    for (const d of this.dmas) this.fullDirty.set(d, new Set());
  }

  /** Sets in `out` (bit 0 is page `base`) the pages of `d` a detach made dirty and no clear has cleared since (VFIO-DETACH-1). */
  private fullPagesInto(out: Uint8Array, base: number, d: VfioDma): void {
    const cleared = this.fullDirty.get(d);
    if (cleared === undefined) return;
    for (let i = 0; i < d.size / PGSIZE; i++) if (!cleared.has(i)) setPages(out, base, d.iova + i * PGSIZE, d.iova + (i + 1) * PGSIZE);
  }

  /**
   * The device's group joins the container again (vfio_iommu_type1_attach_group:
   * num_non_pinned_groups++): the dirty scope is every mapped page again (VFIO-DIRTY-14).
   * -EINVAL if it is attached.
   */
  attachDevice(): number {
    if (this.deviceAttached) return -EINVAL;
    this.deviceAttached = true;
    this.demoteScope();
    return 0;
  }

  /** num_non_pinned_groups++: an IOMMU-backed group that pins no pages widens the scope to every mapped page. A step of its own for the mutants. */
  protected demoteScope(): void {
    this.nonPinnedGroups++;
  }

  /** GET_BITMAP (read and clear) or GET_BITMAP_NOCLEAR over the mappings inside the range. */
  protected report(iova: number, size: number, noClear: boolean): Uint8Array {
    const out = new Uint8Array(bitmapBytes(size / PGSIZE));
    for (const d of this.inside(iova, size)) {
      this.cpuPagesInto(out, iova, d, noClear);
      if (!this.hwTracking) {
        // VFIO-DIRTY-14 while the device's group is attached; VFIO-DETACH-1 for a mapping a detach made dirty whole.
        if (this.nonPinnedGroups > 0) setPages(out, iova, d.iova, d.iova + d.size);
        else this.fullPagesInto(out, iova, d);
        if (!noClear) this.fullDirty.delete(d);
        continue;
      }
      // Each leaf is within one mapping (a MAP_DMA maps its own leaves), so clearing a
      // mapping's leaves forgets nothing outside it (CLEAR-4 does not bite).
      this.domain.readAndClearDirty(d.iova, d.size, noClear ? IOMMU_DIRTY_NO_CLEAR : 0, (at, len) => setPages(out, iova, Math.max(at, d.iova), Math.min(at + len, d.iova + d.size)));
    }
    return out;
  }

  /**
   * CLEAR_BITMAP (VFIO-CLEAR-5, -6): for each mapping meeting the range, each run of set
   * bits inside it is cleared in hardware: 1. a read-and-clear without recording makes
   * the writable-dirty leaves wholly inside the run writable-clean (AP[2] set); a block
   * reaching outside the run stays dirty; 2. it then invalidates the TLB over what it
   * cleared (TLBI + CMD_SYNC) before returning, so the next write walks and is recorded.
   * Pages of the range outside any mapping, and bits past the data, are ignored.
   */
  protected clearBitmap(iova: number, size: number, data: Uint8Array): void {
    const bit = (at: number) => {
      const i = (at - iova) / PGSIZE;
      return ((data[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
    };
    // The CPU-side bits of the selected pages go (the RFC's bitmap_clear of dma->bitmap).
    for (const [d, pages] of this.cpuDirty) for (const i of [...pages]) if (d.iova + i * PGSIZE >= iova && d.iova + i * PGSIZE < iova + size && bit(d.iova + i * PGSIZE)) pages.delete(i);
    // So do the selected pages of a mapping a detach made dirty whole.
    for (const [d, cleared] of this.fullDirty) {
      for (let at = Math.max(iova, d.iova); at < Math.min(iova + size, d.iova + d.size); at += PGSIZE) if (bit(at)) cleared.add((at - d.iova) / PGSIZE);
    }
    if (!this.hwTracking) return; // the fallback reports everything anyway
    for (const d of this.dmas) {
      const from = Math.max(iova, d.iova);
      const to = Math.min(iova + size, d.iova + d.size);
      for (let at = from; at < to; ) {
        if (!bit(at)) {
          at += PGSIZE;
          continue;
        }
        let end = at + PGSIZE;
        while (end < to && bit(end)) end += PGSIZE;
        this.clearRun(at, end - at);
        at = end;
      }
    }
  }

  /**
   * One run of set bits: a read-and-clear without recording, which invalidates the TLB over
   * what it cleared. On a 'linux-v6.18' domain, whose read-and-clear clears a leaf it enters
   * whole (CLEAR-U2), only over each leaf wholly inside the run: a block the run cuts stays
   * dirty, as VFIO-CLEAR-6 asks.
   */
  protected clearRun(iova: number, size: number): void {
    if (this.domain.options.lifecycle !== 'linux-v6.18') {
      this.domain.readAndClearDirty(iova, size, 0);
      return;
    }
    for (const l of [...this.domain.pgtable.leaves(iova, size)]) if (l.iova >= iova && l.iova + l.size <= iova + size) this.domain.readAndClearDirty(l.iova, l.size, 0);
  }

  /** Sets in `out` (bit 0 is page `base`) the CPU-side dirty pages of `d`; forgets them unless `keep`. */
  private cpuPagesInto(out: Uint8Array, base: number, d: VfioDma, keep: boolean): void {
    const pages = this.cpuDirty.get(d);
    if (pages === undefined) return;
    for (const i of pages) setPages(out, base, d.iova + i * PGSIZE, d.iova + (i + 1) * PGSIZE);
    if (!keep) this.cpuDirty.delete(d);
  }

  /**
   * vfio_dma_rw: the emulated device reads or writes `length` bytes at `iova` through the
   * CPU (vfio_iommu_type1_dma_rw): chunk by chunk, each within the mapping holding its
   * first byte, until every byte is copied or a chunk is refused. Returns 0 or the refused
   * chunk's errno (-EINVAL no mapping, -EPERM no permission), and the bytes copied before
   * it (Linux does not return them: the chunks before a refused one stay copied and marked).
   * A length of 0 is -EINVAL (vfio_main.c vfio_dma_rw: len <= 0).
   */
  dmaRw(iova: number, length: number, write: boolean): { errno: number; copied: number } {
    u64('iova', iova);
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length: must be a safe integer >= 0, got ${length}`);
    if (length === 0) return { errno: -EINVAL, copied: 0 };
    let done = 0;
    while (done < length) {
      const r = this.dmaRwChunk(iova + done, length - done, write);
      if (r.errno !== 0) return { errno: r.errno, copied: done };
      done += r.copied;
    }
    return { errno: 0, copied: done };
  }

  /**
   * vfio_iommu_type1_dma_rw_chunk: the mapping holding `userIova` (vfio_find_dma(iommu,
   * user_iova, 1): none is -EINVAL), its permission ((write && !WRITE) || !READ: -EPERM),
   * `count` clipped to the mapping's end, the copy, and while tracking a write's pages
   * marked.
   */
  private dmaRwChunk(userIova: number, count: number, write: boolean): { errno: number; copied: number } {
    const dma = this.dmas.find((d) => userIova >= d.iova && userIova < d.iova + d.size);
    if (dma === undefined) return { errno: -EINVAL, copied: 0 };
    if (!this.rwPermitted(dma.prot, write)) return { errno: -EPERM, copied: 0 };
    const offset = userIova - dma.iova;
    const copied = this.rwChunkLength(dma.size, offset, count);
    // copy_to_user / copy_from_user at dma->vaddr + offset: the pages are pinned there, so it copies all.
    if (write && this.tracking) {
      const [first, n] = this.rwDirtyPages(offset, copied);
      let pages = this.cpuDirty.get(dma);
      if (pages === undefined) this.cpuDirty.set(dma, (pages = new Set()));
      for (let i = first; i < first + n; i++) pages.add(i);
    }
    return { errno: 0, copied };
  }

  /** The chunk's permission test: (write && !WRITE) || !READ is refused. A step of its own for the mutants. */
  protected rwPermitted(prot: number, write: boolean): boolean {
    return !((write && (prot & VFIO_DMA_MAP_FLAG_WRITE) === 0) || (prot & VFIO_DMA_MAP_FLAG_READ) === 0);
  }

  /** The chunk's bytes: `count` clipped to the end of its mapping of `size` bytes (dma->size - offset). A step of its own for the mutants. */
  protected rwChunkLength(size: number, offset: number, count: number): number {
    return Math.min(count, size - offset);
  }

  /**
   * The pages a chunk of `copied` bytes at `offset` in its mapping dirtied, as [first, count]
   * (bitmap_set's start and nbits): ((offset + copied - 1) >> pgshift) - (offset >> pgshift) + 1
   * (commit 2c5af98592f6). A step of its own for the mutants.
   */
  protected rwDirtyPages(offset: number, copied: number): [number, number] {
    const first = Math.floor(offset / PGSIZE);
    return [first, Math.floor((offset + copied - 1) / PGSIZE) - first + 1];
  }
}

export interface Type1Testbed extends Testbed {
  readonly container: VfioType1Container;
}

/** A container on a fresh testbed (memory, SMMU, one domain with its streams attached). */
export function createType1Container(options: TestbedOptions & Type1ContainerOptions = {}): Type1Testbed {
  const tb = createTestbed(options);
  return { ...tb, container: new VfioType1Container(tb.domain, options) };
}
