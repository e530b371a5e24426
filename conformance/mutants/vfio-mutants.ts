// Faulty variants of the reference VFIO type1 container, one overridden step each: the
// manual-clear and unmap-with-bitmap paths of the uAPI done wrong.
import { VfioType1Container, type VfioBitmap, type VfioDma } from '../../impl/vfio/type1-container.ts';
import { referenceVfioType1Adapter } from '../adapters/reference.ts';
import type { ContractName } from '../adapters/types.ts';
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

/**
 * A report over several mappings copies each one's bits whole words at a time without first
 * taking in the word it shares with the mapping before it: that mapping's bits there go.
 */
export class SharedWordOverwrittenContainer extends VfioType1Container {
  // FAULT (class boundary-arithmetic): Linux drivers/vfio/vfio_iommu_type1.c update_user_bitmap
  // (v5.8 on) shifts a vfio_dma's bitmap to its bit offset in the user's and ORs in the word
  // already there (copy_from_user of `leftover`, bitmap_or) before copy_to_user; without that,
  // a mapping whose first bit is not at a u64 word's start zeroes the bits of the word below
  // it, which hold the mapping before it.
  protected override report(iova: number, size: number, noClear: boolean): Uint8Array {
    const before = this.mappings.map((d) => ({ iova: d.iova, size: d.size }));
    return overwriteSharedWords(super.report(iova, size, noClear), iova, size, before);
  }

  override unmapDma(...args: Parameters<VfioType1Container['unmapDma']>): ReturnType<VfioType1Container['unmapDma']> {
    const [, iova, size] = args;
    const before = this.mappings.map((d) => ({ iova: d.iova, size: d.size }));
    const r = super.unmapDma(...args);
    if (r.errno === 0 && r.bitmap !== undefined) overwriteSharedWords(r.bitmap, Number(iova), Number(size), before);
    return r;
  }
}

/** `out` (bit i: page `base` + i) as copying the mappings inside [base, base + size) in order, each from its word's start, leaves it. */
function overwriteSharedWords(out: Uint8Array, base: number, size: number, mappings: readonly { iova: number; size: number }[]): Uint8Array {
  const inside = mappings.filter((d) => d.iova >= base && d.iova + d.size <= base + size).sort((a, b) => a.iova - b.iova);
  for (const d of inside.slice(1)) {
    const first = (d.iova - base) / 0x1000;
    for (let bit = first - (first % 64); bit < first; bit++) out[bit >> 3]! &= ~(1 << (bit & 7));
  }
  return out;
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

const GET_BITMAP = 1 << 2;

/** Without hardware tracking, the all-dirty fallback reports only the writable mappings. */
export class FallbackSkipsReadOnlyContainer extends VfioType1Container {
  // FAULT (class scope-change): "a read-only mapping cannot be dirtied", so the fallback
  // leaves it out; but without dirty tracking the kernel cannot know what was written
  // (Linux v6.12.117 vfio_iommu_type1.c update_user_bitmap marks every page of a vfio_dma,
  // whatever its prot), so the read-only mapping's pages are never reported.
  protected override report(iova: number, size: number, noClear: boolean): Uint8Array {
    const out = super.report(iova, size, noClear);
    if (this.hardwareDirtyTracking) return out;
    for (const d of this.mappings) {
      if ((d.prot & 2) !== 0 || d.iova < iova || d.iova + d.size > iova + size) continue;
      for (let at = d.iova; at < d.iova + d.size; at += 0x1000) {
        const i = (at - iova) / 0x1000;
        out[i >> 3]! &= ~(1 << (i & 7));
      }
    }
    return out;
  }
}

/** GET_BITMAP's loop stops one page short: the last page of its range is never reported. */
export class GetDropsLastPageContainer extends VfioType1Container {
  // FAULT (class boundary-arithmetic): for (i = 0; i < npages - 1; i++): the report is read
  // and cleared over the whole range, but the last page's bit is not copied out.
  protected override report(iova: number, size: number, noClear: boolean): Uint8Array {
    const out = super.report(iova, size, noClear);
    const last = size / 0x1000 - 1;
    out[last >> 3]! &= ~(1 << (last & 7));
    return out;
  }
}

/** GET_BITMAP reads and clears the mappings inside its range, then refuses the call because the range bisects a mapping. */
export class GetClearsBeforeRefusalContainer extends VfioType1Container {
  // FAULT (class scope-change): the no-bisection check comes after the read-and-clear, so a
  // refused GET_BITMAP (-EINVAL) has already cleared dirty state the caller never receives:
  // a failure path that drops bits it cleared in hardware.
  private late = false;
  protected override bisects(iova: number, size: number): boolean {
    return this.late ? false : super.bisects(iova, size);
  }
  override dirtyPages(flags: number, range?: Parameters<VfioType1Container['dirtyPages']>[1]): { errno: number; bitmap?: Uint8Array } {
    if (flags !== GET_BITMAP || range === undefined) return super.dirtyPages(flags, range);
    this.late = true;
    let r: { errno: number; bitmap?: Uint8Array };
    try {
      r = super.dirtyPages(flags, range);
    } finally {
      this.late = false;
    }
    return r.errno === 0 && super.bisects(range.iova, range.size) ? { errno: -22 } : r;
  }
}

/**
 * On an IOMMU whose page-table unmap reports no dirty state (the 2021 RFC's, Linux v6.18's),
 * UNMAP_DMA takes the dirty bitmap from that unmap, as it may where the unmap reports what
 * it removes (strict), instead of reading the mapping's dirty state first: the RFC's VFIO
 * patch syncs it (VFIO RFC v2 2/3 <20210507103608.39440-3-zhukeqian1@huawei.com>,
 * vfio_dma_do_unmap), a VMM over iommufd calls IOMMU_HWPT_GET_DIRTY_BITMAP before
 * IOMMU_IOAS_UNMAP (QEMU before <20250910023701.244356-3-zhenzhong.duan@intel.com> did not).
 */
export class UnmapWithoutReadContainer extends VfioType1Container {
  // FAULT (class scope-change): the unmap (__arm_lpae_unmap; v6.18 __arm_lpae_clear_pte)
  // reads no dirty state, so every page the device dirtied since the last report of the
  // mapping is missing from UNMAP_DMA's bitmap and gone with the mapping (UNMAP-R1, UNMAP-U3).
  protected override unmapTracked(d: VfioDma, out: Uint8Array | undefined, base: number): void {
    const record = out === undefined ? undefined : (at: number, len: number) => markPages(out, base, Math.max(at, d.iova), Math.min(at + len, d.iova + d.size));
    this.domain.unmap(d.iova, d.size, record);
  }
}

/** Sets in `out` (bit 0 is page `base`) the bits of the pages of [from, to). */
function markPages(out: Uint8Array, base: number, from: number, to: number): void {
  for (let at = from; at < to; at += 0x1000) {
    const i = (at - base) / 0x1000;
    out[i >> 3]! |= 1 << (i & 7);
  }
}

/** Detaching the device's group while tracking leaves the scope at the pinned pages without marking every mapping dirty: Linux v5.8 to v5.11. */
export class DetachForgetsDeviceContainer extends VfioType1Container {
  // FAULT (class scope-change): vfio_iommu_type1_detach_group before d0a78f91761f promoted the
  // dirty scope without vfio_iommu_populate_bitmap_full: what the device wrote while its group
  // was attached, and no report had returned yet, is never reported.
  protected override populateBitmapFull(): void {}
}

/** Attaching the device's group again leaves the dirty scope at the pinned pages (num_non_pinned_groups not raised). */
export class AttachKeepsScopeContainer extends VfioType1Container {
  // FAULT (class scope-change): a device attached while the scope is the pinned pages can write
  // any mapped page, but the container goes on reporting only the pages dirtied through it.
  protected override demoteScope(): void {}
}

const mutant = (name: string, bugClass: Mutant['bugClass'], description: string, Impl: typeof VfioType1Container, contract: ContractName = 'strict'): Mutant => ({
  name,
  bugClass,
  profile: 'vfio-type1',
  description,
  adapter: referenceVfioType1Adapter(name, Impl, contract),
});

export const vfioMutants: readonly Mutant[] = [
  mutant(
    'vfio-noclear-clears',
    'over-clear',
    "GET_BITMAP_NOCLEAR clears what it reports, as GET_BITMAP does: a page reported by the no-clear read is missing from the next report. Class over-clear: a read that also clears, so the report and the clear are no longer the caller's to order.",
    NoClearClearsContainer,
  ),
  mutant(
    'vfio-clear-whole-range',
    'over-clear',
    "CLEAR_BITMAP clears every page of the range instead of the pages whose bits are set: dirty pages the caller did not select are lost. Class over-clear: the clear's extent is the range, not the selected pages.",
    ClearWholeRangeContainer,
  ),
  mutant(
    'vfio-clear-without-tlbi',
    'stale-iotlb',
    'CLEAR_BITMAP re-protects the leaves but skips the TLB invalidation: a write through the stale writable-dirty IOTLB entry after the clear is never recorded. Class stale-iotlb: re-protecting without a TLB invalidation.',
    ClearWithoutTlbiContainer,
  ),
  {
    ...mutant(
      'vfio-shared-word-overwritten',
      'boundary-arithmetic',
      "A report or unmap bitmap over several mappings writes each mapping's bits from the start of its first u64 word without keeping what the mapping before it set there (update_user_bitmap's leftover OR left out): dirty pages of a mapping sharing a word with the next one are lost. Class boundary-arithmetic: a partial u64 word shared by two mappings.",
      SharedWordOverwrittenContainer,
    ),
    targets: ['VFIO-UNMAP-12', 'BITMAP-1'],
  },
  mutant(
    'vfio-unmap-drops-dirty',
    'scope-change',
    'UNMAP_DMA with GET_DIRTY_BITMAP unmaps but returns a zeroed bitmap: the dirty pages of the unmapped range are lost. Class scope-change: unmap loses dirty state.',
    UnmapDropsDirtyContainer,
  ),
  mutant(
    'vfio-bitmap-size-short',
    'bad-input-accepted',
    'The bitmap-size check (verify_bitmap_size) accepts a bitmap one u64 word smaller than the range needs. Class bad-input-accepted: a user buffer too small for the range.',
    BitmapSizeShortContainer,
  ),
  mutant(
    'vfio-fallback-skips-readonly',
    'scope-change',
    "Without hardware dirty tracking, the all-dirty fallback reports only the writable mappings: the pages of a read-only mapping inside the range are missing (VFIO-DIRTY-14). Class scope-change: the fallback's scope narrowed to what the device could write, though the kernel cannot know what was written.",
    FallbackSkipsReadOnlyContainer,
  ),
  mutant(
    'vfio-get-drops-last-page',
    'boundary-arithmetic',
    "GET_BITMAP (and GET_BITMAP_NOCLEAR) read the whole range but leave the last page's bit out of the bitmap: a dirty last page is lost. Class boundary-arithmetic: an off-by-one at the end of a range.",
    GetDropsLastPageContainer,
  ),
  mutant(
    'vfio-get-clears-before-refusal',
    'scope-change',
    'GET_BITMAP reads and clears the mappings inside its range before the no-bisection check refuses the call (-EINVAL): the caller never receives the pages it cleared. Class scope-change: a failure path that drops bits it already cleared in hardware.',
    GetClearsBeforeRefusalContainer,
  ),
  mutant(
    'vfio-any-bitmap-pgsize',
    'bad-input-accepted',
    "A bitmap pgsize other than the container's smallest page size is accepted for GET_BITMAP, CLEAR_BITMAP and unmap with a bitmap. Class bad-input-accepted: a page size the bitmap cannot use.",
    AnyPgsizeContainer,
  ),
  mutant(
    'vfio-detach-forgets-device',
    'scope-change',
    'Without hardware dirty tracking, detaching the group of the container\'s device while tracking (an emulated group keeps the container) only promotes the dirty scope to the pinned pages: the mappings are not made dirty whole, so the pages the device wrote since the last report are never reported. Linux v5.8 to v5.11, before d0a78f91761f "vfio/iommu_type1: Populate full dirty when detach non-pinned group". Class scope-change: a group detached during tracking.',
    DetachForgetsDeviceContainer,
  ),
  mutant(
    'vfio-attach-keeps-scope',
    'scope-change',
    "Without hardware dirty tracking, the device's group attached again while the container's scope is the pinned pages does not demote the scope: the reports go on holding only the pages dirtied through the container, so what the device writes from then on is lost (VFIO-DIRTY-14). Class scope-change: a device attached after tracking started.",
    AttachKeepsScopeContainer,
  ),
  {
    ...mutant(
      'rfc-unmap-dma-without-sync',
      'scope-change',
      "rfc-2021: on the RFC's IOMMU, UNMAP_DMA with GET_DIRTY_BITMAP takes the bitmap from the page-table unmap (the strict order) instead of syncing the mapping's dirty log first, then stopping the log and unmapping (UNMAP-R1: the RFC's unmap reports no dirty state). The pages the device wrote since the mapping's last report are missing from the bitmap. Class scope-change: unmap loses dirty state.",
      UnmapWithoutReadContainer,
      'rfc-2021',
    ),
    targets: ['UNMAP-R1'],
  },
  {
    ...mutant(
      'iommufd-unmap-without-dirty-read',
      'scope-change',
      'linux-upstream: the container as the VMM over iommufd on Linux v6.18\'s IOMMU unmaps (IOMMU_IOAS_UNMAP) without reading the mapping\'s dirty state first (IOMMU_HWPT_GET_DIRTY_BITMAP), as QEMU\'s iommufd backend did before "vfio/iommufd: Query dirty bitmap before DMA unmap" (hw/vfio/iommufd.c iommufd_cdev_unmap: "TODO: Handle dma_unmap_bitmap with iotlb args (migration)"). The unmap reports no dirty state (UNMAP-U3), so the pages the device wrote since the mapping\'s last report are lost. Class scope-change: unmap loses dirty state.',
      UnmapWithoutReadContainer,
      'linux-upstream',
    ),
    targets: ['UNMAP-U3'],
  },
];
