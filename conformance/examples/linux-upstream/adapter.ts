// An smmu-driver adapter module that behaves as upstream Linux does: iommufd's
// io_pagetable over an arm-smmu-v3 paging domain with io-pgtable-arm's page table
// (arm-smmu-v3.ts, io-pgtable-arm.ts: each function cites the Linux function and version
// it follows). It declares the contract it follows, linux-upstream (docs/CONTRACTS.md):
//
//   npx dirtyspec run --adapter conformance/examples/linux-upstream/adapter.ts --profile smmu-driver
//     (the declared contract: conforms)
//   npx dirtyspec run --adapter conformance/examples/linux-upstream/adapter.ts --profile smmu-driver --contract strict
//     (fails at the first strict rule Linux does not keep, and names it)
//
// The kit's operations are the calls a VMM makes through iommufd:
// - create: IOMMU_HWPT_ALLOC (iommufd_hwpt_paging_alloc; `dirtyCapable` is
//   IOMMU_HWPT_ALLOC_DIRTY_TRACKING): -EOPNOTSUPP for a dirty-tracking domain on an SMMU
//   that is not DBM-capable (IDR0.HTTU = 2 and IDR0.COHACC). `pageGranular` has no
//   counterpart in Linux and is ignored.
// - map: IOMMU_IOAS_MAP at a fixed IOVA (iopt_check_iova, then iommu_map).
// - unmap: iommu_unmap over the range: whole leaves (and whole tables where the range
//   covers a table's span at its size), stopping at a hole or at a block the range cuts;
//   it returns no dirty state (the bitmap is all zero).
// - readAndClearDirty: IOMMU_HWPT_GET_DIRTY_BITMAP's driver call and IOTLB sync.
// - setDirtyTracking: IOMMU_HWPT_SET_DIRTY_TRACKING.
// - attach: IOMMU_HWPT attach of a device (arm_smmu_attach_dev).
// There is no split and no merge.
//
// It imports the kit as a third party's module would, by package name, and only its types.
import type { DirtyBitmap, KitMemory, KitSmmuPort, SmmuDriver, SmmuDriverAdapter, SmmuDriverConfig } from 'dirtyspec/adapters';
import { ArmSmmuDomain } from './arm-smmu-v3.ts';
import { EOPNOTSUPP, IOMMU_DIRTY_NO_CLEAR } from './io-pgtable-arm.ts';

const PAGE_SHIFT = 12;

/** A dirty bitmap over [iova, iova + size): ALIGN(pages, 64) / 8 bytes, as the kernel's u64 bitmaps. */
function newBitmap(size: number): DirtyBitmap {
  const pages = Math.ceil(Math.max(0, size) / 2 ** PAGE_SHIFT);
  return new Uint8Array(Math.ceil(pages / 64) * 8);
}

/**
 * iova_bitmap_set (Linux v6.12.117 drivers/iommu/iommufd/iova_bitmap.c): the bits of
 * [iova, iova + length) from the range's start on. Linux stops only at the last pinned
 * bitmap page, not at the range's end: a leaf recorded from the cursor past the range's end
 * (iommu_dirty_bitmap_record of [cursor, cursor + leaf size)) sets bits after the range's
 * last page too, in Linux as far as that page (past the user's buffer), here as far as the
 * buffer the kit gave: the end of its last u64 word.
 */
function iovaBitmapSet(bitmap: DirtyBitmap, base: number, iova: number, length: number): void {
  const first = Math.floor((Math.max(iova, base) - base) / 2 ** PAGE_SHIFT);
  const last = Math.min(Math.floor((iova + length - 1 - base) / 2 ** PAGE_SHIFT), bitmap.length * 8 - 1);
  for (let bit = first; bit <= last; bit++) bitmap[bit >> 3]! |= 1 << (bit & 7);
}

/** The domain class to use: ArmSmmuDomain, or a subclass with one step changed (the mutant zoo's linux-upstream mutants). */
export type DomainClass = typeof ArmSmmuDomain;

/** The SmmuDriver operations over one domain. */
export function driverOf(domain: ArmSmmuDomain): SmmuDriver {
  return {
    map: async (iova, paddr, size, prot) => domain.map(iova, paddr, size, prot),
    async unmap(iova, size) {
      const unmapped = domain.unmap(iova, size);
      return { unmapped, dirty: newBitmap(size) };
    },
    async readAndClearDirty(iova, size, flags) {
      const dirty = newBitmap(size);
      // iommufd_hwpt_get_dirty_bitmap: only IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR is a known flag.
      if ((flags & ~IOMMU_DIRTY_NO_CLEAR) !== 0) return { errno: -EOPNOTSUPP, dirty };
      const errno = domain.readAndClearDirty(iova, size, flags, (i, l) => iovaBitmapSet(dirty, iova, i, l));
      return { errno, dirty };
    },
    setDirtyTracking: async (enable) => domain.setDirtyTracking(enable),
    attach: async (streamId) => domain.attach(streamId),
  };
}

/** The adapter, with `Domain` in place of ArmSmmuDomain (the mutants). */
export function linuxUpstreamAdapter(name = 'linux-upstream (iommufd + arm-smmu-v3 + io-pgtable-arm)', Domain: DomainClass = ArmSmmuDomain): SmmuDriverAdapter {
  return {
    profile: 'smmu-driver',
    name,
    contract: 'linux-upstream',
    async create(memory: KitMemory, smmu: KitSmmuPort, config: SmmuDriverConfig): Promise<SmmuDriver | number> {
      const domain = ArmSmmuDomain.alloc(memory, smmu, { asid: config.asid, dirtyTracking: config.dirtyCapable }, Domain);
      return typeof domain === 'number' ? domain : driverOf(domain);
    },
  };
}

export default [linuxUpstreamAdapter()];
